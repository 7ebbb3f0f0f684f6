"""One road: the CLI and the Python API give identical numbers for the same specification, for every engine."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import metaquant as mq
from metaquant.cli import main

#: Numbers compared exactly between the CLI's JSON and the API's ``to_dict()``.
KEYS = {
    "frequentist": ("estimate", "se", "ci_low", "ci_high", "tau2", "I2", "Q", "pct", "pct_pi_low", "label_code"),
    "exact": ("mu_mean", "mu_sd", "mu_ci_low", "mu_ci_high", "tau_mean", "pct", "label_code", "label_probability"),
    "bayes": ("mu_mean", "mu_sd", "mu_ci_low", "tau_mean", "pct", "label_code", "label_probability", "r_hat_max"),
}

CASES = [
    ("frequentist", ["--method", "reml", "--missing-vi", "drop"], {"method": "reml", "variance_policy": "drop"},
     "storage_size"),
    ("frequentist", ["--method", "pm", "--test", "knha", "--missing-vi", "impute-max"],
     {"method": "pm", "test": "knha", "variance_policy": "impute-max"}, "accuracy"),
    ("exact", ["--method", "exact"], {"method": "exact"}, "gpu_power_draw"),
    ("exact", ["--method", "exact", "--missing-vi", "drop", "--prior-mu-sd", "2"],
     {"method": "exact", "variance_policy": "drop", "prior_mu_sd": 2.0}, "accuracy"),
    ("bayes", ["--draws", "150", "--tune", "150", "--chains", "2", "--seed", "7"],
     {"draws": 150, "tune": 150, "chains": 2, "seed": 7}, "gpu_power_draw"),
]


@pytest.mark.parametrize("engine, args, kw, prop", CASES, ids=[f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(CASES)])
def test_cli_and_api_give_identical_numbers(engine, args, kw, prop):
    res = CliRunner().invoke(main, ["fit", "--property", prop, "--format", "json", "--quiet", *args])
    assert res.exit_code == 0, res.output
    cli = json.loads(res.output)
    api = mq.fit("ssm2025", prop, **kw).to_dict()
    assert cli["engine"] == api["engine"] == engine
    for key in KEYS[engine]:
        assert cli.get(key) == api.get(key), key


def test_fit_all_reports_every_property_and_why_one_is_not_pooled():
    res = CliRunner().invoke(main, ["fit", "--all", "--method", "reml", "--missing-vi", "drop", "--format", "json",
                                    "--quiet"])
    assert res.exit_code == 0, res.output
    out = {d["property"]: d for d in json.loads(res.output)}
    assert len(out) == 11
    assert out["f1_score"]["estimable"] is False and "known sampling variance" in out["f1_score"]["reason"]
    assert out["storage_size"]["label_code"] == "SP"
    table = CliRunner().invoke(main, ["fit", "--all", "--method", "reml", "--missing-vi", "drop", "--quiet"])
    assert table.exit_code == 0 and "f1_score: not pooled (frequentist): no row of 'f1_score'" in table.output
