"""Belief of an evidence model: study belief, dispersion discount, dependence split.

Every evidence model contributes one *simple support function*: mass ``s`` on
its label's atoms and ``1 - s`` on the whole frame.  ``s`` (the model's
*belief*, the replication package's ``belief`` field) is built in three steps.

1. **Study belief** ``B`` in [0, 1], one constant per study, from the study's
   quality appraisal (a user input: the ``study_belief`` column, or a mapping).
2. **Dependence split** (optional).  A study that contributes ``N`` evidence
   models to one property contributes ``N`` pieces that Dempster's rule treats
   as independent.  ``"equitable"`` gives each ``B/N``; ``"mass-preserving"``
   gives each ``1 - (1 - B)^(1/N)``, so that the ``N`` agreeing pieces combine
   back to exactly ``B``; ``"none"`` (the paper) keeps ``B``.
3. **Dispersion discount** ``d``, and ``s = B · (1 - d)``:

   * ``"v1"`` (the ESEM 2025 paper, replication package
     ``knowledge_extraction.py``): ``d = round(1 - exp(-0.1 |IQR / RI|), 3)``,
     ``IQR`` the interquartile range of the per-unit ``RI_i`` (rounded to 3 dp)
     and ``RI`` their mean;
   * ``"v2"`` (the follow-up's ``belief_discounts.py``): ``1 - d = α_n α_v``
     with ``α_n = round(1 - exp(-n/3), 3)`` and ``α_v = 1`` for ``n <= 4``, else
     ``round(exp(-0.1 V₂), 3)``, ``V₂ = σ / sqrt(σ² + RI²)`` (Kvålseth's
     second-order coefficient of variation), ``n`` the number of units and ``σ``
     their sample standard deviation;
   * ``"none"``: ``d = 0``.

   The paper rounds the belief to 3 dp (``s = round(B (1 - d), 3)``); the
   rounding can be switched off.  With ``"v2"`` the belief is the product of
   the two rounded reliabilities, ``s = round(B α_n α_v, 3)``, as the
   follow-up's ``discounted_belief`` computes it.

Two named rule sets bundle these choices (:data:`RULES`): ``"ssm2025"`` (the
ESEM 2025 paper, the default: ``v1``) and ``"ssm2026"`` (the 21-study journal
extension, replication package v2.0: ``v2`` with ``n`` the number of cluster
units, ``n0 = 3``, ``k = 0.1``, cut-off 4, and intensities written with the
codes I/P/N instead of IF/PO/NE).

References
----------
del Rey S, et al. Aggregating empirical evidence from data strategy studies: a
case on model quantization. ESEM 2025; arXiv:2505.00816.  Replication package
santidrj/model-quantization-aggregation (Zenodo 10.5281/zenodo.15850734).
Kvålseth TO. Coefficient of variation: the second-order alternative. J Appl
Stat 2017;44:402-415.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError

DISCOUNTS = ("v1", "v2", "none")
BELIEF_SPLITS = ("none", "equitable", "mass-preserving")


@dataclass(frozen=True)
class Rules:
    """A named set of SSM rules (one version of the synthesis).

    Attributes
    ----------
    name : str
    discount : str
        Default dispersion discount (:data:`DISCOUNTS`).
    notation : str
        How intensities are written: ``"ssm2025"`` (IF, NE, PO; ``IF-WP``) or
        ``"ssm2026"`` (I, N, P; ``{I, WP}`` for a pair).
    description : str
    """

    name: str
    discount: str
    notation: str
    description: str


#: The rule sets, by name.  ``ssm2025`` is the default everywhere.
RULES: dict[str, Rules] = {
    "ssm2025": Rules("ssm2025", "v1", "ssm2025",
                     "ESEM 2025 paper: belief B (1 - d), d = 1 - exp(-0.1 |IQR/RI|)"),
    "ssm2026": Rules("ssm2026", "v2", "ssm2026",
                     "journal extension v2.0: belief B alpha_n alpha_v (n0 = 3, Kvalseth V2, k = 0.1, cut-off 4)"),
}
DEFAULT_RULES = "ssm2025"


def rules_for(sources: str | Sequence[str] | None) -> str:
    """The rule set a shipped dataset names (its ``ssm_rules`` registry entry), else ``"ssm2025"``.

    ``sources`` is a dataset name, a path, or a list of them (as given to
    :func:`metaquant.load`); the first shipped dataset with an entry decides.

    >>> rules_for("ssm2026"), rules_for("ssm2025"), rules_for("runs.csv")
    ('ssm2026', 'ssm2025', 'ssm2025')
    """
    from ..evidence.io import dataset_registry

    items = [sources] if isinstance(sources, str | Path) or sources is None else list(sources)
    reg = dataset_registry()
    for item in items:
        name = str(item) if item is not None else ""
        if name in reg and not Path(name).is_file() and reg[name].get("ssm_rules"):
            return str(get_rules(reg[name]["ssm_rules"]).name)
    return DEFAULT_RULES


def get_rules(name: str | Rules | None) -> Rules:
    """The :class:`Rules` of a name (``None`` gives the default, ``"ssm2025"``)."""
    if isinstance(name, Rules):
        return name
    key = DEFAULT_RULES if name is None else str(name)
    if key not in RULES:
        raise InputError(f"unknown SSM rules {name!r}", expected=" or ".join(RULES))
    return RULES[key]

#: v1 dispersion constant (``DISCOUNT_FACTOR`` of the replication package).
V1_FACTOR = 0.1
#: v2 constants: saturation size n0, variability constant k, cut-off on n.
V2_N0 = 3.0
V2_K = 0.1
V2_CUTOFF = 4


def round3(x: float) -> float:
    """Round to 3 decimals (Python's correctly rounded ``round``)."""
    return float(round(float(x), 3))


def quantile_nearest(values: Sequence[float], q: float) -> float:
    """Quantile with polars' ``interpolation="nearest"``.

    The sorted sample's element at index ``round((n - 1) q)``, the rounding
    taking halves away from zero (Rust ``f64::round`` in polars'
    ``quantile_idx``).  NumPy's ``method="nearest"`` rounds halves to even
    and so differs, e.g. for ``n = 3`` and ``q = 0.25`` (index 0.5: polars
    takes element 1, NumPy element 0).

    Parameters
    ----------
    values : sequence of float
        Non-empty, finite.
    q : float
        In [0, 1].
    """
    x = np.sort(np.asarray(values, dtype=float))
    if x.size == 0:
        raise ValueError("quantile of an empty sample")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile level {q} is outside [0, 1]")
    idx = int(math.floor((x.size - 1) * q + 0.5))  # half away from zero for non-negative numbers
    return float(x[min(idx, x.size - 1)])


def iqr_nearest(values: Sequence[float], rounding: bool = True) -> float:
    """Interquartile range ``Q3 - Q1`` with :func:`quantile_nearest`, rounded to 3 dp by default."""
    iqr = quantile_nearest(values, 0.75) - quantile_nearest(values, 0.25)
    return round3(iqr) if rounding else float(iqr)


def discount_v1(iqr: float, mean: float, rounding: bool = True) -> float:
    """Dispersion discount of the ESEM 2025 paper.

    ``d = 1 - exp(-0.1 |IQR / RI|)``, rounded to 3 dp.  With ``RI = 0`` the
    ratio is taken at its limit: ``d = 0`` when ``IQR = 0`` and ``d = 1``
    otherwise.  An unknown (NaN) IQR gives ``d = 0``.

    Examples
    --------
    >>> discount_v1(7.792, -4.377)   # S1 overall accuracy, replication package effects.json
    0.163
    """
    if iqr is None or not np.isfinite(iqr) or iqr == 0:
        return 0.0
    if mean == 0:
        return 1.0
    d = 1.0 - math.exp(-V1_FACTOR * abs(iqr / mean))
    return round3(d) if rounding else d


def reliability_v2(n: float, sd: float, mean: float, rounding: bool = True) -> tuple[float, float]:
    """Sample-size and variability reliabilities ``(α_n, α_v)`` of the follow-up discount.

    ``α_n = 1 - exp(-n / 3)``; ``α_v = 1`` if ``n <= 4``, else
    ``exp(-0.1 σ / sqrt(σ² + RI²))`` (``α_v = 1`` when ``σ = RI = 0``).  Each
    is rounded to 3 dp as in the follow-up's ``belief_discounts.py``.
    """
    a_n = 1.0 - math.exp(-n / V2_N0)
    if n <= V2_CUTOFF:
        a_v = 1.0
    else:
        scale_ = math.hypot(sd, mean)
        v2 = 0.0 if scale_ == 0 else sd / scale_
        a_v = math.exp(-V2_K * v2)
    if rounding:
        return round3(a_n), round3(a_v)
    return a_n, a_v


def split_study_belief(b: float, n_models: int, policy: str = "none") -> float:
    """Study belief per evidence model when a study gives ``n_models`` models to one property.

    ``"none"``: ``B``; ``"equitable"``: ``B / N``; ``"mass-preserving"``:
    ``1 - (1 - B)^(1/N)``, the value whose ``N``-fold Dempster combination on
    one focal set gives back ``B``.
    """
    if policy not in BELIEF_SPLITS:
        raise InputError(f"unknown belief split {policy!r}", expected=" or ".join(BELIEF_SPLITS))
    if n_models < 1:
        raise ValueError("a study needs at least one evidence model")
    if policy == "none" or n_models == 1:
        return float(b)
    if policy == "equitable":
        return float(b) / n_models
    return 1.0 - (1.0 - float(b)) ** (1.0 / n_models)


def read_study_beliefs(path: str | Path) -> dict[str, float]:
    """Read a CSV of study beliefs with columns ``study,study_belief``.

    Raises
    ------
    InputError
        Naming the file, row and column of the first problem.
    """
    p, label = Path(path), str(path)
    if not p.is_file():
        raise InputError("file not found", path=label)
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read as CSV ({exc.__class__.__name__})", path=label,
                         expected="a CSV with columns study,study_belief") from None
    df.columns = [str(c).strip() for c in df.columns]
    for col in ("study", "study_belief"):
        if col not in df.columns:
            raise InputError("required column is missing", path=label, column=col,
                             expected="a CSV with columns study,study_belief")
    out: dict[str, float] = {}
    for i, (s, v) in enumerate(zip(df["study"], df["study_belief"], strict=True), start=1):
        s = str(s).strip()
        if not s:
            raise InputError("missing value", path=label, row=i, column="study")
        try:
            b = float(v)
        except ValueError:
            raise InputError(f"{v!r} is not a number", path=label, row=i, column="study_belief",
                             expected="a number in [0, 1]") from None
        if not (np.isfinite(b) and 0.0 <= b <= 1.0):
            raise InputError(f"study belief {v} is outside [0, 1]", path=label, row=i, column="study_belief")
        if s in out:
            raise InputError(f"study {s!r} is listed twice", path=label, row=i, column="study")
        out[s] = b
    if not out:
        raise InputError("has a header but no data rows", path=label, expected="one row per study")
    return out
