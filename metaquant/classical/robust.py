r"""Cluster-robust variance estimation for classical meta-analytic fits.

:func:`robust` matches metafor 3.8's ``robust()`` (CR1, ``adjust=TRUE``) and, with
``clubSandwich=True``, clubSandwich 0.5.8's ``coef_test(vcov = "CR2")`` / ``Wald_test(test =
"HTZ")`` (bias-reduced linearisation with Satterthwaite and Hotelling-T² degrees of freedom) for
:func:`metaquant.classical.rma.rma` and :func:`metaquant.classical.rma_mv.rma_mv` results.
:func:`che` fits the correlated-hierarchical-effects working model of Pustejovsky & Tipton (2022)
and makes CR2 inference on it.

For the working model :math:`M` of the fit (``diag(vi + tau²)`` or rma.mv's
:math:`V + \sum_l \sigma^2_l Z_l Z_l'`), :math:`W = M^{-1}`, :math:`B = (X'WX)^{-1}`, residuals
:math:`e = y - X\hat\beta` and clusters :math:`j = 1..n`:

.. math::

    \text{CR1:}\quad V^R = \frac{n}{n-p}\, B \Big[\sum_j X_j'W_{j\cdot}\, e\, e' \ldots\Big] B
    = \frac{n}{n-p} B X'W \operatorname{blockdiag}(e_j e_j') W X B,

with t tests on ``n - p`` df.  CR2 (Bell & McCaffrey 2002; Pustejovsky & Tipton 2018) replaces
:math:`e_j` by :math:`A_j e_j`, :math:`A_j = D_j' G_j^{-1/2} D_j`, :math:`D_j'D_j = M_j`,
:math:`G_j = D_j (M_j - X_j B X_j') D_j'`, and tests each coefficient on Satterthwaite df
:math:`(\operatorname{tr}P)^2/\|P\|_F^2` (clubSandwich's ``Satterthwaite``).  No maintained
Python library implements CR2 for meta-analytic working models, so it is written here,
following clubSandwich's code path for inverse-variance weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg, stats

from ..errors import DataError, InputError
from ..evidence.effects import pct_from_log
from ..outputs import json_safe

__all__ = ["RobustResult", "che", "predict_robust", "robust"]

#: Fewer clusters than this and the result says that cluster-robust tests are unreliable.
MIN_CLUSTERS = 4


@dataclass
class RobustResult:
    """Cluster-robust inference on a fitted model (see :func:`robust`).

    ``coefficients`` has one dict per coefficient (``name, estimate, se, stat, df, p, ci_low,
    ci_high``); ``QM`` is the robust test of the coefficients ``btt`` (an F statistic with
    ``(QM_df, QM_ddf)`` df; under CR2 clubSandwich's HTZ test, whose ``QM_ddf`` is fractional).
    """

    type: str
    n_clusters: int
    level: float
    coefficients: list[dict]
    vcov: np.ndarray
    QM: float | None
    QM_df: int | None
    QM_ddf: float | None
    QM_p: float | None
    btt: list[int]
    warnings: list[str] = field(default_factory=list)
    model: object = field(default=None, repr=False)
    engine: str = "frequentist"
    #: CR2 only: the per-cluster ``G_j`` and the ``H`` array of the Satterthwaite df (for linear contrasts)
    satterthwaite: tuple | None = field(default=None, repr=False)

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

    def _pct(self, v: float) -> float:
        return float(pct_from_log(v, getattr(self.model, "higher_is_better", True)))

    @property
    def pct(self) -> float:
        """The estimate as a relative improvement in % (oriented as the model's property)."""
        return self._pct(self.estimate)

    @property
    def pct_ci_low(self) -> float:
        return self._pct(self.ci_low)

    @property
    def pct_ci_high(self) -> float:
        return self._pct(self.ci_high)

    @property
    def notes(self) -> list[str]:
        return list(self.warnings)

    @property
    def ok(self) -> bool:
        return self.n_clusters >= MIN_CLUSTERS and bool(getattr(self.model, "converged", True))

    def to_dict(self) -> dict:
        return json_safe(
            {
                "type": self.type,
                "n_clusters": self.n_clusters,
                "level": self.level,
                "estimate": self.estimate,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "pct": self.pct,
                "pct_ci_low": self.pct_ci_low,
                "pct_ci_high": self.pct_ci_high,
                "coefficients": self.coefficients,
                "QM": self.QM,
                "QM_df": self.QM_df,
                "QM_ddf": self.QM_ddf,
                "QM_p": self.QM_p,
                "btt": self.btt,
                "warnings": list(self.warnings),
            }
        )

    def to_frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self.coefficients).rename(columns={"name": "term"})
        df.insert(0, "engine", self.engine)
        df.insert(0, "property", getattr(self.model, "prop", None) or "")
        df["vcov_type"] = self.type
        return df[["property", "engine", "term", "estimate", "ci_low", "ci_high", "se", "stat", "df", "p", "vcov_type"]]

    def __str__(self) -> str:
        lines = [f"Cluster-robust inference ({self.type}; {self.n_clusters} clusters)", ""]
        for c in self.coefficients:
            lines.append(
                f"{c['name']:>16} {c['estimate']:9.4f} {c['se']:8.4f} t={c['stat']:8.4f} df={c['df']:7.2f} "
                f"p={c['p']:.4g} [{c['ci_low']:.4f}, {c['ci_high']:.4f}]"
            )
        if self.QM is not None and self.QM_df and (self.btt != [1] or len(self.coefficients) > 1):
            lines.append(
                f"Test of coefficients {self.btt}: F({self.QM_df}, {self.QM_ddf:.2f}) = {self.QM:.4f}, "
                f"p = {self.QM_p:.4g}"
            )
        lines += [f"Warning: {w}" for w in self.warnings]
        return "\n".join(lines) + "\n"


def _working(result) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str], list[int], str]:
    """``(y, X, beta, M, names, btt, test)`` of an rma or rma_mv fit."""
    X = np.asarray(result.X, dtype=float)
    y = np.asarray(result.yi, dtype=float)
    beta = np.asarray(result.beta, dtype=float)
    if getattr(result, "M", None) is not None:
        M = np.asarray(result.M, dtype=float)
        btt = [b - 1 for b in result.btt]
    else:
        M = np.diag(np.asarray(result.vi, dtype=float) + float(result.tau2))
        p = X.shape[1]
        btt = list(range(1, p)) if (result.intercept and p > 1) else list(range(p))
    return y, X, beta, M, list(result.coef_names), btt, getattr(result, "test", "z")


