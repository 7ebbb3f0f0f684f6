"""No finding from a failed fit, no label below the stated probability, no reference-level headline.

A fit whose checks failed states no label, probability or % headline in any output; a sensitivity sweep
states no label (and counts no change) below ``min_probability``; a fit with a categorical moderator states
the effect per level, not the reference level's as a pooled headline.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import metaquant as mq
from metaquant import fitting, results
from metaquant.cli import main
from metaquant.cli.show import summary_frame
from metaquant.spec import RunSettings
from metaquant.workbench import compare, sensitivity

#: Five studies of INT8 accuracy, one a single run written the documented way (empty sd, n = 1).
FIVE = """study,property,quant_precision,baseline_mean,baseline_sd,baseline_n,quant_mean,quant_sd,quant_n
A,accuracy,int8,0.761,0.004,5,0.758,0.005,5
B,accuracy,int8,0.802,0.003,3,0.797,0.004,3
C,accuracy,int8,0.695,0.006,4,0.690,0.006,4
D,accuracy,int8,0.884,0.002,10,0.880,0.003,10
E,accuracy,int8,0.730,,1,0.722,,1
"""

#: MCMC that cannot pass its checks (R-hat, ESS): the failing fit every output path is shown.
TINY = ("--draws", "5", "--tune", "5", "--chains", "2", "--mcmc")


@pytest.fixture(scope="module")
def five(tmp_path_factory):
    path = tmp_path_factory.mktemp("honest") / "five.csv"
    path.write_text(FIVE)
    return str(path)


@pytest.fixture(scope="module")
def failed(five):
    return mq.fit(five, "accuracy", draws=5, tune=5, chains=2, force_mcmc=True)


def _no_finding(d: dict) -> None:
    assert d["ok"] is False
    for key in ("label_code", "label_probability", "pct", "pct_ci_low", "pct_ci_high", "pct_median"):
        assert d.get(key) is None, key
    assert d["withheld_reason"].startswith("the sampler's diagnostics failed (")
    assert d["label"].startswith("no label: the sampler's diagnostics failed")


def test_effect_table_has_one_unknown_variance_row(five):
    tab = fitting.effect_table(five)
    assert len(tab) == 5 and int((~tab["vi_known"]).sum()) == 1
    assert (tab["yi"].abs() < 0.02).all()


def test_failed_fit_states_no_finding(failed):
    assert failed.ok is False
    assert failed.label_code is None and failed.label_probability is None and failed.pct is None
    d = failed.to_dict()
    _no_finding(d)
    assert "R-hat" in d["withheld_reason"] or "ESS" in d["withheld_reason"]
    # the posterior summary on the log scale stays, for whoever wants to look at the failed draws
    assert d["mu_median"] is not None


def test_failed_fit_csv_row_has_no_label(failed):
    row = summary_frame([failed]).iloc[0]
    assert "label_code" not in row or row["label_code"] is None
    assert row["withheld_reason"].startswith("the sampler's diagnostics failed")


def test_cli_text_and_json_of_failed_fit(five):
    res = CliRunner().invoke(main, ["fit", "--data", five, "--property", "accuracy", *TINY])
    assert res.exit_code == 0, res.output
    assert "no label and no % headline: the sampler's diagnostics failed (" in res.output
    assert "posterior probability" not in res.output and "relative improvement" not in res.output
    res = CliRunner().invoke(main, ["fit", "--data", five, "--property", "accuracy", *TINY, "--strict",
                                    "--format", "json"])
    assert res.exit_code == 3
    d = json.loads(res.stdout[res.stdout.index("{"):res.stdout.rindex("}") + 1])
    _no_finding(d[0] if isinstance(d, list) else d)


def test_compare_and_sensitivity_of_failed_fit(five):
    tab = fitting.property_rows(fitting.effect_table(five), "accuracy")
    failing = RunSettings(draws=5, tune=5, chains=2, force_mcmc=True)
    pc = compare.compare_property(tab, settings=failing)
    b = pc.bayes
    assert b["label_code"] is None and b["label_probability"] is None and b.get("pct") is None
    assert pc.row()["bayes_label"] is None and pc.row()["bayes_pct"] is None and pc.row()["bayes_probability"] is None
    sr = sensitivity.threshold_scaling(tab, "accuracy", engines=["bayes"], bayes_engine="pymc", settings=failing)
    assert all(r["label_code"] is None and r["support"] is None for r in sr.rows)
    assert sr.changes == []


def test_exact_engine_on_the_single_run_file(five):
    """The same model by quadrature: indifferent, as the PyMC fit must say when its checks pass."""
    r = mq.fit(five, "accuracy", method="exact")
    assert r.ok and r.label_code == "IF" and r.label_probability > 0.95


@pytest.mark.slow
def test_single_run_row_samples_cleanly_and_agrees_with_exact(five):
    r = mq.fit(five, "accuracy", method="bayes", force_mcmc=True)  # NUTS, not the quadrature default
    ex = mq.fit(five, "accuracy", method="exact")
    d = r.diagnostics
    assert r.ok and d["r_hat_max"] < 1.01 and d["divergences"] == 0
    assert r.label_code == ex.label_code == "IF"
    assert abs(r.to_dict()["mu_median"] - ex.to_dict()["mu_median"]) < 5e-4


def test_sensitivity_states_no_label_below_min_probability():
    """f1_score's posterior decides no label at P 0.75: no cut-point scaling may print one or count a change."""
    tab = fitting.property_rows(fitting.effect_table("ssm2025"), "f1_score")
    sr = sensitivity.threshold_scaling(tab, "f1_score", engines=["bayes"], bayes_engine="pymc",
                                       settings=RunSettings(draws=300, tune=300, chains=2, force_mcmc=True))
    bayes = [r for r in sr.rows if r["engine"] == "bayes"]
    assert bayes
    for r in bayes:
        assert r["label_code"] is None or (r["support"] is not None and r["support"] >= 0.75), r
    labelled = [r for r in bayes if r["label_code"] is not None]
    assert not [c for c in sr.changes if "Bayes" in c] or len(labelled) > 1


