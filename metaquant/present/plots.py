"""Figures for a methodologist: forest plot, posterior with SSM zones, SSM masses, effect against bits.

Every function returns a :class:`matplotlib.figure.Figure` and never writes a
file; :func:`save_figure` writes one atomically (PNG or SVG by the file's
extension) and refuses to overwrite an existing file unless ``force``.  The
module uses only the object-oriented Matplotlib interface (``Figure``), so it
runs under any backend, ``Agg`` included, and never opens a window.

The relative improvement ``RI`` (in %, positive = quantization helps) is on
the horizontal axis throughout; intervals computed on the log-ratio scale are
carried over with :func:`metaquant.evidence.effects.pct_from_log`, which is monotone,
so an interval ``[y_lo, y_hi]`` becomes ``[pct(y_lo), pct(y_hi)]``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Polygon
from scipy import stats
from scipy.special import ndtr

from .. import scale
from ..errors import InputError
from ..evidence import schema
from ..evidence.effects import log_from_pct, pct_from_log
from ..outputs import atomic_write_bytes
from ..results import failed_reason

#: File types :func:`save_figure` writes.
FORMATS = ("png", "svg")
_Z975 = float(stats.norm.ppf(0.975))
_ENGINE_STYLE = {
    "REML": {"color": "#1f4e79"},
    "Bayes": {"color": "#8c2d04"},
    "exact": {"color": "#2d6a4f"},
}


def _zone_colour(code: str) -> str:
    """Background colour of a zone: reds for negative labels, greys for IF, greens for positive."""
    i = scale.LABELS.index(code) - scale.LABELS.index("IF")
    if i == 0:
        return "#e6e6e6"
    ramp_neg = ["#fde0dd", "#fcc5c0", "#fa9fb5", "#f768a1", "#dd3497", "#ae017e"]
    ramp_pos = ["#e5f5e0", "#c7e9c0", "#a1d99b", "#74c476", "#41ab5d", "#238b45"]
    return (ramp_pos if i > 0 else ramp_neg)[abs(i) - 1]


def _thresholds(prop: str, thresholds: Sequence[float] | None) -> tuple[float, ...]:
    return scale.validate_thresholds(thresholds) if thresholds is not None else schema.get_property(prop).thresholds


def save_figure(fig: Figure, path: str | Path, *, force: bool = False, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` atomically as PNG or SVG (by extension).

    Raises
    ------
    InputError
        For another extension, or when ``path`` exists and ``force`` is False.
    """
    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise InputError(f"cannot write a figure as {p.suffix or 'a file without extension'!r}", path=str(p),
                         expected=".png or .svg")
    if p.exists() and not force:
        raise InputError("exists already; not overwritten", path=str(p), expected="another path, or --force")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", metadata={"Date": None} if fmt == "svg" else None)
    return atomic_write_bytes(p, buf.getvalue(), overwrite=force)


def figure_bytes(fig: Figure, fmt: str = "png", *, dpi: int = 110) -> bytes:
    """The figure encoded as PNG or SVG bytes (for embedding in a report)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", metadata={"Date": None} if fmt == "svg" else None)
    return buf.getvalue()


# --------------------------------------------------------------------------
# Forest plot
# --------------------------------------------------------------------------

#: Parts of a comparison id that say nothing and are left out of a label.
_EMPTY_PARTS = frozenset({"", "none", "nan", "null", "na", "n/a"})
_FONT = 8.0  # points, the labels and numbers
_ROW_IN = 0.19  # inches per row
_PLOT_IN = 3.6  # inches of the plotting region (the axis) itself
_GAP_IN = 0.18  # inches between columns


def _plain(ax, x, y, s, **kw):
    """Text drawn as written: no mathtext (``$``/``_`` stay characters), no TeX."""
    kw.setdefault("fontsize", _FONT)
    return ax.text(x, y, s, parse_math=False, usetex=False, clip_on=False, **kw)


def row_label(comparison: Any, study: Any = None) -> str:
    """The plain-text label of one evidence row.

    The study prefix (``"study|"``) is dropped (the study is the group's
    heading), parts are joined by ", ", a part that says nothing (``None``,
    ``nan``, empty) is left out, and a part ``"<setting> None"`` (the source's
    way of saying the setting is off, e.g. ``"imatrix None"``) reads
    ``"no <setting>"``.
    """
    s = "" if comparison is None or (isinstance(comparison, float) and not np.isfinite(comparison)) else str(comparison)
    if study is not None and s.startswith(f"{study}|"):
        s = s[len(str(study)) + 1 :]
    parts = []
    for part in s.split("|"):
        p = " ".join(part.split())
        if p.lower() in _EMPTY_PARTS:
            continue
        m = re.fullmatch(r"(.+?)\s+(?:None|none|nan)", p)
        parts.append(f"no {m.group(1)}" if m else p)
    return ", ".join(parts) or ("(unnamed)" if study is None else str(study))


def _study_label(study: Any) -> str:
    s = "" if study is None else str(study)
    return "(no study)" if s.strip().lower() in _EMPTY_PARTS else s


def _first(d: Mapping, *keys):
    for k in keys:
        v = d.get(k)
        if v is not None and np.isfinite(float(v)):
            return float(v)
    return None


def pooled_summary(d: Mapping, label: str | None = None, *, higher_is_better: bool = True) -> dict | None:
    """One pooled effect as the forest plot draws it, on the log-ratio scale.

    Reads a classical dict (``estimate``, ``ci_low``, ``ci_high``, ``pi_low``,
    ``pi_high``: :func:`metaquant.api.fit_frequentist`), a Bayesian one
    (``mu_median``, ``mu_ci_low``, ``mu_ci_high``, ``pi_low``, ``pi_high``) or
    one given on the % scale only (``pct``, ``pct_ci_low``, ... carried back
    with :func:`metaquant.evidence.effects.log_from_pct`).  Nothing is fitted here.

    Parameters
    ----------
    d : mapping
        The engine's numbers; ``estimable: False`` gives ``None``.
    label : str, optional
        The row's label; by default from ``method``/``model`` and ``k``.
    higher_is_better : bool
        Direction of the property (only for a dict on the % scale).

    Returns
    -------
    dict or None
        ``label``, ``estimate``, ``ci_low``, ``ci_high``, ``pi_low``,
        ``pi_high`` (log ratio; ``None`` where absent), ``k``, ``label_code``.
    """
    if not d or d.get("estimable") is False:
        return None
    if d.get("mu_median") is not None or d.get("mu_mean") is not None:
        est = _first(d, "mu_median", "mu_mean")
        lo, hi = _first(d, "mu_ci_low"), _first(d, "mu_ci_high")
        plo, phi = _first(d, "pi_low"), _first(d, "pi_high")
    elif d.get("estimate") is not None and d.get("ci_low") is not None:
        est, lo, hi = _first(d, "estimate"), _first(d, "ci_low"), _first(d, "ci_high")
        plo, phi = _first(d, "pi_low"), _first(d, "pi_high")
    else:
        est, lo, hi, plo, phi = (None if v is None else log_from_pct(v, higher_is_better) for v in (
            _first(d, "pct", "pct_median", "pct_mean"), _first(d, "pct_ci_low"), _first(d, "pct_ci_high"),
            _first(d, "pct_pi_low"), _first(d, "pct_pi_high")))
    if est is None:
        return None
    if label is None:
        label = model_name(d)
        if d.get("k") is not None:
            label += f", k = {int(d['k'])}"
    return {"label": label, "estimate": est, "ci_low": est if lo is None else lo, "ci_high": est if hi is None else hi,
            "pi_low": plo, "pi_high": phi, "k": d.get("k"), "label_code": d.get("label_code"),
            "het": heterogeneity_line(d)}


def model_name(d: Mapping) -> str:
    """The name of a pooled effect by its model: "REML multilevel", "Bayesian multilevel", "equal-effects (FE)",
    "Bayesian random-effects (exact), rows as independent studies" (a two-level model of nested rows)."""
    method = str(d.get("method") or d.get("engine") or "pooled")
    model = {"re": "random-effects", None: "random-effects"}.get(d.get("model"), d.get("model"))
    nested = d.get("n_studies") is not None and d.get("k") is not None and int(d["n_studies"]) < int(d["k"])
    if method.lower() in ("exact", "bayes", "pymc"):
        name = f"Bayesian {model}" + (" (exact)" if method.lower() == "exact" else "")
        return name + (", rows as independent studies" if model == "random-effects" and nested else "")
    if method.upper() in ("FE", "EE"):
        return f"equal-effects ({method.upper()})"
    return f"{method.upper()} {model}"


def heterogeneity_line(d: Mapping) -> str | None:
    """The heterogeneity under a diamond as metafor's ``forest()`` prints it (Q, df, p, I², tau²), or the
    Bayesian model's scales (posterior medians with 95 % intervals); ``None`` when the dict has neither."""
    if d.get("Q") is not None and d.get("Q_df") is not None:
        p = d.get("Q_p")
        ptxt = "NA" if p is None else ("< .0001" if p < 1e-4 else f"= {p:.2f}")
        txt = f"Q = {d['Q']:.2f}, df = {d['Q_df']}, p {ptxt}"
        if str(d.get("method", "")).upper() in ("FE", "EE"):
            return txt
        if d.get("I2") is not None:
            txt += f"; I² = {d['I2']:.1f}%"
        if d.get("sigma2"):
            return txt + "; " + ", ".join(f"σ²({s['name']}) = {s['estimate']:.4f}" for s in d["sigma2"])
        return txt + (f", τ² = {d['tau2']:.4f}" if d.get("tau2") is not None else "")
    parts = []
    for key, sym in (("tau_study", "τ(study)"), ("tau_within", "τ(within)"), ("tau", "τ"),
                     ("sigma_resid", "σ(resid)")):
        if d.get(f"{key}_median") is not None and not (key == "tau" and d.get("tau_study_median") is not None):
            parts.append(f"{sym} = {d[f'{key}_median']:.3f} [{d[f'{key}_ci_low']:.3f}, {d[f'{key}_ci_high']:.3f}]")
    return ", ".join(parts) or None