def _mpow(x: np.ndarray, power: float) -> np.ndarray:
    """Symmetric matrix power with eigenvalues below 1e-12 set to 0 (clubSandwich's ``matrix_power``)."""
    val, vec = np.linalg.eigh(0.5 * (x + x.T))
    vp = np.where(val > 1e-12, np.abs(val) ** power, 0.0)
    return (vec * vp) @ vec.T


# Long on purpose: metafor's robust.rma with clubSandwich's CR2 branch; both estimators and their degrees of
# freedom in one place, as in the references.
def robust(  # noqa: PLR0913
    result,
    cluster,
    *,
    adjust: bool = True,
    clubSandwich: bool = False,
    data=None,
    level=None,
    btt=None,  # noqa: N803
) -> RobustResult:
    """Cluster-robust tests and intervals for classical fit (``rma`` or ``rma_mv``).

    Parameters
    ----------
    result : RMAResult or RMAMVResult
    cluster : array_like or str
        Cluster of each row (or a column of ``data``).
    adjust : bool, default True
        CR1: multiply by ``n / (n - p)`` (metafor's default).
    clubSandwich : bool, default False
        CR2 with Satterthwaite df per coefficient and the HTZ test of ``btt`` (clubSandwich's
        ``coef_test(vcov="CR2")`` and ``Wald_test(test="HTZ")``, as metafor's
        ``robust(..., clubSandwich=TRUE)``).
    data : DataFrame, optional
    level : float, optional
        Confidence level in percent (default: the model's).
    btt : sequence of int, optional
        0-based coefficients for the robust F / HTZ test (default: the model's ``btt``).

    Returns
    -------
    RobustResult
        With a warning when there are fewer than :data:`MIN_CLUSTERS` clusters.
    """
    if isinstance(cluster, str):
        if data is None or cluster not in data.columns:
            raise InputError(f"cluster {cluster!r} is not a column of the data", column=cluster)
        cluster = data[cluster].to_numpy()
    y, X, beta, M, names, model_btt, _ = _working(result)
    k, p = X.shape
    btt = model_btt if btt is None else [int(b) for b in btt]
    if not btt or min(btt) < 0 or max(btt) >= p:
        raise InputError(f"btt must name coefficients 0..{p - 1}")
    cl = np.asarray(cluster).astype(str)
    if cl.shape != (k,):
        raise InputError(f"cluster has {cl.size} values but the model has {k} rows")
    codes, labels = pd.factorize(cl, sort=True)
    n = len(labels)
    lev = float(result.level if level is None else level)
    alpha = 1.0 - (lev / 100.0 if lev > 1 else lev)
    msgs: list[str] = []
    if n < 2:
        raise InputError("cluster-robust variance estimation needs at least two clusters")
    if n <= p:
        raise InputError(f"number of clusters ({n}) must be larger than the number of coefficients ({p})")
    if n < MIN_CLUSTERS:
        msgs.append(f"only {n} clusters: cluster-robust tests are unreliable with fewer than {MIN_CLUSTERS}")
    cross = codes[:, None] != codes[None, :]
    if np.any(M[cross] != 0):
        if clubSandwich:
            raise InputError("the random effects are not nested within the clusters (CR2 needs them to be)")
    e = y - X @ beta
    if np.all(np.abs(e) <= 1e-10 * max(1.0, float(np.max(np.abs(y))))):
        raise DataError(
            "cluster-robust inference is undefined: every effect equals its fitted value (all residuals are 0), "
            "so the robust variance is 0",
            expected="effects that differ between clusters, or the model-based intervals (no --robust)",
        )
    idx = [np.flatnonzero(codes == j) for j in range(n)]
    if clubSandwich:
        return _cr2(result, y, X, beta, M, e, idx, names, btt, alpha, lev, msgs)
    Winv = np.linalg.inv(M)
    XW = Winv @ X
    B = np.linalg.inv(X.T @ XW)
    u = np.stack([XW[i].T @ e[i] for i in idx])  # n x p
    vb = B @ (u.T @ u) @ B
    if adjust:
        vb *= n / (n - p)
    se = np.sqrt(np.diag(vb))
    dfs = float(n - p)
    coefs = _t_coefficients(names, beta, se, np.full(p, dfs), alpha)
    bsub = beta[btt]
    QM = float(bsub @ np.linalg.solve(vb[np.ix_(btt, btt)], bsub)) / len(btt)
    QMp = float(stats.f.sf(QM, len(btt), dfs))
    return RobustResult(
        "CR1" if adjust else "CR0", n, lev, coefs, vb, QM, len(btt), dfs, QMp, [b + 1 for b in btt], msgs, result
    )


