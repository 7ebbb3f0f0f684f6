"""metaquant.workbench.sensitivity: subgroups, leave-one-out, priors, thresholds, belief splits, parallel runs.

Reference values are computed by hand with Dempster's rule from the evidence
models of the seed paper (replication package effects.json, shipped as data/ssm2025.csv) or come from the engines'
own references (``rma.rma``, the exact engine).
"""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import bayes_ready as _bayes_ready
from helpers import effects_from_rows

from metaquant import scale, ssm
from metaquant.classical import rma
from metaquant.cli import main
from metaquant.errors import InputError
from metaquant.workbench import sensitivity


def _rows(r, engine):
    return {x["scenario"]: x for x in r.rows if x["engine"] == engine}


# ---------------------------------------------------------------- leave one out


def test_loo_changes_the_gpu_energy_label_as_computed_by_hand(tab):
    # GPU energy: S5 int8 SP 0.718; S6 int4 PO-SP 0.699; S6 int8 PO 0.699.
    # Without S5: m(PO) = 0.699, m({PO,SP}) = 0.699·0.301 = 0.2104 -> Bel(PO) = 0.699 >= 0.75·0.909: PO.
    # Without S6: a single model, SP with belief 0.718.
    r = sensitivity.leave_one_out(tab, "gpu_energy_consumption", engines=["ssm", "reml"])
    s = _rows(r, "ssm")
    assert r.reference["ssm"]["label_code"] == "PO-SP"
    assert s["without S5"]["label_code"] == "PO" and s["without S5"]["support"] == pytest.approx(0.699, abs=1e-9)
    assert s["without S6"]["label_code"] == "SP" and s["without S6"]["support"] == pytest.approx(0.718, abs=1e-9)
    assert s["without S5"]["changed"] and s["without S6"]["changed"]
    assert "without S5: SSM PO-SP -> PO" in r.changes
    # REML without S5 equals rma on S6's two rows
    rm = _rows(r, "reml")["without S5"]
    t6 = tab[(tab["property"] == "gpu_energy_consumption") & (tab["study"] == "S6")]
    ref = rma.rma(t6["yi"].to_numpy(), t6["vi"].to_numpy(), method="REML")
    assert rm["pct"] == pytest.approx(100 * (1 - np.exp(-ref.estimate)), rel=1e-12)
    assert rm["label_code"] == scale.label_from_pct(rm["pct"], (2, 10, 20, 30, 40, 50))
    assert rm["changed"] == (rm["label_code"] != r.reference["reml"]["label_code"])


def test_loo_flags_nothing_when_labels_hold(tab):
    r = sensitivity.leave_one_out(tab, "storage_size", engines=["ssm"])
    assert r.reference["ssm"]["label_code"] == "SP"
    assert all(x["label_code"] == "SP" and not x["changed"] for x in r.rows)
    assert r.changes == [] and len(r.rows) == 5


def test_loo_skips_a_single_study(tab):
    r = sensitivity.leave_one_out(tab, "f1_score", engines=["ssm", "reml"])
    assert r.rows == []  # only S3: nothing left to pool without it
    assert r.reference["reml"]["estimable"] is False


def test_loo_all_three_engines_with_the_exact_engine(tmp_path):
    bayes = _bayes_ready()
    rows = [{"study": f"T{i}", "property": "accuracy", "improvement_pct": p, "improvement_sd": 3.0, "n_units": 12,
             "study_belief": 0.6} for i, p in enumerate([-1.0, -1.5, -0.5, -12.0, -1.2], 1)]
    t = effects_from_rows(rows, tmp_path)
    r = sensitivity.leave_one_out(t, "accuracy")
    assert r.settings["bayes"]["method"] == "exact"
    b = _rows(r, "bayes")
    ref = bayes.fit_exact(t[t["study"] != "T4"].reset_index(drop=True)).to_dict()
    assert b["without T4"]["pct"] == pytest.approx(ref["pct"], rel=1e-10)  # the headline: exp(median mu) - 1
    assert b["without T4"]["label_code"] == ref["label_code"]
    # T4 (-12 %) drags the pooled effect below -2 %; without it all engines say IF
    for e in ("ssm", "bayes", "reml"):
        assert _rows(r, e)["without T4"]["label_code"] == "IF"
    assert _rows(r, "reml")["without T4"]["changed"]


# ---------------------------------------------------------------- thresholds