def pooled_weights(table: pd.DataFrame, d: Mapping) -> np.ndarray:
    r"""Each row's weight (%) in a pooled effect without moderators: its share of the generalised
    least-squares mean, ``100 (1' V^{-1})_j / 1' V^{-1} 1``.

    ``V`` is the model's marginal covariance of the rows at its estimates: ``v_j + tau²`` on the diagonal
    (``tau_within²`` in a multilevel model, plus ``tau_study²`` between the rows of one study); ``v_j`` is the
    row's sampling variance, or the Bayesian model's ``sigma_resid²`` where unknown.  For the classical
    engine these are metafor's ``weights()`` of a two-level model; rows the fit did not pool (no variance)
    get ``nan``.
    """
    t = table.reset_index(drop=True)
    vi = pd.to_numeric(t["vi"], errors="coerce").to_numpy(float)
    known = t["vi_known"].astype(bool).to_numpy() & np.isfinite(vi) if "vi_known" in t else np.isfinite(vi)
    bayes = d.get("mu_median") is not None
    if bayes:
        sr = d.get("sigma_resid_median")
        v = np.where(known, vi, np.nan if sr is None else sr**2)
        ts = d.get("tau_study_median") or 0.0
        tw = d.get("tau_within_median") if d.get("tau_within_median") is not None else d.get("tau_median") or 0.0
        if str(d.get("model")) not in ("multilevel",):
            ts = 0.0
    else:
        v = np.where(known, vi, np.nan)
        s2 = d.get("sigma2") or []
        ts = np.sqrt(s2[0]["estimate"]) if len(s2) >= 1 else 0.0
        tw = np.sqrt(s2[1]["estimate"]) if len(s2) >= 2 else np.sqrt(d.get("tau2") or 0.0)
        if len(s2) == 1:
            ts, tw = 0.0, np.sqrt(s2[0]["estimate"])
        if str(d.get("method", "")).upper() in ("FE", "EE"):
            ts = tw = 0.0
    ok = np.isfinite(v)
    out = np.full(len(t), np.nan)
    if not ok.any():
        return out
    study = t["study"].astype(str).to_numpy()[ok]
    V = np.diag(v[ok] + tw**2) + ts**2 * (study[:, None] == study[None, :])
    w = np.linalg.solve(V, np.ones(ok.sum()))
    out[ok] = 100.0 * w / w.sum()
    return out


def _given_summary(p: Mapping) -> dict:
    """A pooled row given on the log-ratio scale, with its optional keys filled in."""
    try:
        est = float(p["estimate"])
        lo, hi = float(p.get("ci_low", est)), float(p.get("ci_high", est))
    except (KeyError, TypeError, ValueError):
        raise InputError(f"a pooled effect needs a numeric 'estimate' (got {dict(p)!r})",
                         expected="estimate, ci_low, ci_high on the log-ratio scale") from None
    pi = [None if p.get(k) is None else float(p[k]) for k in ("pi_low", "pi_high")]
    return {"label": str(p.get("label") or "pooled"), "estimate": est, "ci_low": lo, "ci_high": hi,
            "pi_low": pi[0], "pi_high": pi[1], "k": p.get("k"), "label_code": p.get("label_code"),
            "het": p.get("het")}


#: Round relative improvements (%) that the %-labelled log-ratio axes may carry as ticks.
#: Chosen in tiers (1 and 5, then 2 and 2.5, then 1.5, 3, 7.5 times a power of ten), from 0 outwards.
_PCT_LADDER = tuple((tier, m * 10.0**e) for tier, ms in enumerate(((1.0, 5.0), (2.0, 2.5), (1.5, 3.0, 7.5)), 1)
                    for e in range(-3, 5) for m in ms)


def _axis_ticks(lo: float, hi: float, hib: bool, on_pct: bool) -> tuple[float, float, list[float], list[str]]:
    """Axis range, tick positions (log ratio) and tick labels.

    On the % scale the ticks are round % values (:data:`_PCT_LADDER`, both
    signs) placed at their log ratios, so they are unevenly spaced: chosen
    tier by tier and from 0 outwards, each at least a ninth of the range
    from the others; an
    end of the range within an eighth of the range of a round value is moved
    out to it (metafor ends its axis at a tick).  On the log scale, round log
    ratios (:class:`matplotlib.ticker.MaxNLocator`).
    """
    from matplotlib.ticker import MaxNLocator

    span = hi - lo
    if not on_pct:
        vals = [float(t) for t in MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)]
        lo = min([lo, *[t for t in vals if lo - span / 8 <= t < lo]])
        hi = max([hi, *[t for t in vals if hi < t <= hi + span / 8]])
        base = [float(np.round(t, 12)) for t in vals if lo - 1e-12 <= t <= hi + 1e-12]
        return lo, hi, base, [f"{t:g}" for t in base]
    cands = [0.0] + [s * v for _, v in sorted(_PCT_LADDER) for s in (1.0, -1.0)]
    cands = [p for p in cands if (p > -100.0 if hib else p < 100.0)]
    at = {p: float(log_from_pct(p, hib)) for p in cands}
    below = [p for p in cands if lo - span / 8 <= at[p] < lo]  # the nearest round value outside each end
    above = [p for p in cands if hi < at[p] <= hi + span / 8]
    if below:
        lo = at[max(below, key=lambda p: at[p])]
    if above:
        hi = at[min(above, key=lambda p: at[p])]
    pos, labs, min_gap = [], [], (hi - lo) / 9.0
    for p in cands:
        x = at[p]
        if lo - 1e-9 <= x <= hi + 1e-9 and all(abs(x - q) >= min_gap for q in pos):
            pos.append(x)
            labs.append(f"{p:g}")
    order = np.argsort(pos)
    return lo, hi, [pos[i] for i in order], [labs[i] for i in order]


