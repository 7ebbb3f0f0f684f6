"""The result protocol shared by the three engines.

Every engine's result (:class:`metaquant.classical.rma.RMAResult` and the
multilevel classical results, :class:`metaquant.bayes.BayesResult` for PyMC
and the exact engine, :class:`metaquant.ssm.SSMResult`) answers the same
questions under the same names, so that ``compare``, ``sensitivity``,
``plots``, ``report`` and the CLI read results without knowing which engine
made them:

``engine``
    ``"frequentist"``, ``"bayes"``, ``"exact"`` or ``"ssm"``.
``property``
    The property pooled (canonical name).
``label_code`` / ``label_probability``
    The SSM label read off the result and how sure it is: the posterior
    probability of the label's zones (Bayesian engines), the belief ``Bel``
    (SSM); ``None`` for the classical engine, whose label is that of its
    point estimate.  ``label_code`` is ``None`` when the evidence does not
    decide (see :data:`NO_LABEL`).
``pct``, ``pct_ci_low``, ``pct_ci_high``
    The headline effect on the % scale (relative improvement, positive = the
    property gets better): for the log ratio, ``exp(mu) - 1`` (classical) or
    the back-transformed posterior *median* (Bayesian), never the mean of
    transformed draws, so its sign always agrees with the pooled log ratio.
``predictions``
    A list of dicts, one per observed level of a single moderator (the
    effect at 8, 4, 2 bits), each with ``moderator``, ``level``, ``k``,
    ``pct``, ``pct_ci_low``, ``pct_ci_high`` and ``label_code``.
``spec`` / ``rows``
    The :class:`~metaquant.spec.FitSpec` it was fitted with and the effect
    rows it pooled, the variance policy applied (``len(rows) == k``); set by
    :func:`metaquant.fitting.fit_table` for every result of ``metaquant.fit``.
``notes``
    What was done that a reader must know (rows dropped, variances imputed).
``diagnostics``
    Engine-specific checks as a flat dict (R-hat, ESS, divergences; the
    convergence of an iterative estimator).
``ok``
    ``True`` when every diagnostic passed; ``--strict`` reads this.
``to_dict()``
    Everything above and the engine's own numbers, JSON-ready.
``to_frame()``
    A tidy one-row-per-quantity :class:`pandas.DataFrame` with the columns
    ``property``, ``engine``, ``term``, ``estimate``, ``ci_low``, ``ci_high``
    (extra columns allowed).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import pandas as pd

#: What ``label_code`` is when the evidence does not decide.
NO_LABEL = None

#: Columns every ``to_frame()`` has, in this order.
FRAME_COLUMNS = ("property", "engine", "term", "estimate", "ci_low", "ci_high")


@runtime_checkable
class EngineResult(Protocol):
    """What every engine's result provides (see the module docstring)."""

    engine: str
    property: str
    label_code: str | None
    label_probability: float | None
    pct: float | None
    pct_ci_low: float | None
    pct_ci_high: float | None
    predictions: list[dict]
    notes: list[str]
    diagnostics: dict[str, Any]
    ok: bool

    def to_dict(self) -> dict: ...

    def to_frame(self) -> pd.DataFrame: ...


class FitStatistics:
    """metafor's fit statistics by name, read from a result's ``fitstats`` dict (``ll, deviance, AIC, BIC, AICc,
    parms``); shared by the two-level and the multilevel classical results."""

    fitstats: dict

    @property
    def logLik(self) -> float:  # noqa: N802 - metafor's name
        return self.fitstats["ll"]

    @property
    def deviance(self) -> float:
        return self.fitstats["deviance"]

    @property
    def AIC(self) -> float:  # noqa: N802
        return self.fitstats["AIC"]

    @property
    def BIC(self) -> float:  # noqa: N802
        return self.fitstats["BIC"]

    @property
    def AICc(self) -> float:  # noqa: N802
        return self.fitstats["AICc"]

    @property
    def parms(self) -> int:
        return int(self.fitstats["parms"])


def design_rows(x, names: list[str], *, argument: str = "x"):
    """``x`` as a float matrix of design rows for ``names`` (the fit's moderator columns), or a clear error.

    Raises
    ------
    UsageError
        The model has no moderators; ``x`` is None, not numeric, not finite or
        has the wrong number of columns (named as ``argument``).
    """
    import numpy as np

    from .errors import UsageError

    cols = ", ".join(names)
    want = f"one value per moderator column ({cols}) in each row, e.g. [[{', '.join('0' for _ in names)}]]"
    if not names:
        raise UsageError(
            "the model has no moderators, so there is nothing to set", argument=argument,
            expected="a fit with moderators (moderators=[...] / --moderator); read the pooled effect from the "
                     "result itself",
        )  # fmt: skip
    if x is None:
        raise UsageError("is None", argument=argument, expected=want)
    try:
        arr = np.atleast_2d(np.asarray(x, dtype=float))
    except (TypeError, ValueError):
        raise UsageError(f"{x!r} is not numeric", argument=argument, expected=want) from None
    if arr.ndim != 2 or arr.shape[1] != len(names) or arr.shape[0] == 0:
        raise UsageError(f"has shape {np.shape(x)} for {len(names)} moderator column(s)", argument=argument,
                         expected=want)  # fmt: skip
    if not np.isfinite(arr).all():
        raise UsageError("holds a value that is not a finite number", argument=argument, expected=want)
    return arr


def tidy_frame(rows: list[dict], *, prop: str, engine: str) -> pd.DataFrame:
    """A tidy frame from ``[{"term": ..., "estimate": ..., "ci_low": ..., "ci_high": ...}, ...]``."""
    df = pd.DataFrame(rows)
    for col in ("estimate", "ci_low", "ci_high"):
        if col not in df:
            df[col] = float("nan")
    df.insert(0, "engine", engine)
    df.insert(0, "property", prop)
    extra = [c for c in df.columns if c not in FRAME_COLUMNS]
    return df[list(FRAME_COLUMNS) + extra]