def _cr2(result, y, X, beta, M, e, idx, names, btt, alpha, lev, msgs) -> RobustResult:
    k, p = X.shape
    n = len(idx)
    Wb = []
    Lb = []
    for i in idx:
        Mj = M[np.ix_(i, i)]
        Lb.append(linalg.cholesky(Mj, lower=True))
        Wb.append(np.linalg.inv(Mj))
    xwx = sum(X[i].T @ w @ X[i] for i, w in zip(idx, Wb, strict=True))
    B = np.linalg.inv(xwx)
    E = []
    for i, w, low in zip(idx, Wb, Lb, strict=True):
        Xj = X[i]
        D = low.T  # upper: D'D = M_j
        G = D @ (M[np.ix_(i, i)] - Xj @ B @ Xj.T) @ D.T
        A = D.T @ _mpow(G, -0.5) @ D
        E.append(Xj.T @ w @ A)
    comp = np.stack([Ej @ e[i] for Ej, i in zip(E, idx, strict=True)])  # n x p
    vb = B @ (comp.T @ comp) @ B
    se = np.sqrt(np.diag(vb))
    # Satterthwaite degrees of freedom (clubSandwich get_GH / get_P_array / Satterthwaite)
    muct = linalg.cholesky(B, lower=True)
    ME = [B @ Ej for Ej in E]
    Gs = [me @ low for me, low in zip(ME, Lb, strict=True)]  # p x n_j
    H = np.stack([me @ X[i] @ muct for me, i in zip(ME, idx, strict=True)], axis=2)  # p x p x n
    dfs = np.empty(p)
    for j in range(p):
        Pj = -H[j].T @ H[j]
        Pj[np.diag_indices(n)] += np.array([float(g[j] @ g[j]) for g in Gs])
        dfs[j] = np.trace(Pj) ** 2 / np.sum(Pj * Pj)
    coefs = _t_coefficients(names, beta, se, dfs, alpha)
    F, q, ddf, pF = _htz(beta, vb, Gs, H, btt)
    return RobustResult("CR2", n, lev, coefs, vb, F, q, ddf, pF, [b + 1 for b in btt], msgs, result,
                        satterthwaite=(Gs, H))


