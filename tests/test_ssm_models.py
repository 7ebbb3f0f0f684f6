"""Evidence models from measurement files, belief options and input errors of the SSM engine.

Expected numbers are computed by hand from the formulas of research/ssm.md §3 (replication package
knowledge_extraction.py): RI_i per unit, mean, IQR with polars' nearest-rank quantiles rounded to 3 dp,
discount = round(1 - exp(-0.1 |IQR/mean|), 3), belief = round(B (1 - discount), 3).
"""

from __future__ import annotations

import math

import pytest

import metaquant as mq
from metaquant.errors import InputError, MetaquantError
from metaquant.ssm import TotalConflictError, evidence_models, synthesize

MEAS = """
study,model,property,quant_precision,baseline_mean,quant_mean,study_belief
S9,m1,accuracy,int8,100,99,0.6
S9,m2,accuracy,int8,100,96,0.6
S9,m3,accuracy,int8,100,101,0.6
S9,m1,inference_latency,int8,100,90,0.6
S9,m2,inference_latency,int8,100,80,0.6
S9,m3,inference_latency,int8,100,70,0.6
S9,m4,inference_latency,int8,100,60,0.6
S9,m5,inference_latency,int8,100,50,0.6
S9,m1,accuracy,int4,100,90,0.6
S8,m1,accuracy,int8,50,48,0.3
"""


@pytest.fixture
def meas(write_csv):
    return mq.load(write_csv(MEAS))


def _row(models, comparison, prop):
    sub = models[(models["comparison"] == comparison) & (models["property"] == prop)]
    assert len(sub) == 1, (comparison, prop)
    return sub.iloc[0]


def test_measurement_rows_grouped_per_study_and_precision(meas):
    m = evidence_models(meas)
    assert list(zip(m["comparison"], m["property"], strict=True)) == [
        ("S9|int8", "accuracy"), ("S9|int8", "inference_latency"), ("S9|int4", "accuracy"), ("S8|int8", "accuracy")]
    acc = _row(m, "S9|int8", "accuracy")
    # RI_i = -1, -4, +1: mean -4/3; sorted (-4, -1, 1), Q1 = x[round(0.5)] = x[1] = -1, Q3 = x[round(1.5)] = x[2] = 1
    assert acc["n_units"] == 3
    assert acc["pct"] == pytest.approx(-4 / 3, abs=1e-12)
    assert acc["iqr"] == 2.0
    assert acc["discount"] == round(1 - math.exp(-0.1 * 2 / (4 / 3)), 3) == 0.139
    assert acc["belief"] == 0.517  # round(0.6 * 0.861, 3)
    assert acc["label_code"] == "IF"
    assert acc["n_study_models"] == 2  # S9 has int8 and int4 accuracy models
    lat = _row(m, "S9|int8", "inference_latency")
    # lower is better: RI_i = 10..50; Q1 = x[1] = 20, Q3 = x[3] = 40; mean 30 -> WP-PO (upper bound inclusive)
    assert lat["pct"] == pytest.approx(30.0, abs=1e-12)
    assert lat["iqr"] == 20.0
    assert lat["sd"] == pytest.approx(math.sqrt(250.0), abs=1e-12)
    assert lat["discount"] == 0.064
    assert lat["belief"] == 0.562
    assert lat["label_code"] == "WP-PO"
    one = _row(m, "S9|int4", "accuracy")
    assert (one["pct"], one["iqr"], one["discount"], one["belief"], one["label_code"]) == (-10.0, 0.0, 0.0, 0.6, "WN")
    s8 = _row(m, "S8|int8", "accuracy")
    assert s8["pct"] == pytest.approx(-4.0, abs=1e-12) and s8["label_code"] == "WN-IF" and s8["belief"] == 0.3


def test_single_unit_group_equals_a_summary_row(write_csv):
    meas = mq.load(write_csv("study,property,quant_precision,baseline_mean,quant_mean,study_belief\n"
                             "S1,accuracy,q0.16,80.0,79.5056,0.37333333333333335"))
    summ = mq.load(write_csv("study,property,quant_precision,improvement_pct,study_belief\n"
                             "S1,accuracy,q0.16,-0.618,0.37333333333333335", name="s.csv"))
    a, b = evidence_models(meas).iloc[0], evidence_models(summ).iloc[0]
    assert a["pct"] == pytest.approx(b["pct"], abs=1e-9)
    for c in ("iqr", "discount", "belief", "label_code"):
        assert a[c] == b[c], c