def test_thresholds_x1_reproduces_the_unscaled_ssm_labels(tab):
    for prop, ref in zip(dict.fromkeys(tab["property"]), ssm.synthesize(tab), strict=True):
        r = sensitivity.threshold_scaling(tab, prop, factors=(0.5, 1.0, 2.0), engines=["ssm"])
        x1 = _rows(r, "ssm")["x1"]
        assert x1["label_code"] == ref.label_code and x1["support"] == pytest.approx(ref.belief, abs=1e-12)


def test_thresholds_gpu_power_draw_by_hand(tab):
    # x0.5 (1,5,10,15,20,25): S5 10.2 % -> WP-PO 0.701, S6 4.0/3.2 % -> IF-WP 0.652/0.636.
    #   m(WP) = .701·.873328, m(IF,WP) = .299·.873328 ... Bel(IF-WP) = .873328 wins.
    # x2 (4,20,40,60,80,100): S5 -> IF-WP 0.701, S6 -> IF, IF: Bel(IF) = 1 - .348·.364 = .873328 >= .75·.962.
    r = sensitivity.threshold_scaling(tab, "gpu_power_draw", engines=["ssm", "reml"])
    s = _rows(r, "ssm")
    assert s["x0.5"]["label_code"] == "IF-WP" and s["x0.5"]["support"] == pytest.approx(0.873328, abs=1e-6)
    assert s["x2"]["label_code"] == "IF" and s["x2"]["support"] == pytest.approx(0.873328, abs=1e-6)
    assert s["x2"]["changed"] and not s["x0.5"]["changed"]
    for row in _rows(r, "reml").values():
        assert row["label_code"] == scale.label_from_pct(row["pct"], row["thresholds"])
    assert [x["factor"] for x in r.rows if x["engine"] == "ssm"] == [0.5, 0.75, 1.0, 1.25, 1.5, 2.0]


def test_thresholds_bayes_reads_the_same_posterior_with_scaled_zones(tmp_path):
    bayes = _bayes_ready()
    rows = [{"study": f"T{i}", "property": "accuracy", "improvement_pct": p, "improvement_sd": 2.0, "n_units": 20,
             "study_belief": 0.6} for i, p in enumerate([-3.0, -2.5, -3.5, -2.8], 1)]
    t = effects_from_rows(rows, tmp_path)
    r = sensitivity.threshold_scaling(t, "accuracy", factors=(0.5, 1.0, 2.0))
    b = _rows(r, "bayes")
    for f in (0.5, 1.0, 2.0):
        ref = bayes.fit_exact(t, thresholds=scale.scale_thresholds((2, 5, 10, 15, 20, 25), f)).to_dict()
        assert b[f"x{f:g}"]["label_code"] == ref["label_code"]
        assert b[f"x{f:g}"]["support"] == pytest.approx(ref["label_probability"], abs=1e-9)
    # the pooled % does not move with the cut-points, and the reference is the unscaled reading
    assert len({round(x["pct"], 12) for x in b.values()}) == 1
    assert r.reference["bayes"]["label_code"] == b["x1"]["label_code"]
    assert r.reference["bayes"]["thresholds"] == [2.0, 5.0, 10.0, 15.0, 20.0, 25.0]


def test_bad_factor_is_a_clear_error(tab):
    with pytest.raises(InputError, match="positive"):
        sensitivity.threshold_scaling(tab, "accuracy", factors=(0.0, 1.0), engines=["ssm"])


# ---------------------------------------------------------------- belief splits


def test_belief_splits_on_a_hand_made_study(tmp_path):
    # one study, two single-observation models both IF with B = 0.64 (no discount):
    # none: 1 - 0.36² = 0.8704; equitable: s = 0.32 -> 1 - 0.68² = 0.5376;
    # mass-preserving: s = 1 - 0.36^(1/2) = 0.4 -> 1 - 0.6² = 0.64 = B.
    rows = [{"study": "A", "comparison": c, "property": "accuracy", "improvement_pct": 0.5, "n_units": 1,
             "study_belief": 0.64} for c in ("m1", "m2")]
    t = effects_from_rows(rows, tmp_path)
    r = sensitivity.belief_policies(t, "accuracy")
    s = _rows(r, "ssm")
    assert s["none"]["support"] == pytest.approx(0.8704, abs=1e-12)
    assert s["equitable"]["support"] == pytest.approx(0.5376, abs=1e-12)
    assert s["mass-preserving"]["support"] == pytest.approx(0.64, abs=1e-12)
    assert all(x["label_code"] == "IF" and not x["changed"] for x in r.rows)


def test_belief_splits_change_the_accuracy_label(tab):
    r = sensitivity.belief_policies(tab, "accuracy")
    s = _rows(r, "ssm")
    assert s["none"]["label_code"] == "WN" and s["none"]["support"] == pytest.approx(0.886, abs=5e-4)
    assert s["equitable"]["changed"] and s["mass-preserving"]["changed"]
    assert r.settings["models_per_study"]["S3"] == 8


