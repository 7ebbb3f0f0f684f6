"""Frequentist meta-analysis and meta-regression, numerically matched to R's ``metafor::rma.uni``.

The public entry points are :func:`rma` (fit a fixed/equal-effects or random-effects model,
with or without moderators), :func:`predict` (metafor's ``predict.rma``) and :func:`rma_batch`
(a vectorised fast path for many intercept-only datasets of equal size).

Conventions follow metafor 3.8 (``rma.uni``, ``confint.rma.uni``, ``predict.rma``):

* ``vi`` are sampling *variances*, not standard errors.
* I² is reported in percent. For random-effects models it is computed from the estimated tau²
  and the "typical" within-study variance ``vt = (k - p) / tr(P)`` (Higgins & Thompson 2002,
  eq. 9, generalised to meta-regression), exactly as metafor does; for the FE/EE model it is
  ``max(0, 100 (Q - df) / Q)``.
* tau² estimators are truncated at zero.
* The outcome vector is centred (``yi - mean(yi)``) before tau² is estimated and before QE is
  computed, as metafor does; this is immaterial for models with an intercept and reproduces
  metafor's results for models without one.
* Iterative estimators are converged far beyond metafor's defaults (metafor stops Fisher
  scoring at an absolute change of 1e-5 and ``uniroot`` at 1.2e-4, which moves printed digits
  of tau² in the 4th significant place for PM and ML).  Results therefore equal metafor run with
  ``control = list(threshold = 1e-12, tol = 1e-12)`` to about 1e-10 relative; see
  ``docs/methods/frequentist.md``.

Linear algebra never forms the k x k projection matrix ``P``: with ``sqrt(W) X = Q R`` (thin QR,
as metafor's ``.invcalc``), ``P = D (I - Q Q') D`` with ``D = diag(sqrt(w))``, so all traces that
metafor computes from ``P`` reduce to O(k p²) expressions (see :class:`_Projection`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, optimize, stats

from ..outputs import json_safe
from ..results import FitStatistics
from .level import level_alpha as _alpha

__all__ = [
    "METHODS",
    "TESTS",
    "AnovaResult",
    "Prediction",
    "RMAResult",
    "SubgroupQ",
    "anova",
    "predict",
    "rma",
    "rma_batch",
    "subgroup_q",
]

#: Accepted values of ``method`` (case-insensitive).  "FE" and "EE" are the same equal-effects model.
METHODS = ("FE", "EE", "DL", "REML", "ML", "PM", "HS", "SJ", "EB", "HE")
#: Accepted values of ``test``.  "hksj" is accepted as an alias of "knha".
TESTS = ("z", "knha")

_FIXED = ("FE", "EE")
_ITERATIVE = ("ML", "REML", "EB")
# Convergence of Fisher scoring: stop when |tau2_new - tau2_old| <= _FS_TOL * (1 + tau2).
_FS_TOL = 1e-13
_FS_MAXITER = 10_000
# A converged ML/REML/EB tau² below this, with a non-positive score at 0, is the boundary solution 0.
_FS_SNAP = 1e-10
# Root finding (PM, Q-profile): brentq absolute/relative x tolerance.
_XTOL = 1e-15
_RTOL = 4 * np.finfo(float).eps
# metafor's defaults used in its ll0check (local-maximum safeguard for ML/REML); these are
# decision thresholds rather than convergence criteria, so metafor's defaults are kept.
_LL0_TOL = np.finfo(float).eps ** 0.25
_LL0_TAU2 = 1e-5
_K1_WARNING = "tau² is not identifiable with a single study"


# --------------------------------------------------------------------------------------------
# linear algebra
# --------------------------------------------------------------------------------------------
class _Projection:
    r"""Weighted least-squares quantities for design ``X`` and weights ``w``.

    With :math:`D = \operatorname{diag}(\sqrt{w})` and the thin QR decomposition
    :math:`D X = Q R`,

    .. math::

        P = W - W X (X' W X)^{-1} X' W = D (I - Q Q') D, \qquad (X' W X)^{-1} = R^{-1} R^{-T}.

    Traces of products of ``P`` with diagonal matrices are evaluated without forming ``P``:
    for diagonal ``A``, ``B``, with ``e = w a``, ``f = w b`` and leverages ``h_i = (Q Q')_{ii}``,

    .. math::

        \operatorname{tr}(P A P B) = \sum_i e_i f_i - 2 \sum_i h_i e_i f_i
        + \sum_{jl} (Q' E Q)_{jl} (Q' F Q)_{jl}.
    """

    def __init__(self, X: np.ndarray, w: np.ndarray):
        self.w = w
        self.d = np.sqrt(w)
        self.q, self.r = np.linalg.qr(self.d[:, None] * X, mode="reduced")
        self.h = np.einsum("ij,ij->i", self.q, self.q)

    def rinv(self) -> np.ndarray:
        return linalg.solve_triangular(self.r, np.eye(self.r.shape[0]))

    def inv(self) -> np.ndarray:
        """``(X' W X)^{-1}``."""
        ri = self.rinv()
        return ri @ ri.T

    def beta(self, y: np.ndarray) -> np.ndarray:
        """WLS coefficients ``(X'WX)^{-1} X'W y``."""
        return linalg.solve_triangular(self.r, self.q.T @ (self.d * y))

    def white_resid(self, y: np.ndarray) -> np.ndarray:
        """``(I - QQ') D y``; its squared norm is ``y' P y`` and ``D`` times it is ``P y``."""
        dy = self.d * y
        return dy - self.q @ (self.q.T @ dy)

    def quad(self, y: np.ndarray) -> float:
        """``y' P y`` (the weighted residual sum of squares)."""
        e = self.white_resid(y)
        return float(e @ e)

    def py(self, y: np.ndarray) -> np.ndarray:
        """``P y``."""
        return self.d * self.white_resid(y)

    def tr(self, a: np.ndarray | float = 1.0) -> float:
        """``tr(P A)`` for diagonal ``A = diag(a)``."""
        return float(np.sum(self.w * a * (1.0 - self.h)))

    def tr2(self, a: np.ndarray | float = 1.0, b: np.ndarray | float = 1.0) -> float:
        """``tr(P A P B)`` for diagonal ``A = diag(a)``, ``B = diag(b)``."""
        k = self.w.shape[0]
        e = np.broadcast_to(self.w * a, (k,))
        f = np.broadcast_to(self.w * b, (k,))
        qe = self.q.T @ (e[:, None] * self.q)
        qf = qe if (np.isscalar(a) and np.isscalar(b) and a == b) else self.q.T @ (f[:, None] * self.q)
        return float(np.sum(e * f) - 2.0 * np.sum(self.h * e * f) + np.sum(qe * qf))

    def logdet(self) -> float:
        """``log det(X' W X)``."""
        return float(2.0 * np.sum(np.log(np.abs(np.diag(self.r)))))


#: metafor warns above this ratio of the largest to the smallest sampling variance.
_VI_RATIO_WARN = 1e7


def _ratio_warning(vi: np.ndarray) -> list[str]:
    """metafor's caution when sampling variances span more than seven orders of magnitude."""
    vi = np.asarray(vi, dtype=float)
    pos = vi[vi > 0]
    if pos.size and pos.max() / pos.min() > _VI_RATIO_WARN:
        return [f"ratio of largest to smallest sampling variance extremely large ({pos.max() / pos.min():.1e}): "
                "results may not be stable"]
    return []


def _r_mad(x: np.ndarray) -> float:
    """R's ``mad()``: 1.4826 * median absolute deviation from the median."""
    return 1.4826 * float(np.median(np.abs(x - np.median(x))))


# --------------------------------------------------------------------------------------------
# tau² estimators.  Each takes the centred outcomes y (metafor's Ymc), vi and the design X and
# returns (tau2 before truncation, extra) -- se_tau2 is computed afterwards by _se_tau2.
# --------------------------------------------------------------------------------------------
def _tau2_dl(y: np.ndarray, vi: np.ndarray, X: np.ndarray) -> float:
    r"""DerSimonian-Laird method-of-moments estimator.

    .. math::

        \hat\tau^2 = \frac{Q_E - (k - p)}{\operatorname{tr}(P)}, \quad
        Q_E = y' P y, \quad P = W - W X (X'WX)^{-1} X'W, \quad W = \operatorname{diag}(1/v_i),

    which for the intercept-only model is the familiar
    :math:`(Q - (k-1)) / (\sum w_i - \sum w_i^2 / \sum w_i)`.

    For intercept-only models the value is taken from :func:`statsmodels.stats.meta_analysis.combine_effects`
    (``method_re="chi2"``), which implements exactly this formula (untruncated; truncation at 0
    is applied by the caller).  With moderators the general form above is used.

    References
    ----------
    DerSimonian R, Laird N (1986). Meta-analysis in clinical trials. *Controlled Clinical Trials*
    7:177-188.  Raudenbush SW (2009). Analyzing effect sizes: random-effects models. In Cooper H
    et al. (eds), *The Handbook of Research Synthesis and Meta-Analysis*, 2nd ed., 295-315.
    """
    k, p = X.shape
    if p == 1 and np.all(X[:, 0] == 1.0):
        # statsmodels takes sqrt of a negative variance when tau² < 0 and divides by Q when Q = 0
        with np.errstate(invalid="ignore", divide="ignore"):
            # imported here: statsmodels costs ~0.4 s at start-up, which every CLI call would pay
            from statsmodels.stats.meta_analysis import combine_effects

            return float(combine_effects(y, vi, method_re="chi2").tau2)
    pr = _Projection(X, 1.0 / vi)
    return (pr.quad(y) - (k - p)) / pr.tr()


def _tau2_he(y: np.ndarray, vi: np.ndarray, X: np.ndarray) -> float:
    r"""Hedges (unweighted method-of-moments, "variance component") estimator.

    .. math::

        \hat\tau^2 = \frac{y' P_0 y - \operatorname{tr}(P_0 V)}{k - p}, \qquad
        P_0 = I - X (X'X)^{-1} X', \quad V = \operatorname{diag}(v_i).

    References
    ----------
    Hedges LV (1983). A random effects model for effect sizes. *Psychological Bulletin*
    93:388-395.  Hedges LV, Olkin I (1985). *Statistical Methods for Meta-Analysis*. Academic Press.
    """
    k, p = X.shape
    pr = _Projection(X, np.ones(k))
    return (pr.quad(y) - pr.tr(vi)) / (k - p)


def _tau2_hs(y: np.ndarray, vi: np.ndarray, X: np.ndarray) -> float:
    r"""Hunter-Schmidt estimator (metafor ``method="HS"``).

    .. math::

        \hat\tau^2 = \frac{Q_E - k}{\sum_i w_i}, \qquad w_i = 1/v_i, \quad Q_E = y' P y.

    References
    ----------
    Hunter JE, Schmidt FL (2004). *Methods of Meta-Analysis: Correcting Error and Bias in Research
    Findings*, 2nd ed. Sage.  Viechtbauer W (2005). Bias and efficiency of meta-analytic variance
    estimators in the random-effects model. *J Educ Behav Stat* 30:261-293.
    """
    k = X.shape[0]
    pr = _Projection(X, 1.0 / vi)
    return (pr.quad(y) - k) / float(np.sum(1.0 / vi))


def _tau2_sj(y: np.ndarray, vi: np.ndarray, X: np.ndarray) -> tuple[float, float]:
    r"""Sidik-Jonkman estimator (non-iterated, metafor ``method="SJ"``).

    With the starting value :math:`\hat\tau_0^2 = \frac{1}{k}\sum_i (y_i - \bar y)^2` (metafor's
    ``var(yi) * (k - 1) / k``) and weights :math:`w_i = 1/(v_i + \hat\tau_0^2)`,

    .. math::

        \hat\tau^2 = \frac{\hat\tau_0^2 \; y' P y}{k - p}.

    Returns ``(tau2, tau2_0)``.

    References
    ----------
    Sidik K, Jonkman JN (2005). Simple heterogeneity variance estimation for meta-analysis.
    *J R Stat Soc C* 54:367-384.  Sidik K, Jonkman JN (2007). A comparison of heterogeneity
    variance estimators in combining results of studies. *Stat Med* 26:1964-1981.
    """
    k, p = X.shape
    tau2_0 = float(np.mean((y - np.mean(y)) ** 2))
    pr = _Projection(X, 1.0 / (vi + tau2_0))
    return tau2_0 * pr.quad(y) / (k - p), tau2_0


def _qe(tau2: float, y: np.ndarray, vi: np.ndarray, X: np.ndarray) -> float:
    """Generalised Q statistic ``y' P(tau2) y`` with weights ``1/(vi + tau2)``."""
    return _Projection(X, 1.0 / (vi + tau2)).quad(y)


def _find_upper(fun, hi: float) -> float:
    """Grow ``hi`` until ``fun(hi) <= 0`` (``fun`` decreasing); metafor would stop with an error."""
    for _ in range(60):
        if fun(hi) <= 0:
            return hi
        hi *= 10.0
    raise RuntimeError("could not bracket the root (tau² > 1e60?)")


def _tau2_pm(y: np.ndarray, vi: np.ndarray, X: np.ndarray, yi_raw: np.ndarray) -> tuple[float, int]:
    r"""Paule-Mandel estimator: the root of the generalised Q statistic.

    .. math::

        Q(\tau^2) = \sum_i \frac{(y_i - x_i'\hat\beta(\tau^2))^2}{v_i + \tau^2} = k - p,

    with :math:`\hat\tau^2 = 0` when :math:`Q(0) < k - p`.  :math:`Q` is strictly decreasing in
    :math:`\tau^2`, so the root is bracketed on ``[0, max(100, 10 mad(yi)^2)]`` (metafor's
    ``tau2.max``; the bracket is widened if needed, where metafor would stop) and found with
    Brent's method to machine precision.

    statsmodels' ``combine_effects(method_re="pm")`` is *not* used: its Paule-Mandel iteration
    stops when ``|Q - (k-1)| < 1e-5`` via a one-sided Newton step (DerSimonian & Kacker 2007,
    App. 8) and has no moderators, which leaves tau² about 1e-4 (relative) short of the root
    that metafor finds when it is converged.  Returns ``(tau2, function evaluations)``.

    References
    ----------
    Paule RC, Mandel J (1982). Consensus values and weighting factors. *J Res Natl Bur Stand*
    87:377-385.  DerSimonian R, Kacker R (2007). Random-effects model for meta-analysis of
    clinical trials: an update. *Contemp Clin Trials* 28:105-114.
    """
    k, p = X.shape
    target = k - p

    def fun(t: float) -> float:
        return _qe(t, y, vi, X) - target

    if fun(0.0) < 0:
        return 0.0, 1
    hi = _find_upper(fun, max(100.0, 10.0 * _r_mad(yi_raw) ** 2))
    root, info = optimize.brentq(fun, 0.0, hi, xtol=_XTOL, rtol=_RTOL, maxiter=500, full_output=True)
    return float(root), int(info.function_calls)


def _loglik(tau2: float, y: np.ndarray, vi: np.ndarray, X: np.ndarray, reml: bool) -> float:
    """ML or REML log-likelihood (metafor's ll0check form, without the REMLf constant)."""
    k, p = X.shape
    pr = _Projection(X, 1.0 / (vi + tau2))
    rss = pr.quad(y)
    if reml:
        return -0.5 * (k - p) * math.log(2 * math.pi) - 0.5 * np.sum(np.log(vi + tau2)) - 0.5 * pr.logdet() - 0.5 * rss
    return -0.5 * k * math.log(2 * math.pi) - 0.5 * np.sum(np.log(vi + tau2)) - 0.5 * rss


def _tau2_scoring(method: str, y: np.ndarray, vi: np.ndarray, X: np.ndarray) -> tuple[float, int, bool, list[str]]:
    r"""ML, REML and empirical Bayes (EB) estimators by Fisher scoring, as metafor.

    Starting value: the Hedges estimate truncated at zero.  Update
    :math:`\tau^2 \leftarrow \tau^2 + \delta` with, for :math:`W = \operatorname{diag}(1/(v_i+\tau^2))`
    and :math:`P = W - WX(X'WX)^{-1}X'W`,

    .. math::

        \delta_{ML} &= \frac{y'PPy - \sum_i w_i}{\sum_i w_i^2}, \\
        \delta_{REML} &= \frac{y'PPy - \operatorname{tr}(P)}{\operatorname{tr}(PP)}, \\
        \delta_{EB} &= \frac{\frac{k}{k-p}\, y'Py - k}{\sum_i w_i},

    halving :math:`\delta` while :math:`\tau^2 + \delta < 0`.  Iteration stops when
    :math:`|\delta| \le 10^{-13}(1 + \tau^2)` (metafor's default is :math:`10^{-5}` absolute).
    For ML/REML, metafor's safeguard is reproduced: if the (restricted) log-likelihood at
    :math:`\tau^2 = 0` exceeds that at the solution by more than ``eps^0.25``, tau² is set to 0.

    References
    ----------
    Viechtbauer W (2005). Bias and efficiency of meta-analytic variance estimators in the
    random-effects model. *J Educ Behav Stat* 30:261-293.  Raudenbush SW, Bryk AS (1985).
    Empirical Bayes meta-analysis. *J Educ Stat* 10:75-98.  Morris CN (1983). Parametric
    empirical Bayes inference: theory and applications. *JASA* 78:47-55.  Berkey CS, Hoaglin DC,
    Mosteller F, Colditz GA (1995). A random-effects regression model for meta-analysis.
    *Stat Med* 14:395-411.
    """
    k, p = X.shape
    msgs: list[str] = []

    def step(t: float) -> float:
        w = 1.0 / (vi + t)
        pr = _Projection(X, w)
        if method == "ML":
            py = pr.py(y)
            return float((py @ py - np.sum(w)) / np.sum(w * w))
        if method == "REML":
            py = pr.py(y)
            t2 = pr.tr2()
            # tr(PP) cancels to 0 when the variances differ by ~1e10: no information, no step
            return float((py @ py - pr.tr()) / t2) if t2 > 0 else 0.0
        return float((pr.quad(y) * k / (k - p) - k) / np.sum(w))  # EB

    tau2 = max(0.0, _tau2_he(y, vi, X))
    converged = False
    it = 0
    while it < _FS_MAXITER:
        it += 1
        adj = step(tau2)
        if not math.isfinite(adj):
            adj = 0.0
        # step halving, exactly as metafor (terminates: adj underflows to -0.0 if tau2 == 0)
        while tau2 + adj < 0.0:
            adj /= 2.0
        new = tau2 + adj
        change = abs(new - tau2)
        tau2 = new
        if change <= _FS_TOL * (1.0 + tau2):
            converged = True
            break
    if not converged:
        msgs.append(f"Fisher scoring for {method} did not converge in {_FS_MAXITER} iterations")
    elif 0.0 < tau2 < _FS_SNAP and step(0.0) <= 0.0:
        # The maximum is on the boundary: the step-halved iteration approaches 0 geometrically and
        # stops a few 1e-14 above it; the score at 0 points outwards, so the solution is exactly 0.
        tau2 = 0.0
    if converged and method in ("ML", "REML"):
        reml = method == "REML"
        ll0 = _loglik(0.0, y, vi, X, reml)
        ll = _loglik(tau2, y, vi, X, reml)
        if ll0 - ll > _LL0_TOL and tau2 > _LL0_TAU2:
            msgs.append(
                "Fisher scoring algorithm may have gotten stuck at a local maximum; setting tau² = 0 (as metafor)"
            )
            tau2 = 0.0
    return tau2, it, converged, msgs


def _se_tau2(method: str, tau2: float, y: np.ndarray, vi: np.ndarray, X: np.ndarray, tau2_0: float | None) -> float:
    """Standard error of tau² exactly as metafor's rma.uni computes it for each estimator."""
    k, p = X.shape
    t = max(tau2, 0.0)
    if method in ("DL", "HS"):
        pr = _Projection(X, 1.0 / vi)
        trp = pr.tr()
        denom = trp if method == "DL" else float(np.sum(1.0 / vi))
        return math.sqrt((2 * (k - p) + 4 * t * trp + 2 * t * t * pr.tr2()) / denom**2)
    if method == "HE":
        pr = _Projection(X, np.ones(k))
        return math.sqrt((2 * pr.tr2(vi, vi) + 4 * t * pr.tr(vi) + 2 * t * t * (k - p)) / (k - p) ** 2)
    if method == "SJ":
        pr = _Projection(X, 1.0 / (vi + tau2_0))
        return math.sqrt(
            tau2_0**2 / (k - p) ** 2 * (2 * pr.tr2(vi, vi) + 4 * t * pr.tr2(1.0, vi) + 2 * t * t * pr.tr2())
        )
    w = 1.0 / (vi + tau2)
    if method == "ML":
        return math.sqrt(2.0 / np.sum(w * w))
    if method == "REML":
        t2 = _Projection(X, w).tr2()
        return math.sqrt(2.0 / t2) if t2 > 0 else math.nan  # tr(PP) cancelled: the SE is not available
    # EB, PM
    return math.sqrt(2.0 * k * k / (k - p) / np.sum(w) ** 2)


# --------------------------------------------------------------------------------------------
# Q-profile confidence interval for tau²
# --------------------------------------------------------------------------------------------
def _qprofile(yi: np.ndarray, vi: np.ndarray, X: np.ndarray, tau2: float, alpha: float) -> tuple[float, float]:
    r"""Q-profile confidence interval for tau² (metafor ``confint(res, type="QP")``).

    The bounds solve :math:`Q(\tau^2) = \chi^2_{k-p;\,1-\alpha/2}` (lower bound) and
    :math:`Q(\tau^2) = \chi^2_{k-p;\,\alpha/2}` (upper bound), where :math:`Q(\tau^2)` is the
    generalised Q statistic with weights :math:`1/(v_i+\tau^2)` (monotone decreasing).  A bound
    is set to 0 when :math:`Q(0)` already lies below its critical value.  The search interval
    is metafor's ``[0, max(100, 10 tau²)]``; if the upper bound lies beyond it, metafor reports
    the interval end (and so does this function).  Note metafor uses the *uncentred* outcomes
    here (unlike for the point estimate), which only matters for models without an intercept.

    References
    ----------
    Viechtbauer W (2007). Confidence intervals for the amount of heterogeneity in meta-analysis.
    *Stat Med* 26:37-52.
    """
    k, p = X.shape
    df = k - p
    crit_u = stats.chi2.isf(alpha / 2, df)
    crit_l = stats.chi2.ppf(alpha / 2, df)
    lo_end = min(0.0, tau2)
    hi_end = max(100.0, 10.0 * tau2)
    q_lo = _qe(lo_end, yi, vi, X)
    q_hi = _qe(hi_end, yi, vi, X)

    def root(target: float) -> float:
        return float(
            optimize.brentq(lambda t: _qe(t, yi, vi, X) - target, lo_end, hi_end, xtol=_XTOL, rtol=_RTOL, maxiter=500)
        )

    if q_lo < crit_l:
        lb = ub = lo_end
    else:
        ub = hi_end if q_hi > crit_l else root(crit_l)
    if q_hi > crit_u:
        lb = ub = hi_end
    elif q_lo < crit_u:
        lb = lo_end
    else:
        lb = root(crit_u)
    return lb, ub


# --------------------------------------------------------------------------------------------
# result objects
# --------------------------------------------------------------------------------------------
def _fmt(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "NA"
    return f"{x:.{digits}f}"


def _fmt_p(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "NA"
    return "<.0001" if p < 1e-4 else f"{p:.4f}"


@dataclass
class RMAResult(FitStatistics):
    """Result of :func:`rma`, mirroring the fields of a metafor ``rma.uni`` object.

    ``estimate``, ``se``, ``zval``/``tval``, ``pval``, ``ci_low``, ``ci_high`` refer to the first
    coefficient (the intercept, i.e. the pooled effect when there are no moderators);
    ``coefficients`` has one dict per coefficient.  ``I2`` is in percent.  ``tau2_ci``,
    ``I2_ci``, ``H2_ci`` are Q-profile intervals (``None`` for FE/EE models and for k = 1).
    ``pi_low``/``pi_high`` are the prediction interval of the pooled effect (``None`` with
    moderators; use :func:`predict`).  ``QM`` is metafor's omnibus test of all coefficients
    except the intercept (of the intercept itself in intercept-only models): a chi² statistic
    with ``QM_df`` degrees of freedom under ``test="z"``, an F statistic with
    ``(QM_df, QM_ddf)`` under ``test="knha"``.
    """

    method: str
    test: str
    k: int
    p: int
    level: float
    estimate: float
    se: float
    zval: float | None
    tval: float | None
    df: int | None
    pval: float
    ci_low: float
    ci_high: float
    tau2: float
    se_tau2: float | None
    tau2_ci: tuple[float, float] | None
    I2: float
    H2: float
    I2_ci: tuple[float, float] | None
    H2_ci: tuple[float, float] | None
    Q: float
    Q_df: int
    Q_p: float
    pi_low: float | None
    pi_high: float | None
    coefficients: list[dict]
    QM: float
    QM_df: int
    QM_ddf: int | None
    QM_p: float
    vt: float
    s2w: float
    warnings: list[str] = field(default_factory=list)
    converged: bool = True
    iterations: int = 0
    # arrays kept for predict(); excluded from to_dict()
    beta: np.ndarray = field(default=None, repr=False)
    vcov: np.ndarray = field(default=None, repr=False)
    X: np.ndarray = field(default=None, repr=False)
    yi: np.ndarray = field(default=None, repr=False)
    vi: np.ndarray = field(default=None, repr=False)
    coef_names: list[str] = field(default_factory=list, repr=False)
    intercept: bool = True
    #: metafor's fit statistics (``ll, deviance, AIC, BIC, AICc, parms``; see :func:`_fitstats_uni`)
    fitstats: dict = field(default_factory=dict)
    #: pseudo-R² (percent) of a meta-regression, as metafor prints; ``None`` without moderators
    R2: float | None = None

    @property
    def tau(self) -> float:
        """Square root of tau²."""
        return math.sqrt(self.tau2)

    @property
    def stat(self) -> float:
        """The test statistic of the first coefficient (z or t)."""
        return self.zval if self.test == "z" else self.tval

    @property
    def int_only(self) -> bool:
        """True for a model with the intercept as its only coefficient."""
        return self.p == 1 and self.intercept

    @property
    def is_fixed(self) -> bool:
        return self.method in _FIXED

    def to_dict(self) -> dict:
        """JSON-serialisable dictionary (NaN and infinities become ``None``)."""
        d = {
            "method": self.method,
            "test": self.test,
            "k": self.k,
            "p": self.p,
            "level": self.level,
            "estimate": self.estimate,
            "se": self.se,
            "stat": self.stat,
            "zval": self.zval,
            "tval": self.tval,
            "df": self.df,
            "pval": self.pval,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "tau2": self.tau2,
            "tau": self.tau,
            "se_tau2": self.se_tau2,
            "tau2_ci": self.tau2_ci,
            "I2": self.I2,
            "I2_ci": self.I2_ci,
            "H2": self.H2,
            "H2_ci": self.H2_ci,
            "Q": self.Q,
            "Q_df": self.Q_df,
            "Q_p": self.Q_p,
            "QM": self.QM,
            "QM_df": self.QM_df,
            "QM_ddf": self.QM_ddf,
            "QM_p": self.QM_p,
            "pi_low": self.pi_low,
            "pi_high": self.pi_high,
            "coefficients": self.coefficients,
            "warnings": list(self.warnings),
            "converged": self.converged,
            "iterations": self.iterations,
            "fitstats": dict(self.fitstats),
            "R2": self.R2,
        }
        return json_safe(d)

    def summary(self) -> pd.DataFrame:
        """Tidy coefficient table: one row per coefficient (index ``term``)."""
        df = pd.DataFrame(self.coefficients).set_index("name")
        df.index.name = "term"
        return df[["estimate", "se", "stat", "p", "ci_low", "ci_high"]]

    # Long on purpose: writes metafor's print.rma.uni line by line.
    def __str__(self) -> str:
        lines: list[str] = [""]
        if self.is_fixed:
            title = "Equal-Effects Model" if self.int_only else "Fixed-Effects with Moderators Model"
            lines.append(f"{title} (k = {self.k})")
        else:
            title = "Random-Effects Model" if self.int_only else "Mixed-Effects Model"
            lines.append(f"{title} (k = {self.k}; tau^2 estimator: {self.method})")
        lines.append("")
        if self.fitstats:
            f = self.fitstats
            lines.append("  logLik  deviance       AIC       BIC      AICc")
            lines.append(" ".join(f"{f[key]:9.4f}" for key in ("ll", "deviance", "AIC", "BIC", "AICc")))
            lines.append("")
        what = "total" if self.int_only else "residual"
        if not self.is_fixed:
            se = "" if self.se_tau2 is None or not math.isfinite(self.se_tau2) else f" (SE = {_fmt(self.se_tau2)})"
            lines.append(f"tau^2 (estimated amount of {what} heterogeneity): {_fmt(self.tau2)}{se}")
            lines.append(f"tau (square root of estimated tau^2 value): {_fmt(self.tau)}")
        var = "total" if self.int_only else "unaccounted"
        lines.append(f"I^2 ({what} heterogeneity / {var} variability): {_fmt(self.I2, 2)}%")
        lines.append(f"H^2 ({var} variability / sampling variability): {_fmt(self.H2, 2)}")
        if self.R2 is not None:
            lines.append(f"R^2 (amount of heterogeneity accounted for): {_fmt(self.R2, 2)}%")
        if self.tau2_ci is not None:
            lines.append(
                f"Q-profile {100 * (1 - _alpha(self.level)):g}% CI: tau^2 [{_fmt(self.tau2_ci[0])}, "
                f"{_fmt(self.tau2_ci[1])}], I^2 [{_fmt(self.I2_ci[0], 2)}%, {_fmt(self.I2_ci[1], 2)}%]"
            )
        lines.append("")
        qname = "Q" if self.int_only else "QE"
        lines.append("Test for Heterogeneity:" if self.int_only else "Test for Residual Heterogeneity:")
        lines.append(f"{qname}(df = {self.Q_df}) = {_fmt(self.Q)}, p-val {_fmt_pval_eq(self.Q_p)}")
        lines.append("")
        if self.p > 1:
            m = self.QM_df
            lines.append(f"Test of Moderators (coefficient{'s' if m > 1 else ''} {_btt_label(self)}):")
            if self.test == "knha":
                lines.append(f"F(df1 = {m}, df2 = {self.QM_ddf}) = {_fmt(self.QM)}, p-val {_fmt_pval_eq(self.QM_p)}")
            else:
                lines.append(f"QM(df = {m}) = {_fmt(self.QM)}, p-val {_fmt_pval_eq(self.QM_p)}")
            lines.append("")
        lines.append("Model Results:")
        lines.append("")
        statname = "zval" if self.test == "z" else "tval"
        header = ["", "estimate", "se", statname] + (["df"] if self.test == "knha" else []) + ["pval", "ci.lb", "ci.ub"]
        rows = []
        for c in self.coefficients:
            row = [c["name"], _fmt(c["estimate"]), _fmt(c["se"]), _fmt(c["stat"])]
            if self.test == "knha":
                row.append(str(self.df))
            row += [_fmt_p(c["p"]), _fmt(c["ci_low"]), _fmt(c["ci_high"])]
            rows.append(row)
        widths = [max(len(r[j]) for r in [header, *rows]) for j in range(len(header))]
        for r in [header, *rows]:
            lines.append(
                "  ".join(r[j].ljust(widths[j]) if j == 0 else r[j].rjust(widths[j]) for j in range(len(r))).rstrip()
            )
        if self.int_only and self.pi_low is not None:
            lines.append("")
            lines.append(f"Prediction interval: [{_fmt(self.pi_low)}, {_fmt(self.pi_high)}]")
        if self.warnings:
            lines.append("")
            lines.extend(f"Warning: {w}" for w in self.warnings)
        lines.append("")
        return "\n".join(lines)


def _fmt_pval_eq(p: float) -> str:
    s = _fmt_p(p)
    return s[0] + " " + s[1:] if s.startswith("<") else "= " + s


def _btt_label(res: RMAResult) -> str:
    idx = list(range(2, res.p + 1)) if res.intercept else list(range(1, res.p + 1))
    return f"{idx[0]}:{idx[-1]}" if len(idx) > 1 else str(idx[0])


@dataclass
class Prediction:
    """Result of :func:`predict`: arrays of predicted values with CI and prediction interval."""

    pred: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "pred": self.pred,
                "se": self.se,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "pi_low": self.pi_low,
                "pi_high": self.pi_high,
            }
        )

    def to_dict(self) -> dict:
        return json_safe(self.to_frame().to_dict(orient="list"))


# --------------------------------------------------------------------------------------------
# input checking
# --------------------------------------------------------------------------------------------
def _as_1d(x, name: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 1-D array of numbers") from exc
    if a.ndim == 0:
        a = a.reshape(1)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    return a


def _check_inputs(
    yi, vi, mods, mod_names, intercept: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], bool, list[str]]:
    msgs: list[str] = []
    y = _as_1d(yi, "yi")
    v = _as_1d(vi, "vi")
    k = y.shape[0]
    if k < 1:
        raise ValueError("need at least one study (k >= 1); got an empty yi")
    if v.shape[0] != k:
        raise ValueError(f"yi and vi must have the same length (got {k} and {v.shape[0]})")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"yi contains non-finite values at positions {np.flatnonzero(~np.isfinite(y)).tolist()}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"vi contains non-finite values at positions {np.flatnonzero(~np.isfinite(v)).tolist()}")
    if np.any(v <= 0):
        raise ValueError(
            f"sampling variances vi must be > 0 (vi are variances, not standard errors); "
            f"non-positive at positions {np.flatnonzero(v <= 0).tolist()}"
        )
    names: list[str] = []
    if mod_names is None and isinstance(mods, pd.DataFrame):
        mod_names = [str(c) for c in mods.columns]
    if mods is None:
        M = np.empty((k, 0))
        if mod_names:
            raise ValueError("mod_names given without mods")
        if not intercept:
            msgs.append("a model needs an intercept and/or moderators: intercept added (as metafor)")
            intercept = True
    else:
        try:
            M = np.asarray(mods, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError("mods must be a numeric 2-D array (k x p); encode factors as dummy columns") from exc
        if M.ndim == 1:
            M = M.reshape(-1, 1)
        if M.ndim != 2:
            raise ValueError(f"mods must be 2-D (k x p), got shape {M.shape}")
        if M.shape[0] != k:
            raise ValueError(f"mods has {M.shape[0]} rows but there are {k} studies")
        if not np.all(np.isfinite(M)):
            raise ValueError("mods contains non-finite values")
        if mod_names is None:
            names = [f"mod{j + 1}" for j in range(M.shape[1])]
        else:
            if isinstance(mod_names, str):
                mod_names = [mod_names]
            names = [str(n) for n in mod_names]
            if len(names) != M.shape[1]:
                raise ValueError(f"mod_names has {len(names)} names but mods has {M.shape[1]} columns")
            if len(set(names)) != len(names) or (intercept and "intrcpt" in names):
                raise ValueError("mod_names must be unique and must not be 'intrcpt'")
    X = np.column_stack([np.ones(k), M]) if intercept else M
    cn = (["intrcpt"] if intercept else []) + names
    if X.shape[1] == 0:
        raise ValueError("the model has no coefficients")
    return y, v, X, cn, intercept, msgs


# --------------------------------------------------------------------------------------------
# main entry point
# --------------------------------------------------------------------------------------------
# Long on purpose: one pass in metafor's order (inputs, tau², fixed effects, omnibus test, heterogeneity,
# intervals); each step is a named function and what remains assembles the metafor-shaped result.
def rma(
    yi,
    vi,
    *,
    method: str = "REML",
    test: str = "z",
    mods=None,
    mod_names=None,
    level: float = 95.0,
    intercept: bool = True,
) -> RMAResult:
    r"""Fit a meta-analytic equal-effects, random-effects or mixed-effects (meta-regression) model.

    The model is :math:`y_i = x_i'\beta + u_i + \varepsilon_i` with
    :math:`\varepsilon_i \sim N(0, v_i)` (``vi`` known) and :math:`u_i \sim N(0, \tau^2)`
    (:math:`\tau^2 = 0` for ``method="FE"``/``"EE"``).  Given :math:`\hat\tau^2`, the coefficients
    are the weighted least squares estimates with :math:`w_i = 1/(v_i + \hat\tau^2)`:

    .. math::

        \hat\beta = (X'WX)^{-1} X'W y, \qquad \operatorname{Var}(\hat\beta) = (X'WX)^{-1}.

    Under ``test="knha"`` (Knapp & Hartung 2003) the covariance matrix is multiplied by
    :math:`s^2 = \sum_i w_i (y_i - x_i'\hat\beta)^2 / (k - p)` (no truncation at 1, as metafor's
    ``"knha"``) and t (coefficients) and F (omnibus) distributions with :math:`k - p` denominator
    degrees of freedom are used.

    Parameters
    ----------
    yi, vi : array_like, shape (k,)
        Observed effect sizes and their sampling variances (must be > 0 and finite).
    method : str, default "REML"
        tau² estimator, case-insensitive: "FE"/"EE" (equal effects, tau² = 0), "DL"
        (DerSimonian-Laird), "REML", "ML", "PM" (Paule-Mandel), "HS" (Hunter-Schmidt), "SJ"
        (Sidik-Jonkman), "EB" (empirical Bayes), "HE" (Hedges).
    test : {"z", "knha"}, default "z"
        Normal-theory tests and intervals, or the Knapp-Hartung adjustment with t/F tests.
    mods : array_like, shape (k,) or (k, m), optional
        Moderators *without* the intercept column.
    mod_names : sequence of str, optional
        Names of the moderator columns (default: the columns of a DataFrame ``mods``, else
        ``mod1``, ``mod2``, ...).
    level : float, default 95
        Confidence level in percent (values below 1 are read as fractions, as metafor).
    intercept : bool, default True
        Add an intercept column (named ``intrcpt``).

    Returns
    -------
    RMAResult

    Raises
    ------
    ValueError
        For non-finite input, ``vi <= 0``, mismatched lengths, k < 1, a rank-deficient design,
        too few studies for the number of coefficients (FE: k >= p; random effects: k >= p + 1,
        except the intercept-only model with k = 1), an unknown method or test, or
        ``test="knha"`` with no residual degrees of freedom.

    Notes
    -----
    With k = 1 (intercept only) every random-effects method returns tau² = 0, with the entry
    "tau² is not identifiable with a single study" in ``warnings``; ``test="knha"`` falls back
    to "z" (as metafor).

    References
    ----------
    Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package. *J Stat Softw*
    36(3):1-48.  Knapp G, Hartung J (2003). Improved tests for a random effects meta-regression
    with a single covariate. *Stat Med* 22:2693-2710.  Higgins JPT, Thompson SG (2002).
    Quantifying heterogeneity in a meta-analysis. *Stat Med* 21:1539-1558.
    """
    method, test = _options(method, test)
    alpha = _alpha(level)
    yi, vi, X, coef_names, intercept, msgs = _check_inputs(yi, vi, mods, mod_names, intercept)
    k, p = X.shape
    fixed = method in _FIXED
    int_only = p == 1 and intercept
    k1 = int_only and k == 1
    test = _check_model(method, test, k, p, X, k1, msgs)

    ymc = yi - np.mean(yi)  # metafor estimates tau² (and QE) from centred outcomes
    if k1 and not fixed:
        msgs.append(_K1_WARNING)
    t2 = _Tau2Fit() if (fixed or k1) else _estimate_tau2(method, ymc, vi, X, yi)
    msgs.extend(t2.msgs)
    fe = _fixed_effects(yi, vi, X, t2.tau2, test, alpha)
    QM, m, QM_ddf, QM_p = _omnibus(fe.beta, fe.vb, intercept, test, k)
    het = _heterogeneity(ymc, vi, X, t2.tau2, fixed)
    tau2_ci = I2_ci = H2_ci = None
    if not fixed and not k1:
        lb, ub = _qprofile(yi, vi, X, t2.tau2, alpha)
        tau2_ci = (lb, ub)
        I2_ci = (100.0 * lb / (het.vt + lb), 100.0 * ub / (het.vt + ub))
        H2_ci = (lb / het.vt + 1.0, ub / het.vt + 1.0)
    # prediction interval for the pooled effect (intercept-only random-effects models; metafor
    # gives none for FE/EE models)
    pi_low = pi_high = None
    if int_only and not fixed:
        half = fe.crit * math.sqrt(fe.vb[0, 0] + t2.tau2)
        pi_low, pi_high = float(fe.beta[0] - half), float(fe.beta[0] + half)
    fs = _fitstats_uni(yi, vi, X, t2.tau2, method, fixed)
    # what follows only names the fields of the result (one keyword each), hence the length
    R2 = _pseudo_r2(yi, vi, method, t2.tau2) if (not fixed and not int_only) else None
    coefs = [
        {
            "name": coef_names[j],
            "estimate": float(fe.beta[j]),
            "se": float(fe.se[j]),
            "stat": float(fe.stat[j]),
            "p": float(fe.pvals[j]),
            "ci_low": float(fe.ci_lo[j]),
            "ci_high": float(fe.ci_hi[j]),
        }
        for j in range(p)
    ]
    return RMAResult(
        method=method,
        test=test,
        k=k,
        p=p,
        level=float(level),
        estimate=float(fe.beta[0]),
        se=float(fe.se[0]),
        zval=float(fe.stat[0]) if test == "z" else None,
        tval=float(fe.stat[0]) if test == "knha" else None,
        df=fe.ddf,
        pval=float(fe.pvals[0]),
        ci_low=float(fe.ci_lo[0]),
        ci_high=float(fe.ci_hi[0]),
        tau2=float(t2.tau2),
        se_tau2=None if not math.isfinite(t2.se) else float(t2.se),
        tau2_ci=tau2_ci,
        I2=float(het.I2),
        H2=float(het.H2),
        I2_ci=I2_ci,
        H2_ci=H2_ci,
        Q=float(het.QE),
        Q_df=k - p,
        Q_p=float(het.QEp),
        pi_low=pi_low,
        pi_high=pi_high,
        coefficients=coefs,
        QM=float(QM),
        QM_df=m,
        QM_ddf=QM_ddf,
        QM_p=QM_p,
        vt=float(het.vt),
        s2w=float(fe.s2w),
        warnings=msgs + _ratio_warning(vi),
        converged=t2.converged,
        iterations=t2.iterations,
        beta=fe.beta,
        vcov=fe.vb,
        X=X,
        yi=yi,
        vi=vi,
        coef_names=coef_names,
        intercept=intercept,
        fitstats=fs,
        R2=R2,
    )


# --------------------------------------------------------------------------------------------
# the steps of rma()
# --------------------------------------------------------------------------------------------
def _options(method, test) -> tuple[str, str]:
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if not isinstance(test, str) or test.lower() not in ("z", "knha", "hksj"):
        raise ValueError(f"unknown test {test!r}; choose 'z' or 'knha'")
    return method.upper(), ("knha" if test.lower() in ("knha", "hksj") else "z")


def _check_model(method: str, test: str, k: int, p: int, X: np.ndarray, k1: bool, msgs: list[str]) -> str:
    """Enough studies for the model, a full-rank design, and the test that can be used."""
    fixed = method in _FIXED
    if not k1:
        if fixed and p > k:
            raise ValueError(f"too few studies: {p} coefficients need k >= {p} (k = {k})")
        if not fixed and p + 1 > k:
            raise ValueError(
                f"too few studies for a random-effects model: {p} coefficient(s) plus tau² need k >= {p + 1} (k = {k})"
            )
    if np.linalg.matrix_rank(X) < p:
        raise ValueError("the design matrix is not of full column rank (redundant or constant moderators?)")
    if k1 and test == "knha":
        msgs.append('test="knha" needs k > 1: using test="z" (as metafor)')
        test = "z"
    if test == "knha" and k - p < 1:
        raise ValueError(f'test="knha" needs k > p (k = {k}, p = {p})')
    if fixed and test == "knha":
        msgs.append("the Knapp-Hartung method is not meant to be used with an equal-effects model (as metafor)")
    return test


@dataclass
class _Tau2Fit:
    """What a tau² estimator returns (tau² truncated at 0)."""

    tau2: float = 0.0
    se: float = math.nan
    iterations: int = 0
    converged: bool = True
    msgs: list[str] = field(default_factory=list)


def _est_closed(fn):
    def est(y, vi, X, yi):
        return fn(y, vi, X), {}

    return est


def _est_sj(y, vi, X, yi):
    tau2, tau2_0 = _tau2_sj(y, vi, X)
    return tau2, {"tau2_0": tau2_0}


def _est_pm(y, vi, X, yi):
    tau2, iterations = _tau2_pm(y, vi, X, yi)
    return tau2, {"iterations": iterations}


def _est_scoring(method: str):
    def est(y, vi, X, yi):
        tau2, iterations, converged, msgs = _tau2_scoring(method, y, vi, X)
        return tau2, {"iterations": iterations, "converged": converged, "msgs": msgs}

    return est


#: ``{method: estimator(ymc, vi, X, yi) -> (tau2 before truncation, extras)}``; extras may hold
#: ``tau2_0`` (SJ's starting value, for its SE), ``iterations``, ``converged`` and ``msgs``.
_TAU2_ESTIMATORS = {
    "DL": _est_closed(_tau2_dl),
    "HE": _est_closed(_tau2_he),
    "HS": _est_closed(_tau2_hs),
    "SJ": _est_sj,
    "PM": _est_pm,
    **{m: _est_scoring(m) for m in _ITERATIVE},
}


def _estimate_tau2(method: str, ymc: np.ndarray, vi: np.ndarray, X: np.ndarray, yi: np.ndarray) -> _Tau2Fit:
    """Dispatch to the tau² estimator of ``method`` and add its standard error."""
    raw, extra = _TAU2_ESTIMATORS[method](ymc, vi, X, yi)
    tau2 = max(0.0, float(raw))
    return _Tau2Fit(
        tau2=tau2,
        se=_se_tau2(method, tau2, ymc, vi, X, extra.get("tau2_0")),
        iterations=extra.get("iterations", 0),
        converged=extra.get("converged", True),
        msgs=list(extra.get("msgs", [])),
    )


@dataclass
class _FixedEffects:
    beta: np.ndarray
    vb: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    pvals: np.ndarray
    ci_lo: np.ndarray
    ci_hi: np.ndarray
    crit: float
    ddf: int | None
    s2w: float


def _fixed_effects(
    yi: np.ndarray, vi: np.ndarray, X: np.ndarray, tau2: float, test: str, alpha: float
) -> _FixedEffects:
    """WLS coefficients given tau², with the Knapp-Hartung factor under ``test="knha"``."""
    k, p = X.shape
    pr = _Projection(X, 1.0 / (vi + tau2))
    beta = pr.beta(yi)
    vb = pr.inv()
    s2w = 1.0
    if test == "knha":
        rss = pr.quad(yi)
        s2w = 0.0 if rss <= np.finfo(float).eps else rss / (k - p)
        vb = s2w * vb
    se = np.sqrt(np.diag(vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se
    ddf = k - p if test == "knha" else None
    if test == "knha":
        pvals = 2 * stats.t.sf(np.abs(stat), ddf)
        crit = stats.t.isf(alpha / 2, ddf)
    else:
        pvals = 2 * stats.norm.sf(np.abs(stat))
        crit = stats.norm.isf(alpha / 2)
    return _FixedEffects(beta, vb, se, stat, pvals, beta - crit * se, beta + crit * se, float(crit), ddf, s2w)


def _omnibus(
    beta: np.ndarray, vb: np.ndarray, intercept: bool, test: str, k: int
) -> tuple[float, int, int | None, float]:
    """metafor's QM: all coefficients but the intercept (the intercept alone in intercept-only models)."""
    p = beta.shape[0]
    btt = np.arange(1, p) if (intercept and p > 1) else np.arange(p)
    m = len(btt)
    bsub = beta[btt]
    try:
        QM = float(bsub @ np.linalg.solve(vb[np.ix_(btt, btt)], bsub))
    except np.linalg.LinAlgError:
        QM = math.nan
    if test == "knha":
        QM /= m
        return QM, m, k - p, float(stats.f.sf(QM, m, k - p))
    return QM, m, None, float(stats.chi2.sf(QM, m))


@dataclass
class _Heterogeneity:
    QE: float
    QEp: float
    I2: float
    H2: float
    vt: float


def _heterogeneity(ymc: np.ndarray, vi: np.ndarray, X: np.ndarray, tau2: float, fixed: bool) -> _Heterogeneity:
    """QE with equal-effects weights, I² and H² (from tau² and the typical variance vt)."""
    k, p = X.shape
    if k <= p:
        return _Heterogeneity(0.0, 1.0, 0.0, 1.0, 0.0)
    prf = _Projection(X, 1.0 / vi)
    QE = max(0.0, prf.quad(ymc))
    QEp = float(stats.chi2.sf(QE, k - p))
    vt = (k - p) / prf.tr()
    if fixed:
        I2 = max(0.0, 100.0 * (QE - (k - p)) / QE) if QE > 0 else 0.0
        H2 = QE / (k - p)
    else:
        I2 = 100.0 * tau2 / (vt + tau2)
        H2 = tau2 / vt + 1.0
    return _Heterogeneity(QE, QEp, I2, H2, vt)


def _fitstats_uni(yi: np.ndarray, vi: np.ndarray, X: np.ndarray, tau2: float, method: str, fixed: bool) -> dict:
    r"""metafor's ``fitstats`` for an rma.uni fit: ``ll, deviance, AIC, BIC, AICc, parms``.

    The REML column (with metafor's :math:`+	frac12\log|X'X|`) for ``method="REML"``, the ML
    column otherwise; parms = p (+ 1 for tau²); the ML deviance is relative to the saturated
    model :math:`\sum_i \log\phi(0; 0, v_i)`, the REML deviance is :math:`-2\ell`; BIC and AICc use
    ``k - p`` in place of ``k`` under REML.
    """
    k, p = X.shape
    reml = method == "REML"
    parms = p + (0 if fixed else 1)
    ll = _loglik(tau2, yi, vi, X, reml)
    if reml:
        ll += 0.5 * float(np.linalg.slogdet(X.T @ X)[1])
        dev = -2.0 * ll
        n = k - p
    else:
        dev = -2.0 * (ll - float(np.sum(-0.5 * np.log(2 * math.pi * vi))))
        n = k
    out = {"ll": float(ll), "deviance": float(dev), "AIC": -2.0 * ll + 2.0 * parms, "parms": parms}
    out["BIC"] = -2.0 * ll + parms * math.log(n) if n > 0 else math.nan
    big = max(n, parms + 2)
    out["AICc"] = -2.0 * ll + 2.0 * parms * big / (big - parms - 1)
    return out


def _pseudo_r2(yi: np.ndarray, vi: np.ndarray, method: str, tau2: float) -> float | None:
    r"""metafor's pseudo-R² (percent): :math:`\max(0, 100(\hat	au^2_0 - \hat	au^2)/\hat	au^2_0)`.

    :math:`\hat	au^2_0` is from the intercept-only model with the same estimator; ``None``
    when it is 0 (nothing to account for).
    """
    ymc = yi - np.mean(yi)
    t0 = _estimate_tau2(method, ymc, vi, np.ones((yi.shape[0], 1)), yi).tau2
    if t0 <= 0:
        return None
    return max(0.0, 100.0 * (t0 - tau2) / t0)


def predict(result: RMAResult, newmods=None, *, level: float | None = None) -> Prediction:
    r"""Predicted (average) effects with confidence and prediction intervals (metafor ``predict.rma``).

    For a row :math:`x` of the design,

    .. math::

        \hat\mu = x'\hat\beta, \quad SE = \sqrt{x' \operatorname{Var}(\hat\beta) x}, \quad
        \text{CI} = \hat\mu \pm c\, SE, \quad \text{PI} = \hat\mu \pm c \sqrt{SE^2 + \hat\tau^2},

    with :math:`c` the normal quantile, or the t quantile with :math:`k - p` df under
    ``test="knha"`` (metafor's default ``pi.type``; Riley et al. 2011 suggest k - 2 df instead).
    ``Var(beta)`` includes the Knapp-Hartung factor when it was used.

    For FE/EE models the prediction interval is NaN (metafor reports none).

    Parameters
    ----------
    result : RMAResult, RMAMVResult or RobustResult
        For a multilevel fit the prediction interval adds every variance component
        (:func:`metaquant.classical.rma_mv.predict_mv`); a cluster-robust result predicts with its robust
        covariance and df (:func:`metaquant.classical.robust.predict_robust`).
    newmods : array_like, optional
        Moderator values *without* the intercept.  ``None`` gives the pooled effect for an
        intercept-only model and the fitted values of the k studies otherwise.  For a model with
        one moderator a 1-D array gives one prediction per value; with several moderators a 1-D
        array is one row and a 2-D array has one row per prediction.
    level : float, optional
        Confidence level (default: the model's).

    Returns
    -------
    Prediction

    References
    ----------
    Riley RD, Higgins JPT, Deeks JJ (2011). Interpretation of random effects meta-analyses.
    *BMJ* 342:d549.
    """
    if getattr(result, "type", None) in ("CR0", "CR1", "CR2"):  # a cluster-robust result (robust.RobustResult)
        from .robust import predict_robust  # noqa: PLC0415

        if level is not None and level != result.level:
            raise ValueError("a cluster-robust fit predicts at its own level")
        df = predict_robust(result, newmods)
        return Prediction(*(df[c].to_numpy() for c in ("pred", "se", "ci_low", "ci_high", "pi_low", "pi_high")))
    if getattr(result, "alpha_coefficients", None) is not None:
        # a location-scale fit (metaquant.classical.rma_ls): the prediction interval needs the scale moderators
        # of the new rows, which only predict_ls takes (without them it is NaN, as metafor's)
        from .rma_ls import predict_ls  # noqa: PLC0415

        df = predict_ls(result, newmods, level=level)
        return Prediction(*(df[c].to_numpy() for c in ("pred", "se", "ci_low", "ci_high", "pi_low", "pi_high")))
    if getattr(result, "sigma2", None) is not None:
        # a multilevel fit (metaquant.classical.rma_mv, which does not import this module): its own
        # predict, so that callers of predict() need not know which model they hold
        from .rma_mv import predict_mv  # noqa: PLC0415

        if level is not None and level != result.level:
            raise ValueError("a multilevel fit predicts at its own level")
        df = predict_mv(result, newmods)
        return Prediction(*(df[c].to_numpy() for c in ("pred", "se", "ci_low", "ci_high", "pi_low", "pi_high")))
    alpha = _alpha(result.level if level is None else level)
    n_mods = result.p - (1 if result.intercept else 0)
    if newmods is None:
        Xn = np.ones((1, 1)) if result.int_only else result.X
    else:
        if result.int_only:
            raise ValueError("cannot give newmods for a model without moderators")
        a = np.asarray(newmods, dtype=float)
        if a.ndim == 0:
            a = a.reshape(1, 1)
        elif a.ndim == 1:
            a = a.reshape(-1, 1) if n_mods == 1 else a.reshape(1, -1)
        if a.ndim != 2 or a.shape[1] != n_mods:
            raise ValueError(f"newmods must have {n_mods} column(s) (moderators without the intercept)")
        if not np.all(np.isfinite(a)):
            raise ValueError("newmods contains non-finite values")
        Xn = np.column_stack([np.ones(a.shape[0]), a]) if result.intercept else a
    pred = Xn @ result.beta
    vpred = np.einsum("ij,jk,ik->i", Xn, result.vcov, Xn)
    vpred = np.where(vpred < 0, np.nan, vpred)
    se = np.sqrt(vpred)
    crit = stats.t.isf(alpha / 2, result.df) if result.test == "knha" else stats.norm.isf(alpha / 2)
    # metafor reports no prediction interval for FE/EE models
    half_pi = np.full_like(pred, np.nan) if result.is_fixed else crit * np.sqrt(vpred + result.tau2)
    return Prediction(
        pred=pred,
        se=se,
        ci_low=pred - crit * se,
        ci_high=pred + crit * se,
        pi_low=pred - half_pi,
        pi_high=pred + half_pi,
    )


# --------------------------------------------------------------------------------------------
# vectorised fast path
# --------------------------------------------------------------------------------------------
_BATCH_METHODS = ("FE", "EE", "DL", "HE", "HS", "SJ")


# Long on purpose: vectorised over datasets, the estimators are inlined as array expressions; splitting them per
# estimator would bring back the per-dataset loop this function exists to avoid.
def rma_batch(yi, vi, *, method: str = "DL", test: str = "z", level: float = 95.0) -> dict[str, np.ndarray]:
    """Vectorised intercept-only meta-analysis of many datasets with the same k.

    Equivalent to calling :func:`rma` on each row (same formulas; see the per-estimator
    docstrings), for the closed-form estimators FE/EE, DL, HE, HS and SJ.  Use it for
    simulations, bootstraps or sweeps over many (model, bit-width) cells.

    Parameters
    ----------
    yi, vi : array_like, shape (n, k)
        One dataset per row; k >= 2.
    method : {"FE", "EE", "DL", "HE", "HS", "SJ"}
    test : {"z", "knha"}
    level : float

    Returns
    -------
    dict of ndarray, shape (n,)
        Keys ``estimate, se, stat, pval, ci_low, ci_high, tau2, Q, Q_p, I2, H2, pi_low, pi_high``.
    """
    # one straight vectorised pass over all datasets; splitting it would only add array plumbing
    method = str(method).upper()
    if method not in _BATCH_METHODS:
        raise ValueError(f"rma_batch supports methods {', '.join(_BATCH_METHODS)}; use rma() for {method}")
    if str(test).lower() not in ("z", "knha", "hksj"):
        raise ValueError(f"unknown test {test!r}; choose 'z' or 'knha'")
    test = "knha" if str(test).lower() in ("knha", "hksj") else "z"
    y = np.asarray(yi, dtype=float)
    v = np.asarray(vi, dtype=float)
    if y.ndim != 2 or y.shape != v.shape:
        raise ValueError("yi and vi must be 2-D arrays of the same shape (n datasets x k studies)")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v))):
        raise ValueError("yi and vi must be finite")
    if np.any(v <= 0):
        raise ValueError("sampling variances vi must be > 0")
    n, k = y.shape
    if k < 2:
        raise ValueError("rma_batch needs k >= 2 studies per dataset")
    alpha = _alpha(level)
    ymc = y - y.mean(axis=1, keepdims=True)

    def q_stat(w):
        sw = w.sum(axis=1)
        mu = (w * ymc).sum(axis=1) / sw
        return (w * (ymc - mu[:, None]) ** 2).sum(axis=1), sw

    w0 = 1.0 / v
    Q, sw0 = q_stat(w0)
    trP = sw0 - (w0**2).sum(axis=1) / sw0
    df = k - 1
    if method in _FIXED:
        tau2 = np.zeros(n)
    elif method == "DL":
        tau2 = (Q - df) / trP
    elif method == "HS":
        tau2 = (Q - k) / sw0
    elif method == "HE":
        # y'P0y = sum (y - ybar)^2 ; tr(P0 V) = sum v (1 - 1/k)
        tau2 = ((ymc**2).sum(axis=1) - v.sum(axis=1) * (1 - 1 / k)) / df
    else:  # SJ
        t0 = (ymc**2).mean(axis=1)
        qs, _ = q_stat(1.0 / (v + t0[:, None]))
        tau2 = t0 * qs / df
    tau2 = np.maximum(tau2, 0.0)
    w = 1.0 / (v + tau2[:, None])
    sw = w.sum(axis=1)
    est = (w * y).sum(axis=1) / sw
    var = 1.0 / sw
    if test == "knha":
        rss = (w * (y - est[:, None]) ** 2).sum(axis=1)
        s2w = np.where(rss <= np.finfo(float).eps, 0.0, rss / df)
        var = var * s2w
        crit = stats.t.isf(alpha / 2, df)
    else:
        crit = stats.norm.isf(alpha / 2)
    se = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = est / se
    if method in _FIXED:
        half = np.full(n, np.nan)
    else:
        half = crit * np.sqrt(var + tau2)
    pval = 2 * (stats.t.sf(np.abs(stat), df) if test == "knha" else stats.norm.sf(np.abs(stat)))
    vt = df / trP
    if method in _FIXED:
        with np.errstate(divide="ignore", invalid="ignore"):
            I2 = np.where(Q > 0, np.maximum(0.0, 100.0 * (Q - df) / Q), 0.0)
        H2 = Q / df
    else:
        I2 = 100.0 * tau2 / (vt + tau2)
        H2 = tau2 / vt + 1.0
    return {
        "estimate": est,
        "se": se,
        "stat": stat,
        "pval": pval,
        "ci_low": est - crit * se,
        "ci_high": est + crit * se,
        "tau2": tau2,
        "Q": Q,
        "Q_p": stats.chi2.sf(Q, df),
        "I2": I2,
        "H2": H2,
        "pi_low": est - half,
        "pi_high": est + half,
    }


# --------------------------------------------------------------------------------------------
# model comparison
# --------------------------------------------------------------------------------------------
@dataclass
class AnovaResult:
    """Likelihood-ratio test between nested models (metafor ``anova(full, reduced)``)."""

    LRT: float
    df: int
    pval: float
    full: dict
    reduced: dict
    R2: float | None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return json_safe(
            {
                "LRT": self.LRT,
                "df": self.df,
                "pval": self.pval,
                "full": self.full,
                "reduced": self.reduced,
                "R2": self.R2,
                "warnings": list(self.warnings),
            }
        )

    def to_frame(self) -> pd.DataFrame:
        rows = [dict(model="full", **self.full), dict(model="reduced", **self.reduced)]
        df = pd.DataFrame(rows).set_index("model")
        df["LRT"] = [math.nan, self.LRT]
        df["pval"] = [math.nan, self.pval]
        return df


def anova(full, reduced) -> AnovaResult:
    r"""Likelihood-ratio test of a reduced model nested in a full one (metafor ``anova.rma``).

    :math:`LRT = 2(\ell_{full} - \ell_{reduced})`, referred to :math:`\chi^2` with the difference
    in the number of parameters (coefficients and variance components).  Works for
    :class:`RMAResult` (ML/REML) and :class:`metaquant.classical.rma_mv.RMAMVResult` fits.  Models that
    differ in their fixed effects must be fitted by ML (a REML comparison of them is said in
    ``warnings``, as metafor warns).  ``R2`` is metafor's proportional reduction in tau² of the
    reduced model (rma.uni fits only).
    """
    for r in (full, reduced):
        if not getattr(r, "fitstats", None):
            raise ValueError("anova() needs fits with fit statistics (rma or rma_mv results)")
    if full.method != reduced.method:
        raise ValueError(f"the models were fitted by different methods ({full.method}, {reduced.method})")
    if full.k != reduced.k:
        raise ValueError(f"the models were fitted to different data (k = {full.k} and {reduced.k})")
    msgs: list[str] = []
    pf, pr_ = full.fitstats["parms"], reduced.fitstats["parms"]
    if pf < pr_:
        full, reduced, pf, pr_ = reduced, full, pr_, pf
    if pf == pr_:
        raise ValueError("the models have the same number of parameters: they are not nested")
    same_fixed = full.X.shape == reduced.X.shape and np.allclose(full.X, reduced.X)
    if full.method == "REML" and not same_fixed:
        msgs.append("REML comparisons of models with different fixed effects are not meaningful: refit with ML")
    lrt = max(0.0, 2.0 * (full.fitstats["ll"] - reduced.fitstats["ll"]))
    df = int(pf - pr_)
    r2 = None
    if hasattr(full, "tau2") and hasattr(reduced, "tau2") and reduced.tau2 > 0:
        r2 = max(0.0, 100.0 * (reduced.tau2 - full.tau2) / reduced.tau2)

    def row(r):
        f = r.fitstats
        return {"df": f["parms"], "AIC": f["AIC"], "BIC": f["BIC"], "AICc": f["AICc"], "logLik": f["ll"]}

    return AnovaResult(lrt, df, float(stats.chi2.sf(lrt, df)), row(full), row(reduced), r2, msgs)


@dataclass
class SubgroupQ:
    """Between-subgroup heterogeneity test (see :func:`subgroup_q`)."""

    Q: float
    df: int
    pval: float
    kind: str
    groups: pd.DataFrame

    def to_dict(self) -> dict:
        return json_safe(
            {
                "Q": self.Q,
                "df": self.df,
                "pval": self.pval,
                "kind": self.kind,
                "groups": self.groups.reset_index().to_dict(orient="records"),
            }
        )


def subgroup_q(yi, vi, groups, *, method: str = "REML", kind: str = "separate", level: float = 95.0) -> SubgroupQ:
    r"""Test whether the pooled effect differs between subgroups.

    ``kind="separate"`` (RevMan's and the ``meta`` package's Q-between): each subgroup is pooled
    on its own (its own tau²), and the subgroup estimates :math:`\hat\mu_g` with standard errors
    :math:`s_g` are compared by the fixed-effect test
    :math:`Q_B = \sum_g (\hat\mu_g - \bar\mu)^2/s_g^2`, :math:`\bar\mu` their inverse-variance
    mean, on ``G - 1`` df (metafor: ``rma(est, sei=se, mods=~group, method="FE")``).
    ``kind="common"``: the omnibus test QM of the categorical moderator in one mixed-effects
    model with a common tau² (``rma(yi, vi, mods=~factor(group))``).

    Returns
    -------
    SubgroupQ
        ``Q``, ``df``, ``pval`` and a frame of the subgroups (``k``, ``estimate``, ``se``,
        ``tau2``).
    """
    y = _as_1d(yi, "yi")
    v = _as_1d(vi, "vi")
    g = np.asarray(groups).astype(str)
    if g.shape != y.shape or v.shape != y.shape:
        raise ValueError("yi, vi and groups must have the same length")
    levels = sorted(set(g.tolist()))
    if len(levels) < 2:
        raise ValueError("subgroup_q needs at least two subgroups")
    rows = []
    for lev in levels:
        sel = g == lev
        r = rma(y[sel], v[sel], method="FE" if sel.sum() == 1 else method, level=level)
        rows.append({"group": lev, "k": int(sel.sum()), "estimate": r.estimate, "se": r.se, "tau2": r.tau2})
    frame = pd.DataFrame(rows).set_index("group")
    if kind == "separate":
        est, se = frame["estimate"].to_numpy(), frame["se"].to_numpy()
        w = 1.0 / se**2
        mu = float(np.sum(w * est) / np.sum(w))
        Q = float(np.sum(w * (est - mu) ** 2))
        df = len(levels) - 1
        return SubgroupQ(Q, df, float(stats.chi2.sf(Q, df)), kind, frame)
    if kind == "common":
        D = (g[:, None] == np.array(levels[1:])[None, :]).astype(float)
        r = rma(y, v, mods=D, mod_names=levels[1:], method=method, level=level)
        return SubgroupQ(r.QM, r.QM_df, r.QM_p, kind, frame)
    raise ValueError(f"unknown kind {kind!r}; choose 'separate' or 'common'")
