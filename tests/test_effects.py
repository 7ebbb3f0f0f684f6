"""Effect sizes against metafor's escalc() (fixture tests/fixtures/escalc/escalc_reference.json)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metaquant as mq
from metaquant.evidence.effects import dlog_dpct, hedges_j, log_from_pct, pct_from_log

REF = json.loads((Path(__file__).parent / "fixtures" / "escalc" / "escalc_reference.json").read_text())


def _file(tmp_path, prop, quant_is_group1):
    g1 = ("quant", "baseline") if quant_is_group1 else ("baseline", "quant")
    rows = []
    for i in range(len(REF["m1"])):
        r = {"study": f"s{i}", "property": prop}
        for side, g in zip(g1, ("1", "2"), strict=True):
            r[f"{side}_mean"] = REF[f"m{g}"][i]
            r[f"{side}_sd"] = REF[f"sd{g}"][i]
            r[f"{side}_n"] = REF[f"n{g}"][i]
        rows.append(r)
    p = tmp_path / f"{prop}.csv"
    pd.DataFrame(rows).to_csv(p, index=False)
    return p


@pytest.mark.parametrize("measure", ["ROM", "SMD", "MD"])
@pytest.mark.parametrize("prop,quant_is_group1", [("accuracy", True), ("inference_latency", False)])
def test_measures_match_escalc(tmp_path, measure, prop, quant_is_group1):
    # Higher-is-better: quantized arm is group 1; lower-is-better: the baseline is, so the
    # oriented effect equals escalc's yi in both cases.
    tab = mq.compute_effects(mq.load(_file(tmp_path, prop, quant_is_group1)), measure=measure)
    np.testing.assert_allclose(tab["yi"], REF[measure]["yi"], rtol=1e-12)
    np.testing.assert_allclose(tab["vi"], REF[measure]["vi"], rtol=1e-12)
    assert tab["vi_known"].all()


def test_orientation_flips_for_lower_is_better(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("study,property,baseline_mean,quant_mean\nA,inference_latency,10,5\nA,accuracy,0.8,0.4\n")
    tab = mq.compute_effects(mq.load(p))
    lat, acc = tab.iloc[0], tab.iloc[1]
    assert lat["yi"] == pytest.approx(np.log(2)) and lat["pct"] == pytest.approx(50.0)
    assert acc["yi"] == pytest.approx(-np.log(2)) and acc["pct"] == pytest.approx(-50.0)
    assert not lat["vi_known"] and "no spread" in lat["vi_note"]


@pytest.mark.parametrize("hib", [True, False])
def test_pct_log_roundtrip(hib):
    pct = np.array([-60.0, -5.0, 0.0, 3.0, 45.0, 90.0])
    np.testing.assert_allclose(pct_from_log(log_from_pct(pct, hib), hib), pct, rtol=1e-13, atol=1e-12)
    # derivative by central differences
    h = 1e-6
    num = (log_from_pct(pct + h, hib) - log_from_pct(pct - h, hib)) / (2 * h)
    np.testing.assert_allclose(dlog_dpct(pct, hib), num, rtol=1e-6)


def test_hedges_j_known_values():
    # J(m) = Γ(m/2)/(√(m/2) Γ((m-1)/2)); the classic approximation 1 - 3/(4m - 1) agrees to O(m^-2)
    for m in (5, 18, 58, 200):
        assert hedges_j(m) == pytest.approx(1 - 3 / (4 * m - 1), rel=3 / m**2)


def test_summary_rows_delta_method():
    tab = mq.compute_effects(mq.load("ssm2025"))
    s5 = tab[(tab.study == "S5") & (tab.property == "accuracy")].iloc[0]
    # RI = -13.792 %, sd 29.19 over 28 units: yi = ln(1 - 0.13792), vi = (29.19 / (100 - 13.792))^2 / 28
    assert s5["yi"] == pytest.approx(np.log(1 - 0.13792), rel=1e-12)
    assert s5["vi"] == pytest.approx((29.19 / (100 - 13.792)) ** 2 / 28, rel=1e-12)
    st = tab[(tab.study == "S5") & (tab.property == "storage_size")].iloc[0]
    # lower-is-better: RI = (b - q)/b = 94.352 %  ->  yi = ln(b/q) = -ln(1 - 0.94352)
    assert st["yi"] == pytest.approx(-np.log(1 - 0.94352), rel=1e-12)
    assert st["vi"] == pytest.approx((18.568 / (100 - 94.352)) ** 2 / 28, rel=1e-12)


def test_single_observations_kept_and_flagged():
    tab = mq.compute_effects(mq.load("ssm2025"))
    acc = mq.for_property(tab, "accuracy")
    assert len(acc) == 17  # 19 evidence models, S4 has no accuracy, S2 one, ...
    unknown = acc[~acc.vi_known]
    assert set(unknown.study) == {"S1", "S3"}
    assert unknown["vi_note"].str.contains("single observation").all()
    # zero spread (S6 storage: every model -75 %) is not a zero variance
    st6 = tab[(tab.study == "S6") & (tab.property == "storage_size")]
    assert (~st6.vi_known).all() and st6["vi_note"].str.contains("zero spread").all()


def test_handle_unknown_vi_policies():
    from metaquant.errors import InputError
    from metaquant.spec import apply_variance_policy

    def handle_unknown_vi(table, policy):
        return apply_variance_policy(table, policy, engine="frequentist")

    acc = mq.for_property(mq.compute_effects(mq.load("ssm2025")), "accuracy")
    with pytest.raises(InputError, match=r"13 of 17 rows .* no sampling variance"):
        handle_unknown_vi(acc, "refuse")
    kept, note = handle_unknown_vi(acc, "drop")
    assert len(kept) == 4 and "dropped 13" in note
    imp, note = handle_unknown_vi(acc, "impute-max")
    assert imp["vi"].notna().all() and imp.loc[~acc.vi_known, "vi"].eq(acc["vi"].max()).all()


def test_moderator_matrix_log2_bits_and_dummies():
    from metaquant.evidence.effects import moderator_matrix

    acc = mq.for_property(mq.compute_effects(mq.load("ssm2025")), "accuracy")
    X, names = moderator_matrix(acc, ["bits", "technique"])
    assert names == ["log2(bits)", "technique[ptq-static]", "technique[qat]", "technique[weight-only]"]
    np.testing.assert_allclose(X[:, 0], np.log2(acc["bits"]))
    assert X[:, 1:].sum(axis=1).max() == 1