# ---------------------------------------------------------------- by moderator


def test_by_bits_subgroups_and_reml_slope(tab):
    r = sensitivity.by_moderator(tab, "accuracy", "bits", engines=["ssm", "reml"])
    assert r.settings["levels"] == ["2", "4", "8", "16", "32"]
    s = _rows(r, "ssm")
    t8 = tab[(tab["property"] == "accuracy") & (tab["bits"] == 8)]
    assert s["bits=8"]["label_code"] == ssm.synthesize(t8, "accuracy").label_code
    assert s["bits=8"]["k"] == len(t8) == 7
    known = tab[(tab["property"] == "accuracy") & tab["vi_known"]].reset_index(drop=True)
    # three studies give the four rows: the classical regression nests them (rma.mv), as fit does by default
    from metaquant.classical.engine import multilevel_table

    ref, _ = multilevel_table(known, mods=np.log2(known["bits"].to_numpy())[:, None], mod_names=["log2(bits)"])
    slope = r.regression["slope"]["reml"]
    assert slope["estimate"] == pytest.approx(ref.coefficients[1]["estimate"], rel=1e-10)
    assert slope["ci_low"] == pytest.approx(ref.coefficients[1]["ci_low"], rel=1e-10)
    assert _rows(r, "reml")["bits=16"]["label_code"] is None  # no row with a variance at 16 bits


def test_by_technique_text_levels(tab):
    r = sensitivity.by_moderator(tab, "storage_size", "technique", engines=["ssm", "reml"], regression=False)
    assert set(r.settings["levels"]) == set(tab.loc[tab["property"] == "storage_size", "technique"])
    assert r.regression == {}


def test_unknown_moderator_is_refused(tab):
    with pytest.raises(InputError, match="cannot stratify"):
        sensitivity.by_moderator(tab, "accuracy", "colour")


# ---------------------------------------------------------------- parallel execution


def test_jobs_2_gives_the_same_results_as_sequential(tab):
    seq = sensitivity.leave_one_out(tab, "gpu_energy_consumption", engines=["ssm", "reml"])
    par = sensitivity.leave_one_out(tab, "gpu_energy_consumption", engines=["ssm", "reml"], jobs=2)
    assert seq.rows == par.rows


def test_dask_local_cluster(tab):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster:
        r = sensitivity.leave_one_out(tab, "gpu_energy_consumption", engines=["ssm", "reml"],
                                      scheduler=cluster.scheduler_address)
    seq = sensitivity.leave_one_out(tab, "gpu_energy_consumption", engines=["ssm", "reml"])
    assert r.rows == seq.rows
    assert r.settings["scheduler"].startswith("inproc://")


def test_missing_dask_is_one_clear_error(tab, monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(InputError, match="Dask distributed, which is not installed"):
        sensitivity.run_tasks([sensitivity.Task(("a",), "ssm", tab[tab["property"] == "dsc"])],
                              scheduler="tcp://127.0.0.1:1")


# ---------------------------------------------------------------- CLI


def test_cli_sensitivity_needs_exactly_one_analysis():
    res = CliRunner().invoke(main, ["sensitivity", "--property", "accuracy"])
    assert res.exit_code == 2 and "exactly one of" in res.output
    res = CliRunner().invoke(main, ["sensitivity", "--property", "accuracy", "--loo", "--belief"])
    assert res.exit_code == 2


def test_cli_sensitivity_belief_json():
    res = CliRunner().invoke(main, ["sensitivity", "--property", "accuracy", "--belief", "--format", "json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["kind"] == "belief" and d["property"] == "accuracy" and len(d["rows"]) == 3


def test_cli_sensitivity_priors_grid_exact():
    _bayes_ready()
    res = CliRunner().invoke(main, ["sensitivity", "--property", "dsc", "--priors", "--mu-sd", "0.5,2",
                                    "--prior-tau", "halfnormal:0.1", "--prior-tau", "halfcauchy:1",
                                    "--format", "json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["settings"]["bayes"]["method"] == "exact" and len(d["rows"]) == 4
    assert {r["tau_prior"] for r in d["rows"]} == {"halfnormal:0.1", "halfcauchy:1"}


@pytest.mark.slow
def test_cli_sensitivity_loo_pymc_slow():
    _bayes_ready()
    res = CliRunner().invoke(main, ["sensitivity", "--property", "gpu_power_draw", "--loo", "--format", "json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert {r["engine"] for r in d["rows"]} == {"ssm", "bayes", "reml"}
