r"""Wald tests of coefficients and of linear combinations (metafor's ``anova(res, btt=)``, ``anova(res, X=)``).

For a fit with coefficients :math:`\hat\beta` and their covariance :math:`\hat V` (Knapp-Hartung-scaled where the fit
used ``test="knha"``):

* ``btt`` -- :math:`Q_M = \hat\beta_b'\hat V_{bb}^{-1}\hat\beta_b` for the coefficients :math:`b`, a
  :math:`\chi^2_m` test under ``test="z"``; under ``"knha"``/``"t"`` :math:`F = Q_M/m` on :math:`(m, d)` degrees of
  freedom with :math:`d` the fit's omnibus denominator (``k - p``, or rma.mv's ``QM_ddf``), as metafor.
* ``X`` -- each row :math:`l_j` of a contrast matrix :math:`L` gives :math:`l_j'\hat\beta` with its standard error
  :math:`\sqrt{l_j'\hat V l_j}` and a z (t) test; when :math:`L` has full row rank, the joint test of all rows,
  :math:`(L\hat\beta)'(L\hat VL')^{-1}L\hat\beta` (:math:`/m` as F).  Under ``"t"`` row :math:`j` has the smallest
  df of the coefficients it involves and the joint F the smallest of those (metafor's rule, which matters for
  rma.mv's ``dfs="contain"``).

``btt`` may name coefficients: a name selects every coefficient whose name contains it as a word (``"technique"``
selects ``technique[qat]`` and ``log2(bits):technique[qat]``), as metafor's character ``btt`` does (by ``grep``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError
from ..outputs import json_safe

__all__ = ["WaldTest", "anova", "select_coefficients", "wald_terms"]


@dataclass
class WaldTest:
    """A Wald test of coefficients (``kind="btt"``) or of linear combinations (``kind="X"``).

    ``QM`` is the chi² statistic (``test="z"``) or the F statistic (``QM/m``) with ``(QM_df, QM_ddf)`` df;
    for ``kind="X"`` ``hypotheses``, ``estimate``, ``se``, ``stat``, ``pval`` (and ``df``) are per row.
    """

    kind: str
    test: str
    terms: list[str]
    coefficients: list[str]
    QM: float
    QM_df: int
    QM_ddf: float | None
    QM_p: float
    hypotheses: list[str] = field(default_factory=list)
    estimate: np.ndarray = field(default=None, repr=False)
    se: np.ndarray = field(default=None, repr=False)
    stat: np.ndarray = field(default=None, repr=False)
    pval: np.ndarray = field(default=None, repr=False)
    df: np.ndarray = field(default=None, repr=False)
    robust: str | None = None

    @property
    def is_f(self) -> bool:
        return self.QM_ddf is not None

    def sentence(self) -> str:
        """One line, e.g. ``Wald test of technique (2 coefficients): QM(df = 2) = 3.10, p = 0.212``."""
        what = ", ".join(self.terms) if self.terms else "the linear combinations"
        stat = (f"F({self.QM_df}, {_num(self.QM_ddf)}) = {self.QM:.4g}" if self.is_f
                else f"QM(df = {self.QM_df}) = {self.QM:.4g}")
        rob = f", cluster-robust {self.robust.upper()}" if self.robust else ""
        return (f"Wald test of {what} ({len(self.coefficients)} coefficient(s): {', '.join(self.coefficients)}"
                f"{rob}): {stat}, p = {self.QM_p:.4g}")

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "test": self.test, "terms": list(self.terms), "coefficients": list(self.coefficients),
             "QM": self.QM, "QM_df": self.QM_df, "QM_ddf": self.QM_ddf, "QM_p": self.QM_p, "robust": self.robust}
        if self.kind == "X":
            d["rows"] = self.to_frame().to_dict(orient="records")
        return json_safe(d)

    def to_frame(self) -> pd.DataFrame:
        """One row per hypothesis (``kind="X"``) or one row for the joint test."""
        if self.kind == "X":
            return pd.DataFrame({"hypothesis": self.hypotheses, "estimate": self.estimate, "se": self.se,
                                 "stat": self.stat, "df": self.df, "pval": self.pval})
        return pd.DataFrame([{"terms": ", ".join(self.terms), "QM": self.QM, "QM_df": self.QM_df,
                              "QM_ddf": self.QM_ddf, "QM_p": self.QM_p}])

    def __str__(self) -> str:
        out = [self.sentence()]
        if self.kind == "X":
            out += [f"  {h}: {e:.4f} (se {s:.4f}), {'t' if self.test != 'z' else 'z'} = {z:.4f}, p = {p:.4g}"
                    for h, e, s, z, p in zip(self.hypotheses, self.estimate, self.se, self.stat, self.pval,
                                             strict=True)]
        return "\n".join(out)


def _num(x) -> str:
    return f"{x:g}" if x is not None else "NA"


def select_coefficients(names: list[str], btt) -> list[int]:
    """0-based indices of the coefficients ``btt`` selects (ints, names, or name fragments matched as words).

    Raises
    ------
    InputError
        When an index is out of range or a name matches no coefficient.
    """
    items = [btt] if isinstance(btt, str | int | np.integer) else list(btt)
    out: list[int] = []
    for it in items:
        if isinstance(it, str):
            term = it.strip()
            pat = re.compile(r"(?<![\w.])" + re.escape(term) + r"(?![\w.])")
            hits = [j for j, n in enumerate(names) if n == term or pat.search(n)]
            if not hits:
                raise InputError(f"no coefficient matches {term!r}", expected=f"one of {', '.join(names)}")
        else:
            j = int(it)
            if not 0 <= j < len(names):
                raise InputError(f"coefficient index {j} is out of range", expected=f"0..{len(names) - 1}")
            hits = [j]
        out += [j for j in hits if j not in out]
    if not out:
        raise InputError("btt selects no coefficient")
    return sorted(out)


def _parts(res) -> tuple[np.ndarray, np.ndarray, list[str], str, np.ndarray, float | None]:
    """``(beta, vcov, names, test, ddf per coefficient, omnibus ddf)`` of an rma or rma_mv fit."""
    beta, vb = np.asarray(res.beta, float), np.asarray(res.vcov, float)
    p = beta.shape[0]
    names = list(res.coef_names) or [f"b{j}" for j in range(p)]
    test = res.test
    if test == "z":
        return beta, vb, names, test, np.full(p, np.nan), None
    ddf = np.asarray(getattr(res, "ddf", None) if getattr(res, "sigma2", None) is not None
                     else np.full(p, float(res.df)), dtype=float)
    qddf = res.QM_ddf if res.QM_ddf is not None else float(np.min(ddf))
    return beta, vb, names, test, ddf, float(qddf)


def _joint(b: np.ndarray, v: np.ndarray, m: int, ddf: float | None) -> tuple[float, float]:
    try:
        QM = float(b @ np.linalg.solve(v, b))
    except np.linalg.LinAlgError:
        return math.nan, math.nan
    if ddf is None:
        return QM, float(stats.chi2.sf(QM, m))
    QM /= m
    return QM, float(stats.f.sf(QM, m, ddf)) if ddf > 0 else math.nan


def anova(res, btt=None, *, X=None, rhs=0.0) -> WaldTest:
    """Wald test of coefficients or of linear combinations of an :func:`rma` / :func:`rma_mv` fit.

    Parameters
    ----------
    res : RMAResult or RMAMVResult
    btt : int, str or sequence, optional
        Coefficients to test jointly (0-based indices, names, or words of names; see :func:`select_coefficients`).
        Default: the fit's own omnibus test (all but the intercept).
    X : array_like, shape (m, p) or (p,), optional
        Linear combinations :math:`L` (one per row) to test instead.
    rhs : float or array_like
        The hypothesised values (default 0).

    Returns
    -------
    WaldTest
    """
    beta, vb, names, test, ddf, qddf = _parts(res)
    p = beta.shape[0]
    if X is not None:
        if btt is not None:
            raise InputError("give either btt or X, not both")
        return _contrasts(beta, vb, names, test, ddf, np.atleast_2d(np.asarray(X, dtype=float)), rhs)
    if btt is None:  # the fit's own omnibus test: all but the intercept (the intercept alone without moderators)
        default = list(range(1, p)) if (getattr(res, "intercept", True) and p > 1) else list(range(p))
        bt = [b - 1 for b in res.btt] if hasattr(res, "btt") else default
    else:
        bt = select_coefficients(names, btt)
    m = len(bt)
    r = np.broadcast_to(np.asarray(rhs, dtype=float), (m,))
    QM, QMp = _joint(beta[bt] - r, vb[np.ix_(bt, bt)], m, qddf)
    given = [btt] if isinstance(btt, str | int | np.integer) else list(btt or [])
    terms = [t.strip() for t in given if isinstance(t, str)] if given and all(isinstance(t, str) for t in given) \
        else [names[j] for j in bt]
    return WaldTest("btt", test, terms, [names[j] for j in bt], QM, m, qddf, QMp)


def _contrasts(beta, vb, names, test, ddf, L, rhs) -> WaldTest:
    m, p = L.shape
    if p != beta.shape[0] or not np.all(np.isfinite(L)):
        raise InputError(f"X must have {beta.shape[0]} finite columns (one per coefficient)")
    r = np.broadcast_to(np.asarray(rhs, dtype=float), (m,))
    est = L @ beta - r
    V = L @ vb @ L.T
    se = np.sqrt(np.diag(V))
    stat = est / se
    if test == "z":
        rdf = np.full(m, np.nan)
        pv = 2 * stats.norm.sf(np.abs(stat))
    else:
        rdf = np.array([float(np.min(ddf[L[j] != 0])) if np.any(L[j] != 0) else float(np.min(ddf)) for j in range(m)])
        pv = 2 * stats.t.sf(np.abs(stat), rdf)
    QM = QMp = math.nan
    qddf = None if test == "z" else float(np.min(rdf))
    if np.linalg.matrix_rank(L) == m:
        QM, QMp = _joint(est, V, m, qddf)
    hyp = [_hypothesis(L[j], names, r[j]) for j in range(m)]
    return WaldTest("X", test, [], [n for j, n in enumerate(names) if np.any(L[:, j] != 0)], QM, m, qddf, QMp,
                    hypotheses=hyp, estimate=est, se=se, stat=stat, pval=pv, df=rdf)


def _hypothesis(row: np.ndarray, names: list[str], rhs: float) -> str:
    parts = []
    for c, n in zip(row, names, strict=True):
        if c == 0:
            continue
        mag = "" if abs(c) == 1 else f"{abs(c):g}*"
        parts.append(("- " if c < 0 else "+ ") + mag + n)
    s = " ".join(parts).removeprefix("+ ")
    return f"{s} = {rhs:g}"


def wald_terms(res, entry: str, *, robust: str | None = None, clusters=None) -> WaldTest:
    """The Wald test of one ``--wald`` entry: comma-separated moderator terms tested jointly.

    With ``robust="cr1"|"cr2"`` and ``clusters``, the cluster-robust test of the same coefficients
    (:func:`metaquant.robust.robust` with ``btt``: an F test on ``n - p`` df, or clubSandwich's HTZ test).
    """
    terms = [t.strip() for t in entry.split(",") if t.strip()]
    names = list(res.coef_names)
    try:
        bt = select_coefficients(names, terms)
    except InputError as exc:
        raise InputError(f"--wald {entry!r}: {exc.message}", expected=exc.expected) from None
    if getattr(res, "intercept", True) and 0 in bt and "intrcpt" not in terms:
        bt = [b for b in bt if b != 0]
    if robust is None or clusters is None:
        w = anova(res, bt)
        w.terms = terms
        return w
    from .robust import robust as _robust  # noqa: PLC0415 - robust imports the fitting modules lazily

    rr = _robust(res, np.asarray(clusters), btt=bt, clubSandwich=robust == "cr2")
    return WaldTest("btt", "t", terms, [names[j] for j in bt], float(rr.QM), int(rr.QM_df), float(rr.QM_ddf),
                    float(rr.QM_p), robust=robust)
