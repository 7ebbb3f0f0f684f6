r"""Outlying and influential rows of a classical fit, and how much the estimate moves without them.

A row is flagged when its studentised deleted residual is large, :math:`|r_i^{stud}| > 3`, or its Cook's
distance exceeds metafor's cut, :math:`D_i > \chi^2_{p;\,0.5}` (the median of a :math:`\chi^2_p`; metafor's
``influence()`` marks ``cook.d`` by ``pchisq(cook.d, p) > 0.5``, Viechtbauer & Cheung 2010).  The model is then
refitted without the flagged rows (same estimator, test and design) and the first coefficient -- the pooled effect
of a model without moderators, the intercept otherwise -- is compared with the full fit's.

* ``rma`` fits: :func:`metaquant.classical.influence.influence` (one refit per row).
* ``rma_mv`` fits with nested random intercepts: per row, the deleted refit gives both the studentised residual
  (:func:`metaquant.classical.residuals.rstudent`) and Cook's distance
  (:func:`metaquant.classical.influence.cooks_distance` per row), from one refit each.

References
----------
Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for meta-analysis. *Res Synth Methods*
1:112-125.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError

__all__ = ["MAX_ROWS", "RSTUDENT_CUT", "OutlierCheck", "outliers"]

#: A fit checks its rows only up to this many (one refit per row): two-level and multilevel models.
MAX_ROWS = {"rma": 400, "rma_mv": 80}
#: |rstudent| above this flags a row.
RSTUDENT_CUT = 3.0


@dataclass
class OutlierCheck:
    """Rows flagged by :func:`outliers` and the fit without them.

    ``table`` has one row per data row (1-based ``row``) with ``rstudent``, ``cook_d`` and ``flagged``;
    ``flagged`` lists the 1-based rows; ``estimate`` / ``estimate_without`` are the first coefficient with
    and without them and ``change_pct`` is ``100 (without - with) / |with|``.
    """

    table: pd.DataFrame
    flagged: list[int]
    cook_cut: float
    estimate: float
    estimate_without: float | None = None
    beta_without: np.ndarray | None = field(default=None, repr=False)

    @property
    def change(self) -> float | None:
        return None if self.estimate_without is None else self.estimate_without - self.estimate

    @property
    def change_pct(self) -> float | None:
        if self.estimate_without is None or self.estimate == 0:
            return None
        return 100.0 * (self.estimate_without - self.estimate) / abs(self.estimate)

    def note(self, names=None) -> str | None:
        """One sentence for a fit's notes (``None`` when nothing is flagged); ``names`` label the rows."""
        if not self.flagged:
            return None
        lab = [str(names[i - 1]) if names is not None else f"row {i}" for i in self.flagged]
        shown = ", ".join(lab[:5]) + (f" and {len(lab) - 5} more" if len(lab) > 5 else "")
        head = (f"{len(lab)} outlying or influential row(s) (|rstudent| > {RSTUDENT_CUT:g} or Cook's distance > "
                f"{self.cook_cut:.3g}): {shown}")
        if self.estimate_without is None:
            return head + "; the model cannot be refitted without them"
        pct = self.change_pct
        move = "" if pct is None else f" ({pct:+.1f}%)"
        return (f"{head}; without them the estimate moves from {self.estimate:.4g} to "
                f"{self.estimate_without:.4g}{move}")


def _uni(res):
    from .influence import influence  # noqa: PLC0415

    inf = influence(res)
    return inf["rstudent"].to_numpy(), inf["cook_d"].to_numpy()


def _mv(res):
    from .rma_mv import rma_mv  # noqa: PLC0415

    if getattr(res, "struct", None) is not None:
        raise InputError("outlier flags of an inner | outer fit are not available")
    k = res.k
    svb = np.linalg.inv(res.vcov)
    rs = np.full(k, np.nan)
    cd = np.full(k, np.nan)
    for i in range(k):
        keep = np.arange(k) != i
        if np.linalg.matrix_rank(res.X[keep]) < res.p:
            continue
        try:
            d = rma_mv(res.yi[keep], res.V[np.ix_(keep, keep)], random=[c[keep] for c in res.codes],
                       mods=res.X[keep], intercept=False, method=res.method, test=res.test, dfs=res.dfs,
                       profile=False)
        except (ValueError, InputError, np.linalg.LinAlgError):
            continue
        xi = res.X[i]
        resid = float(res.yi[i] - xi @ d.beta)
        resid = 0.0 if abs(resid) < 100 * np.finfo(float).eps else resid
        rs[i] = resid / math.sqrt(res.V[i, i] + float(np.sum(d.sigma2)) + float(xi @ d.vcov @ xi))
        db = res.beta - d.beta
        cd[i] = float(db @ svb @ db)
    return rs, cd


def _refit(res, keep: np.ndarray):
    if getattr(res, "sigma2", None) is None:
        from .influence import _refit as refit_uni  # noqa: PLC0415

        return refit_uni(res, keep)
    from .rma_mv import rma_mv  # noqa: PLC0415

    return rma_mv(res.yi[keep], res.V[np.ix_(keep, keep)], random=[c[keep] for c in res.codes], mods=res.X[keep],
                  intercept=False, method=res.method, test=res.test, dfs=res.dfs, profile=False)


def outliers(res, *, rstudent_cut: float = RSTUDENT_CUT) -> OutlierCheck:
    """Flag rows with ``|rstudent| > rstudent_cut`` or Cook's distance above ``qchisq(0.5, p)`` and refit without.

    Parameters
    ----------
    res : RMAResult or RMAMVResult
        An ``rma`` fit, or an ``rma_mv`` fit with nested random intercepts.
    rstudent_cut : float
        The cut of the studentised deleted residuals (3 by default).

    Returns
    -------
    OutlierCheck
    """
    if res.k < 3:
        raise InputError("outlier flags need at least 3 rows")
    rs, cd = _mv(res) if getattr(res, "sigma2", None) is not None else _uni(res)
    cut = float(stats.chi2.ppf(0.5, res.p))
    with np.errstate(invalid="ignore"):
        flag = (np.abs(rs) > rstudent_cut) | (cd > cut)
    table = pd.DataFrame({"rstudent": rs, "cook_d": cd, "flagged": flag},
                         index=pd.RangeIndex(1, res.k + 1, name="row"))
    rows = [int(i) + 1 for i in np.flatnonzero(flag)]
    est = float(res.beta[0])
    out = OutlierCheck(table, rows, cut, est)
    if rows:
        keep = ~flag
        if keep.sum() > res.p and np.linalg.matrix_rank(res.X[keep]) == res.p:
            try:
                r = _refit(res, keep)
            except (ValueError, InputError, np.linalg.LinAlgError):
                r = None
            if r is not None:
                out.beta_without = np.asarray(r.beta, dtype=float)
                out.estimate_without = float(r.beta[0])
    return out
