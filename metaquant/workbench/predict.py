"""The expected effect for a setting the evidence may not contain: a new model, bit-width, technique.

:func:`predict` fits a meta-regression of one property on the moderators a
user names (``bits=4, technique="gptq", params=7e9``), and reads it at those
values: the expected (average) effect with its confidence or credible
interval, the *prediction* interval of the effect in one new study (what a
user should expect for their own model), and the SSM label with its
probability where the engine gives one.  Both engines read the fit through
their own ``predict_new`` (classical: metafor's ``predict.rma``; Bayesian: the
posterior draws of the regression and of the between-study spread).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import scale
from ..errors import InputError, UsageError
from ..evidence import schema
from ..evidence.effects import moderator_matrix, pct_from_log
from ..outputs import json_safe
from ..progress import plural
from ..spec import FitSpec, RunSettings

#: How a named setting enters the regression when the user gives no moderators.
DEFAULT_CODING = {"bits": "bits", "act_bits": "act_bits", "kv_bits": "kv_bits", "params": "log10(params)",
                  "x_kv_bits": "log2(x_kv_bits)", "x_params": "log10(x_params)"}


#: What a practitioner knows about their setting, and the data columns that may carry it (the first present).
COVARIATES = {"bits": ("bits",), "act_bits": ("act_bits",), "kv_bits": ("kv_bits", "x_kv_bits"),
              "technique": ("technique",), "granularity": ("granularity",), "params": ("params", "x_params"),
              "model_family": ("model_family", "x_family"), "task_family": ("task_family", "x_task_family"),
              "hardware": ("hardware",), "hardware_class": ("hardware_class", "x_compute_unit"),
              "runtime": ("runtime", "x_runtime")}

#: The level a categorical covariate takes in a row that does not say it.
UNKNOWN = "unknown"


def covariate_column(table: pd.DataFrame, name: str) -> str:
    """The data column that carries the covariate ``name`` (``kv_bits`` -> ``x_kv_bits`` in ``llmq``).

    >>> covariate_column(pd.DataFrame({"x_family": ["OPT"]}), "model_family")
    'x_family'
    """
    for col in COVARIATES.get(name, (name, f"x_{name}")) + (f"x_{name}",):
        if col in table.columns:
            return col
    return name


def _blank(s: pd.Series) -> np.ndarray:
    """Rows of ``s`` that do not say a value (missing or empty text)."""
    return (s.isna() | s.astype(str).str.strip().isin(["", "nan", "None"])).to_numpy()


def prepare_rows(rows: pd.DataFrame, at: Mapping[str, object], moderators) -> tuple[pd.DataFrame, tuple, list, list]:
    """The rows a prediction learns from, with unknown covariates handled, and the moderators they can carry.

    A numeric covariate (bits, parameter count) that a row does not give leaves
    that row out, with a note counting it; a categorical one (technique,
    runtime, family) gets the level :data:`UNKNOWN`.  A covariate that no
    pooled row gives, that takes one value in every pooled row, or that the
    other moderators already determine cannot be estimated: it leaves the
    regression with a note (and a caution when the asked value differs from the
    data's).

    Returns
    -------
    rows : DataFrame
    moderators : tuple of str
        Those the rows can estimate.
    notes, cautions : list of str
    """
    rows = rows.copy()
    notes, cautions = [], []
    n0 = len(rows)
    cols = list(dict.fromkeys([*at, *(c for c in map(_column_of, moderators) if c)]))
    absent = set()
    for col in cols:
        if col not in rows.columns:
            absent.add(col)
            continue
        gone = _blank(rows[col])
        if not gone.any():
            continue
        if pd.api.types.is_numeric_dtype(rows[col]):
            if gone.all():
                absent.add(col)
                continue
            notes.append(f"{plural(int(gone.sum()), 'row')} of {n0} lack {col} and were left out")
            rows = rows[~gone]
        else:
            rows[col] = rows[col].astype(object).where(~gone, UNKNOWN)
            notes.append(f"{plural(int(gone.sum()), 'row')} of {n0} do not say {col}: level {UNKNOWN!r}")
    keep = []
    base = np.ones((len(rows), 1))
    for m in moderators:
        col = _column_of(m)
        if col in absent:
            notes.append(f"no pooled row gives {col}: the prediction does not depend on it")
            continue
        if col is not None and rows[col].nunique() < 2:
            v = rows[col].iloc[0] if len(rows) else None
            notes.append(f"{col} is {_show(v)} in every pooled row: it is not a moderator here")
            if col in at and v is not None and str(_show(v)) != str(_show(_num(at[col]))):
                cautions.append(f"every pooled row has {col} = {_show(v)}; the data say nothing about "
                                f"{col} = {_show(at[col])}")
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            X, _ = moderator_matrix(rows, [m])
        both = np.column_stack([base, X])
        if np.linalg.matrix_rank(both) < both.shape[1]:
            notes.append(f"{m} is determined by the other moderators in the pooled rows: left out")
            continue
        base, keep = both, [*keep, m]
    return rows.reset_index(drop=True), tuple(keep), notes, cautions


def _column_of(m) -> str | None:
    """The one column a moderator reads (``bits``, ``bits:cat``, ``log10(x_params)``), None for a formula."""
    hit = re.fullmatch(r"\s*(?:log2|log10|log)\((\w+)\)\s*|\s*(\w+)(?::cat)?\s*", str(m))
    return (hit.group(1) or hit.group(2)) if hit else None


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def learned_from(rows: pd.DataFrame) -> dict:
    """Rows per source (study), largest first: what a prediction learned from."""
    return {str(k): int(v) for k, v in rows["study"].astype(str).value_counts().items()}


def loso_calibration(rows: pd.DataFrame, moderators, prop: str) -> dict:
    """Leave-one-source-out coverage and median width of the 95 % prediction interval.

    Each source (``study``) in turn is left out; a REML meta-regression on the
    same moderators is fitted to the others (rows independent, metafor's
    ``rma``) and its 95 % prediction interval is read at each held-out row's own
    covariates.  The coverage is the share of held-out effects inside their
    interval, the width the median of the intervals' widths in percentage points
    of the % scale.  A row without a sampling variance takes the median of the
    known ones (a tiny one where none is known: heterogeneity then carries all
    spread).  A held-out row whose level the other sources never show cannot be
    predicted and is counted apart.

    Returns
    -------
    dict
        ``sources``, ``rows``, ``predicted``, ``unpredictable``, ``coverage``,
        ``median_width_pp``, ``per_source`` (coverage and rows by left-out source).
    """
    from ..classical import rma

    hib = bool(schema.get_property(prop).higher_is_better)
    y = rows["yi"].to_numpy(dtype=float)
    vi = pd.to_numeric(rows["vi"], errors="coerce").to_numpy(dtype=float)
    known = np.isfinite(vi) & (vi > 0)
    fill = float(np.median(vi[known])) if known.any() else 1e-8
    vi = np.where(known, vi, fill)
    with np.errstate(divide="ignore", invalid="ignore"):
        X, _ = moderator_matrix(rows, list(moderators))
    src = rows["study"].astype(str).to_numpy()
    covered, widths, per, unpred = [], [], {}, 0
    for s in sorted(set(src)):
        te, tr = src == s, src != s
        Xtr, Xte = X[tr], X[te]
        seen = np.any(Xtr != 0, axis=0) | ~np.all((X == 0) | (X == 1), axis=0)
        ok = ~np.any(Xte[:, ~seen] != 0, axis=1)  # held-out rows at a level no other source shows
        unpred += int((~ok).sum())
        cols, base = [], np.ones((int(tr.sum()), 1))
        for j in np.flatnonzero(seen):
            both = np.column_stack([base, Xtr[:, j]])
            if np.linalg.matrix_rank(both) == both.shape[1]:
                base, cols = both, [*cols, j]
        if tr.sum() < len(cols) + 3 or not ok.any():
            unpred += int(ok.sum())
            continue
        fit = rma.rma(y[tr], vi[tr], method="REML", mods=Xtr[:, cols] if cols else None)
        pr = rma.predict(fit, Xte[ok][:, cols] if cols else None).to_frame()
        lo, hi = pr["pi_low"].to_numpy(dtype=float), pr["pi_high"].to_numpy(dtype=float)
        lo, hi = np.broadcast_to(lo, (int(ok.sum()),)), np.broadcast_to(hi, (int(ok.sum()),))
        yt = y[te][ok]
        cov = (yt >= lo) & (yt <= hi)
        w = np.abs(np.asarray(pct_from_log(hi, hib)) - np.asarray(pct_from_log(lo, hib)))
        covered.extend(cov.tolist())
        widths.extend(w.tolist())
        per[s] = {"rows": int(te.sum()), "predicted": int(ok.sum()), "coverage": float(cov.mean())}
    n = len(covered)
    return json_safe({"method": "leave one source out, REML (rows independent)", "property": prop,
                      "sources": len(set(src)), "rows": len(rows), "predicted": n, "unpredictable": unpred,
                      "coverage": float(np.mean(covered)) if n else None,
                      "median_width_pp": float(np.median(widths)) if n else None, "per_source": per})


def calibration_line(c: Mapping) -> str:
    """One line saying how well the prediction intervals held on the pooled data.

    >>> calibration_line({"sources": 2, "rows": 10, "predicted": 10, "unpredictable": 0, "coverage": 0.9,
    ...                   "median_width_pp": 4.25})
    'calibration, one source left out at a time (2 sources, 10 rows): 95% PIs covered 90.0 %, median width 4.2 pp'
    """
    head = f"calibration, one source left out at a time ({plural(c['sources'], 'source')}, {c['rows']} rows)"
    if not c.get("predicted"):
        return f"{head}: not estimable (no held-out row could be predicted from the other sources)"
    tail = f"; {c['unpredictable']} held-out rows at a level no other source shows" if c.get("unpredictable") else ""
    return f"{head}: 95% PIs covered {100 * c['coverage']:.1f} %, median width {c['median_width_pp']:.1f} pp{tail}"


def default_moderators(at: Mapping[str, object]) -> tuple[str, ...]:
    """Moderators for the settings in ``at``: bits as log2, parameter counts as log10, the rest as given."""
    return tuple(DEFAULT_CODING.get(k, k) for k in at)


def design_grid(table: pd.DataFrame, moderators, column: str, values) -> np.ndarray:
    """Design rows with ``column`` set to each of ``values`` (other columns as the first row), coded as the data."""
    values = np.asarray(values, dtype=float)
    new = table.iloc[[0] * len(values)].copy()
    new[column] = values
    X, _ = moderator_matrix(pd.concat([table, new], ignore_index=True), list(moderators))
    return X[-len(values):]


def band(result, table: pd.DataFrame, moderators, *, column: str = "bits", grid=None, n: int = 60) -> dict:
    """The fitted effect along ``column`` (a grid of bit-widths), with its 95 % interval, in %.

    The fit's own ``predict_new`` is read on the grid (metafor's ``predict`` with
    ``newmods``; the Bayesian posterior of the regression line), so the band is
    the line the engine estimated, not a second fit.
    """
    rows = table[np.isfinite(pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float))]
    g = np.asarray(grid if grid is not None else np.geomspace(rows[column].min(), rows[column].max(), n), dtype=float)
    out = result.predict_new(design_grid(rows, moderators, column, g))
    hib = bool(schema.get_property(str(table["property"].iloc[0])).higher_is_better)
    return {f"grid_{column}": g.tolist(), "pct": np.asarray(pct_from_log(out["pred"], hib)).tolist(),
            "pct_ci_low": np.asarray(pct_from_log(out["ci_low"], hib)).tolist(),
            "pct_ci_high": np.asarray(pct_from_log(out["ci_high"], hib)).tolist(), "k": int(len(rows))}


def bits_regression(table: pd.DataFrame, spec: FitSpec, settings: RunSettings | None = None, *,
                    grid=None) -> dict:
    """A meta-regression of one property on ``log2(bits)``: the slope and the band along the bit-width.

    ``spec`` says the engine and the variance policy; its moderators are set to
    ``("bits",)``.  Returns ``estimable: False`` with the reason when fewer than
    three rows with a usable variance or two bit-widths remain.
    """
    from ..fitting import NotPooled, fit_or_reason

    sub = table[np.isfinite(pd.to_numeric(table["bits"], errors="coerce").to_numpy(dtype=float))]
    sub = sub.reset_index(drop=True)
    spec = spec.replace(moderators=("bits",))
    if sub.empty:
        return {"estimable": False, "k": 0, "reason": "no row gives a bit-width"}
    res = fit_or_reason(sub, spec, settings)
    if isinstance(res, NotPooled):
        return {"estimable": False, "k": 0, "reason": res.reason}
    d = res.to_dict()
    k = int(d.get("k") or 0)
    if k < 3:
        return {"estimable": False, "k": k, "reason": f"{plural(k, 'row')} with a usable variance; a slope needs "
                                                      "at least 3 rows and 2 bit-widths"}
    pooled = res.rows  # the rows the fit pooled (the road applied the variance policy)
    if pooled["bits"].nunique() < 2:
        why = f"{plural(k, 'row')} at one bit-width; a slope needs 2 bit-widths"
        return {"estimable": False, "k": k, "reason": why}
    slope = next(c for c in d.get("coefficients") or [] if c["name"] == "log2(bits)")
    lo, hi = slope["ci_low"], slope["ci_high"]
    est = slope.get("estimate", slope.get("mean"))
    out = {"estimable": True, "engine": res.engine, "k": k, "term": "log2(bits)", "slope": est,
           "slope_ci_low": lo, "slope_ci_high": hi, "slope_p": slope.get("p"), "tau2": d.get("tau2"),
           "notes": list(res.notes), "missing_vi": spec.policy}
    out.update(band(res, pooled, ("bits",), grid=grid))
    name = "REML" if res.engine == "frequentist" else "Bayes"
    out["label"] = f"{name}: slope {est:+.3f} [{lo:+.3f}, {hi:+.3f}] per doubling, k={k}"
    return out


def design_at(table: pd.DataFrame, moderators, at: Mapping[str, object]) -> np.ndarray:
    """The design row(s) of ``at`` with the same columns and codings as the fitted ``table``.

    The new row is appended to the table so that categorical levels and their
    reference are those of the data; a level the data do not have is an error
    (the model says nothing about it).
    """
    missing = [k for k in at if k not in table.columns]
    if missing:
        raise InputError(f"the data have no column {missing[0]!r} to predict at",
                         expected=", ".join(c for c in ("bits", "act_bits", "technique", "hardware", "task", "model")
                                            if c in table.columns))
    new = table.iloc[:1].copy()
    for k, v in at.items():
        if pd.api.types.is_numeric_dtype(table[k]):
            try:
                v = float(v)
            except (TypeError, ValueError):
                raise UsageError(f"{k} must be a number, got {v!r}") from None
            if not np.isfinite(v):
                raise UsageError(f"must be a finite number, got {v!r}", argument=k)
        elif not (table[k].astype(str) == str(v)).any():
            seen = ", ".join(sorted(table[k].dropna().astype(str).unique())[:12])
            raise InputError(f"{k} = {v!r} is not in the data, so the model says nothing about it",
                             expected=f"one of: {seen}")
        new[k] = v
    both = pd.concat([table, new], ignore_index=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        X, names = moderator_matrix(both, list(moderators))
    X0, _ = moderator_matrix(table, list(moderators))
    if X.shape[1] != X0.shape[1]:
        raise InputError("a setting to predict at adds a level the data do not have")
    bad = [n for n, x in zip(names, X[-1], strict=True) if not np.isfinite(x)]
    if bad:
        where = ", ".join(f"{k}={_show(v)}" for k, v in at.items())
        raise UsageError(f"the setting {where} gives no finite value of the moderator {bad[0]}",
                         expected="a value inside the moderator's domain (a positive value where it enters as a log)")
    return X[-1:]


def _show(v) -> str:
    return f"{v:g}" if isinstance(v, (int, float, np.number)) and not isinstance(v, bool) else str(v)


def extrapolations(table: pd.DataFrame, at: Mapping[str, object]) -> list[str]:
    """A caution for each numeric setting outside the range of the pooled rows' values.

    >>> t = pd.DataFrame({"bits": [2.0, 4.0, 8.0]})
    >>> extrapolations(t, {"bits": 1})
    ['bits 1 is outside the pooled range 2–8: an extrapolation']
    """
    out = []
    for k, v in at.items():
        if k not in table.columns or not pd.api.types.is_numeric_dtype(table[k]):
            continue
        seen = pd.to_numeric(table[k], errors="coerce").to_numpy(dtype=float)
        seen = seen[np.isfinite(seen)]
        try:
            x = float(v)
        except (TypeError, ValueError):
            continue
        if seen.size and not seen.min() <= x <= seen.max():
            out.append(f"{k} {x:g} is outside the pooled range {seen.min():g}–{seen.max():g}: an extrapolation")
    return out


def _check_scale(out: Mapping[str, float], at: Mapping[str, object]) -> None:
    """Refuse a prediction whose log ratio (or interval bound) is beyond the effect scale (|y| <= 50)."""
    bound = schema.MAX_ABS_LOG_EFFECT
    worst = max(("pred", "ci_low", "ci_high", "pi_low", "pi_high"),
                key=lambda k: abs(out[k]) if np.isfinite(out[k]) else np.inf)
    y = out[worst]
    if not (np.isfinite(y) and abs(y) <= bound):
        where = ", ".join(f"{k}={_show(v)}" for k, v in at.items())
        what = {"pred": "the expected effect", "ci": "its 95% interval", "pi": "the prediction interval"}[worst[:2]]
        raise InputError(f"at {where} {what} reaches a log ratio of {y:.4g}, beyond what the effect scale can hold "
                         f"(|log ratio| <= {bound:g}, a {np.exp(bound):.0e}-fold change)",
                         expected="a setting nearer the values of the pooled rows")


@dataclass
class PredictionResult:
    """The effect expected at one setting, from one engine.

    ``pct``/``pct_ci_*`` are the expected (average) effect and its interval;
    ``pct_pi_*`` the interval of the effect in one new study; ``label_code``
    and ``label_probability`` the SSM reading of the new study's effect
    (the probability is the engine's: ``None`` for the classical engine,
    whose label is that of the point prediction); ``cautions`` name the
    settings outside the range of the pooled rows (an extrapolation).
    """

    property: str
    engine: str
    at: dict
    moderators: tuple[str, ...]
    k: int
    pred: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float
    higher_is_better: bool
    thresholds: tuple[float, ...]
    label_code: str | None = None
    label_probability: float | None = None
    zone_probabilities: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    cautions: list[str] = field(default_factory=list)
    learned_from: dict = field(default_factory=dict)
    calibration: dict | None = None

    def _pct(self, v):
        return float(pct_from_log(v, self.higher_is_better))

    def to_dict(self) -> dict:
        return json_safe({
            "property": self.property, "engine": self.engine, "at": self.at, "moderators": list(self.moderators),
            "k": self.k, "pred": self.pred, "ci_low": self.ci_low, "ci_high": self.ci_high, "pi_low": self.pi_low,
            "pi_high": self.pi_high, "pct": self._pct(self.pred), "pct_ci_low": self._pct(self.ci_low),
            "pct_ci_high": self._pct(self.ci_high), "pct_pi_low": self._pct(self.pi_low),
            "pct_pi_high": self._pct(self.pi_high), "label_code": self.label_code,
            "label": scale.label_name(self.label_code) if self.label_code else "no label: the evidence does not decide",
            "label_probability": self.label_probability, "zone_probabilities": self.zone_probabilities,
            "notes": self.notes, "cautions": self.cautions, "learned_from": self.learned_from,
            "calibration": self.calibration,
            "calibration_line": calibration_line(self.calibration) if self.calibration else None,
        })


def predict(table: pd.DataFrame, spec: FitSpec, at: Mapping[str, object], settings: RunSettings | None = None, *,
            calibrate: bool = True):
    """Fit ``spec`` (a meta-regression) on ``table`` and read it at the setting ``at``.

    Parameters
    ----------
    table : DataFrame
        An effect table.
    spec : FitSpec
        Its ``moderators`` may be empty: they are then :func:`default_moderators` of ``at``.
    at : mapping
        Column -> value, e.g. ``{"bits": 4, "technique": "gptq"}``.
    settings : RunSettings, optional
    calibrate : bool
        Also measure the prediction intervals' leave-one-source-out coverage and
        width on the pooled rows (:func:`loso_calibration`).

    Returns
    -------
    PredictionResult
        With a caution for each numeric setting outside the pooled rows' range,
        the rows it learned from by source and its calibration.  Rows lacking a
        numeric setting are left out (counted in a note); a categorical one they
        do not say takes the level ``"unknown"`` (:func:`prepare_rows`).

    Raises
    ------
    InputError
        The prediction (or an interval bound) is beyond the effect scale:
        a log ratio above :data:`metaquant.evidence.schema.MAX_ABS_LOG_EFFECT` in size.
    UsageError
        A setting is not finite, or outside a moderator's domain (``bits=0``
        where bits enter as ``log2``).
    """
    from ..fitting import fit_table, property_rows

    if not at:
        raise UsageError("give at least one setting to predict at, e.g. bits=4")
    if not spec.moderators:
        spec = spec.replace(moderators=default_moderators(at))
    rows, mods, notes, cautions = prepare_rows(property_rows(table, spec.property), at, spec.moderators)
    if rows.empty:
        raise InputError(f"no row of {spec.property!r} gives every numeric setting asked for",
                         expected="fewer settings, or data that give them")
    if not mods:
        raise InputError(f"none of the settings asked for varies in the rows of {spec.property!r}, so the "
                         "data cannot tell them apart", expected="a setting the data vary, e.g. bits")
    spec = spec.replace(moderators=mods)
    res = fit_table(rows, spec, settings)
    pooled = res.rows  # the rows the fit pooled (the road applied the variance policy)
    used = {c for c in map(_column_of, mods) if c}
    x = design_at(pooled, spec.moderators, {k: v for k, v in at.items() if k in used})
    prop = schema.get_property(spec.property)
    out = {k: (float(v[0]) if k in ("pred", "ci_low", "ci_high", "pi_low", "pi_high") else v)
           for k, v in res.predict_new(x).items()}
    _check_scale(out, at)
    th = spec.cut_points()
    pr = PredictionResult(property=prop.name, engine=res.engine, at=dict(at), moderators=spec.moderators,
                          k=int(res.to_dict().get("k") or 0), higher_is_better=prop.higher_is_better, thresholds=th,
                          notes=notes + list(res.notes), cautions=cautions + extrapolations(pooled, at),
                          learned_from=learned_from(pooled),
                          calibration=loso_calibration(pooled, spec.moderators, prop.name) if calibrate else None,
                          **out)
    if pr.label_code is None and pr.label_probability is None and not pr.zone_probabilities:
        pr.label_code = scale.label_from_pct(pr._pct(pr.pred), th)
    return pr


__all__ = ["COVARIATES", "UNKNOWN", "PredictionResult", "band", "bits_regression", "calibration_line",
           "covariate_column", "default_moderators", "design_at", "design_grid", "extrapolations", "learned_from",
           "loso_calibration", "predict", "prepare_rows"]