def test_missing_study_belief_is_a_clear_error(write_csv):
    ev = mq.load(write_csv("study,property,quant_precision,baseline_mean,quant_mean\nS7,accuracy,int8,80,79"))
    with pytest.raises(InputError) as info:
        evidence_models(ev)
    msg = str(info.value)
    assert "study S7 has no study belief" in msg
    assert "--study-belief FILE (CSV study,study_belief)" in msg and "study_belief={...}" in msg
    m = evidence_models(ev, study_belief={"S7": 0.5})
    assert m.loc[0, "belief"] == 0.5
    with pytest.raises(InputError, match=r"not a number in \[0, 1\]"):
        evidence_models(ev, study_belief={"S7": 1.5})


def test_inconsistent_study_belief_is_rejected(write_csv):
    ev = mq.load(write_csv("study,model,property,quant_precision,baseline_mean,quant_mean,study_belief\n"
                           "S7,a,accuracy,int8,80,79,0.5\nS7,b,accuracy,int8,80,78,0.6"))
    with pytest.raises(InputError, match=r"row 2 .*two study beliefs"):
        evidence_models(ev)


def test_study_belief_mapping_overrides_the_column(meas):
    m = evidence_models(meas, study_belief={"S8": 0.9})
    assert _row(m, "S8|int8", "accuracy")["belief"] == 0.9
    assert _row(m, "S9|int4", "accuracy")["belief"] == 0.6


def test_belief_splits_on_shipped_data():
    ev = mq.load("ssm2025")
    eq = evidence_models(ev, belief_split="equitable")
    mp = evidence_models(ev, belief_split="mass-preserving")
    s3 = ("S3|w-q0.8, a-q0.8", "accuracy")
    assert _row(eq, *s3)["n_study_models"] == 8
    assert _row(eq, *s3)["belief"] == 0.08  # round(0.6429166... / 8, 3)
    assert _row(mp, *s3)["belief"] == 0.121  # round(1 - 0.3570833...^(1/8), 3)
    # S6 int4 accuracy: B/2 = 0.35648, times (1 - 0.956) = 0.015685 -> 0.016
    assert _row(eq, "S6|int4", "accuracy")["belief"] == 0.016
    # a study with one model for the property is not split
    assert _row(eq, "S5|int8", "accuracy")["belief"] == 0.665
    # splitting lowers accuracy's belief in WN (17 models, 8 of them from S3)
    base = synthesize(ev, "accuracy")
    split = synthesize(ev, "accuracy", belief_split="mass-preserving")
    assert split.belief < base.belief


def test_discount_v2_and_none_on_shipped_data():
    ev = mq.load("ssm2025")
    v2 = evidence_models(ev, discount="v2")
    # S5 int8 accuracy: B = 0.7361083, alpha_n = 1.0, alpha_v = 0.914 -> round(0.672803, 3)
    assert _row(v2, "S5|int8", "accuracy")["belief"] == 0.673
    # S1 single observations: alpha_n(1) = 0.283 -> round(0.37333 * 0.283, 3) = 0.106
    assert _row(v2, "S1|q0.16", "accuracy")["belief"] == 0.106
    none = evidence_models(ev, discount="none")
    assert _row(none, "S6|int4", "accuracy")["belief"] == 0.713


def test_discount_v2_needs_unit_counts(write_csv):
    ev = mq.load(write_csv("study,property,improvement_pct,improvement_iqr,study_belief\nS1,accuracy,-3,1.0,0.5"))
    with pytest.raises(InputError, match="column 'n_units'.*number of units"):
        evidence_models(ev, discount="v2")
    ev = mq.load(write_csv("study,property,improvement_pct,improvement_iqr,n_units,study_belief\n"
                           "S1,accuracy,-3,1.0,10,0.5", name="b.csv"))
    with pytest.raises(InputError, match="column 'improvement_sd'"):
        evidence_models(ev, discount="v2")


