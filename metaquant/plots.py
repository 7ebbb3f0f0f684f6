"""Figures for a methodologist: forest plot, posterior with SSM zones, SSM masses, effect against bits.

Every function returns a :class:`matplotlib.figure.Figure` and never writes a
file; :func:`save_figure` writes one atomically (PNG or SVG by the file's
extension) and refuses to overwrite an existing file unless ``force``.  The
module uses only the object-oriented Matplotlib interface (``Figure``), so it
runs under any backend, ``Agg`` included, and never opens a window.

The relative improvement ``RI`` (in %, positive = quantization helps) is on
the horizontal axis throughout; intervals computed on the log-ratio scale are
carried over with :func:`metaquant.effects.pct_from_log`, which is monotone,
so an interval ``[y_lo, y_hi]`` becomes ``[pct(y_lo), pct(y_hi)]``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Polygon
from scipy import stats

from . import scale, schema
from .effects import moderator_matrix, pct_from_log
from .errors import InputError
from .outputs import atomic_write_bytes

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


def _short(comparison: str, study: str) -> str:
    s = str(comparison)
    return s[len(study) + 1 :] if s.startswith(f"{study}|") else s


def _diamond(ax, y: float, lo: float, mid: float, hi: float, colour: str, h: float = 0.32) -> None:
    ax.add_patch(Polygon([[lo, y], [mid, y + h], [hi, y], [mid, y - h]], closed=True, facecolor=colour,
                         edgecolor=colour, alpha=0.9, zorder=3))


def forest_plot(
    table: pd.DataFrame,
    *,
    reml: Mapping | None = None,
    bayes: Mapping | None = None,
    exact: Mapping | None = None,
    ssm_models: pd.DataFrame | None = None,
    thresholds: Sequence[float] | None = None,
    title: str | None = None,
) -> Figure:
    """Forest plot of one property: evidence models grouped by study and the pooled effects.

    Each evidence model is a point at its relative improvement ``pct``; where
    its sampling variance is known, a line shows the 95% interval
    ``pct(yi ± 1.96 √vi)`` and the marker is a filled square; where it is not,
    the marker is an open circle without interval.  Below, one diamond per
    engine given (REML, Bayes = PyMC, exact = the quadrature engine's
    random-effects model, which treats the rows of one study as independent
    and so shows what the PyMC multilevel model's nesting changes) spans its 95% confidence or
    credible interval around the pooled estimate, and a thin line below the
    diamond its 95% prediction interval for a new comparison.  Dotted lines
    mark SSM's cut-points; the right margin gives each model's SSM label and
    belief when ``ssm_models`` (:func:`metaquant.ssm.evidence_models`) is given.

    Parameters
    ----------
    table : DataFrame
        One property's effect table.
    reml, bayes, exact : dict, optional
        ``metaquant.compare`` engine dicts (keys ``pct``/``pct_ci_low``/... for
        REML, ``pct_mean``/``pct_ci_low``/... for the Bayesian engines).
    ssm_models : DataFrame, optional
    thresholds : six floats, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    if table.empty:
        raise InputError("no rows to plot")
    prop = str(table["property"].iloc[0])
    hib = bool(schema.get_property(prop).higher_is_better)
    th = _thresholds(prop, thresholds)
    order = list(dict.fromkeys(table["study"]))
    rows: list[tuple[str, Any]] = []
    for s in order:
        rows.append(("study", s))
        for r in table[table["study"] == s].to_dict("records"):
            rows.append(("model", r))
    pooled = [(name, d) for name, d in (("REML", reml), ("Bayes", bayes), ("exact", exact))
              if d and (d.get("pct") if name == "REML" else d.get("pct_mean")) is not None]
    n = len(rows) + (len(pooled) * 1.6 + 0.8 if pooled else 0)
    fig = Figure(figsize=(9.0, max(2.6, 0.3 * n + 1.2)))
    ax = fig.add_subplot(1, 1, 1)
    labels = {}
    if ssm_models is not None and not ssm_models.empty:
        labels = {str(c): (lc, b) for c, lc, b in zip(ssm_models["comparison"], ssm_models["label_code"],
                                                      ssm_models["belief"], strict=True)}
    y = 0.0
    yt, ylab, xs = [], [], []
    for kind, r in rows:
        y -= 1.0
        if kind == "study":
            yt.append(y)
            ylab.append(f"$\\bf{{{r}}}$")
            continue
        x = float(r["pct"])
        xs.append(x)
        if bool(r["vi_known"]) and np.isfinite(r["vi"]):
            se = float(np.sqrt(r["vi"]))
            lo, hi = pct_from_log(r["yi"] - _Z975 * se, hib), pct_from_log(r["yi"] + _Z975 * se, hib)
            xs += [lo, hi]
            ax.plot([lo, hi], [y, y], color="0.25", lw=1.2, zorder=2)
            ax.plot([x], [y], marker="s", ms=6, color="0.15", zorder=3, linestyle="none")
        else:
            ax.plot([x], [y], marker="o", ms=6, mfc="white", mec="0.15", zorder=3, linestyle="none")
        yt.append(y)
        ylab.append("   " + _short(r["comparison"], str(r["study"])))
        if labels.get(str(r["comparison"])):
            lc, b = labels[str(r["comparison"])]
            ax.annotate(f"{lc} ({b:.2f})", xy=(1.01, y), xycoords=("axes fraction", "data"), va="center",
                        fontsize=7.5, color="0.3")
    if pooled:
        y -= 0.6
        ax.axhline(y, color="0.6", lw=0.6)
    for name, d in pooled:
        y -= 1.2
        colour = _ENGINE_STYLE[name]["color"]
        if name == "REML":
            mid, lo, hi = d["pct"], d.get("pct_ci_low"), d.get("pct_ci_high")
            plo, phi = d.get("pct_pi_low"), d.get("pct_pi_high")
            txt = f"REML (k={d.get('k')})"
        else:
            mid, lo, hi = d["pct_mean"], d.get("pct_ci_low"), d.get("pct_ci_high")
            plo, phi = d.get("pct_pi_low"), d.get("pct_pi_high")
            model = {"re": "random-effects"}.get(d.get("model"), d.get("model") or "PyMC")
            txt = f"Bayes exact, {model} (k={d.get('k')})" if name == "exact" else f"Bayes, {model} (k={d.get('k')})"
        lo = mid if lo is None else lo
        hi = mid if hi is None else hi
        _diamond(ax, y, lo, mid, hi, colour)
        xs += [lo, hi, mid]
        if plo is not None and phi is not None:
            ax.plot([plo, phi], [y - 0.45, y - 0.45], color=colour, lw=1.0, alpha=0.8)
            ax.plot([plo, plo], [y - 0.55, y - 0.35], color=colour, lw=1.0)
            ax.plot([phi, phi], [y - 0.55, y - 0.35], color=colour, lw=1.0)
            xs += [plo, phi]
        yt.append(y)
        ylab.append(txt)
        lc = d.get("label_code")
        if lc:
            ax.annotate(lc, xy=(1.01, y), xycoords=("axes fraction", "data"), va="center", fontsize=8,
                        color=colour, fontweight="bold")
    xs = [v for v in xs if v is not None and np.isfinite(v)]
    lo_x, hi_x = min([*xs, -th[0]]), max([*xs, th[0]])
    pad = 0.06 * (hi_x - lo_x or 1.0)
    ax.set_xlim(lo_x - pad, hi_x + pad)
    for t in th:
        for v in (t, -t):
            if lo_x - pad < v < hi_x + pad:
                ax.axvline(v, color="0.75", lw=0.6, ls=":", zorder=0)
    ax.axvline(0.0, color="0.4", lw=0.8, zorder=1)
    ax.set_yticks(yt)
    ax.set_yticklabels(ylab, fontsize=8)
    ax.set_ylim(y - 1.0, 0.0)
    ax.set_xlabel("relative improvement (%; + = quantization helps)")
    ax.set_title(title or f"{prop}: evidence models and pooled effects", fontsize=10)
    ax.plot([], [], marker="s", color="0.15", linestyle="none", label="95% CI (known variance)")
    ax.plot([], [], marker="o", mfc="white", mec="0.15", linestyle="none", label="variance unknown")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.45 / max(fig.get_figheight(), 1.0)), ncol=2, fontsize=7,
              frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.subplots_adjust(left=0.28, right=0.86)
    return fig


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
    from .effects import dlog_dpct

    w, m, sd = (np.asarray(a, dtype=float) for a in (mix.w, mix.m, mix.s))
    yy = np.linspace(float(np.min(m - 8.0 * sd)), float(np.max(m + 8.0 * sd)), 4001)
    F = stats.norm.cdf((yy[:, None] - m[None, :]) / sd[None, :]) @ w
    lo, hi = float(np.interp(0.0025, F, yy)), float(np.interp(0.9975, F, yy))
    pad = 0.1 * (hi - lo)
    y = np.linspace(lo - pad, hi + pad, n)
    p = np.asarray(pct_from_log(y, hib), dtype=float)
    fy = (stats.norm.pdf((y[:, None] - m[None, :]) / sd[None, :]) / sd[None, :]) @ w
    return p, fy * np.asarray(dlog_dpct(p, hib), dtype=float)


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
    mix = getattr(source, "mixture", None)
    if mix is not None and all(hasattr(mix, a) for a in ("w", "m", "s")):
        x, f = _mixture_pct_density(mix, bool(schema.get_property(prop).higher_is_better))
        zp = dict(zone_probabilities or getattr(source, "zone_probabilities", {}) or {})
    else:
        d = _pct_draws(source, prop)
        d = d[np.isfinite(d)]
        if d.size < 2:
            raise InputError("too few posterior draws to plot a density")
        q_lo, q_hi = np.quantile(d, [0.0025, 0.9975])
        span = max(q_hi - q_lo, 1e-6)
        x = np.linspace(q_lo - 0.15 * span, q_hi + 0.15 * span, 512)
        kd = d[:: int(np.ceil(d.size / 20_000))]  # a systematic thinning is plenty for the curve
        f = stats.gaussian_kde(kd)(x) if np.std(kd) > 0 else np.zeros_like(x)
        zp = dict(zone_probabilities or scale.zone_probabilities_from_draws(d, th))
    lo, hi = float(x.min()), float(x.max())
    lo, hi = min(lo, -th[0] * 1.5), max(hi, th[0] * 1.5)
    fig = Figure(figsize=(9.0, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    edges = scale.zone_edges(th)
    ymax = float(f.max()) if f.size and f.max() > 0 else 1.0
    from .compare import code_atoms

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
    ax.plot(x, f, color="black", lw=1.6, zorder=3)
    ax.fill_between(x, 0, f, color="black", alpha=0.08, zorder=2)
    ax.axvline(0.0, color="0.4", lw=0.8)
    ax.set_xlim(lo, hi)
    ax.set_ylim(0, ymax * 1.3)
    ax.set_yticks([])
    ax.set_xlabel("pooled relative improvement (%; + = quantization helps)")
    ax.set_ylabel("posterior density")
    head = title or f"{prop}: posterior of the pooled effect and SSM zone probabilities"
    if label_code:
        p_lab = sum(zp.get(scale.LABELS[j], 0.0) for j in inside)
        head += f" — label {label_code}, P(its zones) = {p_lab:.2f}"
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
    from .compare import code_atoms

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
    from .compare import code_atoms

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


def bits_regression(table: pd.DataFrame, *, missing_vi: str = "drop", grid: np.ndarray | None = None) -> dict:
    """REML meta-regression of the effect on ``log2(bits)`` and its band on a grid of bits.

    Model ``y_i = β0 + β1 log2(bits_i) + u_i + ε_i`` (metafor ``rma(yi, vi,
    mods = ~ log2(bits))``) on the rows left by ``missing_vi``; the band is
    the 95% confidence interval of the mean ``β0 + β1 log2(b)`` (metafor
    ``predict``), transformed to %.

    Returns
    -------
    dict
        ``k``, ``slope``, ``slope_ci_low``, ``slope_ci_high``, ``slope_p``,
        ``tau2``, ``grid_bits`` and ``pct``/``pct_ci_low``/``pct_ci_high`` on
        the grid; ``estimable: False`` with ``reason`` when fewer than three
        rows with known variance and two distinct bit-widths remain.
    """
    from . import frequentist
    from .effects import handle_unknown_vi

    prop = str(table["property"].iloc[0])
    hib = bool(schema.get_property(prop).higher_is_better)
    sub = table[np.isfinite(table["bits"].to_numpy(dtype=float))]
    try:
        pooled, note = handle_unknown_vi(sub, missing_vi, engine="the meta-regression") if len(sub) else (sub, None)
    except InputError as exc:
        return {"estimable": False, "reason": exc.message}
    if len(pooled) < 3 or pooled["bits"].nunique() < 2:
        return {"estimable": False, "k": int(len(pooled)),
                "reason": f"{len(pooled)} rows with a known variance and {pooled['bits'].nunique()} bit-widths; "
                          "a slope needs at least 3 rows and 2 bit-widths"}
    X, names = moderator_matrix(pooled, ["bits"])
    res = frequentist.rma(pooled["yi"].to_numpy(float), pooled["vi"].to_numpy(float), method="REML", mods=X,
                          mod_names=names)
    g = np.asarray(grid if grid is not None else np.geomspace(pooled["bits"].min(), pooled["bits"].max(), 60))
    pr = frequentist.predict(res, np.log2(g))
    slope = res.coefficients[1]
    return {
        "estimable": True, "k": res.k, "note": note, "term": names[0],
        "intercept": res.coefficients[0]["estimate"], "slope": slope["estimate"], "slope_se": slope["se"],
        "slope_ci_low": slope["ci_low"], "slope_ci_high": slope["ci_high"], "slope_p": slope["p"],
        "tau2": res.tau2, "grid_bits": g.tolist(),
        "pct": np.asarray(pct_from_log(pr.pred, hib)).tolist(),
        "pct_ci_low": np.asarray(pct_from_log(pr.ci_low, hib)).tolist(),
        "pct_ci_high": np.asarray(pct_from_log(pr.ci_high, hib)).tolist(),
    }


def bits_plot(
    table: pd.DataFrame,
    *,
    regression: Mapping | None = None,
    bayes_band: Mapping | None = None,
    missing_vi: str = "drop",
    thresholds: Sequence[float] | None = None,
    title: str | None = None,
) -> Figure:
    """The relative improvement of each evidence model against its weight bit-width.

    Points: filled where the variance is known (these enter the REML fit),
    open where not; one colour per study.  The line and band are the REML
    meta-regression on ``log2(bits)`` with its 95% confidence band
    (:func:`bits_regression`); ``bayes_band`` (``grid_bits``, ``pct``,
    ``pct_ci_low``, ``pct_ci_high``) adds a Bayesian line and credible band.
    The horizontal axis is logarithmic in bits.

    Returns
    -------
    matplotlib.figure.Figure
    """
    prop = str(table["property"].iloc[0])
    th = _thresholds(prop, thresholds)
    sub = table[np.isfinite(table["bits"].to_numpy(dtype=float))]
    if sub.empty:
        raise InputError(f"no row of {prop!r} has a bit-width", column="bits")
    reg = dict(regression) if regression is not None else bits_regression(table, missing_vi=missing_vi)
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    palette = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"]
    studies = list(dict.fromkeys(sub["study"]))
    rng = np.random.default_rng(0)
    for i, s in enumerate(studies):
        r = sub[sub["study"] == s]
        jitter = 2 ** (rng.uniform(-0.06, 0.06, len(r)))
        known = r["vi_known"].astype(bool).to_numpy()
        c = palette[i % len(palette)]
        xb = r["bits"].to_numpy(float) * jitter
        y = r["pct"].to_numpy(float)
        if known.any():
            ax.scatter(xb[known], y[known], color=c, s=36, zorder=3, label=s)
        if (~known).any():
            ax.scatter(xb[~known], y[~known], facecolors="white", edgecolors=c, s=36, zorder=3,
                       label=None if known.any() else s)
    if (~sub["vi_known"].astype(bool)).any():
        ax.scatter([], [], facecolors="white", edgecolors="0.3", s=36, label="open: variance unknown (not in REML)")
    if reg.get("estimable"):
        g = np.asarray(reg["grid_bits"])
        ax.plot(g, reg["pct"], color=_ENGINE_STYLE["REML"]["color"], lw=1.6,
                label=f"REML: slope {reg['slope']:+.3f} per log2(bits) "
                      f"[{reg['slope_ci_low']:+.3f}, {reg['slope_ci_high']:+.3f}], k={reg['k']}")
        ax.fill_between(g, reg["pct_ci_low"], reg["pct_ci_high"], color=_ENGINE_STYLE["REML"]["color"], alpha=0.15)
    if bayes_band:
        g = np.asarray(bayes_band["grid_bits"])
        ax.plot(g, bayes_band["pct"], color=_ENGINE_STYLE["Bayes"]["color"], lw=1.6, ls="--",
                label=bayes_band.get("label", "Bayes"))
        ax.fill_between(g, bayes_band["pct_ci_low"], bayes_band["pct_ci_high"], color=_ENGINE_STYLE["Bayes"]["color"],
                        alpha=0.12)
    ax.set_xscale("log", base=2)
    ticks = sorted(set(sub["bits"].astype(float)))
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.axhline(0.0, color="0.4", lw=0.8)
    ylo, yhi = ax.get_ylim()
    for t in th:
        for v in (t, -t):
            if ylo < v < yhi:
                ax.axhline(v, color="0.75", lw=0.6, ls=":", zorder=0)
    ax.set_xlabel("weight bit-width (log scale)")
    ax.set_ylabel("relative improvement (%)")
    ax.set_title(title or f"{prop}: effect against bit-width", fontsize=10)
    if not reg.get("estimable"):
        ax.text(0.0, -0.16, f"no REML slope: {reg.get('reason')}", transform=ax.transAxes, ha="left", va="top",
                fontsize=7, color="0.3")
    ax.legend(fontsize=7, frameon=False, loc="best")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


__all__ = ["FORMATS", "bits_plot", "bits_regression", "figure_bytes", "forest_plot", "masses_plot", "posterior_plot",
           "save_figure"]
