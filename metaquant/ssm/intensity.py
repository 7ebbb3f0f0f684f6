"""Effect intensity: from a relative improvement to a label on SSM's scale.

The data-strategy adaptation of the Structured Synthesis Method (del Rey et
al., arXiv 2505.00816) computes, per evidence model and property, the mean
relative improvement ``RI`` in percent (positive = quantization helps) and reads
a label off six cut-points ``(I, W, WM, M, SM, S)`` of the property's metric
class; the reading itself is :func:`metaquant.scale.label_from_pct` and is not
repeated here.  This module only decides *which* cut-points apply:

* the property's own class thresholds from the registry
  (:data:`metaquant.evidence.schema.DEFAULT_THRESHOLDS`): resource 2/10/20/30/40/50 %,
  correctness 2/5/10/15/20/25 %;
* overridden by ``thresholds=`` given as six numbers (every property), or as a
  mapping keyed by metric class (``"correctness"``, ``"resource"``) and/or by
  property name (a property key wins over its class key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .. import scale
from ..errors import InputError
from ..evidence import schema

Thresholds = Sequence[float] | Mapping[str, Sequence[float]] | None


def _checked(t: Sequence[float], where: str) -> tuple[float, ...]:
    try:
        return scale.validate_thresholds(t)
    except (TypeError, ValueError) as exc:
        raise InputError(f"bad thresholds for {where}: {exc}", column="thresholds",
                         expected="6 increasing positive percentages (I, W, WM, M, SM, S)") from None


def validate_override(thresholds: Thresholds) -> None:
    """Check a ``thresholds=`` argument once, before any row is read.

    Raises
    ------
    InputError
        For keys that are neither a metric class nor a known property, or
        cut-points that are not six increasing positive numbers.
    """
    if thresholds is None:
        return
    if isinstance(thresholds, Mapping):
        for key, t in thresholds.items():
            if key not in schema.DEFAULT_THRESHOLDS:
                try:
                    schema.get_property(key)
                except schema.UnknownPropertyError as exc:
                    raise InputError(f"thresholds key {key!r}: {exc}", column="thresholds",
                                     expected="'correctness', 'resource' or a property name") from None
            _checked(t, repr(key))
    else:
        _checked(thresholds, "all properties")


def thresholds_for(prop: str, thresholds: Thresholds = None) -> tuple[float, ...]:
    """Cut-points ``(I, W, WM, M, SM, S)`` in percent used for one property.

    Parameters
    ----------
    prop : str
        Property name or alias (``metaquant.evidence.schema``).
    thresholds : sequence of 6 floats, or mapping, optional
        Override: six numbers for every property, or a mapping from metric
        class and/or property name to six numbers.  Property keys take
        precedence over class keys; anything not listed keeps the registry's
        class thresholds.

    Returns
    -------
    tuple of float
    """
    p = schema.get_property(prop)
    if thresholds is None:
        return p.thresholds
    if isinstance(thresholds, Mapping):
        for key, t in thresholds.items():
            if key in schema.DEFAULT_THRESHOLDS:
                continue
            if schema.get_property(key).name == p.name:
                return _checked(t, p.name)
        if p.metric_class in thresholds:
            return _checked(thresholds[p.metric_class], p.metric_class)
        return p.thresholds
    return _checked(thresholds, "all properties")


def intensity(pct: float, prop: str, thresholds: Thresholds = None) -> str:
    """SSM label code (e.g. ``"IF-WP"``) of a relative improvement for a property.

    ``RI`` is signed so that positive means "quantization helps" (for a
    lower-is-better property ``RI = (b - q)/b * 100``); the reading uses the
    inclusive upper bounds of :func:`metaquant.scale.label_from_pct`.

    Examples
    --------
    >>> intensity(-0.618, "accuracy")   # S1 q0.16, correctness cut-points
    'IF'
    >>> intensity(7.522, "inference_power_draw")   # S5 int8, resource cut-points
    'IF-WP'
    """
    return scale.label_from_pct(pct, thresholds_for(prop, thresholds))


#: Atom codes of the journal extension (replication package v2.0, ``effect_intensity.py``): I, N, P replace IF, NE, PO.
NOTATION_2026 = {"IF": "I", "NE": "N", "PO": "P"}
_FROM_2026 = {v: k for k, v in NOTATION_2026.items()}


def written_code(code: str, notation: str = "ssm2025") -> str:
    """An SSM label code written in a rule set's notation.

    ``"ssm2025"`` keeps metaquant's codes (``"IF-WP"``); ``"ssm2026"`` writes
    atoms as I/N/P and a compound as the extension's synthesis does,
    ``"{I, WP}"`` (atoms in scale order).  Codes outside the 13 labels (the
    whole frame ``"Θ"``, a Santos interval ``"WN..WP"``) are returned as given
    apart from the atom renaming.

    Examples
    --------
    >>> written_code("IF-WP", "ssm2026")
    '{I, WP}'
    >>> written_code("PO", "ssm2026"), written_code("PO", "ssm2025")
    ('P', 'PO')
    """
    if notation == "ssm2025":
        return code
    if notation != "ssm2026":
        raise InputError(f"unknown intensity notation {notation!r}", expected="ssm2025 or ssm2026")
    if code in scale.LABELS:
        atoms = [NOTATION_2026.get(a, a) for a in code.split("-")]
        return atoms[0] if len(atoms) == 1 else "{" + ", ".join(atoms) + "}"
    for old, new in NOTATION_2026.items():
        code = code.replace(old, new)
    return code


def read_code(text: str) -> str:
    """metaquant's label code of an intensity written in either notation.

    Accepts ``"IF-WP"``, ``"{I, WP}"``, ``"I-WP"``, ``"WN-I"`` and spelled-out
    labels such as ``"weakly negative - indifferent"``.

    Examples
    --------
    >>> read_code("{P, SP}"), read_code("WN-I"), read_code("negative - weakly negative")
    ('PO-SP', 'WN-IF', 'NE-WN')
    """
    s = str(text).strip()
    if s.startswith("{") and s.endswith("}"):
        parts = [p.strip() for p in s[1:-1].split(",")]
    elif any(c.islower() for c in s):
        try:
            return scale.code_from_name(s)
        except ValueError:
            raise InputError(f"not an SSM intensity: {text!r}", expected="one atom or two adjacent atoms") from None
    else:
        parts = [p.strip() for p in s.split("-")]
    atoms = [_FROM_2026.get(p, p) for p in parts]
    try:
        code = scale.label_code(frozenset(atoms))
    except ValueError:
        code = ""
    if code not in scale.LABELS:
        raise InputError(f"not an SSM intensity: {text!r}", expected="one atom or two adjacent atoms")
    return code
