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


@dataclass(frozen=True)
class _Fold:
    """One left-out source: the other sources' rows to fit and the held-out rows to predict (a picklable task)."""

    key: tuple
    y: np.ndarray
    vi: np.ndarray
    X: np.ndarray
    Z: np.ndarray | None
    X_new: np.ndarray
    Z_new: np.ndarray | None
    method: str


def _fold_interval(fold: _Fold) -> tuple[np.ndarray, np.ndarray] | str:
    """The 95 % prediction interval at each held-out row: ``(low, high)``, or why the fit failed."""
    from ..classical import rma, rma_ls

    n = fold.X_new.shape[0]
    try:
        if fold.Z is not None:
            fit = rma_ls.rma_ls(fold.y, fold.vi, mods=fold.X if fold.X.shape[1] else None, scale=fold.Z,
                                method=fold.method)
            pr = rma_ls.predict_ls(fit, fold.X_new if fold.X.shape[1] else None, fold.Z_new)
        else:
            fit = rma.rma(fold.y, fold.vi, method=fold.method, mods=fold.X if fold.X.shape[1] else None)
            pr = rma.predict(fit, fold.X_new if fold.X.shape[1] else None).to_frame()
    except (ValueError, np.linalg.LinAlgError) as exc:
        return str(exc)
    lo, hi = pr["pi_low"].to_numpy(dtype=float), pr["pi_high"].to_numpy(dtype=float)
    return np.broadcast_to(lo, (n,)).copy(), np.broadcast_to(hi, (n,)).copy()


def _estimable_columns(M_tr: np.ndarray, M_all: np.ndarray) -> tuple[list[int], np.ndarray]:
    """Columns a fold's rows can estimate, and the mask of design rows whose levels the fold has seen."""
    seen = np.any(M_tr != 0, axis=0) | ~np.all((M_all == 0) | (M_all == 1), axis=0)
    cols, base = [], np.ones((M_tr.shape[0], 1))
    for j in np.flatnonzero(seen):
        both = np.column_stack([base, M_tr[:, j]])
        if np.linalg.matrix_rank(both) == both.shape[1]:
            base, cols = both, [*cols, j]
    return cols, seen


def at_setting(rows: pd.DataFrame, at: Mapping[str, object] | None) -> np.ndarray:
    """Rows at the asked setting: numeric settings equal to the asked values, categorical ones at the asked level.

    >>> t = pd.DataFrame({"bits": [4.0, 8.0, 4.0], "technique": ["gptq", "gptq", "awq"]})
    >>> at_setting(t, {"bits": 4, "technique": "gptq"}).tolist()
    [True, False, False]
    """
    hit = np.ones(len(rows), dtype=bool)
    for k, v in (at or {}).items():
        if k not in rows.columns:
            continue
        col = rows[k]
        if pd.api.types.is_numeric_dtype(col):
            try:
                hit &= np.isclose(pd.to_numeric(col, errors="coerce").to_numpy(dtype=float), float(v), rtol=1e-9,
                                  atol=0.0)
            except (TypeError, ValueError):
                hit &= False
        else:
            hit &= (col.astype(str) == str(v)).to_numpy()
    return hit


def _summary(covered: np.ndarray, widths: np.ndarray) -> tuple[float | None, float | None]:
    n = int(covered.size)
    return (float(np.mean(covered)) if n else None), (float(np.median(widths)) if n else None)


def calibration_model(scale_moderators=(), method: str = "REML") -> str:
    """The model a calibration measured, in words.

    >>> calibration_model(("bits", "act_bits"))
    'location-scale REML, log τ² ~ bits + act_bits'
    >>> calibration_model()
    'homoscedastic REML'
    """
    if scale_moderators:
        return f"location-scale {method.upper()}, log τ² ~ {' + '.join(scale_moderators)}"
    return f"homoscedastic {method.upper()}"


