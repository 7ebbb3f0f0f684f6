r"""Fitted values and residuals of rma and rma_mv fits (metafor's ``fitted``, ``residuals``, ``rstandard``,
``rstudent``).

With :math:`M` the marginal covariance (``diag(v + tau²)`` for rma), :math:`H = X(X'M^{-1}X)^{-1}X'M^{-1}`:

* ``fitted`` :math:`X\hat\beta`; ``residuals`` :math:`e = y - X\hat\beta` (``type="response"``) or
  :math:`e_i/\sqrt{M_{ii}}` (``"pearson"``);
* ``rstandard`` -- :math:`e_i` over :math:`\sqrt{[(I-H)M(I-H)']_{ii}}`;
* ``rstudent`` -- the deleted residual :math:`y_i - x_i'\hat\beta_{(-i)}` of the model refitted without row
  :math:`i` (variance components re-estimated), over
  :math:`\sqrt{M^{(-i)}_{ii} + x_i'\operatorname{Var}(\hat\beta_{(-i)})x_i}` with :math:`M^{(-i)}` built from the
  deleted fit's components (for rma under ``test="knha"`` the sampling part is scaled by its :math:`s^2`, as
  :func:`metaquant.influence.influence`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["fitted", "residuals", "rstandard", "rstudent"]


def _is_mv(res) -> bool:
    return getattr(res, "sigma2", None) is not None


def _M(res) -> np.ndarray:
    return res.M if _is_mv(res) else np.diag(res.vi + res.tau2)


def _index(res) -> pd.RangeIndex:
    return pd.RangeIndex(1, res.k + 1, name="row")


def fitted(res) -> pd.Series:
    """The fitted values :math:`X\\hat\\beta` (metafor ``fitted``)."""
    return pd.Series(res.X @ res.beta, index=_index(res), name="fitted")


def residuals(res, type: str = "response") -> pd.Series:  # noqa: A002 - metafor's argument name
    """Raw (``"response"``) or Pearson (``"pearson"``) residuals (metafor ``residuals``)."""
    e = res.yi - res.X @ res.beta
    if type == "response":
        return pd.Series(e, index=_index(res), name="resid")
    if type == "pearson":
        return pd.Series(e / np.sqrt(np.diag(_M(res))), index=_index(res), name="pearson")
    raise InputError(f"unknown residual type {type!r}", expected="response | pearson")


def rstandard(res) -> pd.DataFrame:
    """Standardised residuals ``resid, se, z`` (metafor ``rstandard``)."""
    M = _M(res)
    W = np.linalg.inv(M)
    X = res.X
    H = X @ np.linalg.solve(X.T @ W @ X, X.T @ W)
    ImH = np.eye(res.k) - H
    se = np.sqrt(np.diag(ImH @ M @ ImH.T))
    e = res.yi - X @ res.beta
    return pd.DataFrame({"resid": e, "se": se, "z": e / se}, index=_index(res))


def rstudent(res) -> pd.DataFrame:
    """Studentised deleted residuals ``resid, se, z`` (metafor ``rstudent``; one refit per row)."""
    k = res.k
    out = np.full((k, 2), np.nan)
    for i in range(k):
        keep = np.arange(k) != i
        if np.linalg.matrix_rank(res.X[keep]) < res.p:
            continue
        try:
            d, m_ii = _deleted(res, keep, i)
        except (ValueError, np.linalg.LinAlgError):
            continue
        xi = res.X[i]
        resid = float(res.yi[i] - xi @ d.beta)
        out[i] = (0.0 if abs(resid) < 100 * np.finfo(float).eps else resid,
                  math.sqrt(m_ii + float(xi @ d.vcov @ xi)))
    return pd.DataFrame({"resid": out[:, 0], "se": out[:, 1], "z": out[:, 0] / out[:, 1]}, index=_index(res))


def _deleted(res, keep: np.ndarray, i: int):
    """The fit without row ``i`` and row ``i``'s marginal variance under the deleted fit's components."""
    if not _is_mv(res):
        from .influence import _refit  # noqa: PLC0415 - the same refit as influence()

        d = _refit(res, keep)
        return d, d.s2w * (res.vi[i] + d.tau2)
    if res.struct is not None:
        raise InputError(f"rstudent() of an inner | outer fit (struct {res.struct}) is not available")
    from .rma_mv import rma_mv  # noqa: PLC0415

    d = rma_mv(res.yi[keep], res.V[np.ix_(keep, keep)], random=[c[keep] for c in res.codes], mods=res.X[keep],
               intercept=False, method=res.method, test=res.test, dfs=res.dfs, profile=False)
    return d, float(res.V[i, i] + np.sum(d.sigma2))
