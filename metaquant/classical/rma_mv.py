"""Multilevel / multivariate meta-analysis, numerically matched to R's ``metafor::rma.mv`` (3.8).

The model is

.. math::

    y = X\\beta + \\sum_{l=1}^{L} Z_l u_l + \\varepsilon, \\qquad
    u_l \\sim N(0, \\sigma^2_l I), \\quad \\varepsilon \\sim N(0, V),

with ``V`` the known sampling covariance (diagonal ``vi`` or a full matrix, e.g. from
:mod:`metaquant.evidence.covariance`) and nested random intercepts: level ``l`` is the interaction of the
first ``l`` grouping factors (``study``, ``study/comparison``, ...), exactly as metafor's
``random = ~ 1 | study/comparison``.  The marginal covariance is
:math:`M = V + \\sum_l \\sigma^2_l Z_l Z_l'`.

The variance components maximise the (restricted) log-likelihood

.. math::

    \\ell_{ML} = -\\tfrac12 \\{k \\log 2\\pi + \\log|M| + r'M^{-1}r\\}, \\qquad
    \\ell_{REML} = -\\tfrac12 \\{(k-p)\\log 2\\pi - \\log|X'X| + \\log|M| + \\log|X'M^{-1}X| + r'M^{-1}r\\},

(``r`` the GLS residuals; the :math:`\\log|X'X|` term is metafor's ``REMLf = TRUE``).  metafor
maximises with ``nlminb`` on :math:`\\log\\sigma^2`; here Fisher scoring on :math:`\\sigma^2` with
step halving and an active set at zero (so a component on its boundary is exactly 0 and said so)
is run to a relative change of 1e-12.  No maintained Python library fits metafor's rma.mv
(statsmodels' MixedLM has no known-V term), which is why the likelihood is written here.
"""

from __future__ import annotations

import builtins
import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, sparse, stats
from scipy.linalg.lapack import dpotri as _potri
from scipy.sparse import csgraph
from threadpoolctl import threadpool_limits

from .. import scale
from ..errors import InputError
from ..evidence.effects import pct_from_log
from ..outputs import json_safe
from ..results import FitStatistics
from .structures import STRUCTS, fit_structured, n_params, unpack
from .unstructured import fit_unstructured

__all__ = ["RMAMVResult", "confint_sigma2", "parse_random", "predict_mv", "rma_mv"]

_TOL = 1e-12
_MAXITER = 500
_LOG2PI = math.log(2.0 * math.pi)


# --------------------------------------------------------------------------------------------
# the random-effects structure
# --------------------------------------------------------------------------------------------
def parse_random(random, data: pd.DataFrame | None, k: int) -> tuple[list[str], list[np.ndarray]]:
    """Nested random intercepts as ``(names, codes)``, outermost level first.

    ``random`` is ``"study/comparison"`` (or metafor's ``"~ 1 | study/comparison"``) naming
    columns of ``data``, a list of column names, or a list of arrays (outermost first).  Level
    ``l`` groups rows by the first ``l`` factors together; ``codes[l]`` are integer group codes.
    """
    if random is None:
        raise InputError("random effects must be given, e.g. random='study/comparison'")
    if isinstance(random, str):
        spec = random.split("|")[-1].strip()
        parts = [p.strip() for p in spec.split("/") if p.strip()]
    else:
        parts = list(random)
    if not parts:
        raise InputError(f"no grouping factor in random={random!r}")
    names: list[str] = []
    cols: list[np.ndarray] = []
    for j, p in enumerate(parts):
        if isinstance(p, str):
            if data is None or p not in data.columns:
                raise InputError(f"random effect {p!r} is not a column of the data", column=p)
            col = data[p].to_numpy()
            names.append(p)
        else:
            col = np.asarray(p)
            names.append(f"level{j + 1}")
        if col.shape != (k,):
            raise InputError(f"grouping factor {names[-1]!r} has {col.size} values but there are {k} rows")
        if pd.isna(pd.Series(col)).any():
            raise InputError(f"grouping factor {names[-1]!r} has missing values", column=names[-1])
        cols.append(np.asarray(col).astype(str))
    codes: list[np.ndarray] = []
    labels: list[str] = []
    key = np.array([""] * k, dtype=object)
    for j, c in enumerate(cols):
        key = key + "\x1f" + c.astype(object) if j else c.astype(object)
        codes.append(pd.factorize(key, sort=True)[0])
        labels.append("/".join(names[: j + 1]))
    return labels, codes


# --------------------------------------------------------------------------------------------
# likelihood
# --------------------------------------------------------------------------------------------
@dataclass
class _Fit:
    """Quantities at one value of the variance components."""

    s2: np.ndarray
    ll: float
    beta: np.ndarray
    vb: np.ndarray
    py: np.ndarray  # M^{-1}(y - X beta)
    Minv: np.ndarray
    P: np.ndarray | None


