"""metaquant.workbench.compare: the three engines side by side and their agreement.

References: the REML numbers are checked against ``metaquant.classical.rma.rma``
on the same rows (itself validated against metafor); the SSM labels against the
hand recomputation of the seed paper's 19 evidence models (docs/methods/ssm.md, results table);
the Bayesian numbers against the exact engine and against a closed form.
"""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from helpers import bayes_ready as _bayes_ready
from helpers import effects_from_rows

import metaquant as mq
from metaquant import scale
from metaquant.classical import rma
from metaquant.cli import main
from metaquant.workbench import compare

# ---------------------------------------------------------------- agreement


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("IF-WP", "IF-WP", "same"),
        ("SP", "SP", "same"),
        ("WN-IF", "IF", "adjacent"),  # share IF
        ("IF", "IF-WP", "adjacent"),
        ("WN-IF", "IF-WP", "adjacent"),  # share IF, two steps apart on the 13-label scale
        ("WP", "PO", "adjacent"),  # neighbouring atoms: together the label WP-PO
        ("PO-SP", "SP", "adjacent"),
        ("WN", "IF", "adjacent"),  # WN and IF form WN-IF
        ("WN", "IF-WP", "conflicting"),
        ("WN", "WP", "conflicting"),
        ("NE-WN", "IF", "conflicting"),
        ("SN", "SP", "conflicting"),
        ("IF-WP", "PO", "conflicting"),
        ("Θ", "WN", "adjacent"),  # the whole frame overlaps everything
        ("WN..WP", "IF", "adjacent"),  # a Santos interval
    ],
)
def test_classify_labels_on_hand_made_pairs(a, b, expected):
    assert scale.classify_labels(a, b) == expected
    assert scale.classify_labels(b, a) == expected


def test_worst_status_orders_same_adjacent_conflicting():
    assert scale.worst_status(["same", "adjacent", None]) == "adjacent"
    assert scale.worst_status(["same", "conflicting", "adjacent"]) == "conflicting"
    assert scale.worst_status([None, None]) is None


def test_agreement_reasons_name_dependence_and_unknown_variances(tab):
    t = mq.for_property(tab, "accuracy")
    ssm = {"label_code": "WN", "belief": 0.886, "n_models": 17}
    bayes = {"label_code": "WN-IF", "label_probability": 0.6, "pct_mean": -4.0}
    reml = {"label_code": "IF", "estimable": True, "k": 4, "k_total": 17, "pct": -1.1}
    a = compare.agreement(t, ssm, bayes, reml)
    assert a["pairs"] == {"ssm_bayes": "adjacent", "ssm_frequentist": "adjacent", "bayes_frequentist": "adjacent"}
    assert a["status"] == "adjacent"
    assert "SSM treats the 8 dependent models of S3 as independent sources" in a["reason"]
    assert "(and 5 of S1" in a["reason"]
    assert "REML pools only the 4 of 17 rows with a known variance" in a["reason"]
    # belief saturation: Bel 0.886 < 0.9, so it is not claimed here
    assert "saturates" not in a["reason"]
    a2 = compare.agreement(t, {**ssm, "belief": 0.999}, {**bayes, "label_code": "IF-WP"}, reml)
    assert a2["status"] == "conflicting"
    assert "SSM belief saturates with many models (Bel 1.00 from 17 models vs posterior probability 0.60)" in a2[
        "reason"]


def test_agreement_names_a_diffuse_posterior_of_a_single_study(tab):
    t = mq.for_property(tab, "dsc")  # one study, one row
    a = compare.agreement(t, {"label_code": "IF", "belief": 0.394, "n_models": 1},
                          {"label_code": "SN-NE", "label_probability": 0.26, "pct_ci_low": -56.8, "pct_ci_high": 135.3},
                          {"label_code": "IF", "estimable": True, "k": 1, "k_total": 1})
    assert a["status"] == "conflicting" and a["pairs"]["ssm_frequentist"] == "same"
    assert a["reasons"][0].startswith("the Bayesian posterior is too diffuse for one label (P = 0.26 for SN-NE")
    assert "with one study the between-study spread is not identified" in a["reasons"][0]
    assert "dependent" not in a["reason"]


def test_agreement_same_has_no_reason_and_missing_labels_are_not_compared(tab):
    t = mq.for_property(tab, "gpu_power_draw")
    d = {"label_code": "IF-WP", "belief": 0.96, "n_models": 3, "label_probability": 0.9, "estimable": True, "k": 3,
         "k_total": 3}
    a = compare.agreement(t, d, d, d)
    assert a["status"] == "same" and a["reason"] == ""
    a = compare.agreement(t, d, d, {"label_code": None, "estimable": False})
    assert a["pairs"]["ssm_frequentist"] is None and a["status"] == "same"
    assert a["engines_without_label"] == ["REML"]


