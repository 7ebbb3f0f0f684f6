r"""Leave-one-out diagnostics and influence measures, matched to metafor 3.8.

* :func:`influence` -- metafor's ``influence.rma.uni``: for each study ``i`` the model is refitted
  without it (same estimator and test) and

  - ``rstudent`` :math:`= (y_i - x_i'\hat\beta_{(-i)}) / \sqrt{s^2_{(-i)}(v_i + \hat\tau^2_{(-i)})
    + x_i'\operatorname{Var}(\hat\beta_{(-i)})x_i}`
  - ``dffits`` :math:`= x_i'(\hat\beta - \hat\beta_{(-i)}) / \sqrt{s^2_{(-i)} h_i (\hat\tau^2_{(-i)} + v_i)}`
  - ``cook_d`` :math:`= (\hat\beta - \hat\beta_{(-i)})' \operatorname{Var}(\hat\beta)^{-1}
    (\hat\beta - \hat\beta_{(-i)})`
  - ``cov_r`` :math:`= \det\operatorname{Var}(\hat\beta_{(-i)}) / \det\operatorname{Var}(\hat\beta)`
  - ``tau2_del``, ``QE_del`` (tau² and QE without ``i``), ``hat`` (diagonal of
    :math:`X(X'WX)^{-1}X'W`), ``weight`` (percent) and ``dfbs``
    :math:`= (\hat\beta - \hat\beta_{(-i)}) / \sqrt{s^2_{(-i)}\operatorname{diag}(X'W_{(-i)}X)^{-1}}`
    with :math:`W_{(-i)} = \operatorname{diag}(1/(v + \hat\tau^2_{(-i)}))` on all k studies;

  ``s²`` is the Knapp-Hartung factor (1 under ``test="z"``).  A study is flagged influential
  (``inf``) when :math:`|DFFITS| > 3\sqrt{p/(k-p)}`, :math:`P(\chi^2_p \le D) > 0.5`,
  :math:`h > 3p/k` or any :math:`|DFBETAS| > 1` (Viechtbauer & Cheung 2010).
* :func:`leave1out` -- the pooled model without each study (or each cluster).
* :func:`cooks_distance` -- Cook's distances of an :func:`metaquant.classical.rma_mv.rma_mv` fit,
  per row or per cluster (metafor ``cooks.distance.rma.mv(cluster=)``), refitting each time.
* :func:`baujat` -- the coordinates of a Baujat plot (see :mod:`metaquant.present.influence_plots`).

References
----------
Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for meta-analysis.
*Res Synth Methods* 1:112-125.  Baujat B et al. (2002). A graphical method for exploring
heterogeneity in meta-analyses. *Stat Med* 21:2641-2652.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError
from .rma import RMAResult, rma

__all__ = ["baujat", "cooks_distance", "influence", "leave1out"]


def _refit(res: RMAResult, keep: np.ndarray) -> RMAResult:
    """The same model (design, estimator, test) on the rows ``keep``."""
    return rma(
        res.yi[keep],
        res.vi[keep],
        mods=res.X[keep],
        intercept=False,
        method=res.method,
        test=res.test,
        level=res.level,
    )


def _check(res) -> None:
    if not isinstance(res, RMAResult):
        raise InputError("influence diagnostics need an rma() result (use cooks_distance for rma_mv fits)")
    if res.k < 2:
        raise InputError("influence diagnostics need k >= 2")


def influence(res: RMAResult) -> pd.DataFrame:
    """metafor's ``influence()`` statistics, one row per study (see the module docstring).

    Returns
    -------
    DataFrame
        Columns ``rstudent, dffits, cook_d, cov_r, tau2_del, QE_del, hat, weight, inf`` and one
        ``dfbs_<coefficient>`` column per coefficient.
    """
    _check(res)
    k, p = res.X.shape
    X, y, v = res.X, res.yi, res.vi
    w = 1.0 / (v + res.tau2)
    XtWX_inv = np.linalg.inv(X.T @ (w[:, None] * X))
    hat = np.einsum("ij,jk,ik->i", X, XtWX_inv, X) * w
    weight = 100.0 * w / np.sum(w)
    svb = np.linalg.inv(res.vcov)
    det_full = np.linalg.det(res.vcov)
    pred_full = X @ res.beta
    out = {key: np.full(k, np.nan) for key in ("rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del")}
    dfbs = np.full((k, p), np.nan)
    for i in range(k):
        keep = np.arange(k) != i
        try:
            r = _refit(res, keep)
        except ValueError:
            continue
        xi = X[i]
        delpred = float(xi @ r.beta)
        vdel = float(xi @ r.vcov @ xi)
        out["tau2_del"][i] = r.tau2
        out["QE_del"][i] = r.Q
        out["dffits"][i] = (pred_full[i] - delpred) / math.sqrt(r.s2w * hat[i] * (r.tau2 + v[i]))
        vb_del = np.linalg.inv(X.T @ ((1.0 / (v + r.tau2))[:, None] * X))
        dfb = res.beta - r.beta
        dfbs[i] = dfb / np.sqrt(r.s2w * np.diag(vb_del))
        out["cook_d"][i] = float(dfb @ svb @ dfb)
        out["cov_r"][i] = np.linalg.det(r.vcov) / det_full
        resid = y[i] - delpred
        if abs(resid) < 100 * np.finfo(float).eps:
            resid = 0.0
        out["rstudent"][i] = resid / math.sqrt(v[i] * r.s2w + vdel + r.tau2 * r.s2w)
    frame = pd.DataFrame(out)
    frame["hat"] = hat
    frame["weight"] = weight
    infl = (
        (np.abs(frame["dffits"]) > 3 * math.sqrt(p / (k - p)))
        | (stats.chi2.cdf(frame["cook_d"], p) > 0.5)
        | (frame["hat"] > 3 * p / k)
        | np.any(np.abs(dfbs) > 1, axis=1)
    )
    frame["inf"] = infl.fillna(False).astype(bool)
    for j, n in enumerate(res.coef_names):
        frame[f"dfbs_{n}"] = dfbs[:, j]
    frame.index = pd.RangeIndex(1, k + 1, name="study")
    return frame


def leave1out(res: RMAResult, cluster=None) -> pd.DataFrame:
    """The intercept-only model refitted without each study, or each cluster (metafor ``leave1out``).

    Returns
    -------
    DataFrame
        One row per study (or cluster, in order of first appearance) with ``estimate, se, stat,
        pval, ci_low, ci_high, Q, Qp, tau2, I2, H2``.
    """
    _check(res)
    if not res.int_only:
        raise InputError("leave1out() is for models without moderators (as metafor)")
    k = res.k
    groups = np.arange(k) if cluster is None else np.asarray(cluster)
    if groups.shape != (k,):
        raise InputError(f"cluster has {groups.size} values but the model has {k} rows")
    ids = pd.unique(groups)
    rows = []
    for g in ids:
        keep = groups != g
        r = rma(res.yi[keep], res.vi[keep], method=res.method, test=res.test, level=res.level)
        rows.append(
            {
                "left_out": g + 1 if cluster is None else g,
                "estimate": r.estimate,
                "se": r.se,
                "stat": r.stat,
                "pval": r.pval,
                "ci_low": r.ci_low,
                "ci_high": r.ci_high,
                "Q": r.Q,
                "Qp": r.Q_p,
                "tau2": r.tau2,
                "I2": r.I2,
                "H2": r.H2,
            }
        )
    return pd.DataFrame(rows).set_index("left_out")


def baujat(res: RMAResult) -> pd.DataFrame:
    r"""Baujat-plot coordinates (metafor ``baujat``): heterogeneity contribution and influence.

    ``x`` :math:`= (y_i - x_i'\hat\beta)^2 / (\hat\tau^2 + v_i)` (squared Pearson residual),
    ``y`` :math:`= (x_i'\hat\beta_{(-i)} - x_i'\hat\beta)^2 / x_i'\operatorname{Var}(\hat\beta_{(-i)})x_i`.
    """
    _check(res)
    k = res.k
    xs = (res.yi - res.X @ res.beta) ** 2 / (res.tau2 + res.vi)
    ys = np.full(k, np.nan)
    for i in range(k):
        try:
            r = _refit(res, np.arange(k) != i)
        except ValueError:
            continue
        xi = res.X[i]
        ys[i] = float(xi @ r.beta - xi @ res.beta) ** 2 / float(xi @ r.vcov @ xi)
    return pd.DataFrame({"x": xs, "y": ys}, index=pd.RangeIndex(1, k + 1, name="study"))


def cooks_distance(res, cluster=None) -> pd.Series:
    """Cook's distances of a multilevel fit, per row or per cluster (metafor ``cooks.distance.rma.mv``).

    For each cluster ``c`` (rows with one value of ``cluster``; each row when ``None``) the model
    is refitted without it and
    :math:`D_c = d'\\operatorname{Var}(\\hat\\beta)^{-1}d`, :math:`d = \\hat\\beta - \\hat\\beta_{(-c)}`.
    Clusters (sorted) whose removal leaves a rank-deficient design get NaN.  For an :func:`rma` result the
    per-row distances of :func:`influence` are returned.
    """
    if isinstance(res, RMAResult):
        if cluster is not None:
            raise InputError("cooks_distance(cluster=) is for rma_mv fits")
        return influence(res)["cook_d"]
    from .rma_mv import rma_mv  # noqa: PLC0415 - multilevel does not import influence

    k = res.k
    groups = np.arange(1, k + 1) if cluster is None else np.asarray(cluster)
    if groups.shape != (k,):
        raise InputError(f"cluster has {groups.size} values but the model has {k} rows")
    ids = np.unique(groups)  # sorted, as metafor reports them
    svb = np.linalg.inv(res.vcov)
    out = np.full(len(ids), np.nan)
    for j, g in enumerate(ids):
        keep = groups != g
        Xk = res.X[keep]
        if np.linalg.matrix_rank(Xk) < res.p:
            continue
        r = rma_mv(
            res.yi[keep],
            res.V[np.ix_(keep, keep)],
            random=[c[keep] for c in res.codes],
            mods=Xk,
            intercept=False,
            method=res.method,
            test=res.test,
            dfs=res.dfs,
            profile=False,
        )
        d = res.beta - r.beta
        out[j] = float(d @ svb @ d)
    return pd.Series(out, index=pd.Index(ids, name="cluster"), name="cooks_distance")
