"""The SSM intensity scale: the bridge between qualitative and quantitative views.

The Structured Synthesis Method (SSM) describes an effect on a seven-point
ordinal scale, the *frame of discernment*

    SN  strongly negative      WP  weakly positive
    NE  negative               PO  positive
    WN  weakly negative        SP  strongly positive
    IF  indifferent

An evidence model asserts either one atom or an adjacent pair of atoms
("IF-WP", read "indifferent - weakly positive"), giving 13 labels.

From a relative improvement ``RI`` in percent (positive = better) the label is
read off six cut-points ``(I, W, WM, M, SM, S)`` with inclusive upper bounds:
``|RI| <= I`` is IF; ``I < |RI| <= W`` is IF-WP (or WN-IF when RI < 0);
``W < |RI| <= WM`` is WP (WN); ``WM < |RI| <= M`` is WP-PO (NE-WN);
``M < |RI| <= SM`` is PO (NE); ``SM < |RI| <= S`` is PO-SP (SN-NE); and
``|RI| > S`` is SP (SN).  Resource metrics use 2/10/20/30/40/50 %,
correctness metrics 2/5/10/15/20/25 % (del Rey et al., arXiv 2505.00816,
replication package ``src/effect_intensity.py``).

The 13 labels therefore partition the real line into 13 *zones*.  The SSM
engine turns one label and a belief into a simple support function; the
Bayesian engine turns a posterior into 13 zone probabilities.  Both are read
with the same selection rule (Evidence Factory compatible, threshold 0.75),
so SSM belief and posterior probability can be set side by side.

Mass functions are represented as ``dict[frozenset[str], float]`` over the
atoms; the whole frame is ``FRAME``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

ATOMS: tuple[str, ...] = ("SN", "NE", "WN", "IF", "WP", "PO", "SP")
ATOM_NAMES: dict[str, str] = {
    "SN": "strongly negative",
    "NE": "negative",
    "WN": "weakly negative",
    "IF": "indifferent",
    "WP": "weakly positive",
    "PO": "positive",
    "SP": "strongly positive",
}
FRAME: frozenset[str] = frozenset(ATOMS)

#: The 13 labels in scale order: atoms interleaved with adjacent pairs.
LABELS: tuple[str, ...] = (
    "SN", "SN-NE", "NE", "NE-WN", "WN", "WN-IF", "IF",
    "IF-WP", "WP", "WP-PO", "PO", "PO-SP", "SP",
)  # fmt: skip

#: Default selection threshold shared by SSM belief and posterior probability.
SELECTION_THRESHOLD = 0.75

#: What :func:`decide_label` says when the evidence does not decide a label.
NO_LABEL_TEXT = "no label: the evidence does not decide"


def label_atoms(code: str) -> frozenset[str]:
    """Atoms of a label code, e.g. ``"IF-WP" -> {"IF", "WP"}``."""
    parts = code.split("-")
    if not parts or any(p not in ATOMS for p in parts):
        raise ValueError(f"not an SSM label code: {code!r}")
    return frozenset(parts)


def label_code(atoms: frozenset[str] | Sequence[str]) -> str:
    """Code of a set of atoms in scale order; ``FRAME`` gives ``"Θ"``.

    Contiguous sets of more than two atoms (which the Santos rule can select)
    are written first-last with a double dot, e.g. ``"WN..WP"``.
    """
    idx = sorted(ATOMS.index(a) for a in atoms)
    if not idx:
        return "∅"
    if len(idx) == len(ATOMS):
        return "Θ"
    if len(idx) == 1:
        return ATOMS[idx[0]]
    if len(idx) == 2 and idx[1] == idx[0] + 1:
        return f"{ATOMS[idx[0]]}-{ATOMS[idx[1]]}"
    if idx == list(range(idx[0], idx[-1] + 1)):
        return f"{ATOMS[idx[0]]}..{ATOMS[idx[-1]]}"
    return "{" + ",".join(ATOMS[i] for i in idx) + "}"


def label_name(code: str) -> str:
    """Human name: ``"IF-WP" -> "indifferent - weakly positive"``."""
    if code == "Θ":
        return "unknown (whole frame)"
    if ".." in code:
        a, b = code.split("..")
        return f"{ATOM_NAMES[a]} .. {ATOM_NAMES[b]}"
    return " - ".join(ATOM_NAMES[p] for p in code.split("-"))


_NAME_TO_CODE = {label_name(c): c for c in LABELS}
_NAME_TO_CODE.update({k.replace("indifferent", "indiferent"): v for k, v in list(_NAME_TO_CODE.items())})


def code_from_name(name: str) -> str:
    """Label code from a spelled-out label (accepts the source's "indiferent")."""
    key = " - ".join(s.strip() for s in str(name).strip().lower().split("-"))
    if key in _NAME_TO_CODE:
        return _NAME_TO_CODE[key]
    if str(name).strip().upper() in LABELS:
        return str(name).strip().upper()
    raise ValueError(f"not an SSM label: {name!r}")


# --------------------------------------------------------------------------
# Thresholds and zones
# --------------------------------------------------------------------------


def validate_thresholds(thresholds: Sequence[float]) -> tuple[float, ...]:
    """Check six strictly increasing positive cut-points and return them."""
    t = tuple(float(x) for x in thresholds)
    if len(t) != 6 or not all(np.isfinite(t)) or t[0] <= 0 or any(b <= a for a, b in zip(t, t[1:], strict=False)):
        raise ValueError(f"thresholds must be 6 increasing positive percentages (I, W, WM, M, SM, S); got {t}")
    return t


def scale_thresholds(thresholds: Sequence[float], factor: float) -> tuple[float, ...]:
    """All cut-points multiplied by ``factor`` (threshold sensitivity)."""
    return validate_thresholds([x * factor for x in thresholds])


def zone_edges(thresholds: Sequence[float]) -> np.ndarray:
    """The 14 edges (with ±inf) of the 13 zones on the RI axis, in scale order."""
    t = validate_thresholds(thresholds)
    neg = [-x for x in reversed(t)]
    return np.array([-np.inf, *neg, *t, np.inf])


def label_from_pct(pct: float, thresholds: Sequence[float]) -> str:
    """SSM label code of a relative improvement ``pct`` (percent, + = better).

    Upper bounds are inclusive in ``|pct|``, as in the replication code:
    ``pct = -2`` with ``I = 2`` is IF, ``pct = -5`` with ``W = 5`` is WN-IF.
    """
    t = validate_thresholds(thresholds)
    x = abs(float(pct))
    if not np.isfinite(x):
        raise ValueError(f"relative improvement must be finite, got {pct}")
    k = int(np.searchsorted(np.asarray(t), x, side="left"))  # number of cut-points < x
    # k = 0: IF; 1: IF-WP; 2: WP; 3: WP-PO; 4: PO; 5: PO-SP; 6: SP  (positive side)
    centre = LABELS.index("IF")
    return LABELS[centre + k] if pct >= 0 else LABELS[centre - k]


def zone_probabilities_from_draws(pct_draws: np.ndarray, thresholds: Sequence[float]) -> dict[str, float]:
    """Share of posterior draws (in percent) falling in each of the 13 zones."""
    d = np.asarray(pct_draws, dtype=float).ravel()
    t = np.asarray(validate_thresholds(thresholds))
    x = np.abs(d)
    k = np.searchsorted(t, x, side="left")
    centre = LABELS.index("IF")
    idx = np.where(d >= 0, centre + k, centre - k)
    counts = np.bincount(idx, minlength=len(LABELS))
    return {lab: float(c) / d.size for lab, c in zip(LABELS, counts, strict=True)}


def zone_probabilities_from_cdf(
    cdf: Callable[[np.ndarray], np.ndarray], thresholds: Sequence[float]
) -> dict[str, float]:
    """Zone probabilities of a continuous distribution given its CDF on the % scale."""
    edges = zone_edges(thresholds)
    F = np.asarray(cdf(edges), dtype=float)
    F[0], F[-1] = 0.0, 1.0
    p = np.clip(np.diff(F), 0.0, None)
    return {lab: float(v) for lab, v in zip(LABELS, p, strict=True)}


# --------------------------------------------------------------------------
# Mass functions, belief and the 0.75 selection rule
# --------------------------------------------------------------------------

MassFunction = dict[frozenset[str], float]


def masses_from_zones(zone_probs: Mapping[str, float]) -> MassFunction:
    """A mass function whose focal elements are the labels' atom sets."""
    m: MassFunction = {}
    for code, p in zone_probs.items():
        if p > 0:
            m[label_atoms(code)] = m.get(label_atoms(code), 0.0) + float(p)
    return m


def belief(m: Mapping[frozenset[str], float], A: frozenset[str]) -> float:
    """Bel(A) = sum of m(B) over focal elements B ⊆ A."""
    return float(sum(v for B, v in m.items() if B and B <= A))


def plausibility(m: Mapping[frozenset[str], float], A: frozenset[str]) -> float:
    """Pl(A) = sum of m(B) over focal elements B with B ∩ A ≠ ∅."""
    return float(sum(v for B, v in m.items() if B & A))


@dataclass(frozen=True)
class Selection:
    """A selected hypothesis with its belief and plausibility."""

    atoms: frozenset[str]
    belief: float
    plausibility: float

    @property
    def code(self) -> str:
        return label_code(self.atoms)

    @property
    def name(self) -> str:
        return label_name(self.code)


def _pairs() -> list[frozenset[str]]:
    return [frozenset(ATOMS[i : i + 2]) for i in range(len(ATOMS) - 1)]


def select_ef(m: Mapping[frozenset[str], float], threshold: float = SELECTION_THRESHOLD) -> Selection:
    """Evidence Factory-compatible hypothesis selection.

    Candidates are every singleton with Bel > 0 and every adjacent pair that
    carries direct mass.  A pair is dropped when one of its singletons has
    ``Bel >= threshold * Bel(pair)``.  The candidate with the highest Bel wins;
    ties go to the more specific hypothesis, then to the earlier one on the
    scale.  When nothing but the frame carries mass, the frame is returned.
    """
    cands: list[frozenset[str]] = [frozenset([a]) for a in ATOMS if belief(m, frozenset([a])) > 0]
    for pair in _pairs():
        if m.get(pair, 0.0) > 0:
            bp = belief(m, pair)
            if all(belief(m, frozenset([a])) < threshold * bp for a in pair):
                cands.append(pair)
    if not cands:
        return Selection(FRAME, belief(m, FRAME), plausibility(m, FRAME))
    best = max(cands, key=lambda A: (round(belief(m, A), 12), -len(A), -min(ATOMS.index(a) for a in A)))
    return Selection(best, belief(m, best), plausibility(m, best))


def select_santos(m: Mapping[frozenset[str], float], threshold: float = SELECTION_THRESHOLD) -> Selection:
    """Selection rule of Santos (2015, thesis Fig. 16).

    Start from the better-believed half-scale root ({SN..IF} or {IF..SP}) and
    descend to the better of its two contiguous sub-intervals (dropping the
    first or the last atom) while ``Bel(child) >= threshold * Bel(parent)``.
    Ties: higher Bel, then more specific, then earlier on the scale.
    """

    def interval(i: int, j: int) -> frozenset[str]:
        return frozenset(ATOMS[i : j + 1])

    roots = [(0, 3), (3, 6)]
    i, j = max(roots, key=lambda r: (round(belief(m, interval(*r)), 12), -r[0]))
    while j > i:
        kids = [(i, j - 1), (i + 1, j)]
        ci, cj = max(kids, key=lambda r: (round(belief(m, interval(*r)), 12), -r[0]))
        if belief(m, interval(ci, cj)) >= threshold * belief(m, interval(i, j)) and belief(m, interval(ci, cj)) > 0:
            i, j = ci, cj
        else:
            break
    best = interval(i, j)
    return Selection(best, belief(m, best), plausibility(m, best))


SELECTORS: dict[str, Callable[..., Selection]] = {"ef": select_ef, "santos": select_santos}


def label_from_zone_probabilities(
    zone_probs: Mapping[str, float], threshold: float = SELECTION_THRESHOLD, policy: str = "ef"
) -> Selection:
    """Read 13 zone probabilities with the SSM selection rule.

    The zone probability of an atom acts as mass on that atom, the zone
    probability of a pair as mass on the pair, so the selected label's
    ``belief`` is the posterior probability that the effect lies in the
    label's zones (e.g. P(IF) + P(IF-WP) + P(WP) for "IF-WP").
    """
    return SELECTORS[policy](masses_from_zones(zone_probs), threshold)


def decide_label(
    zone_probabilities: Mapping[str, float], *, min_probability: float = 0.75, interval_level: float | None = None
) -> dict:
    """Say whether 13 zone probabilities decide an SSM label, and which.

    The label is the one :func:`label_from_zone_probabilities` selects (the
    0.75 rule); its probability is the sum of the probabilities of the zones
    it spans (an atom spans its own zone, a pair ``A-B`` the zones ``A``,
    ``A-B`` and ``B``).  The evidence decides when that probability is at
    least ``min_probability``; with ``interval_level`` (e.g. 0.95) it must
    also hold the central interval of that level, i.e. the zones from the one
    holding the lower quantile to the one holding the upper quantile must all
    be spanned by a single label.  Otherwise ``label_code`` is ``None`` and
    ``label`` says so; every number is kept.

    Parameters
    ----------
    zone_probabilities : mapping of the 13 label codes to probabilities
    min_probability : float
        The probability the label's zones must hold (default 0.75).
    interval_level : float, optional
        Also require the central interval of this level to lie in one label's zones.

    Returns
    -------
    dict
        ``label_code`` (``None`` when undecided), ``label`` (its name, or
        "no label: the evidence does not decide"), ``label_probability`` (of
        the selected label, decided or not), ``label_selected`` (the code the
        rule selects), ``label_zones`` (the zones it spans), ``interval_zones``
        (the zones the central interval touches, with ``interval_level`` or
        0.95), ``decided`` and ``reason`` (why not, else ``None``).
    """
    if not 0.0 < float(min_probability) <= 1.0:
        raise ValueError(f"min_probability must be in (0, 1], got {min_probability!r}")
    level = 0.95 if interval_level is None else float(interval_level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"interval_level must be in (0, 1), got {interval_level!r}")
    sel = label_from_zone_probabilities(zone_probabilities)
    zones = [z for z in LABELS if label_atoms(z) <= sel.atoms]
    prob = float(sum(float(zone_probabilities.get(z, 0.0)) for z in zones))
    cum = np.cumsum([float(zone_probabilities.get(z, 0.0)) for z in LABELS])
    cum = cum / cum[-1] if cum[-1] > 0 else cum
    tail = (1.0 - level) / 2.0
    lo = int(min(np.searchsorted(cum, tail, side="right"), len(LABELS) - 1))
    hi = int(min(np.searchsorted(cum, 1.0 - tail, side="left"), len(LABELS) - 1))
    inside = list(LABELS[lo : hi + 1])
    # a label spans at most three zones: {A} or {A, A-B, B}; does one of them hold every zone touched?
    covered = any(set(inside) <= {z for z in LABELS if label_atoms(z) <= label_atoms(c)} for c in LABELS)
    reason = None
    if prob < float(min_probability):
        reason = f"P({sel.code}) = {prob:.2f} < {float(min_probability):g}"
    elif interval_level is not None and not covered:
        reason = (f"the {100 * level:g} % interval spans the zones {inside[0]} to {inside[-1]}, which no single "
                  "label covers")
    decided = reason is None
    return {
        "label_code": sel.code if decided else None,
        "label": label_name(sel.code) if decided else NO_LABEL_TEXT,
        "label_probability": prob,
        "label_selected": sel.code,
        "label_zones": zones,
        "interval_zones": inside,
        "decided": decided,
        "reason": reason,
    }


# --------------------------------------------------------------------------
# How two labels relate (the engines' agreement)
# --------------------------------------------------------------------------

#: Agreement statuses from closest to furthest.
STATUSES = ("same", "adjacent", "conflicting")


def code_atoms(code: str) -> frozenset[str]:
    """Atoms of any label code the engines produce.

    Accepts the 13 labels (``"IF-WP"``), the whole frame ``"Θ"`` and the
    contiguous intervals of the Santos rule (``"WN..WP"``) or sets
    (``"{WN,WP}"``).
    """
    if code == "Θ":
        return FRAME
    if ".." in code:
        a, b = code.split("..")
        i, j = ATOMS.index(a), ATOMS.index(b)
        return frozenset(ATOMS[i : j + 1])
    if code.startswith("{") and code.endswith("}"):
        return frozenset(x.strip() for x in code[1:-1].split(","))
    return label_atoms(code)


def classify_labels(a: str, b: str) -> str:
    """How two labels on SSM's scale relate: ``"same"``, ``"adjacent"`` or ``"conflicting"``.

    With ``A`` and ``B`` the atom sets of the labels,

    * ``same`` when ``A = B``;
    * ``adjacent`` when ``A ∩ B ≠ ∅`` (the labels overlap: ``WN-IF`` and
      ``IF``, neighbours on the 13-label scale, or ``WN-IF`` and ``IF-WP``),
      or when both are single atoms that are neighbours on the seven-point
      scale, so that ``A ∪ B`` is itself one of the 13 labels (``WP`` and
      ``PO`` make ``WP-PO``);
    * ``conflicting`` otherwise (``WN`` and ``IF-WP``: no common atom, and
      ``IF`` lies between them only as part of a pair).

    Examples
    --------
    >>> classify_labels("IF-WP", "IF-WP"), classify_labels("WN-IF", "IF"), classify_labels("WP", "PO")
    ('same', 'adjacent', 'adjacent')
    >>> classify_labels("WN", "IF-WP")
    'conflicting'
    """
    A, B = code_atoms(a), code_atoms(b)
    if A == B:
        return "same"
    if A & B:
        return "adjacent"
    if len(A) == 1 and len(B) == 1 and label_code(A | B) in LABELS:
        return "adjacent"
    return "conflicting"


def worst_status(statuses: Iterable[str]) -> str | None:
    """The furthest of several statuses (``None`` when there are none)."""
    s = [x for x in statuses if x is not None]
    return max(s, key=STATUSES.index) if s else None
