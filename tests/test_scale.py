"""The shared SSM scale: cut-points, zones and the 0.75 selection rule."""

import numpy as np
import pytest
from scipy import stats

from metaquant import scale
from metaquant.evidence.schema import DEFAULT_THRESHOLDS

RES = DEFAULT_THRESHOLDS["resource"]
COR = DEFAULT_THRESHOLDS["correctness"]


@pytest.mark.parametrize(
    "pct,th,code",
    [
        # boundaries are inclusive in |RI| (replication package src/effect_intensity.py)
        (0.0, RES, "IF"), (2.0, RES, "IF"), (-2.0, RES, "IF"), (2.0001, RES, "IF-WP"), (-2.0001, RES, "WN-IF"),
        (10.0, RES, "IF-WP"), (10.01, RES, "WP"), (20.0, RES, "WP"), (30.0, RES, "WP-PO"), (40.0, RES, "PO"),
        (50.0, RES, "PO-SP"), (50.01, RES, "SP"), (-99.0, RES, "SN"), (-45.0, RES, "SN-NE"),
        (5.0, COR, "IF-WP"), (-5.0, COR, "WN-IF"), (-8.461, COR, "WN"), (-13.792, COR, "NE-WN"),
        (-16.107, COR, "NE"), (-11.008, COR, "NE-WN"), (25.0, COR, "PO-SP"), (-25.01, COR, "SN"),
    ],
)  # fmt: skip
def test_label_from_pct(pct, th, code):
    assert scale.label_from_pct(pct, th) == code


def test_zone_edges_partition_the_line():
    e = scale.zone_edges(RES)
    assert len(e) == len(scale.LABELS) + 1 and np.all(np.diff(e) > 0)
    # a point inside each zone maps back to that zone's label
    mids = np.r_[e[1] - 1, (e[1:-2] + e[2:-1]) / 2, e[-2] + 1]
    assert [scale.label_from_pct(m, RES) for m in mids] == list(scale.LABELS)


def test_zone_probabilities_draws_agree_with_cdf():
    dist = stats.norm(loc=7.0, scale=6.0)
    exact = scale.zone_probabilities_from_cdf(dist.cdf, RES)
    draws = dist.rvs(size=400_000, random_state=np.random.default_rng(1))
    mc = scale.zone_probabilities_from_draws(draws, RES)
    assert sum(exact.values()) == pytest.approx(1.0)
    for z in scale.LABELS:
        se = np.sqrt(exact[z] * (1 - exact[z]) / draws.size)
        assert abs(mc[z] - exact[z]) < 5 * se + 1e-12, z


def test_ef_selection_gpu_power_example():
    # ssm.md §4: WP 0.701, {IF,WP} 0.2611, Θ 0.0379 -> "IF-WP" with Bel 0.962
    m = {frozenset({"WP"}): 0.701, frozenset({"IF", "WP"}): 0.2611, scale.FRAME: 0.0379}
    sel = scale.select_ef(m)
    assert sel.code == "IF-WP" and sel.belief == pytest.approx(0.9621)
    assert sel.plausibility == pytest.approx(1.0)


def test_ef_selection_prefers_singleton_above_threshold():
    m = {frozenset({"WP"}): 0.8, frozenset({"IF", "WP"}): 0.1, scale.FRAME: 0.1}
    assert scale.select_ef(m).code == "WP"  # Bel(WP)=0.8 >= 0.75 * Bel(IF-WP)=0.675


def test_santos_rule_descends_while_belief_holds():
    m = {frozenset({"SP"}): 0.84, frozenset({"PO", "SP"}): 0.10, scale.FRAME: 0.06}
    assert scale.select_santos(m).code == "SP"
    m = {frozenset({"WN", "IF"}): 0.306548, frozenset({"PO", "SP"}): 0.275301, scale.FRAME: 0.418152}
    sel = scale.select_santos(m)
    assert sel.code == "WN-IF" and sel.belief == pytest.approx(0.306548)


def test_label_from_zone_probabilities_reads_posterior_mass():
    zp = dict.fromkeys(scale.LABELS, 0.0)
    zp.update({"IF": 0.2, "IF-WP": 0.5, "WP": 0.3})
    sel = scale.label_from_zone_probabilities(zp)
    assert sel.code == "IF-WP" and sel.belief == pytest.approx(1.0)
    zp.update({"IF": 0.0, "IF-WP": 0.1, "WP": 0.9})
    sel = scale.label_from_zone_probabilities(zp)
    assert sel.code == "WP" and sel.belief == pytest.approx(0.9)


def test_names_and_codes_roundtrip():
    for code in scale.LABELS:
        assert scale.code_from_name(scale.label_name(code)) == code
    assert scale.code_from_name("weakly negative - indiferent") == "WN-IF"
    with pytest.raises(ValueError):
        scale.validate_thresholds([2, 1, 3, 4, 5, 6])
    assert scale.scale_thresholds(RES, 0.5) == (1, 5, 10, 15, 20, 25)