def _axis_range(est: np.ndarray, known: np.ndarray, lo_ci: np.ndarray, hi_ci: np.ndarray,
                pooled: list[dict]) -> tuple[float, float]:
    """An x-range (log ratio) that follows the bulk of the data.

    Row estimates beyond Tukey's far-out fences ``[Q1 - 3 IQR, Q3 + 3 IQR]``
    do not stretch the axis (they are clipped and marked); the intervals of
    the rows inside stretch it by at most its width on either side,
    prediction intervals by at most half of it (beyond, they are clipped and
    marked); the pooled confidence intervals and 0 are always in view.
    """
    ok = np.isfinite(est)
    core = [0.0]
    for p in pooled:
        core += [p["ci_low"], p["ci_high"], p["estimate"]]
    inside = np.zeros(est.shape, dtype=bool)
    if ok.any():
        q1, q3 = np.quantile(est[ok], [0.25, 0.75])
        iqr = max(q3 - q1, 1e-9)
        inside = ok & (est >= q1 - 3 * iqr) & (est <= q3 + 3 * iqr)
        core += list(est[inside])
    a, b = min(core), max(core)
    span = max(b - a, 1e-6)
    sel = inside & known
    ends = [(v, 1.0) for v in np.concatenate([lo_ci[sel], hi_ci[sel]]) if np.isfinite(v)]
    ends += [(v, 0.5) for p in pooled for v in (p["pi_low"], p["pi_high"]) if v is not None]
    a = min([a, *[v for v, f in ends if a - f * span <= v < a]])
    b = max([b, *[v for v, f in ends if b < v <= b + f * span]])
    pad = 0.04 * (b - a)
    return a - pad, b + pad


def _text_width_in(fig: Figure, renderer, strings: Sequence[str], **kw) -> float:
    """Widest of ``strings`` as drawn, in inches (measured, so labels never overlap the plot)."""
    w = 0.0
    for s in sorted(set(strings), key=len, reverse=True)[:8]:  # the widest is among the longest few
        t = fig.text(0, 0, s, parse_math=False, usetex=False, fontsize=kw.get("fontsize", _FONT),
                     family=kw.get("family"), fontweight=kw.get("fontweight", "normal"))
        w = max(w, t.get_window_extent(renderer).width / fig.dpi)
        t.remove()
    return w


def _fmt_ci(est: float, lo: float | None, hi: float | None, digits: int) -> tuple[str, str, str]:
    f = f"{{:.{digits}f}}"
    return f.format(est), ("" if lo is None else f.format(lo)), ("" if hi is None else f.format(hi))


@dataclass
class _ForestRows:
    """The evidence rows as the forest plot draws them (log-ratio scale; aligned with the table)."""

    yi: np.ndarray
    known: np.ndarray
    lo_ci: np.ndarray
    hi_ci: np.ndarray
    ok_w: np.ndarray
    psize: np.ndarray
    w_pct: np.ndarray
    show_w: bool


def _forest_rows(t: pd.DataFrame, z: float, weights) -> _ForestRows:
    """Each row's estimate, interval ``yi ± z sqrt(vi)``, weight and square size (metafor's ``psize``)."""
    yi = t["yi"].to_numpy(float)
    vi = t["vi"].to_numpy(float) if "vi" in t else np.full(len(t), np.nan)
    known = (t["vi_known"].astype(bool).to_numpy() if "vi_known" in t else np.isfinite(vi)) & np.isfinite(vi)
    se = np.where(known, np.sqrt(np.where(known, vi, 0.0)), np.nan)
    lo_ci, hi_ci = yi - z * se, yi + z * se
    if weights is None:
        w = np.where(known, 1.0 / np.where(known & (vi > 0), vi, np.nan), np.nan)
        show_w = False
    elif isinstance(weights, Mapping):
        w = np.array([float(weights.get(str(c), np.nan)) for c in t["comparison"]])
        show_w = True
    else:
        w = np.asarray(weights, dtype=float)
        if w.shape != (len(t),):
            raise InputError(f"{w.size} weights for {len(t)} rows", expected="one weight per row")
        show_w = True
    ok_w = np.isfinite(w) & (known | show_w)  # given weights hold for rows without a variance too (Bayesian)
    wi = np.sqrt(np.where(ok_w, w, np.nan))
    if ok_w.any() and np.nanmax(wi) - np.nanmin(wi) > np.sqrt(np.finfo(float).eps):
        psize = 0.5 + (wi - np.nanmin(wi)) / (np.nanmax(wi) - np.nanmin(wi))  # metafor: plim = c(0.5, 1.5)
    else:
        psize = np.ones(len(t))
    w_pct = 100.0 * w / np.nansum(np.where(ok_w, w, np.nan)) if show_w and ok_w.any() else w
    return _ForestRows(yi, known, lo_ci, hi_ci, ok_w, psize, w_pct, show_w)


def _ssm_labels(ssm_models: pd.DataFrame | None) -> dict[str, str]:
    """Each comparison's SSM label and belief as the SSM column shows it."""
    if ssm_models is None or ssm_models.empty:
        return {}
    return {str(c): f"{lc} ({b:.2f})" if lc else "" for c, lc, b in zip(
        ssm_models["comparison"], ssm_models["label_code"], ssm_models["belief"], strict=True)}


def _forest_xrange(xlim, on_pct: bool, hib: bool, rows: _ForestRows, summaries: list[dict]) -> tuple[float, float]:
    """The axis range on the log-ratio scale: ``xlim`` carried over, or :func:`_axis_range`."""
    if xlim is None:
        return _axis_range(rows.yi, rows.known, rows.lo_ci, rows.hi_ci, summaries)
    a, b = (float(log_from_pct(v, hib)) if on_pct else float(v) for v in xlim)
    if not a < b:
        raise InputError(f"empty axis range {xlim}", expected="(low, high) with low < high")
    return a, b


def _forest_layout(t: pd.DataFrame, summaries: list[dict],
                   level: float) -> tuple[list[dict], float, float, float | None]:
    """The rows of the figure, ``y`` decreasing downwards: header at 0, studies with their rows, a gap, pooled rows.

    Returns the items, the lowest ``y``, the ``y`` of the last evidence row and
    that of the line above the pooled rows (``None`` without pooled rows).
    """
    items: list[dict] = []
    y = 0.0
    for s in dict.fromkeys(t["study"]):
        y -= 1.0
        items.append({"kind": "study", "y": y, "left": _study_label(s)})
        for i in np.flatnonzero((t["study"] == s).to_numpy()):
            y -= 1.0
            items.append({"kind": "row", "y": y, "i": int(i), "left": "  " + row_label(t["comparison"][i], s)})
    y_last_row, y_sep = y, None
    if summaries:
        y -= 1.5
        y_sep = y + 0.75
        for sm in summaries:
            y -= 1.0
            items.append({"kind": "pooled", "y": y, "s": sm, "left": sm["label"]})
            if sm["pi_low"] is not None and sm["pi_high"] is not None:
                y -= 0.8
                items.append({"kind": "pi", "y": y, "s": sm, "left": f"    {level:g}% prediction interval"})
            if sm.get("het"):
                y -= 0.8
                items.append({"kind": "het", "y": y, "s": sm, "left": f"    ({sm['het']})"})
    return items, y, y_last_row, y_sep


def _forest_numbers(items: list[dict], t: pd.DataFrame, rows: _ForestRows, ssm_lab: Mapping[str, str],
                    shown, digits: int) -> None:
    """Fill in each item's right-hand cells (``num``, ``num_s``, ``w``, ``ssm``), the numbers aligned."""
    items_pooled = [it["s"] for it in items if it["kind"] == "pooled"]
    for it in items:
        if it["kind"] == "row":
            i = it["i"]
            if rows.known[i]:
                e, lo, hi = _fmt_ci(shown(rows.yi[i]), shown(rows.lo_ci[i]), shown(rows.hi_ci[i]), digits)
            else:
                e, lo, hi = _fmt_ci(shown(rows.yi[i]), None, None, digits)
            it["num"] = (e, lo, hi)
            it["w"] = f"{rows.w_pct[i]:.2f}%" if rows.show_w and rows.ok_w[i] else ""
            it["ssm"] = ssm_lab.get(str(t["comparison"][i]), "")
        elif it["kind"] == "pooled":
            sm = it["s"]
            it["num"] = _fmt_ci(shown(sm["estimate"]), shown(sm["ci_low"]), shown(sm["ci_high"]), digits)
            it["w"] = "100.00%" if rows.show_w and sm is items_pooled[0] else ""  # the weights are the first one's
            it["ssm"] = sm.get("label_code") or ""
        elif it["kind"] == "pi":
            sm = it["s"]
            _, lo, hi = _fmt_ci(0.0, shown(sm["pi_low"]), shown(sm["pi_high"]), digits)
            it["num"] = ("", lo, hi)
    nums = [it["num"] for it in items if "num" in it]
    we = max((len(n[0]) for n in nums), default=1)
    wl = max((len(n[1]) for n in nums), default=1)
    wh = max((len(n[2]) for n in nums), default=1)
    for it in items:
        if "num" in it:
            e, lo, hi = it["num"]
            if lo or hi:
                it["num_s"] = f"{e:>{we}} [{lo:>{wl}}, {hi:>{wh}}]"
            else:
                it["num_s"] = f"{e:>{we}} {'(no variance)':>{wl + wh + 4}}" if e else ""