def _t_coefficients(names, beta, se, dfs, alpha) -> list[dict]:
    """One dict per coefficient: estimate, robust se, t statistic, its df, p and the t interval."""
    stat = beta / se
    pv = 2 * stats.t.sf(np.abs(stat), dfs)
    crit = stats.t.isf(alpha / 2, dfs)
    return [{"name": names[j], "estimate": float(beta[j]), "se": float(se[j]), "stat": float(stat[j]),
             "df": float(dfs[j]), "p": float(pv[j]), "ci_low": float(beta[j] - crit[j] * se[j]),
             "ci_high": float(beta[j] + crit[j] * se[j])} for j in range(len(names))]


def _htz(beta, vb, Gs, H, btt) -> tuple[float, int, float, float]:
    """clubSandwich's HTZ Wald test (Tipton & Pustejovsky 2015) of ``beta[btt] = 0``."""
    p = beta.shape[0]
    q = len(btt)
    C = np.zeros((q, p))
    C[np.arange(q), btt] = 1.0
    G = [C @ g for g in Gs]
    Hc = np.einsum("qp,puj->quj", C, H)
    n = Hc.shape[2]
    P = np.empty((q, q, n, n))
    for s in range(q):
        for t in range(s, q):
            tmp = -Hc[s].T @ Hc[t]
            tmp[np.diag_indices(n)] += np.array([float(g[s] @ g[t]) for g in G])
            P[s, t] = tmp
            P[t, s] = tmp.T
    Omega = np.einsum("stjj->st", P)
    On = _mpow(Omega, -0.5)
    Bjk = np.einsum("sa,abjk,bt->stjk", On, P, On)
    var = np.empty((q, q))
    for s in range(q):
        for t in range(s + 1):
            var[s, t] = var[t, s] = np.sum(Bjk[s, t] * Bjk[t, s]) + np.sum(Bjk[s, s] * Bjk[t, t])
    nu = q * (q + 1) / np.sum(var)
    cb = C @ beta
    Q = float(cb @ np.linalg.solve(C @ vb @ C.T, cb))
    delta = max((nu - q + 1) / nu, 0.0)
    df = nu - q + 1
    F = delta * Q / q
    return float(F), q, float(df), float(stats.f.sf(F, q, df)) if df > 0 else math.nan


