"""SSM building blocks: intensity, belief and discounts, Dempster's rule, selection.

References (literals, not recomputed by the code under test):
- Santos PSM (2015) PhD thesis, COPPE/UFRJ, §5.3.2, Tables 5-6 (literals as quoted in the replication
  package's tests/test_dempster_shafer.py, santidrj/model-quantization-aggregation).
- Santos PSM et al. (2018) JSERD 6:13, kanban study, team-cohesion combination table: K = 0.167931 etc.
- del Rey et al. (2025) replication package, knowledge_extraction.py / effects.json (discount literals).
- polars `quantile_idx` (crates/polars-core chunked_array/ops/aggregate/quantile.rs): "nearest" takes the
  sorted element at index round((n - 1) q), halves away from zero.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from metaquant.errors import InputError, MetaquantError
from metaquant.scale import ATOMS, FRAME, select_ef, select_santos
from metaquant.ssm import (
    TotalConflictError,
    combine,
    combine_all,
    discount_v1,
    intensity,
    iqr_nearest,
    quantile_nearest,
    read_study_beliefs,
    reliability_v2,
    simple_support,
    split_study_belief,
    thresholds_for,
)

PO_SP, WP_PO, PO, SP = frozenset({"PO", "SP"}), frozenset({"WP", "PO"}), frozenset({"PO"}), frozenset({"SP"})
WN_IF = frozenset({"WN", "IF"})


# --------------------------------------------------------------------------- intensity


@pytest.mark.parametrize(
    ("pct", "prop", "code"),
    [
        # correctness cut-points 2/5/10/15/20/25, upper bounds inclusive (replication package effect_intensity.py)
        (-0.618, "accuracy", "IF"),
        (-2.0, "accuracy", "IF"),
        (-2.001, "accuracy", "WN-IF"),
        (-5.0, "accuracy", "WN-IF"),
        (-8.461, "accuracy", "WN"),
        (-13.792, "accuracy", "NE-WN"),
        (-16.107, "f1_score", "NE"),
        (-25.0, "accuracy", "SN-NE"),
        (-25.01, "accuracy", "SN"),
        # resource cut-points 2/10/20/30/40/50
        (7.522, "inference_power_draw", "IF-WP"),
        (10.245, "gpu_power_draw", "WP"),
        (30.0, "inference_latency", "WP-PO"),
        (37.929, "inference_latency", "PO"),
        (46.27, "gpu_memory_utilization", "PO-SP"),
        (50.0, "storage_size", "PO-SP"),
        (50.001, "storage_size", "SP"),
    ],
)
def test_intensity_reads_the_class_cut_points(pct, prop, code):
    assert intensity(pct, prop) == code


def test_threshold_override_by_class_property_and_all():
    assert thresholds_for("accuracy") == (2.0, 5.0, 10.0, 15.0, 20.0, 25.0)
    assert thresholds_for("gpu_power_draw") == (2.0, 10.0, 20.0, 30.0, 40.0, 50.0)
    over = {"correctness": (1, 2, 3, 4, 5, 6), "gpu_power_draw": (5, 10, 15, 20, 25, 30)}
    assert thresholds_for("accuracy", over) == (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
    assert thresholds_for("gpu_power_draw", over) == (5.0, 10.0, 15.0, 20.0, 25.0, 30.0)
    assert thresholds_for("storage_size", over) == (2.0, 10.0, 20.0, 30.0, 40.0, 50.0)
    # |RI| = 1.5 is IF at I = 2 but WN-IF at I = 1 (follow-up's threshold-sensitivity test)
    assert intensity(-1.5, "accuracy") == "IF"
    assert intensity(-1.5, "accuracy", {"correctness": (1, 5, 10, 15, 20, 25)}) == "WN-IF"
    assert intensity(12.0, "gpu_power_draw", (1, 2, 3, 4, 5, 6)) == "SP"


def test_threshold_override_is_validated():
    with pytest.raises(InputError, match="thresholds"):
        thresholds_for("accuracy", (1, 2, 3))
    with pytest.raises(InputError, match="thresholds"):
        thresholds_for("accuracy", {"correctness": (5, 4, 3, 2, 1, 0)})


# --------------------------------------------------------------------------- belief


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([3.0, 1.0, 2.0], 0.25, 2.0),  # index 0.5 -> 1 (NumPy's half-to-even would take index 0 -> 1.0)
        ([3.0, 1.0, 2.0], 0.75, 3.0),  # index 1.5 -> 2
        ([1.0, 2.0], 0.25, 1.0),  # index 0.25 -> 0
        ([1.0, 2.0], 0.75, 2.0),  # index 0.75 -> 1
        ([10, 20, 30, 40, 50, 60, 70], 0.75, 60.0),  # index 4.5 -> 5 (NumPy: 4 -> 50)
        ([10, 20, 30, 40, 50, 60, 70], 0.25, 30.0),  # index 1.5 -> 2
        ([5.0], 0.25, 5.0),
    ],
)
def test_quantile_nearest_is_polars_nearest(values, q, expected):
    assert quantile_nearest(values, q) == expected


def test_polars_nearest_differs_from_numpy_nearest():
    x = [10, 20, 30, 40, 50, 60, 70]
    assert np.quantile(x, 0.75, method="nearest") == 50.0
    assert quantile_nearest(x, 0.75) == 60.0
    assert iqr_nearest(x) == 30.0
    assert iqr_nearest([-4.0, -1.0, 1.0]) == 2.0
    assert iqr_nearest([0.1, 0.2, 0.3004, 0.4]) == 0.1  # x[2] - x[1] = 0.1004, rounded to 3 dp
    assert iqr_nearest([0.1, 0.2, 0.3004, 0.4], rounding=False) == pytest.approx(0.1004, abs=1e-12)


@pytest.mark.parametrize(
    ("iqr", "mean", "expected"),
    [
        # (IQR, RI, discount) as stored in the replication package's effects.json
        (7.792, -4.377, 0.163),  # S1 overall accuracy
        (15.192, 0.485, 0.956),  # S6 int4 accuracy
        (13.889, -13.792, 0.096),  # S5 int8 accuracy
        (35.762, 7.522, 0.378),  # S5 int8 inference power draw
        (7.013, 1.404, 0.393),  # S6 int8 accuracy
        (0.0, 1.168, 0.0),  # S5 int8 GPU utilization
        (0.012, -1.142, 0.001),  # S2 int8 accuracy
    ],
)
def test_discount_v1_matches_replication_package(iqr, mean, expected):
    assert discount_v1(iqr, mean) == expected


def test_discount_v1_limits_at_zero_mean_and_unknown_iqr():
    assert discount_v1(0.0, 0.0) == 0.0
    assert discount_v1(3.0, 0.0) == 1.0
    assert discount_v1(float("nan"), 5.0) == 0.0
    assert discount_v1(15.192, 0.485, rounding=False) == pytest.approx(1 - math.exp(-0.1 * 15.192 / 0.485))


def test_reliability_v2_hand_computed():
    # S5 int8 accuracy: n = 28, sd = 29.19, RI = -13.792
    # alpha_n = round(1 - e^(-28/3), 3) = 1.0; V2 = 29.19 / hypot(29.19, 13.792) = 0.90415;
    # alpha_v = round(e^(-0.090415), 3) = 0.914
    assert reliability_v2(28, 29.19, -13.792) == (1.0, 0.914)
    # n <= 4: no variability term; alpha_n(1) = round(1 - e^(-1/3), 3) = 0.283, alpha_n(4) = 0.736
    assert reliability_v2(1, 0.0, 5.0) == (0.283, 1.0)
    assert reliability_v2(4, 100.0, 5.0) == (0.736, 1.0)
    # n = 5: alpha_n = 0.811; sd = 3, RI = 4 -> V2 = 0.6 -> alpha_v = round(e^-0.06, 3) = 0.942
    assert reliability_v2(5, 3.0, 4.0) == (0.811, 0.942)


def test_belief_split_policies():
    b = 0.6429166666666667  # S3's study belief
    assert split_study_belief(b, 8, "none") == b
    assert split_study_belief(b, 8, "equitable") == pytest.approx(0.0803645833, abs=1e-10)
    assert split_study_belief(b, 8, "mass-preserving") == pytest.approx(0.1207827555, abs=1e-10)
    assert split_study_belief(b, 1, "equitable") == b
    # mass-preserving: N agreeing pieces combine back to B exactly
    s = split_study_belief(0.7, 5, "mass-preserving")
    comb = combine_all([simple_support({"WN"}, s)] * 5)
    assert comb.masses[frozenset({"WN"})] == pytest.approx(0.7, abs=1e-12)
    with pytest.raises(InputError, match="belief split"):
        split_study_belief(0.5, 2, "half")


def test_read_study_beliefs(tmp_path):
    p = tmp_path / "b.csv"
    p.write_text("study,study_belief\nS1,0.4\nS2, 0.75\n")
    assert read_study_beliefs(p) == {"S1": 0.4, "S2": 0.75}
    p.write_text("study,study_belief\nS1,0.4\nS2,1.2\n")
    with pytest.raises(InputError, match=r"row 2 \(line 3\), column 'study_belief'"):
        read_study_beliefs(p)
    p.write_text("study,belief\nS1,0.4\n")
    with pytest.raises(InputError, match="column 'study_belief': required column is missing"):
        read_study_beliefs(p)
    p.write_text("study,study_belief\nS1,x\n")
    with pytest.raises(InputError, match="not a number"):
        read_study_beliefs(p)
    with pytest.raises(InputError, match="file not found"):
        read_study_beliefs(tmp_path / "nope.csv")


# --------------------------------------------------------------------------- Dempster's rule


def test_santos_2015_table_5():
    m, k = combine(simple_support(PO_SP, 0.65), simple_support(WP_PO, 0.40))
    assert k == 0.0
    assert m[PO] == pytest.approx(0.26, abs=1e-12)
    assert m[PO_SP] == pytest.approx(0.39, abs=1e-12)
    assert m[WP_PO] == pytest.approx(0.14, abs=1e-12)
    assert m[FRAME] == pytest.approx(0.21, abs=1e-12)
    sel = select_ef(m)
    assert sel.atoms == PO_SP and sel.belief == pytest.approx(0.65, abs=1e-12)


def test_santos_2015_table_6():
    comb = combine_all([simple_support(PO_SP, 0.65), simple_support(WP_PO, 0.40), simple_support(SP, 0.90)])
    assert comb.conflicts == pytest.approx((0.0, 0.36), abs=1e-12)
    sel = select_ef(comb.masses)
    assert sel.atoms == SP
    # thesis: Bel(SP) ~ 0.84; exactly (0.39 + 0.21) * 0.9 / 0.64 = 0.84375
    assert sel.belief == pytest.approx(0.84, abs=0.005)
    assert sel.belief == pytest.approx(0.84375, abs=1e-12)
    assert select_santos(comb.masses).atoms == SP


def test_santos_2018_kanban_team_cohesion():
    m, k = combine(simple_support(WN_IF, 0.423), simple_support(PO_SP, 0.397))
    assert k == pytest.approx(0.167931, abs=1e-6)
    assert m[WN_IF] == pytest.approx(0.306548, abs=1e-6)
    assert m[PO_SP] == pytest.approx(0.275301, abs=1e-6)
    assert m[FRAME] == pytest.approx(0.418152, abs=1e-6)
    assert sum(m.values()) == pytest.approx(1.0, abs=1e-12)


def test_total_conflict_is_a_metaquant_error():
    with pytest.raises(TotalConflictError, match="total conflict") as info:
        combine_all([simple_support({"SN"}, 1.0), simple_support({"SP"}, 1.0)], context="property 'accuracy'")
    assert isinstance(info.value, MetaquantError) and info.value.exit_code == 2
    assert "property 'accuracy'" in str(info.value) and "piece 2" in str(info.value)
    # high but partial conflict is fine
    m, k = combine(simple_support({"SN"}, 0.999), simple_support({"SP"}, 0.999))
    assert k == pytest.approx(0.998001, abs=1e-12)
    assert sum(m.values()) == pytest.approx(1.0, abs=1e-12)


def _random_mass(rng: np.random.Generator) -> dict[frozenset[str], float]:
    n_focal = int(rng.integers(1, 5))
    m: dict[frozenset[str], float] = {}
    for _ in range(n_focal):
        bits = int(rng.integers(1, 128))
        a = frozenset(ATOMS[i] for i in range(7) if bits >> i & 1)
        m[a] = m.get(a, 0.0) + float(rng.uniform(0.05, 1.0))
    if rng.uniform() < 0.7:  # most evidence leaves some mass on the frame
        m[FRAME] = m.get(FRAME, 0.0) + float(rng.uniform(0.05, 1.0))
    tot = sum(m.values())
    return {a: v / tot for a, v in m.items()}


def _to_vec(m) -> np.ndarray:
    v = np.zeros(128)
    for a, x in m.items():
        v[sum(1 << ATOMS.index(t) for t in a)] += x
    return v


def _dempster_by_commonality(ms) -> np.ndarray:
    """Independent reference: Dempster's rule as a product of commonality functions.

    q(A) = sum_{B ⊇ A} m(B); the conjunctive combination multiplies q; m follows by the inverse
    (superset) Möbius transform; then m(∅) is removed and the rest renormalised (Shafer 1976, ch. 3).
    """
    idx = np.arange(128)

    def q_of(v):
        q = v.copy()
        for bit in range(7):
            has = (idx >> bit) & 1 == 0
            q[has] += q[idx[has] | (1 << bit)]
        return q

    def m_of(q):
        m = q.copy()
        for bit in range(7):
            has = (idx >> bit) & 1 == 0
            m[has] -= m[idx[has] | (1 << bit)]
        return m

    q = np.ones(128)
    for m in ms:
        q = q * q_of(_to_vec(m))
    m = m_of(q)
    k = m[0]
    m[0] = 0.0
    return m / (1.0 - k)


def test_combination_matches_commonality_reference_and_is_order_free():
    rng = np.random.default_rng(20250501)
    checked = 0
    for _ in range(150):
        pieces = [_random_mass(rng) for _ in range(int(rng.integers(2, 6)))]
        try:
            ref = _dempster_by_commonality(pieces)
        except FloatingPointError:  # pragma: no cover
            continue
        if not np.isfinite(ref).all():
            continue
        finals = []
        try:
            for perm in itertools.permutations(range(len(pieces))):
                finals.append(_to_vec(combine_all([pieces[i] for i in perm]).masses))
        except TotalConflictError:
            continue
        for f in finals:
            np.testing.assert_allclose(f, ref, atol=1e-10)
        checked += 1
    assert checked > 100


def test_conflict_of_each_step_depends_on_order():
    # the GPU energy pieces of the shipped data (S5 int8 SP .718, S6 int4 PO-SP .699, S6 int8 PO .699)
    a, b, c = simple_support(SP, 0.718), simple_support(PO_SP, 0.699), simple_support(PO, 0.699)
    abc, acb = combine_all([a, b, c]), combine_all([a, c, b])
    assert abc.conflicts == pytest.approx((0.0, 0.501882), abs=1e-12)  # 0.718 * 0.699 last
    assert acb.conflicts == pytest.approx((0.501882, 0.0), abs=1e-12)  # same conflict, first step
    for key in set(abc.masses) | set(acb.masses):
        assert abc.masses.get(key, 0.0) == pytest.approx(acb.masses.get(key, 0.0), abs=1e-12)


def test_simple_support_edges():
    assert simple_support({"IF"}, 0.0) == {FRAME: 1.0}
    assert simple_support({"IF"}, 1.0) == {frozenset({"IF"}): 1.0}
    with pytest.raises(ValueError):
        simple_support({"IF"}, 1.2)
    with pytest.raises(ValueError):
        simple_support({"XX"}, 0.5)
