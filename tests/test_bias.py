"""metaquant.classical.bias against metafor 3.8 (tests/fixtures/metafor_bias, made by make_fixtures.R)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metaquant.classical import bias
from metaquant.errors import InputError

FIX = Path(__file__).parent / "fixtures" / "metafor_bias"
CASES = json.loads((FIX / "expected.json").read_text())
for _f in sorted(FIX.glob("selmodel_*.json")):
    CASES += json.loads(_f.read_text())
for _c in CASES:
    _c["args"] = _c["args"] or {}  # R's empty list() arrives as []
RTOL = 1e-6


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(FIX / f"{name}.csv")


def _ni(d: pd.DataFrame):
    return d["ni"].to_numpy(float) if d["ni"].notna().all() else None


def _cases(fun: str):
    out = [c for c in CASES if c["fun"] == fun]
    assert out or fun == "selmodel", fun
    return [pytest.param(c, id=f"{c['dataset']}-" + "-".join(f"{v}" for v in c["args"].values())) for c in out]


def close(actual, expected, rtol=RTOL, atol=0.0):
    if expected is None:
        assert actual is None or (isinstance(actual, float) and math.isnan(actual))
        return
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float), rtol=rtol, atol=atol)


def _as_list(x):
    return x if isinstance(x, list) else [x]


# ---- regtest ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("regtest"))
def test_regtest_matches_metafor(case):
    d, a, r = _data(case["dataset"]), case["args"], case["result"]
    call = dict(ni=_ni(d), model=a["model"], predictor=a["predictor"], method=a["method"])
    if "error" in r:
        # metafor refuses a predictor collinear with the intercept (ni constant) or absent
        with pytest.raises(InputError):
            bias.regtest(d["yi"], d["vi"], **call)
        return
    res = bias.regtest(d["yi"], d["vi"], **call)
    close(res.stat, r["zval"])
    close(res.pval, r["pval"])
    if a["model"] == "lm":
        assert res.df == r["dfs"]
    close([res.limit_estimate if res.limit_estimate is not None else r["coef"][0], res.slope], r["coef"])
    close([res.limit_se if res.limit_se is not None else r["se"][0], res.slope_se], r["se"])
    if r["est"] is not None:
        close(res.limit_estimate, r["est"])
        close([res.limit_ci_low, res.limit_ci_high], [r["ci_lb"], r["ci_ub"]])
    else:
        assert res.limit_estimate is None
    if a["model"] == "rma":
        close(res.tau2, r["tau2"], atol=1e-12)
    json.dumps(res.to_dict())
    assert {"property", "engine", "term", "estimate", "ci_low", "ci_high"} <= set(res.to_frame().columns)


def test_regtest_needs_sample_sizes():
    d = _data("hackshaw1998")
    with pytest.raises(InputError, match="sample sizes"):
        bias.regtest(d["yi"], d["vi"], predictor="ni")


# ---- ranktest ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("ranktest"))
def test_ranktest_matches_metafor(case):
    d, r = _data(case["dataset"]), case["result"]
    res = bias.ranktest(d["yi"], d["vi"])
    close(res.tau, r["tau"])
    close(res.pval, r["pval"])


# ---- fail-safe N ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("fsn"))
def test_fsn_matches_metafor(case):
    d, a, r = _data(case["dataset"]), dict(case["args"]), case["result"]
    if "error" in r:
        pytest.skip(f"metafor gives no reference: {r['error'][:60]}")
    res = bias.fsn(d["yi"], d["vi"], **a)
    assert res.fsnum == r["fsnum"]
    for ours, key in ((res.pval, "pval"), (res.meanes, "meanes"), (res.target, "target")):
        if r[key] is not None:
            close(ours, r[key])


# ---- trim and fill ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", _cases("trimfill"))
def test_trimfill_matches_metafor(case):
    d, a, r = _data(case["dataset"]), case["args"], case["result"]
    if "error" in r:
        with pytest.raises(InputError):
            bias.trimfill(d["yi"], d["vi"], estimator=a["estimator"], side=a["side"], method=a["method"])
        return
    res = bias.trimfill(d["yi"], d["vi"], estimator=a["estimator"], side=a["side"], method=a["method"])
    assert res.side == r["side"]
    assert res.k0 == r["k0"]
    close(res.se_k0, r["se_k0"])
    if r["p_k0"] is not None:
        close(res.p_k0, r["p_k0"])
    close(res.estimate, r["beta"])
    close(res.se, r["se"])
    close([res.ci_low, res.ci_high], [r["ci_lb"], r["ci_ub"]])
    close(res.tau2, r["tau2"], atol=1e-10)
    close(res.yi, _as_list(r["yi"]), atol=1e-12)
    close(res.vi, _as_list(r["vi"]))
    assert list(res.filled) == [bool(x) for x in _as_list(r["fill"])]


# ---- PET-PEESE (regtest's limit estimates and the conditional rule) ---------------------------


@pytest.mark.parametrize("model", ["lm", "rma"])
@pytest.mark.parametrize("name", ["bcg", "hackshaw1998", "egger2001", "ours_bench_perplexity"])
def test_pet_peese_uses_metafor_limits_and_the_rule(name, model):
    d = _data(name)
    res = bias.pet_peese(d["yi"], d["vi"], model=model)
    ref = {c["args"]["predictor"]: c["result"] for c in CASES if c["fun"] == "regtest" and c["dataset"] == name
           and c["args"]["model"] == model and c["args"]["method"] == "REML"}
    close(res.pet.limit_estimate, ref["sei"]["est"])
    close(res.peese.limit_estimate, ref["vi"]["est"])
    close(res.pet.limit_pval, ref["sei"]["pvals"][0])
    use_peese = ref["sei"]["pvals"][0] < 0.05  # Stanley & Doucouliagos: PEESE when PET rejects
    assert res.chosen == ("PEESE" if use_peese else "PET")
    close(res.estimate, ref["vi" if use_peese else "sei"]["est"])
    assert "alpha = 0.05" in res.rule


# ---- selection models -------------------------------------------------------------------------


def _sel_call(a):
    kw = {"type": a["type"], "alternative": a.get("alternative", "greater")}
    if a["type"] == "stepfun":
        kw["steps"] = _as_list(a["steps"])
    return kw


def _sel_params():
    # the beta model integrates numerically (a few seconds a fit): metafor's own example runs
    # always, the others under -m slow
    out = []
    for p in _cases("selmodel"):
        c = p.values[0]
        slow = c["args"]["type"] == "beta" and c["dataset"] != "hackshaw1998"
        out.append(pytest.param(c, id=p.id, marks=[pytest.mark.slow] if slow else []))
    return out


@pytest.mark.parametrize("case", _sel_params())
def test_selmodel_matches_metafor(case):
    d, a, r = _data(case["dataset"]), case["args"], case["result"]
    res = bias.selmodel(d["yi"], d["vi"], **_sel_call(a))
    if "error" in r:
        if "intervals do not contain" in r["error"]:
            assert not res.fitted
            assert "not identified" in res.notes[0]
            return
        pytest.skip(f"metafor failed: {r['error'][:60]}")
    assert res.fitted
    close(res.ll0, r["ll0"], rtol=1e-6)  # the unadjusted ML random-effects model
    assert res.LRT_df == r["LRTdf"]
    if any("refitted" in n for n in res.notes):
        # metafor stopped at a local optimum below the unadjusted model; ours is the better one
        assert res.ll > r["ll"] and res.ll >= res.ll0
        return
    if r["control"] == "default":
        # metafor converged only under its default integrate(rel.tol = 1.2e-4), whose error can
        # reach 1e-1 in the log-likelihood (huge tau², tiny variances): check that metafor's
        # estimates are no better than ours under an accurate integral
        at_r = bias.selmodel_loglik(d["yi"], d["vi"], r["beta"], r["tau2"], _as_list(r["delta"]), **_sel_call(a))
        assert res.ll >= at_r - 1e-9 * abs(at_r)
        close(res.ll, r["ll"], rtol=5e-2)
        return
    if any("at its bound" in n for n in res.notes) or res.tau2 == 0:
        # a weight at its bound (100) or tau² at 0: metafor's BFGS stops on the flat ridge before
        # it, ours gets at least as high; the estimate follows loosely
        assert res.ll >= r["ll"] - 1e-9 * abs(r["ll"])
        close(res.estimate, r["beta"], rtol=1e-3, atol=1e-6)
        return
    # the likelihood at the optimum is the sharpest check; parameters follow within the optimizers'
    # precision (metafor: BFGS on finite differences; tight control where it converged)
    close(res.ll, r["ll"], rtol=1e-8)
    close(res.LRT, r["LRT"], atol=1e-6)
    close(res.estimate, r["beta"], rtol=1e-5, atol=1e-7)
    close(res.tau2, r["tau2"], rtol=1e-4, atol=1e-7)
    close(res.delta, _as_list(r["delta"]), rtol=1e-4, atol=1e-6)
    if r["se"] is not None:
        close(res.se, r["se"], rtol=1e-4)
    if r["ptable"] is not None:
        assert [p["k"] for p in res.ptable] == _as_list(r["ptable"])
    json.dumps(res.to_dict())


def test_selmodel_flags_thin_intervals():
    d = _data("hackshaw1998")
    res = bias.selmodel(d["yi"], d["vi"], steps=[0.001, 0.025])
    assert any("fewer than" in n for n in res.notes) or not res.fitted


# ---- inputs from an effect table --------------------------------------------------------------


def test_bias_input_drops_unknown_variances_with_a_note():
    from metaquant.api import effect_table
    from metaquant.evidence.effects import for_property

    t = for_property(effect_table("ssm2025"), "accuracy")
    inp = bias.bias_input(t)
    assert inp.k == int(t["vi_known"].sum()) < len(t)
    assert any("dropped" in n for n in inp.notes)
    assert inp.nested  # S6 gives two rows: analyze() uses the multilevel forms and says so
    assert any("nested in studies" in n for n in bias.analyze(t).notes)


@pytest.mark.parametrize("name,data,prop", [
    ("ours_bench_perplexity", "benchmarks", "perplexity"),
    ("ours_llmq_throughput", "llmq", "throughput"),
    ("ours_ssm_accuracy", "ssm2025", "accuracy"),
    ("ours_ssm26_storage", "ssm2026", "storage_size"),
    ("ours_ssm26_latency", "ssm2026", "inference_latency"),
    ("ours_ssm26_accuracy", "ssm2026", "accuracy"),
])
def test_shipped_data_are_the_fixture_inputs(name, data, prop):
    from metaquant.api import effect_table
    from metaquant.evidence.effects import for_property

    inp = bias.bias_input(for_property(effect_table(data), prop))
    d = _data(name)
    close(inp.yi, d["yi"], rtol=1e-12)
    close(inp.vi, d["vi"], rtol=1e-12)


def test_selmodel_refuses_empty_intervals_in_words():
    d = _data("ours_bench_throughput")
    res = bias.selmodel(d["yi"], d["vi"], steps=[0.025, 0.5])
    assert not res.fitted
    assert "not identified" in res.notes[0]
    assert res.to_frame()["note"].iloc[0].startswith("not identified here: no observed p-value")


# ---- funnel plots (matplotlib artists) --------------------------------------------------------


def test_funnel_plot_contours_points_and_clusters():
    from matplotlib.collections import PathCollection, PolyCollection

    from metaquant.present.bias_plots import funnel_plot

    d = _data("bcg")
    fig = funnel_plot(d["yi"], d["vi"], estimate=-0.7145)
    ax = fig.axes[0]
    pts = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(pts) == 1 and len(pts[0].get_offsets()) == 13
    np.testing.assert_allclose(pts[0].get_offsets()[:, 1], np.sqrt(d["vi"]))
    shades = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(shades) == 6  # three significance regions on each side of 0
    labels = ax.get_legend_handles_labels()[1]
    assert labels[:3] == ["0.05 < p < 0.1", "0.01 < p < 0.05", "p < 0.01"]
    assert ax.get_ylim()[0] > ax.get_ylim()[1] == 0  # standard error grows downwards
    # the edge of the 5 % region at SE = s lies at 1.96 s
    path = shades[2].get_paths()[0].vertices
    se_max = ax.get_ylim()[0]
    at = path[np.isclose(path[:, 1], se_max)]
    assert np.isclose(np.abs(at[:, 0]).min(), 1.959964 * se_max, rtol=1e-4)

    # several rows per study: one colour per study, with a legend entry each
    study = ["A"] * 5 + ["B"] * 4 + ["C"] * 4
    fig = funnel_plot(d["yi"], d["vi"], study=study, contours=())
    ax = fig.axes[0]
    pts = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [len(c.get_offsets()) for c in pts] == [5, 4, 4]
    assert len({tuple(c.get_facecolor()[0]) for c in pts}) == 3
    assert [t.get_text() for t in ax.get_legend().get_texts()][-3:] == ["study A", "study B", "study C"]


def test_trimfill_funnel_shows_the_filled_studies_open():
    from matplotlib.collections import PathCollection

    from metaquant.present.bias_plots import trimfill_funnel

    d = _data("bcg")
    tf = bias.trimfill(d["yi"], d["vi"], method="FE")
    fig = trimfill_funnel(tf)
    ax = fig.axes[0]
    pts = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert [len(c.get_offsets()) for c in pts] == [13, tf.k0]
    np.testing.assert_allclose(pts[1].get_offsets()[:, 0], tf.yi[tf.filled])
    assert tuple(pts[1].get_facecolor()[0]) == (1.0, 1.0, 1.0, 1.0)  # open circles
    xs = {round(line.get_xdata()[0], 10) for line in ax.lines if len(set(line.get_xdata())) == 1}
    assert round(tf.estimate, 10) in xs and round(tf.estimate_unadjusted, 10) in xs
    assert f"{tf.k0} studies filled" in ax.get_title()


# ---- analyze() and the command line -----------------------------------------------------------


def test_analyze_runs_what_it_can_and_says_why_not():
    d = _data("hahn2001")
    t = pd.DataFrame({"study": d["study"].astype(str), "property": "accuracy", "yi": d["yi"], "vi": d["vi"],
                      "vi_known": True, "n_units": np.nan})
    rep = bias.analyze(t, steps=(0.025,))
    assert {"regtest", "ranktest", "trimfill", "pet_peese", "fsn_rosenthal"} <= set(rep.results)
    close(rep.results["regtest"].stat, next(c["result"]["zval"] for c in CASES if c["dataset"] == "hahn2001"
                                            and c["fun"] == "regtest" and c["args"]["predictor"] == "sei"
                                            and c["args"]["model"] == "rma" and c["args"]["method"] == "REML"))
    frame = rep.to_frame()
    assert list(frame.columns[:6]) == ["property", "engine", "analysis", "term", "estimate", "ci_low"]
    json.dumps(rep.to_dict())


def test_cli_bias_prints_assumptions_and_json():
    from click.testing import CliRunner

    from metaquant.cli import main

    res = CliRunner().invoke(main, ["bias", "--data", "ssm2025", "--property", "accuracy"])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "assumes: Trim and fill: assumes that funnel asymmetry comes from the" in out
    assert "little power" in out
    assert "dropped 13 rows without a sampling variance" in out
    assert "its weight is fixed at 1" in out  # no p-value below 0.025 among the four
    res = CliRunner().invoke(main, ["bias", "--data", "ssm2025", "--property", "accuracy", "--format", "json"])
    d = json.loads(res.output)
    assert d["k"] == 4 and "regtest" in d["results"]
    assert d["results"]["trimfill"]["assumptions"]


def test_cli_bias_bad_steps_is_one_line():
    from click.testing import CliRunner

    from metaquant.cli import main

    res = CliRunner().invoke(main, ["bias", "--property", "accuracy", "--steps", "0.5,x"])
    assert res.exit_code == 2
    assert "Invalid value for '--steps': 'x' is not a finite number in (0, 1]" in res.output