# ---------------------------------------------------------------- REML


def test_reml_equals_frequentist_rma_on_the_rows_with_known_variance(tab):
    t = mq.for_property(tab, "accuracy")
    d = compare.fit_reml(t, missing_vi="drop", model="random-effects")
    known = t[t["vi_known"]]
    ref = rma.rma(known["yi"].to_numpy(), known["vi"].to_numpy(), method="REML")
    assert d["estimable"] and d["k"] == 4 and d["k_total"] == 17 and d["missing_vi"] == "drop"
    assert d["estimate"] == pytest.approx(ref.estimate, rel=1e-12)
    assert d["tau2"] == pytest.approx(ref.tau2, abs=1e-14)
    assert d["pct"] == pytest.approx(100 * np.expm1(ref.estimate), rel=1e-12)
    assert d["pct_ci_low"] == pytest.approx(100 * np.expm1(ref.ci_low), rel=1e-12)
    # label of the point estimate with the correctness cut-points (|RI| <= 2 -> IF)
    assert abs(d["pct"]) <= 2 and d["label_code"] == "IF"
    assert any("dropped 13 rows" in n for n in d["notes"])


def test_reml_lower_is_better_property_converts_with_the_right_orientation(tab):
    t = mq.for_property(tab, "gpu_energy_consumption")
    d = compare.fit_reml(t, model="random-effects")
    ref = rma.rma(t["yi"].to_numpy(), t["vi"].to_numpy(), method="REML")
    assert d["pct"] == pytest.approx(100 * (1 - np.exp(-ref.estimate)), rel=1e-12)
    assert d["pct_pi_high"] == pytest.approx(100 * (1 - np.exp(-ref.pi_high)), rel=1e-12)


def test_reml_not_estimable_without_any_variance(tab):
    t = mq.for_property(tab, "f1_score")
    d = compare.fit_reml(t, missing_vi="drop")
    assert d["estimable"] is False and d["label_code"] is None and d["k_total"] == 8
    assert "not estimable" in d["reason"]


# ---------------------------------------------------------------- SSM side


def test_ssm_side_reproduces_the_paper_recomputation(tab):
    # docs/methods/ssm.md: accuracy WN 0.886 (17 models), GPU power IF-WP 0.962 (3), worked by hand
    d, _ = compare.ssm_entry(mq.for_property(tab, "accuracy"))
    assert d["label_code"] == "WN" and d["belief"] == pytest.approx(0.886, abs=5e-4) and d["n_models"] == 17
    assert d["models_per_study"] == {"S3": 8, "S1": 5, "S6": 2, "S2": 1, "S5": 1}
    d, _ = compare.ssm_entry(mq.for_property(tab, "gpu_power_draw"))
    assert d["label_code"] == "IF-WP" and d["belief"] == pytest.approx(0.962, abs=5e-4)


def test_ssm_without_study_belief_is_reported_not_raised(tab):
    t = mq.for_property(tab, "gpu_power_draw").assign(study_belief=np.nan)
    d, obj = compare.ssm_entry(t)
    assert obj is None and d["label_code"] is None and "study belief" in d["reason"]


def test_exact_applicable_rules(tab):
    # the exact engine is the random-effects model: the PyMC default only when every study gives one row
    assert compare.exact_applicable(mq.for_property(tab, "dsc"))[0]
    ok, why = compare.exact_applicable(mq.for_property(tab, "accuracy"))
    assert not ok and "study S3 gives 8 rows" in why
    ok, why = compare.exact_applicable(mq.for_property(tab, "gpu_power_draw"))
    assert not ok and "study S6 gives 2 rows" in why


# ---------------------------------------------------------------- full comparison (exact engine: fast)


def _one_row_per_study(tmp_path):
    """Five studies, one row each with a known variance: the exact engine applies."""
    rows = []
    for i, (pct, sd, n) in enumerate([(-3.0, 4.0, 10), (-1.0, 3.0, 12), (-6.5, 5.0, 8), (0.5, 2.0, 20),
                                      (-2.5, 3.5, 15)]):
        rows.append({"study": f"T{i + 1}", "property": "accuracy", "improvement_pct": pct, "improvement_sd": sd,
                     "n_units": n, "study_belief": 0.6, "bits": [4, 8, 8, 16, 4][i], "technique": "ptq-static"})
    return effects_from_rows(rows, tmp_path)


