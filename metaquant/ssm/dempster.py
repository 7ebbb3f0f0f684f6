"""Dempster's rule of combination over SSM's frame of discernment.

The frame is the seven atoms ``Θ = {SN, NE, WN, IF, WP, PO, SP}``
(:data:`metaquant.scale.FRAME`).  A mass function ``m`` maps subsets of Θ to
non-negative masses summing to 1 (``dict[frozenset[str], float]``).  Two
independent mass functions combine as

.. math::

    m_\\cap(A) = \\sum_{B \\cap C = A} m_1(B)\\, m_2(C), \\qquad
    K = m_\\cap(\\emptyset), \\qquad
    (m_1 \\oplus m_2)(A) = \\frac{m_\\cap(A)}{1 - K} \\quad (A \\neq \\emptyset).

``K`` is the *conflict* of the step; ``K = 1`` (total conflict) leaves the
combination undefined and raises :class:`TotalConflictError`.  The Evidence
Factory (Santos 2015, thesis §5.3.2) combines evidence models pairwise in
aggregation order, passing the whole normalised mass function on; the final
masses do not depend on that order (the rule is commutative and
associative), but the conflict of each step, and so the reported last-step
``K``, does.

References
----------
Shafer G. A Mathematical Theory of Evidence. Princeton University Press; 1976.
Santos PSM. Evidence representation and aggregation in software engineering
(PhD thesis). COPPE/UFRJ; 2015, §5.3.2, Tables 5-6.
Sentz K, Ferson S. Combination of evidence in Dempster-Shafer theory. Sandia
report SAND2002-0835; 2002.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import MetaquantError
from ..scale import FRAME, MassFunction

#: Conflict at or above ``1 - TOTAL_CONFLICT_TOL`` counts as total.
TOTAL_CONFLICT_TOL = 1e-12


class TotalConflictError(MetaquantError):
    """Dempster's rule is undefined: the two mass functions share no focal atom (K = 1)."""


def simple_support(atoms: Iterable[str], s: float) -> MassFunction:
    """Simple support function: ``m(H) = s``, ``m(Θ) = 1 - s``.

    Parameters
    ----------
    atoms : iterable of str
        The focal set ``H`` (a label's atoms).
    s : float
        Support in [0, 1].
    """
    h = frozenset(atoms)
    if not h or not h <= FRAME:
        raise ValueError(f"focal set {sorted(h)} is not a non-empty subset of the frame")
    s = float(s)
    if not 0.0 <= s <= 1.0:
        raise ValueError(f"support {s} is outside [0, 1]")
    m: MassFunction = {}
    if s > 0:
        m[h] = s
    if s < 1:
        m[FRAME] = m.get(FRAME, 0.0) + (1.0 - s)
    return m


def combine(m1: Mapping[frozenset[str], float], m2: Mapping[frozenset[str], float]) -> tuple[MassFunction, float]:
    """Dempster's rule for two mass functions.

    Returns
    -------
    (MassFunction, float)
        The normalised combination (focal elements with zero mass dropped)
        and the conflict ``K``.

    Raises
    ------
    TotalConflictError
        When ``K = 1`` (within ``1e-12``).
    """
    raw: dict[frozenset[str], float] = {}
    for b, mb in m1.items():
        for c, mc in m2.items():
            a = b & c
            raw[a] = raw.get(a, 0.0) + mb * mc
    k = raw.pop(frozenset(), 0.0)
    if k >= 1.0 - TOTAL_CONFLICT_TOL:
        raise TotalConflictError(f"total conflict (K = {k:.6g}): the mass functions share no focal atom, "
                                 "so Dempster's rule is undefined")
    out = {a: v / (1.0 - k) for a, v in raw.items() if v > 0}
    return out, float(k)


@dataclass(frozen=True)
class Combination:
    """Result of combining several mass functions in a given order.

    Attributes
    ----------
    masses : dict
        Final normalised mass function.
    conflicts : tuple of float
        ``K`` of every pairwise step (``len = n - 1``); step ``j`` combines the
        accumulated masses of the first ``j`` pieces with piece ``j + 1``.
    """

    masses: MassFunction
    conflicts: tuple[float, ...]


def combine_all(pieces: Iterable[Mapping[frozenset[str], float]], *, context: str = "") -> Combination:
    """Combine mass functions pairwise, left to right, recording ``K`` of each step.

    Parameters
    ----------
    pieces : iterable of mass functions
        At least one.
    context : str
        Prefix for the total-conflict message (e.g. the property).

    Raises
    ------
    TotalConflictError
        Naming the step (1-based piece number) at which ``K = 1``.
    """
    it = iter(pieces)
    try:
        acc = dict(next(it))
    except StopIteration:
        raise ValueError("nothing to combine") from None
    ks: list[float] = []
    for j, m in enumerate(it, start=2):
        try:
            acc, k = combine(acc, m)
        except TotalConflictError as exc:
            where = f"{context}: " if context else ""
            raise TotalConflictError(f"{where}{exc} (combining piece {j} with the first {j - 1})") from None
        ks.append(k)
    return Combination(acc, tuple(ks))
