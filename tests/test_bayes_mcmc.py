"""The PyMC engine: agreement with the exact engine, the SSM reading, diagnostics, seeds, saving.

References: the exact quadrature engine (itself checked against bayesmeta in
test_bayes_exact.py) on data it was not tuned to (Crins et al. 2014, the BCG
trials, eight schools, the shipped accuracy rows); Monte Carlo agreement is
judged with ArviZ's Monte Carlo standard error (|difference| < 4 MCSE).
"""

import json
import math
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import metaquant as mq
from metaquant import scale
from metaquant.bayes import Priors, cache_info, check, fit, fit_exact, fit_many
from metaquant.errors import ConvergenceWarning, DiagnosticsError, InputError

CRINS_YI = [-2.30970256076291, -0.459532329378441, -2.30258509299405, -1.75785791755237, -1.25846098961001,
            -2.41789593950504]
CRINS_VI = [0.359371833839919, 0.309576023391813, 0.775, 0.207816091954023, 0.412159090909091, 2.33726229765834]


def _mcse(idata, var):
    import arviz as az

    return float(az.mcse(idata.posterior[[var]])[var].values)


@pytest.fixture(scope="module")
def tab():
    return mq.compute_effects(mq.load("ssm2025"))


@pytest.fixture(scope="module")
def acc_fit(tab):
    """Default settings on the shipped accuracy rows (multilevel model, 13 rows without vi)."""
    return fit(mq.for_property(tab, "accuracy"))


@pytest.mark.filterwarnings("ignore::metaquant.errors.ConvergenceWarning")
def test_mcmc_agrees_with_exact_engine_on_crins_fast():
    t = pd.DataFrame({"yi": CRINS_YI, "vi": CRINS_VI, "study": [f"s{i}" for i in range(6)]})
    pri = Priors(mu_sd=4, tau="halfnormal:0.5")
    res = fit(t, priors=pri, draws=500, tune=500, chains=2, seed=11)
    ex = fit_exact(t, priors=pri).to_dict()
    d = res.to_dict()
    assert d["model"] == "re" and d["divergences"] == 0
    for var, key in (("mu", "mu_mean"), ("tau", "tau_mean")):
        assert abs(d[key] - ex[key]) < 4 * _mcse(res.idata, var), key
    assert abs(d["mu_sd"] - ex["mu_sd"]) < 0.1 * ex["mu_sd"]


def test_default_fit_on_shipped_accuracy_has_clean_diagnostics(acc_fit):
    d = acc_fit.to_dict()
    assert d["model"] == "multilevel" and d["k"] == 17 and d["n_studies"] == 5 and d["n_unknown_vi"] == 13
    assert d["divergences"] == 0 and d["r_hat_max"] <= 1.01 and d["ess_bulk_min"] >= 400
    assert d["ok"] is True and acc_fit.ok and check(acc_fit)
    assert d["draws"] == 1000 and d["tune"] == 1000 and d["chains"] == 4 and d["sampler"] == "pymc"


def test_no_divergences_on_a_single_row_property(tab):
    d = fit(mq.for_property(tab, "dsc")).to_dict()  # dsc: one row; the posterior of tau is its prior
    assert d["model"] == "re" and d["k"] == 1
    assert d["divergences"] == 0 and d["ok"]


def test_posterior_read_on_the_ssm_scale(acc_fit):
    d = acc_fit.to_dict()
    post = acc_fit.idata.posterior
    mu = post["mu"].values.ravel()
    pct = mq.pct_from_log(mu, True)
    np.testing.assert_allclose(post["mu_pct"].values.ravel(), pct)
    assert d["pct_mean"] == pytest.approx(pct.mean())
    assert d["pct_ci_low"] == pytest.approx(np.quantile(pct, 0.025))
    assert d["mu_ci_high"] == pytest.approx(np.quantile(mu, 0.975))
    zp = scale.zone_probabilities_from_draws(pct, (2, 5, 10, 15, 20, 25))
    assert d["zone_probabilities"] == pytest.approx(zp)
    sel = scale.label_from_zone_probabilities(zp)
    assert (d["label_code"], d["label"]) == (sel.code, sel.name)
    assert d["label_probability"] == pytest.approx(sel.belief)
    # prediction interval of a new study's effect: theta_new = mu + tau_total z
    new = acc_fit.idata.posterior_predictive["theta_new"].values.ravel()
    assert d["pi_low"] == pytest.approx(np.quantile(new, 0.025))
    assert d["pct_pi_high"] == pytest.approx(100 * math.expm1(d["pi_high"]))
    assert d["pi_low"] < d["mu_ci_low"] and d["pi_high"] > d["mu_ci_high"]
    tot = post["tau_total"].values
    np.testing.assert_allclose(tot, np.sqrt(post["tau_study"].values ** 2 + post["tau_within"].values ** 2))
    assert d["tau_mean"] == pytest.approx(tot.mean())
    # thresholds override: every edge halved changes the zones, not the posterior
    d2 = json.loads(json.dumps(d))
    assert d2 == d  # JSON-ready, no NaN


