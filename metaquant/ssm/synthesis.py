"""SSM synthesis per property: Dempster aggregation and label selection.

For one property the evidence models (:func:`metaquant.ssm.evidence_models`)
are taken in aggregation order, each as a simple support function on its
label's atoms with mass equal to its belief, and combined pairwise with
Dempster's rule (:mod:`metaquant.ssm.dempster`).  The final mass function is
read with a selection rule at share 0.75:

``"ef"`` (default) :func:`metaquant.scale.select_ef`
    The Evidence Factory's behaviour: singletons with Bel > 0 and adjacent
    pairs carrying direct mass; a pair is dropped when one of its atoms has
    ``Bel >= 0.75 Bel(pair)``; the highest Bel wins.
``"santos"`` :func:`metaquant.scale.select_santos`
    Santos (2015, thesis Fig. 16): from the better half-scale root descend to
    the better contiguous sub-interval while ``Bel(child) >= 0.75 Bel(parent)``.

Reported: the label, its belief ``Bel(A) = Σ_{B⊆A} m(B)`` and plausibility
``Pl(A) = Σ_{B∩A≠∅} m(B)``, the uncertainty ``m(Θ)``, the conflict ``K`` of the
last pairwise step (what the Evidence Factory shows) and the largest ``K`` of
any step, the number of evidence models and the final masses.  The masses do
not depend on the aggregation order; ``K`` of each step does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import InputError
from ..evidence import schema
from ..evidence.io import Evidence
from ..outputs import json_safe
from ..scale import ATOMS, FRAME, SELECTION_THRESHOLD, SELECTORS, MassFunction, label_atoms, label_code
from .belief import get_rules
from .dempster import combine_all, simple_support
from .intensity import Thresholds, written_code
from .models import evidence_models

POLICIES = tuple(SELECTORS)
RESULT_KEYS = ("property", "label", "label_code", "belief", "plausibility", "uncertainty", "conflict_last",
               "conflict_max", "n_models", "masses")
#: Added to :meth:`SSMResult.to_dict` under rules other than ``ssm2025`` (the extension's synthesis fields).
EXTRA_KEYS = ("rules", "intensity", "max_contributor_belief", "delta_belief", "n_studies")


def _scale_order(a: frozenset[str]) -> tuple:
    if a == FRAME:
        return (len(ATOMS) + 1, 0)
    idx = sorted(ATOMS.index(x) for x in a)
    return (idx[0], len(idx))


@dataclass
class SSMResult:
    """SSM synthesis of one property.

    Attributes
    ----------
    property : str
    label, label_code : str
        Selected hypothesis, e.g. ``"indifferent - weakly positive"`` / ``"IF-WP"``.
    belief : float
        ``Bel`` of the selected hypothesis.
    plausibility : float
        ``Pl`` of the selected hypothesis.
    uncertainty : float
        ``m(Θ)``, the mass left on the whole frame.
    conflict_last : float
        ``K`` of the last pairwise step (NaN with one evidence model).
    conflict_max : float
        Largest ``K`` over all steps (NaN with one evidence model).
    n_models : int
        Number of evidence models combined.
    masses : dict
        Final mass function, ``frozenset`` of atoms -> mass.
    conflicts : tuple of float
        ``K`` of every step, in aggregation order.
    models : pandas.DataFrame
        The evidence models combined, in aggregation order.
    policy : str
        Selection rule (``"ef"`` or ``"santos"``).
    threshold : float
        Selection share (0.75).
    rules : str
        Rule set (``"ssm2025"`` or ``"ssm2026"``); sets the notation of
        :attr:`intensity`.
    """

    property: str
    label: str
    label_code: str
    belief: float
    plausibility: float
    uncertainty: float
    conflict_last: float
    conflict_max: float
    n_models: int
    masses: MassFunction
    conflicts: tuple[float, ...] = ()
    models: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    policy: str = "ef"
    threshold: float = SELECTION_THRESHOLD
    rules: str = "ssm2025"
    selected: frozenset[str] = frozenset()
    #: The engine's name in every result (:mod:`metaquant.results`).
    engine = "ssm"
    #: The specification it was fitted with (:class:`~metaquant.spec.FitSpec`; set by the fitting road).
    spec: object = field(default=None, repr=False, compare=False)
    #: The effect rows it pooled, variance policy applied (``len(rows) == k``; set by the fitting road).
    rows: object = field(default=None, repr=False, compare=False)

    @property
    def atoms(self) -> frozenset[str]:
        """Atoms of the selected hypothesis."""
        return self.selected

    @property
    def intensity(self) -> str:
        """The selected label in the rule set's notation (``"{I, WP}"`` under ``ssm2026``)."""
        return written_code(self.label_code, get_rules(self.rules).notation)

    @property
    def max_contributor_belief(self) -> float:
        """Largest belief of a single evidence model combined."""
        return float(self.models["belief"].max()) if len(self.models) else math.nan

    @property
    def delta_belief(self) -> float:
        """``belief - max_contributor_belief``: what the combination adds to its strongest piece."""
        return float(self.belief - self.max_contributor_belief)

    @property
    def n_studies(self) -> int:
        """Number of studies behind the evidence models."""
        return int(self.models["study"].nunique()) if "study" in self.models.columns else 0

    def mass_table(self) -> pd.DataFrame:
        """Focal elements in scale order with mass, Bel and Pl."""
        rows = []
        for a in sorted(self.masses, key=_scale_order):
            rows.append({
                "focal": label_code(a),
                "mass": self.masses[a],
                "belief": sum(v for b, v in self.masses.items() if b <= a),
                "plausibility": sum(v for b, v in self.masses.items() if b & a),
            })
        return pd.DataFrame(rows, columns=["focal", "mass", "belief", "plausibility"])

    def trace(self) -> pd.DataFrame:
        """One row per evidence model in aggregation order with the ``K`` of the step it entered."""
        t = self.models[["order", "study", "comparison", "label_code", "belief"]].reset_index(drop=True).copy()
        t.insert(0, "step", np.arange(1, len(t) + 1))
        t["conflict"] = [np.nan, *self.conflicts]
        return t

    def to_dict(self) -> dict:
        """JSON-ready dict; NaN becomes ``None`` and masses are keyed by label code.

        Under rules other than ``ssm2025`` the extension's fields
        (:data:`EXTRA_KEYS`) follow: the rules, the label in their notation,
        the largest single belief, the gain over it and the number of studies.
        """
        out = {k: getattr(self, k) for k in RESULT_KEYS if k != "masses"}
        out["masses"] = {label_code(a): self.masses[a] for a in sorted(self.masses, key=_scale_order)}
        if self.rules != "ssm2025":
            out.update({k: getattr(self, k) for k in EXTRA_KEYS})
        return json_safe(out)

    def summary(self) -> pd.DataFrame:
        """A one-row tidy frame of the scalar results (see :func:`summary_frame` for several)."""
        return summary_frame([self])