#: The start of the note when cluster-robust inference is not possible (what a reader of the notes looks for).
TOO_FEW_CLUSTERS = "too few"


def enough_clusters(clusters, p: int) -> bool:
    """Whether ``clusters`` has more groups than the model has coefficients (``p``): the one rule of robust inference.

    With no more clusters than coefficients the cluster-robust variance is singular (metafor's ``robust()``
    refuses; clubSandwich's small-sample correction has no degrees of freedom left).
    """
    return len(pd.unique(np.asarray(clusters))) > p


def cluster_robust(fit, clusters, kind: str, *, by: str = "study"):
    """``robust(fit, clusters)`` when there are enough clusters, else ``None`` with a note in ``fit.warnings``.

    ``kind`` is ``"cr1"`` (metafor's ``robust()``) or ``"cr2"`` (clubSandwich's bias-reduced linearisation).
    """
    k = str(kind).lower()
    if k not in ("cr1", "cr2"):
        raise InputError(f"unknown robust variance {kind!r}", expected="cr1 | cr2")
    if not enough_clusters(clusters, fit.p):
        n = len(pd.unique(np.asarray(clusters)))
        fit.warnings.append(f"{TOO_FEW_CLUSTERS} {by} clusters for cluster-robust inference: {n} for {fit.p} "
                            "coefficient(s)")
        return None
    return robust(fit, clusters, clubSandwich=k == "cr2")


def che(
    yi,
    vi,
    study,
    *,
    es=None,
    rho: float = 0.6,
    data: pd.DataFrame | None = None,
    mods=None,
    mod_names=None,
    method: str = "REML",
    level: float = 95.0,
    prop: str | None = None,
):
    """Correlated-hierarchical-effects working model with CR2 inference (Pustejovsky & Tipton 2022).

    Sampling errors of effect sizes in one study are given a constant correlation ``rho``
    (:func:`metaquant.evidence.covariance.constant_rho`), the model is ``rma_mv(yi, V, random =
    study/es)`` and inference is CR2 with Satterthwaite df, clustered by study, so that a wrong
    ``rho`` does not invalidate the tests.

    Returns
    -------
    (RMAMVResult, RobustResult)
    """
    from ..evidence.covariance import constant_rho  # noqa: PLC0415 - covariance imports nothing back
    from .rma_mv import rma_mv

    def col(x):
        return data[x].to_numpy() if isinstance(x, str) else np.asarray(x)

    y, v, s = col(yi).astype(float), col(vi).astype(float), col(study)
    e = np.arange(y.size) if es is None else col(es)
    V = constant_rho(v, s, rho)
    fit = rma_mv(y, V, random=[s, e], mods=mods, mod_names=mod_names, method=method, level=level, prop=prop)
    fit.warnings.append(f"CHE working model: sampling errors within a study correlated at rho = {rho:g}")
    return fit, robust(fit, s, clubSandwich=True)


def _satterthwaite_df(rob: RobustResult, c: np.ndarray) -> float:
    """clubSandwich's Satterthwaite df of the contrast ``c'beta`` (``linear_contrast(test="Satterthwaite")``)."""
    Gs, H = rob.satterthwaite
    n = H.shape[2]
    Hc = np.einsum("j,jqn->qn", c, H)
    P = -Hc.T @ Hc
    P[np.diag_indices(n)] += np.array([float((c @ g) @ (c @ g)) for g in Gs])
    return float(np.trace(P) ** 2 / np.sum(P * P))