def test_compare_fast_uses_exact_engine_and_matches_it(tmp_path):
    bayes = _bayes_ready()
    t = _one_row_per_study(tmp_path)
    pc = compare.compare_property(t, fast=True)
    assert pc.bayes["engine"] == "exact"
    ref = bayes.fit_exact(t).to_dict()
    assert pc.bayes["pct_mean"] == pytest.approx(ref["pct_mean"], rel=1e-10)
    assert pc.bayes["label_code"] == ref["label_code"]
    reml = rma.rma(t["yi"].to_numpy(), t["vi"].to_numpy(), method="REML")
    assert pc.frequentist["estimate"] == pytest.approx(reml.estimate, rel=1e-12)
    d = pc.to_dict()
    assert set(d) == {"property", "ssm", "bayes", "frequentist", "agreement", "primary"}
    assert d["primary"]["column"] == "bayes"  # one row per study, 5 studies: the Bayesian random-effects model
    assert set(d["agreement"]) >= {"status", "reason"}
    json.dumps(d)


def test_compare_cli_json_shape_and_not_estimable(tab):
    _bayes_ready()
    res = CliRunner().invoke(main, ["compare", "--property", "dsc", "--method-bayes", "exact", "--format", "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert isinstance(out, list) and out[0]["property"] == "dsc"
    for key in ("ssm", "bayes", "frequentist", "agreement"):
        assert key in out[0]
    # one row: the posterior is too diffuse for a label (P below 0.75), and says so
    assert out[0]["ssm"]["label_code"] == "IF" and out[0]["bayes"]["label_code"] is None
    assert out[0]["bayes"]["label_selected"] and out[0]["bayes"]["label_probability"] < 0.75
    assert out[0]["frequentist"]["missing_vi"] == "drop"
    # f1_score: no row has a variance -> REML "not estimable"; the Bayesian engines model the unknown
    # variances (sigma_resid) and still answer, and so does SSM
    res = CliRunner().invoke(main, ["compare", "--property", "f1_score", "--method-bayes", "exact", "--format",
                                    "json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)[0]
    assert out["frequentist"]["estimable"] is False and "not estimable" in out["frequentist"]["reason"]
    assert out["ssm"]["label_code"] == "IF" and out["bayes"]["label_code"] is not None
    assert out["agreement"]["pairs"]["ssm_frequentist"] is None
    res = CliRunner().invoke(main, ["compare", "--property", "f1_score", "--method-bayes", "exact"])
    assert "not estimable (k=0/8)" in res.output and "IF (Bel 0.82)" in res.output


def test_compare_table_output_states_the_missing_vi_policy():
    _bayes_ready()
    res = CliRunner().invoke(main, ["compare", "--property", "dsc", "--method-bayes", "exact"])
    assert res.exit_code == 0, res.output
    assert "missing_vi=drop" in res.output


@pytest.mark.filterwarnings("ignore::metaquant.errors.ConvergenceWarning")  # tiny MCMC run
def test_compare_pymc_tiny_run_gives_labels_and_diagnostics(tab):
    _bayes_ready()
    t = mq.for_property(tab, "gpu_power_draw")
    pc = compare.compare_property(t, draws=200, tune=200, chains=2, force_mcmc=True)
    assert pc.bayes["engine"] == "pymc"
    assert pc.bayes["r_hat_max"] is not None
    assert pc.ssm["label_code"] == "IF-WP"
    assert pc.agreement["status"] in (*scale.STATUSES, "not comparable")
    if pc.bayes["ok"] is False:  # a failed tiny run states no finding (metaquant.results.withhold)
        assert pc.bayes["label_code"] is None and pc.bayes["pct"] is None and pc.bayes["withheld_reason"]
        return
    assert (pc.bayes["label_code"] or pc.bayes["label_selected"]) in ("IF", "IF-WP", "WP", "WN-IF")
    lo, hi = pc.bayes["pct_ci_low"], pc.bayes["pct_ci_high"]
    assert lo < pc.bayes["pct"] < hi


def test_comparison_summary_and_getitem(tmp_path):
    _bayes_ready()
    comp = compare.compare(_one_row_per_study(tmp_path), fast=True)
    assert len(comp) == 1
    assert comp["accuracy"].property == "accuracy"
    s = comp.summary()
    assert isinstance(s, pd.DataFrame) and list(s["property"]) == ["accuracy"]
    assert "agreement" in compare.format_comparison(comp)
