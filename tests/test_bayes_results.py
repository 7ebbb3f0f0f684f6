"""The Bayesian result: protocol, median headline, decided labels, effect per moderator level, settings refused.

References: the exact engine (checked against bayesmeta in test_bayes_exact.py) for the headline
and the label; numpy quantiles of the stored posterior draws for ``predict_levels``; hand-made zone
probabilities for :func:`metaquant.scale.decide_label`.
"""

import inspect
import warnings

import numpy as np
import pytest

import metaquant as mq
from metaquant import bayes, scale
from metaquant.errors import ConvergenceWarning, InputError, UsageError
from metaquant.results import FRAME_COLUMNS, EngineResult


@pytest.fixture(scope="module")
def tab():
    return mq.compute_effects(mq.load("ssm2025"))


def _zones(**p):
    z = dict.fromkeys(scale.LABELS, 0.0)
    z.update({k.replace("_", "-"): v for k, v in p.items()})
    return z


# ------------------------------------------------------------------ decide_label


def test_decide_label_states_the_sum_over_the_zones_a_pair_spans():
    d = scale.decide_label(_zones(IF=0.30, IF_WP=0.25, WP=0.30, WP_PO=0.15))
    assert d["label_code"] == "IF-WP" and d["label_zones"] == ["IF", "IF-WP", "WP"]
    assert d["label_probability"] == pytest.approx(0.85) and d["decided"] and d["reason"] is None
    assert d["label"] == "indifferent - weakly positive"


def test_decide_label_withholds_a_label_below_the_stated_probability():
    zp = _zones(SN=0.1, SN_NE=0.1, NE=0.1, NE_WN=0.1, WN=0.1, WN_IF=0.1, IF=0.1, IF_WP=0.1, WP=0.1, WP_PO=0.1)
    d = scale.decide_label(zp)
    assert d["label_code"] is None and d["label"] == scale.NO_LABEL_TEXT == "no label: the evidence does not decide"
    assert d["label_selected"] == scale.label_from_zone_probabilities(zp).code
    assert d["label_probability"] < 0.75 and "< 0.75" in d["reason"]
    assert d["interval_zones"][0] == "SN" and d["interval_zones"][-1] == "WP-PO"
    # the stated probability is a parameter
    assert scale.decide_label(_zones(WP=0.7, PO=0.3), min_probability=0.6)["label_code"] == "WP"
    assert scale.decide_label(_zones(WP=0.7, PO=0.3))["label_code"] is None


def test_decide_label_interval_rule():
    zp = _zones(IF_WP=0.05, WP=0.90, WP_PO=0.05)  # 95 % interval IF-WP .. WP-PO: no label spans both
    assert scale.decide_label(zp)["label_code"] == "WP"
    d = scale.decide_label(zp, interval_level=0.95)
    assert d["label_code"] is None and "no single label" in d["reason"]
    assert d["interval_zones"] == ["IF-WP", "WP", "WP-PO"]
    ok = scale.decide_label(_zones(IF=0.04, IF_WP=0.06, WP=0.90), interval_level=0.95)
    assert ok["label_code"] == "WP" and ok["interval_zones"] == ["IF", "IF-WP", "WP"]
    with pytest.raises(ValueError):
        scale.decide_label(zp, min_probability=0)


# ------------------------------------------------------------------ exact engine results