class _Model:
    r"""The likelihood of one data set, evaluated block by block.

    ``M`` is block diagonal over the connected components of the outermost grouping factor and
    the non-zero pattern of ``V``, so its inverse costs :math:`\sum_b n_b^3` instead of
    :math:`k^3`; the indicator matrices ``Z_l`` are sparse, so the traces of the score and the
    information cost :math:`O(k^2)` per level.
    """

    def __init__(self, y: np.ndarray, X: np.ndarray, V: np.ndarray, codes: list[np.ndarray], reml: bool):
        self.y, self.X, self.V, self.reml = y, X, V, reml
        self.k, self.p = X.shape
        k = self.k
        self.Z = [sparse.csr_matrix((np.ones(k), (np.arange(k), c)), shape=(k, int(c.max()) + 1)) for c in codes]
        # the blocks of M, padded to a common size with an identity (whose inverse and log
        # determinant are 1 and 0), so one batched Cholesky factorises all of them
        blocks = _blocks(V, codes[0])
        n = max(b.size for b in blocks)
        nb = len(blocks)
        rows = np.zeros((nb, n), dtype=int)
        valid = np.zeros((nb, n), dtype=bool)
        for j, b in enumerate(blocks):
            rows[j, : b.size] = b
            valid[j, : b.size] = True
        self.mask = valid[:, :, None] & valid[:, None, :]
        self.ri = np.broadcast_to(rows[:, :, None], self.mask.shape)[self.mask]
        self.ci = np.broadcast_to(rows[:, None, :], self.mask.shape)[self.mask]
        pad = np.broadcast_to(np.eye(n), self.mask.shape) * ~valid[:, :, None]
        self.Vpad = np.where(self.mask, V[rows[:, :, None], rows[:, None, :]], 0.0) + pad
        self.Gpad = [np.where(self.mask, (c[rows][:, :, None] == c[rows][:, None, :]), 0.0) for c in codes]
        self.eye = np.broadcast_to(np.eye(n), self.mask.shape)
        self.logdet_xx = float(np.linalg.slogdet(X.T @ X)[1])

    def M(self, s2: np.ndarray) -> np.ndarray:
        M = self.V.copy()
        for s, z in zip(s2, self.Z, strict=False):
            M += s * (z @ z.T).toarray()
        return M

    def fit(self, s2: np.ndarray, need_p: bool = True) -> _Fit:
        k = self.k
        Mp = self.Vpad.copy()
        for s_, g in zip(s2, self.Gpad, strict=False):
            Mp += s_ * g
        c = np.linalg.cholesky(Mp)
        logdet_m = 2.0 * float(np.sum(np.log(np.einsum("bii->bi", c))))
        # inverse from the Cholesky factor (LAPACK potri), block by block
        inv = np.empty_like(Mp)
        for b in range(Mp.shape[0]):
            ib, info = _potri(c[b], lower=1)
            if info != 0:
                raise np.linalg.LinAlgError("M is not positive definite")
            inv[b] = ib  # lower triangle; the upper one is c's, i.e. zero
        inv += np.swapaxes(np.tril(inv, -1), 1, 2)
        Minv = np.zeros((k, k))
        Minv[self.ri, self.ci] = inv[self.mask]
        MX = Minv @ self.X
        xmx = self.X.T @ MX
        vb = np.linalg.inv(xmx)
        vb = 0.5 * (vb + vb.T)
        beta = vb @ (MX.T @ self.y)
        r = self.y - self.X @ beta
        py = Minv @ r
        rss = float(r @ py)
        if self.reml:
            logdet_xmx = float(np.linalg.slogdet(xmx)[1])
            ll = -0.5 * ((self.k - self.p) * _LOG2PI - self.logdet_xx + logdet_m + logdet_xmx + rss)
        else:
            ll = -0.5 * (self.k * _LOG2PI + logdet_m + rss)
        P = Minv - MX @ vb @ MX.T if (need_p and self.reml) else None
        return _Fit(s2=s2, ll=ll, beta=beta, vb=vb, py=py, Minv=Minv, P=P)

    def score_info(self, f: _Fit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""Score :math:`\partial\ell/\partial\sigma^2_l`, expected and observed information.

        With :math:`A = P` (REML) or :math:`M^{-1}` (ML) and :math:`u_l = Z_l Z_l' M^{-1} r`:
        score :math:`-\tfrac12\operatorname{tr}(A G_l) + \tfrac12 r'M^{-1}G_lM^{-1}r`, expected
        information :math:`\tfrac12\operatorname{tr}(A G_a A G_b)`, observed information
        :math:`-\tfrac12\operatorname{tr}(A G_a A G_b) + u_a' A u_b`.
        """
        A = f.P if self.reml else f.Minv
        ZA = [np.asarray(z.T @ A) for z in self.Z]  # n_l x k
        L = len(self.Z)
        score = np.empty(L)
        info = np.empty((L, L))
        zpy = [z.T @ f.py for z in self.Z]
        u = [z @ w for z, w in zip(self.Z, zpy, strict=False)]
        Au = [A @ v for v in u]
        obs = np.empty((L, L))
        for a in range(L):
            for b in range(a, L):
                zaz = np.asarray(self.Z[b].T @ ZA[a].T)  # Z_b' A Z_a
                info[a, b] = info[b, a] = 0.5 * float(np.sum(zaz * zaz))
                obs[a, b] = obs[b, a] = -info[a, b] + float(u[a] @ Au[b])
                if a == b:
                    score[a] = -0.5 * float(np.trace(zaz)) + 0.5 * float(zpy[a] @ zpy[a])
        return score, info, obs


def _blocks(V: np.ndarray, outer: np.ndarray) -> list[np.ndarray]:
    """Row sets of the diagonal blocks of ``M``: connected by the outermost factor or by ``V``."""
    k = outer.size
    g = sparse.csr_matrix((np.ones(k), (np.arange(k), outer)), shape=(k, int(outer.max()) + 1))
    adj = (g @ g.T) + sparse.csr_matrix(V != 0)
    n, lab = csgraph.connected_components(adj, directed=False)
    return [np.flatnonzero(lab == j) for j in range(n)]


def _optimise(model: _Model, s0: np.ndarray, fixed: np.ndarray, tol: float = _TOL) -> tuple[_Fit, int, bool]:
    """Fisher scoring with step halving and an active set at 0; ``fixed`` components are held."""
    lower = getattr(model, "lower", np.zeros_like(s0))
    s = np.where(fixed, s0, np.maximum(s0, lower))
    f = model.fit(s)
    newton = False
    for it in range(1, _MAXITER + 1):
        score, info, obs = model.score_info(f)
        free = ~fixed & ~((s <= lower) & (score <= 0.0))
        if not free.any():
            return f, it, True
        step = np.zeros_like(s)
        # Fisher scoring far from the optimum, Newton (observed information) close to it
        ix = np.ix_(free, free)
        use = obs if (newton and np.all(np.linalg.eigvalsh(obs[ix]) > 0)) else info
        try:
            step[free] = np.linalg.solve(use[ix], score[free])
        except np.linalg.LinAlgError:
            step[free] = score[free] / np.maximum(np.diag(info)[free], 1e-300)
        t = 1.0
        for _ in range(60):
            s_new = np.where(free, np.maximum(s + t * step, lower), s)
            try:
                f_new = model.fit(s_new)
            except np.linalg.LinAlgError:  # M not positive definite (possible with covariances)
                t *= 0.5
                continue
            if f_new.ll >= f.ll - 1e-12 * (1.0 + abs(f.ll)):
                break
            t *= 0.5
        else:
            return f, it, False
        change = np.max(np.abs(s_new - s) / (1.0 + np.abs(s)))
        newton = change < 1e-3
        s, f = s_new, f_new
        if change <= tol:
            return f, it, True
    return f, _MAXITER, False


def _start(y: np.ndarray, X: np.ndarray, vi: np.ndarray, L: int) -> np.ndarray:
    """Starting values: a DerSimonian-Laird-type total heterogeneity split evenly over the levels."""
    w = 1.0 / vi
    sw = np.sqrt(w)
    b = np.linalg.lstsq(sw[:, None] * X, sw * y, rcond=None)[0]
    q = float(np.sum(w * (y - X @ b) ** 2))
    k, p = X.shape
    tau2 = max((q - (k - p)) / max(np.sum(w) - np.sum(w**2) / np.sum(w), 1e-12), 0.0)
    if tau2 <= 0:
        tau2 = 0.1 * float(np.var(y)) + 1e-4 * float(np.mean(vi))
    return np.full(L, tau2 / L)


# --------------------------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------------------------
@dataclass
class RMAMVResult(FitStatistics):
    """Result of :func:`rma_mv`, mirroring a metafor ``rma.mv`` object.

    ``coefficients`` has one dict per coefficient (``name, estimate, se, stat, df, p, ci_low,
    ci_high``).  ``sigma2`` are the variance components (outermost level first) with
    ``sigma2_names``, ``s_nlevels`` (number of groups per level), profile-likelihood intervals
    ``sigma2_ci`` (``None`` when ``profile=False``) and the multilevel ``I2`` per level (percent).
    ``QE`` tests residual heterogeneity, ``QM`` the coefficients ``btt`` (chi² under
    ``test="z"``, F with ``(QM_df, QM_ddf)`` under ``test="t"``).  ``pi_low``/``pi_high`` are the
    prediction interval of the first coefficient of an intercept-only model, with every variance
    component added.  ``fitstats`` has ``ll, deviance, AIC, BIC, AICc`` for the fitted method.
    """

    method: str
    test: str
    dfs: str
    k: int
    p: int
    level: float
    coefficients: list[dict]
    sigma2: np.ndarray
    sigma2_names: list[str]
    s_nlevels: list[int]
    sigma2_ci: list[tuple[float, float]] | None
    I2: np.ndarray
    I2_total: float
    vt: float
    QE: float
    QE_df: int
    QE_p: float
    QM: float
    QM_df: int
    QM_ddf: int | None
    QM_p: float
    btt: list[int]
    pi_low: float | None
    pi_high: float | None
    fitstats: dict[str, float]
    converged: bool
    iterations: int
    warnings: list[str] = field(default_factory=list)
    prop: str | None = None
    engine: str = "frequentist"
    beta: np.ndarray = field(default=None, repr=False)
    vcov: np.ndarray = field(default=None, repr=False)
    ddf: np.ndarray = field(default=None, repr=False)
    X: np.ndarray = field(default=None, repr=False)
    yi: np.ndarray = field(default=None, repr=False)
    V: np.ndarray = field(default=None, repr=False)
    M: np.ndarray = field(default=None, repr=False)
    codes: list[np.ndarray] = field(default=None, repr=False)
    coef_names: list[str] = field(default_factory=list, repr=False)
    intercept: bool = True
    #: ``"UN"``, ``"CS"``, ``"HCS"``, ``"DIAG"``, ``"ID"``, ``"AR"`` or ``"HAR"`` for ``inner | outer`` (then
    #: ``tau2`` are the variances, one per level of the inner factor (``tau2_names`` those levels) or one
    #: shared, ``rho`` the correlations: UN's in R's lower-triangle order, one for CS/HCS/AR/HAR, none else),
    #: ``None`` for nested random intercepts
    struct: str | None = None
    tau2: np.ndarray | None = None
    tau2_names: list[str] | None = None
    rho: np.ndarray | None = None
    #: ``(inner, outer)`` column names of an ``inner | outer`` term (labels of its random effects)
    un_terms: tuple[str, str] | None = None
    #: orientation of the property, for the % scale (``yi`` is the oriented log ratio)
    higher_is_better: bool = True
    #: SSM cut-points (percent) the label of the point estimate is read with (``None``: no label)
    thresholds: tuple[float, ...] | None = None

    # --- numbers by name -------------------------------------------------------------------
    @property
    def estimate(self) -> float:
        return float(self.beta[0])

    @property
    def se(self) -> float:
        return float(self.coefficients[0]["se"])

    @property
    def ci_low(self) -> float:
        return float(self.coefficients[0]["ci_low"])

    @property
    def ci_high(self) -> float:
        return float(self.coefficients[0]["ci_high"])

    @property
    def int_only(self) -> bool:
        return self.p == 1 and self.intercept

    @property
    def is_fixed(self) -> bool:
        """Always False (a multilevel model has random effects); as ``RMAResult.is_fixed``."""
        return False

    # --- result protocol (metaquant.results) ----------------------------------------------
    @property
    def label_code(self) -> str | None:
        """The SSM label of the pooled point estimate (``None`` for a meta-regression or without thresholds)."""
        if self.thresholds is None or not self.int_only:
            return None
        return scale.label_from_pct(self.pct, self.thresholds)

    @property
    def label_probability(self) -> float | None:
        return None

    @property
    def pct(self) -> float:
        """The pooled oriented log ratio as a relative improvement in %.

        See :func:`metaquant.evidence.effects.pct_from_log`.
        """
        return float(pct_from_log(self.estimate, self.higher_is_better))

    @property
    def pct_ci_low(self) -> float:
        return float(pct_from_log(self.ci_low, self.higher_is_better))

    @property
    def pct_ci_high(self) -> float:
        return float(pct_from_log(self.ci_high, self.higher_is_better))

    @property
    def predictions(self) -> list[dict]:
        return []

    @property
    def notes(self) -> list[str]:
        return list(self.warnings)

    @property
    def diagnostics(self) -> dict[str, Any]:
        return {
            "converged": self.converged,
            "iterations": self.iterations,
            "boundary": [n for n, s in zip(self.sigma2_names, self.sigma2, strict=False) if s <= 0.0],
        }

    @property
    def ok(self) -> bool:
        return bool(self.converged)

    def to_dict(self) -> dict:
        """JSON-ready dictionary (NaN and infinities become ``None``)."""
        d = {
            "engine": self.engine,
            "model": "multilevel",
            "property": self.prop,
            "method": self.method,
            "test": self.test,
            "dfs": self.dfs,
            "k": self.k,
            "p": self.p,
            "level": self.level,
            "estimate": self.estimate,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "pct": self.pct,
            "pct_ci_low": self.pct_ci_low,
            "pct_ci_high": self.pct_ci_high,
            "label_code": self.label_code,
            "coefficients": self.coefficients,
            "sigma2": [
                {
                    "name": n,
                    "estimate": float(s),
                    "nlevels": int(m),
                    "ci_low": None if self.sigma2_ci is None else self.sigma2_ci[j][0],
                    "ci_high": None if self.sigma2_ci is None else self.sigma2_ci[j][1],
                    "I2": float(self.I2[j]),
                }
                for j, (n, s, m) in enumerate(zip(self.sigma2_names, self.sigma2, self.s_nlevels, strict=False))
            ],
            "I2_total": self.I2_total,
            "QE": self.QE,
            "QE_df": self.QE_df,
            "QE_p": self.QE_p,
            "QM": self.QM,
            "QM_df": self.QM_df,
            "QM_ddf": self.QM_ddf,
            "QM_p": self.QM_p,
            "btt": self.btt,
            "pi_low": self.pi_low,
            "pi_high": self.pi_high,
            "fitstats": self.fitstats,
            "converged": self.converged,
            "iterations": self.iterations,
            "warnings": list(self.warnings),
        }
        return json_safe(d)

    def to_frame(self) -> pd.DataFrame:
        rows = [
            {"term": c["name"], "estimate": c["estimate"], "ci_low": c["ci_low"], "ci_high": c["ci_high"]}
            for c in self.coefficients
        ]
        for j, n in enumerate(self.sigma2_names):
            ci = (math.nan, math.nan) if self.sigma2_ci is None else self.sigma2_ci[j]
            rows.append({"term": f"sigma2[{n}]", "estimate": float(self.sigma2[j]), "ci_low": ci[0], "ci_high": ci[1]})
        if self.pi_low is not None:
            rows.append(
                {"term": "prediction", "estimate": self.estimate, "ci_low": self.pi_low, "ci_high": self.pi_high}
            )
        df = pd.DataFrame(rows)
        df.insert(0, "engine", self.engine)
        df.insert(0, "property", self.prop or "")
        return df

    def __str__(self) -> str:
        f = self.fitstats
        out = [
            "",
            f"Multivariate Meta-Analysis Model (k = {self.k}; method: {self.method})",
            "",
            "   logLik  Deviance       AIC       BIC      AICc",
            f"{f['ll']:9.4f} {f['deviance']:9.4f} {f['AIC']:9.4f} {f['BIC']:9.4f} {f['AICc']:9.4f}",
            "",
            "Variance Components:",
            "",
            "            estim    sqrt  nlvls  fixed  factor",
        ]
        for j, (n, s, m) in enumerate(zip(self.sigma2_names, self.sigma2, self.s_nlevels, strict=False)):
            out.append(f"sigma^2.{j + 1}  {s:8.4f}  {math.sqrt(s):6.4f}  {m:5d}     no  {n}")
        if self.struct is not None:
            out += [
                f"tau^2.{j + 1}    {t:8.4f}  {math.sqrt(t):6.4f}  {n}"
                for j, (t, n) in enumerate(zip(self.tau2, self.tau2_names, strict=True))
            ]
            out += [f"rho.{j + 1}      {r:8.4f}" for j, r in enumerate(self.rho)]
        out += [
            "",
            "Test for Residual Heterogeneity:",
            f"QE(df = {self.QE_df}) = {self.QE:.4f}, p-val = {self.QE_p:.4g}",
        ]
        if not self.int_only:
            if self.test == "t":
                out += [
                    "",
                    f"Test of Moderators (coefficients {self.btt}):",
                    f"F(df1 = {self.QM_df}, df2 = {self.QM_ddf}) = {self.QM:.4f}, p-val = {self.QM_p:.4g}",
                ]
            else:
                out += [
                    "",
                    f"Test of Moderators (coefficients {self.btt}):",
                    f"QM(df = {self.QM_df}) = {self.QM:.4f}, p-val = {self.QM_p:.4g}",
                ]
        out += ["", "Model Results:", ""]
        stat = "zval" if self.test == "z" else "tval"
        out.append(
            f"{'':>16} {'estimate':>9} {'se':>8} {stat:>8} {'df' if self.test == 't' else '':>4} "
            f"{'pval':>8} {'ci.lb':>9} {'ci.ub':>9}"
        )
        for c in self.coefficients:
            df = f"{c['df']:4.0f}" if self.test == "t" else "    "
            out.append(
                f"{c['name'][:16]:>16} {c['estimate']:9.4f} {c['se']:8.4f} {c['stat']:8.4f} {df} {c['p']:8.4g} "
                f"{c['ci_low']:9.4f} {c['ci_high']:9.4f}"
            )
        if self.pi_low is not None:
            out += ["", f"Prediction interval (all variance components): [{self.pi_low:.4f}, {self.pi_high:.4f}]"]
        out += [f"Warning: {w}" for w in self.warnings]
        return "\n".join(out) + "\n"

    # last in the class body: a method named ``property`` would shadow the builtin above it
    @builtins.property
    def property(self) -> str | None:
        """The property pooled (the result protocol's name)."""
        return self.prop


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------
def _design(mods, mod_names, intercept: bool, k: int) -> tuple[np.ndarray, list[str]]:
    if mods is None:
        return np.ones((k, 1)), ["intrcpt"]
    if mod_names is None and isinstance(mods, pd.DataFrame):
        mod_names = [str(c) for c in mods.columns]
    try:
        M = np.asarray(mods, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError("mods must be numeric (k x m); encode factors as dummy columns") from exc
    if M.ndim == 1:
        M = M.reshape(-1, 1)
    if M.shape[0] != k or M.ndim != 2:
        raise InputError(f"mods has {M.shape[0]} rows but there are {k} effect sizes")
    if not np.all(np.isfinite(M)):
        raise InputError("mods contains missing or non-finite values")
    names = [f"mod{j + 1}" for j in range(M.shape[1])] if mod_names is None else [str(n) for n in mod_names]
    if len(names) != M.shape[1]:
        raise InputError(f"mod_names has {len(names)} names but mods has {M.shape[1]} columns")
    if intercept:
        return np.column_stack([np.ones(k), M]), ["intrcpt", *names]
    return M, names


def _as_v(V, k: int) -> np.ndarray:
    Va = np.asarray(V, dtype=float)
    if Va.ndim == 1:
        if Va.shape[0] != k:
            raise InputError(f"vi has {Va.shape[0]} values but there are {k} effect sizes")
        if not np.all(np.isfinite(Va)) or np.any(Va <= 0):
            raise InputError("sampling variances must be finite and > 0", column="vi")
        return np.diag(Va)
    if Va.shape != (k, k):
        raise InputError(f"V must be a vector of {k} variances or a {k} x {k} matrix (got shape {Va.shape})")
    if not np.all(np.isfinite(Va)) or not np.allclose(Va, Va.T, rtol=1e-10, atol=1e-14):
        raise InputError("V must be a finite symmetric matrix")
    if np.min(np.linalg.eigvalsh(Va)) <= 0:
        raise InputError("V is not positive definite")
    return Va


def _contain_ddf(X: np.ndarray, codes: list[np.ndarray], k: int, p: int) -> np.ndarray:
    """metafor's ``dfs="contain"``: per coefficient, the fewest groups of a level it is constant within, less p."""
    nlev = [int(c.max()) + 1 for c in codes]
    ddf = np.full(p, float(k))
    for j in range(p):
        ok = [n for c, n in zip(codes, nlev, strict=False) if pd.Series(X[:, j]).groupby(c).nunique().max() == 1]
        if ok:
            ddf[j] = min(ok)
    return np.maximum(ddf - p, 1.0)


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------
def _single_blas(fn):
    """Run ``fn`` with one BLAS thread: the matrices are small, and threaded BLAS busy-waits on a loaded machine."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper


# Long on purpose: assembles an rma.mv result from the named steps (_inputs, _optimise, _coef_table,
# _heterogeneity, _fitstats, confint_sigma2); what remains is the assembly of metafor's fields.
@_single_blas
def rma_mv(
    yi,
    V,
    *,
    random=None,
    data: pd.DataFrame | None = None,
    mods=None,
    mod_names=None,
    intercept: bool = True,
    method: str = "REML",
    test: str = "z",
    dfs: str = "residual",
    level: float = 95.0,
    btt=None,
    profile: bool = True,
    prop: str | None = None,
    struct: str = "UN",
) -> RMAMVResult:
    r"""Fit a multilevel random-effects model with known sampling (co)variances (metafor ``rma.mv``).

    Parameters
    ----------
    yi : array_like, shape (k,)
        Effect sizes (or a column name of ``data``).
    V : array_like, shape (k,) or (k, k)
        Sampling variances or the full sampling covariance matrix (or a column name of ``data``).
    random : str or sequence, optional
        ``None``: no random effects, a GLS fit with the known ``V`` alone (metafor ``rma.mv`` without
        ``random``).  Nested random intercepts, outermost first: ``"study/comparison"`` or metafor's
        ``"~ 1 | study/comparison"`` (columns of ``data``), a list of column names, or a list of
        factor arrays.
    data : DataFrame, optional
        Table the names refer to.
    mods : array_like, shape (k,) or (k, m), optional
        Moderators without the intercept (numeric; factors as dummy columns).
    mod_names : sequence of str, optional
    intercept : bool, default True
    method : {"REML", "ML"}
    test : {"z", "t"}
        Wald z / chi² tests, or t / F tests with ``dfs`` degrees of freedom.
    dfs : {"residual", "contain"}
        ``k - p``, or metafor's containment rule (for each coefficient the number of groups of
        the lowest level within which it is constant, minus p).
    level : float, default 95
    btt : sequence of int, optional
        0-based coefficients for the omnibus test ``QM`` (default: all but the intercept, or the
        intercept alone).
    profile : bool, default True
        Compute profile-likelihood intervals of the variance components (:func:`confint_sigma2`).
    prop : str, optional
        The property pooled (carried into the result).
    struct : {"UN", "CS", "HCS", "DIAG", "ID", "AR", "HAR"}
        For ``random="~ inner | outer"`` (e.g. ``"~ outcome | trial"``, a multivariate model):
        correlated random effects of the levels of ``inner`` within each ``outer`` group with the
        covariance structure of metafor's ``struct`` (unstructured on its Cholesky factor; the others
        on log variances and atanh correlations, :mod:`metaquant.classical.structures`).  For ``AR``
        and ``HAR`` the lag is the distance of the levels' positions in R's factor order (numeric
        levels sorted numerically).  No profile intervals for these structures.

    Returns
    -------
    RMAMVResult

    Notes
    -----
    Fixed effects are GLS: :math:`\hat\beta = (X'M^{-1}X)^{-1}X'M^{-1}y`,
    :math:`\operatorname{Var}\hat\beta = (X'M^{-1}X)^{-1}`.  ``QE`` uses :math:`V^{-1}` alone.
    I² per level (Cheung 2014; metafor's FAQ) is :math:`100\,\sigma^2_l/(\sum_m\sigma^2_m + v_t)`
    with :math:`v_t = (k-p)/\operatorname{tr}(P)`,
    :math:`P = W - WX(X'WX)^{-1}X'W`, :math:`W = V^{-1}`.  The prediction interval is
    :math:`\hat\mu \pm c\sqrt{SE^2 + \sum_l \sigma^2_l}`.  Fit statistics follow metafor's
    ``fitstats``: parms = p + number of variance components; BIC and AICc use ``k - p`` in
    place of ``k`` under REML; the ML deviance is relative to the saturated model
    (:math:`-\tfrac12 k\log 2\pi - \tfrac12\log|V|`), the REML deviance is :math:`-2\ell`.

    References
    ----------
    Viechtbauer W (2010). *J Stat Softw* 36(3). Konstantopoulos S (2011). Fixed effects and
    variance components estimation in three-level meta-analysis. *Res Synth Methods* 2:61-76.
    Cheung MW-L (2014). Modeling dependent effect sizes with three-level meta-analyses.
    *Psychol Methods* 19:211-229.
    """
    method, test = _options(method, test, dfs)
    if random is None:
        return _rma_mv_gls(yi, V, data, mods, mod_names, intercept, method, test, level, btt, prop)
    if isinstance(random, str) and _INNER_OUTER.match(random.strip()):
        return _rma_mv_un(yi, V, random, data, mods, mod_names, intercept, method, test, level, btt, prop, struct)
    y, Vm, X, coef_names, names, codes = _inputs(yi, V, random, data, mods, mod_names, intercept)
    k, p = X.shape
    L = len(codes)
    alpha = 1.0 - (level / 100.0 if level > 1 else level)
    msgs: list[str] = []
    nlev = [int(c.max()) + 1 for c in codes]
    model = _Model(y, X, Vm, codes, method == "REML")
    s0 = _start(y, X, np.diag(Vm).copy(), L)
    f, iters, conv = _optimise(model, s0, np.zeros(L, dtype=bool))
    if not conv:
        msgs.append("the variance components did not converge; results are unreliable")
    msgs += _boundary_notes(names, f.s2, nlev)
    beta, vb = f.beta, f.vb
    ddf = np.full(p, np.nan) if test == "z" else _ddf(dfs, X, codes, k, p)
    coefs = _coef_table(coef_names, beta, vb, ddf, alpha)
    bt = list(btt) if btt is not None else (list(range(1, p)) if (intercept and p > 1) else list(range(p)))
    QM, QM_df, QM_ddf, QM_p = wald_test(beta, vb, bt, None if test == "z" else float(np.min(ddf[bt])))
    QE, QEp, vt = _heterogeneity(y, X, Vm)
    I2 = 100.0 * f.s2 / (np.sum(f.s2) + vt)
    pi_low = pi_high = None
    if p == 1 and intercept:
        c = stats.t.isf(alpha / 2, float(np.min(ddf))) if test == "t" else stats.norm.isf(alpha / 2)
        half = c * math.sqrt(vb[0, 0] + float(np.sum(f.s2)))
        pi_low, pi_high = float(beta[0] - half), float(beta[0] + half)
    fs = _fitstats(model, f, Vm, L)
    # one keyword per field of the result: long, but it is only naming
    res = RMAMVResult(
        method=method,
        test=test,
        dfs=dfs,
        k=k,
        p=p,
        level=float(level),
        coefficients=coefs,
        sigma2=f.s2.copy(),
        sigma2_names=names,
        s_nlevels=nlev,
        sigma2_ci=None,
        I2=I2,
        I2_total=float(np.sum(I2)),
        vt=float(vt),
        QE=QE,
        QE_df=k - p,
        QE_p=QEp,
        QM=QM,
        QM_df=QM_df,
        QM_ddf=QM_ddf,
        QM_p=QM_p,
        btt=[b + 1 for b in bt],
        pi_low=pi_low,
        pi_high=pi_high,
        fitstats=fs,
        converged=conv,
        iterations=iters,
        warnings=msgs,
        prop=prop,
        beta=beta,
        vcov=vb,
        ddf=ddf,
        X=X,
        yi=y,
        V=Vm,
        M=model.M(f.s2),
        codes=codes,
        coef_names=coef_names,
        intercept=intercept,
    )
    res._model = model  # kept for profiling / influence
    if profile:
        res.sigma2_ci = confint_sigma2(res, level=level)
    return res


def _options(method, test, dfs) -> tuple[str, str]:
    method = str(method).upper()
    if method not in ("REML", "ML"):
        raise InputError(f"unknown method {method!r} for a multilevel model", expected="REML | ML")
    test = str(test).lower()
    if test not in ("z", "t"):
        raise InputError(f"unknown test {test!r}", expected="z | t")
    if dfs not in ("residual", "contain"):
        raise InputError(f"unknown dfs {dfs!r}", expected="residual | contain")
    return method, test


def _inputs(yi, V, random, data, mods, mod_names, intercept):
    """Checked ``(y, V, X, coef_names, level names, level codes)``."""
    if isinstance(yi, str):
        yi = data[yi]
    if isinstance(V, str):
        V = data[V]
    y = np.asarray(yi, dtype=float).ravel()
    k = y.size
    if k < 2 or not np.all(np.isfinite(y)):
        raise InputError("yi must have at least 2 finite values", column="yi")
    Vm = _as_v(V, k)
    X, coef_names = _design(mods, mod_names, intercept, k)
    p = X.shape[1]
    if np.linalg.matrix_rank(X) < p:
        raise InputError("the design matrix is not of full column rank (redundant or constant moderators?)")
    names, codes = parse_random(random, data, k)
    L = len(codes)
    if k - p < L:
        raise InputError(f"too few effect sizes: {p} coefficient(s) and {L} variance component(s) need k > {p + L - 1}")
    return y, Vm, X, coef_names, names, codes


def _boundary_notes(names: list[str], s2: np.ndarray, nlev: list[int]) -> list[str]:
    msgs = []
    for n, s, m in zip(names, s2, nlev, strict=True):
        if s <= 0.0:
            msgs.append(f"sigma² of {n!r} is on its boundary (0)")
        if m == 1:
            msgs.append(f"{n!r} has a single level: its variance is not identifiable")
    return msgs


def _ddf(dfs: str, X: np.ndarray, codes: list[np.ndarray], k: int, p: int) -> np.ndarray:
    return np.full(p, float(k - p)) if dfs == "residual" else _contain_ddf(X, codes, k, p)


def _coef_table(names: list[str], beta: np.ndarray, vb: np.ndarray, ddf: np.ndarray, alpha: float) -> list[dict]:
    """One dict per coefficient: z tests where ``ddf`` is NaN, t tests on ``ddf`` otherwise."""
    se = np.sqrt(np.diag(vb))
    stat = beta / se
    z = np.isnan(ddf)
    pv = np.where(z, 2 * stats.norm.sf(np.abs(stat)), 2 * stats.t.sf(np.abs(stat), np.where(z, 1.0, ddf)))
    crit = np.where(z, stats.norm.isf(alpha / 2), stats.t.isf(alpha / 2, np.where(z, 1.0, ddf)))
    return [
        {
            "name": names[j],
            "estimate": float(beta[j]),
            "se": float(se[j]),
            "stat": float(stat[j]),
            "df": None if z[j] else float(ddf[j]),
            "p": float(pv[j]),
            "ci_low": float(beta[j] - crit[j] * se[j]),
            "ci_high": float(beta[j] + crit[j] * se[j]),
        }
        for j in range(beta.shape[0])
    ]


def _heterogeneity(y: np.ndarray, X: np.ndarray, V: np.ndarray) -> tuple[float, float, float]:
    """QE (with V alone), its p-value and the typical sampling variance ``vt = (k - p) / tr(P)``."""
    k, p = X.shape
    Wv = np.linalg.inv(V)
    WX = Wv @ X
    Pv = Wv - WX @ np.linalg.solve(X.T @ WX, WX.T)
    QE = float(y @ Pv @ y)
    return QE, float(stats.chi2.sf(QE, k - p)), (k - p) / float(np.trace(Pv))


def wald_test(beta: np.ndarray, vb: np.ndarray, btt, ddf: float | None) -> tuple[float, int, int | None, float]:
    """Wald test that ``beta[btt] = 0``: chi² (``ddf=None``) or F = QM/m with ``(m, ddf)`` df."""
    bt = list(btt)
    m = len(bt)
    b = beta[bt]
    try:
        QM = float(b @ np.linalg.solve(vb[np.ix_(bt, bt)], b))
    except np.linalg.LinAlgError:
        return math.nan, m, None, math.nan
    if ddf is None:
        return QM, m, None, float(stats.chi2.sf(QM, m))
    QM /= m
    return QM, m, int(round(ddf)), float(stats.f.sf(QM, m, ddf))


def _fitstats(model: _Model, f: _Fit, V: np.ndarray, n_vc: int) -> dict[str, float]:
    k, p = model.k, model.p
    parms = p + n_vc
    ll = f.ll
    if model.reml:
        dev = -2.0 * ll
        n = k - p
    else:
        ll_qe = -0.5 * k * _LOG2PI - 0.5 * float(np.linalg.slogdet(V)[1])
        dev = -2.0 * (ll - ll_qe)
        n = k
    big = max(n, parms + 2)
    return {
        "ll": ll,
        "deviance": dev,
        "AIC": -2.0 * ll + 2.0 * parms,
        "BIC": -2.0 * ll + parms * math.log(n),
        "AICc": -2.0 * ll + 2.0 * parms * big / (big - parms - 1),
        "parms": parms,
    }


def _profile_ll(res: RMAMVResult, j: int, value: float, starts: list) -> float:
    """Log-likelihood maximised over the other components with component ``j`` held at ``value``.

    ``starts`` collects ``(value, sigma2)`` of earlier evaluations; the nearest one is the
    starting point (the root finder's iterates are close to each other).  The inner tolerance
    1e-9 moves the profile log-likelihood by far less than the root tolerance.
    """
    model: _Model = res._model
    if starts:
        s0 = min(starts, key=lambda t: abs(t[0] - value))[1].copy()
    else:
        s0 = res.sigma2.copy()
    s0[j] = value
    fixed = np.zeros(len(s0), dtype=bool)
    fixed[j] = True
    if len(s0) == 1:
        return model.fit(s0, need_p=False).ll
    f, _, _ = _optimise(model, s0, fixed, tol=1e-9)
    starts.append((value, f.s2.copy()))
    return f.ll


@_single_blas
def confint_sigma2(res: RMAMVResult, *, level: float | None = None) -> list[tuple[float, float]]:
    r"""Profile-likelihood intervals of the variance components (metafor ``confint.rma.mv``).

    Each bound solves :math:`\ell_p(\sigma^2_l) = \hat\ell - \chi^2_{1;1-\alpha}/2`, where the
    profile :math:`\ell_p` re-maximises the other components.  The search is bounded by
    ``[0, max(10, 100 sigma2)]`` (metafor's ``vc.min``/``vc.max``); a bound that is not reached
    is reported as that limit.
    """
    lev = res.level if level is None else level
    a = 1.0 - (lev / 100.0 if lev > 1 else lev)
    target = res.fitstats["ll"] - stats.chi2.ppf(1 - a, 1) / 2.0
    out = []
    for j, s in enumerate(res.sigma2):
        s = float(s)
        vmax = 10.0 if s <= np.finfo(float).eps ** 0.5 else max(10.0, 100.0 * s)

        starts: list = []

        def g(v, j=j, starts=starts):
            return _profile_ll(res, j, v, starts) - target

        lo = 0.0 if g(0.0) > 0 else optimize.brentq(g, 0.0, s, xtol=1e-14, rtol=1e-10)
        hi = vmax if g(vmax) > 0 else optimize.brentq(g, s, vmax, xtol=1e-14, rtol=1e-10)
        out.append((float(lo), float(hi)))
    return out


def predict_mv(res: RMAMVResult, newmods=None) -> pd.DataFrame:
    """Predicted effects with confidence and prediction intervals (metafor ``predict.rma.mv``).

    ``newmods`` are moderator values without the intercept (rows); ``None`` gives the pooled
    effect of an intercept-only model or the fitted values.  The prediction interval adds every
    variance component.
    """
    if newmods is None:
        Xn = np.ones((1, 1)) if res.int_only else res.X
    else:
        a = np.atleast_2d(np.asarray(newmods, dtype=float))
        Xn = np.column_stack([np.ones(a.shape[0]), a]) if res.intercept else a
        if Xn.shape[1] != res.p:
            raise InputError(f"newmods must have {res.p - int(res.intercept)} column(s)")
    pred = Xn @ res.beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", Xn, res.vcov, Xn))
    alpha = 1.0 - res.level / 100.0
    c = stats.t.isf(alpha / 2, float(np.min(res.ddf))) if res.test == "t" else stats.norm.isf(alpha / 2)
    half = c * np.sqrt(se**2 + float(np.sum(res.sigma2)))
    return pd.DataFrame(
        {
            "pred": pred,
            "se": se,
            "ci_low": pred - c * se,
            "ci_high": pred + c * se,
            "pi_low": pred - half,
            "pi_high": pred + half,
        }
    )


# --------------------------------------------------------------------------------------------
# "~ inner | outer" with an unstructured covariance (metafor struct="UN")
# --------------------------------------------------------------------------------------------
_INNER_OUTER = re.compile(r"^~?\s*(?!1\s*\|)(\w+)\s*\|\s*(\w+)\s*$")


def _inner_levels(col: pd.Series) -> list[str]:
    """The inner levels in R's factor order: numerically for a numeric column, else as strings."""
    if pd.api.types.is_numeric_dtype(col):
        return [str(v) for v in sorted(set(col.tolist()))]
    return sorted(set(col.astype(str).tolist()))


class _DenseModel(_Model):
    """``M = V + sum_c theta_c G_c`` with dense ``G_c`` and lower bounds per component.

    Used for the unstructured inner|outer covariance, whose off-diagonal elements enter ``M``
    linearly through ``Z_a Z_b' + Z_b Z_a'`` and have no lower bound.
    """

    def __init__(self, y, X, V, G: list[np.ndarray], lower: np.ndarray, reml: bool):
        self.y, self.X, self.V, self.reml = y, X, V, reml
        self.k, self.p = X.shape
        self.Gd = G
        self.lower = lower
        self.logdet_xx = float(np.linalg.slogdet(X.T @ X)[1])

    def M(self, s2: np.ndarray) -> np.ndarray:
        M = self.V.copy()
        for s_, g in zip(s2, self.Gd, strict=True):
            M += s_ * g
        return M

    def fit(self, s2: np.ndarray, need_p: bool = True) -> _Fit:
        M = self.M(s2)
        c = np.linalg.cholesky(M)
        logdet_m = 2.0 * float(np.sum(np.log(np.diag(c))))
        ci = np.linalg.inv(c)
        Minv = ci.T @ ci
        MX = Minv @ self.X
        xmx = self.X.T @ MX
        vb = np.linalg.inv(xmx)
        vb = 0.5 * (vb + vb.T)
        beta = vb @ (MX.T @ self.y)
        r = self.y - self.X @ beta
        py = Minv @ r
        rss = float(r @ py)
        if self.reml:
            ll = -0.5 * (
                (self.k - self.p) * _LOG2PI - self.logdet_xx + logdet_m + float(np.linalg.slogdet(xmx)[1]) + rss
            )
        else:
            ll = -0.5 * (self.k * _LOG2PI + logdet_m + rss)
        P = Minv - MX @ vb @ MX.T if self.reml else None
        return _Fit(s2=s2, ll=ll, beta=beta, vb=vb, py=py, Minv=Minv, P=P)

    def score_info(self, f: _Fit):
        A = f.P if self.reml else f.Minv
        AG = [A @ g for g in self.Gd]
        Gpy = [g @ f.py for g in self.Gd]
        L = len(self.Gd)
        score = np.array([-0.5 * np.trace(AG[c]) + 0.5 * float(f.py @ Gpy[c]) for c in range(L)])
        info = np.empty((L, L))
        obs = np.empty((L, L))
        for a in range(L):
            for b in range(a, L):
                info[a, b] = info[b, a] = 0.5 * float(np.sum(AG[a] * AG[b].T))
                obs[a, b] = obs[b, a] = -info[a, b] + float(Gpy[a] @ A @ Gpy[b])
        return score, info, obs


# Long on purpose: the unstructured (UN) covariance fit of metafor's rma.mv, kept in one piece beside the
# nested-intercept path so that it reads against metafor's source.
def _rma_mv_un(yi, V, random, data, mods, mod_names, intercept, method, test, level, btt, prop, struct):
    struct = str(struct).upper()
    if struct not in ("UN", *STRUCTS):
        raise InputError(f"struct {struct!r} is not available", expected="UN | " + " | ".join(STRUCTS))
    inner_name, outer_name = _INNER_OUTER.match(random.strip()).groups()
    y, Vm, X, coef_names, _, codes = _inputs(yi, V, [outer_name], data, mods, mod_names, intercept)
    if inner_name not in data.columns:
        raise InputError(f"random effect {inner_name!r} is not a column of the data", column=inner_name)
    k, p = X.shape
    inner = data[inner_name].astype(str).to_numpy()
    levels = _inner_levels(data[inner_name])
    q = len(levels)
    outer = codes[0]
    Z = [np.zeros((k, int(outer.max()) + 1)) for _ in levels]
    for a, lev in enumerate(levels):
        rows = np.flatnonzero(inner == lev)
        Z[a][rows, outer[rows]] = 1.0
    G = [Z[a] @ Z[a].T for a in range(q)]
    pairs = [(a, b) for b in range(q) for a in range(b + 1, q)]  # R's lower-triangle order
    G += [Z[a] @ Z[b].T + Z[b] @ Z[a].T for a, b in pairs]
    lower = np.r_[np.zeros(q), np.full(len(pairs), -np.inf)]
    model = _DenseModel(y, X, Vm, G, lower, method == "REML")
    s0 = np.r_[_start(y, X, np.diag(Vm).copy(), 1).repeat(q), np.zeros(len(pairs))]
    if struct == "UN":
        # on Sigma's Cholesky factor, so Sigma stays positive semi-definite (rho in [-1, 1])
        f, iters, conv = fit_unstructured(model, q, s0)
        tau2 = f.s2[:q]
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = np.array([f.s2[q + j] / math.sqrt(tau2[a] * tau2[b]) for j, (a, b) in enumerate(pairs)])
        rho = np.clip(rho, -1.0, 1.0)  # Sigma = LL' is positive semi-definite; clip the rounding
        n_vc = len(G)
        rho_pairs = pairs
    else:
        # log variances and atanh correlations (metafor's parameterisation): tau² > 0, |rho| < 1
        f, theta, iters, conv = fit_structured(model, q, struct, float(s0[0]))
        tau2, rho = unpack(theta, struct, q)
        n_vc = sum(n_params(struct, q))
        rho_pairs = [(0, 1)] * rho.size
    msgs = [] if conv else ["the variance components did not converge; results are unreliable"]
    tau_names = levels if tau2.size == q else [inner_name]
    msgs += [f"tau² of {inner_name} = {tau_names[a]!r} is on its boundary (0)" for a in range(tau2.size)
             if tau2[a] <= 1e-10 * max(1.0, float(np.max(tau2)))]
    msgs += [
        f"rho of {inner_name} ({levels[a]}, {levels[b]}) is on its boundary (±1)"
        for j, (a, b) in enumerate(rho_pairs)
        if abs(rho[j]) >= 1 - 1e-8
    ]
    alpha = 1.0 - (level / 100.0 if level > 1 else level)
    ddf = np.full(p, np.nan) if test == "z" else np.full(p, float(k - p))
    coefs = _coef_table(coef_names, f.beta, f.vb, ddf, alpha)
    bt = list(btt) if btt is not None else (list(range(1, p)) if (intercept and p > 1) else list(range(p)))
    QM, QM_df, QM_ddf, QM_p = wald_test(f.beta, f.vb, bt, None if test == "z" else float(k - p))
    QE, QEp, vt = _heterogeneity(y, X, Vm)
    fs = _fitstats(model, f, Vm, n_vc)
    # one keyword per field of the result: long, but it is only naming
    return RMAMVResult(
        method=method,
        test=test,
        dfs="residual",
        k=k,
        p=p,
        level=float(level),
        coefficients=coefs,
        sigma2=np.zeros(0),
        sigma2_names=[],
        s_nlevels=[],
        sigma2_ci=None,
        I2=np.zeros(0),
        I2_total=math.nan,
        vt=float(vt),
        QE=QE,
        QE_df=k - p,
        QE_p=QEp,
        QM=QM,
        QM_df=QM_df,
        QM_ddf=QM_ddf,
        QM_p=QM_p,
        btt=[b + 1 for b in bt],
        pi_low=None,
        pi_high=None,
        fitstats=fs,
        converged=conv,
        iterations=iters,
        warnings=msgs,
        prop=prop,
        beta=f.beta,
        vcov=f.vb,
        ddf=ddf,
        X=X,
        yi=y,
        V=Vm,
        M=model.M(f.s2),
        codes=codes,
        coef_names=coef_names,
        intercept=intercept,
        struct=struct,
        un_terms=(inner_name, outer_name),
        tau2=tau2.copy(),
        tau2_names=levels if tau2.size == q else [inner_name],
        rho=rho,
    )


def _rma_mv_gls(yi, V, data, mods, mod_names, intercept, method, test, level, btt, prop):
    """rma.mv without random effects: GLS with the known ``V`` (``M = V``), logLik under ``method``."""
    if isinstance(yi, str):
        yi = data[yi]
    if isinstance(V, str):
        V = data[V]
    y = np.asarray(yi, dtype=float).ravel()
    k = y.size
    if k < 2 or not np.all(np.isfinite(y)):
        raise InputError("yi must have at least 2 finite values", column="yi")
    Vm = _as_v(V, k)
    X, coef_names = _design(mods, mod_names, intercept, k)
    k, p = X.shape
    if np.linalg.matrix_rank(X) < p:
        raise InputError("the design matrix is not of full column rank (redundant or constant moderators?)")
    model = _DenseModel(y, X, Vm, [], np.zeros(0), method == "REML")
    f = model.fit(np.zeros(0))
    alpha = 1.0 - (level / 100.0 if level > 1 else level)
    ddf = np.full(p, np.nan) if test == "z" else np.full(p, float(k - p))
    bt = list(btt) if btt is not None else (list(range(1, p)) if (intercept and p > 1) else list(range(p)))
    QM, QM_df, QM_ddf, QM_p = wald_test(f.beta, f.vb, bt, None if test == "z" else float(k - p))
    QE, QEp, vt = _heterogeneity(y, X, Vm)
    return RMAMVResult(
        method=method, test=test, dfs="residual", k=k, p=p, level=float(level),
        coefficients=_coef_table(coef_names, f.beta, f.vb, ddf, alpha), sigma2=np.zeros(0), sigma2_names=[],
        s_nlevels=[], sigma2_ci=None, I2=np.zeros(0), I2_total=math.nan, vt=float(vt), QE=QE, QE_df=k - p,
        QE_p=QEp, QM=QM, QM_df=QM_df, QM_ddf=QM_ddf, QM_p=QM_p, btt=[b + 1 for b in bt], pi_low=None,
        pi_high=None, fitstats=_fitstats(model, f, Vm, 0), converged=True, iterations=0, warnings=[], prop=prop,
        beta=f.beta, vcov=f.vb, ddf=ddf, X=X, yi=y, V=Vm, M=Vm.copy(), codes=[], coef_names=coef_names,
        intercept=intercept,
    )