def summary_frame(results: Sequence[SSMResult]) -> pd.DataFrame:
    """One row per property: label, belief, plausibility, uncertainty, conflicts, n_models.

    Results under rules other than ``ssm2025`` add :data:`EXTRA_KEYS`.
    """
    cols = [k for k in RESULT_KEYS if k != "masses"] + ["policy"]
    if any(r.rules != "ssm2025" for r in results):
        cols += list(EXTRA_KEYS)
    return pd.DataFrame([{c: getattr(r, c) for c in cols} for r in results], columns=cols)


def aggregate(
    models: pd.DataFrame,
    prop: str | None = None,
    *,
    policy: str = "ef",
    threshold: float = SELECTION_THRESHOLD,
    rules: str = "ssm2025",
) -> SSMResult:
    """Combine evidence models of one property in the given row order and select a label.

    Parameters
    ----------
    models : DataFrame
        Rows with at least ``label_code`` and ``belief`` (and ``property``
        when ``prop`` is given), in aggregation order.
    prop : str, optional
        Keep only this property's rows.
    policy : {"ef", "santos"}
    threshold : float
        Selection share (default 0.75).
    rules : {"ssm2025", "ssm2026"}
        Rule set recorded on the result (notation of ``intensity``).

    Raises
    ------
    TotalConflictError
        When a step has ``K = 1``.
    """
    rules = get_rules(rules).name
    if policy not in SELECTORS:
        raise InputError(f"unknown selection policy {policy!r}", expected=" or ".join(POLICIES))
    if prop is not None:
        prop = schema.get_property(prop).name
        models = models[models["property"] == prop]
    else:
        props = models["property"].unique() if "property" in models.columns else ["(unnamed)"]
        if len(props) != 1:
            raise InputError("several properties given to one aggregation", expected="one property")
        prop = str(props[0])
    if models.empty:
        raise InputError(f"no evidence models for property {prop!r}")
    models = models.reset_index(drop=True)
    try:
        focal = [label_atoms(c) for c in models["label_code"]]
    except ValueError as exc:
        raise InputError(str(exc), column="label_code", expected="one of the 13 SSM labels, e.g. IF-WP") from None
    pieces = [simple_support(h, s) for h, s in zip(focal, models["belief"], strict=True)]
    comb = combine_all(pieces, context=f"property {prop!r}")
    m = comb.masses
    sel = SELECTORS[policy](m, threshold)
    ks = comb.conflicts
    return SSMResult(
        property=prop,
        label=sel.name,
        label_code=sel.code,
        belief=float(sel.belief),
        plausibility=float(sel.plausibility),
        uncertainty=float(m.get(FRAME, 0.0)),
        conflict_last=float(ks[-1]) if ks else math.nan,
        conflict_max=float(max(ks)) if ks else math.nan,
        n_models=len(models),
        masses=m,
        conflicts=ks,
        models=models,
        policy=policy,
        threshold=threshold,
        rules=rules,
        selected=frozenset(sel.atoms),
    )