def test_diffuse_posterior_gives_no_label_and_a_median_headline_with_the_sign_of_mu(tab):
    """dsc: one row.  The mean of the transformed draws is +6.6 % while mu is negative."""
    res = bayes.fit(mq.for_property(tab, "dsc"), engine="exact")
    ref = bayes.fit_exact(mq.for_property(tab, "dsc"))
    d = res.to_dict()
    assert d["mu_mean"] == ref.to_dict()["mu_mean"]  # engine="exact" is fit_exact
    assert res.engine == d["engine"] == d["method"] == "exact"
    assert d["mu_median"] < 0 and d["pct_mean"] > 0  # the old headline had the wrong sign
    assert res.pct == d["pct"] == d["pct_median"] == pytest.approx(float(mq.pct_from_log(d["mu_median"], True)))
    assert np.sign(res.pct) == np.sign(d["mu_median"]) and d["pct_headline"] == "median"
    assert d["pct_ci_low"] == pytest.approx(float(mq.pct_from_log(d["mu_ci_low"], True)))
    assert d["label_code"] is None and d["label"] == scale.NO_LABEL_TEXT
    assert d["label_probability"] == pytest.approx(sum(d["zone_probabilities"][z] for z in d["label_zones"]))
    assert d["label_probability"] < 0.75 and d["label_selected"] and d["label_reason"]
    assert sum(d["zone_probabilities"].values()) == pytest.approx(1.0)


def test_exact_result_follows_the_protocol(tab):
    res = bayes.fit_exact(mq.for_property(tab, "gpu_power_draw"))
    assert isinstance(res, EngineResult)
    assert res.property == "gpu_power_draw" and res.ok and res.predictions == []
    assert res.label_code == "IF-WP" and res.label_zones == ["IF", "IF-WP", "WP"]
    assert res.diagnostics["r_hat_max"] is None and res.diagnostics["problems"] == []
    f = res.to_frame()
    assert tuple(f.columns[:6]) == FRAME_COLUMNS
    row = f.set_index("term").loc["pct"]
    assert row["estimate"] == pytest.approx(res.pct) and row["ci_low"] == pytest.approx(res.pct_ci_low)
    assert f.set_index("term").loc["zone[IF-WP]", "estimate"] == pytest.approx(res.zone_probabilities["IF-WP"])
    with pytest.raises(InputError, match="not a moderator"):
        res.predict_levels("bits", mq.for_property(tab, "gpu_power_draw"))


def test_default_seed_is_one_for_the_package():
    from metaquant import spec

    assert bayes.DEFAULT_SEED == 20251123 == spec.DEFAULT_SEED
    assert inspect.signature(bayes.fit).parameters["seed"].default == bayes.DEFAULT_SEED


def test_unknown_choices_are_refused(tab):
    t = mq.for_property(tab, "dsc")
    for kw, match in (({"engine": "xyz"}, "unknown Bayesian engine"), ({"engine": "bayes"}, "unknown Bayesian engine"),
                      ({"sampler": "stan"}, "unknown sampler"), ({"parametrization": "centred"}, "parametrization"),
                      ({"unknown_vi": "impute"}, "unknown_vi"), ({"min_probability": 1.5}, "min_probability"),
                      ({"chains": True}, "chains")):
        with pytest.raises(InputError, match=match):
            bayes.fit(t, **kw)
    with pytest.raises(InputError, match="without moderators"):
        bayes.fit(mq.for_property(tab, "accuracy"), engine="exact", moderators=["bits"])
    with pytest.raises(InputError, match="not the multilevel"):
        bayes.fit(mq.for_property(tab, "accuracy"), engine="exact", model="multilevel")
    with pytest.raises(UsageError, match="pools the rows it is given.*'refuse' is applied on the fitting road"):
        bayes.fit(mq.for_property(tab, "accuracy"), unknown_vi="error")  # the first version's word for refuse


# ------------------------------------------------------------------ PyMC engine results


