"""Profile-likelihood CI of tau², the likelihood profile, cumulative meta-analysis and permutation tests.

Each mirrors a metafor function for an :func:`metaquant.classical.rma.rma` fit:

* :func:`confint_pl`: ``confint(res, type="PL")``, the tau² values whose (restricted) log-likelihood lies
  within :math:`\\chi^2_{1;1-\\alpha}/2` of its maximum, with the I² and H² bounds they imply;
* :func:`profile_tau2`: ``profile(res)``, the log-likelihood over a grid of tau² (drawn by
  :func:`metaquant.present.uncertainty_plots.profile_plot`);
* :func:`cumul`: ``cumul.rma.uni``, the model refitted on the first 1, 2, ..., k rows in a given order;
* :func:`permutest`: ``permutest.rma.uni``, p-values from sign flips (intercept-only models) or from
  permutations of the rows of the design (meta-regression); exact where the number of distinct
  permutations is at most ``iter``, else ``iter`` random ones (the observed one first, as metafor).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .rma import _FIXED, _TAU2_ESTIMATORS, RMAResult, _alpha, _loglik, rma

__all__ = ["PLInterval", "PermutationTest", "confint_pl", "cumul", "permutest", "profile_tau2"]

#: metafor's ``comptol``: a permuted statistic counts as extreme when within this of the observed one.
_COMPTOL = np.sqrt(np.finfo(float).eps)


def _need_rma(res) -> RMAResult:
    if not isinstance(res, RMAResult):
        raise TypeError(f"expected a result of rma(), got {type(res).__name__}")
    return res


def _int_only(res: RMAResult) -> bool:
    """An intercept-only model (a single column of ones, however it was given), as metafor's ``int.only``."""
    return res.p == 1 and bool(np.all(res.X[:, 0] == 1.0))


def _reml(res: RMAResult) -> bool:
    if res.method not in ("REML", "ML"):
        raise ValueError(f"a profile likelihood needs an ML or REML fit, not {res.method}")
    return res.method == "REML"


@dataclass
class PLInterval:
    """Profile-likelihood interval of tau² (and of tau, I², H²) at ``level`` %."""

    level: float
    tau2: tuple[float, float, float]
    tau: tuple[float, float, float]
    I2: tuple[float, float, float]
    H2: tuple[float, float, float]
    warnings: list[str] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """One row per quantity: ``estimate, ci_low, ci_high`` (I² in %)."""
        rows = {"tau^2": self.tau2, "tau": self.tau, "I^2(%)": self.I2, "H^2": self.H2}
        return pd.DataFrame(rows, index=["estimate", "ci_low", "ci_high"]).T


def confint_pl(res: RMAResult, level: float | None = None, *, upper: float | None = None) -> PLInterval:
    r"""Profile-likelihood confidence interval of tau² (metafor ``confint(res, type="PL")``).

    The bounds solve :math:`\ell(\tau^2) = \ell(\hat\tau^2) - \chi^2_{1;1-\alpha}/2` on either side of
    :math:`\hat\tau^2`, with :math:`\ell` the ML or restricted (REML) log-likelihood with the coefficients
    profiled out.  A bound is 0 when :math:`\ell(0)` lies above the cut.  I² and H² bounds follow from the
    tau² bounds through the typical sampling variance (``res.vt``), as metafor computes them.

    Parameters
    ----------
    res : RMAResult
        An ML or REML fit.
    level : float, optional
        Interval level in % (default: the fit's).
    upper : float, optional
        End of the search for the upper bound (default metafor's ``max(100, 10 tau²)``, widened until
        the log-likelihood lies below the cut).
    """
    res = _need_rma(res)
    reml = _reml(res)
    alpha = _alpha(res.level if level is None else level)
    y, vi, X, t2 = res.yi, res.vi, res.X, float(res.tau2)
    cut = _loglik(t2, y, vi, X, reml) - stats.chi2.isf(alpha, 1) / 2.0

    def f(t: float) -> float:
        return _loglik(t, y, vi, X, reml) - cut

    msgs = []
    lb = 0.0 if f(0.0) > 0 else optimize.brentq(f, 0.0, t2, xtol=1e-14, rtol=1e-13, maxiter=500)
    hi = max(100.0, 10.0 * t2) if upper is None else float(upper)
    grow = 0
    while f(hi) > 0 and upper is None and grow < 20:
        hi, grow = hi * 10.0, grow + 1
    if f(hi) > 0:
        ub = hi
        msgs.append(f"the upper bound lies beyond {hi:g}: it is reported as that end")
    else:
        ub = optimize.brentq(f, t2, hi, xtol=1e-14, rtol=1e-13, maxiter=500)
    tau2 = (t2, float(lb), float(ub))
    vt = res.vt
    return PLInterval(level=100.0 * (1 - alpha), tau2=tau2, tau=tuple(math.sqrt(x) for x in tau2),
                      I2=tuple(100.0 * x / (vt + x) for x in tau2), H2=tuple(x / vt + 1.0 for x in tau2),
                      warnings=msgs)  # fmt: skip