def _reorder(models: pd.DataFrame, order: Sequence[str] | None, prop: str) -> pd.DataFrame:
    if order is None:
        return models
    rank = {str(k): i for i, k in enumerate(order)}
    missing = [c for c in models["comparison"] if c not in rank]
    if missing:
        raise InputError(f"order does not list evidence model {missing[0]!r} of property {prop!r}",
                         expected="every evidence-model id (the 'comparison' column) once")
    out = models.iloc[np.argsort([rank[c] for c in models["comparison"]], kind="stable")]
    return out.reset_index(drop=True)


def synthesize(
    table: Evidence | pd.DataFrame,
    property: str | None = None,  # noqa: A002 - the name users expect
    *,
    policy: str = "ef",
    belief_split: str = "none",
    discount: str | None = None,
    thresholds: Thresholds = None,
    study_belief: Mapping[str, float] | None = None,
    order: Sequence[str] | None = None,
    threshold: float = SELECTION_THRESHOLD,
    rounding: bool = True,
    rules: str = "ssm2025",
) -> SSMResult | list[SSMResult]:
    """SSM synthesis of one property, or of every property in the table.

    Parameters
    ----------
    table : Evidence or DataFrame
        An effect table, the evidence, or an evidence-model table from
        :func:`metaquant.ssm.evidence_models` (used as given: it already holds
        labels and beliefs, so the model-building options must stay at their
        defaults).
    property : str, optional
        One property (aliases accepted); ``None`` for all, in order of first
        appearance.
    policy : {"ef", "santos"}
        Selection rule.
    belief_split, discount, thresholds, study_belief, rounding
        As in :func:`metaquant.ssm.evidence_models`.
    order : sequence of str, optional
        Evidence-model ids (``comparison``) in the order to combine them;
        default the file order (study, then precision as in the file).  Only
        the conflicts ``K`` depend on it.
    threshold : float
        Selection share, 0.75 by default.
    rules : {"ssm2025", "ssm2026"}
        Rule set: ``"ssm2025"`` (default) the ESEM 2025 paper, ``"ssm2026"``
        the 21-study extension (discount ``v2`` by default, I/P/N notation and
        the extension's fields in :meth:`SSMResult.to_dict`).  Both combine in
        file order with Dempster's rule and select with ``policy``; the shipped
        ``ssm2026`` rows are in the Evidence Factory's aggregation order.

    Returns
    -------
    SSMResult or list of SSMResult
    """
    rs = get_rules(rules)
    is_models = isinstance(table, pd.DataFrame) and {"label_code", "belief", "comparison"} <= set(table.columns)
    if is_models:
        if (thresholds is not None or discount not in (None, rs.discount) or belief_split != "none"
                or study_belief is not None or not rounding):
            raise InputError("an evidence-model table already holds labels and beliefs",
                             expected="the effect table when thresholds, discount, belief_split, study_belief or "
                                      "rounding are changed")
        models = table
    else:
        models = evidence_models(table, thresholds=thresholds, discount=discount, belief_split=belief_split,
                                 study_belief=study_belief, rounding=rounding, rules=rs.name)
    if property is not None:
        try:
            name = schema.get_property(property).name
        except schema.UnknownPropertyError as exc:
            raise InputError(str(exc)) from None
        if name not in set(models["property"]):
            have = ", ".join(dict.fromkeys(models["property"]))
            raise InputError(f"no evidence models for property {name!r}", expected=f"one of: {have}")
        sub = _reorder(models[models["property"] == name].reset_index(drop=True), order, name)
        return aggregate(sub, policy=policy, threshold=threshold, rules=rs.name)
    out = []
    for name in dict.fromkeys(models["property"]):
        sub = _reorder(models[models["property"] == name].reset_index(drop=True), order, name)
        out.append(aggregate(sub, policy=policy, threshold=threshold, rules=rs.name))
    return out
