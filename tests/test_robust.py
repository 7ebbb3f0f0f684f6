"""Cluster-robust inference (metaquant.classical.robust) against metafor 3.8 robust() and clubSandwich 0.5.8 CR2."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_rma_mv import CASES, FIX, FLAT, fit_case, load_case

from metaquant.classical.rma import rma
from metaquant.classical.robust import che, robust
from metaquant.errors import InputError
from metaquant.evidence.covariance import constant_rho, shared_baseline

RTOL = 1e-6


def close(a, e, what, rtol=RTOL, atol=0.0):
    np.testing.assert_allclose(
        np.atleast_1d(np.asarray(a, float)), np.atleast_1d(np.asarray(e, float)), rtol=rtol, atol=atol, err_msg=what
    )


def col(res, key):
    return [c[key] for c in res.coefficients]


@pytest.fixture(scope="module")
def fits():
    return {}


@pytest.mark.parametrize("name", CASES)
def test_cr1_and_cr2_match(name, fits):
    if name not in fits:
        fits[name] = fit_case(name, profile=False)
    fx, d, r = fits[name]
    cl = d[fx["cluster"]].to_numpy()
    rt = FLAT.get(name, RTOL)  # where metafor's optimum is less precise (see test_rma_mv.FLAT)
    se_atol = 1e-6 * float(np.min(fx["se"]))
    r1 = robust(r, cl)
    c1 = fx["cr1"]
    assert r1.type == "CR1"
    close(col(r1, "se"), c1["se"], "CR1 se", rtol=rt)
    close(r1.vcov, np.array(c1["vb"]).reshape(r.p, r.p), "CR1 vcov", atol=1e-6 * float(np.min(fx["se"])) ** 2, rtol=rt)
    close(col(r1, "stat"), c1["stat"], "CR1 t", atol=1e-7, rtol=rt)
    close(col(r1, "df"), np.broadcast_to(c1["ddf"], (r.p,)), "CR1 df", rtol=0)
    close(col(r1, "p"), c1["pval"], "CR1 p", rtol=10 * rt)
    close(col(r1, "ci_low"), c1["ci_lb"], "CR1 ci.lb", atol=se_atol, rtol=rt)
    close(col(r1, "ci_high"), c1["ci_ub"], "CR1 ci.ub", atol=se_atol, rtol=rt)
    close(r1.QM, c1["QM"], "CR1 QM", rtol=10 * rt)
    close(r1.QM_p, c1["QMp"], "CR1 QMp", rtol=10 * rt)
    r2 = robust(r, cl, clubSandwich=True)
    c2 = fx["cr2"]
    assert r2.type == "CR2"
    close(col(r2, "se"), c2["se"], "CR2 SE", rtol=rt)
    close(r2.vcov, np.array(c2["vb"]).reshape(r.p, r.p), "CR2 vcov", atol=1e-6 * float(np.min(fx["se"])) ** 2, rtol=rt)
    close(col(r2, "stat"), c2["tstat"], "CR2 t", atol=1e-7, rtol=rt)
    close(col(r2, "df"), c2["df"], "CR2 Satterthwaite df", rtol=rt)
    close(col(r2, "p"), c2["pval"], "CR2 p", rtol=10 * rt)
    close(col(r2, "ci_low"), c2["ci_lb"], "CR2 CI_L", atol=se_atol, rtol=rt)
    close(col(r2, "ci_high"), c2["ci_ub"], "CR2 CI_U", atol=se_atol, rtol=rt)
    if "wald" in c2:
        w = c2["wald"]
        assert r2.btt == list(np.atleast_1d(w["btt"]))
        close(r2.QM, w["Fstat"], "HTZ F", rtol=rt)
        assert r2.QM_df == w["df_num"]
        close(r2.QM_ddf, w["df_denom"], "HTZ df", rtol=rt)
        close(r2.QM_p, w["p_val"], "HTZ p", rtol=10 * rt)


def test_che_matches_clubsandwich():
    fx, d = load_case("assink_che")
    V = constant_rho(d["vi"], d["study"], fx["che_rho"])
    close(V, np.array(fx["V"]), "vcalc V", rtol=1e-12, atol=1e-15)
    fit, rob = che("yi", "vi", "study", es="esid", rho=fx["che_rho"], data=d)
    close(fit.sigma2, fx["sigma2"], "CHE sigma2")
    close(col(rob, "se"), fx["cr2"]["se"], "CHE CR2 SE")
    close(col(rob, "df"), fx["cr2"]["df"], "CHE CR2 df")
    assert any("rho = 0.6" in w for w in fit.warnings)
    json.dumps(rob.to_dict())
    assert list(rob.to_frame().columns[:6]) == ["property", "engine", "term", "estimate", "ci_low", "ci_high"]


def test_robust_on_rma_uni():
    uni = json.loads((FIX / "uni_extras.json").read_text())
    d = pd.read_csv(FIX / "assink2016.csv")
    for nm, mods in [("int", None), ("year", d[["year"]].to_numpy())]:
        res = rma(d["yi"], d["vi"], mods=mods, method="REML")
        ref = uni[f"robust_assink_{nm}"]
        r1 = robust(res, d["study"].to_numpy())
        close(col(r1, "se"), ref["cr1"]["se"], f"{nm} CR1 se")
        close(col(r1, "p"), ref["cr1"]["pval"], f"{nm} CR1 p", rtol=1e-5)
        close(col(r1, "ci_low"), ref["cr1"]["ci_lb"], f"{nm} CR1 ci.lb")
        r2 = robust(res, "study", data=d, clubSandwich=True)
        close(col(r2, "se"), ref["cr2"]["se"], f"{nm} CR2 se")
        close(col(r2, "df"), ref["cr2"]["df"], f"{nm} CR2 df")
        close(col(r2, "p"), ref["cr2"]["pval"], f"{nm} CR2 p", rtol=1e-5)


def test_few_clusters_warn_and_errors():
    fx, d, r = fit_case("ssm2025_accuracy", profile=False)
    few = np.where(d["study"].to_numpy() == d["study"].iloc[0], "a", "b")
    rr = robust(r, np.where(np.arange(r.k) < 5, "a", np.where(np.arange(r.k) < 10, "b", "c")))
    assert any("only 3 clusters" in w for w in rr.warnings) and not rr.ok
    with pytest.raises(InputError, match="at least two clusters"):
        robust(r, np.zeros(r.k))
    with pytest.raises(InputError, match="values but the model has"):
        robust(r, few[:3])
    with pytest.raises(InputError, match="not a column"):
        robust(r, "nope", data=d)


def test_shared_baseline():
    v = np.array([0.1, 0.2, 0.3, 0.4])
    g = np.array(["a", "a", "b", None], dtype=object)
    V = shared_baseline(v, g)
    assert V[0, 1] == pytest.approx(0.5 * np.sqrt(0.02))
    assert V[0, 2] == 0 and V[2, 3] == 0 and V[3, 3] == 0.4
    Vb = shared_baseline(v, g, baseline_var=[0.05, 0.05, 0.01, 0.02])
    assert Vb[0, 1] == 0.05 and Vb[1, 0] == 0.05 and Vb[0, 2] == 0
    np.testing.assert_allclose(np.diag(Vb), v)
    with pytest.raises(InputError, match="different baseline variances"):
        shared_baseline(v, g, baseline_var=[0.05, 0.06, 0.01, 0.02])
    with pytest.raises(InputError, match="rho must be"):
        constant_rho(v, g, 1.0)


def test_btt_single_coefficient_reduces_to_t():
    _, d, r = fit_case("assink_deltype", profile=False)
    for cs in (False, True):
        rr = robust(r, d["study"].to_numpy(), clubSandwich=cs, btt=[3])
        c = rr.coefficients[3]
        assert rr.btt == [4] and rr.QM_df == 1
        close(rr.QM, c["stat"] ** 2, "F = t²", rtol=1e-10)
        close(rr.QM_ddf, c["df"], "denominator df", rtol=1e-10)
        close(rr.QM_p, c["p"], "p", rtol=1e-10)
    with pytest.raises(InputError, match="btt"):
        robust(r, d["study"].to_numpy(), btt=[9])


def test_shared_baseline_matches_vcalc():
    fx = json.loads((FIX / "vcalc_shared_control.json").read_text())
    d = pd.DataFrame(fx["data"])
    group = d["study"].astype(str) + "|" + d["ctl"]
    V = shared_baseline(d["vi"], group, n_arm=d["n1"], n_baseline=d["n2"])
    close(V, np.array(fx["V"]), "vcalc(grp1, grp2, w1, w2)", rtol=1e-12, atol=1e-15)
    with pytest.raises(InputError, match="positive sizes"):
        shared_baseline(d["vi"], group, n_arm=d["n1"])