# Long on purpose: builds one task per source (the columns that source's absence leaves estimable, the held-out
# rows it can predict), runs them through run_tasks and sums them up overall and at the setting.
def loso_calibration(rows: pd.DataFrame, moderators, prop: str, *, scale_moderators=(), at=None,
                     method: str = "REML", jobs: int = 1, scheduler: str | None = None) -> dict:
    """Leave-one-source-out coverage and median width of the 95 % prediction interval.

    Each source (``study``) in turn is left out; a meta-regression on the same
    moderators is fitted to the others (rows independent) and its 95 % prediction
    interval is read at each held-out row's own covariates.  Without
    ``scale_moderators`` the fit is metafor's homoscedastic ``rma`` (one tau²);
    with them it is the location-scale model (:mod:`metaquant.classical.rma_ls`),
    whose interval uses the tau² at the held-out row's scale moderators.  The
    coverage is the share of held-out effects inside their interval, the width the
    median of the intervals' widths in percentage points of the % scale.  A row
    without a sampling variance takes the median of the known ones (a tiny one
    where none is known: heterogeneity then carries all spread).  A held-out row
    whose level the other sources never show cannot be predicted and is counted
    apart.  With ``at`` the same numbers are given for the held-out rows at that
    setting (:func:`at_setting`): the calibration of the interval a practitioner
    reads there.

    Parameters
    ----------
    rows : DataFrame
        The pooled rows (``study``, ``yi``, ``vi`` and the moderators' columns).
    moderators, scale_moderators : sequence of str
        Location and scale moderators, coded as :func:`metaquant.evidence.effects.moderator_matrix`.
    prop : str
    at : mapping, optional
        The asked setting (column -> value).
    method : {"REML", "ML"}
    jobs, scheduler
        The per-source fits run through :func:`metaquant.parallel.run_tasks` (same numbers either way).

    Returns
    -------
    dict
        ``model``, ``sources``, ``rows``, ``predicted``, ``unpredictable``, ``coverage``,
        ``median_width_pp``, ``per_source`` (coverage and rows by left-out source), ``failed`` (sources whose
        fit failed, with why) and, with ``at``, ``at`` with the same numbers for the rows at the setting.
    """
    from ..parallel import run_tasks

    method = str(method).upper()
    hib = bool(schema.get_property(prop).higher_is_better)
    y = rows["yi"].to_numpy(dtype=float)
    vi = pd.to_numeric(rows["vi"], errors="coerce").to_numpy(dtype=float)
    known = np.isfinite(vi) & (vi > 0)
    fill = float(np.median(vi[known])) if known.any() else 1e-8
    vi = np.where(known, vi, fill)
    with np.errstate(divide="ignore", invalid="ignore"):
        X, _ = moderator_matrix(rows, list(moderators))
        Z, _ = moderator_matrix(rows, list(scale_moderators)) if scale_moderators else (None, [])
    src = rows["study"].astype(str).to_numpy()
    here = at_setting(rows, at)
    folds, index, unpred = [], {}, np.zeros(len(rows), dtype=bool)
    for s in sorted(set(src)):
        te, tr = src == s, src != s
        cols, seen = _estimable_columns(X[tr], X)
        ok = ~np.any(X[te][:, ~seen] != 0, axis=1)  # held-out rows at a level no other source shows
        zcols = []
        if Z is not None:
            zcols, zseen = _estimable_columns(Z[tr], Z)
            ok &= ~np.any(Z[te][:, ~zseen] != 0, axis=1)
        idx = np.flatnonzero(te)
        if tr.sum() < len(cols) + len(zcols) + 3 or not ok.any():
            unpred[idx] = True
            continue
        unpred[idx[~ok]] = True
        scaled = Z is not None and bool(zcols)
        folds.append(_Fold(key=(s,), y=y[tr], vi=vi[tr], X=X[tr][:, cols], Z=Z[tr][:, zcols] if scaled else None,
                           X_new=X[idx[ok]][:, cols], Z_new=Z[idx[ok]][:, zcols] if scaled else None, method=method))
        index[s] = idx[ok]
    results = run_tasks(folds, jobs=jobs, scheduler=scheduler, fn=_fold_interval)
    covered = np.full(len(rows), np.nan)
    widths = np.full(len(rows), np.nan)
    per, failed = {}, {}
    for fold, got in zip(folds, results, strict=True):
        s = fold.key[0]
        idx = index[s]
        if isinstance(got, str):
            failed[s] = got
            unpred[idx] = True
            continue
        lo, hi = got
        covered[idx] = ((y[idx] >= lo) & (y[idx] <= hi)).astype(float)
        widths[idx] = np.abs(np.asarray(pct_from_log(hi, hib)) - np.asarray(pct_from_log(lo, hib)))
        per[s] = {"rows": int((src == s).sum()), "predicted": int(idx.size),
                  "coverage": float(np.mean(covered[idx]))}
    done = np.isfinite(covered)
    cov, width = _summary(covered[done], widths[done])
    out = {"method": f"leave one source out, {calibration_model(scale_moderators, method)} (rows independent)",
           "model": calibration_model(scale_moderators, method), "property": prop, "sources": len(set(src)),
           "rows": len(rows), "predicted": int(done.sum()), "unpredictable": int(unpred.sum()), "coverage": cov,
           "median_width_pp": width, "per_source": per, "failed": failed}
    if at:
        sel = done & here
        cov_at, width_at = _summary(covered[sel], widths[sel])
        out["at"] = {"setting": dict(at), "rows": int(here.sum()), "predicted": int(sel.sum()),
                     "unpredictable": int((here & unpred).sum()), "coverage": cov_at, "median_width_pp": width_at}
    return json_safe(out)


