r"""Best linear unbiased predictions of true effects and of random effects (metafor's ``blup`` and ``ranef``).

For an :func:`~metaquant.classical.rma.rma` fit with :math:`\lambda_i = \hat\tau^2/(\hat\tau^2 + v_i)` (metafor's
``blup.rma.uni`` / ``ranef.rma.uni``):

* ``blup`` -- the study's true effect :math:`\lambda_i y_i + (1-\lambda_i)x_i'\hat\beta` with variance
  :math:`\lambda_i v_i + (1-\lambda_i)^2 x_i'\hat V x_i`;
* ``ranef`` -- its deviation from the fitted value, :math:`\lambda_i(y_i - x_i'\hat\beta)`, with variance
  :math:`\lambda_i v_i + \lambda_i^2 x_i'\hat V x_i`.

For an :func:`~metaquant.classical.rma_mv.rma_mv` fit with marginal covariance :math:`M`, :math:`W = M^{-1}`,
:math:`P = W - WX(X'WX)^{-1}X'W` and residuals :math:`e = y - X\hat\beta` (metafor's ``ranef.rma.mv``):
the random effects of level :math:`l` are :math:`\hat u_l = \sigma^2_l Z_l'We` with covariance
:math:`\sigma^2_l I - \sigma^4_l Z_l'PZ_l`; for ``~ inner | outer`` with an unstructured :math:`\Sigma`, the random
effect of each row's (inner, outer) cell is :math:`GWe` with covariance :math:`G - GPG`,
:math:`G = (Z_1\Sigma Z_1') \circ (Z_2Z_2')`.  ``blup`` of an rma_mv fit is the fitted value plus every random
effect of the row, :math:`x_i'\hat\beta + (M - V)_{i\cdot}We`, with variance from
:math:`(M-V) - (M-V)P(M-V)` (each row's true effect; metafor offers it through ``fitted + ranef``).

Intervals are prediction intervals :math:`\hat u \pm c\,SE` with :math:`c` the normal quantile, or the t quantile on
the fit's df under ``test="knha"``/``"t"``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError

__all__ = ["blup", "ranef"]


def _crit(res) -> float:
    alpha = 1.0 - res.level / 100.0
    if res.test == "z":
        return float(stats.norm.isf(alpha / 2))
    df = res.df if getattr(res, "sigma2", None) is None else float(np.min(res.ddf))
    return float(stats.t.isf(alpha / 2, df))


def _frame(pred, var, crit, index) -> pd.DataFrame:
    se = np.sqrt(np.maximum(var, 0.0))
    return pd.DataFrame({"pred": pred, "se": se, "pi_low": pred - crit * se, "pi_high": pred + crit * se},
                        index=index)


def _is_mv(res) -> bool:
    return getattr(res, "sigma2", None) is not None


def _mv_parts(res):
    W = np.linalg.inv(res.M)
    W = 0.5 * (W + W.T)
    WX = W @ res.X
    P = W - WX @ res.vcov @ WX.T
    e = res.yi - res.X @ res.beta
    return W, P, e


def blup(res) -> pd.DataFrame:
    """Predicted true effect of each row, with its SE and prediction interval (metafor ``blup``).

    Returns
    -------
    DataFrame
        ``pred, se, pi_low, pi_high``, one row per effect size (index 1..k).
    """
    idx = pd.RangeIndex(1, res.k + 1, name="row")
    if _is_mv(res):
        W, P, e = _mv_parts(res)
        G = res.M - res.V  # the covariance of the random effects summed per row
        fitted = res.X @ res.beta
        return _frame(fitted + G @ W @ e, np.diag(G - G @ P @ G) + 0.0, _crit(res), idx)
    lam = res.tau2 / (res.tau2 + res.vi)
    xvx = np.einsum("ij,jk,ik->i", res.X, res.vcov, res.X)
    pred = lam * res.yi + (1 - lam) * (res.X @ res.beta)
    return _frame(pred, lam * res.vi + (1 - lam) ** 2 * xvx, _crit(res), idx)


def ranef(res, data: pd.DataFrame | None = None):
    """Random effects with SEs and prediction intervals (metafor ``ranef``).

    Parameters
    ----------
    res : RMAResult or RMAMVResult
    data : DataFrame, optional
        The table an rma_mv fit was given, to label its groups by the grouping columns (``"a/b"`` for nested
        levels, ``"level | group"`` for ``inner | outer``); without it groups are numbered.

    Returns
    -------
    DataFrame or dict of DataFrame
        For an rma fit one frame (``pred, se, pi_low, pi_high`` per study); for an rma_mv fit one frame per
        variance component (keyed by the level's name, index: its groups), or for ``~ inner | outer`` one frame
        keyed ``"inner | outer"`` with one row per ``"level | group"`` cell.
    """
    if not _is_mv(res):
        if res.is_fixed:
            raise InputError("an equal-effects model has no random effects")
        lam = res.tau2 / (res.tau2 + res.vi)
        xvx = np.einsum("ij,jk,ik->i", res.X, res.vcov, res.X)
        pred = lam * (res.yi - res.X @ res.beta)
        return _frame(pred, lam * res.vi + lam**2 * xvx, _crit(res), pd.RangeIndex(1, res.k + 1, name="study"))
    W, P, e = _mv_parts(res)
    crit = _crit(res)
    if res.struct is not None:  # any inner | outer structure: G = M - V
        G = res.M - res.V
        names = [f"row{i + 1}" for i in range(res.k)]
        if data is not None and res.un_terms is not None:
            inner, outer = (data[c].astype(str).to_numpy() for c in res.un_terms)
            names = [f"{a} | {b}" for a, b in zip(inner, outer, strict=True)]
        key = " | ".join(res.un_terms) if res.un_terms else "un"
        return {key: _frame(G @ W @ e, np.diag(G - G @ P @ G) + 0.0, crit, pd.Index(names, name="cell"))}
    out = {}
    for name, s2, codes, labels in zip(res.sigma2_names, res.sigma2, res.codes, _labels(res, data), strict=True):
        n = int(codes.max()) + 1
        Z = np.zeros((res.k, n))
        Z[np.arange(res.k), codes] = 1.0
        DZW = s2 * (Z.T @ W)
        var = s2 - s2**2 * np.einsum("ij,jk,ki->i", Z.T, P, Z)
        out[name] = _frame(DZW @ e, var, crit, pd.Index(labels, name=name))
    return out


def _labels(res, data: pd.DataFrame | None) -> list[list[str]]:
    """Group labels per level ("a/b" for nested levels, from ``data``'s columns), in the order of the level codes."""
    out = []
    for name, codes in zip(res.sigma2_names, res.codes, strict=True):
        cols = name.split("/")
        first = pd.Series(np.arange(res.k)).groupby(codes).first().to_numpy()
        if data is not None and all(c in data.columns for c in cols):
            out.append(["/".join(str(data[c].iloc[i]) for c in cols) for i in first])
        else:
            out.append([str(j + 1) for j in range(len(first))])
    return out
