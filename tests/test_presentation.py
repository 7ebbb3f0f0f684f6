"""What a person reads: honest labels, metafor-like classical output, stated reasons, exports."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from metaquant.cli import main


def _run(*args):
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == 0, res.output
    return res.output


def test_a_diffuse_posterior_gets_no_label_and_says_why():
    out = _run("fit", "--property", "dsc", "--method", "exact")
    assert "no label: the evidence does not decide (best candidate" in out
    assert "< 0.75)" in out and "zones:" in out


def test_the_label_probability_is_said_to_be_the_sum_over_its_zones():
    out = _run("fit", "--property", "accuracy", "--method", "exact")
    assert "posterior probability 1.000 = P(WN + WN-IF + IF)" in out
    assert "exp(median mu) - 1" in out  # which headline it is


def test_notes_are_printed_once():
    out = _run("fit", "--property", "accuracy", "--method", "exact")
    assert out.count("the exact engine treats them as independent") == 1


def test_classical_output_prints_what_print_rma_prints():
    out = _run("fit", "--property", "storage_size", "--method", "reml", "--missing-vi", "drop")
    assert "note: only 2 rows: tau², I² and the prediction interval are very imprecise" in out
    assert "tau² 0.9507 [0.0346; 100.0000] (SE = 1.6175)" in out  # the Q-profile interval, not only in JSON
    assert "test for heterogeneity: Q(df = 1) = 5.9247, p 0.0149" in out
    kh = _run("fit", "--property", "accuracy", "--method", "reml", "--missing-vi", "drop", "--moderator", "bits",
              "--test", "knha", "--model", "random-effects")
    assert "test of moderators: F(df1 = 1, df2 = 2)" in kh and "QM (df 1)" not in kh


def test_tiny_tau2_is_not_printed_as_zero():
    from metaquant.cli.show import num

    assert num(7.4e-6) == "7.4e-06" and num(0.0) == "0.0000" and num(0.12345) == "0.1235"


def test_one_study_pooled_by_reml_is_cautioned(tmp_path):
    rows = [{"study": "A", "property": "accuracy", "yi": y, "vi": 1e-4, "bits": b} for y, b in
            [(-0.01, 8), (-0.05, 4), (-0.02, 8)]]
    pd.DataFrame(rows).to_csv(tmp_path / "one.csv", index=False)
    out = _run("fit", "--data", str(tmp_path / "one.csv"), "--property", "accuracy", "--method", "reml",
               "--model", "random-effects")
    assert "all 3 rows come from one study" in out
    nested = _run("fit", "--data", str(tmp_path / "one.csv"), "--property", "accuracy", "--method", "reml")
    assert "multilevel model" in nested and "'study' has a single group" in nested


def _no_belief(tmp_path):
    p = tmp_path / "nob.csv"
    p.write_text("study,property,baseline_mean,baseline_sd,baseline_n,quant_mean,quant_sd,quant_n\n"
                 "labA,accuracy,0.90,0.01,5,0.88,0.01,5\nlabB,accuracy,0.80,0.02,5,0.79,0.02,5\n")
    return str(p)


def test_ssm_without_study_belief_says_what_is_missing(tmp_path):
    data = _no_belief(tmp_path)
    out = _run("compare", "--data", data, "--method-bayes", "exact", "--quiet")
    assert "SSM not available:" in out and "add a study_belief column" in out
    sens = _run("sensitivity", "--data", data, "--property", "accuracy", "--loo", "--bayes-engine", "exact",
                "--quiet")
    assert "reference: SSM no label" in sens and "SSM: " in sens and "add a study_belief column" in sens
    val = _run("data", "validate", data)
    assert "no study_belief column" in val


@pytest.mark.parametrize("fmt, marker", [("csv", "property,"), ("markdown", "| property |"), ("latex", "\\begin")])
def test_every_table_exports(fmt, marker):
    def has(out):
        return marker.lower() in out.lower()

    assert has(_run("fit", "--all", "--method", "reml", "--missing-vi", "drop", "--quiet", "--format", fmt))
    assert has(_run("compare", "--property", "gpu_power_draw", "--method-bayes", "exact", "--format", fmt))
    assert has(_run("ssm", "--format", fmt))
    out = _run("sensitivity", "--property", "gpu_power_draw", "--belief", "--format", fmt)
    assert "scenario" in out.lower()


def test_json_stays_clean_of_progress():
    out = _run("compare", "--property", "gpu_power_draw", "--method-bayes", "exact", "--format", "json")
    assert json.loads(out)[0]["property"] == "gpu_power_draw"


def test_strict_fails_when_r_hat_cannot_be_computed():
    """One chain: R-hat cannot be computed, which under --strict is a failed diagnostic (exit 3)."""
    args = ["fit", "--property", "gpu_power_draw", "--mcmc", "--chains", "1", "--draws", "60", "--tune", "60",
            "--quiet"]
    res = CliRunner().invoke(main, [*args, "--strict"])
    assert res.exit_code == 3, res.output
    assert "diagnostics failed or could not be computed for gpu_power_draw" in res.output
    assert CliRunner().invoke(main, args).exit_code == 0