def newmods_matrix(names: list[str], has_intercept: bool, newmods, *, intercept: bool = True) -> np.ndarray:
    """Rows of the design for new moderator values (metafor ``predict(newmods=, intercept=)``).

    ``newmods`` is an array (columns in the model's order, without the intercept) or a dict / DataFrame keyed
    by the moderators' names.  ``intercept=False`` sets the intercept's column to 0 (a model with one).
    """
    mods = names[1:] if has_intercept else list(names)
    if isinstance(newmods, (dict, pd.DataFrame)):
        frame = pd.DataFrame({k: np.atleast_1d(v) for k, v in newmods.items()}) if isinstance(newmods, dict) \
            else newmods
        unknown = [c for c in frame.columns if c not in mods]
        if unknown:
            raise InputError(f"newmods names {', '.join(map(str, unknown))}, not a moderator of the model",
                             expected=", ".join(mods))
        missing = [m for m in mods if m not in frame.columns]
        if missing:
            raise InputError(f"newmods gives no value for {', '.join(missing)}", expected=", ".join(mods))
        a = frame[mods].to_numpy(dtype=float)
    else:
        a = np.asarray(newmods, dtype=float)
        a = a.reshape(-1, 1) if (a.ndim <= 1 and len(mods) == 1) else np.atleast_2d(a)
    if a.shape[1] != len(mods):
        raise InputError(f"newmods must have {len(mods)} column(s) (the moderators without the intercept)")
    if not np.all(np.isfinite(a)):
        raise InputError("newmods contains missing or non-finite values")
    if not has_intercept:
        return a
    return np.column_stack([np.full(a.shape[0], 1.0 if intercept else 0.0), a])


def predict_robust(rob: RobustResult, newmods=None, *, intercept: bool = True) -> pd.DataFrame:
    r"""Predicted effects from a cluster-robust fit (metafor ``predict`` on a ``robust.rma`` object).

    :math:`\hat\mu = x'\hat\beta`, :math:`SE = \sqrt{x'V_R x}` with the robust :math:`V_R`; the intervals use
    a t quantile: :math:`n - p` df under CR1, under CR2 clubSandwich's Satterthwaite df of the contrast
    :math:`x` (``linear_contrast``).  The prediction interval adds :math:`\hat\tau^2` (all variance
    components of a multilevel fit) with the same quantile.

    Parameters
    ----------
    rob : RobustResult
    newmods : array_like, dict or DataFrame, optional
        New moderator values (see :func:`newmods_matrix`); ``None`` gives the pooled effect of a model without
        moderators, the fitted values otherwise.
    intercept : bool
        Whether the intercept enters the predictions (metafor's ``intercept=``).

    Returns
    -------
    DataFrame
        ``pred, se, df, ci_low, ci_high, pi_low, pi_high``.
    """
    res = rob.model
    names = list(res.coef_names)
    p = len(names)
    has_int = bool(res.intercept)
    if getattr(res, "struct", None) is not None:
        raise InputError("predictions from a robust inner | outer fit are not available")
    if newmods is None:
        Xn = np.ones((1, 1)) if p == 1 and has_int else res.X
    else:
        if p == 1 and has_int:
            raise InputError("cannot give newmods for a model without moderators")
        Xn = newmods_matrix(names, has_int, newmods, intercept=intercept)
    pred = Xn @ res.beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", Xn, rob.vcov, Xn))
    if rob.type == "CR2":
        df = np.array([_satterthwaite_df(rob, x) for x in Xn])
    else:
        df = np.full(len(pred), float(rob.coefficients[0]["df"]))
    alpha = 1.0 - rob.level / 100.0
    crit = stats.t.isf(alpha / 2, df)
    between = float(np.sum(res.sigma2)) if getattr(res, "sigma2", None) is not None else float(res.tau2)
    half = crit * np.sqrt(se**2 + between)
    return pd.DataFrame({"pred": pred, "se": se, "df": df, "ci_low": pred - crit * se, "ci_high": pred + crit * se,
                         "pi_low": pred - half, "pi_high": pred + half})
