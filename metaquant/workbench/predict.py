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
            "notes": self.notes, "cautions": self.cautions,
        })


def predict(table: pd.DataFrame, spec: FitSpec, at: Mapping[str, object], settings: RunSettings | None = None):
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

    Returns
    -------
    PredictionResult
        With a caution for each numeric setting outside the pooled rows' range.

    Raises
    ------
    InputError
        The prediction (or an interval bound) is beyond the effect scale:
        a log ratio above :data:`metaquant.evidence.schema.MAX_ABS_LOG_EFFECT` in size.
    UsageError
        A setting is not finite, or outside a moderator's domain (``bits=0``
        where bits enter as ``log2``).
    """
    from ..fitting import fit_table

    if not at:
        raise UsageError("give at least one setting to predict at, e.g. bits=4")
    if not spec.moderators:
        spec = spec.replace(moderators=default_moderators(at))
    res = fit_table(table, spec, settings)
    pooled = res.rows  # the rows the fit pooled (the road applied the variance policy)
    x = design_at(pooled, spec.moderators, at)
    prop = schema.get_property(spec.property)
    out = {k: (float(v[0]) if k in ("pred", "ci_low", "ci_high", "pi_low", "pi_high") else v)
           for k, v in res.predict_new(x).items()}
    _check_scale(out, at)
    th = spec.cut_points()
    pr = PredictionResult(property=prop.name, engine=res.engine, at=dict(at), moderators=spec.moderators,
                          k=int(res.to_dict().get("k") or 0), higher_is_better=prop.higher_is_better, thresholds=th,
                          notes=list(res.notes), cautions=extrapolations(pooled, at), **out)
    if pr.label_code is None and pr.label_probability is None and not pr.zone_probabilities:
        pr.label_code = scale.label_from_pct(pr._pct(pr.pred), th)
    return pr


__all__ = ["PredictionResult", "band", "bits_regression", "default_moderators", "design_at", "design_grid",
           "extrapolations", "predict"]