def profile_tau2(res: RMAResult, tau2=None, *, steps: int = 20) -> pd.DataFrame:
    """The (restricted) log-likelihood over a grid of tau² (metafor ``profile(res)``).

    Parameters
    ----------
    res : RMAResult
        An ML or REML fit.
    tau2 : sequence of float, optional
        The grid (default: ``steps`` points evenly from the lower to the upper bound of the 95 %
        profile-likelihood interval, widened to include the estimate and a margin, as metafor draws).
    steps : int
        Points of the default grid.

    Returns
    -------
    DataFrame
        ``tau2, ll`` (``ll`` as metafor's ``logLik``, with the constant 0.5 log|X'X| of a REML fit);
        ``attrs`` hold the estimate (``tau2_hat``), the maximum (``ll_max``) and the 95 % cut (``ll_cut``).
    """
    res = _need_rma(res)
    reml = _reml(res)
    if tau2 is None:
        ci = confint_pl(res, 95.0).tau2
        lo, hi = max(0.0, ci[1] - 0.1 * (ci[2] - ci[1])), ci[2] + 0.1 * (ci[2] - ci[1])
        grid = np.linspace(lo, max(hi, 1e-4), int(steps))
    else:
        grid = np.asarray(tau2, dtype=float).ravel()
        if grid.size == 0 or np.any(~np.isfinite(grid)) or np.any(grid < 0):
            raise ValueError("tau2 must be finite values >= 0")
    # metafor's logLik of a REML fit carries the constant 0.5 log|X'X| (its REMLf = TRUE)
    const = 0.5 * np.linalg.slogdet(res.X.T @ res.X)[1] if reml else 0.0
    ll = np.array([_loglik(float(t), res.yi, res.vi, res.X, reml) for t in grid]) + const
    out = pd.DataFrame({"tau2": grid, "ll": ll})
    llmax = _loglik(float(res.tau2), res.yi, res.vi, res.X, reml) + const
    out.attrs.update(tau2_hat=float(res.tau2), ll_max=llmax, ll_cut=llmax - stats.chi2.isf(0.05, 1) / 2.0,
                     method=res.method)  # fmt: skip
    return out


def _refit_stats(yi: np.ndarray, vi: np.ndarray, X: np.ndarray, method: str, test: str,
                 intercept: bool) -> tuple[np.ndarray, float]:
    """The test statistics of the coefficients and metafor's QM of a refit (what :func:`rma` gives, less the rest).

    tau² by the fit's estimator on centred outcomes (as :func:`rma`), truncated at 0; then the WLS
    coefficients, their z (or Knapp-Hartung t) values and QM over every coefficient but the intercept.
    """
    k, p = X.shape
    tau2 = 0.0 if method in _FIXED else max(0.0, float(_TAU2_ESTIMATORS[method](yi - yi.mean(), vi, X, yi)[0]))
    w = 1.0 / (vi + tau2)
    vb = np.linalg.inv(X.T @ (w[:, None] * X))
    beta = vb @ (X.T @ (w * yi))
    if test == "knha":
        rss = float(np.sum(w * (yi - X @ beta) ** 2))
        vb = vb * (0.0 if rss <= np.finfo(float).eps else rss / (k - p))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / np.sqrt(np.diag(vb))
    btt = np.arange(1, p) if (intercept and p > 1) else np.arange(p)
    qm = float(beta[btt] @ np.linalg.solve(vb[np.ix_(btt, btt)], beta[btt]))
    return stat, (qm / len(btt) if test == "knha" else qm)


def cumul(res: RMAResult, order=None) -> pd.DataFrame:
    """Cumulative meta-analysis (metafor ``cumul.rma.uni``): the fit on the first 1, 2, ..., k rows.

    Parameters
    ----------
    res : RMAResult
        An intercept-only fit (as metafor, models with moderators are refused).
    order : array_like, optional
        One sort key per row (a year, a publication date, any column); rows are added in increasing
        order of the key, ties in their original order.  Default: the rows as they are.

    Returns
    -------
    DataFrame
        One row per step: ``row`` (0-based position in the fit), ``k``, ``estimate, se, stat, pval,
        ci_low, ci_high, Q, Q_p, tau2, I2, H2`` (I² in %).
    """
    res = _need_rma(res)
    if not _int_only(res):
        raise ValueError("cumulative meta-analysis is for models without moderators (as metafor's cumul)")
    k = res.k
    if order is None:
        idx = np.arange(k)
    else:
        key = pd.Series(np.asarray(order).ravel() if not isinstance(order, pd.Series) else order.to_numpy())
        if len(key) != k:
            raise ValueError(f"order has {len(key)} values but the model has {k} rows")
        if key.isna().any():
            raise ValueError(f"order has a missing value at row {int(np.flatnonzero(key.isna())[0]) + 1}")
        idx = np.argsort(key.to_numpy(), kind="stable")
    rows = []
    for j in range(1, k + 1):
        sel = idx[:j]
        r = rma(res.yi[sel], res.vi[sel], method=res.method, test=res.test, level=res.level)
        rows.append({"row": int(idx[j - 1]), "k": j, "estimate": r.estimate, "se": r.se, "stat": r.stat,
                     "pval": r.pval, "ci_low": r.ci_low, "ci_high": r.ci_high, "Q": r.Q, "Q_p": r.Q_p,
                     "tau2": r.tau2, "I2": r.I2, "H2": r.H2})  # fmt: skip
    return pd.DataFrame(rows)


