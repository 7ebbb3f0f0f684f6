"""metaquant.classical.rma_mv.rma_mv against metafor 3.8 rma.mv.

Fixtures: tests/fixtures/metafor_mv/make_fixtures.R.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metaquant.classical.rma_mv import predict_mv, rma_mv
from metaquant.errors import InputError

FIX = Path(__file__).parent / "fixtures" / "metafor_mv"
CASES = sorted(p.stem[3:] for p in FIX.glob("mv_*.json"))
RTOL = 1e-6
# metafor's nlminb stops at a relative change of 1e-10 in the log-likelihood; in a flat direction
# of the likelihood that leaves sigma² uncertain to about sqrt(1e-10) = 1e-5 relative.  Where
# metafor's sigma² differ from ours by more than 1e-6 the tests check that our log-likelihood is
# at least metafor's (ours is the better optimum) and compare at this looser tolerance.
FLAT = {"bench_perplexity": 1e-5, "bench_all": 1e-5}
DATA = {
    "kon": "konstantopoulos2011",
    "assink": "assink2016",
    "berkey": "berkey1998",
    "ssm2025_accuracy": "ssm2025_accuracy",
    "ssm2025_energy": "ssm2025_energy",
    "bench_perplexity": "bench_perplexity",
    "bench_all": "bench_all",
}


def load_case(name: str) -> tuple[dict, pd.DataFrame]:
    fx = json.loads((FIX / f"mv_{name}.json").read_text())
    key = next(k for k in sorted(DATA, key=len, reverse=True) if name.startswith(k))
    d = pd.read_csv(FIX / f"{DATA[key]}.csv")
    d["es"] = np.arange(1, len(d) + 1)
    return fx, d


def fit_case(name: str, **kw):
    fx, d = load_case(name)
    X = np.array(fx["X"], dtype=float).reshape(fx["k"], fx["p"])
    cn = fx["colnames"] if isinstance(fx["colnames"], list) else [fx["colnames"]]
    icpt = cn[0] == "intrcpt"
    mods = X[:, 1:] if icpt else X
    V = np.array(fx["V"]) if "V" in fx else d["vi"].to_numpy()
    res = rma_mv(
        d["yi"].to_numpy(),
        V,
        random=fx["random"],
        data=d,
        mods=mods if mods.shape[1] else None,
        mod_names=cn[1:] if icpt else cn,
        intercept=icpt,
        method=fx["method"],
        test=fx["test"],
        dfs=fx["dfs"],
        **kw,
    )
    return fx, d, res


def close(actual, expected, what: str, rtol: float = RTOL, atol: float = 0.0):
    a = np.atleast_1d(np.asarray(actual, dtype=float))
    e = np.atleast_1d(np.asarray(expected, dtype=float))
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=what)


def test_fixture_provenance():
    fx, _ = load_case("kon_reml")
    assert fx["meta"]["metafor_version"].startswith("3.8")
    assert fx["meta"]["clubSandwich_version"] == "0.5.8"
    assert len(CASES) >= 15
    assert (FIX / "make_fixtures.R").exists()


@pytest.fixture(scope="module")
def fits():
    return {}


def _get(fits, name):
    if name not in fits:
        fits[name] = fit_case(name)
    return fits[name]


@pytest.mark.parametrize("name", CASES)
def test_matches_metafor(name, fits):
    fx, _, r = _get(fits, name)
    rtol = FLAT.get(name, RTOL)
    s2 = np.atleast_1d(fx["sigma2"])
    scale = float(np.sum(s2)) + r.vt
    # a component on its boundary: metafor (optimising log sigma²) stops at a tiny positive value
    atol_s2 = 1e-6 * scale
    assert r.converged
    assert r.fitstats["ll"] >= fx["ll"] - 1e-12 * abs(fx["ll"])
    close(r.fitstats["ll"], fx["ll"], "ll", rtol=1e-9)
    close(r.sigma2, s2, "sigma2", rtol=rtol, atol=atol_s2)
    # absolute tolerances on the scale of the standard errors (a bound near 0 has no relative precision)
    se_scale = 1e-6 * float(np.min(fx["se"]))
    close(r.beta, fx["beta"], "beta", rtol=rtol, atol=se_scale)
    close([c["se"] for c in r.coefficients], fx["se"], "se", rtol=rtol)
    close([c["stat"] for c in r.coefficients], fx["zval"], "zval", rtol=rtol, atol=1e-8)
    close([c["p"] for c in r.coefficients], fx["pval"], "pval", rtol=10 * rtol, atol=1e-12)
    close([c["ci_low"] for c in r.coefficients], fx["ci_lb"], "ci.lb", rtol=rtol, atol=se_scale)
    close([c["ci_high"] for c in r.coefficients], fx["ci_ub"], "ci.ub", rtol=rtol, atol=se_scale)
    if fx["test"] == "t":
        close(r.ddf, fx["ddf"], "ddf", rtol=0)
        assert r.QM_ddf == np.atleast_1d(fx["QMdf"])[1]
    close(r.s_nlevels, fx["s_nlevels"], "nlevels", rtol=0)
    close(r.QE, fx["QE"], "QE")
    close(r.QE_p, fx["QEp"], "QEp", rtol=1e-6, atol=1e-300)
    close(r.QM, fx["QM"], "QM", rtol=rtol)
    close(r.QM_p, fx["QMp"], "QMp", rtol=10 * rtol, atol=1e-300)
    assert r.QM_df == np.atleast_1d(fx["QMdf"])[0]
    assert r.btt == list(np.atleast_1d(fx["btt"]))
    for key, mine in [("dev", "deviance"), ("AIC", "AIC"), ("BIC", "BIC"), ("AICc", "AICc")]:
        close(r.fitstats[mine], fx[key], key, rtol=1e-9)
    close(r.vt, fx["vt"], "vt")
    close(r.I2, fx["I2"], "I2", rtol=rtol, atol=1e-4)
    cis = fx["vc_ci"]
    cis = [cis[k] for k in sorted(cis, key=int)] if isinstance(cis, dict) else cis
    lo = [c["ci_lb"] for c in cis]
    hi = [c["ci_ub"] for c in cis]
    close([c[0] for c in r.sigma2_ci], lo, "sigma2 ci.lb", rtol=1e-6, atol=1e-6 * scale)
    close([c[1] for c in r.sigma2_ci], hi, "sigma2 ci.ub", rtol=1e-6, atol=1e-6 * scale)
    pr = fx["pred"]
    if r.int_only:
        close([r.pi_low, r.pi_high], [pr["pi_lb"], pr["pi_ub"]], "prediction interval", rtol=rtol)
        pm = predict_mv(r)
    else:
        pm = predict_mv(r, r.X[:1, 1:] if r.intercept else r.X[:1])
    for mine, theirs in [
        ("pred", "pred"),
        ("se", "se"),
        ("ci_low", "ci_lb"),
        ("ci_high", "ci_ub"),
        ("pi_low", "pi_lb"),
        ("pi_high", "pi_ub"),
    ]:
        close(pm[mine], pr[theirs], f"predict {theirs}", rtol=rtol, atol=se_scale)


def test_boundary_is_said():
    _, _, r = fit_case("ssm2025_accuracy", profile=False)
    assert any("boundary" in w for w in r.warnings)
    assert r.diagnostics["boundary"] == ["study/es"]
    assert r.sigma2[1] == 0.0


def test_formula_forms_agree():
    _, d = load_case("kon_reml")
    a = rma_mv(d["yi"], d["vi"], random="~ 1 | district/school", data=d, profile=False)
    b = rma_mv(d["yi"], d["vi"], random=[d["district"].to_numpy(), d["school"].to_numpy()], profile=False)
    c = rma_mv("yi", "vi", random=["district", "school"], data=d, profile=False)
    assert a.sigma2_names == ["district", "district/school"]
    np.testing.assert_allclose(a.sigma2, b.sigma2, rtol=1e-12)
    np.testing.assert_allclose(a.sigma2, c.sigma2, rtol=1e-12)


def test_btt_subset_and_to_dict():
    _, _, r = fit_case("assink_deltype", profile=False)
    assert r.p == 4
    d = r.to_dict()
    json.dumps(d)
    assert d["sigma2"][0]["ci_low"] is None
    assert len(d["coefficients"]) == 4
    f = r.to_frame()
    assert list(f.columns[:6]) == ["property", "engine", "term", "estimate", "ci_low", "ci_high"]
    assert "sigma2[study]" in set(f["term"])
    assert "Multivariate Meta-Analysis Model" in str(r)
    fx, d = load_case("assink_deltype")
    X = np.array(fx["X"], dtype=float).reshape(fx["k"], fx["p"])
    one = rma_mv(d["yi"], d["vi"], random="study/esid", data=d, mods=X[:, 1:], test="t", btt=[3], profile=False)
    assert one.QM_df == 1
    assert math.isclose(one.QM, one.coefficients[3]["stat"] ** 2, rel_tol=1e-10)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"random": "nope/esid"}, "not a column"),
        ({"method": "DL"}, "unknown method"),
        ({"test": "knha"}, "unknown test"),
        ({"dfs": "between"}, "unknown dfs"),
        ({"random": []}, "no grouping factor"),
    ],
)
def test_errors(kwargs, match):
    _, d = load_case("assink_reml")
    args = {"random": "study/esid", "data": d, "profile": False}
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        rma_mv(d["yi"], d["vi"], **args)


def test_bad_v():
    _, d = load_case("assink_reml")
    V = np.diag(d["vi"].to_numpy())
    V[0, 1] = V[1, 0] = 10.0
    with pytest.raises(InputError, match="positive definite"):
        rma_mv(d["yi"], V, random="study/esid", data=d)
    with pytest.raises(InputError, match="> 0"):
        rma_mv(d["yi"], -d["vi"], random="study/esid", data=d)


def test_unstructured_multivariate_berkey():
    """random = ~ outcome | trial, struct = "UN" with known V (metafor's dat.berkey1998 example)."""
    from metaquant.classical.robust import robust

    fx = json.loads((FIX / "un_berkey.json").read_text())
    d = pd.read_csv(FIX / "berkey1998.csv")
    X = np.array(fx["X"], dtype=float).reshape(fx["k"], fx["p"])
    r = rma_mv(
        d["yi"],
        np.array(fx["V"]),
        random="~ outcome | trial",
        data=d,
        mods=X,
        mod_names=fx["colnames"],
        intercept=False,
    )
    assert r.struct == "UN" and r.tau2_names == fx["g_levels"]
    assert f"rho.1      {fx['rho']:8.4f}" in str(r)
    assert r.fitstats["ll"] >= fx["ll"] - 1e-12
    close(r.tau2, fx["tau2"], "tau2", rtol=1e-6)
    close(r.rho, fx["rho"], "rho", rtol=1e-6)
    close(r.beta, fx["beta"], "beta", rtol=1e-6)
    close([c["se"] for c in r.coefficients], fx["se"], "se", rtol=1e-6)
    close([c["ci_low"] for c in r.coefficients], fx["ci_lb"], "ci.lb", rtol=1e-6)
    close(r.QE, fx["QE"], "QE")
    close(r.QM, fx["QM"], "QM", rtol=1e-6)
    for key, mine in [("ll", "ll"), ("dev", "deviance"), ("AIC", "AIC"), ("BIC", "BIC"), ("AICc", "AICc")]:
        close(r.fitstats[mine], fx[key], key, rtol=1e-9)
    r1 = robust(r, d["trial"].to_numpy())
    close([c["se"] for c in r1.coefficients], fx["cr1"]["se"], "CR1 se", rtol=1e-5)
    r2 = robust(r, d["trial"].to_numpy(), clubSandwich=True)
    close([c["se"] for c in r2.coefficients], fx["cr2"]["se"], "CR2 se", rtol=1e-5)
    close([c["df"] for c in r2.coefficients], fx["cr2"]["df"], "CR2 df", rtol=1e-5)
    with pytest.raises(InputError, match="struct"):
        rma_mv(d["yi"], d["vi"], random="~ outcome | trial", data=d, struct="CAR")


def test_fit_table_on_shipped_rows():
    from metaquant.classical.engine import is_nested, multilevel_table

    t = pd.read_csv(FIX / "bench_perplexity.csv")
    assert is_nested(t) and not is_nested(t.drop_duplicates("study"))
    fit, rob = multilevel_table(t, robust="cr2", profile=False)
    fx, _ = load_case("bench_perplexity")
    close(fit.sigma2, fx["sigma2"], "sigma2", rtol=1e-5)
    close(rob.se, fx["cr2"]["se"], "CR2 se", rtol=1e-5)
    assert any("only 3 clusters" in w for w in rob.warnings)
    one = t[t["study"] == t["study"].iloc[0]]
    fit1, rob1 = multilevel_table(one, robust="cr2", profile=False)
    assert fit1.sigma2_names == ["comparison"] and rob1 is None
    assert any("single group" in w for w in fit1.warnings)
    assert any("too few study clusters" in w for w in fit1.warnings)
    fit2, _ = multilevel_table(t, rho=0.6, profile=False)
    assert any("rho = 0.6" in w for w in fit2.warnings)
    with pytest.raises(InputError, match="no column"):
        multilevel_table(t.drop(columns="study"))
    with pytest.raises(InputError, match="unknown robust"):
        multilevel_table(t, robust="cr3", profile=False)


PROTOCOL = (
    "engine",
    "property",
    "label_code",
    "label_probability",
    "pct",
    "pct_ci_low",
    "pct_ci_high",
    "predictions",
    "notes",
    "diagnostics",
    "ok",
)


def test_result_protocol_and_orientation():
    from metaquant.classical.engine import multilevel_table
    from metaquant.evidence.effects import pct_from_log

    t = pd.read_csv(FIX / "bench_perplexity.csv")
    mv = rma_mv(t["yi"], t["vi"], random="study/comparison", data=t, profile=False, prop="perplexity")
    for name in PROTOCOL:
        assert hasattr(mv, name), name
    assert mv.engine == "frequentist" and mv.ok and mv.property == "perplexity"
    assert math.isclose(mv.pct, 100 * math.expm1(mv.estimate))
    f = mv.to_frame()
    assert list(f.columns[:6]) == ["property", "engine", "term", "estimate", "ci_low", "ci_high"]
    d = mv.to_dict()
    json.dumps(d)
    assert d["pct"] == mv.pct
    # perplexity is lower-is-better: the % scale is 100 (1 - exp(-y)), as the other engines read it
    fit, rob = multilevel_table(t.assign(higher_is_better=False), robust="cr2", profile=False)
    assert not fit.higher_is_better
    assert math.isclose(fit.pct, pct_from_log(fit.estimate, False))
    assert math.isclose(rob.pct_ci_low, pct_from_log(rob.ci_low, False))


def test_fit_table_moderators():
    from metaquant.classical.engine import multilevel_table

    fx, d = load_case("bench_perplexity_bits")
    a, _ = multilevel_table(d, levels=("study", "model", "es"), moderators=("bits",), test="t", dfs="contain",
                            profile=False)
    b, _ = multilevel_table(
        d,
        levels=("study", "model", "es"),
        mods=d[["bits"]].to_numpy(float),
        mod_names=["bits"],
        test="t",
        dfs="contain",
        profile=False,
    )
    close(a.beta, fx["beta"], "beta", rtol=1e-6)
    close(a.ddf, fx["ddf"], "ddf", rtol=0)
    np.testing.assert_array_equal(a.beta, b.beta)
    assert a.coef_names == b.coef_names == ["intrcpt", "bits"]
    with pytest.raises(InputError, match="not both"):
        multilevel_table(d, moderators=("bits",), mods=d[["bits"]].to_numpy(float))


def test_frequentist_predict_dispatches_to_multilevel():
    from metaquant.classical.rma import predict

    fx, _, r = fit_case("kon_year", profile=False)
    p = predict(r, [[-10.0], [0.0], [5.0]])
    q = predict_mv(r, [[-10.0], [0.0], [5.0]])
    np.testing.assert_array_equal(p.pi_high, q["pi_high"].to_numpy())
    pr = fx["pred"]
    close(predict(r, r.X[:1, 1:]).pi_low, pr["pi_lb"], "pi via predict()")


def test_label_of_the_multilevel_estimate():
    from metaquant import scale
    from metaquant.classical.engine import multilevel_table
    from metaquant.evidence import schema

    t = pd.read_csv(FIX / "ssm2025_accuracy.csv")
    fit, _ = multilevel_table(t, profile=False)
    th = schema.get_property("accuracy").thresholds
    assert fit.thresholds == tuple(th)
    assert fit.label_code == scale.label_from_pct(fit.pct, th) and fit.to_dict()["label_code"] == fit.label_code
    assert multilevel_table(t, moderators=("bits",), profile=False)[0].label_code is None