def test_rounding_can_be_switched_off():
    m = evidence_models(mq.load("ssm2025"), rounding=False)
    r = _row(m, "S6|int4", "accuracy")
    d = 1 - math.exp(-0.1 * 15.192 / 0.485)
    assert r["discount"] == pytest.approx(d, abs=1e-12)
    assert r["belief"] == pytest.approx(0.7129601851851852 * (1 - d), abs=1e-12)


def test_threshold_override_changes_labels():
    ev = mq.load("ssm2025")
    m = evidence_models(ev, thresholds={"correctness": (1, 5, 10, 15, 20, 25)})
    assert _row(m, "S2|int8", "accuracy")["label_code"] == "WN-IF"  # -1.142 %: IF at I = 2, WN-IF at I = 1
    assert _row(m, "S5|int8", "gpu_power_draw")["label_code"] == "WP"  # resource thresholds untouched
    with pytest.raises(InputError, match="thresholds key 'speed'"):
        evidence_models(ev, thresholds={"speed": (1, 2, 3, 4, 5, 6)})


def test_bad_options_are_input_errors():
    ev = mq.load("ssm2025")
    with pytest.raises(InputError, match="unknown discount"):
        evidence_models(ev, discount="v3")
    with pytest.raises(InputError, match="unknown belief split"):
        evidence_models(ev, belief_split="half")
    with pytest.raises(InputError, match="unknown selection policy"):
        synthesize(ev, "accuracy", policy="max")
    with pytest.raises(InputError, match="unknown property"):
        synthesize(ev, "speed")
    with pytest.raises(InputError, match="no evidence models for property 'perplexity'"):
        synthesize(ev, "perplexity")
    with pytest.raises(InputError, match="order does not list"):
        synthesize(ev, "gpu_power_draw", order=["S5|int8"])


def test_synthesize_accepts_a_model_table():
    ev = mq.load("ssm2025")
    m = evidence_models(ev)
    m.loc[m["property"] == "gpu_power_draw", "belief"] = 0.5
    r = synthesize(m, "gpu_power_draw")
    assert r.n_models == 3
    # WP 0.5 then two IF-WP 0.5: m(WP) = 0.5, m(IF-WP) = 0.5 * 0.75 = 0.375, m(Θ) = 0.125
    assert r.masses[frozenset({"WP"})] == pytest.approx(0.5, abs=1e-12)
    assert r.uncertainty == pytest.approx(0.125, abs=1e-12)
    with pytest.raises(InputError, match="already holds labels"):
        synthesize(m, "gpu_power_draw", discount="v2")


def test_total_conflict_through_synthesize(write_csv):
    ev = mq.load(write_csv("study,property,improvement_pct,study_belief\nA,accuracy,30,1.0\nB,accuracy,-30,1.0"))
    with pytest.raises(TotalConflictError, match="property 'accuracy'.*total conflict") as info:
        synthesize(ev, "accuracy")
    assert isinstance(info.value, MetaquantError)


def test_effect_rows_with_yi_are_units(write_csv):
    # yi = ln(q/b) for accuracy: RI = 100 (e^yi - 1)
    ev = mq.load(write_csv("study,property,quant_precision,yi,vi,study_belief\n"
                           "S1,accuracy,int8,-0.01,0.001,0.5\nS1,accuracy,int8,-0.03,0.001,0.5"))
    m = evidence_models(ev)
    assert len(m) == 1 and m.loc[0, "n_units"] == 2
    assert m.loc[0, "pct"] == pytest.approx(50 * (math.expm1(-0.01) + math.expm1(-0.03)), abs=1e-12)


def test_bare_effect_table_gives_the_same_models(meas):
    from_evidence = evidence_models(meas)
    from_table = evidence_models(mq.compute_effects(meas))
    cols = ["comparison", "property", "n_units", "pct", "iqr", "discount", "belief", "label_code"]
    assert from_table[cols].equals(from_evidence[cols])
    with pytest.raises(InputError, match="not an effect table"):
        evidence_models(from_table[["study", "property"]])