@dataclass
class PermutationTest:
    """Permutation p-values of each coefficient (``pval``) and of the omnibus test (``QM_p``)."""

    names: list[str]
    stat: np.ndarray
    pval: np.ndarray
    QM: float
    QM_p: float
    exact: bool
    iterations: int
    seed: int | None = None

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"stat": self.stat, "pval_perm": self.pval}, index=pd.Index(self.names, name="term"))


def _unique_perms(rows: np.ndarray) -> np.ndarray:
    """Every distinct ordering of the rows (as index arrays), without repeats of equal rows."""
    _, codes = np.unique(rows, axis=0, return_inverse=True)
    codes = codes.ravel()
    seen, out = set(), []
    for perm in itertools.permutations(range(len(codes))):
        key = tuple(codes[list(perm)])
        if key not in seen:
            seen.add(key)
            out.append(perm)
    return np.asarray(out, dtype=int)


def _n_unique_perms(rows: np.ndarray) -> float:
    _, counts = np.unique(rows, axis=0, return_counts=True)
    return math.factorial(len(rows)) / math.prod(math.factorial(int(c)) for c in counts)


def permutest(res: RMAResult, *, exact: bool | None = None, iter: int = 1000, seed: int | None = 20240521,
              max_exact: int = 50_000) -> PermutationTest:
    """Permutation test of an :func:`~metaquant.classical.rma.rma` fit (metafor ``permutest.rma.uni``).

    Intercept-only models: the signs of the outcomes are flipped (all :math:`2^k` sign vectors when exact).
    Meta-regression: the rows of the design are permuted against the outcomes (every distinct permutation
    when exact).  Each permuted data set is refitted with the same method and test; the two-sided p-value
    of a coefficient is the share of permuted fits with ``|stat*| >= |stat| - comptol`` and that of the
    omnibus test the share with ``QM* >= QM - comptol`` (metafor's defaults).  The test is exact when
    ``exact`` is true or the number of distinct permutations is at most ``iter``; otherwise ``iter`` random
    permutations from ``seed``, the first being the observed data (metafor's random stream differs, so
    such p-values agree with metafor within Monte Carlo error, about ``sqrt(p(1-p)/iter)``).
    """
    res = _need_rma(res)
    if not isinstance(iter, int) or isinstance(iter, bool) or iter < 2:
        raise ValueError("iter must be an integer >= 2")
    k = res.k
    int_only = _int_only(res)
    n_exact = 2.0**k if int_only else _n_unique_perms(res.X)
    is_exact = bool(exact) or n_exact <= iter
    if is_exact and n_exact > max_exact:
        raise ValueError(f"an exact test needs {n_exact:.0f} refits (more than {max_exact}); give exact=False")
    stat0 = np.array([c["stat"] for c in res.coefficients])
    rng = None if is_exact else np.random.default_rng(seed)
    if int_only:
        if is_exact:  # expand.grid order: the first row varies fastest
            signs = 1.0 - 2.0 * ((np.arange(int(n_exact))[:, None] >> np.arange(k)) & 1)
        else:
            signs = rng.choice([-1.0, 1.0], size=(iter, k))
            signs[0] = 1.0
        perms = [None] * len(signs)
    else:
        perms = _unique_perms(res.X) if is_exact else np.array([np.arange(k)] + [rng.permutation(k)
                                                                                  for _ in range(iter - 1)])
        signs = [None] * len(perms)
    stats_, qms = [], []
    for s, p in zip(signs, perms, strict=True):
        try:
            st, qm = _refit_stats(s * res.yi if int_only else res.yi, res.vi, res.X if int_only else res.X[p],
                                  res.method, res.test, res.intercept)  # fmt: skip
        except (ValueError, ArithmeticError, np.linalg.LinAlgError):
            continue  # metafor skips a permuted fit that fails
        stats_.append(st)
        qms.append(qm)
    st, qm = np.asarray(stats_), np.asarray(qms)
    pval = np.minimum(np.mean(np.abs(st) >= np.abs(stat0) - _COMPTOL, axis=0), 1.0)
    qmp = float(np.mean(qm >= res.QM - _COMPTOL))
    return PermutationTest(names=list(res.coef_names), stat=stat0, pval=pval, QM=float(res.QM), QM_p=qmp,
                           exact=is_exact, iterations=len(st), seed=None if is_exact else seed)  # fmt: skip
