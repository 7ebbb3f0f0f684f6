"""Bias-adjusted estimates the data do not identify, the multilevel forms of the bias methods, the funnel figure.

References: the multilevel Egger test, PEESE, the multilevel centre and ``aggregate()`` against metafor 3.8
(tests/fixtures/metafor_bias_mv, made by make_fixtures.R there); the centre of ``metaquant bias`` against the
estimate ``metaquant fit`` reports for the same rows; the % scale against the formulas of docs/data-format.md.
"""

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import metaquant as mq
from metaquant.classical import bias
from metaquant.cli import main
from metaquant.evidence.effects import for_property

MV = Path(__file__).parent / "fixtures" / "metafor_bias_mv"
REF = json.loads((MV / "expected.json").read_text())

#: Five INT8 accuracy studies of one's own; every |log ratio| is below 0.02.
CLEAN = """study,property,model,quant_precision,baseline_mean,baseline_sd,baseline_n,quant_mean,quant_sd,quant_n
A,accuracy,resnet50,int8,76.1,0.2,5,75.8,0.25,5
B,accuracy,mobilenetv2,int8,71.9,0.3,5,71.2,0.3,5
C,accuracy,bert-base,int8,84.5,0.4,3,84.1,0.5,3
D,accuracy,vit-b16,int8,81.1,0.2,4,80.9,0.2,4
E,accuracy,efficientnet,int8,77.7,0.3,5,76.9,0.4,5
"""


@pytest.fixture
def clean(tmp_path):
    p = tmp_path / "five.csv"
    p.write_text(CLEAN)
    return p


