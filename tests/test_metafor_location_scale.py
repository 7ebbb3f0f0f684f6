"""Location-scale meta-regression (log tau² linear in scale moderators) against metafor 3.8.

References: tests/fixtures/metafor_ls/location_scale.json, made by its make_fixtures.R from metadat's
dat.bangertdrowns2004 (scale = ~ ni, metafor's documented example) and the shipped rows that export_rows.py
writes (benchmarks and zooq accuracy, llmq accuracy at 4-bit weights).  Estimates at 1e-6 relative, SEs at
1e-5 (metafor differentiates the likelihood numerically for the SEs of the scale coefficients).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metaquant.classical import rma as rma_mod
from metaquant.classical.rma_ls import predict_ls, predict_scale, rma_ls

FIX = Path(__file__).parent / "fixtures" / "metafor_ls"
REF = json.loads((FIX / "location_scale.json").read_text())
CASES = [c for c in REF if c != "meta"]


def close(a, b, tol):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=tol, atol=1e-9)


def _term(d: pd.DataFrame, term: str) -> np.ndarray:
    """One column of a model formula of the fixtures (``~ ni``, ``~ log2(bits)``, ``~ imag + ni``)."""
    hit = term.strip()
    if hit.startswith("log2(") and hit.endswith(")"):
        return np.log2(d[hit[5:-1]].to_numpy(float))
    return d[hit].to_numpy(float)


def _design(d: pd.DataFrame, formula: str | None):
    if formula is None:
        return None, None
    terms = [t.strip() for t in formula.lstrip("~").split("+")]
    return np.column_stack([_term(d, t) for t in terms]), terms


def fit(name: str):
    c = REF[name]
    d = pd.read_csv(FIX / c["data"])
    X, xn = _design(d, c["mods"])
    Z, zn = _design(d, c["scale"])
    return rma_ls(d["yi"], d["vi"], mods=X, scale=Z, mod_names=xn, scale_names=zn, method=c["method"]), c


INTERIOR = [c for c in CASES if not REF[c].get("boundary")]


@pytest.mark.parametrize("name", INTERIOR)
def test_estimates_and_ses_match_metafor(name):
    res, c = fit(name)
    assert res.converged and res.k == c["k"] and (res.p, res.q) == (c["p"], c["q"])
    for ours, ref in ((res.coefficients, c["beta"]), (res.alpha_coefficients, c["alpha"])):
        assert [o["name"] for o in ours] == [r["name"] for r in ref]
        close([o["estimate"] for o in ours], [r["estimate"] for r in ref], 1e-6)
        close([o["ci_low"] for o in ours], [r["ci_low"] for r in ref], 1e-6)
        close([o["ci_high"] for o in ours], [r["ci_high"] for r in ref], 1e-6)
        close([o["se"] for o in ours], [r["se"] for r in ref], 1e-5)
        close([o["stat"] for o in ours], [r["stat"] for r in ref], 1e-5)
        close([o["p"] for o in ours], [r["p"] for r in ref], 1e-4)
    close(res.vcov, c["vb"], 1e-5)
    close(res.vcov_alpha, c["va"], 1e-5)
    close(res.tau2, c["tau2"], 1e-5)


@pytest.mark.parametrize("name", INTERIOR)
def test_loglik_and_tests_match_metafor(name):
    res, c = fit(name)
    close(res.logLik, c["logLik"], 1e-8)
    close([res.AIC, res.BIC, res.AICc], [c["AIC"], c["BIC"], c["AICc"]], 1e-8)
    assert res.parms == c["parms"]
    close(res.QM, c["QM"], 1e-5)
    close(res.QS, c["QS"], 1e-5)
    if c["QE"] is not None:
        close(res.QE, c["QE"], 1e-8)


def test_boundary_fit_says_so_and_matches_metafor_where_estimable():
    """zooq's rows with a known variance: the tau² of one activation bit-width heads to 0 (the scale coefficients
    run off to ±infinity), the other's is interior; beta, its SEs, logLik, that tau² and predict still match."""
    res, c = fit("zooq_accuracy_known_vi")
    assert res.converged and any("boundary" in w for w in res.warnings)
    ours, ref = np.asarray(res.tau2, dtype=float), np.asarray(c["tau2"], dtype=float)
    at0 = ref < 1e-10
    assert at0.any() and (~at0).any()
    assert np.all(ours[at0] < 1e-10)
    close(ours[~at0], ref[~at0], 1e-4)
    close([o["estimate"] for o in res.coefficients], [r["estimate"] for r in c["beta"]], 1e-6)
    close([o["se"] for o in res.coefficients], [r["se"] for r in c["beta"]], 1e-5)
    close(res.logLik, c["logLik"], 1e-8)
    # the log-likelihoods agree to 1e-12 while the interior tau² differs by 2.5e-6 (relative): a flat direction
    # whose ends both optimisers accept, so the prediction built on that tau² agrees to 1e-5
    out = predict_ls(res, c["predict"]["newmods"], c["predict"]["newscale"])
    for key in ("pred", "ci_low", "ci_high", "pi_low", "pi_high"):
        close(out[key], c["predict"][key], 1e-5)


