r"""Small-study effects and publication bias, numerically matched to R's ``metafor`` 3.8.

Each function takes effect sizes ``yi`` and sampling variances ``vi`` (and, where a
method needs them, sample sizes ``ni``) and returns a small dataclass with
``to_dict()`` (JSON-safe) and ``to_frame()`` (tidy, :data:`metaquant.results.FRAME_COLUMNS`
first), plus ``assumptions`` and ``notes`` in words:

* :func:`regtest` -- Egger's regression test and its variants (metafor's ``regtest``),
* :func:`ranktest` -- Begg & Mazumdar's rank correlation test (``ranktest``),
* :func:`fsn` -- fail-safe N of Rosenthal, Orwin and Rosenberg (``fsn``),
* :func:`trimfill` -- Duval & Tweedie's trim and fill, estimators L0 and R0 (``trimfill``),
* :func:`pet_peese` -- PET, PEESE and the conditional PET-PEESE estimate (Stanley &
  Doucouliagos 2014; ``regtest`` with predictors ``sei`` and ``vi``),
* :func:`selmodel` -- step-function (Vevea & Hedges 1995) and beta (Citkowicz & Vevea 2017)
  selection models by maximum likelihood with their likelihood-ratio test (``selmodel``).

:func:`bias_input` turns one property's effect table into these inputs (rows without a
known sampling variance are dropped, with a note).  Formulas and references are in
``docs/methods/bias.md``.  Fits go through :func:`metaquant.classical.rma.rma`; nothing here
draws.
"""

from __future__ import annotations

import builtins
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from ..errors import InputError
from ..evidence.nesting import nesting
from ..outputs import json_safe
from ..results import tidy_frame
from .rma import rma

__all__ = [
    "ASSUMPTIONS",
    "BiasInput",
    "BiasReport",
    "FsnResult",
    "PetPeeseResult",
    "RanktestResult",
    "RegtestResult",
    "SelmodelResult",
    "TrimfillResult",
    "aggregate",
    "analyze",
    "bias_input",
    "centre",
    "effect_spread",
    "identification",
    "fsn",
    "pet_peese",
    "ranktest",
    "regtest",
    "selmodel",
    "selmodel_loglik",
    "trimfill",
]

ENGINE = "frequentist"
#: Below this many studies every note says that the tests have little power.
FEW_STUDIES = 10
#: A step-function interval with fewer observed p-values than this is flagged.
MIN_PER_INTERVAL = 4

#: What each method assumes, in words (printed by ``metaquant bias``).
ASSUMPTIONS = {
    "regtest": (
        "Regression test: reads a relation between effect size and precision (funnel asymmetry) as a "
        "small-study effect. Publication bias is one cause; heterogeneity that goes with study size, "
        "chance and artefacts of the effect measure are others. A non-significant test is not evidence "
        "of no bias."
    ),
    "ranktest": (
        "Rank correlation test: Kendall's tau between standardized effects and variances; it makes no "
        "distributional assumption but has less power than the regression test."
    ),
    "fsn": (
        "Fail-safe N: how many unseen studies averaging a null effect (Rosenthal, Rosenberg) or the "
        "target effect (Orwin) would overturn the result. It assumes the missing studies average zero, "
        "ignores heterogeneity and does not estimate bias; a large N is no proof of robustness."
    ),
    "trimfill": (
        "Trim and fill: assumes that funnel asymmetry comes from the suppression of the most extreme "
        "results on one side and that the complete funnel is symmetric. Under heterogeneity it can fill "
        "studies that never existed; the filled estimate is a sensitivity analysis, not a corrected effect."
    ),
    "pet_peese": (
        "PET-PEESE: extrapolates the effect to a study of infinite precision, linearly in the standard "
        "error (PET) or in the variance (PEESE). It assumes that small-study effects are the only reason "
        "effect and precision are related; PET is biased towards zero when there is a genuine effect, "
        "hence the conditional rule."
    ),
    "selmodel": (
        "Selection model: the chance that a result is seen depends only on its one-sided p-value "
        "(a step function, constant within p-value intervals, or a beta-shaped weight), and effects are "
        "normal given the model. It needs enough studies in every p-value interval; with few studies the "
        "weights are poorly determined and the likelihood-ratio test has little power."
    ),
}

_CLUSTER_NOTE = (
    "all {k} rows come from one study: as in the pooled fit, these methods treat its comparisons as independent "
    "studies, so their p-values are too small if the comparisons share more than the study"
)


_NESTED_NOTE = (
    "rows are nested in studies ({n} studies, {k} rows): the centre, Egger's test and PET-PEESE use the multilevel "
    "model (random = ~ 1 | study/comparison); the rank test, fail-safe N, trim and fill and the selection models "
    "assume independent studies, so they run on one row per study (each study's inverse-variance mean, its "
    "variance including the within-study variance {s2} of the multilevel model)"
)


def _few_note(k: int) -> str | None:
    if k < FEW_STUDIES:
        return f"only {k} studies: the tests have little power and the adjusted estimates are unstable"
    return None


# ----------------------------------------------------------------------------------------------
# identification: when a bias-adjusted estimate is a number the data determine
# ----------------------------------------------------------------------------------------------

#: An adjusted estimate further than this many spreads outside the observed effects is not identified.
FAR_SPREADS = 1.0


def effect_spread(yi, vi) -> float:
    r"""The spread of the observed effects that "far" is measured in.

    The range of the effects, :math:`\max y_i - \min y_i`, or, when the effects nearly agree,
    :math:`1.96` times the median standard error :math:`\sqrt{v_i}` (the width within which
    sampling error alone scatters them), whichever is larger.
    """
    yi = np.asarray(yi, dtype=float).reshape(-1)
    sei = np.sqrt(np.asarray(vi, dtype=float).reshape(-1))
    return float(max(np.ptp(yi) if yi.size else 0.0, 1.959964 * np.median(sei) if sei.size else 0.0))


def _g(x: float) -> str:
    return f"{x:.4g}"


def identification(
    estimate,
    yi,
    vi,
    *,
    se=None,
    failed: str | None = None,
    weights=None,
    weight_bounds: tuple[float, float] | None = None,
    ptable: list[dict] | None = None,
    min_per_interval: int = MIN_PER_INTERVAL,
) -> tuple[bool, str | None]:
    r"""Whether a bias-adjusted estimate is identified by the data: the one rule of every adjusted estimate.

    An estimate is **not identified** when any of these holds (each gives a reason in words):

    * the fit failed: ``failed`` (an optimizer that stopped short, a Hessian that is not positive
      definite) or the estimate or its standard error is not a finite number (a flat likelihood);
    * a selection weight lies at a bound of its range (``weight_bounds``, e.g. 0 and 100 as metafor):
      the likelihood keeps rising towards the bound, so the maximum is not a point estimate;
    * a step-function interval holds fewer than ``min_per_interval`` (4) observed p-values: its weight
      is determined by at most three studies (metafor stops only at an empty interval);
    * the estimate lies **far** outside the observed effects: beyond
      :math:`[\min y_i - s, \max y_i + s]` with :math:`s` = :data:`FAR_SPREADS` times
      :func:`effect_spread` (the range of the effects, at least 1.96 median standard errors).
      An extrapolation to a study of infinite precision may leave the observed range, but not by
      more than the range itself: further out it is read off a line the data do not support.

    Returns
    -------
    (identified, reason)
        ``reason`` is ``None`` when identified, else the reasons joined by "; ".
    """
    reasons = []
    if failed:
        reasons.append(failed)
    est = math.nan if estimate is None else float(estimate)
    if not math.isfinite(est):
        reasons.append("the fit gave no finite estimate")
    if se is not None and not (math.isfinite(float(se)) and float(se) > 0):
        reasons.append("no standard error (a flat likelihood)")
    if weights is not None and weight_bounds is not None:
        lo, hi = weight_bounds
        tol = np.finfo(float).eps ** 0.25
        at = [float(w) for w in weights if w <= lo + tol or w >= hi - 100 * tol]
        if at:
            reasons.append(f"selection weight(s) {', '.join(_g(w) for w in at)} at the bound of ({lo:g}, {hi:g})")
    if ptable:
        thin = [f"{r['interval']}: {r['k']}" for r in ptable if r["k"] < min_per_interval]
        if thin:
            reasons.append(f"fewer than {min_per_interval} p-values in the interval(s) {', '.join(thin)}")
    yi = np.asarray(yi, dtype=float).reshape(-1)
    if math.isfinite(est) and yi.size:
        s = FAR_SPREADS * effect_spread(yi, vi)
        lo, hi = float(yi.min()) - s, float(yi.max()) + s
        if not lo <= est <= hi:
            reasons.append(f"the estimate {_g(est)} lies far outside the observed effects "
                           f"[{_g(yi.min())}, {_g(yi.max())}] (allowed: {_g(lo)} to {_g(hi)})")
    return (not reasons, "; ".join(reasons) or None)


# ----------------------------------------------------------------------------------------------
# input
# ----------------------------------------------------------------------------------------------