def calibration_line(c: Mapping) -> str:
    """One line saying how well the prediction intervals held on the pooled data, and for which model.

    >>> line = calibration_line({"sources": 2, "rows": 10, "predicted": 10, "unpredictable": 0, "coverage": 0.9,
    ...                          "median_width_pp": 4.25, "model": "homoscedastic REML"})
    >>> head, tail = line.split(": ")
    >>> head
    'calibration of homoscedastic REML, one source left out at a time (2 sources, 10 rows)'
    >>> tail
    '95% PIs covered 90.0 %, median width 4.2 pp'
    """
    model = f" of {c['model']}" if c.get("model") else ""
    head = f"calibration{model}, one source left out at a time ({plural(c['sources'], 'source')}, {c['rows']} rows)"
    if not c.get("predicted"):
        return f"{head}: not estimable (no held-out row could be predicted from the other sources)"
    tail = f"; {c['unpredictable']} held-out rows at a level no other source shows" if c.get("unpredictable") else ""
    return f"{head}: 95% PIs covered {100 * c['coverage']:.1f} %, median width {c['median_width_pp']:.1f} pp{tail}"


def calibration_at_line(c: Mapping) -> str | None:
    """The calibration on the held-out rows at the asked setting: the number to read for that setting.

    >>> calibration_at_line({"at": {"setting": {"bits": 8}, "rows": 4, "predicted": 4, "unpredictable": 0,
    ...                             "coverage": 0.75, "median_width_pp": 3.0}})
    'at bits=8: 4 held-out rows, 95% PIs covered 75.0 %, median width 3.0 pp'
    """
    a = c.get("at")
    if not a:
        return None
    where = ", ".join(f"{k}={_show(_num(v))}" for k, v in a["setting"].items())
    if not a["predicted"]:
        why = "no pooled row is at this setting" if not a["rows"] else \
            f"none of its {plural(a['rows'], 'row')} could be predicted from the other sources"
        return f"at {where}: calibration not estimable ({why})"
    tail = f" ({a['unpredictable']} more at a level no other source shows)" if a.get("unpredictable") else ""
    return (f"at {where}: {plural(a['predicted'], 'held-out row')}{tail}, 95% PIs covered "
            f"{100 * a['coverage']:.1f} %, median width {a['median_width_pp']:.1f} pp")


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
    spec = spec.replace(moderators=("bits",), scale_moderators=())
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
    #: The model the prediction came from in words (``location-scale REML, log τ² ~ log2(bits)``).
    model: str | None = None
    scale_moderators: tuple[str, ...] = ()

    def _pct(self, v):
        return float(pct_from_log(v, self.higher_is_better))

    def to_dict(self) -> dict:
        return json_safe({
            "property": self.property, "engine": self.engine, "at": self.at, "moderators": list(self.moderators),
            "model": self.model, "scale_moderators": list(self.scale_moderators), "k": self.k,
            "pred": self.pred, "ci_low": self.ci_low, "ci_high": self.ci_high, "pi_low": self.pi_low,
            "pi_high": self.pi_high, "pct": self._pct(self.pred), "pct_ci_low": self._pct(self.ci_low),
            "pct_ci_high": self._pct(self.ci_high), "pct_pi_low": self._pct(self.pi_low),
            "pct_pi_high": self._pct(self.pi_high), "label_code": self.label_code,
            "label": scale.label_name(self.label_code) if self.label_code else "no label: the evidence does not decide",
            "label_probability": self.label_probability, "zone_probabilities": self.zone_probabilities,
            "notes": self.notes, "cautions": self.cautions, "learned_from": self.learned_from,
            "calibration": self.calibration,
            "calibration_line": calibration_line(self.calibration) if self.calibration else None,
            "calibration_at_line": calibration_at_line(self.calibration) if self.calibration else None,
        })