def test_withhold_rule_on_categorical_moderator():
    d = {"engine": "bayes", "ok": True, "label_code": "SN", "label": "strongly negative", "label_probability": 0.99,
         "pct": -677.0, "coefficients": [{"name": "intercept"}, {"name": "bits[4]"}],
         "predictions": [{"level": 1, "pct": -677.0, "label_code": "SN"}, {"level": 4, "pct": -3.0,
                                                                          "label_code": "WN"}]}
    out = results.withhold(d)
    assert out["label_code"] is None and out["pct"] is None and out["label_probability"] is None
    assert "categorical moderator bits" in out["withheld_reason"]
    assert [p["label_code"] for p in out["predictions"]] == ["SN", "WN"]


def test_categorical_moderator_has_no_reference_headline():
    args = ["fit", "--property", "accuracy", "--moderator", "bits:cat", "--method", "reml", "--missing-vi", "drop"]
    res = CliRunner().invoke(main, [*args, "--format", "json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout[res.stdout.index("{"):res.stdout.rindex("}") + 1])
    d = d[0] if isinstance(d, list) else d
    assert d["pct"] is None and d.get("label_code") is None
    assert "categorical moderator bits" in d["withheld_reason"]
    assert {p["label_code"] for p in d["predictions"]} - {None}
    text = CliRunner().invoke(main, args).output
    assert "at bits = 8" in text and "at bits = 4" in text


def test_compare_text_says_no_label_for_a_withheld_reml_fit():
    """compare's REML column is cluster-robust (CR2); with 3 studies it states no label, never 'None NA %'."""
    comp = compare.compare("ssm2025", "accuracy", method="exact")
    f = comp.results[0].frequentist
    assert f["label_code"] is None and f["withheld_reason"].startswith("cluster-robust inference is not reliable")
    line = next(ln for ln in compare.format_comparison(comp).splitlines() if ln.startswith("accuracy "))
    assert "no label (CR2: 3 studies < 4)" in line and "None" not in line and "NA %" not in line