def _bias_json(*args):
    res = CliRunner().invoke(main, ["bias", *args, "--format", "json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


# ---- the identification rule ------------------------------------------------------------------


def test_identification_rule_far_bounds_intervals_and_failures():
    yi, vi = np.array([-0.01, -0.005, -0.002]), np.full(3, 1e-6)
    # spread = range 0.008 (1.96 median SE = 0.00196 is smaller): allowed [-0.018, 0.006]
    assert bias.effect_spread(yi, vi) == pytest.approx(0.008)
    assert bias.identification(-0.017, yi, vi, se=0.01) == (True, None)
    ok, why = bias.identification(0.0065, yi, vi, se=0.01)
    assert not ok and "far outside the observed effects" in why
    # nearly equal effects: the spread is 1.96 median standard errors
    assert bias.effect_spread([0.1, 0.1], [0.01, 0.01]) == pytest.approx(1.959964 * 0.1)
    ok, why = bias.identification(0.0, yi, vi, se=math.nan)
    assert not ok and "no standard error" in why
    ok, why = bias.identification(0.0, yi, vi, se=0.1, weights=[1.0, 100.0], weight_bounds=(0.0, 100.0))
    assert not ok and "at the bound" in why
    ok, why = bias.identification(0.0, yi, vi, se=0.1, ptable=[{"interval": "0 < p <= 0.025", "k": 3},
                                                               {"interval": "0.025 < p <= 1", "k": 9}])
    assert not ok and "fewer than 4 p-values in the interval(s) 0 < p <= 0.025: 3" in why
    ok, why = bias.identification(0.0, yi, vi, se=0.1, failed="the Hessian is not positive definite")
    assert not ok and why == "the Hessian is not positive definite"


# ---- the clean five-study file ----------------------------------------------------------------


def test_clean_five_study_file_reports_no_absurd_selection_estimate(clean):
    t = for_property(mq.effect_table(str(clean)), "accuracy")
    assert np.abs(t["yi"]).max() < 0.02
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = bias.analyze(t)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]  # no "divide by zero in log"
    beta = rep.results["selmodel_beta"]
    assert beta.fitted and abs(beta.estimate) > 0.1  # the fit runs off (metafor's optimum), far from every effect
    assert not beta.identified and "far outside the observed effects" in beta.reason
    d = _bias_json("--data", str(clean), "--property", "accuracy")
    for key in ("selmodel_beta", "selmodel_step"):
        x = d["results"][key]
        assert x["identified"] is False and x["reason"]
        assert x["estimate"] is None and x["ci_low"] is None and x["LRT_pval"] is None and x["LRT"] is None
    assert "at the bound" in d["results"]["selmodel_step"]["reason"]
    # identified estimates stay, with the % scale beside the log scale (accuracy: 100 (e^y - 1))
    eg = d["results"]["regtest"]
    assert eg["identified"] is True
    assert eg["pct_limit_estimate"] == pytest.approx(100 * math.expm1(eg["limit_estimate"]))
    res = CliRunner().invoke(main, ["bias", "--data", str(clean), "--property", "accuracy"])
    out = res.output
    assert "adjusted estimate not identified here: the estimate" in out
    assert "LRT" not in out
    assert f"limit estimate {eg['limit_estimate']:.4f}" in out and " %" in out


# ---- the README's example ---------------------------------------------------------------------


def test_benchmarks_perplexity_limits_and_selection_models_not_identified():
    d = _bias_json("--data", "benchmarks", "--property", "perplexity")
    r = d["results"]
    assert r["regtest"]["limit_estimate"] is None and r["regtest"]["identified"] is False
    assert "far outside" in r["regtest"]["reason"]
    assert r["regtest"]["pval"] < 1e-4  # the asymmetry test itself is reported
    assert r["pet_peese"]["pet"]["identified"] is False and r["pet_peese"]["peese"]["identified"] is False
    assert r["pet_peese"]["estimate"] is None and r["pet_peese"]["identified"] is False
    for key in ("selmodel_step", "selmodel_beta"):
        assert r[key]["identified"] is False and r[key]["estimate"] is None
    assert r["trimfill"]["identified"] is True
    # perplexity is lower-is-better: % = 100 (1 - e^-y)
    c = d["centre"]
    assert c["pct_estimate"] == pytest.approx(-100 * math.expm1(-c["estimate"]))
    assert r["trimfill"]["pct_estimate"] == pytest.approx(-100 * math.expm1(-r["trimfill"]["estimate"]))
    out = CliRunner().invoke(main, ["bias", "--data", "benchmarks", "--property", "perplexity"]).output
    assert "15.67" not in out.split("not identified here")[0]
    assert "PEESE not identified here" in out


# ---- the model family of the fit --------------------------------------------------------------


@pytest.mark.parametrize("name", ["assink2016", "ssm2026_accuracy"])
def test_multilevel_egger_peese_and_aggregate_match_metafor(name):
    d = pd.read_csv(MV / f"{name}.csv")
    ref = REF[name]
    eg = bias.regtest(d["yi"], d["vi"], model="rma.mv", study=d["study"])
    c0, c1 = ref["egger"]["coefficients"]
    np.testing.assert_allclose([eg.limit_estimate, eg.limit_se, eg.slope, eg.slope_se, eg.stat, eg.pval],
                               [c0["estimate"], c0["se"], c1["estimate"], c1["se"], c1["stat"], c1["p"]],
                               rtol=2e-5, atol=1e-8)
    pp = bias.pet_peese(d["yi"], d["vi"], model="rma.mv", study=d["study"])
    p0, p1 = ref["peese"]["coefficients"]
    np.testing.assert_allclose([pp.peese.limit_estimate, pp.peese.limit_se, pp.peese.slope],
                               [p0["estimate"], p0["se"], p1["estimate"]], rtol=2e-5, atol=1e-8)
    inp = bias.BiasInput(yi=d["yi"].to_numpy(float), vi=d["vi"].to_numpy(float), ni=None,
                         study=d["study"].astype(str).to_numpy())
    cen, fit = bias.centre(inp)
    np.testing.assert_allclose([cen["estimate"], cen["se"], *fit.sigma2],
                               [ref["centre"]["estimate"], ref["centre"]["se"], *ref["centre"]["sigma2"]],
                               rtol=2e-5, atol=1e-9)
    for key, s2w in (("aggregate_rho0", 0.0), ("aggregate_within", ref["centre"]["sigma2"][1])):
        ya, va, st = bias.aggregate(d["yi"], d["vi"], d["study"], sigma2_within=s2w)
        assert list(st) == [str(s) for s in ref[key]["study"]]
        np.testing.assert_allclose(ya, ref[key]["yi"], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(va, ref[key]["vi"], rtol=1e-10)


def test_bias_centre_is_the_fits_multilevel_estimate():
    t = for_property(mq.effect_table("ssm2026"), "accuracy")
    fit = mq.fit("ssm2026", "accuracy", method="reml", variance_policy="drop")
    assert fit.to_dict()["model"] == "multilevel"
    rep = bias.analyze(t)
    assert rep.dependence == "multilevel" and rep.centre["model"].startswith("multilevel")
    assert rep.centre["estimate"] == pytest.approx(fit.rma.estimate, rel=1e-6)
    assert rep.centre["estimate"] == pytest.approx(REF["ssm2026_accuracy"]["centre"]["estimate"], rel=2e-5)
    assert rep.results["regtest"].model == "rma.mv" and rep.results["pet_peese"].pet.model == "rma.mv"
    assert rep.results["trimfill"].k == t["study"][t["vi_known"].astype(bool)].nunique()  # one row per study
    assert any("assume independent studies" in n for n in rep.notes)


# ---- pictures ---------------------------------------------------------------------------------


def _axes_facts(png_fig):
    ax = png_fig.axes[0]
    return ax, ax.get_xlim(), [t.get_text() for t in ax.get_xticklabels()]


@pytest.mark.parametrize(("data", "prop"), [("benchmarks", "perplexity"), ("ssm2026", "accuracy")])
def test_funnel_has_zero_in_view_pct_ticks_and_the_legend_outside(data, prop):
    from matplotlib.collections import PathCollection

    from metaquant.present.bias_plots import bias_funnel

    t = for_property(mq.effect_table(data), prop)
    fig = bias_funnel(t)
    fig.canvas.draw() if hasattr(fig.canvas, "draw") else None
    ax, (lo, hi), labels = _axes_facts(fig)
    assert lo < 0 < hi
    assert "0 %" in labels and all(lab.endswith("%") or "×" in lab for lab in labels if lab)
    rep = bias.analyze(t)
    xs = {round(line.get_xdata()[0], 10) for line in ax.lines if len(set(line.get_xdata())) == 1}
    assert round(rep.centre["estimate"], 10) in xs  # the centre of the fit's model family
    legend = ax.get_legend()
    assert legend.get_bbox_to_anchor().x0 >= ax.get_window_extent().x1  # to the right of the data
    pts = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert sum(len(c.get_offsets()) for c in pts) == rep.k


def test_plot_funnel_and_bias_funnel_write_files(tmp_path):
    out = tmp_path / "f.png"
    res = CliRunner().invoke(main, ["plot", "funnel", "--data", "ssm2026", "--property", "accuracy", "--out",
                                    str(out), "--trimfill"])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 10_000
    out2 = tmp_path / "g.png"
    res = CliRunner().invoke(main, ["bias", "--data", "benchmarks", "--property", "perplexity", "--funnel", str(out2)])
    assert res.exit_code == 0, res.output
    assert out2.stat().st_size > 10_000
