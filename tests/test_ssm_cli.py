"""``metaquant ssm``: thin command over metaquant.ssm (click's CliRunner; no subprocess).

Expected values: research/ssm.md §8 (labels, Bel to 3 dp, number of models) and the replication package's
effects.json beliefs (tests/fixtures/ssm_paper_models.csv).
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from metaquant.cli.ssm import ssm

KEYS = ["property", "label", "label_code", "belief", "plausibility", "uncertainty", "conflict_last", "conflict_max",
        "n_models"]


def run(*args):
    return CliRunner().invoke(ssm, list(args), catch_exceptions=False)


def test_json_for_all_properties():
    res = run("--format", "json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [list(d) for d in out] == [KEYS] * 11
    by = {d["property"]: d for d in out}
    assert by["gpu_power_draw"]["label_code"] == "IF-WP"
    assert round(by["gpu_power_draw"]["belief"], 3) == 0.962
    assert by["accuracy"]["label"] == "weakly negative" and by["accuracy"]["n_models"] == 17
    assert by["dsc"]["conflict_last"] is None and by["dsc"]["conflict_max"] is None


def test_one_property_table():
    res = run("--property", "gpu_energy_consumption")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].split() == KEYS
    row = lines[1].split()
    assert row[0] == "gpu_energy_consumption" and "PO-SP" in row and "0.949" in row and row[-1] == "3"
    assert "depends on the aggregation order" in res.stdout


def test_models_listing():
    res = run("--models", "--property", "accuracy", "--format", "json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert len(rows) == 17
    s6 = next(r for r in rows if r["comparison"] == "S6|int4")
    assert (s6["label_code"], s6["belief"], s6["discount"]) == ("IF", 0.031, 0.956)
    assert [r["order"] for r in rows] == list(range(1, 18))
    table = run("--models", "--property", "gpu_power_draw")
    assert table.exit_code == 0
    assert table.stdout.splitlines()[1].split()[:3] == ["S5", "S5|int8", "gpu_power_draw"]


def test_options_are_passed_through():
    base = json.loads(run("--property", "accuracy", "--format", "json").stdout)[0]
    split = json.loads(run("--property", "accuracy", "--belief-split", "equitable", "--format", "json").stdout)[0]
    assert split["belief"] < base["belief"]
    santos = json.loads(run("--policy", "santos", "--format", "json").stdout)
    assert {d["property"]: d["label_code"] for d in santos}["inference_latency"] == "IF-WP"
    v2 = json.loads(run("--models", "--property", "accuracy", "--discount", "v2", "--format", "json").stdout)
    assert next(r for r in v2 if r["comparison"] == "S5|int8")["belief"] == 0.673


def test_study_belief_file_and_missing_belief(tmp_path):
    data = tmp_path / "runs.csv"
    data.write_text("study,model,property,quant_precision,baseline_mean,quant_mean\n"
                    "S7,a,accuracy,int8,100,99\nS7,b,accuracy,int8,100,96\nS7,c,accuracy,int8,100,101\n")
    res = run("--data", str(data))
    assert res.exit_code == 2
    assert res.stdout == ""
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("error: ")
    assert "study S7 has no study belief" in res.stderr and "--study-belief FILE" in res.stderr
    beliefs = tmp_path / "b.csv"
    beliefs.write_text("study,study_belief\nS7,0.6\n")
    res = run("--data", str(data), "--study-belief", str(beliefs), "--models", "--format", "json")
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)
    assert (row["pct"], row["iqr"], row["discount"], row["belief"]) == pytest.approx((-4 / 3, 2.0, 0.139, 0.517))


def test_several_data_files(tmp_path):
    extra = tmp_path / "extra.csv"
    extra.write_text("study,property,quant_precision,improvement_pct,study_belief\nS7,gpu_power_draw,int8,12,0.5\n")
    res = run("--data", "ssm2025", "--data", str(extra), "--property", "gpu_power_draw", "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)[0]["n_models"] == 4


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--property", "speed"], "unknown property"),
        (["--property", "perplexity"], "no evidence models for property 'perplexity'"),
        (["--data", "nope.csv"], "file not found"),
        (["--study-belief", "nope.csv"], "file not found"),
    ],
)
def test_errors_are_one_line(args, needle):
    res = run(*args)
    assert res.exit_code == 2
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
    assert needle in res.stderr


def test_total_conflict_exit_code(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("study,property,improvement_pct,study_belief\nA,accuracy,30,1.0\nB,accuracy,-30,1.0\n")
    res = run("--data", str(f))
    assert res.exit_code == 2
    assert "total conflict" in res.stderr


def test_registered_in_the_main_group():
    from metaquant.cli import main

    res = CliRunner().invoke(main, ["ssm", "--property", "gpu_utilization", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)[0]["label_code"] == "IF"
