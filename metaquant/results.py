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
``withheld_reason``
    In ``to_dict()`` only: why the result states no finding (:func:`withhold`).
    A fit whose checks failed (R-hat, ESS, divergences; an estimator that did
    not converge) carries no label, no probability of a label and no %
    headline; a fit with a categorical moderator carries no top-level label or
    % (its intercept is the reference level's effect): the per-level
    predictions carry them.  Every presenter reads ``to_dict()``, so this one
    rule governs text, JSON, CSV, the report, compare and sensitivity.
``to_dict()``
    Everything above and the engine's own numbers, JSON-ready.
``to_frame()``
    A tidy one-row-per-quantity :class:`pandas.DataFrame` with the columns
    ``property``, ``engine``, ``term``, ``estimate``, ``ci_low``, ``ci_high``
    (extra columns allowed).
"""

from __future__ import annotations

import re
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


#: The keys of a result's ``to_dict()`` that state a finding: a label, its probability, the % headline.
FINDING_KEYS = ("label_code", "label_probability", "label_selected", "pct", "pct_median", "pct_mean", "pct_sd",
                "pct_ci_low", "pct_ci_high", "pct_pi_low", "pct_pi_high", "p_positive", "pred_label_code",
                "zone_probabilities", "pred_zone_probabilities")
#: The keys of a per-level prediction that state a finding.
LEVEL_FINDING_KEYS = ("label_code", "label", "label_probability", "label_selected", "pct", "pct_mean", "pct_ci_low",
                      "pct_ci_high", "zone_probabilities")


def _short(problem: str) -> str:
    """``R-hat 1.571 > 1.01`` of ``R-hat 1.571 > 1.01: chains disagree; draw more``."""
    return re.split(r"[:;]", str(problem), maxsplit=1)[0].strip()


def failed_reason(d: dict) -> str | None:
    """Why a fit's checks failed, in words, or ``None`` when they passed (or it was not pooled)."""
    if d.get("ok") is not False or d.get("estimable") is False:
        return None
    diag = d.get("diagnostics") or {}
    problems = [_short(p) for p in (diag.get("problems") or d.get("problems") or [])]
    if d.get("engine") in ("bayes", "pymc", "bma"):
        what = "the sampler's diagnostics failed"
    elif isinstance(d.get("robust"), dict) and d.get("converged") is not False and d["robust"].get("warnings"):
        what, problems = "cluster-robust inference is not reliable here", [_short(w) for w in d["robust"]["warnings"]]
    elif diag.get("converged") is False:
        what, problems = "the estimator did not converge", problems or [f"{diag.get('iterations')} iterations"]
    else:
        what = "the fit's checks failed"
    return what + (f" ({', '.join(problems)})" if problems else "")


def categorical_terms(d: dict) -> list[str]:
    """The categorical moderators of a fit (``bits`` of ``bits[8]``), read from its coefficient names."""
    names = [str(c.get("name", "")) for c in d.get("coefficients") or [] if isinstance(c, dict)]
    return sorted({n.partition("[")[0] for n in names if "[" in n and n.endswith("]")})


#: The effect measure that is a log ratio: the only one SSM's % scale and labels are defined on.
RATIO_MEASURE = "ROM"
#: What each effect measure's estimate is, as the outputs name it.
MEASURE_NAMES = {"ROM": "log ratio", "SMD": "standardized mean difference", "MD": "mean difference",
                 "PLO": "log odds ratio", "PAS": "arcsine square-root difference", "PR": "proportion difference"}


def measure_of(result) -> str | None:
    """The effect measure a result pooled (``"ROM"``, ``"SMD"``, ``"PLO"``, ...), read from its rows or spec.

    ``"mixed"`` when the rows carry more than one; ``None`` when the result does not say (a low-level engine
    called on bare arrays, which pools log ratios).
    """
    rows = getattr(result, "rows", None)
    if rows is not None and "measure" in getattr(rows, "columns", ()):
        seen = sorted({str(m) for m in rows["measure"].dropna()})
        if seen:
            return seen[0] if len(seen) == 1 else "mixed"
    spec = getattr(result, "spec", None)
    return getattr(spec, "measure", None)


def not_ratio_reason(measure: str | None) -> str | None:
    """Why a result on ``measure`` states no % and no SSM label, or ``None`` for a log ratio."""
    if measure in (None, RATIO_MEASURE):
        return None
    what = MEASURE_NAMES.get(measure, "mix of effect measures" if measure == "mixed" else str(measure))
    article = "an" if what[:1] in "aeiou" else "a"
    return (f"the effect is {article} {what} ({measure}), not the log response ratio (ROM): SSM's labels and the "
            "% scale are defined on relative change, so the estimate is read in its own unit")


def withhold(d: dict) -> dict:
    """Apply the one rule of findings to a result's ``to_dict()`` (in place) and return it.

    A fit whose checks failed states no label, no probability and no %
    headline, at the top or at any level (``label`` says "no label: ..." and
    why); so does a fit on an effect measure other than the log ratio
    (``d["measure"]``: SMD, MD and the proportion measures), whose estimate
    is not a relative change; a fit with a categorical moderator states none
    at the top, whose numbers would be the reference level's, and keeps its
    per-level predictions.  ``withheld_reason`` says why; the estimate on its
    own scale, the posterior summaries and the diagnostics are kept.
    """
    failed = failed_reason(d) or not_ratio_reason(d.get("measure"))
    cats = [] if failed else categorical_terms(d)
    if not failed and not cats:
        return d
    if failed:
        reason = failed
    else:
        reason = (f"the categorical moderator {', '.join(cats)} makes the pooled effect differ by level; the "
                  "intercept is the reference level's effect, so the effect at each level is the finding")
    for key in FINDING_KEYS:
        if key in d:
            d[key] = None
    if "label" in d or "label_code" in d:
        d["label"] = f"no label: {reason}"
        d["label_zones"] = []
        d["label_reason"] = reason
    for key in ("label_plain", "label_ensemble"):
        if failed and isinstance(d.get(key), dict):
            d[key] = {**d[key], "code": None, "probability": None}
    if failed:
        for p in d.get("predictions") or []:
            for key in LEVEL_FINDING_KEYS:
                if key in p:
                    p[key] = None
    d["withheld_reason"] = reason
    return d


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