def predict(table: pd.DataFrame, spec: FitSpec, at: Mapping[str, object], settings: RunSettings | None = None, *,
            calibrate: bool = True, homoscedastic: bool = False):
    """Fit ``spec`` (a meta-regression) on ``table`` and read it at the setting ``at``.

    Parameters
    ----------
    table : DataFrame
        An effect table.
    spec : FitSpec
        Its ``moderators`` may be empty: they are then :func:`default_moderators` of ``at``.  Its
        ``scale_moderators`` (REML/ML) make the between-study variance depend on them (a location-scale model);
        when REML or ML is asked without them, the scale moderators are the location ones
        (:data:`SCALE_BY_DEFAULT`), unless ``homoscedastic``.
    at : mapping
        Column -> value, e.g. ``{"bits": 4, "technique": "gptq"}``.
    settings : RunSettings, optional
        Its ``jobs`` and ``scheduler`` run the calibration's per-source fits.
    calibrate : bool
        Also measure the prediction intervals' leave-one-source-out coverage and
        width on the pooled rows, overall and at the setting (:func:`loso_calibration`), with the same model
        as the prediction (the Bayesian engines: homoscedastic REML, and the result says so).
    homoscedastic : bool
        REML/ML: one tau² for every row (no default scale moderators).

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
    from ..fitting import check, fit_table, property_rows

    if not at:
        raise UsageError("give at least one setting to predict at, e.g. bits=4")
    settings = settings or RunSettings()
    if homoscedastic and spec.scale_moderators:
        raise UsageError("give either scale moderators or homoscedastic, not both",
                         expected="--scale-moderator COL or --homoscedastic")
    check(spec)  # a usage error (scale moderators with a method that cannot fit them) before any work
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
    rows, spec, scale_notes = _scale_of(rows, spec, at, homoscedastic)
    res = fit_table(rows, spec, settings)
    pooled = res.rows  # the rows the fit pooled (the road applied the variance policy)
    used = {c for c in map(_column_of, mods) if c}
    x = design_at(pooled, spec.moderators, {k: v for k, v in at.items() if k in used})
    z = None
    if spec.scale_moderators:
        zused = {c for c in map(_column_of, spec.scale_moderators) if c}
        z = design_at(pooled, spec.scale_moderators, {k: v for k, v in at.items() if k in zused})
    prop = schema.get_property(spec.property)
    got = res.predict_new(x, z) if z is not None else res.predict_new(x)
    out = {k: (float(v[0]) if k in ("pred", "ci_low", "ci_high", "pi_low", "pi_high") else v) for k, v in got.items()}
    _check_scale(out, at)
    th = spec.cut_points()
    calibration = None
    if calibrate:
        method = spec.method.upper() if spec.engine == "frequentist" and spec.method in ("reml", "ml") else "REML"
        calibration = loso_calibration(pooled, spec.moderators, prop.name, scale_moderators=spec.scale_moderators,
                                       at=at, method=method, jobs=settings.jobs, scheduler=settings.scheduler)
    model = res.describe() if hasattr(res, "describe") else None
    pr = PredictionResult(property=prop.name, engine=res.engine, at=dict(at), moderators=spec.moderators,
                          k=int(res.to_dict().get("k") or 0), higher_is_better=prop.higher_is_better, thresholds=th,
                          notes=notes + scale_notes + list(res.notes),
                          cautions=cautions + extrapolations(pooled, at), learned_from=learned_from(pooled),
                          calibration=calibration, model=model, scale_moderators=spec.scale_moderators, **out)
    if pr.label_code is None and pr.label_probability is None and not pr.zone_probabilities:
        pr.label_code = scale.label_from_pct(pr._pct(pr.pred), th)
    return pr


#: Whether ``predict`` with REML or ML (and no scale moderators given) makes the between-study variance depend on
#: the settings it predicts at (a location-scale model; :func:`default_scale_moderators`).  Decided by the
#: leave-one-source-out calibration on the shipped data: ``python analyses/loso_coverage.py --predict``
#: (docs/results.md), where it brought coverage nearer 95 % and the intervals narrower.
SCALE_BY_DEFAULT = True
#: Bit-width columns whose heterogeneity the default scale model gives one level each (their values are few).
BIT_COLUMNS = ("bits", "act_bits", "kv_bits", "x_kv_bits")


def default_scale_moderators(rows: pd.DataFrame, moderators, at: Mapping[str, object]) -> tuple[str, ...]:
    """The scale moderators of the default location-scale model: the location ones, bit-widths as categories.

    A bit-width asked at a value the pooled rows have gets its own tau² per bit-width (``bits:cat``): the
    heterogeneity is not log-linear in the bit-width (on llmq accuracy its sd is 0.10 at 4-bit weights with
    16-bit activations and 1.3 with 4-bit activations).  A value the rows do not have keeps the location coding
    (log2), which can be read between and beyond the observed widths.

    >>> t = pd.DataFrame({"bits": [4.0, 8.0], "technique": ["a", "b"]})
    >>> default_scale_moderators(t, ("bits", "technique"), {"bits": 4})
    ('bits:cat', 'technique')
    >>> default_scale_moderators(t, ("bits",), {"bits": 5})
    ('bits',)
    """
    out = []
    for m in moderators:
        col = _column_of(m)
        asked = at.get(col) if col in BIT_COLUMNS else None
        values = pd.to_numeric(rows[col], errors="coerce").to_numpy(dtype=float) if col in rows.columns else []
        try:
            here = asked is not None and bool(np.any(np.isclose(values, float(asked), rtol=1e-9, atol=0.0)))
        except (TypeError, ValueError):
            here = False
        out.append(f"{col}:cat" if here else m)
    return tuple(out)


def _scale_of(rows: pd.DataFrame, spec: FitSpec, at: Mapping[str, object], homoscedastic: bool):
    """The rows and spec with the scale moderators the prediction uses (given, the default, or none), and notes."""
    notes: list[str] = []
    if homoscedastic:
        return rows, spec.replace(scale_moderators=()), notes
    given = bool(spec.scale_moderators)
    default = not given and SCALE_BY_DEFAULT and spec.engine == "frequentist" and spec.method in ("reml", "ml") \
        and spec.model != "multilevel" and not spec.known_cov and spec.robust is None and spec.test == "z"
    if not given and not default:
        return rows, spec, notes
    wanted = spec.scale_moderators if given else default_scale_moderators(rows, spec.moderators, at)
    rows, zmods, znotes, _ = prepare_rows(rows, {}, wanted)
    notes += [f"scale: {n}" for n in znotes]
    if default and zmods:
        notes.append(f"the between-study variance depends on {', '.join(zmods)} (location-scale {spec.method.upper()}, "
                     "the default of predict with REML/ML: on the shipped data its prediction intervals covered "
                     "nearer 95 % and were narrower when one source was left out; --homoscedastic for one tau²)")
    return rows, spec.replace(scale_moderators=zmods), notes


__all__ = ["BIT_COLUMNS", "COVARIATES", "SCALE_BY_DEFAULT", "UNKNOWN", "PredictionResult", "at_setting", "band",
           "bits_regression", "calibration_at_line", "calibration_line", "calibration_model", "covariate_column",
           "default_moderators", "default_scale_moderators", "design_at", "design_grid", "extrapolations",
           "learned_from", "loso_calibration", "predict", "prepare_rows"]