@pytest.mark.parametrize("name", INTERIOR)
def test_predict_matches_metafor(name):
    res, c = fit(name)
    pr = c["predict"]
    if pr["newmods"] is None:  # predict(res, newscale =): the predicted log tau²
        out = predict_scale(res, pr["newscale"])
        for key in ("pred", "se", "ci_low", "ci_high"):
            close(out[key], pr[key], 1e-5)
        return
    out = predict_ls(res, pr["newmods"], pr["newscale"])
    for key in ("pred", "ci_low", "ci_high", "pi_low", "pi_high"):
        close(out[key], pr[key], 1e-6)
    close(out["se"], pr["se"], 1e-5)


def test_prediction_interval_uses_tau2_at_the_new_point():
    """The PI at a scale value is pred ± z sqrt(se² + exp(z'alpha)), not the homoscedastic tau²."""
    res, _ = fit("llmq_accuracy_bits4")
    out = predict_ls(res, [2.0, 4.0], [2.0, 4.0])
    tau2 = np.exp(res.alpha[0] + res.alpha[1] * np.array([2.0, 4.0]))
    half = 1.959963984540054 * np.sqrt(out["se"] ** 2 + tau2)
    close(out["pi_high"] - out["pred"], half, 1e-12)
    assert out["pi_high"][0] - out["pi_low"][0] > 10 * (out["pi_high"][1] - out["pi_low"][1])
    # without newscale the interval is not defined (metafor: NA), through rma.predict's dispatch too
    assert np.isnan(rma_mod.predict(res, [2.0]).pi_low).all()


def test_scale_intercept_only_is_the_homoscedastic_model():
    """scale = ~ 1 is rma(): same tau², coefficients and logLik (a check of the likelihood, against metafor's rma)."""
    d = pd.read_csv(FIX / "bangertdrowns2004.csv")
    ls = rma_ls(d["yi"], d["vi"], mods=d[["imag"]])
    uni = rma_mod.rma(d["yi"], d["vi"], mods=d[["imag"]], method="REML")
    close(ls.tau2[0], uni.tau2, 1e-7)
    close(ls.beta, uni.beta, 1e-7)
    close(ls.logLik, uni.fitstats["ll"], 1e-9)


def test_bad_input_is_refused():
    d = pd.read_csv(FIX / "bangertdrowns2004.csv")
    with pytest.raises(ValueError, match="REML or ML"):
        rma_ls(d["yi"], d["vi"], scale=d[["ni"]], method="DL")
    with pytest.raises(ValueError, match="not of full rank"):
        rma_ls(d["yi"], d["vi"], scale=np.column_stack([d["ni"], 2 * d["ni"]]))
    with pytest.raises(ValueError, match="non-negative"):
        rma_ls(d["yi"], -d["vi"], scale=d[["ni"]])


def test_shipped_rows_are_the_effect_tables():
    """The CSVs the fixtures were fitted on are still the rows metaquant's effect table gives."""
    spec = importlib.util.spec_from_file_location("export_rows", FIX / "export_rows.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for case in mod.CASES:
        now, stored = mod.rows(case), pd.read_csv(FIX / f"{case}.csv")
        assert list(now["study"]) == list(stored["study"])
        close(now[["yi", "vi", "bits"]], stored[["yi", "vi", "bits"]], 1e-12)