@dataclass
class BiasInput:
    """One property's effects as the bias methods see them."""

    yi: np.ndarray
    vi: np.ndarray
    ni: np.ndarray | None
    study: np.ndarray
    property: str | None = None
    notes: list[str] = field(default_factory=list)
    comparison: np.ndarray | None = None
    higher_is_better: bool | None = None

    @builtins.property
    def k(self) -> int:
        return int(self.yi.size)

    @builtins.property
    def n_studies(self) -> int:
        return int(pd.Series(self.study).nunique())

    @builtins.property
    def nested(self) -> bool:
        """Rows nested in studies (:func:`metaquant.evidence.nesting.nesting`: some study gives several rows)."""
        return nesting(self.study).nested

    @builtins.property
    def multilevel(self) -> bool:
        """The multilevel forms are fitted: rows nested in at least two studies.

        With one study the multilevel model's study level is a single group whose variance is fixed at 0 (as
        metafor does), so it *is* the random-effects model ``rma`` over the comparisons: the bias methods fit
        that directly, with the same numbers as the multilevel fit.
        """
        return self.nested and self.n_studies > 1


def bias_input(table: pd.DataFrame) -> BiasInput:
    """The inputs of the bias methods from one property's effect table.

    Rows whose sampling variance is unknown (``vi_known`` False) are dropped with a note;
    ``ni`` is the table's ``n_units`` when every kept row has one.

    Raises
    ------
    InputError
        When no row has a known sampling variance.
    """
    prop = str(table["property"].iloc[0]) if len(table) else None
    known = table["vi_known"].astype(bool).to_numpy()
    notes = []
    if (~known).any():
        studies = ", ".join(sorted(table.loc[~known, "study"].astype(str).unique()))
        notes.append(f"dropped {int((~known).sum())} rows without a sampling variance (studies {studies})")
    kept = table[known].reset_index(drop=True)
    if kept.empty:
        raise InputError(
            f"no row of {prop!r} has a known sampling variance; the bias methods need one",
            expected="data with standard errors, SDs or variances",
        )
    ni = pd.to_numeric(kept.get("n_units", pd.Series(np.nan, index=kept.index)), errors="coerce").to_numpy(float)
    out = BiasInput(
        yi=kept["yi"].to_numpy(float),
        vi=kept["vi"].to_numpy(float),
        ni=ni if np.isfinite(ni).all() else None,
        study=kept["study"].astype(str).to_numpy(),
        property=prop,
        notes=notes,
        comparison=kept["comparison"].astype(str).to_numpy() if "comparison" in kept else None,
        higher_is_better=bool(kept["higher_is_better"].iloc[0]) if "higher_is_better" in kept else None,
    )
    if out.n_studies == 1 and out.k > 1:
        out.notes.append(_CLUSTER_NOTE.format(n=out.n_studies, k=out.k))
    return out


def aggregate(yi, vi, study, *, sigma2_within: float = 0.0):
    r"""One row per study, as metafor's ``aggregate(x, cluster = study, V = diag(vi + sigma2_within))``.

    Each study's rows are pooled by inverse-variance weights :math:`w_i = 1/(v_i + \sigma^2_w)`:
    :math:`\bar y = \sum w_i y_i/\sum w_i`, :math:`\bar v = 1/\sum w_i`.  With
    ``sigma2_within`` = 0 this is ``aggregate(x, cluster = study, struct = "CS", rho = 0)`` (independent
    sampling errors); with the multilevel model's within-study variance it carries the spread of a
    study's comparisons into the variance of its mean.  Studies come in the order of their first row.

    Returns
    -------
    (yi, vi, study) : ndarray, ndarray, ndarray
    """
    yi = np.asarray(yi, dtype=float).reshape(-1)
    vi = np.asarray(vi, dtype=float).reshape(-1)
    study = np.asarray([str(x) for x in study])
    if not (yi.size == vi.size == study.size):
        raise InputError("aggregate: yi, vi and study differ in length")
    w = 1.0 / (vi + float(sigma2_within))
    names = list(dict.fromkeys(study))
    ya = np.array([np.sum(w[study == s] * yi[study == s]) / np.sum(w[study == s]) for s in names])
    va = np.array([1.0 / np.sum(w[study == s]) for s in names])
    return ya, va, np.asarray(names)