def test_inference_data_is_labelled(acc_fit, tab):
    acc = mq.for_property(tab, "accuracy")
    idata = acc_fit.idata
    assert {"posterior", "posterior_predictive", "sample_stats", "observed_data", "constant_data"} <= set(
        idata.groups())
    assert list(idata.posterior["theta"].coords["comparison"].values) == list(acc["comparison"])
    assert list(idata.posterior["u"].coords["study"].values) == sorted(acc["study"].unique())
    np.testing.assert_array_equal(idata.observed_data["y"].values, acc["yi"].to_numpy())
    np.testing.assert_array_equal(idata.constant_data["vi_known"].values, acc["vi_known"].to_numpy())
    s = acc_fit.summary()
    assert {"mu", "mu_pct", "tau_total", "tau_study", "tau_within", "sigma_resid", "theta_new"} <= set(s.index)
    assert s.loc["mu", "mean"] == pytest.approx(acc_fit.to_dict()["mu_mean"], abs=1e-3)


def test_save_writes_netcdf_and_json_atomically(acc_fit, tmp_path):
    import arviz as az

    paths = acc_fit.save(tmp_path / "fit")
    back = az.from_netcdf(paths["posterior"])
    np.testing.assert_array_equal(back.posterior["mu"].values, acc_fit.idata.posterior["mu"].values)
    d = json.loads(paths["summary"].read_text())
    assert d["label_code"] == acc_fit.to_dict()["label_code"]
    with pytest.raises(InputError, match="refusing to overwrite"):
        acc_fit.save(tmp_path / "fit")
    acc_fit.save(tmp_path / "fit", overwrite=True)
    assert sorted(p.name for p in (tmp_path / "fit").iterdir()) == ["posterior.nc", "summary.json"]


def test_same_seed_same_numbers_even_after_other_fits(tab):
    small = dict(draws=100, tune=100, chains=2, seed=123, model="re")
    t = mq.for_property(tab, "gpu_power_draw")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = fit(t, **small)
        fit(mq.for_property(tab, "gpu_utilization"), **small)  # same compiled model, other data
        b = fit(t, **small)
        c = fit(t, **{**small, "seed": 124})
    np.testing.assert_array_equal(a.idata.posterior["mu"].values, b.idata.posterior["mu"].values)
    np.testing.assert_array_equal(a.idata.posterior["theta"].values, b.idata.posterior["theta"].values)
    assert a.to_dict()["zone_probabilities"] == b.to_dict()["zone_probabilities"]
    assert not np.array_equal(a.idata.posterior["mu"].values, c.idata.posterior["mu"].values)


def test_fit_many_compiles_once_per_structure(tab):
    before = cache_info()["compiles"]
    props = ["storage_size", "inference_latency", "inference_energy_consumption"]  # all multilevel, unknown vi
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = fit_many({p: mq.for_property(tab, p) for p in props}, draws=100, tune=100, chains=2)
    assert list(res) == props
    assert cache_info()["compiles"] - before <= 1
    assert [r.to_dict()["compiled"] for r in res.values()][1:] == [False, False]
    assert res["storage_size"].to_dict()["property"] == "storage_size"


def test_failed_diagnostics_warn_and_check_raises(tab):
    t = mq.for_property(tab, "gpu_power_draw")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit(t, model="re", draws=30, tune=30, chains=2)
    msgs = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert any("bulk ESS" in m for m in msgs)
    assert len(msgs) == len(res.warnings)  # every failed check is both warned and recorded
    assert not res.ok and any("ESS" in w for w in res.warnings)
    assert res.to_dict()["ok"] is False
    with pytest.raises(DiagnosticsError) as exc:
        check(res)
    assert exc.value.exit_code == 3 and "gpu_power_draw" in str(exc.value)
    assert check(res, strict=False) is False


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::metaquant.errors.ConvergenceWarning")
def test_meta_regression_recovers_an_exact_linear_trend():
    """y = 0.2 - 0.1 (log2 bits - mean) with tiny sampling variances: the slope and intercept are pinned."""
    bits = np.array([2, 4, 8, 16, 2, 4, 8, 16.0])
    x = np.log2(bits)
    y = 0.2 - 0.1 * (x - x.mean())
    t = pd.DataFrame({"yi": y, "vi": 1e-6, "study": [f"s{i}" for i in range(8)], "bits": bits,
                      "property": "accuracy"})
    res = fit(t, moderators=["bits"], draws=500, tune=500, chains=2, seed=5)
    d = res.to_dict()
    assert d["model"] == "re" and d["moderators"] == ["bits"]
    (coef,) = d["coefficients"]
    assert coef["name"] == "log2(bits)" and coef["centre"] == pytest.approx(x.mean())
    assert coef["mean"] == pytest.approx(-0.1, abs=0.01) and coef["ci_low"] < -0.1 < coef["ci_high"]
    assert d["mu_mean"] == pytest.approx(0.2, abs=0.01)
    assert "bits = " in d["reference"]