@dataclass
class _ForestFrame:
    """The drawn figure's geometry: axes, the blended transform and the columns' x positions (axes fraction)."""

    fig: Figure
    ax: Any
    tr: Any
    x_left: float
    x_right_end: float
    col_x: dict[str, float]
    n_units: float


def _forest_columns(fig: Figure, r, items: list[dict], num_head: str, show_w: bool,
                    ssm_lab: Mapping[str, str]) -> tuple[float, list[tuple[str, float, float]]]:
    """The measured width of the label column and of each right-hand column (cells, heading), in inches."""
    left_in = max(_text_width_in(fig, r, [it["left"] for it in items if it["kind"] != "study"]),
                  _text_width_in(fig, r, [it["left"] for it in items if it["kind"] == "study"], fontweight="bold"),
                  _text_width_in(fig, r, ["Study / comparison"], fontweight="bold")) + _GAP_IN
    cols = [("num", _text_width_in(fig, r, [it.get("num_s", "") for it in items], family="monospace"),
             _text_width_in(fig, r, [num_head], fontweight="bold"))]
    if show_w:
        cols.insert(0, ("w", _text_width_in(fig, r, [it.get("w", "") for it in items] + ["100.00%"]),
                        _text_width_in(fig, r, ["Weight"], fontweight="bold")))
    if ssm_lab or any(it.get("ssm") for it in items):
        cols.append(("ssm", _text_width_in(fig, r, [it.get("ssm", "") for it in items]),
                     _text_width_in(fig, r, ["SSM"], fontweight="bold")))
    return left_in, cols


def _forest_frame(items: list[dict], num_head: str, show_w: bool, ssm_lab: Mapping[str, str], title,
                  y: float, a: float, b: float) -> _ForestFrame:
    """A figure sized from the measured columns, with its axes and the columns' positions."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.transforms import blended_transform_factory

    fig = Figure(figsize=(8.0, 4.0))
    FigureCanvasAgg(fig)
    left_in, cols = _forest_columns(fig, fig.canvas.get_renderer(), items, num_head, show_w, ssm_lab)
    col_w = [max(cw, hw) for _, cw, hw in cols]
    right_in = sum(col_w) + _GAP_IN * (len(cols) + 0.5)
    margin = 0.1
    top_in, bottom_in = (0.75 if title is not False else 0.45), 0.95
    n_units = -y + 1.0
    height = top_in + bottom_in + _ROW_IN * n_units
    width = margin * 2 + left_in + _PLOT_IN + right_in
    fig.set_size_inches(width, height)
    ax = fig.add_axes([(margin + left_in) / width, bottom_in / height, _PLOT_IN / width, _ROW_IN * n_units / height])
    ax.set_ylim(y - 0.5, 0.5)
    ax.set_xlim(a, b)
    x = 1.0 + _GAP_IN / _PLOT_IN
    col_x = {}
    for (name, _, _), cw in zip(cols, col_w, strict=True):
        x += cw / _PLOT_IN
        col_x[name] = x
        x += _GAP_IN / _PLOT_IN
    return _ForestFrame(fig, ax, blended_transform_factory(ax.transAxes, ax.transData), -left_in / _PLOT_IN,
                        1.0 + right_in / _PLOT_IN, col_x, n_units)


def _forest_header(fr: _ForestFrame, num_head: str, y_sep: float | None, title, prop: str) -> None:
    """Column headings, the line under them, the line above the pooled rows and the title."""
    ax, tr = fr.ax, fr.tr
    _plain(ax, fr.x_left, 0.0, "Study / comparison", transform=tr, ha="left", va="center", fontweight="bold")
    heads = {"num": num_head, "w": "Weight", "ssm": "SSM"}
    for name in fr.col_x:
        _plain(ax, fr.col_x[name], 0.0, heads[name], transform=tr, ha="right", va="center", fontweight="bold")
    line_kw = dict(transform=tr, color="black", lw=0.8, clip_on=False)
    ax.plot([fr.x_left, fr.x_right_end], [-0.55, -0.55], **line_kw)
    if y_sep is not None:
        ax.plot([fr.x_left, fr.x_right_end], [y_sep, y_sep], **line_kw)
    if title is not False:
        _plain(ax, fr.x_left, 1.6, title or f"{prop}: evidence rows and pooled effects", transform=tr, ha="left",
               va="center", fontsize=10)


def _clipped_arrow(ax, xe: float, yy: float, direction: int, colour="black", ms: float = 5.0) -> None:
    """An arrow head at the axis edge ``xe``, for something beyond it."""
    ax.plot([xe], [yy], marker="<" if direction < 0 else ">", ms=ms, color=colour, linestyle="none",
            clip_on=False, zorder=4)


def _interval_ends(ax, yy: float, lo: float, hi: float, a: float, b: float, colour, ms: float) -> None:
    """End bars of an interval, or arrow heads where an end lies beyond the axis ``[a, b]``."""
    for end, edge, d in ((lo, a, -1), (hi, b, 1)):
        if (end < edge) if d < 0 else (end > edge):
            _clipped_arrow(ax, edge, yy, d, colour=colour)
        else:
            ax.plot([end], [yy], marker="|", ms=ms, color=colour, linestyle="none", zorder=2)


def _forest_row_text(fr: _ForestFrame, it: dict) -> None:
    """An item's label on the left and its cells on the right."""
    left_kw = dict(transform=fr.tr, ha="left", va="center")
    if it["kind"] == "study":
        _plain(fr.ax, fr.x_left, it["y"], it["left"], fontweight="bold", **left_kw)
        return
    colour = "0.35" if it["kind"] in ("pi", "het") else "black"
    _plain(fr.ax, fr.x_left, it["y"], it["left"], color=colour, **left_kw)
    for name in fr.col_x:
        s = it.get("num_s" if name == "num" else name, "")
        if s:
            _plain(fr.ax, fr.col_x[name], it["y"], s, transform=fr.tr, ha="right", va="center", color=colour,
                   family="monospace" if name == "num" else None)


def _forest_row_marks(ax, yy: float, i: int, rows: _ForestRows, a: float, b: float) -> bool:
    """One evidence row: its square (or open circle) and interval, clipped to ``[a, b]``; True when beyond it."""
    base_ms = 5.5
    e = rows.yi[i]
    out = -1 if e < a else (1 if e > b else 0)
    if rows.known[i]:
        lo, hi = max(rows.lo_ci[i], a), min(rows.hi_ci[i], b)
        if lo < hi:
            ax.plot([lo, hi], [yy, yy], color="black", lw=0.9, solid_capstyle="butt", zorder=2)
        _interval_ends(ax, yy, rows.lo_ci[i], rows.hi_ci[i], a, b, "black", 3.0)
        if out == 0:
            ax.plot([e], [yy], marker="s", ms=base_ms * rows.psize[i], color="black", linestyle="none", zorder=3)
    elif out == 0:
        ax.plot([e], [yy], marker="o", ms=base_ms * 0.8, mfc="white", mec="black", linestyle="none", zorder=3)
    if out:
        _clipped_arrow(ax, a if out < 0 else b, yy, out, ms=7.0)
    return bool(out)