def _check(yi, vi, *, k_min: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    yi = np.asarray(yi, dtype=float).reshape(-1)
    vi = np.asarray(vi, dtype=float).reshape(-1)
    if yi.size != vi.size:
        raise InputError(f"{what}: yi and vi differ in length ({yi.size} vs {vi.size})")
    if not (np.isfinite(yi).all() and np.isfinite(vi).all()):
        raise InputError(f"{what}: effect sizes and sampling variances must be finite", column="yi/vi")
    if (vi <= 0).any():
        raise InputError(f"{what}: sampling variances must be > 0", column="vi")
    if yi.size < k_min:
        raise InputError(f"{what} needs at least {k_min} studies (have {yi.size})")
    return yi, vi


def _frame(rows: list[dict], prop: str | None) -> pd.DataFrame:
    return tidy_frame(rows, prop=prop or "", engine=ENGINE)


def _rma(yi, vi, what: str, **kw):
    try:
        return rma(yi, vi, **kw)
    except ValueError as exc:
        raise InputError(f"{what}: {exc}") from None


def _levels(study, comparison, k: int) -> list[np.ndarray]:
    """The nested levels (study, comparison) of the multilevel forms, as the multilevel fit keeps them.

    A level with one group, or one that repeats the level above (one row per study), has no
    variance to estimate and is left out, as :func:`metaquant.classical.engine.multilevel_table` does.
    """
    if study is None:
        raise InputError("the multilevel form needs the study of every row")
    study = np.asarray([str(s) for s in study])
    comp = (np.asarray([f"row{i + 1}" for i in range(k)]) if comparison is None
            else np.asarray([f"{s}\x1f{c}" for s, c in zip(study, comparison, strict=True)]))
    if study.size != k or comp.size != k:
        raise InputError("the multilevel form needs one study and comparison per row")
    levels = []
    n_prev = None
    for lev in (study, comp):
        n = len(set(lev))
        if n > 1 and n != n_prev:
            levels.append(lev)
            n_prev = n
    if not levels:
        raise InputError("the multilevel form needs more than one study or comparison")
    return levels


def _rma_mv(yi, vi, study, comparison, what: str, **kw):
    from .rma_mv import rma_mv

    try:
        return rma_mv(yi, vi, random=_levels(study, comparison, yi.size), profile=False, **kw)
    except ValueError as exc:
        raise InputError(f"{what}: {exc}") from None


# ----------------------------------------------------------------------------------------------
# regression test (Egger) and PET / PEESE
# ----------------------------------------------------------------------------------------------

PREDICTORS = ("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")
_LIMIT_PREDICTORS = ("sei", "vi", "ninv", "sqrtninv")


@dataclass
class RegtestResult:
    """Regression test for funnel asymmetry (metafor's ``regtest``).

    ``stat``/``pval`` test the slope on the predictor (``stat`` is z for ``model="rma"``
    with ``test="z"``, t otherwise, with ``df`` degrees of freedom); ``limit_*`` is the
    intercept -- the effect expected in a study of infinite precision -- for the predictors
    that vanish there (``sei``, ``vi``, ``ninv``, ``sqrtninv``), else ``None``.
    """

    model: str
    predictor: str
    method: str | None
    test: str
    k: int
    stat: float
    pval: float
    df: int | None
    limit_estimate: float | None
    limit_se: float | None
    limit_pval: float | None
    limit_ci_low: float | None
    limit_ci_high: float | None
    slope: float
    slope_se: float
    tau2: float | None
    level: float
    property: str | None = None
    notes: list[str] = field(default_factory=list)
    identified: bool = True
    reason: str | None = None

    @builtins.property
    def assumptions(self) -> list[str]:
        return [ASSUMPTIONS["regtest"]]

    def to_dict(self) -> dict:
        d = {**self.__dict__, "test_name": "regtest", "assumptions": self.assumptions}
        if not self.identified:  # the fit's numbers stay on the object; what is reported has none
            d.update(limit_estimate=None, limit_se=None, limit_pval=None, limit_ci_low=None, limit_ci_high=None)
        return json_safe(d)

    def to_frame(self) -> pd.DataFrame:
        stat_name = "z" if self.model in ("rma", "rma.mv") and self.test == "z" else "t"
        rows = [
            {"term": f"slope ({self.predictor})", "estimate": self.slope, "se": self.slope_se,
             "stat": self.stat, "stat_name": stat_name, "pval": self.pval},
        ]
        if self.limit_estimate is not None and not self.identified:
            rows.append({"term": "limit estimate", "note": f"not identified here: {self.reason}"})
        elif self.limit_estimate is not None:
            rows.append(
                {"term": "limit estimate", "estimate": self.limit_estimate, "ci_low": self.limit_ci_low,
                 "ci_high": self.limit_ci_high, "se": self.limit_se, "pval": self.limit_pval}
            )
        return _frame(rows, self.property)


def _predictor(pred: str, vi: np.ndarray, ni) -> np.ndarray:
    if pred not in PREDICTORS:
        raise InputError(f"unknown predictor {pred!r}", expected=" | ".join(PREDICTORS))
    if pred == "sei":
        return np.sqrt(vi)
    if pred == "vi":
        return vi.copy()
    if ni is None:
        raise InputError(f"predictor {pred!r} needs sample sizes (ni), which these data do not have",
                         expected="--predictor sei or vi")
    ni = np.asarray(ni, dtype=float).reshape(-1)
    if ni.size != vi.size or not np.isfinite(ni).all() or (ni <= 0).any():
        raise InputError("sample sizes (ni) must be positive, finite and one per study", column="ni")
    return {"ni": ni, "ninv": 1 / ni, "sqrtni": np.sqrt(ni), "sqrtninv": 1 / np.sqrt(ni)}[pred]


def _wls(yi, vi, x, alpha: float):
    """Egger's weighted regression: R's ``lm(yi ~ x, weights = 1/vi)`` (multiplicative dispersion), t tests."""
    k = yi.size
    # weighted least squares (R's lm(yi ~ X - 1, weights = 1/vi)) via numpy's lstsq
    w = 1 / vi
    X = np.column_stack([np.ones(k), x])
    sw = np.sqrt(w)
    beta, *_ = np.linalg.lstsq(X * sw[:, None], yi * sw, rcond=None)
    resid = yi - X @ beta
    df = k - 2
    s2 = float(np.sum(w * resid**2) / df)
    cov = s2 * np.linalg.inv((X * w[:, None]).T @ X)
    se = np.sqrt(np.diag(cov))
    tvals = beta / se
    pvals = 2 * stats.t.sf(np.abs(tvals), df)
    crit = stats.t.isf(alpha / 2, df)
    out = dict(
        limit_estimate=float(beta[0]), limit_se=float(se[0]), limit_pval=float(pvals[0]),
        limit_ci_low=float(beta[0] - crit * se[0]), limit_ci_high=float(beta[0] + crit * se[0]),
        slope=float(beta[1]), slope_se=float(se[1]), tau2=None,
    )
    return float(tvals[1]), float(pvals[1]), df, out


def regtest(
    yi,
    vi,
    *,
    ni=None,
    model: str = "rma",
    predictor: str = "sei",
    method: str = "REML",
    test: str = "z",
    level: float = 95.0,
    prop: str | None = None,
    study=None,
    comparison=None,
) -> RegtestResult:
    r"""Egger's regression test for funnel asymmetry and its variants (metafor's ``regtest``).

    Fits :math:`y_i = \beta_0 + \beta_1 x_i + u_i + \varepsilon_i` where :math:`x_i` is the
    predictor (``sei`` :math:`=\sqrt{v_i}`, ``vi``, ``ni``, ``ninv`` :math:`=1/n_i`,
    ``sqrtni``, ``sqrtninv``) and tests :math:`H_0: \beta_1 = 0`.

    ``model="rma"`` fits a mixed-effects meta-regression (:func:`metaquant.classical.rma.rma`
    with ``method`` and ``test``); ``model="rma.mv"`` the multilevel model with the predictor as
    moderator (metafor's ``rma.mv(yi, vi, mods = ~ sqrt(vi), random = ~ 1 | study/comparison)``,
    the form of Egger's test recommended for dependent effects; ``study`` and ``comparison`` give
    the levels, ``method`` REML or ML, Wald z tests); ``model="lm"`` a weighted least-squares regression with
    weights :math:`1/v_i` and a multiplicative dispersion, tested with t on :math:`k-2`
    degrees of freedom (Egger et al. 1997 in its weighted form; Sterne & Egger 2005).

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and sampling variances.
    ni : array_like, optional
        Sample sizes, for the predictors ``ni``, ``ninv``, ``sqrtni``, ``sqrtninv``.
    model : {"rma", "rma.mv", "lm"}
    predictor : str, default "sei"
    method : str, default "REML"
        tau² estimator of the ``rma`` model.
    test : {"z", "knha"}
        Tests of the ``rma`` model.
    level : float, default 95
        Confidence level (%) of the limit estimate's interval.
    prop : str, optional
        Property name carried into the result.
    study, comparison : array_like, optional
        The levels of ``model="rma.mv"`` (comparison: one id per row when not given).

    Returns
    -------
    RegtestResult
        The limit estimate is judged by :func:`identification`; when it is not identified,
        ``to_dict()`` reports it as ``None`` with ``identified`` False and the ``reason``.
    """
    yi, vi = _check(yi, vi, k_min=3, what="the regression test")
    if model not in ("rma", "rma.mv", "lm"):
        raise InputError(f"unknown model {model!r}", expected="rma | rma.mv | lm")
    x = _predictor(predictor, vi, ni)
    k = yi.size
    # metafor refuses a predictor that lm() finds collinear with the intercept
    if np.ptp(x) <= 1e-7 * np.max(np.abs(x)):
        raise InputError(
            f"the predictor {predictor!r} is constant across studies; the regression test cannot be fitted"
        )
    alpha = 1 - level / 100 if level > 1 else 1 - level
    has_limit = predictor in _LIMIT_PREDICTORS
    if model == "rma":
        res = _rma(yi, vi, "the regression test", method=method, test=test, mods=x, mod_names=[predictor], level=level)
        c0, c1 = res.coefficients[0], res.coefficients[1]
        stat, pval = c1["stat"], c1["p"]
        df = res.df if test != "z" else None
        out = dict(
            limit_estimate=c0["estimate"], limit_se=c0["se"], limit_pval=c0["p"],
            limit_ci_low=c0["ci_low"], limit_ci_high=c0["ci_high"],
            slope=c1["estimate"], slope_se=c1["se"], tau2=res.tau2,
        )
        method_used = res.method
    elif model == "rma.mv":
        res = _rma_mv(yi, vi, study, comparison, "the multilevel regression test", method=method, mods=x,
                      mod_names=[predictor], level=level)
        c0, c1 = res.coefficients[0], res.coefficients[1]
        stat, pval, df = c1["stat"], c1["p"], None
        out = dict(
            limit_estimate=c0["estimate"], limit_se=c0["se"], limit_pval=c0["p"],
            limit_ci_low=c0["ci_low"], limit_ci_high=c0["ci_high"],
            slope=c1["estimate"], slope_se=c1["se"], tau2=float(np.sum(res.sigma2)),
        )
        method_used = res.method
        test = "z"
    else:
        stat, pval, df, out = _wls(yi, vi, x, alpha)
        method_used = None
    if not has_limit:
        out.update(limit_estimate=None, limit_se=None, limit_pval=None, limit_ci_low=None, limit_ci_high=None)
    notes = [n for n in (_few_note(k),) if n]
    ok, why = (True, None)
    if has_limit:
        ok, why = identification(out["limit_estimate"], yi, vi, se=out["limit_se"])
    return RegtestResult(
        model=model, predictor=predictor, method=method_used, test=test if model != "lm" else "t", k=k,
        stat=float(stat), pval=float(pval), df=df, level=level, property=prop, notes=notes, identified=ok,
        reason=why, **out,
    )


@dataclass
class PetPeeseResult:
    """PET, PEESE and the conditional PET-PEESE estimate (Stanley & Doucouliagos 2014)."""

    pet: RegtestResult
    peese: RegtestResult
    chosen: str
    estimate: float
    ci_low: float
    ci_high: float
    alpha: float
    one_sided: bool
    rule: str
    property: str | None = None
    notes: list[str] = field(default_factory=list)
    identified: bool = True
    reason: str | None = None

    @builtins.property
    def assumptions(self) -> list[str]:
        return [ASSUMPTIONS["pet_peese"]]

    def to_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k not in ("pet", "peese")}
        if not self.identified:
            d.update(estimate=None, ci_low=None, ci_high=None)
        return json_safe({**d, "test_name": "pet_peese", "pet": self.pet.to_dict(), "peese": self.peese.to_dict(),
                          "assumptions": self.assumptions})

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for name, r in (("PET", self.pet), ("PEESE", self.peese)):
            if r.identified:
                rows.append({"term": name, "estimate": r.limit_estimate, "ci_low": r.limit_ci_low,
                             "ci_high": r.limit_ci_high, "se": r.limit_se, "pval": r.limit_pval})
            else:
                rows.append({"term": name, "note": f"not identified here: {r.reason}"})
        if self.identified:
            rows.append({"term": f"PET-PEESE ({self.chosen})", "estimate": self.estimate, "ci_low": self.ci_low,
                         "ci_high": self.ci_high})
        else:
            rows.append({"term": "PET-PEESE", "note": f"not identified here: {self.reason}"})
        return _frame(rows, self.property)


def pet_peese(
    yi,
    vi,
    *,
    model: str = "lm",
    method: str = "REML",
    alpha: float = 0.05,
    one_sided: bool = False,
    level: float = 95.0,
    prop: str | None = None,
    study=None,
    comparison=None,
) -> PetPeeseResult:
    r"""PET, PEESE and the conditional PET-PEESE estimate.

    PET is the intercept of the regression on the standard error
    (:func:`regtest` with ``predictor="sei"``), PEESE that of the regression on the
    variance (``predictor="vi"``); both are the effect extrapolated to a study of infinite
    precision.  The conditional rule of Stanley & Doucouliagos (2014): if PET rejects
    :math:`H_0: \beta_0 = 0` at level ``alpha``, there is a genuine effect and PEESE (less
    biased then) is reported; otherwise PET.  The test is two-sided by default; with
    ``one_sided=True`` it is one-sided in the direction of the PET estimate (one-tailed
    ``alpha``).  ``model="lm"`` (default) is the weighted least-squares meta-regression
    with multiplicative dispersion of the original papers; ``"rma"`` the mixed-effects
    version; ``"rma.mv"`` the multilevel one (``study``, ``comparison``).

    PET's test decides only when PET's limit is identified (:func:`identification`); otherwise the
    conditional estimate is not identified either, and so when the chosen limit is not.
    """
    kw = dict(model=model, method=method, level=level, prop=prop, study=study, comparison=comparison)
    pet = regtest(yi, vi, predictor="sei", **kw)
    peese = regtest(yi, vi, predictor="vi", **kw)
    p = pet.limit_pval / 2 if one_sided else pet.limit_pval
    use_peese = p < alpha
    chosen = peese if use_peese else pet
    sided = "one-sided" if one_sided else "two-sided"
    rule = (
        f"PEESE if PET's test of H0: limit = 0 rejects at alpha = {alpha:g} ({sided}), else PET "
        f"(PET p = {p:.4g}: {'PEESE' if use_peese else 'PET'} reported)"
    )
    if not pet.identified:
        ok, why = False, f"PET's limit, whose test chooses between PET and PEESE, is not identified ({pet.reason})"
        rule = f"PEESE if PET's test of H0: limit = 0 rejects at alpha = {alpha:g} ({sided}), else PET"
    elif not chosen.identified:
        ok, why = False, chosen.reason
    else:
        ok, why = True, None
    return PetPeeseResult(
        pet=pet, peese=peese, chosen="PEESE" if use_peese else "PET", estimate=chosen.limit_estimate,
        ci_low=chosen.limit_ci_low, ci_high=chosen.limit_ci_high, alpha=alpha, one_sided=one_sided, rule=rule,
        property=prop, notes=list(pet.notes), identified=ok, reason=why,
    )


