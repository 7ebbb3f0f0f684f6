"""Location-scale meta-regression, numerically matched to metafor's ``rma(yi, vi, mods =, scale =)`` (3.8).

The model (Viechtbauer & López-López 2022) lets the between-study variance
depend on moderators of its own:

.. math::

    y_i = x_i'\\beta + u_i + \\varepsilon_i, \\qquad u_i \\sim N(0, \\tau_i^2), \\qquad
    \\log \\tau_i^2 = z_i'\\alpha, \\qquad \\varepsilon_i \\sim N(0, v_i),

fitted by maximum or restricted maximum likelihood (``method="ML"``/``"REML"``,
metafor's ``link = "log"``).  Given :math:`\\alpha`, :math:`\\beta` is the
weighted least-squares estimate with :math:`w_i = 1/(v_i + \\tau_i^2)` and
:math:`\\operatorname{Var}(\\hat\\beta) = (X'WX)^{-1}`; :math:`\\alpha` maximises
the profile (restricted) log-likelihood, and its covariance matrix is the
inverse of the negative Hessian of that log-likelihood at the maximum, as
metafor's ``va`` (which differentiates numerically with ``numDeriv``; here the
Hessian is analytic).

It is written here with numpy and scipy because statsmodels (and every other
Python library in the project's dependencies) has no location-scale
meta-regression; :func:`metaquant.classical.rma.rma` is the homoscedastic model
(``scale = ~ 1``).  Linear algebra never forms a k x k matrix: with
``sqrt(W) X = Q R``, the projection ``P = D (I - Q Q') D`` (``D = diag(sqrt(w))``)
enters only through O(k p²) expressions, so fits on thousands of rows stay fast.

References
----------
Viechtbauer W, López-López JA (2022). Location-scale models for meta-analysis.
*Research Synthesis Methods* 13:697-715.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, stats

from ..outputs import json_safe
from ..results import FitStatistics
from .level import level_alpha as _alpha

# this module does not import metaquant.classical.rma (whose predict() dispatches here): no import cycle

__all__ = ["RMALSResult", "predict_ls", "predict_scale", "rma_ls"]

METHODS = ("REML", "ML")
_MAXITER = 500
#: Convergence: the largest step in alpha and the change of the log-likelihood (relative).
_STEP_TOL = 1e-10
_LL_TOL = 1e-14
#: A row whose tau² is below the median sampling variance times exp(-_BOUNDARY) is at the boundary (tau² = 0).
_BOUNDARY = 25.0
#: The largest change of any row's log tau² in one step of the search.
_MAX_LOG_STEP = 4.0


@dataclass
class RMALSResult(FitStatistics):
    """Result of :func:`rma_ls`, mirroring the fields of a metafor ``rma.ls`` object.

    ``coefficients`` (location, metafor's ``beta``) and ``alpha_coefficients``
    (scale, metafor's ``alpha``) hold one dict per coefficient (``name``,
    ``estimate``, ``se``, ``stat``, ``p``, ``ci_low``, ``ci_high``); ``tau2`` is
    the between-study variance of each row (``exp(Z alpha)``).  ``QM`` tests the
    location moderators, ``QS`` the scale ones (both chi² tests).
    """

    method: str
    k: int
    p: int
    q: int
    level: float
    coefficients: list[dict]
    alpha_coefficients: list[dict]
    tau2: np.ndarray
    QM: float
    QM_df: int
    QM_p: float
    QS: float
    QS_df: int
    QS_p: float
    QE: float
    QE_df: int
    QE_p: float
    converged: bool
    iterations: int
    warnings: list[str] = field(default_factory=list)
    beta: np.ndarray = field(default=None, repr=False)
    vcov: np.ndarray = field(default=None, repr=False)
    alpha: np.ndarray = field(default=None, repr=False)
    vcov_alpha: np.ndarray = field(default=None, repr=False)
    X: np.ndarray = field(default=None, repr=False)
    Z: np.ndarray = field(default=None, repr=False)
    yi: np.ndarray = field(default=None, repr=False)
    vi: np.ndarray = field(default=None, repr=False)
    coef_names: list[str] = field(default_factory=list, repr=False)
    scale_names: list[str] = field(default_factory=list, repr=False)
    fitstats: dict = field(default_factory=dict)
    test: str = "z"
    intercept: bool = True
    is_fixed = False
    QM_ddf = None

    # the first coefficient, as RMAResult names it
    @property
    def estimate(self) -> float:
        return self.coefficients[0]["estimate"]

    @property
    def se(self) -> float:
        return self.coefficients[0]["se"]

    @property
    def ci_low(self) -> float:
        return self.coefficients[0]["ci_low"]

    @property
    def ci_high(self) -> float:
        return self.coefficients[0]["ci_high"]

    @property
    def int_only(self) -> bool:
        return self.p == 1

    def describe(self) -> str:
        """The model in words: ``location-scale REML, log τ² ~ log2(bits) + act_bits``."""
        terms = " + ".join(self.scale_names[1:]) or "1"
        return f"location-scale {self.method}, log τ² ~ {terms}"

    def to_dict(self) -> dict:
        """JSON-serialisable fields (NaN and infinities become ``None``)."""
        c0 = self.coefficients[0]
        return json_safe({
            "method": self.method, "model": "location-scale", "description": self.describe(), "test": self.test,
            "k": self.k, "p": self.p, "q": self.q, "level": self.level, "estimate": c0["estimate"], "se": c0["se"],
            "stat": c0["stat"], "zval": c0["stat"], "pval": c0["p"], "ci_low": c0["ci_low"], "ci_high": c0["ci_high"],
            "coefficients": self.coefficients, "alpha": self.alpha_coefficients,
            "tau2": float(np.median(self.tau2)), "tau2_min": float(np.min(self.tau2)),
            "tau2_max": float(np.max(self.tau2)), "QM": self.QM, "QM_df": self.QM_df, "QM_p": self.QM_p,
            "QS": self.QS, "QS_df": self.QS_df, "QS_p": self.QS_p, "Q": self.QE, "Q_df": self.QE_df,
            "Q_p": self.QE_p, "converged": self.converged, "iterations": self.iterations,
            "warnings": list(self.warnings), "fitstats": dict(self.fitstats),
        })

    def summary(self) -> pd.DataFrame:
        """Tidy coefficient table, location then scale (index ``term``; scale terms prefixed ``scale:``)."""
        rows = [dict(c) for c in self.coefficients] + [{**c, "name": f"scale:{c['name']}"}
                                                       for c in self.alpha_coefficients]
        df = pd.DataFrame(rows).set_index("name")
        df.index.name = "term"
        return df[["estimate", "se", "stat", "p", "ci_low", "ci_high"]]


# --------------------------------------------------------------------------------------------
# the (restricted) log-likelihood and its derivatives in alpha
# --------------------------------------------------------------------------------------------
@dataclass
class _State:
    """Everything the likelihood and its derivatives need at one alpha."""

    tau2: np.ndarray
    w: np.ndarray
    Q: np.ndarray  # thin Q of sqrt(W) X
    R: np.ndarray
    py: np.ndarray  # P y
    beta: np.ndarray
    ll: float


def _state(alpha: np.ndarray, y: np.ndarray, v: np.ndarray, X: np.ndarray, Z: np.ndarray, reml: bool) -> _State | None:
    eta = Z @ alpha
    if not np.all(np.isfinite(eta)) or np.max(eta) > 700:
        return None
    tau2 = np.exp(eta)
    tot = v + tau2
    if not np.all(tot > 0):
        return None
    w = 1.0 / tot
    s = np.sqrt(w)
    Q, R = linalg.qr(s[:, None] * X, mode="economic")
    diag = np.abs(np.diag(R))
    if diag.size and diag.min() <= 1e-13 * max(diag.max(), 1e-300):
        return None
    sy = s * y
    qty = Q.T @ sy
    beta = linalg.solve_triangular(R, qty)
    py = s * (sy - Q @ qty)
    k, p = X.shape
    rss = float(y @ py)
    if reml:
        ll = (-0.5 * (k - p) * math.log(2 * math.pi) + 0.5 * np.linalg.slogdet(X.T @ X)[1]
              - 0.5 * float(np.sum(np.log(tot))) - float(np.sum(np.log(diag))) - 0.5 * rss)
    else:
        ll = -0.5 * k * math.log(2 * math.pi) - 0.5 * float(np.sum(np.log(tot))) - 0.5 * rss
    return _State(tau2, w, Q, R, py, beta, ll)


def _p_times(st: _State, u: np.ndarray) -> np.ndarray:
    """``P u`` for the columns of ``u`` (k x m) without forming ``P``."""
    s = np.sqrt(st.w)[:, None]
    su = s * u
    return s * (su - st.Q @ (st.Q.T @ su))


def _pp_quad(st: _State, a: np.ndarray) -> np.ndarray:
    """``a' (P ∘ P) a`` for the columns of ``a`` (k x m): the REML information of the tau² of each row."""
    w, Q = st.w, st.Q
    h = np.einsum("ij,ij->i", Q, Q)
    first = (a * (w**2 * (1 - 2 * h))[:, None]).T @ a
    # sum_ij a_i w_i (q_i . q_j)^2 w_j b_j = <G_a, G_b> with G_a = sum_i a_i w_i q_i q_i'
    G = np.einsum("im,i,ij,il->mjl", a, w, Q, Q)
    return first + np.einsum("mjl,njl->mn", G, G)


def _derivatives(st: _State, Z: np.ndarray, reml: bool, *, observed: bool) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and negative Hessian (observed) or Fisher information (expected) of the log-likelihood in alpha."""
    w, py, tau2 = st.w, st.py, st.tau2
    pii = w * (1 - np.einsum("ij,ij->i", st.Q, st.Q)) if reml else w
    g_theta = 0.5 * (py**2 - pii)  # d ll / d tau2_i
    C = tau2[:, None] * Z  # d tau2_i / d alpha
    grad = C.T @ g_theta
    info = 0.5 * (_pp_quad(st, C) if reml else (C * (w**2)[:, None]).T @ C)
    if not observed:
        return grad, info
    # d² ll = C' (1/2 P∘P - diag(Py) P diag(Py)) C + Z' diag(g tau2) Z  (REML; ML: 1/2 W² for 1/2 P∘P)
    U = C * py[:, None]
    neg_h = U.T @ _p_times(st, U) - info - (Z * (g_theta * tau2)[:, None]).T @ Z
    return grad, neg_h


def _start(y: np.ndarray, v: np.ndarray, X: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Starting values: log of the method-of-moments tau² of the OLS residuals, regressed on Z."""
    b, *_ = np.linalg.lstsq(X, y, rcond=None)
    e2 = (y - X @ b) ** 2
    k, p = X.shape
    level = max(float(np.sum(e2 - v) / max(k - p, 1)), 1e-4 * float(np.mean(e2)) + 1e-12)
    alpha = np.zeros(Z.shape[1])
    intercept = np.flatnonzero(np.all(Z == 1, axis=0))
    if intercept.size:
        alpha[intercept[0]] = math.log(level)
    else:
        alpha, *_ = np.linalg.lstsq(Z, np.full(k, math.log(level)), rcond=None)
    return alpha


def _maximise(y, v, X, Z, reml: bool) -> tuple[np.ndarray, _State, int, bool]:
    """Fisher scoring with step halving, then Newton steps on the observed Hessian near the maximum.

    A step changes no row's log tau² by more than :data:`_MAX_LOG_STEP`.  Where a row's tau² heads to 0 (the
    boundary of the log link, ``alpha`` unbounded) the search stops once that tau² is negligible beside the
    sampling variances and the likelihood no longer moves; :func:`rma_ls` then says so.
    """
    alpha = _start(y, v, X, Z)
    st = _state(alpha, y, v, X, Z, reml)
    if st is None:
        raise ValueError("the starting values of the scale model give no finite likelihood")
    floor = math.log(max(float(np.median(v)), 1e-300)) - _BOUNDARY
    converged = False
    it = 0
    for it in range(1, _MAXITER + 1):
        grad, info = _derivatives(st, Z, reml, observed=False)
        observed = False
        if it > 3:  # Newton where the observed information is positive definite (faster near the maximum)
            _, neg_h = _derivatives(st, Z, reml, observed=True)
            if np.all(np.linalg.eigvalsh(neg_h) > 0):
                info, observed = neg_h, True
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(info, grad, rcond=None)[0]
        largest = float(np.max(np.abs(Z @ step)))
        if largest > _MAX_LOG_STEP:
            step *= _MAX_LOG_STEP / largest
        t, new = 1.0, None
        for _ in range(60):
            cand = _state(alpha + t * step, y, v, X, Z, reml)
            if cand is not None and cand.ll >= st.ll - 1e-12 * abs(st.ll):
                new = cand
                break
            t /= 2
        if new is None:
            converged = bool(np.max(np.abs(grad)) < 1e-6)
            break
        moved = abs(new.ll - st.ll)
        done = (np.max(np.abs(t * step)) < _STEP_TOL * (1 + np.max(np.abs(alpha)))
                or (observed and moved <= _LL_TOL * (1 + abs(st.ll)) and np.max(np.abs(t * step)) < 1e-7))
        alpha, st = alpha + t * step, new
        if done:
            converged = True
            break
        if np.min(Z @ alpha) < floor and moved <= 1e-10 * (1 + abs(st.ll)):
            converged = True  # at the boundary: the likelihood has stopped moving
            break
    return alpha, st, it, converged


def _coef_table(est: np.ndarray, vc: np.ndarray, names: list[str], crit: float) -> list[dict]:
    se = np.sqrt(np.where(np.diag(vc) >= 0, np.diag(vc), np.nan))
    z = est / se
    p = 2 * stats.norm.sf(np.abs(z))
    return [{"name": n, "estimate": float(b), "se": float(s), "stat": float(zz), "p": float(pp),
             "ci_low": float(b - crit * s), "ci_high": float(b + crit * s)}
            for n, b, s, zz, pp in zip(names, est, se, z, p, strict=True)]


def _omnibus(est: np.ndarray, vc: np.ndarray, idx: list[int]) -> tuple[float, int, float]:
    if not idx:
        return math.nan, 0, math.nan
    b = est[idx]
    try:
        q = float(b @ np.linalg.solve(vc[np.ix_(idx, idx)], b))
    except np.linalg.LinAlgError:
        return math.nan, len(idx), math.nan
    return q, len(idx), float(stats.chi2.sf(q, len(idx)))


def _design(m, k: int, names, what: str) -> tuple[np.ndarray, list[str]]:
    """A design with an intercept column first (``intrcpt``) from moderators without one."""
    if m is None:
        return np.ones((k, 1)), ["intrcpt"]
    if isinstance(m, pd.DataFrame):
        names = list(m.columns) if names is None else names
    a = np.asarray(m, dtype=float)
    a = a.reshape(-1, 1) if a.ndim == 1 else a
    if a.ndim != 2 or a.shape[0] != k:
        raise ValueError(f"{what} must have one row per effect ({k})")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what} contain non-finite values")
    names = [f"{what[:-1]}{j + 1}" for j in range(a.shape[1])] if names is None else [str(n) for n in names]
    if len(names) != a.shape[1]:
        raise ValueError(f"{what}: {len(names)} names for {a.shape[1]} columns")
    return np.column_stack([np.ones(k), a]), ["intrcpt", *names]


