r"""Sampling covariance matrices for dependent effect sizes (the ``V`` of :func:`metaquant.classical.rma_mv.rma_mv`).

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

from ..errors import InputError

__all__ = ["constant_rho", "constant_rho_factor", "describe", "from_factor", "shared_baseline",
           "shared_baseline_factor"]


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


# --------------------------------------------------------------------------------------------
# The same matrices in factored form: V = diag(vi - omega^2) + sum_g omega_g omega_g'
# --------------------------------------------------------------------------------------------
# Every construction above gives, within a group of rows, V_ij = omega_i omega_j (i != j): a
# diagonal plus one rank-one term per group.  The Bayesian multilevel model evaluates its
# likelihood in that form (Woodbury per group, O(k) instead of a k x k Cholesky), so the factor
# is returned directly rather than recovered from a dense V (which for 6,000 rows is 300 MB).


def _codes(g: np.ndarray) -> np.ndarray:
    """Integer group of each row; -1 for rows alone in their group or without one."""
    s = pd.Series(g)
    valid = ~s.isna()
    codes = np.full(s.size, -1, dtype=np.int64)
    if valid.any():
        counts = s[valid].map(s[valid].value_counts())
        shared = valid.to_numpy().copy()
        shared[valid.to_numpy()] = counts.to_numpy() > 1
        if shared.any():
            codes[shared] = pd.factorize(s[shared])[0]
    return codes


def constant_rho_factor(vi, cluster, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`constant_rho` in factored form: ``(group, omega)`` with ``omega = sqrt(rho vi)``.

    ``group`` is an integer code per row (-1 for a row alone in its cluster, whose ``omega`` is
    0).  The factored form needs ``rho >= 0``.
    """
    v = _vi(vi)
    if not 0.0 <= float(rho) < 1.0:
        raise InputError(f"rho must be in [0, 1) for the factored form, got {rho!r}",
                         expected="a non-negative correlation (a shared baseline or a common source)")
    group = _codes(_groups(cluster, v.size, "cluster"))
    omega = np.where(group >= 0, np.sqrt(float(rho) * v), 0.0)
    return group, omega


def shared_baseline_factor(vi, baseline_group, *, baseline_var=None, n_arm=None,
                           n_baseline=None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`shared_baseline` in factored form: ``(group, omega)``.

    ``omega_i = sqrt(vi_i / 2)`` by default, ``sqrt(baseline_var_i)`` when the baseline's own
    variance is given, ``sqrt(vi_i n_i / (n_i + n_B))`` with the arms' sizes.
    """
    v = _vi(vi)
    k = v.size
    g = _groups(baseline_group, k, "baseline_group")
    group = _codes(g)
    if baseline_var is None and n_arm is None:
        a = 0.5 * v
    elif baseline_var is None:
        n1 = np.asarray(n_arm, dtype=float).ravel()
        n2 = np.asarray(n_baseline, dtype=float).ravel() if n_baseline is not None else None
        if n2 is None or n1.shape != (k,) or n2.shape != (k,) or np.any(~(n1 > 0)) or np.any(~(n2 > 0)):
            raise InputError("n_arm and n_baseline must be positive sizes, one per row", column="n_units")
        a = v * n1 / (n1 + n2)
    else:
        a = np.asarray(baseline_var, dtype=float).ravel()
        if a.shape != (k,) or np.any(~np.isfinite(a)) or np.any(a < 0) or np.any(a >= v):
            raise InputError("baseline_var must be finite, >= 0 and smaller than vi", column="baseline_var")
        for lev in pd.unique(g[group >= 0]):
            vals = a[g == lev]
            if not np.allclose(vals, vals[0], rtol=1e-10):
                raise InputError(f"rows of baseline group {lev!r} give different baseline variances",
                                 column="baseline_var")
    omega = np.where(group >= 0, np.sqrt(a), 0.0)
    return group, omega


def from_factor(vi, group, omega) -> np.ndarray:
    """The dense ``V`` of a factored form: ``V_ii = vi_i``, ``V_ij = omega_i omega_j`` within a group."""
    v = _vi(vi)
    g = np.asarray(group)
    w = np.asarray(omega, dtype=float)
    same = (g[:, None] == g[None, :]) & (g[:, None] >= 0)
    V = np.where(same, np.outer(w, w), 0.0)
    np.fill_diagonal(V, v)
    return V


def describe(rho: float | None, correlated: bool, cluster: str = "study") -> str:
    """The note a fit states about its sampling covariance (``rho`` None: shared baselines).

    ``correlated`` says whether any two rows were in fact correlated; where none were, the note
    says the errors stay independent rather than claiming a correlation.
    """
    if not correlated:
        who = "no two rows share a baseline (baseline_group)" if rho is None else \
            f"no {cluster} gives two rows with a known variance"
        return who + ": the sampling errors stay independent"
    if rho is None:
        return "arms sharing a baseline correlated at rho = 0.5 (equal contributions of the baseline)"
    return f"sampling errors within a {cluster} correlated at rho = {float(rho):g}"