# ----------------------------------------------------------------------------------------------
# rank correlation test
# ----------------------------------------------------------------------------------------------


@dataclass
class RanktestResult:
    """Begg & Mazumdar's rank correlation test (metafor's ``ranktest``)."""

    tau: float
    pval: float
    exact: bool
    k: int
    property: str | None = None
    notes: list[str] = field(default_factory=list)

    @builtins.property
    def assumptions(self) -> list[str]:
        return [ASSUMPTIONS["ranktest"]]

    def to_dict(self) -> dict:
        return json_safe({**self.__dict__, "test_name": "ranktest", "assumptions": self.assumptions})

    def to_frame(self) -> pd.DataFrame:
        return _frame([{"term": "Kendall tau", "estimate": self.tau, "pval": self.pval,
                        "method": "exact" if self.exact else "normal approximation"}], self.property)


def ranktest(yi, vi, *, prop: str | None = None) -> RanktestResult:
    r"""Begg & Mazumdar's (1994) rank correlation test for funnel asymmetry.

    Kendall's :math:`\tau` between the standardized effects
    :math:`(y_i - \hat\theta)/\sqrt{v_i - v_\theta}` (equal-effects :math:`\hat\theta`,
    :math:`v_\theta = 1/\sum_i v_i^{-1}`) and :math:`v_i`.  As R's ``cor.test`` (which
    metafor calls with ``exact = TRUE``), the p-value is exact when neither variable has
    ties and otherwise from the normal approximation with the tie-corrected variance
    (no continuity correction); scipy's ``kendalltau`` computes both.
    """
    yi, vi = _check(yi, vi, k_min=3, what="the rank correlation test")
    wi = 1 / vi
    theta = np.sum(wi * yi) / np.sum(wi)
    ystar = (yi - theta) / np.sqrt(vi - 1 / np.sum(wi))
    ties = len(np.unique(ystar)) < yi.size or len(np.unique(vi)) < vi.size
    res = stats.kendalltau(ystar, vi, method="asymptotic" if ties else "exact")
    notes = [n for n in (_few_note(yi.size),) if n]
    if ties:
        notes.append("ties in the data: normal approximation to the p-value")
    return RanktestResult(tau=float(res.statistic), pval=float(res.pvalue), exact=not ties, k=yi.size,
                          property=prop, notes=notes)


# ----------------------------------------------------------------------------------------------
# fail-safe N
# ----------------------------------------------------------------------------------------------

FSN_TYPES = ("Rosenthal", "Orwin", "Rosenberg")


@dataclass
class FsnResult:
    """Fail-safe N (metafor's ``fsn``)."""

    type: str
    fsnum: float
    alpha: float
    pval: float | None
    meanes: float | None
    target: float | None
    test: str | None
    k: int
    property: str | None = None
    notes: list[str] = field(default_factory=list)

    @builtins.property
    def assumptions(self) -> list[str]:
        return [ASSUMPTIONS["fsn"]]

    def to_dict(self) -> dict:
        return json_safe({**self.__dict__, "test_name": "fsn", "assumptions": self.assumptions})

    def to_frame(self) -> pd.DataFrame:
        term = f"fail-safe N ({self.type}{', ' + self.test if self.test else ''})"
        return _frame([{"term": term, "estimate": self.fsnum, "pval": self.pval, "mean_effect": self.meanes,
                        "target": self.target}], self.property)


def _round_fsn(x: float) -> float:
    # metafor: ceiling unless within sqrt(eps) of an integer
    if not math.isfinite(x):
        return x
    return float(math.ceil(x)) if abs(x - round(x)) >= np.finfo(float).eps ** 0.5 else float(round(x))