def test_bad_settings_are_input_errors(tab):
    t = mq.for_property(tab, "dsc")
    with pytest.raises(InputError, match="unknown sampler"):
        fit(t, sampler="stan")
    with pytest.raises(InputError, match="draws"):
        fit(t, draws=0)
    with pytest.raises(InputError, match="unknown model"):
        fit(t, model="fixed")
    with pytest.raises(InputError, match="unknown moderator column"):
        fit(t, moderators=["nope"])
    with pytest.raises(InputError, match="has one level"):
        fit(mq.for_property(tab, "f1_score"), moderators=["technique"])
    with pytest.raises(InputError, match="target_accept"):
        fit(t, target_accept=1.0)
    with pytest.raises(ValueError, match="halfnormal:S"):
        fit(t, prior_tau="halfnormal")
    with pytest.raises(InputError, match="one property at a time"):
        fit(tab)


@pytest.mark.parametrize("sampler, module, extra", [("nutpie", "nutpie", "fast"), ("numpyro", "numpyro", "numpyro")])
def test_optional_samplers_name_their_extra(tab, monkeypatch, sampler, module, extra):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(ImportError, match=rf"pip install 'metaquant\[{extra}\]'"):
        fit(mq.for_property(tab, "dsc"), sampler=sampler, draws=10, tune=10, chains=1)


# ------------------------------------------------------------------ slow


@pytest.mark.slow
def test_no_divergences_on_every_shipped_property(tab):
    for prop, t in tab.groupby("property"):
        for model in ("auto", "re"):
            d = fit(t.reset_index(drop=True), model=model).to_dict()
            assert d["divergences"] == 0, (prop, model)
            assert d["r_hat_max"] <= 1.01 and d["ess_bulk_min"] >= 400, (prop, model)


def _agree(res, ex, tol=4.0):
    d = res.to_dict()
    for var, key in (("mu", "mu_mean"), ("tau", "tau_mean")):
        assert abs(d[key] - ex[key]) < tol * _mcse(res.idata, var), (key, d[key], ex[key])


@pytest.mark.slow
@pytest.mark.parametrize("parametrization", ["marginal", "noncentered"])
def test_mcmc_agrees_with_exact_on_eight_schools(parametrization):
    t = pd.DataFrame({"yi": [28, 8, -3, 7, -1, 1, 18, 12], "vi": np.square([15, 10, 16, 11, 9, 11, 10, 18])})
    pri = Priors(mu_sd=5, tau="halfcauchy:5")
    res = fit(t, priors=pri, parametrization=parametrization, draws=2000, seed=3)
    assert res.to_dict()["divergences"] == 0
    _agree(res, fit_exact(t, priors=pri).to_dict())


@pytest.mark.slow
def test_mcmc_agrees_with_exact_on_bcg():
    from pathlib import Path

    fx = json.loads((Path(__file__).parent / "fixtures" / "metafor" / "bcg.json").read_text())
    t = pd.DataFrame({"yi": fx["yi"], "vi": fx["vi"]})
    for par in ("marginal", "noncentered"):
        res = fit(t, parametrization=par, seed=8)
        _agree(res, fit_exact(t).to_dict())


@pytest.mark.slow
def test_mcmc_agrees_with_exact_on_shipped_rows_with_unknown_variances(tab):
    """Random-effects model with sigma_resid: NUTS (polar coordinates) vs the 2-D quadrature."""
    for prop in ("accuracy", "storage_size", "inference_latency"):
        t = mq.for_property(tab, prop)
        res = fit(t, model="re", seed=4)
        ex = fit_exact(t).to_dict()
        _agree(res, ex)
        d = res.to_dict()
        assert abs(d["sigma_resid_mean"] - ex["sigma_resid_mean"]) < 4 * _mcse(res.idata, "sigma_resid")


@pytest.mark.slow
def test_multilevel_model_recovers_known_parameters():
    rng = np.random.default_rng(2024)
    mu, ts, tw = 0.25, 0.30, 0.10
    rows = []
    for i in range(40):
        u = rng.normal(0, ts)
        for j in range(3):
            v = rng.uniform(0.002, 0.01)
            rows.append({"study": f"s{i}", "comparison": f"s{i}|{j}", "yi": mu + u + rng.normal(0, tw)
                         + rng.normal(0, math.sqrt(v)), "vi": v})
    res = fit(pd.DataFrame(rows), seed=1)
    d = res.to_dict()
    assert d["model"] == "multilevel" and d["ok"]
    for key, truth in (("mu", mu), ("tau_study", ts), ("tau_within", tw)):
        assert d[f"{key}_ci_low"] < truth < d[f"{key}_ci_high"], key
    assert d["mu_mean"] == pytest.approx(mu, abs=0.1)
    assert d["tau_within_mean"] == pytest.approx(tw, abs=0.05)


@pytest.mark.slow
def test_nutpie_agrees_with_pymc(tab):
    pytest.importorskip("nutpie")
    t = mq.for_property(tab, "accuracy")
    a = fit(t, sampler="nutpie", seed=2)
    b = fit(t, seed=2)
    assert a.to_dict()["divergences"] == 0
    da, db = a.to_dict(), b.to_dict()
    se = math.hypot(_mcse(a.idata, "mu"), _mcse(b.idata, "mu"))
    assert abs(da["mu_mean"] - db["mu_mean"]) < 4 * se