def _forest_pooled_marks(ax, yy: float, sm: Mapping, a: float, b: float) -> None:
    """A pooled effect's diamond and its prediction interval (dotted, with end bars), clipped to ``[a, b]``."""
    lo, mid, hi = sm["ci_low"], sm["estimate"], sm["ci_high"]
    clo, chi = max(lo, a), min(hi, b)
    ax.add_patch(Polygon([[clo, yy], [min(max(mid, a), b), yy + 0.4], [chi, yy],
                          [min(max(mid, a), b), yy - 0.4]], closed=True, facecolor="black",
                         edgecolor="black", zorder=3))
    plo, phi = sm["pi_low"], sm["pi_high"]
    if plo is not None and phi is not None:
        pi_kw = dict(color="0.35", lw=0.9, ls=":", zorder=2)
        ax.plot([max(plo, a), clo], [yy, yy], **pi_kw)
        ax.plot([chi, min(phi, b)], [yy, yy], **pi_kw)
        _interval_ends(ax, yy, plo, phi, a, b, "0.35", 5.0)


def _forest_axis(ax, a: float, b: float, y: float, y_zero_low: float, ticks: tuple[list[float], list[str]],
                 on_pct: bool, th: Sequence[float] | None, hib: bool) -> None:
    """The reference line at 0, the optional cut-point lines (``th``), the bottom spine, ticks and axis label."""
    ax.plot([0.0, 0.0], [y_zero_low, -0.55], color="black", lw=0.8, ls=":", zorder=1)
    for tv in th or ():
        for v in (tv, -tv):
            xv = float(log_from_pct(v, hib))
            if a < xv < b:
                ax.plot([xv, xv], [y - 0.5, -0.55], color="0.75", lw=0.6, ls=":", zorder=0)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_bounds(a, b)
    ax.set_yticks([])
    ax.set_xticks(ticks[0])
    ax.set_xticklabels(ticks[1], fontsize=_FONT)
    ax.set_xlabel("relative improvement, % (log-ratio axis; + = quantization helps)" if on_pct
                  else "log ratio (+ = quantization helps)", fontsize=_FONT + 0.5)


def _forest_notes(fr: _ForestFrame, rows: _ForestRows, n_clipped: int) -> None:
    """The line under the axis: open circles, rows beyond the axis, what the square size follows."""
    notes = []
    if (~rows.known).any():
        notes.append(f"open circles: {int((~rows.known).sum())} rows without a sampling variance (no interval)")
    if n_clipped:
        notes.append(f"arrow heads at the edge: {n_clipped} row{'s' if n_clipped > 1 else ''} beyond the axis "
                     "(numbers on the right)")
    notes.append(f"square size ~ sqrt({'weight' if rows.show_w else '1/vi'})"
                 + ("; weights: those of the first pooled effect" if rows.show_w else ""))
    _plain(fr.ax, fr.x_left, 0.0, "; ".join(notes), transform=fr.ax.transAxes, ha="left", va="top", fontsize=6.5,
           color="0.35").set_position((fr.x_left, -0.62 / (_ROW_IN * fr.n_units)))


def forest_plot(
    table: pd.DataFrame,
    *,
    pooled: Sequence[Mapping] | None = None,
    reml: Mapping | None = None,
    bayes: Mapping | None = None,
    exact: Mapping | None = None,
    weights: Sequence[float] | Mapping[str, float] | None = None,
    scale: str = "pct",
    level: float = 95.0,
    xlim: tuple[float, float] | None = None,
    digits: int | None = None,
    ssm_models: pd.DataFrame | None = None,
    thresholds: Sequence[float] | None = None,
    show_thresholds: bool = False,
    title: str | bool | None = None,
) -> Figure:
    """Forest plot of one property, laid out as metafor's ``forest()`` draws it.

    Left, a column of labels: each study as a bold heading and its evidence
    rows below it (:func:`row_label`, plain text).  In the middle, on a
    log-ratio axis whose ticks are labelled in % (``scale="pct"``) or in log
    ratio (``scale="log"``): each row with a known sampling variance as a
    square whose side grows with ``sqrt`` of its weight (metafor's ``psize``:
    linearly from 0.5 to 1.5 times the base size between the smallest and the
    largest weight) and its interval ``yi ± z sqrt(vi)``; rows without a
    variance as open circles without interval; a dotted reference line at 0.
    Below, one diamond per pooled effect (its interval) with its prediction
    interval as a dotted line with end bars.  Right, the numbers: estimate
    and interval of every row and pooled effect on the chosen scale, the
    weights (``weights`` given) and the SSM labels (``ssm_models`` given).

    The axis follows the data (:func:`_axis_range`, or ``xlim``); a row or
    interval beyond it is drawn to the edge and marked by an arrow head, its
    numbers stay in the right column.  Nothing is fitted here.

    Parameters
    ----------
    table : DataFrame
        One property's effect table (``study``, ``comparison``, ``yi``,
        ``vi``, ``vi_known``; ``property`` gives the direction).
    pooled : sequence of mappings, optional
        Pooled effects on the log-ratio scale, each with ``label``,
        ``estimate``, ``ci_low``, ``ci_high`` and optionally ``pi_low``,
        ``pi_high``, ``label_code`` (see :func:`pooled_summary`).
    reml, bayes, exact : mapping, optional
        Engine dicts, read with :func:`pooled_summary` and drawn after
        ``pooled``.
    weights : sequence or mapping, optional
        Each row's weight (aligned with ``table`` or keyed by
        ``comparison``), e.g. a model's ``100 w_i / sum w``; shown as a column
        in % and used for the square sizes.  Without it squares follow
        ``1 / vi``.
    scale : {"pct", "log"}
        The scale of the numbers and tick labels.
    level : float
        Confidence level of the row intervals, in %.
    xlim : (float, float), optional
        Axis range on the chosen scale.
    digits : int, optional
        Decimals of the numbers (1 on the % scale, 2 on the log scale).
    ssm_models : DataFrame, optional
        :func:`metaquant.ssm.evidence_models`: each row's SSM label and belief.
    thresholds : six floats, optional
        SSM cut-points (drawn as faint dotted lines when ``show_thresholds``).
    show_thresholds : bool
    title : str or False, optional
        The title (by default the property's); ``False`` for none.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InputError
        For an empty table, an unknown ``scale``, an empty ``xlim``, weights
        that do not match the rows or a pooled effect without an estimate.
    """
    if table.empty:
        raise InputError("no rows to plot")
    if scale not in ("pct", "log"):
        raise InputError(f"unknown scale {scale!r}", expected="'pct' or 'log'")
    on_pct = scale == "pct"
    digits = (1 if on_pct else 2) if digits is None else int(digits)
    prop = str(table["property"].iloc[0]) if "property" in table else ""
    hib = bool(schema.get_property(prop).higher_is_better) if prop else True
    z = float(stats.norm.ppf(0.5 + level / 200.0))

    def shown(v):  # a log ratio on the scale of the numbers
        return None if v is None else (float(pct_from_log(v, hib)) if on_pct else float(v))

    t = table.reset_index(drop=True)
    rows = _forest_rows(t, z, weights)
    summaries = [_given_summary(p) for p in pooled or []]
    summaries += [s for s in (pooled_summary(d, higher_is_better=hib) for d in (reml, bayes, exact) if d) if s]
    ssm_lab = _ssm_labels(ssm_models)
    a, b = _forest_xrange(xlim, on_pct, hib, rows, summaries)
    a, b, tick_pos, tick_labs = _axis_ticks(a, b, hib, on_pct)

    items, y, y_last_row, y_sep = _forest_layout(t, summaries, level)
    _forest_numbers(items, t, rows, ssm_lab, shown, digits)
    num_head = f"{'RI %' if on_pct else 'Log ratio'} [{level:g}% CI]"
    fr = _forest_frame(items, num_head, rows.show_w, ssm_lab, title, y, a, b)
    _forest_header(fr, num_head, y_sep, title, prop)

    n_clipped = 0
    for it in items:
        _forest_row_text(fr, it)
        if it["kind"] == "row":
            n_clipped += _forest_row_marks(fr.ax, it["y"], it["i"], rows, a, b)
        elif it["kind"] == "pooled":
            _forest_pooled_marks(fr.ax, it["y"], it["s"], a, b)

    _forest_axis(fr.ax, a, b, y, y_last_row - 0.5 if not summaries else y - 0.5, (tick_pos, tick_labs), on_pct,
                 _thresholds(prop, thresholds) if show_thresholds else None, hib)
    _forest_notes(fr, rows, n_clipped)
    return fr.fig


