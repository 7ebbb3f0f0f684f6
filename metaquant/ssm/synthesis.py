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

from .. import schema
from ..errors import InputError
from ..io import Evidence
from ..scale import ATOMS, FRAME, SELECTION_THRESHOLD, SELECTORS, MassFunction, label_atoms, label_code
from .dempster import combine_all, simple_support
from .intensity import Thresholds
from .models import evidence_models

POLICIES = tuple(SELECTORS)
RESULT_KEYS = ("property", "label", "label_code", "belief", "plausibility", "uncertainty", "conflict_last",
               "conflict_max", "n_models", "masses")


def _scale_order(a: frozenset[str]) -> tuple:
    if a == FRAME:
        return (len(ATOMS) + 1, 0)
    idx = sorted(ATOMS.index(x) for x in a)
    return (idx[0], len(idx))


def _nan_to_none(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


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

    @property
    def atoms(self) -> frozenset[str]:
        """Atoms of the selected hypothesis."""
        return frozenset(ATOMS) if self.label_code == "Θ" else _atoms_of_code(self.label_code)

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
        """JSON-ready dict; NaN becomes ``None`` and masses are keyed by label code."""
        out = {k: getattr(self, k) for k in RESULT_KEYS if k != "masses"}
        out = {k: _nan_to_none(float(v)) if isinstance(v, float | np.floating) else v for k, v in out.items()}
        out["n_models"] = int(self.n_models)
        out["masses"] = {label_code(a): float(self.masses[a]) for a in sorted(self.masses, key=_scale_order)}
        return {k: out[k] for k in RESULT_KEYS}

    def summary(self) -> pd.DataFrame:
        """A one-row tidy frame of the scalar results (see :func:`summary_frame` for several)."""
        return summary_frame([self])


def _atoms_of_code(code: str) -> frozenset[str]:
    if ".." in code:
        a, b = code.split("..")
        return frozenset(ATOMS[ATOMS.index(a) : ATOMS.index(b) + 1])
    return label_atoms(code)


def summary_frame(results: Sequence[SSMResult]) -> pd.DataFrame:
    """One row per property: label, belief, plausibility, uncertainty, conflicts, n_models."""
    cols = [k for k in RESULT_KEYS if k != "masses"] + ["policy"]
    return pd.DataFrame([{c: getattr(r, c) for c in cols} for r in results], columns=cols)


def aggregate(
    models: pd.DataFrame,
    prop: str | None = None,
    *,
    policy: str = "ef",
    threshold: float = SELECTION_THRESHOLD,
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

    Raises
    ------
    TotalConflictError
        When a step has ``K = 1``.
    """
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
    pieces = [simple_support(_atoms_of_code(c), s) for c, s in zip(models["label_code"], models["belief"],
                                                                   strict=True)]
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
    discount: str = "v1",
    thresholds: Thresholds = None,
    study_belief: Mapping[str, float] | None = None,
    order: Sequence[str] | None = None,
    threshold: float = SELECTION_THRESHOLD,
    rounding: bool = True,
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

    Returns
    -------
    SSMResult or list of SSMResult
    """
    is_models = isinstance(table, pd.DataFrame) and {"label_code", "belief", "comparison"} <= set(table.columns)
    if is_models:
        if (thresholds is not None or discount != "v1" or belief_split != "none" or study_belief is not None
                or not rounding):
            raise InputError("an evidence-model table already holds labels and beliefs",
                             expected="the effect table when thresholds, discount, belief_split, study_belief or "
                                      "rounding are changed")
        models = table
    else:
        models = evidence_models(table, thresholds=thresholds, discount=discount, belief_split=belief_split,
                                 study_belief=study_belief, rounding=rounding)
    if property is not None:
        try:
            name = schema.get_property(property).name
        except schema.UnknownPropertyError as exc:
            raise InputError(str(exc)) from None
        if name not in set(models["property"]):
            have = ", ".join(dict.fromkeys(models["property"]))
            raise InputError(f"no evidence models for property {name!r}", expected=f"one of: {have}")
        sub = _reorder(models[models["property"] == name].reset_index(drop=True), order, name)
        return aggregate(sub, policy=policy, threshold=threshold)
    out = []
    for name in dict.fromkeys(models["property"]):
        sub = _reorder(models[models["property"] == name].reset_index(drop=True), order, name)
        out.append(aggregate(sub, policy=policy, threshold=threshold))
    return out
