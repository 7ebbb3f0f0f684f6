r"""Sampling covariance matrices for dependent effect sizes (the ``V`` of :func:`metaquant.multilevel.rma_mv`).

Quantized arms compared with one full-precision baseline share that baseline's sampling error,
so their effect sizes are correlated.  Two constructions, as metafor's ``vcalc``:

* :func:`constant_rho` -- a stated correlation :math:`\rho` between any two effect sizes of one
  cluster: :math:`V_{ij} = \rho\sqrt{v_i v_j}` (``vcalc(vi, cluster, obs, rho)``; clubSandwich's
  ``impute_covariance_matrix``).  This is the working model of the CHE approach.
* :func:`shared_baseline` -- arms sharing a baseline (the data's ``baseline_group``): for a
  log ratio of means :math:`y_i = \log\bar x_{T_i} - \log\bar x_C` the covariance of two arms is
  the baseline's own variance :math:`\operatorname{Var}(\log\bar x_C) = s_C^2/(n_C\bar x_C^2)`
  (for a mean difference :math:`s_C^2/n_C`), given as ``baseline_var``; without it each
  baseline is assumed to contribute half of each arm's variance (equal spread and size of arms),
  i.e. :math:`V_{ij} = \tfrac12\sqrt{v_i v_j}` (Gleser & Olkin 2009).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = ["constant_rho", "shared_baseline"]


def _groups(cluster, k: int, name: str) -> np.ndarray:
    g = pd.Series(np.asarray(cluster, dtype=object))
    if g.shape[0] != k:
        raise InputError(f"{name} has {g.shape[0]} values but there are {k} effect sizes", column=name)
    return g.to_numpy()


def _vi(vi) -> np.ndarray:
    v = np.asarray(vi, dtype=float).ravel()
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise InputError("sampling variances must be finite and > 0", column="vi")
    return v


def constant_rho(vi, cluster, rho: float, *, obs=None) -> np.ndarray:
    """``V`` with ``V[i, j] = rho * sqrt(vi[i] vi[j])`` for distinct rows of one cluster.

    Rows with missing ``cluster`` are independent.  ``obs`` (optional) marks rows that are the
    same observation (correlation 1 between them, as ``vcalc``'s ``obs``).
    """
    v = _vi(vi)
    k = v.size
    if not -1.0 < float(rho) < 1.0:
        raise InputError(f"rho must be in (-1, 1), got {rho!r}")
    g = _groups(cluster, k, "cluster")
    valid = ~pd.isna(g)
    same = (g[:, None] == g[None, :]) & valid[:, None] & valid[None, :]
    R = np.where(same, float(rho), 0.0)
    if obs is not None:
        o = _groups(obs, k, "obs")
        R = np.where(same & (o[:, None] == o[None, :]), 1.0, R)
    np.fill_diagonal(R, 1.0)
    s = np.sqrt(v)
    return R * np.outer(s, s)


def shared_baseline(vi, baseline_group, *, baseline_var=None, n_arm=None, n_baseline=None) -> np.ndarray:
    """``V`` for arms that share a baseline (rows with equal ``baseline_group``).

    Parameters
    ----------
    vi : array_like
        Sampling variances of the arms' effect sizes.
    baseline_group : array_like
        The shared baseline of each row (the evidence table's ``baseline_group``); missing
        values are rows with their own baseline.
    baseline_var : array_like, optional
        The variance the baseline contributes to each row (``sd_C² / (n_C mean_C²)`` for a log
        ratio of means, ``sd_C² / n_C`` for a mean difference); rows of one group must agree.
        Without it the baseline is taken to contribute half of each row's variance.
    n_arm, n_baseline : array_like, optional
        Sizes of each row's quantized arm and of its baseline: the correlation of two arms is
        then :math:`\\sqrt{n_i n_j / ((n_i + n_B)(n_j + n_B))}` (metafor ``vcalc(grp1, grp2, w1,
        w2)``), which is 1/2 for equal sizes.
    """
    v = _vi(vi)
    k = v.size
    if baseline_var is None and n_arm is None:
        return constant_rho(v, baseline_group, 0.5)
    if baseline_var is None:
        n1 = np.asarray(n_arm, dtype=float).ravel()
        n2 = np.asarray(n_baseline, dtype=float).ravel() if n_baseline is not None else None
        if n2 is None or n1.shape != (k,) or n2.shape != (k,) or np.any(~(n1 > 0)) or np.any(~(n2 > 0)):
            raise InputError("n_arm and n_baseline must be positive sizes, one per row", column="n_units")
        g = _groups(baseline_group, k, "baseline_group")
        valid = ~pd.isna(g)
        same = (g[:, None] == g[None, :]) & valid[:, None] & valid[None, :]
        f = n1 / (n1 + n2)
        R = np.where(same, np.sqrt(np.outer(f, f)), 0.0)
        np.fill_diagonal(R, 1.0)
        s = np.sqrt(v)
        return R * np.outer(s, s)
    b = np.asarray(baseline_var, dtype=float).ravel()
    if b.shape != (k,) or np.any(~np.isfinite(b)) or np.any(b < 0) or np.any(b >= v):
        raise InputError("baseline_var must be finite, >= 0 and smaller than vi", column="baseline_var")
    g = _groups(baseline_group, k, "baseline_group")
    valid = ~pd.isna(g)
    same = (g[:, None] == g[None, :]) & valid[:, None] & valid[None, :]
    for lev in pd.unique(g[valid]):
        vals = b[g == lev]
        if not np.allclose(vals, vals[0], rtol=1e-10):
            raise InputError(f"rows of baseline group {lev!r} give different baseline variances", column="baseline_var")
    V = np.where(same, b[:, None], 0.0)
    np.fill_diagonal(V, v)
    return V