@pytest.mark.filterwarnings("ignore::metaquant.errors.ConvergenceWarning")
def test_known_variances_are_pooled_as_given_and_drop_honoured(tab):
    from metaquant.fitting import fit_table
    from metaquant.spec import FitSpec, RunSettings

    acc = mq.for_property(tab, "accuracy")
    with pytest.raises(UsageError, match="13 of 17 rows of 'accuracy' have no sampling variance"):
        bayes.fit(acc, model="re", unknown_vi="drop")  # the policy is the road's, not the engine's
    res = fit_table(acc, FitSpec("accuracy", model="random-effects", variance_policy="drop"),
                    RunSettings(draws=200, tune=200, chains=2, seed=3, force_mcmc=True))
    known = acc[acc["vi_known"]].reset_index(drop=True)
    d = res.to_dict()
    assert d["k"] == 4 and d["n_unknown_vi"] == 0 and "sigma_resid_mean" not in d
    assert "sigma_resid" not in res.idata.posterior and any("dropped 13" in n for n in res.notes)
    np.testing.assert_array_equal(res.idata.observed_data["y"].values, known["yi"].to_numpy())
    same = bayes.fit(known, model="re", draws=200, tune=200, chains=2, seed=3)  # all known: same pooling
    np.testing.assert_array_equal(same.idata.posterior["mu"].values, res.idata.posterior["mu"].values)


def test_one_chain_cannot_be_checked_so_it_is_not_ok(tab):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = bayes.fit(mq.for_property(tab, "gpu_power_draw"), model="re", draws=200, tune=200, chains=1, seed=2)
    assert not res.ok and res.to_dict()["ok"] is False
    assert any("R-hat could not be computed" in p for p in res.diagnostics["problems"])
    assert any("R-hat could not be computed" in str(w.message) for w in caught
               if issubclass(w.category, ConvergenceWarning))
    assert res.diagnostics["chains"] == 1 and isinstance(res, EngineResult)


@pytest.mark.filterwarnings("ignore::metaquant.errors.ConvergenceWarning")
def test_predict_levels_reads_the_effect_at_each_bit_width(tab):
    acc = mq.for_property(tab, "accuracy")
    res = bayes.fit(acc, moderators=["bits"], draws=200, tune=200, chains=2, seed=3)
    preds = {p["level"]: p for p in res.predictions}
    assert sorted(preds) == sorted(acc["bits"].unique()) and res.predictions == res.predict_levels("bits", acc)
    mu = res.idata.posterior["mu"].values.reshape(-1)
    beta = res.idata.posterior["beta"].values.reshape(mu.size, -1)[:, 0]
    centre = res.data.centres["log2(bits)"]
    for b, p in preds.items():
        draws = mu + beta * (np.log2(b) - centre)
        assert p["k"] == int((acc["bits"] == b).sum())
        assert p["median"] == pytest.approx(np.median(draws), rel=1e-12)
        assert p["pct"] == pytest.approx(float(mq.pct_from_log(np.median(draws), True)), rel=1e-12)
        assert p["pct_ci_high"] == pytest.approx(float(mq.pct_from_log(np.quantile(draws, 0.975), True)))
        assert p["pct_mean"] == pytest.approx(float(np.mean(mq.pct_from_log(draws, True))))
        zp = scale.zone_probabilities_from_draws(mq.pct_from_log(draws, True), res.data.thresholds)
        assert p["zone_probabilities"] == pytest.approx(zp)
        assert p["label_code"] == scale.decide_label(zp)["label_code"]
    d = res.to_dict()
    assert [p["level"] for p in d["predictions"]] == [p["level"] for p in res.predictions]
    terms = set(res.to_frame()["term"])
    assert "beta[log2(bits)]" in terms and "pct at bits = 8.0" in terms
    with pytest.raises(InputError, match="not a moderator"):
        res.predict_levels("technique", acc)


def test_multilevel_result_fields_are_declared(tab):
    import dataclasses

    names = {f.name for f in dataclasses.fields(bayes.BayesResult)}
    for n in ("engine", "mu", "effect_pct", "tau", "tau_study", "tau_within", "sigma_resid", "label_code", "label",
              "label_probability", "label_zones", "label_selected", "predictions", "notes", "diagnostics", "ok",
              "zone_probabilities", "pi_low", "pct_pi_high", "coefficients", "min_probability"):
        assert n in names, n
    assert not any(n.startswith("_") for n in names)
    ex = {f.name for f in dataclasses.fields(bayes.ExactResult)}
    assert names <= ex and {"grid", "mixture", "predictive"} <= ex