def rma_ls(yi, vi, *, mods=None, scale=None, mod_names=None, scale_names=None, method: str = "REML",
           level: float = 95.0) -> RMALSResult:
    """Fit a location-scale meta-regression (metafor's ``rma(yi, vi, mods = ~ X, scale = ~ Z)``, log link).

    Parameters
    ----------
    yi, vi : array_like, shape (k,)
        Effect sizes and their sampling variances (finite, ``vi >= 0``).
    mods, scale : array_like, shape (k,) or (k, m), optional
        Location and scale moderators *without* the intercept (each model gets one).
    mod_names, scale_names : sequence of str, optional
        Their column names (default: a DataFrame's columns, else ``mod1``, ... / ``scale1``, ...).
    method : {"REML", "ML"}
    level : float
        Confidence level in percent.

    Returns
    -------
    RMALSResult

    Raises
    ------
    ValueError
        Bad input, a location or scale design that is not of full rank, fewer rows than
        location and scale coefficients, or a likelihood that cannot be evaluated.
    """
    method = str(method).upper()
    if method not in METHODS:
        raise ValueError(f"a location-scale model is fitted by REML or ML, not {method}")
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    k = y.size
    if v.size != k:
        raise ValueError("yi and vi must have the same length")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v)) and np.all(v >= 0)):
        raise ValueError("yi must be finite and vi finite and non-negative")
    X, xnames = _design(mods, k, mod_names, "mods")
    Z, znames = _design(scale, k, scale_names, "scales")
    p, q = X.shape[1], Z.shape[1]
    for M, what in ((X, "location"), (Z, "scale")):
        if np.linalg.matrix_rank(M) < M.shape[1]:
            raise ValueError(f"the {what} model's design is not of full rank")
    if k < p + q:
        raise ValueError(f"{k} rows cannot estimate {p} location and {q} scale coefficients")
    reml = method == "REML"
    alpha, st, iterations, converged = _maximise(y, v, X, Z, reml)
    warnings: list[str] = []
    _, neg_h = _derivatives(st, Z, reml, observed=True)
    try:
        va = np.linalg.inv(neg_h)
        if not np.all(np.linalg.eigvalsh(neg_h) > 0):
            raise np.linalg.LinAlgError
    except np.linalg.LinAlgError:
        va = np.full((q, q), np.nan)
        warnings.append("the Hessian of the scale model is not invertible: no SEs of the scale coefficients")
    if not converged:
        warnings.append("the scale model did not converge (a tau² may be at its boundary, 0): "
                        "treat the scale coefficients with caution")
    eta = Z @ alpha
    if np.min(eta) < math.log(max(float(np.median(v)), 1e-300)) - _BOUNDARY:
        warnings.append("some rows' tau² are (almost) 0: the scale model is at its boundary there, and the "
                        "scale coefficients and their SEs are not estimates")
    crit = float(stats.norm.isf(_alpha(level) / 2))
    Rinv = linalg.solve_triangular(st.R, np.eye(p))
    vb = Rinv @ Rinv.T
    QM, QM_df, QM_p = _omnibus(st.beta, vb, list(range(1, p)) or [0])
    QS, QS_df, QS_p = _omnibus(alpha, va, list(range(1, q)) or [0])
    qe, qe_df, qe_p = _qe(y, v, X)
    parms = p + q
    ll = st.ll
    if reml:
        fitstats = {"ll": ll, "deviance": -2 * ll, "AIC": -2 * ll + 2 * parms, "BIC": -2 * ll + parms * math.log(k - p),
                    "AICc": -2 * ll + 2 * parms * max(k - p, parms + 2) / (max(k - p, parms + 2) - parms - 1),
                    "parms": parms}
    else:
        dev = -2 * (ll - float(np.sum(stats.norm.logpdf(y, y, np.sqrt(v))))) if np.all(v > 0) else -2 * ll
        fitstats = {"ll": ll, "deviance": dev, "AIC": -2 * ll + 2 * parms, "BIC": -2 * ll + parms * math.log(k),
                    "AICc": -2 * ll + 2 * parms * max(k, parms + 2) / (max(k, parms + 2) - parms - 1),
                    "parms": parms}
    return RMALSResult(
        method=method, k=k, p=p, q=q, level=float(level), coefficients=_coef_table(st.beta, vb, xnames, crit),
        alpha_coefficients=_coef_table(alpha, va, znames, crit), tau2=np.exp(eta), QM=QM, QM_df=QM_df, QM_p=QM_p,
        QS=QS, QS_df=QS_df, QS_p=QS_p, QE=qe, QE_df=qe_df, QE_p=qe_p, converged=converged, iterations=iterations,
        warnings=warnings, beta=st.beta, vcov=vb, alpha=alpha, vcov_alpha=va, X=X, Z=Z, yi=y, vi=v,
        coef_names=xnames, scale_names=znames, fitstats=fitstats,
    )