# --------------------------------------------------------------------------
# Posterior density with SSM's zones
# --------------------------------------------------------------------------


def _pct_draws(source, prop: str) -> np.ndarray:
    hib = bool(schema.get_property(prop).higher_is_better)
    if isinstance(source, np.ndarray | list | tuple):
        return np.asarray(source, dtype=float).ravel()
    idata = getattr(source, "idata", None)
    if idata is not None and hasattr(idata, "posterior") and "mu" in idata.posterior:
        return np.asarray(pct_from_log(idata.posterior["mu"].values.ravel(), hib), dtype=float)
    draws = getattr(source, "pct_draws", None)
    if draws is not None:
        return np.asarray(draws() if callable(draws) else draws, dtype=float).ravel()
    raise InputError("no posterior draws of the pooled effect to plot",
                     expected="a Bayesian result with InferenceData (mu) or an array of draws in %")


def _mixture_pct_density(mix, hib: bool, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """Density of ``pct(mu)`` for a normal mixture ``mu ~ Σ w N(m, s²)`` on the log-ratio scale.

    With ``y = log_from_pct(p)``, ``f_pct(p) = f_mu(y) · dy/dp`` and
    ``dy/dp = 1/(100 + p)`` (higher is better) or ``1/(100 - p)`` (lower is better).
    """
    from ..evidence.effects import dlog_dpct

    w, m, sd = (np.asarray(a, dtype=float) for a in (mix.w, mix.m, mix.s))
    keep = w > 1e-14 * w.max()  # components that cannot move the curve by a pixel
    w, m, sd = w[keep] / w[keep].sum(), m[keep], sd[keep]
    lo, hi = _mixture_quantile(w, m, sd, 0.0025), _mixture_quantile(w, m, sd, 0.9975)
    pad = 0.1 * (hi - lo)
    y = np.linspace(lo - pad, hi + pad, n)
    p = np.asarray(pct_from_log(y, hib), dtype=float)
    z = (y[:, None] - m[None, :]) / sd[None, :]
    fy = (np.exp(-0.5 * z * z) / (np.sqrt(2.0 * np.pi) * sd[None, :])) @ w
    return p, fy * np.asarray(dlog_dpct(p, hib), dtype=float)


def _mixture_quantile(w: np.ndarray, m: np.ndarray, sd: np.ndarray, q: float, tol: float = 1e-10) -> float:
    """The ``q`` quantile of ``Σ w N(m, sd²)`` by bisection on its CDF (``ndtr``: no per-call overhead)."""
    lo, hi = float(np.min(m - 9.0 * sd)), float(np.max(m + 9.0 * sd))
    while hi - lo > tol * max(1.0, abs(lo), abs(hi)):
        mid = 0.5 * (lo + hi)
        if float(ndtr((mid - m) / sd) @ w) < q:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _posterior_density(source, prop: str, th: Sequence[float],
                       zone_probabilities: Mapping[str, float] | None) -> tuple[np.ndarray, np.ndarray, dict]:
    """The curve ``(x, f)`` on the % scale and the zone probabilities: exact mixture, or a KDE of the draws."""
    mix = getattr(source, "mixture", None)
    if mix is not None and all(hasattr(mix, a) for a in ("w", "m", "s")):
        x, f = _mixture_pct_density(mix, bool(schema.get_property(prop).higher_is_better))
        return x, f, dict(zone_probabilities or getattr(source, "zone_probabilities", {}) or {})
    d = _pct_draws(source, prop)
    d = d[np.isfinite(d)]
    if d.size < 2:
        raise InputError("too few posterior draws to plot a density")
    q_lo, q_hi = np.quantile(d, [0.0025, 0.9975])
    span = max(q_hi - q_lo, 1e-6)
    x = np.linspace(q_lo - 0.15 * span, q_hi + 0.15 * span, 512)
    kd = d[:: int(np.ceil(d.size / 20_000))]  # a systematic thinning is plenty for the curve
    f = stats.gaussian_kde(kd)(x) if np.std(kd) > 0 else np.zeros_like(x)
    return x, f, dict(zone_probabilities or scale.zone_probabilities_from_draws(d, th))


def _posterior_zones(ax, th: Sequence[float], lo: float, hi: float, ymax: float, zp: Mapping[str, float],
                     label_code: str | None) -> list[int]:
    """Shade the zones in view with their probabilities, outline the label's; returns the label's zone indices."""
    from ..scale import code_atoms

    edges = scale.zone_edges(th)
    inside = []
    if label_code:
        sel_atoms = code_atoms(label_code)
        inside = [j for j, code in enumerate(scale.LABELS) if scale.label_atoms(code) <= sel_atoms]
    if inside:
        a, b = max(edges[inside[0]], lo), min(edges[inside[-1] + 1], hi)
        if b > a:
            ax.axvspan(a, b, facecolor="none", edgecolor="black", lw=1.5, zorder=4)
    for j, code in enumerate(scale.LABELS):
        a, b = max(edges[j], lo), min(edges[j + 1], hi)
        if b <= a:
            continue
        ax.axvspan(a, b, color=_zone_colour(code), alpha=0.55, lw=0, zorder=0)
        p = zp.get(code, 0.0)
        if (b - a) > 0.035 * (hi - lo):
            ax.text((a + b) / 2, ymax * 1.13, code, ha="center", va="bottom", fontsize=7, color="0.25")
            ax.text((a + b) / 2, ymax * 1.04, f"{p:.2f}" if p >= 0.005 or p == 0 else "<.01", ha="center",
                    va="bottom", fontsize=7.5, fontweight="bold" if p >= 0.25 else "normal")
    hidden = [f"{code} {zp[code]:.2f}" for j, code in enumerate(scale.LABELS)
              if zp.get(code, 0.0) >= 0.005 and (min(edges[j + 1], hi) - max(edges[j], lo)) <= 0.035 * (hi - lo)]
    if hidden:
        ax.text(0.0, -0.2, "zones beyond the view or too narrow to label: " + ", ".join(hidden),
                transform=ax.transAxes, ha="left", va="top", fontsize=7, color="0.3", wrap=True)
    return inside


def posterior_plot(
    source,
    prop: str,
    *,
    thresholds: Sequence[float] | None = None,
    zone_probabilities: Mapping[str, float] | None = None,
    label_code: str | None = None,
    title: str | None = None,
) -> Figure:
    """Posterior density of the pooled relative improvement over SSM's 13 zones.

    The density is a Gaussian kernel estimate of the draws ``pct(mu)``, or,
    for the exact engine, the density of its normal mixture carried to %.
    Each zone ``[edge_j, edge_{j+1})`` in view is shaded (reds
    negative, grey IF, greens positive) and carries its posterior probability
    ``P(pct ∈ zone)``; the probabilities are the result's own
    ``zone_probabilities`` when given, the share of draws otherwise.

    Parameters
    ----------
    source : Bayesian result, or array of draws in %
        A result with ``idata`` (posterior variable ``mu`` on the log-ratio
        scale), an exact result (its normal mixture ``mixture`` for ``mu``,
        drawn as an exact density), or the draws.
    prop : str
        Property (direction and default cut-points).
    thresholds : six floats, optional
    zone_probabilities : dict, optional
    label_code : str, optional
        The selected label: the zones inside it are outlined and their total
        probability (the label's posterior probability) is in the title.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    th = _thresholds(prop, thresholds)
    x, f, zp = _posterior_density(source, prop, th, zone_probabilities)
    lo, hi = float(x.min()), float(x.max())
    lo, hi = min(lo, -th[0] * 1.5), max(hi, th[0] * 1.5)
    fig = Figure(figsize=(9.0, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    ymax = float(f.max()) if f.size and f.max() > 0 else 1.0
    inside = _posterior_zones(ax, th, lo, hi, ymax, zp, label_code)
    ax.plot(x, f, color="black", lw=1.6, zorder=3)
    ax.fill_between(x, 0, f, color="black", alpha=0.08, zorder=2)
    ax.axvline(0.0, color="0.4", lw=0.8)
    ax.set_xlim(lo, hi)
    ax.set_ylim(0, ymax * 1.3)
    ax.set_yticks([])
    ax.set_xlabel("pooled relative improvement (%; + = quantization helps)")
    ax.set_ylabel("posterior density")
    head = title or f"{prop}: posterior of the pooled effect and SSM zone probabilities"
    failed = failed_reason(source.to_dict()) if hasattr(source, "to_dict") else None
    if failed:  # no finding from a failed fit: the density is shown, the label is not
        head += f" — no label: {failed}"
    elif label_code:
        p_lab = sum(zp.get(scale.LABELS[j], 0.0) for j in inside)
        head += f" — label {label_code}, P(its zones) = {p_lab:.2f}"
    elif zone_probabilities is not None:
        head += " — no label: the evidence does not decide"
    ax.set_title(head, fontsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


# --------------------------------------------------------------------------
# SSM masses
# --------------------------------------------------------------------------


def _focal_order(code: str) -> tuple:
    if code == "Θ":
        return (len(scale.ATOMS) + 1, 0)
    from ..scale import code_atoms

    idx = sorted(scale.ATOMS.index(a) for a in code_atoms(code))
    return (idx[0], len(idx))


def masses_plot(ssm_result, *, title: str | None = None) -> Figure:
    """Bar chart of SSM's final mass function (focal elements in scale order, Θ last).

    The selected label's bar is dark; its belief ``Bel`` (the sum of the
    masses of the focal elements inside it) is given in the title.

    Parameters
    ----------
    ssm_result : SSMResult or dict
        :func:`metaquant.ssm.synthesize`'s result or its ``to_dict()``
        (``masses`` keyed by label code).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    d = ssm_result.to_dict() if hasattr(ssm_result, "to_dict") else dict(ssm_result)
    masses = d.get("masses") or {}
    if not masses:
        raise InputError("the SSM result has no masses to plot")
    codes = sorted(masses, key=_focal_order)
    vals = [float(masses[c]) for c in codes]
    fig = Figure(figsize=(max(4.5, 0.7 * len(codes) + 2.0), 3.4))
    ax = fig.add_subplot(1, 1, 1)
    sel = d.get("label_code")
    from ..scale import code_atoms

    sel_atoms = code_atoms(sel) if sel else frozenset()
    colours = []
    for c in codes:
        if c == sel:
            colours.append("#1f4e79")
        elif c != "Θ" and sel and code_atoms(c) <= sel_atoms:
            colours.append("#6a9fd4")
        else:
            colours.append("#bdbdbd")
    bars = ax.bar(range(len(codes)), vals, color=colours)
    for b, v in zip(bars, vals, strict=True):
        ax.text(b.get_x() + b.get_width() / 2, v + 0.01, f"{v:.3f}" if v >= 0.001 else f"{v:.1e}", ha="center",
                va="bottom", fontsize=7.5)
    ax.set_xticks(range(len(codes)))
    ax.set_xticklabels(codes, fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("mass")
    prop = d.get("property", "")
    head = title or (f"{prop}: SSM final masses — {sel} (Bel {d.get('belief', float('nan')):.3f}, "
                     f"{d.get('n_models')} models)")
    ax.set_title(head, fontsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


# --------------------------------------------------------------------------
# Effect against bits
# --------------------------------------------------------------------------


def _bits_support(rows: pd.DataFrame) -> dict[float, int]:
    """Rows per bit-width, in increasing bits."""
    vc = rows["bits"].astype(float).value_counts()
    return {float(b): int(vc[b]) for b in sorted(vc.index)}


def _band_rows(table: pd.DataFrame, band: Mapping, missing_vi: str) -> pd.DataFrame:
    """The rows a band rests on: those with a known variance, unless the band says it used all (``missing_vi``)."""
    sub = table[np.isfinite(table["bits"].to_numpy(dtype=float))]
    policy = band.get("missing_vi", missing_vi)
    return sub if policy not in ("drop", None) else sub[sub["vi_known"].astype(bool)]


def _thin_band_notes(name: str, k: int, support: Mapping[float, int], min_rows: int) -> list[str]:
    """Sentences saying where a line between bit-widths rests on very few rows."""
    bits = list(support)
    where = ", ".join(f"{b:g}-bit: {n}" for b, n in support.items())
    if len(bits) <= 2:
        return [f"the {name} line rests on k = {k} rows at {len(bits)} bit-width{'s' if len(bits) != 1 else ''} "
                f"({where}): a straight line between two groups of rows, not a measured trend"]
    out = []
    if k < 2 * min_rows:
        out.append(f"the {name} line rests on only k = {k} rows ({where})")
    thin = {b: n for b, n in support.items() if n < min_rows}
    if thin:
        out.append(f"the {name} line is dashed next to "
                   + ", ".join(f"{b:g}-bit ({n} row{'s' if n != 1 else ''})" for b, n in thin.items())
                   + f": fewer than {min_rows} rows support it there")
    return out


def _bits_sources(regression: Mapping | None, predictions,
                  bayes_band: Mapping | None) -> tuple[list[tuple[str, Mapping, str]], list[Mapping]]:
    """The bands (name, band, colour) and the per-level predictions among what is given."""
    bands: list[tuple[str, Mapping, str]] = []
    levels: list[Mapping] = []
    for src, colour in ((regression, _ENGINE_STYLE["REML"]["color"]), (predictions, _ENGINE_STYLE["REML"]["color"])):
        if isinstance(src, Mapping) and src.get("grid_bits") is not None:
            bands.append(("REML", src, colour))
        elif src is not None and not isinstance(src, Mapping):
            levels = [p for p in src if p.get("pct") is not None]
    if bayes_band and bayes_band.get("grid_bits") is not None:
        bands.append(("Bayes", bayes_band, _ENGINE_STYLE["Bayes"]["color"]))
    return bands, levels


def _bits_points(ax, sub: pd.DataFrame) -> None:
    """The rows as points, jittered in bits: one colour per study, open where the variance is unknown."""
    palette = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"]
    rng = np.random.default_rng(0)
    for i, s in enumerate(dict.fromkeys(sub["study"])):
        r = sub[sub["study"] == s]
        jitter = 2 ** (rng.uniform(-0.06, 0.06, len(r)))
        known = r["vi_known"].astype(bool).to_numpy()
        c = palette[i % len(palette)]
        xb = r["bits"].to_numpy(float) * jitter
        y = r["yi"].to_numpy(float)
        name = _study_label(s)
        if known.any():
            ax.scatter(xb[known], y[known], color=c, s=30, zorder=3, label=name)
        if (~known).any():
            ax.scatter(xb[~known], y[~known], facecolors="white", edgecolors=c, s=30, zorder=3,
                       label=None if known.any() else name)
    if (~sub["vi_known"].astype(bool)).any():
        ax.scatter([], [], facecolors="white", edgecolors="0.3", s=30, label="open: variance unknown")


def _bits_band(ax, table: pd.DataFrame, name: str, band: Mapping, colour: str, hib: bool, missing_vi: str,
               min_rows: int) -> tuple[list[str], list[float], bool]:
    """One band as a line and its interval, segment by segment; returns its notes, its ends and whether any is thin."""
    g = np.asarray(band["grid_bits"], dtype=float)
    mid, lo, hi = (np.asarray(log_from_pct(np.asarray(band[k], dtype=float), hib)) for k in
                   ("pct", "pct_ci_low", "pct_ci_high"))
    used = _band_rows(table, band, missing_vi if name == "REML" else "model")  # Bayes models unknown vi
    support = _bits_support(used[(used["bits"] >= g.min() - 1e-9) & (used["bits"] <= g.max() + 1e-9)])
    k = int(band.get("k") or sum(support.values()))
    notes = _thin_band_notes(name, k, support, min_rows)
    label = band.get("label") or (
        f"{name}: slope {band['slope']:+.3f} per log2(bits) [{band['slope_ci_low']:+.3f}, "
        f"{band['slope_ci_high']:+.3f}], k={k}" if band.get("slope") is not None else f"{name}, k={k}")
    # the line between adjacent bit-widths: solid where both ends have min_rows rows, dashed otherwise
    cuts = sorted({float(g.min()), float(g.max()), *[b for b in support if g.min() < b < g.max()]})
    two = len(support) <= 2
    lg = np.log2(g)
    any_thin = False
    for j, (u, v) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        xs = np.concatenate([[u], g[(g > u) & (g < v)], [v]])
        seg = [np.interp(np.log2(xs), lg, arr) for arr in (mid, lo, hi)]  # the ends join the next segment
        thin = two or any(support.get(e, 0) < min_rows for e in (u, v))
        any_thin |= thin
        ax.plot(xs, seg[0], color=colour, lw=1.6, ls="--" if thin else "-", zorder=2,
                label=label if j == 0 else None)
        ax.fill_between(xs, seg[1], seg[2], color=colour, alpha=0.06 if thin else 0.15, lw=0, zorder=1)
    return notes, list(lo) + list(hi), any_thin


def _bits_levels(ax, levels: Sequence[Mapping], hib: bool, min_rows: int) -> tuple[list[str], list[float]]:
    """The pooled effect at each bit-width as a diamond with its interval; returns the notes and the interval ends."""
    colour = _ENGINE_STYLE["REML"]["color"]
    ys: list[float] = []
    for p in levels:
        b = float(p.get("level"))
        m, lo, hi = (float(log_from_pct(float(p[k]), hib)) if p.get(k) is not None else None
                     for k in ("pct", "pct_ci_low", "pct_ci_high"))
        if lo is not None and hi is not None:
            ax.plot([b, b], [lo, hi], color=colour, lw=1.4, zorder=4)
            ys += [lo, hi]
        ax.plot([b], [m], marker="D", ms=7, color=colour, linestyle="none", zorder=5)
    ax.plot([], [], marker="D", color=colour, linestyle="none", label="pooled at each bit-width")
    support = {float(p["level"]): int(p["k"]) for p in levels if p.get("k") is not None}
    thin = {b: n for b, n in support.items() if n < min_rows}
    if thin:
        return [f"pooled estimates from fewer than {min_rows} rows: "
                + ", ".join(f"{b:g}-bit (k = {n})" for b, n in thin.items())], ys
    return [], ys


def _bits_axes(ax, sub: pd.DataFrame, ys: Sequence, hib: bool, th: Sequence[float]) -> None:
    """Bit-width ticks with their row counts, the %-labelled log-ratio axis and the faint cut-point lines."""
    ax.set_xscale("log", base=2)
    counts = _bits_support(sub)
    ax.set_xticks(list(counts))
    ax.set_xticklabels([f"{b:g}\nn={n}" for b, n in counts.items()], fontsize=8)
    ax.minorticks_off()
    ys = np.asarray([v for v in ys if v is not None and np.isfinite(v)])
    y_lo, y_hi = min(float(ys.min()), 0.0), max(float(ys.max()), 0.0)
    pad = 0.06 * (y_hi - y_lo or 1.0)
    y_lo, y_hi, pos, labs = _axis_ticks(y_lo - pad, y_hi + pad, hib, True)
    ax.set_ylim(y_lo, y_hi)
    ax.set_yticks(pos)
    ax.set_yticklabels(labs, fontsize=8)
    ax.axhline(0.0, color="0.4", lw=0.8)
    lines = sorted({float(log_from_pct(v, hib)) for t in th for v in (t, -t)
                    if (v > -100 if hib else v < 100)})
    lines = [v for v in lines if y_lo < v < y_hi]
    if lines and min(np.diff([y_lo, *lines, y_hi])) > 0.03 * (y_hi - y_lo):
        for v in lines:
            ax.axhline(v, color="0.8", lw=0.6, ls=":", zorder=0)


def _bits_notes_legend(ax, notes: Sequence[str]) -> None:
    """The notes under the axes (warnings in red-brown) and the legend outside them, its texts plain."""
    for j, note in enumerate(notes):
        _plain(ax, 0.0, -0.2 - 0.07 * j, note, transform=ax.transAxes, ha="left", va="top", fontsize=7,
               color="#8c2d04" if note.startswith(("the ", "pooled")) else "0.3")
    leg = ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    for txt in leg.get_texts():  # study ids as written, never mathtext
        txt.set_parse_math(False)
        txt.set_usetex(False)


def bits_plot(
    table: pd.DataFrame,
    *,
    predictions: Mapping | Sequence[Mapping] | None = None,
    regression: Mapping | None = None,
    bayes_band: Mapping | None = None,
    missing_vi: str = "drop",
    thresholds: Sequence[float] | None = None,
    min_rows: int = 3,
    title: str | None = None,
) -> Figure:
    """The effect of each evidence row against its weight bit-width, with pooled lines given to it.

    Points: filled where the variance is known, open where not; one colour per
    study; the vertical axis is the log ratio with % tick labels (as in
    :func:`forest_plot`), the horizontal one ``log2(bits)``, each tick saying how
    many rows have that bit-width.  Lines are drawn from what is given,
    nothing is fitted here (:func:`metaquant.workbench.predict.bits_regression` makes the band):

    * a band (``grid_bits``, ``pct``, ``pct_ci_low``, ``pct_ci_high``, optional
      ``label``, ``k``, ``missing_vi``): a line and its 95% band;
    * a list of per-level predictions (the result protocol's ``predictions``:
      ``level``, ``pct``, ``pct_ci_low``, ``pct_ci_high``, optional ``k``): the
      pooled effect at each bit-width as a diamond with its interval.

    A line that rests on very few rows (at most two bit-widths, fewer than
    ``2 min_rows`` rows, or a bit-width with fewer than ``min_rows`` rows) is
    drawn dashed and the figure says so under the axis.  The legend is outside
    the axes.

    Parameters
    ----------
    table : DataFrame
        One property's effect table.
    predictions : mapping or sequence of mappings, optional
    regression : mapping, optional
        A band as above (:func:`metaquant.workbench.predict.bits_regression`); one that is not estimable is said.
    bayes_band : mapping, optional
        A second band (Bayesian, in its own colour), resting on every row
        with a bit-width unless it says ``missing_vi``.
    missing_vi : str
        Which rows the band rests on when it does not say (``"drop"``: those
        with a known variance).
    thresholds : six floats, optional
        SSM cut-points, drawn as faint lines where they do not crowd the axis.
    min_rows : int
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    prop = str(table["property"].iloc[0])
    hib = bool(schema.get_property(prop).higher_is_better)
    th = _thresholds(prop, thresholds)
    sub = table[np.isfinite(table["bits"].to_numpy(dtype=float))]
    if sub.empty:
        raise InputError(f"no row of {prop!r} has a bit-width", column="bits")
    bands, levels = _bits_sources(regression, predictions, bayes_band)
    fig = Figure(figsize=(9.6, 4.4))
    ax = fig.add_axes([0.08, 0.2, 0.6, 0.72])
    _bits_points(ax, sub)
    ys = list(sub["yi"].to_numpy(float))
    notes = []
    any_thin = False
    for name, band, colour in bands:
        band_notes, ends, thin = _bits_band(ax, table, name, band, colour, hib, missing_vi, min_rows)
        notes += band_notes
        ys += ends
        any_thin |= thin
    if any_thin:
        ax.plot([], [], color="0.3", lw=1.2, ls="--", label="dashed: few rows there")
    if levels:
        level_notes, ends = _bits_levels(ax, levels, hib, min_rows)
        notes += level_notes
        ys += ends
    _bits_axes(ax, sub, ys, hib, th)
    ax.set_xlabel("weight bit-width (log scale; n = rows)")
    ax.set_ylabel("relative improvement, % (log-ratio axis)")
    ax.set_title(title or f"{prop}: effect against bit-width", fontsize=10)
    if regression is not None and not regression.get("estimable", True):
        notes.append(f"no REML slope: {regression.get('reason')}")
    _bits_notes_legend(ax, notes)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


__all__ = ["FORMATS", "bits_plot", "figure_bytes", "forest_plot", "masses_plot", "posterior_plot",
           "save_figure"]