def _zeroin(f, a: float, b: float, fa: float, fb: float, tol: float, maxit: int = 1000) -> float:
    """R's ``zeroin`` (Brent 1973, as ``R_zeroin2`` in R's stats/src/zeroin.c), line by line.

    Written out because metafor's Fisher fail-safe N is the root of a function with jumps,
    whose value depends on the exact sequence of Brent steps; no library reproduces R's.
    """
    eps = np.finfo(float).eps
    c, fc = a, fa
    if fa == 0:
        return a
    if fb == 0:
        return b
    for _ in range(maxit + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * eps * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q, t1, t2 = fa / fc, fb / fc, fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


def _orwin(yi, vi, target, weighted: bool) -> tuple[float, float, float, str]:
    """Orwin's fail-safe N (unrounded), the mean effect, the target and why N is not finite (if so)."""
    k = yi.size
    meanes = float(np.sum(yi / vi) / np.sum(1 / vi)) if weighted else float(np.mean(yi))
    tgt = meanes / 2 if target is None else float(target)
    if meanes == 0:  # metafor: 0/0
        return math.nan, meanes, tgt, "undefined: the mean effect is 0, so there is no effect for unseen null " \
                                      "studies to reduce"
    if tgt == 0:
        return math.inf, meanes, tgt, "infinite: null studies bring the mean effect towards the target 0 but " \
                                      "never reach it"
    if np.sign(tgt) != np.sign(meanes):
        tgt = -tgt
    return max(0.0, k * (meanes - tgt) / tgt), meanes, tgt, ""


def fsn(
    yi,
    vi,
    *,
    type: str = "Rosenthal",  # noqa: A002  (metafor's argument name)
    alpha: float = 0.05,
    target: float | None = None,
    weighted: bool = False,
    test: str = "Stouffer",
    prop: str | None = None,
) -> FsnResult:
    r"""Fail-safe N: the number of unseen null studies that would overturn the result.

    * Rosenthal (1979), Stouffer's method: :math:`N = k\,(\bar z/z_{1-\alpha})^2 - k` with
      :math:`\bar z = |\sum_i z_i|/\sqrt{k}`, :math:`z_i = y_i/\sqrt{v_i}` (one-sided ``alpha``);
      Fisher's method (``test="Fisher"``): the root in :math:`n` of
      :math:`P(\chi^2_{2(k+n)} \ge -2\sum_i \log p_i + 2\lfloor n\rfloor\log 2) = \alpha`, found as
      metafor's ``uniroot`` finds it, rounded up.
    * Orwin (1983): :math:`N = k(\bar y - y_T)/y_T` for a target effect :math:`y_T` (default:
      half the mean effect; ``weighted=True`` uses the inverse-variance mean).
    * Rosenberg (2005): the number of studies of average weight and zero effect that make the
      equal-effects estimate non-significant (two-sided ``alpha``).

    Non-integer values are rounded up (metafor's rule).
    """
    if type not in FSN_TYPES:
        raise InputError(f"unknown fail-safe N type {type!r}", expected=" | ".join(FSN_TYPES))
    yi, vi = _check(yi, vi, k_min=1, what="the fail-safe N")
    k = yi.size
    pval = meanes = tgt = None
    used_test, why = None, ""
    if type == "Rosenthal":
        used_test = test
        zi = yi / np.sqrt(vi)
        if test == "Stouffer":
            zavg = abs(np.sum(zi) / math.sqrt(k))
            pval = float(stats.norm.sf(zavg))
            num = max(0.0, k * (zavg / stats.norm.isf(alpha)) ** 2 - k)
        elif test == "Fisher":
            logp = np.sum(stats.norm.logsf(np.abs(zi)))

            def excess(n: float) -> float:
                # metafor's .fsn.fisher: rep(0.5, n) adds floor(n) p-values of 0.5; df = 2(k + n)
                return float(stats.chi2.sf(-2 * logp + 2 * math.floor(n) * math.log(2), 2 * (k + n))) - alpha

            pval = float(stats.chi2.sf(-2 * logp, 2 * k))
            if pval >= alpha:
                num = 0.0
            else:
                # The function jumps down at every integer, so its roots depend on the search; to give
                # metafor's number, follow R's uniroot(interval = c(0, 1000), extendInt = "upX"):
                # widen the upper end by 10, 20, 40, ... until the sign changes, then Brent's method
                # as R's zeroin (scipy's brentq interpolates differently and lands on another root)
                upper, step = 1000.0, 10.0
                while excess(upper) < 0:
                    upper += step
                    step *= 2
                num = _zeroin(excess, 0.0, upper, excess(0.0), excess(upper), np.finfo(float).eps ** 0.25)
        else:
            raise InputError(f"unknown test {test!r}", expected="Stouffer | Fisher")
    elif type == "Orwin":
        num, meanes, tgt, why = _orwin(yi, vi, target, weighted)
    else:  # Rosenberg
        wi = 1 / vi
        meanes = float(np.sum(wi * yi) / np.sum(wi))
        zval = meanes / math.sqrt(1 / np.sum(wi))
        wp = (np.sum(wi * yi) / stats.norm.isf(alpha / 2)) ** 2 - np.sum(wi)
        pval = float(2 * stats.norm.sf(abs(zval)))
        num = max(0.0, k * wp / np.sum(wi))
    notes = [n for n in (_few_note(k),) if n]
    if not math.isfinite(num):
        notes.insert(0, f"fail-safe N is {why}")
    return FsnResult(type=type, fsnum=_round_fsn(float(num)), alpha=alpha, pval=pval, meanes=meanes, target=tgt,
                     test=used_test, k=k, property=prop, notes=notes)


# ----------------------------------------------------------------------------------------------
# trim and fill
# ----------------------------------------------------------------------------------------------


@dataclass
class TrimfillResult:
    """Trim and fill (metafor's ``trimfill``): the filled studies and the pooled estimate with them."""

    estimator: str
    side: str
    method: str
    k: int
    k0: int
    se_k0: float
    p_k0: float | None
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pval: float
    tau2: float
    estimate_unadjusted: float
    ci_low_unadjusted: float
    ci_high_unadjusted: float
    yi: np.ndarray
    vi: np.ndarray
    filled: np.ndarray
    property: str | None = None
    notes: list[str] = field(default_factory=list)
    identified: bool = True
    reason: str | None = None

    @builtins.property
    def assumptions(self) -> list[str]:
        return [ASSUMPTIONS["trimfill"]]

    def to_dict(self) -> dict:
        d = {**self.__dict__, "test_name": "trimfill", "assumptions": self.assumptions}
        if not self.identified:
            d.update(estimate=None, se=None, ci_low=None, ci_high=None, pval=None, tau2=None)
        return json_safe(d)

    def to_frame(self) -> pd.DataFrame:
        term = f"filled estimate ({self.k0} studies filled on the {self.side})"
        filled = ({"term": term, "estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high,
                   "se": self.se, "pval": self.pval} if self.identified
                  else {"term": term, "note": f"not identified here: {self.reason}"})
        return _frame(
            [
                {"term": "unadjusted estimate", "estimate": self.estimate_unadjusted,
                 "ci_low": self.ci_low_unadjusted, "ci_high": self.ci_high_unadjusted},
                filled,
                {"term": f"k0 ({self.estimator})", "estimate": float(self.k0), "se": self.se_k0, "pval": self.p_k0},
            ],
            self.property,
        )


# Long on purpose: Duval & Tweedie's iteration as metafor's trimfill.rma.uni writes it (L0/R0, side, filling),
# in one loop for traceability.
def trimfill(
    yi,
    vi,
    *,
    estimator: str = "L0",
    side: str | None = None,
    method: str = "REML",
    level: float = 95.0,
    maxiter: int = 100,
    prop: str | None = None,
) -> TrimfillResult:
    r"""Duval & Tweedie's (2000) trim and fill, as metafor's ``trimfill.rma.uni``.

    The side of the missing studies is, unless given, the side opposite the slope of
    :math:`y_i` on :math:`\sqrt{v_i}` (a positive slope means studies are missing on the
    left).  Iteratively: pool the :math:`k - k_0` least extreme studies (``method``),
    rank :math:`|y_i - \hat\theta|`, and estimate :math:`k_0` from the signed ranks:

    * L0: :math:`k_0 = (4 S_r - k(k+1))/(2k - 1)`, :math:`S_r` the sum of the positive ranks,
    * R0: :math:`k_0 = k - r^* - 1`, :math:`r^*` the largest rank of a negative deviation;

    until :math:`k_0` (rounded, at least 0) no longer changes.  The :math:`k_0` most extreme
    studies are then mirrored about :math:`\hat\theta` and all :math:`k + k_0` are pooled.
    """
    estimator = estimator.upper()
    if estimator not in ("L0", "R0"):
        raise InputError(f"unknown trim-and-fill estimator {estimator!r}", expected="L0 | R0")
    yi, vi = _check(yi, vi, k_min=2, what="trim and fill")
    fit0 = _rma(yi, vi, "trim and fill", method=method, level=level)
    if side is None or side == "auto":
        res = _rma(yi, vi, "trim and fill (choosing the side)", method=method, mods=np.sqrt(vi))
        side = "right" if res.coefficients[1]["estimate"] < 0 else "left"
    elif side not in ("left", "right"):
        raise InputError(f"unknown side {side!r}", expected="auto | left | right")
    y = -yi if side == "right" else yi.copy()
    ix = np.argsort(y, kind="stable")  # R's sort(): a stable radix sort
    y, v = y[ix], vi[ix]
    k = y.size
    k0, k0_sav, it = 0, -1, 0
    se_k0 = math.nan
    notes = []
    while k0 != k0_sav:
        k0_sav = k0
        it += 1
        if it > maxiter:
            raise InputError("the trim-and-fill algorithm did not converge", expected=f"more than {maxiter} iterations")
        beta = _rma(y[: k - k0], v[: k - k0], "trim and fill", method=method).estimate
        yc = y - beta
        r = stats.rankdata(np.abs(yc), method="ordinal")  # R's rank(ties.method = "first")
        rs = np.sign(yc) * r
        if estimator == "R0":
            neg = -rs[rs < 0]
            if neg.size == 0:  # metafor: max() of nothing; every study lies on one side
                notes.append("no study deviates to the side of the missing ones; R0 fills k - 1")
            k0f = k - (neg.max() if neg.size else 0) - 1
            se_k0 = math.sqrt(2 * max(0.0, k0f) + 2)
        else:
            sr = rs[rs > 0].sum()
            k0f = (4 * sr - k * (k + 1)) / (2 * k - 1)
            var_sr = (
                k * (k + 1) * (2 * k + 1) + 10 * k0f**3 + 27 * k0f**2 + 17 * k0f - 18 * k * k0f**2 - 18 * k * k0f
                + 6 * k**2 * k0f
            ) / 24
            se_k0 = 4 * math.sqrt(var_sr) / (2 * k - 1) if var_sr >= 0 else math.nan
        # R's round(): half to even, as Python's
        k0 = max(0, int(round(float(k0f))))
        se_k0 = max(0.0, se_k0) if math.isfinite(se_k0) else se_k0
        k0 = min(k0, k - 1)
    if k0 > 0:
        fill_y = 2 * beta - y[k - k0:]
        if side == "right":
            fill_y = -fill_y
        yf = np.concatenate([yi, fill_y])
        vf = np.concatenate([vi, v[k - k0:]])
        fit = _rma(yf, vf, "trim and fill", method=method, level=level)
    else:
        yf, vf, fit = yi.copy(), vi.copy(), fit0
    p_k0 = None
    if estimator == "R0":
        m = np.arange(-1, k0)
        p_k0 = float(1 - np.sum(np.array([math.comb(int(j) + 1, int(j) + 1) for j in m]) * 0.5 ** (m + 2)))
    few = _few_note(k)
    ok, why = identification(fit.estimate, yi, vi, se=fit.se)
    return TrimfillResult(
        estimator=estimator, side=side, method=fit.method, k=k, k0=k0, se_k0=float(se_k0), p_k0=p_k0,
        estimate=fit.estimate, se=fit.se, ci_low=fit.ci_low, ci_high=fit.ci_high, pval=fit.pval, tau2=fit.tau2,
        estimate_unadjusted=fit0.estimate, ci_low_unadjusted=fit0.ci_low, ci_high_unadjusted=fit0.ci_high,
        yi=yf, vi=vf, filled=np.r_[np.zeros(k, bool), np.ones(k0, bool)], property=prop,
        notes=notes + ([few] if few else []), identified=ok, reason=why,
    )


# ----------------------------------------------------------------------------------------------
# selection models
# ----------------------------------------------------------------------------------------------

ALTERNATIVES = ("greater", "less", "two.sided")
_DELTA_MAX = 100.0  # metafor's bounds of the selection parameters: (0, 100)
_PVAL_MIN_BETA = 1e-5  # metafor clamps p-values to [1e-5, 1 - 1e-5] in the beta model


@dataclass
class SelmodelResult:
    """A selection model fitted by maximum likelihood (metafor's ``selmodel``).

    ``fitted`` is False when the model could not be fitted (an empty p-value interval,
    too few studies); ``notes`` says why.  ``delta`` are the selection weights of the
    step intervals (the first fixed at 1) or the two beta parameters; ``LRT`` tests them
    against the unadjusted random-effects model (ML), with ``LRT_df`` degrees of freedom.
    """

    type: str
    alternative: str
    steps: list[float] | None
    k: int
    fitted: bool
    estimate: float | None = None
    se: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    pval_estimate: float | None = None
    tau2: float | None = None
    se_tau2: float | None = None
    delta: list[float] | None = None
    se_delta: list[float] | None = None
    ll: float | None = None
    ll0: float | None = None
    estimate_unadjusted: float | None = None
    tau2_unadjusted: float | None = None
    LRT: float | None = None
    LRT_df: int | None = None
    LRT_pval: float | None = None
    ptable: list[dict] | None = None
    converged: bool = True
    property: str | None = None
    notes: list[str] = field(default_factory=list)
    identified: bool = True
    reason: str | None = None

    @builtins.property
    def assumptions(self) -> list[str]:
        return [ASSUMPTIONS["selmodel"]]

    def to_dict(self) -> dict:
        d = {**self.__dict__, "test_name": "selmodel", "assumptions": self.assumptions}
        if not self.identified:  # no estimate, interval, weights or test from a model the data do not identify
            d.update({k: None for k in ("estimate", "se", "ci_low", "ci_high", "pval_estimate", "tau2", "se_tau2",
                                        "delta", "se_delta", "ll", "LRT", "LRT_pval")})
        return json_safe(d)

    def to_frame(self) -> pd.DataFrame:
        name = "step function" if self.type == "stepfun" else "beta"
        if not self.identified:
            return _frame([{"term": f"selection model ({name})", "note": f"not identified here: {self.reason}"}],
                          self.property)
        rows = [
            {"term": "unadjusted estimate (ML)", "estimate": self.estimate_unadjusted},
            {"term": f"adjusted estimate ({name})", "estimate": self.estimate, "ci_low": self.ci_low,
             "ci_high": self.ci_high, "se": self.se, "pval": self.pval_estimate},
            {"term": "tau2", "estimate": self.tau2, "se": self.se_tau2},
        ]
        labels = ([f"delta ({r['interval']})" for r in self.ptable] if self.type == "stepfun"
                  else ["delta 1", "delta 2"])
        rows += [{"term": lab, "estimate": d, "se": s} for lab, d, s in zip(labels, self.delta, self.se_delta,
                                                                           strict=True)]
        rows.append({"term": f"LRT (df = {self.LRT_df})", "estimate": self.LRT, "pval": self.LRT_pval})
        return _frame(rows, self.property)


def _pvals(y, sd, alternative):
    z = y / sd
    if alternative == "two.sided":
        return 2 * stats.norm.sf(np.abs(z))
    return stats.norm.sf(z) if alternative == "greater" else stats.norm.cdf(z)


def _tail(s: float, sei, mu, sigma, alternative, upper: bool):
    """P(p <= s) (``upper=False``) or P(p > s) (``upper=True``) for y ~ N(mu, sigma²)."""
    if s <= 0:
        return np.zeros_like(sei) if not upper else np.ones_like(sei)
    if s >= 1:
        return np.ones_like(sei) if not upper else np.zeros_like(sei)
    if alternative == "greater":
        c = (sei * stats.norm.isf(s) - mu) / sigma
        return stats.norm.cdf(c) if upper else stats.norm.sf(c)
    if alternative == "less":
        c = (sei * stats.norm.ppf(s) - mu) / sigma
        return stats.norm.sf(c) if upper else stats.norm.cdf(c)
    a = sei * stats.norm.isf(s / 2)
    lo, hi = (-a - mu) / sigma, (a - mu) / sigma
    if upper:
        return stats.norm.cdf(hi) - stats.norm.cdf(lo)
    return stats.norm.sf(hi) + stats.norm.cdf(lo)


def _ll_step(mu, tau2, delta, yi, vi, steps, pgrp, alternative):
    sei = np.sqrt(vi)
    sigma = np.sqrt(vi + tau2)
    n = len(steps)
    area = _tail(steps[0], sei, mu, sigma, alternative, upper=False)
    for j in range(1, n):
        if j < n - 1:
            pj = (_tail(steps[j], sei, mu, sigma, alternative, False)
                  - _tail(steps[j - 1], sei, mu, sigma, alternative, False))
        else:
            pj = _tail(steps[j - 1], sei, mu, sigma, alternative, upper=True)
        area = area + delta[j] * pj
    return float(np.sum(np.log(delta[pgrp]) + stats.norm.logpdf(yi, mu, sigma) - np.log(area)))


def _beta_w(p, d):
    p = np.clip(p, _PVAL_MIN_BETA, 1 - _PVAL_MIN_BETA)
    return p ** (d[0] - 1) * (1 - p) ** (d[1] - 1)


_GL_X, _GL_W = np.polynomial.legendre.leggauss(24)


def _gauss_legendre(f, a: float, b: float, panels: int = 32):
    """Composite 24-point Gauss-Legendre rule on ``panels`` equal panels of [a, b], vectorised.

    The integrands are smooth on each piece (the clamps are the piece ends) and, on the z
    scale, no narrower than a standard normal, so this is exact to rounding error at a
    fraction of an adaptive rule's cost.
    """
    edges = np.linspace(a, b, panels + 1)
    half = np.diff(edges) / 2
    mid = (edges[:-1] + edges[1:]) / 2
    z = (mid[:, None] + half[:, None] * _GL_X[None, :]).reshape(-1)
    wts = (half[:, None] * _GL_W[None, :]).reshape(-1)
    vals = f(z[:, None])  # (nodes, k)
    return wts @ vals


def _ll_beta(mu, tau2, delta, yi, vi, pvals, alternative):
    r"""Beta selection model: :math:`\sum_i \log w(p_i) + \log\phi_i(y_i) - \log A_i`.

    :math:`A_i = \int w(p(y))\,\phi(y; \mu, v_i + \tau^2)\,dy`, integrated on the scale of
    :math:`z = y/\sqrt{v_i}`, where the p-value is the same function for every study: the
    tails beyond the clamps at :math:`p = 10^{-5}` and :math:`1 - 10^{-5}` have a constant
    weight and are normal probabilities; the pieces between are one adaptive vector
    quadrature over all studies (composite Gauss-Legendre).
    """
    sei = np.sqrt(vi)
    sigma = np.sqrt(vi + tau2)
    zc = stats.norm.isf(_PVAL_MIN_BETA)  # |z| where p reaches 1e-5 (one-sided)
    w_small, w_large = _beta_w(_PVAL_MIN_BETA, delta), _beta_w(1 - _PVAL_MIN_BETA, delta)

    def cdf(z):
        return stats.norm.cdf((sei * z - mu) / sigma)

    def sf(z):
        return stats.norm.sf((sei * z - mu) / sigma)

    rs = sei / sigma
    c = sei / (sigma * math.sqrt(2 * math.pi))

    def f(z):
        if alternative == "two.sided":
            p = 2 * special.ndtr(-np.abs(z))
        else:
            p = special.ndtr(-z) if alternative == "greater" else special.ndtr(z)
        u = rs * z - mu / sigma
        return _beta_w(p, delta) * c * np.exp(-0.5 * u * u)

    if alternative == "greater":
        area = w_small * sf(zc) + w_large * cdf(-zc)
        pieces = [(-zc, zc)]
    elif alternative == "less":
        area = w_small * cdf(-zc) + w_large * sf(zc)
        pieces = [(-zc, zc)]
    else:
        z2 = stats.norm.isf(_PVAL_MIN_BETA / 2)
        z0 = stats.norm.isf((1 - _PVAL_MIN_BETA) / 2)
        area = w_small * (sf(z2) + cdf(-z2)) + w_large * (cdf(z0) - cdf(-z0))
        pieces = []

        # 1 - p grows like |z| near 0, so w(p) has an algebraic singularity at the inner clamp;
        # on the scale s = log|z| both halves are smooth
        def g(s):
            z = np.exp(s)
            return (f(z) + f(-z)) * z

        area = area + _gauss_legendre(g, math.log(z0), math.log(z2))
    for a, b in pieces:
        area = area + _gauss_legendre(f, a, b)
    return float(np.sum(np.log(_beta_w(pvals, delta)) + stats.norm.logpdf(yi, mu, sigma) - np.log(area)))


def _hessian(f, x: np.ndarray, rel: float = 1e-3) -> np.ndarray:
    """Hessian of ``f`` at ``x`` by central differences with one Richardson extrapolation.

    numDeriv's scheme (which metafor uses) in its simplest form: second differences with
    steps h and h/2 (h = ``rel`` max(|x|, 1e-2)), combined as (4 D(h/2) - D(h))/3, so the
    error is O(h^4).  scipy.differentiate.hessian gives the same numbers with ~100 times as
    many evaluations of a likelihood that integrates numerically.
    """
    n = x.size
    h0 = rel * np.maximum(np.abs(x), 1e-2)
    f0 = f(x)

    def second(h):
        H = np.empty((n, n))
        for i in range(n):
            for j in range(i, n):
                ei, ej = np.zeros(n), np.zeros(n)
                ei[i], ej[j] = h[i], h[j]
                if i == j:
                    H[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / h[i] ** 2
                else:
                    H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                        4 * h[i] * h[j])
        return H

    return (4 * second(h0 / 2) - second(h0)) / 3


def _intervals(steps: list[float]) -> list[str]:
    lefts = [0.0] + steps[:-1]
    return [f"{lo:g} < p <= {hi:g}" for lo, hi in zip(lefts, steps, strict=True)]


def selmodel_loglik(yi, vi, mu: float, tau2: float, delta, *, type: str = "stepfun",  # noqa: A002
                    steps=(0.025,), alternative: str = "greater") -> float:
    """The log-likelihood of a selection model at given parameters (see :func:`selmodel`).

    ``delta`` are all the weights (for the step function including the first, 1).
    """
    yi, vi = _check(yi, vi, k_min=1, what="the selection model")
    pvals = _pvals(yi, np.sqrt(vi), alternative)
    d = np.asarray(delta, dtype=float)
    if type == "stepfun":
        st = sorted({float(x) for x in np.atleast_1d(steps)} | {1.0})
        pgrp = np.searchsorted(np.asarray(st), pvals, side="left")
        return _ll_step(mu, tau2, d, yi, vi, st, pgrp, alternative)
    return _ll_beta(mu, tau2, d, yi, vi, np.clip(pvals, _PVAL_MIN_BETA, 1 - _PVAL_MIN_BETA), alternative)


# Long on purpose: follows metafor's selmodel.rma.uni step by step (weight function, starting values,
# optimisation with restarts, Hessian, LRT, studies per interval) so each number traces to metafor's source.
def selmodel(
    yi,
    vi,
    *,
    type: str = "stepfun",  # noqa: A002  (metafor's argument name)
    steps=(0.025,),
    alternative: str = "greater",
    prop: str | None = None,
) -> SelmodelResult:
    r"""Selection model of the random-effects model, by maximum likelihood (metafor's ``selmodel``).

    Study :math:`i` is observed with a probability proportional to :math:`w(p_i)`, a function
    of its one-sided p-value :math:`p_i = 1 - \Phi(y_i/\sqrt{v_i})` (``alternative="greater"``;
    ``"less"`` mirrors it, ``"two.sided"`` uses :math:`2(1 - \Phi(|y_i|/\sqrt{v_i}))`).  The
    log-likelihood is

    .. math:: \ell = \sum_i \log w(p_i) + \log\phi(y_i; \mu, v_i + \tau^2) - \log A_i,
       \qquad A_i = \int w(p(y))\,\phi(y; \mu, v_i + \tau^2)\,dy .

    * ``type="stepfun"`` (Vevea & Hedges 1995): :math:`w(p) = \delta_j` for
      :math:`s_{j-1} < p \le s_j` (``steps`` :math:`s_1 < \dots`, 1 appended), :math:`\delta_1 = 1`;
      :math:`A_i` is a sum of normal probabilities.
    * ``type="beta"`` (Citkowicz & Vevea 2017): :math:`w(p) = p^{\delta_1 - 1}(1-p)^{\delta_2 - 1}`,
      p-values clamped to :math:`[10^{-5}, 1 - 10^{-5}]`; :math:`A_i` by quadrature.

    Parameters are :math:`\mu`, :math:`\tau^2 = e^{\theta}` and
    :math:`\delta_j = l + (100 - l)/(1 + e^{-\eta_j})` (:math:`l = 10^{-5}` beta, 0 steps) as in metafor,
    started at the ML estimates of the random-effects model, maximized by BFGS
    with central-difference gradients; standard errors come from the inverse Hessian of
    :math:`-\ell` in :math:`(\mu, \tau^2, \delta)` (central differences with a Richardson step,
    as numDeriv).  The
    likelihood-ratio test compares :math:`\ell` with the ML random-effects model
    (:math:`\chi^2` with as many degrees of freedom as free :math:`\delta`).

    When a step interval after the first holds no observed p-value the model is not identified:
    the result has ``fitted=False`` and says so (metafor stops with an error); intervals with fewer than
    :data:`MIN_PER_INTERVAL` p-values are fitted, but the estimate is not identified (:func:`identification`,
    which also judges weights at their bounds, a failed optimizer or Hessian and an estimate far outside
    the observed effects); ``to_dict()`` then reports no estimate, weights or test, only ``reason``.
    """
    if type not in ("stepfun", "beta"):
        raise InputError(f"unknown selection model {type!r}", expected="stepfun | beta")
    if alternative not in ALTERNATIVES:
        raise InputError(f"unknown alternative {alternative!r}", expected=" | ".join(ALTERNATIVES))
    yi, vi = _check(yi, vi, k_min=2, what="the selection model")
    k = yi.size
    ml = _rma(yi, vi, "the selection model", method="ML")
    mu0, tau20 = ml.estimate, ml.tau2
    ll0 = float(np.sum(stats.norm.logpdf(yi, mu0, np.sqrt(vi + tau20))))
    pvals = _pvals(yi, np.sqrt(vi), alternative)
    notes = [n for n in (_few_note(k),) if n]
    ptable = None
    if type == "stepfun":
        st = sorted({float(s) for s in np.atleast_1d(steps)})
        if any(s < 0 or s > 1 for s in st):
            raise InputError("selection-model steps must lie between 0 and 1", expected="e.g. --steps 0.025,0.5")
        if st[-1] != 1:
            st.append(1.0)
        pgrp = np.searchsorted(np.asarray(st), pvals, side="left")  # first j with p <= steps[j]
        counts = np.bincount(pgrp, minlength=len(st))
        ptable = [{"interval": lab, "k": int(c)} for lab, c in zip(_intervals(st), counts, strict=True)]
        n_delta = len(st)
        n_free = n_delta - 1
    else:
        st = None
        pvals = np.clip(pvals, _PVAL_MIN_BETA, 1 - _PVAL_MIN_BETA)
        n_delta = n_free = 2
    base = dict(type=type, alternative=alternative, steps=st, k=k, ptable=ptable, property=prop, ll0=ll0,
                estimate_unadjusted=mu0, tau2_unadjusted=tau20)
    if ptable is not None:
        # metafor stops only for an empty interval whose weight is estimated: the first weight is
        # fixed at 1, so an empty first interval is allowed (the model is then fitted, and the
        # weights say how much less likely the observed intervals are than the empty one)
        empty = [r["interval"] for r in ptable[1:] if r["k"] == 0]
        if ptable[0]["k"] == 0:
            notes.append(f"no observed p-value in the interval {ptable[0]['interval']} (its weight is fixed at 1)")
        if empty:
            notes.insert(0, "no observed p-value in the interval(s) " + ", ".join(empty)
                         + ": the step-function model is not identified and was not fitted")
            return SelmodelResult(fitted=False, notes=notes, identified=False, reason=notes[0], **base)
        thin = [f"{r['interval']} ({r['k']})" for r in ptable if r["k"] < MIN_PER_INTERVAL]
        if thin:
            notes.insert(0, f"fewer than {MIN_PER_INTERVAL} studies in the interval(s) " + ", ".join(thin)
                         + ": the selection weights are poorly determined")
    dmin = _PVAL_MIN_BETA if type == "beta" else 0.0  # metafor's delta.min: 1e-5 (beta), 0 (steps)
    if k < 2 + n_free:
        notes.insert(0, f"{k} studies are too few to fit the selection model ({2 + n_free} parameters)")
        return SelmodelResult(fitted=False, notes=notes, identified=False, reason=notes[0], **base)

    def unpack(theta):
        mu, t2 = theta[0], math.exp(theta[1])
        t2 = 0.0 if t2 < 10 * np.finfo(float).eps else t2
        d = dmin + (_DELTA_MAX - dmin) / (1 + np.exp(-np.asarray(theta[2:])))
        if type == "stepfun":
            d = np.r_[1.0, d]
        return mu, t2, d

    def loglik(mu, t2, d):
        # trial values where a study could not be observed (a weight of 0, an area of 0) give a
        # log-likelihood of -inf, which the optimizer steps away from: numpy's warnings about them say nothing
        with np.errstate(divide="ignore", over="ignore", invalid="ignore", under="ignore"):
            if type == "stepfun":
                return _ll_step(mu, t2, d, yi, vi, st, pgrp, alternative)
            return _ll_beta(mu, t2, d, yi, vi, pvals, alternative)

    def negll(theta):
        mu, t2, d = unpack(theta)
        val = -loglik(mu, t2, d)
        return val if math.isfinite(val) else 1e300

    def grad(theta):  # central differences (the likelihood of the beta model is a quadrature)
        g = np.empty_like(theta)
        for j in range(theta.size):
            h = 1e-6 * max(1.0, abs(theta[j]))
            e = np.zeros_like(theta)
            e[j] = h
            g[j] = (negll(theta + e) - negll(theta - e)) / (2 * h)
        return g

    eta0 = math.log((1 - dmin) / (_DELTA_MAX - 1))  # delta = 1
    theta0 = np.r_[mu0, math.log(tau20 + 0.001), np.full(n_free, eta0)]
    def fit_from(theta_start):
        res = optimize.minimize(negll, theta_start, jac=grad, method="BFGS", options={"gtol": 1e-8, "maxiter": 2000})
        if not res.success and np.max(np.abs(res.jac)) > 1e-5:
            # BFGS stopped short of a stationary point (a flat or ridged likelihood): polish with
            # Nelder-Mead from there
            res2 = optimize.minimize(negll, res.x, method="Nelder-Mead",
                                     options={"xatol": 1e-9, "fatol": 1e-12, "maxfev": 4000})
            res = res2 if res2.fun <= res.fun else res
        return res

    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        opt = fit_from(theta0)
    if -opt.fun < ll0 - 1e-8:
        # the selection model contains the unadjusted one (all weights 1), so an optimum below it is
        # local; metafor stops there, we restart from the unadjusted estimates and keep the better
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            alt = fit_from(np.r_[mu0, math.log(max(tau20, 1e-8)), np.full(n_free, eta0)])
        if alt.fun < opt.fun:
            notes.append("metafor's start (tau² + 0.001) led to a local optimum below the unadjusted model; "
                         "refitted from the unadjusted estimates")
            opt = alt
    mu, t2, d = unpack(opt.x)
    ll = -float(opt.fun)
    converged = bool(np.isfinite(ll))
    dfree = d[1:] if type == "stepfun" else d
    tol = np.finfo(float).eps ** 0.25
    if np.any(dfree <= dmin + tol) or np.any(dfree >= _DELTA_MAX - 100 * tol):
        notes.append("a selection weight is (almost) at its bound (0 or 100): treat the results with caution")

    # standard errors: inverse Hessian of -ll in (mu, tau2, free deltas), untransformed (metafor's default)
    def negll_raw(x):
        x = np.asarray(x, dtype=float)
        flat = x.reshape(x.shape[0], -1)
        out = np.empty(flat.shape[1])
        for i in range(flat.shape[1]):
            mu_, t2_ = flat[0, i], max(flat[1, i], 0.0)
            dd = flat[2:, i]
            dd = np.r_[1.0, dd] if type == "stepfun" else dd
            out[i] = -loglik(mu_, t2_, dd) if np.all(dd > 0) else np.nan
        return out.reshape(x.shape[1:])

    x_hat = np.r_[mu, t2, dfree]
    hest = np.ones(x_hat.size, bool)
    if t2 <= 0:
        hest[1] = False  # tau² at its bound: no standard error
    se_mu = se_t2 = math.nan
    se_d = [math.nan] * n_delta
    try:
        sub = x_hat[hest]

        def f_sub(xs):
            full = np.broadcast_to(x_hat.reshape((-1,) + (1,) * (xs.ndim - 1)), (x_hat.size,) + xs.shape[1:]).copy()
            full[hest] = xs
            return negll_raw(full)

        H = _hessian(lambda xs: f_sub(xs[:, None])[0], sub)
        cov = np.linalg.inv(H)
        diag = np.full(x_hat.size, np.nan)
        diag[hest] = np.diag(cov)
        if np.all(diag[hest] > 0):
            se_all = np.sqrt(diag)
            se_mu, se_t2 = float(se_all[0]), float(se_all[1])
            se_d = ([math.nan] if type == "stepfun" else []) + list(se_all[2:])
        else:
            notes.append("the Hessian is not positive definite: no standard errors")
    except (np.linalg.LinAlgError, ValueError):
        notes.append("the Hessian could not be inverted: no standard errors")
    crit = stats.norm.isf(0.025)
    lrt = max(0.0, -2 * (ll0 - ll))
    stalled = not opt.success and np.max(np.abs(grad(opt.x))) > 1e-3
    failed = "; ".join(
        ([f"the optimizer stopped short of a maximum ({opt.message})"] if stalled or not converged else [])
        + [n.split(":")[0] for n in notes if n.startswith("the Hessian")])
    ok, why = identification(mu, yi, vi, se=se_mu, failed=failed or None, weights=dfree,
                             weight_bounds=(dmin, _DELTA_MAX), ptable=ptable)
    return SelmodelResult(
        fitted=True, estimate=float(mu), se=se_mu, ci_low=float(mu - crit * se_mu), ci_high=float(mu + crit * se_mu),
        pval_estimate=float(2 * stats.norm.sf(abs(mu / se_mu))) if se_mu > 0 else None,
        tau2=float(t2), se_tau2=se_t2, delta=[float(x) for x in d], se_delta=[float(x) for x in se_d], ll=ll,
        LRT=lrt, LRT_df=n_free, LRT_pval=float(stats.chi2.sf(lrt, n_free)), converged=converged, notes=notes,
        identified=ok, reason=why, **base,
    )


# ----------------------------------------------------------------------------------------------
# everything at once
# ----------------------------------------------------------------------------------------------


#: The keys of an estimate (and its interval) in the dicts of the results, given on the % scale beside the log scale.
_ESTIMATE_KEYS = ("estimate", "ci_low", "ci_high", "limit_estimate", "limit_ci_low", "limit_ci_high",
                  "estimate_unadjusted", "ci_low_unadjusted", "ci_high_unadjusted")


def _with_pct(d: dict, hib: bool | None) -> dict:
    """``d`` with ``pct_<key>`` (relative change in %, + = better) beside every estimate key, recursively."""
    if hib is None:
        return d
    from ..evidence.effects import pct_from_log

    out = dict(d)
    for key, v in d.items():
        if isinstance(v, dict):
            out[key] = _with_pct(v, hib)
        elif key in _ESTIMATE_KEYS and isinstance(v, float | int) and math.isfinite(v):
            out[f"pct_{key}"] = float(pct_from_log(float(v), hib))
    return out


@dataclass
class BiasReport:
    """Every bias method on one property (:func:`analyze`); a method that cannot run says why.

    ``centre`` is the pooled estimate of the model family the property's fit uses (multilevel
    where rows are nested in studies), the line the funnel is drawn around; ``dependence`` says
    how the methods treat rows of one study (``"multilevel"`` or ``"independent"``).
    """

    property: str | None
    k: int
    n_studies: int
    results: dict
    skipped: dict
    notes: list[str] = field(default_factory=list)
    centre: dict | None = None
    dependence: str = "independent"
    higher_is_better: bool | None = None

    def to_dict(self) -> dict:
        """JSON-ready; every estimate also as ``pct_*`` (relative change in %, + = better)."""
        hib = self.higher_is_better
        return json_safe({
            "property": self.property, "k": self.k, "n_studies": self.n_studies, "notes": list(self.notes),
            "dependence": self.dependence, "higher_is_better": hib,
            "centre": _with_pct(self.centre, hib) if self.centre else None,
            "results": {name: _with_pct(r.to_dict(), hib) for name, r in self.results.items()},
            "skipped": dict(self.skipped),
        })

    def to_frame(self) -> pd.DataFrame:
        frames = []
        for name, r in self.results.items():
            f = r.to_frame()
            f.insert(2, "analysis", name)
            frames.append(f)
        return pd.concat(frames, ignore_index=True) if frames else _frame([], self.property)


def centre(inp: BiasInput, method: str = "REML", *, level: float = 95.0) -> tuple[dict, object]:
    """The pooled estimate the funnel is drawn around, from the model family of the property's fit.

    Rows nested in two or more studies (:attr:`BiasInput.multilevel`) with REML or ML: the multilevel model
    ``rma.mv(yi, vi, random = ~ 1 | study/comparison)``; otherwise the random-effects model
    (``rma``, ``method``), which is what the multilevel fit reduces to when every row is its own
    study or all rows come from one study.

    Returns
    -------
    (dict, fit)
        ``model``, ``method``, ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``k``, and for the
        multilevel model ``sigma2`` (outermost level first); the fit object.
    """
    method = method.upper()
    if inp.multilevel and method in ("REML", "ML"):
        fit = _rma_mv(inp.yi, inp.vi, inp.study, inp.comparison, "the multilevel centre", method=method,
                      level=level)
        d = {"model": "multilevel (random = ~ 1 | study/comparison)", "sigma2": [float(x) for x in fit.sigma2]}
    else:
        fit = _rma(inp.yi, inp.vi, "the pooled estimate", method=method, level=level)
        d = {"model": "random-effects" if method not in ("FE", "EE", "CE") else "equal-effects",
             "tau2": float(fit.tau2)}
    d.update(method=fit.method, estimate=float(fit.estimate), se=float(fit.se), ci_low=float(fit.ci_low),
             ci_high=float(fit.ci_high), k=inp.k)
    return d, fit


def analyze(
    table: pd.DataFrame,
    *,
    method: str = "REML",
    estimator: str = "L0",
    side: str | None = None,
    steps=(0.025,),
    alternative: str = "greater",
    alpha: float = 0.05,
) -> BiasReport:
    """Run every method of this module on one property's effect table.

    ``method`` is the tau² estimator of the fits (regression test, trim and fill);
    selection models are fitted by ML, PET-PEESE by weighted least squares.  A method
    that cannot run on these data (too few studies, a constant predictor) appears in
    ``skipped`` with the reason.

    Where rows are nested in studies (and ``method`` is REML or ML) the centre, Egger's test and
    PET-PEESE take their multilevel form (``rma.mv`` with random = ~ 1 | study/comparison, the
    family of the property's fit), and the methods that assume independent studies (the rank
    test, fail-safe N, trim and fill, the selection models, the weighted regression) run on one
    row per study (:func:`aggregate` with the multilevel model's within-study variance); a note says so.
    """
    inp = bias_input(table)
    p = inp.property
    cen, fit = centre(inp, method)
    multi = cen["model"].startswith("multilevel")
    notes = list(inp.notes)
    if multi:
        s2w = float(fit.sigma2[-1]) if len(fit.sigma2) > 1 else 0.0
        yi, vi, _ = aggregate(inp.yi, inp.vi, inp.study, sigma2_within=s2w)
        notes.append(_NESTED_NOTE.format(n=inp.n_studies, k=inp.k, s2=f"{s2w:.3g}"))
        mv = dict(model="rma.mv", study=inp.study, comparison=inp.comparison)
    else:
        yi, vi = inp.yi, inp.vi
        mv = None
    calls = {
        "regtest": (lambda: regtest(inp.yi, inp.vi, method=method, prop=p, **mv)) if multi
        else (lambda: regtest(yi, vi, method=method, prop=p)),
        "regtest_lm": lambda: regtest(yi, vi, model="lm", prop=p),
        "ranktest": lambda: ranktest(yi, vi, prop=p),
        "fsn_rosenthal": lambda: fsn(yi, vi, type="Rosenthal", alpha=alpha, prop=p),
        "fsn_orwin": lambda: fsn(yi, vi, type="Orwin", prop=p),
        "fsn_rosenberg": lambda: fsn(yi, vi, type="Rosenberg", alpha=alpha, prop=p),
        "trimfill": lambda: trimfill(yi, vi, estimator=estimator, side=side, method=method, prop=p),
        "pet_peese": (lambda: pet_peese(inp.yi, inp.vi, alpha=alpha, prop=p, method=method, **mv)) if multi
        else (lambda: pet_peese(yi, vi, alpha=alpha, prop=p)),
        "selmodel_step": lambda: selmodel(yi, vi, type="stepfun", steps=steps, alternative=alternative, prop=p),
        "selmodel_beta": lambda: selmodel(yi, vi, type="beta", alternative=alternative, prop=p),
    }
    results, skipped = {}, {}
    for name, call in calls.items():
        try:
            results[name] = call()
        except InputError as exc:
            skipped[name] = str(exc)
    return BiasReport(property=p, k=inp.k, n_studies=inp.n_studies, results=results, skipped=skipped,
                      notes=notes, centre=cen, dependence="multilevel" if multi else "independent",
                      higher_is_better=inp.higher_is_better)