def _qe(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> tuple[float, int, float]:
    """The test for residual heterogeneity (weights ``1/vi``); NaN where a ``vi`` is 0, as metafor."""
    k, p = X.shape
    if np.any(v <= 0) or k <= p:
        return math.nan, k - p, math.nan
    s = 1 / np.sqrt(v)
    b, *_ = np.linalg.lstsq(s[:, None] * X, s * y, rcond=None)
    qe = float(np.sum((y - X @ b) ** 2 / v))
    return qe, k - p, float(stats.chi2.sf(qe, k - p))


def _rows(new, n_cols: int, what: str) -> np.ndarray:
    a = np.asarray(new, dtype=float)
    if a.ndim == 0:
        a = a.reshape(1, 1)
    elif a.ndim == 1:
        a = a.reshape(-1, 1) if n_cols == 1 else a.reshape(1, -1)
    if a.ndim != 2 or a.shape[1] != n_cols:
        raise ValueError(f"{what} must have {n_cols} column(s) (moderators without the intercept)")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what} contains non-finite values")
    return a


def predict_ls(result: RMALSResult, newmods=None, newscale=None, *, level: float | None = None) -> pd.DataFrame:
    """Predicted effects with CI and prediction interval (metafor's ``predict.rma.ls``).

    The prediction interval of a new study at a row uses the between-study
    variance *at that row's scale moderators*, ``exp(z' alpha)`` (metafor's
    ``newscale``): ``pred ± z sqrt(SE² + tau²_new)``.  Without ``newscale`` the
    interval is NaN (unless the scale model has only an intercept), as metafor.

    Parameters
    ----------
    result : RMALSResult
    newmods : array_like, optional
        Location moderators without the intercept; ``None``: the fitted rows (or the
        intercept of a location model without moderators).
    newscale : array_like, optional
        Scale moderators without the intercept, one row per row of ``newmods``.
    level : float, optional

    Returns
    -------
    DataFrame
        Columns ``pred``, ``se``, ``ci_low``, ``ci_high``, ``pi_low``, ``pi_high``, one row per prediction.
    """
    crit = float(stats.norm.isf(_alpha(result.level if level is None else level) / 2))
    if newmods is None:
        Xn = result.X if result.p > 1 else np.ones((1, 1))
    else:
        if result.p == 1:
            raise ValueError("cannot give newmods for a location model without moderators")
        a = _rows(newmods, result.p - 1, "newmods")
        Xn = np.column_stack([np.ones(a.shape[0]), a])
    pred = Xn @ result.beta
    vpred = np.einsum("ij,jk,ik->i", Xn, result.vcov, Xn)
    se = np.sqrt(np.where(vpred < 0, np.nan, vpred))
    if newscale is not None:
        if result.q == 1:
            raise ValueError("cannot give newscale for a scale model without moderators")
        zs = _rows(newscale, result.q - 1, "newscale")
        tau2 = np.exp(np.column_stack([np.ones(zs.shape[0]), zs]) @ result.alpha)
        if tau2.size == 1:
            tau2 = np.full(pred.shape, tau2[0])
        if tau2.shape != pred.shape:
            raise ValueError(f"newscale gives {tau2.size} rows for {pred.size} predictions")
    elif result.q == 1:
        tau2 = np.full(pred.shape, math.exp(result.alpha[0]))
    elif newmods is None and result.p > 1:
        tau2 = result.tau2
    else:
        tau2 = np.full(pred.shape, np.nan)
    half = crit * np.sqrt(vpred + tau2)
    return pd.DataFrame({"pred": pred, "se": se, "ci_low": pred - crit * se, "ci_high": pred + crit * se,
                         "pi_low": pred - half, "pi_high": pred + half})


def predict_scale(result: RMALSResult, newscale=None, *, level: float | None = None) -> pd.DataFrame:
    """The predicted log tau² at scale moderators, with its CI (metafor's ``predict(res, newscale = )``).

    ``exp`` of the columns gives tau² and its interval (metafor's ``transf = exp``).  Columns ``pred``,
    ``se``, ``ci_low``, ``ci_high``; ``newscale`` ``None`` gives the fitted rows.
    """
    crit = float(stats.norm.isf(_alpha(result.level if level is None else level) / 2))
    if newscale is None:
        Zn = result.Z
    else:
        zs = _rows(newscale, result.q - 1, "newscale")
        Zn = np.column_stack([np.ones(zs.shape[0]), zs])
    pred = Zn @ result.alpha
    se = np.sqrt(np.einsum("ij,jk,ik->i", Zn, result.vcov_alpha, Zn))
    return pd.DataFrame({"pred": pred, "se": se, "ci_low": pred - crit * se, "ci_high": pred + crit * se})
