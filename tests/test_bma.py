"""The bias-adjusted model-averaged ensemble (metaquant.bayes.bma) and bridge sampling.

References: closed-form and scipy-quadrature marginal likelihoods (independent of the
package's grids), brute-force integration of the selection-model normaliser, and the
RoBMA results printed for Bem (2011) in the RoBMA README (version 2.0, RoBMA-PSMA) and in
its vignette "Fitting custom meta-analytic ensembles".
"""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

from metaquant import scale
from metaquant.bayes import bma
from metaquant.bayes.bridge import bridge_sampler
from metaquant.errors import InputError

M = bma.Member
W = bma.WeightFunction

# Bem (2011) as printed in the RoBMA README (data("Bem2011", package = "RoBMA"))
BEM_D = np.array([0.25, 0.20, 0.26, 0.23, 0.22, 0.15, 0.09, 0.19, 0.42])
BEM_SE = np.array([0.10155048, 0.08246211, 0.10323629, 0.10182427, 0.10120277, 0.08210765, 0.07085372,
                   0.10089846, 0.14752627])
ROBMA = bma.BMAPriors.robma()


def known_rows(rows):
    """The rows with a known sampling variance (what the road's ``drop`` policy pools)."""
    return rows[rows["vi_known"].astype(bool)].reset_index(drop=True)


def _mvn_logml(y, se, tau, m0, s0, shift=0.0):
    """log N(y - shift; m0 1, diag(se^2 + tau^2) + s0^2 11') (mu integrated out; s0 = 0: mu fixed at m0)."""
    k = len(y)
    cov = np.diag(se**2 + tau**2) + s0**2 * np.ones((k, k))
    return stats.multivariate_normal.logpdf(y - shift, np.full(k, m0), cov)


def _hc(b, s):
    return 2.0 / (math.pi * s * (1 + (b / s) ** 2))


# -- bridge sampling -------------------------------------------------------


def test_bridge_sampler_recovers_known_normalising_constants():
    rng = np.random.default_rng(3)
    # a correlated 2-D normal times a constant
    cov = np.array([[1.0, 0.8], [0.8, 2.0]])
    draws = rng.multivariate_normal([1.0, -2.0], cov, size=(2, 2000))
    logc = 3.7
    res = bridge_sampler(draws, lambda t: logc + stats.multivariate_normal.logpdf(t, [1.0, -2.0], cov), seed=1)
    assert res.converged and res.re < 0.02
    assert abs(res.log_ml - logc) < 4 * res.re
    # a skewed 1-D target: log of a Gamma(2.5) variable, unnormalised
    a = 2.5
    x = np.log(rng.gamma(a, size=(2, 3000)))[..., None]
    res = bridge_sampler(x, lambda t: a * t[:, 0] - np.exp(t[:, 0]), seed=2)  # integral = Gamma(a)
    assert abs(res.log_ml - special.gammaln(a)) < 4 * res.re + 1e-3
    with pytest.raises(ValueError):
        bridge_sampler(np.zeros((2, 3)), lambda t: t[:, 0])


# -- quadrature against independent references -------------------------------


def test_quadrature_fixed_effect_is_the_closed_form():
    pri = bma.BMAPriors(0.1, 0.7)
    got = bma.quadrature_log_ml(M(True, False), BEM_D, BEM_SE, pri)
    assert got == pytest.approx(_mvn_logml(BEM_D, BEM_SE, 0.0, 0.1, 0.7), abs=1e-9)
    got0 = bma.quadrature_log_ml(M(False, False), BEM_D, BEM_SE, pri)
    assert got0 == pytest.approx(stats.norm.logpdf(BEM_D, 0, BEM_SE).sum(), abs=1e-9)


def test_quadrature_truncated_effect_prior_against_scipy_quad():
    pri = bma.BMAPriors(0.15, 0.10, 0.0)
    ref = integrate.quad(lambda mu: np.exp(stats.norm.logpdf(BEM_D, mu, BEM_SE).sum() + 9.0)
                         * stats.norm.pdf(mu, 0.15, 0.10) / stats.norm.sf(0, 0.15, 0.10), 0, 2, epsabs=0,
                         epsrel=1e-12, points=[0.2])[0]
    assert bma.quadrature_log_ml(M(True, False), BEM_D, BEM_SE, pri) == pytest.approx(math.log(ref) - 9.0, abs=1e-7)


@pytest.mark.parametrize("tau_prior", [bma.TauPrior("halfnormal", 0.5), bma.TauPrior("invgamma", 0.15, 1.0)])
def test_quadrature_random_effects_against_scipy_quad(tau_prior):
    pri = bma.BMAPriors(0.0, 1.0, None, tau_prior)
    off = 8.0

    def f(t):
        return np.exp(_mvn_logml(BEM_D, BEM_SE, t, 0.0, 1.0) + off + tau_prior.logpdf(t))

    ref = integrate.quad(f, 0, np.inf, epsabs=0, epsrel=1e-11, limit=400)[0]
    got = bma.quadrature_log_ml(M(True, True), BEM_D, BEM_SE, pri)
    assert got == pytest.approx(math.log(ref) - off, abs=1e-6)


def test_quadrature_pet_peese_against_scipy_quad():
    off = 10.0
    # PET with effect, fixed effect: mu closed form, b by quad
    ref = integrate.quad(lambda b: np.exp(_mvn_logml(BEM_D, BEM_SE, 0.0, 0.0, 1.0, b * BEM_SE) + off) * _hc(b, 1.0),
                         0, np.inf, epsabs=0, epsrel=1e-11, limit=400)[0]
    assert bma.quadrature_log_ml(M(True, False, "pet"), BEM_D, BEM_SE, ROBMA) == pytest.approx(
        math.log(ref) - off, abs=1e-6)
    # PEESE without effect, random effects: (b, tau) by nested quad
    tp = ROBMA.tau

    def inner(t):
        return integrate.quad(lambda b: np.exp(stats.norm.logpdf(BEM_D, b * BEM_SE**2, np.sqrt(BEM_SE**2 + t * t)).sum()
                                               + off) * _hc(b, 5.0), 0, np.inf, epsabs=0, epsrel=1e-6,
                              limit=50)[0] * np.exp(tp.logpdf(t))

    ref2 = integrate.quad(inner, 0, np.inf, epsabs=0, epsrel=1e-6, limit=50)[0]
    assert bma.quadrature_log_ml(M(False, True, "peese"), BEM_D, BEM_SE, ROBMA) == pytest.approx(
        math.log(ref2) - off, abs=1e-5)


def test_selection_likelihood_normaliser_against_integration():
    """The weighted-normal density of one estimate, its normaliser integrated by brute force."""
    y, se = np.array([0.21, -0.05, 0.02]), np.array([0.1, 0.08, 0.3])
    for wf in (W("two", (0.05,)), W("one", (0.025, 0.05)), W("one", (0.05, 0.5))):
        eta = np.random.default_rng(1).dirichlet(np.ones(wf.n_weights))
        omega = np.cumsum(eta[::-1])[::-1]
        mu, tau = 0.07, 0.12
        for i in range(len(y)):
            d = bma._Data(y[i:i + 1], se[i:i + 1], "effect", True, (2, 5, 10, 15, 20, 25), [])

            def weight(t, i=i, wf=wf, omega=omega):
                p = wf.p_values(np.array([t]), se[i:i + 1])[0]
                edges = np.concatenate([[0.0], wf.steps, [1.0]])
                return omega[min(np.searchsorted(edges, p, side="left") - 1, wf.n_weights - 1)] if p > 0 else 1.0

            s = math.hypot(se[i], tau)
            cuts = sorted(wf.cuts(se[i:i + 1])[0])
            norm = integrate.quad(lambda t, weight=weight, s=s, mu=mu: weight(t) * stats.norm.pdf(t, mu, s), -5, 5,
                                  points=cuts, epsabs=1e-13, limit=200)[0]
            ref = math.log(weight(y[i])) + stats.norm.logpdf(y[i], mu, s) - math.log(norm)
            got = bma._np_loglik(M(True, True, "selection", wf), d, np.array([mu]), np.array([tau]), None,
                                 eta[None, :])[0]
            assert got == pytest.approx(ref, abs=1e-8)


def test_selection_null_member_quadrature_against_scipy_quad():
    wf = W("one", (0.05,))
    mem = M(False, False, "selection", wf)
    d = bma._Data(BEM_D, BEM_SE, "effect", True, (2, 5, 10, 15, 20, 25), [])
    off = 0.0

    def f(w2):  # eta = (1 - w2, w2): omega = (1, w2), Dirichlet(1, 1) is uniform in w2
        return np.exp(bma._np_loglik(mem, d, np.zeros(1), np.zeros(1), None, np.array([[1 - w2, w2]]))[0] + off)

    ref = integrate.quad(f, 0, 1, epsabs=0, epsrel=1e-11, limit=200)[0]
    assert bma.quadrature_log_ml(mem, BEM_D, BEM_SE, ROBMA) == pytest.approx(math.log(ref) - off, abs=1e-6)


# -- the ensemble's bookkeeping ----------------------------------------------


def test_default_ensemble_prior_probabilities_follow_robma():
    members, prior = bma.ensemble()
    assert len(members) == 4 * 6 and prior.sum() == pytest.approx(1.0)
    _, inc = bma.inclusion_bayes_factors(members, prior, np.zeros(len(members)))
    for comp in ("effect", "heterogeneity", "bias"):
        assert inc[comp]["prior"] == pytest.approx(0.5)
        assert inc[comp]["bf"] == pytest.approx(1.0)  # equal marginal likelihoods: no evidence
    pet = [p for m, p in zip(members, prior, strict=True) if m.bias == "pet"]
    assert pet == pytest.approx([0.5 / 5 * 0.25] * 4)
    # RoBMA-PSMA: six weight functions 1/12 each and PET, PEESE 1/4 each of the bias half
    bias = ["selection:two:0.05", "selection:two:0.05,0.1", "selection:one:0.05", "selection:one:0.025,0.05",
            "selection:one:0.05,0.5", "selection:one:0.025,0.05,0.5", "pet", "peese"]
    members, prior = bma.ensemble(bias, bias_weights=[1, 1, 1, 1, 1, 1, 3, 3])
    assert len(members) == 36
    assert sum(p for m, p in zip(members, prior, strict=True) if m.bias == "peese") == pytest.approx(0.125)
    assert sum(p for m, p in zip(members, prior, strict=True) if m.bias == "selection") == pytest.approx(0.25)


def test_weight_function_geometry():
    wf = W("two", (0.05, 0.1))
    assert list(wf.interval_index()) == [0, 1, 2, 1, 0]
    c = wf.cuts(np.array([1.0]))[0]
    assert c == pytest.approx([-1.959964, -1.644854, 1.644854, 1.959964], abs=1e-6)
    one = W("one", (0.025, 0.05))
    assert list(one.interval_index()) == [2, 1, 0]
    assert one.cuts(np.array([2.0]))[0] == pytest.approx([2 * 1.644854, 2 * 1.959964], abs=1e-5)
    assert one.counts(np.array([3.0, 1.8, 0.1]), np.ones(3)) == [1, 1, 1]
    assert bma.parse_bias("selection:one:0.025,0.05") == ("selection", one)
    for bad in ("selection:one:", "egger", "selection:three:0.05"):
        with pytest.raises(InputError):
            bma.parse_bias(bad)
    with pytest.raises(InputError):
        W("one", (0.05, 0.01))


def test_bem_custom_ensemble_matches_robma_vignette():
    """The seven-model ensemble of RoBMA's vignette "Fitting custom meta-analytic ensembles".

    Every member is quadrature-tractable.  RoBMA (JAGS + bridge sampling) prints BF10 = 0.584,
    BF_rf = 0.132 and BF_pb = 3.21; exact marginal likelihoods give 0.570, 0.1306 and 3.289.
    """
    pri = bma.BMAPriors(0.15, 0.10, 0.0, bma.TauPrior("invgamma", 0.15, 1.0), 1.0, 5.0)
    members = [M(False, False), M(True, False), M(True, True), M(False, False, "selection", W("one", (0.05,))),
               M(False, False, "selection", W("one", (0.05, 0.10))), M(False, False, "pet"),
               M(False, False, "peese")]
    lm = [bma.quadrature_log_ml(m, BEM_D, BEM_SE, pri) for m in members]
    _, inc = bma.inclusion_bayes_factors(members, np.full(7, 1 / 7), lm)
    assert inc["effect"]["bf"] == pytest.approx(0.584, rel=0.05)
    assert inc["heterogeneity"]["bf"] == pytest.approx(0.132, rel=0.05)
    assert inc["bias"]["bf"] == pytest.approx(3.21, rel=0.05)


def test_prior_zone_probabilities():
    d = bma._Data(np.zeros(2), np.ones(2), "accuracy", True, (2, 5, 10, 15, 20, 25), [])
    pri = bma.BMAPriors(0.0, 0.1)
    z = bma._prior_zones(pri, d, 1.0)
    assert sum(z.values()) == pytest.approx(1.0)
    ref_if = stats.norm.cdf(math.log(1.02), 0, 0.1) - stats.norm.cdf(math.log(0.98), 0, 0.1)
    assert z["IF"] == pytest.approx(ref_if, rel=1e-12)
    z2 = bma._prior_zones(pri, d, 0.5)
    assert z2["IF"] == pytest.approx(0.5 + 0.5 * ref_if)
    assert z2["SP"] == pytest.approx(0.5 * z["SP"])
    tab = bma._zone_table(z2, z2)
    assert all(v["bf"] == pytest.approx(1.0) for v in tab.values() if 0 < v["prior"] < 1)


def test_bad_input_is_an_input_error(tab):
    from metaquant.evidence.effects import for_property

    with pytest.raises(InputError):
        bma.fit_bma(tab)  # several properties
    with pytest.raises(InputError):
        bma.fit_bma(for_property(tab, "f1_score"))  # no row with a known variance
    with pytest.raises(InputError):
        bma.fit_bma(pd.DataFrame({"yi": [0.1, 0.2], "vi": [0.01, -1.0]}))
    with pytest.raises(InputError):
        bma.fit_bma(pd.DataFrame({"yi": [0.1, 0.2], "vi": [0.01, 0.02]}), prior_model_probs={"effects": 0.5})
    with pytest.raises(InputError):
        bma.as_bma_priors({"mu_sdd": 1})
    # the rows are pooled as given: a variance imputed on the road is used, rows without one are refused
    from metaquant.errors import UsageError
    from metaquant.spec import FitSpec

    acc = for_property(tab, "accuracy")
    imp = acc.assign(vi=acc["vi"].fillna(acc["vi"].max()))  # imputed, vi_known still False
    assert bma._prepare(imp, None, "impute-max").k == 17
    assert bma._prepare(known_rows(acc), None, "drop").k == 4
    with pytest.raises(UsageError, match="13 of 17 rows of 'accuracy' have no sampling variance"):
        bma._prepare(acc, None, "drop")
    # the road applies the ensemble's policy (drop by default) once, before the engine
    from metaquant import fitting

    eng = fitting.engine_for(FitSpec("accuracy", method="bma"))
    seen = {}

    class Stub:
        predictions: list = []

    def fake_fit(rows, spec, settings):
        seen["k"] = len(rows)
        return Stub()

    real = eng.fit
    try:
        eng.fit = fake_fit
        res = fitting.fit_table(tab, FitSpec("accuracy", method="bma"))
    finally:
        eng.fit = real
    assert seen["k"] == 4 and len(res.rows) == 4 and res.spec.method == "bma"


# -- PyMC ---------------------------------------------------------------------


def test_pytensor_likelihood_equals_numpy():
    """The compiled PyMC potential and the numpy likelihood used by bridge sampling agree."""
    d = bma._Data(BEM_D, BEM_SE, "effect", True, (2, 5, 10, 15, 20, 25), [])
    mem = M(True, True, "selection", W("two", (0.05, 0.1)))
    model = bma._build_model(mem, ROBMA, d)
    import pytensor

    pot = next(p for p in model.potentials if p.name == "loglik")
    outs = model.replace_rvs_by_values([pot, model["eta"], model["mu"], model["tau"]])
    f = pytensor.function(model.value_vars, outs, on_unused_input="ignore", mode="FAST_COMPILE")
    ip = model.initial_point()
    rng = np.random.default_rng(0)
    for _ in range(3):
        vals = [ip[v.name] + rng.normal(0, 0.3, np.shape(ip[v.name])) for v in model.value_vars]
        ll, eta, mu, tau = f(*vals)
        ref = bma._np_loglik(mem, d, np.array([mu]), np.array([tau]), None, eta[None, :])[0]
        assert float(ll) == pytest.approx(ref, rel=1e-10)


def test_plain_member_bridge_sampling_against_quadrature_and_result_protocol(tab):
    from metaquant.evidence.effects import for_property
    from metaquant.results import FRAME_COLUMNS

    acc = known_rows(for_property(tab, "accuracy"))
    res = bma.fit_bma(acc, members=[M(True, True), M(False, False)], draws=1000, tune=500, chains=2, seed=5,
                      marginal_likelihood="bridge")
    plain = res.members[0]
    assert plain["log_ml_method"] == "bridge" and plain["log_ml_exact"] is not None
    assert abs(plain["log_ml"] - plain["log_ml_exact"]) < 4 * plain["log_ml_error"] + 0.01
    assert res.members[1]["log_ml"] == pytest.approx(res.members[1]["log_ml_exact"], abs=1e-9)
    assert res.k == 4  # the known rows (the drop itself is the road's: test_bad_input_is_an_input_error)
    d = res.to_dict()
    json.dumps(d)
    for key in ("label_code", "label_probability", "pct", "pct_ci_low", "pct_ci_high", "notes", "diagnostics", "ok",
                "members", "inclusion", "zones", "label_plain", "label_ensemble", "label_survives"):
        assert key in d
    for which in ("plain", "ensemble"):
        assert sum(v["posterior"] for v in d["zones"][which].values()) == pytest.approx(1.0)
        assert sum(v["prior"] for v in d["zones"][which].values()) == pytest.approx(1.0)
        assert set(d["zones"][which]) == set(scale.LABELS)
    # the ensemble's IF zone holds the effect-absent member's posterior mass
    p_absent = res.members[1]["post_prob"]
    assert d["zones"]["ensemble"]["IF"]["posterior"] >= p_absent - 1e-12
    assert isinstance(d["label_survives"], bool)
    mf = res.members_frame()
    assert list(mf["name"]) == ["mu, tau, none", "mu=0, tau=0, none"]
    assert mf["post_prob"].sum() == pytest.approx(1.0)
    fr = res.to_frame()
    assert tuple(fr.columns[:6]) == FRAME_COLUMNS
    assert (fr["engine"] == "bma").all()


# -- long runs ------------------------------------------------------------------


@pytest.mark.slow
def test_default_ensemble_bridge_sampling_against_quadrature(tab):
    """Every quadrature-tractable member of the default ensemble, bridge sampling vs quadrature."""
    from metaquant.evidence.effects import for_property

    res = bma.fit_bma(known_rows(for_property(tab, "accuracy")), draws=2000, tune=1000, seed=11,
                      marginal_likelihood="bridge")
    checked = [m for m in res.members if m["log_ml_method"] == "bridge" and m["log_ml_exact"] is not None]
    assert len(checked) >= 11
    for m in checked:
        assert abs(m["log_ml"] - m["log_ml_exact"]) < 4 * m["log_ml_error"] + 0.01, m["name"]


@pytest.mark.slow
def test_robma_psma_bem_matches_robma_readme():
    """RoBMA-PSMA (36 models) on Bem (2011); RoBMA 2.0 prints BF10 0.479, BF_rf 0.143, BF_pb 16.32,
    model-averaged mu 0.037 [-0.041, 0.213]."""
    bias = ["selection:two:0.05", "selection:two:0.05,0.1", "selection:one:0.05", "selection:one:0.025,0.05",
            "selection:one:0.05,0.5", "selection:one:0.025,0.05,0.5", "pet", "peese"]
    res = bma.fit_bma(pd.DataFrame({"yi": BEM_D, "vi": BEM_SE**2}), priors="robma", bias=bias,
                      bias_weights=[1, 1, 1, 1, 1, 1, 3, 3], draws=2000, tune=1000, seed=1)
    # measured (default mode: 35 members by quadrature or in closed form, 1 bridge-sampled, with the plain member's
    # bridge check): 0.474, 0.142, 16.63, mu 0.037 [-0.039, 0.216]
    assert res.inclusion["effect"]["bf"] == pytest.approx(0.479, rel=0.1)
    assert res.inclusion["heterogeneity"]["bf"] == pytest.approx(0.143, rel=0.1)
    assert res.inclusion["bias"]["bf"] == pytest.approx(16.32, rel=0.1)
    assert res.mu["mean"] == pytest.approx(0.037, abs=0.005)
    assert res.mu["ci_low"] == pytest.approx(-0.041, abs=0.01)
    assert res.mu["ci_high"] == pytest.approx(0.213, abs=0.01)
    assert res.ok


def test_exact_mode_draws_match_the_exact_engine(tab):
    """marginal_likelihood="exact": no MCMC for tractable members; mu draws against metaquant.bayes.fit_exact."""
    from metaquant.bayes import fit_exact
    from metaquant.evidence.effects import for_property

    acc = known_rows(for_property(tab, "accuracy"))
    res = bma.fit_bma(acc, members=[M(True, True), M(False, False), M(True, False, "pet")],
                      marginal_likelihood="exact", draws=4000, chains=2, seed=3, exact_check=False)
    assert [m["log_ml_method"] for m in res.members] == ["quadrature", "closed form", "quadrature"]
    assert res.settings["compilations"] == 0 and "bridge_check" not in res.members[0]
    ex = fit_exact(acc).to_dict()
    plain = res.members[0]
    sd = (plain["mu_ci_high"] - plain["mu_ci_low"]) / 3.92
    assert plain["mu_mean"] == pytest.approx(ex["mu_mean"], abs=4 * sd / math.sqrt(8000) + 1e-6)
    assert plain["mu_median"] == pytest.approx(ex["mu_median"], abs=6 * sd / math.sqrt(8000) + 1e-6)
    zp = {z: v["posterior"] for z, v in res.zones["plain"].items()}
    for z, p in ex["zone_probabilities"].items():
        assert zp[z] == pytest.approx(p, abs=0.02)


def test_exact_mode_is_the_default_and_checks_bridge_sampling_on_the_plain_member(tab):
    """The default: quadrature where tractable, PyMC + bridge sampling for the rest, and the plain member
    bridge-sampled as well, its gap to quadrature within 4 RE + 0.01; the same seed gives the same numbers."""
    from metaquant.evidence.effects import for_property

    acc = known_rows(for_property(tab, "accuracy"))
    # four weights: with mu and tau five free parameters, beyond the quadrature grid (four at most), so sampled;
    # without them three, by quadrature
    wf = W("one", (0.025, 0.05, 0.5))
    mem = [M(True, True), M(False, False), M(True, True, "selection", wf), M(False, False, "selection", wf)]
    kw = dict(members=mem, draws=1000, tune=500, chains=2, seed=4)
    res = bma.fit_bma(acc, **kw)
    assert [m["log_ml_method"] for m in res.members] == ["quadrature", "closed form", "bridge", "quadrature"]
    chk = res.members[0]["bridge_check"]
    assert res.members[0]["log_ml_gap"] == pytest.approx(chk["log_ml"] - res.members[0]["log_ml_exact"])
    assert abs(res.members[0]["log_ml_gap"]) < 4 * chk["log_ml_error"] + 0.01
    assert res.diagnostics["bridge_vs_exact_max"] == pytest.approx(abs(res.members[0]["log_ml_gap"]))
    assert not any("bridge-sampling check" in n for n in res.notes)
    assert json.loads(json.dumps(res.to_dict()))["members"][0]["bridge_check"]["log_ml"] == pytest.approx(chk["log_ml"])
    again = bma.fit_bma(acc, **kw)
    assert [m["log_ml"] for m in again.members] == [m["log_ml"] for m in res.members]
    assert again.mu == res.mu


# -- selection members by quadrature ------------------------------------------------------------------------------


def test_grid_integral_recovers_known_normalising_constants():
    """The Laplace-centred grid on targets with known integrals: a correlated 4-D normal, and a skewed 3-D product
    (log of a Gamma(2.5) variable, a logistic, a narrow normal) whose exponential tails need a lopsided box."""
    from metaquant.bayes import gridquad

    cov = np.array([[1.0, 0.8, 0.2, 0.0], [0.8, 2.0, 0.3, 0.1], [0.2, 0.3, 0.5, 0.0], [0.0, 0.1, 0.0, 3.0]])
    g = gridquad.integrate(lambda t: 3.7 + stats.multivariate_normal.logpdf(t, [1, -2, 0.5, 3], cov), 4)
    assert g.log_integral == pytest.approx(3.7, abs=1e-7) and g.error < 1e-4

    def skew(t):
        return (2.5 * t[:, 0] - np.exp(t[:, 0]) + t[:, 1] - 2 * np.log1p(np.exp(t[:, 1]))
                + stats.norm.logpdf(t[:, 2], 0.3, 0.01))

    g = gridquad.integrate(skew, 3)
    assert g.log_integral == pytest.approx(special.gammaln(2.5), abs=1e-6)
    x, ess = g.draws(skew, 4000, np.random.default_rng(0))
    assert ess > 2000
    assert np.exp(x[:, 0]).mean() == pytest.approx(2.5, abs=4 * math.sqrt(2.5 / 4000))  # E[Gamma(2.5)] = 2.5
    assert gridquad.integrate(skew, 3, max_nodes=1000) is None  # over budget: refused, not a coarse answer


Z95, Z975 = stats.norm.ppf(0.95), stats.norm.ppf(0.975)


def _log_invgamma(t, a=1.0, b=0.15):
    """log density of RoBMA's tau prior InvGamma(1, 0.15) (0 at t = 0)."""
    return a * math.log(b) - math.lgamma(a) - (a + 1) * math.log(t) - b / t if t > 0 else -math.inf


def _selection_loglik(y, se, mu, tau, omega2, side):
    """log f(y | mu, tau, omega = (1, omega2)) of a one-step selection model at .05, written from normal CDFs."""
    s = np.sqrt(se**2 + tau**2)
    if side == "two":  # significant: |y / se| > z_.975
        c = Z975 * se
        sig = np.abs(y) > c
        p_sig = special.ndtr((mu - c) / s) + special.ndtr((-c - mu) / s)
    else:  # one-sided, favourable: y / se > z_.95
        c = Z95 * se
        sig = y > c
        p_sig = special.ndtr((mu - c) / s)
    w = np.where(sig, 1.0, omega2)
    logpdf = -0.5 * np.log(2 * np.pi) - np.log(s) - 0.5 * ((y - mu) / s) ** 2
    return float(np.sum(np.log(w) + logpdf - np.log(p_sig + omega2 * (1 - p_sig))))


@pytest.mark.parametrize("member", [M(True, False, "selection", W("two", (0.05,))),
                                    M(False, True, "selection", W("one", (0.05,)))], ids=lambda m: m.name)
def test_selection_member_quadrature_against_scipy_dblquad(member):
    """Selection members with an effect or heterogeneity (the Laplace-centred grid) against scipy's dblquad of the
    closed-form likelihood over (mu or tau, omega_2); Dirichlet(1, 1) makes omega_2 uniform on (0, 1)."""
    off = 5.0
    side = member.weightfunction.side
    if member.effect:
        def f(w2, mu):
            return math.exp(_selection_loglik(BEM_D, BEM_SE, mu, 0.0, w2, side) + off - 0.5 * mu * mu) / math.sqrt(
                2 * math.pi)

        lo, hi = -1.0, 1.5
    else:
        def f(w2, tau):
            return math.exp(_selection_loglik(BEM_D, BEM_SE, 0.0, tau, w2, side) + off + _log_invgamma(tau))

        lo, hi = 0.0, 3.0
    ref = integrate.dblquad(f, lo, hi, 0.0, 1.0, epsabs=0, epsrel=1e-6)[0]
    assert bma.quadrature_log_ml(member, BEM_D, BEM_SE, ROBMA) == pytest.approx(math.log(ref) - off, abs=1e-4)


@pytest.mark.slow
def test_selection_member_with_effect_and_heterogeneity_against_scipy_tplquad():
    """The three-parameter member (mu, tau, omega_2) against scipy's tplquad of the closed-form likelihood."""
    off = 5.0
    member = M(True, True, "selection", W("two", (0.05,)))

    def f(w2, tau, mu):
        return math.exp(_selection_loglik(BEM_D, BEM_SE, mu, tau, w2, "two") + off + _log_invgamma(tau)
                        - 0.5 * mu * mu) / math.sqrt(2 * math.pi)

    ref = integrate.tplquad(f, -1.0, 1.5, 0.0, 2.0, 0.0, 1.0, epsabs=0, epsrel=1e-5)[0]
    assert bma.quadrature_log_ml(member, BEM_D, BEM_SE, ROBMA) == pytest.approx(math.log(ref) - off, abs=1e-4)


def test_selection_member_mu_draws_against_quadrature_moments():
    """mu draws of a selection member (sampling-importance-resampling from the grid) against the posterior mean
    of mu by scipy's dblquad of the closed-form likelihood."""
    member = M(True, False, "selection", W("two", (0.05,)))
    d = bma._Data(BEM_D, BEM_SE, "effect", True, (2, 5, 10, 15, 20, 25), [])

    def moment(power):
        return integrate.dblquad(lambda w2, mu: mu**power * math.exp(
            _selection_loglik(BEM_D, BEM_SE, mu, 0.0, w2, "two") + 5.0 - 0.5 * mu * mu),
            -1.0, 1.5, 0.0, 1.0, epsabs=0, epsrel=1e-6)[0]

    z0, z1, z2 = moment(0), moment(1), moment(2)
    mean, sd = z1 / z0, math.sqrt(z2 / z0 - (z1 / z0) ** 2)
    _, mu, err = bma._quadrature(member, d, ROBMA, n_draws=20000, rng=np.random.default_rng(2))
    assert err < 1e-4 and mu.size == 20000
    assert mu.mean() == pytest.approx(mean, abs=4 * sd / math.sqrt(20000))
    assert mu.std() == pytest.approx(sd, rel=0.03)


def test_a_member_beyond_the_grid_budget_is_sampled(tab, monkeypatch):
    """A selection member whose grid would exceed its budget falls back to PyMC + bridge sampling, and the plain
    member's bridge check then runs as well; quadrature_log_ml says so in one line."""
    from metaquant.evidence.effects import for_property

    acc = known_rows(for_property(tab, "accuracy"))
    monkeypatch.setattr(bma, "_grid_budget", lambda d: 100)
    mem = [M(True, True), M(False, False), M(True, False, "selection", W("two", (0.05,)))]
    res = bma.fit_bma(acc, members=mem, draws=300, tune=300, chains=2, seed=3)
    assert [m["log_ml_method"] for m in res.members] == ["quadrature", "closed form", "bridge"]
    assert "bridge_check" in res.members[0] and res.settings["compilations"] >= 1
    assert res.members[2]["log_ml_exact"] is None
    with pytest.raises(InputError, match="exceeds its budget"):
        bma.quadrature_log_ml(mem[2], BEM_D, BEM_SE, ROBMA)


# -- the members in parallel -----------------------------------------------------------------------------------------


def _same_fit(a, b):
    keep = ("name", "log_ml", "log_ml_method", "log_ml_error", "post_prob", "mu_mean", "mu_median", "mu_ci_low",
            "mu_ci_high", "ess_bulk_min", "divergences")
    # exactly equal (assert_equal takes NaN as equal to NaN: the quadrature members have no R-hat or ESS)
    np.testing.assert_equal([{k: m.get(k) for k in keep} for m in a.members],
                            [{k: m.get(k) for k in keep} for m in b.members])
    np.testing.assert_equal([a.mu, a.inclusion, a.zones, a.mu_draws], [b.mu, b.inclusion, b.zones, b.mu_draws])


PARALLEL_MEMBERS = [M(True, True), M(False, False), M(True, False, "selection", W("two", (0.05,))),
                    M(False, True, "pet"), M(True, True, "selection", W("one", (0.025, 0.05, 0.5)))]


def test_members_on_a_dask_cluster_give_the_sequential_numbers(tab):
    """The members sent to an in-process Dask cluster (threads; one of them sampled by PyMC) give the numbers of
    the sequential fit."""
    distributed = pytest.importorskip("distributed")
    from metaquant.evidence.effects import for_property

    acc = known_rows(for_property(tab, "accuracy"))
    kw = dict(members=PARALLEL_MEMBERS, draws=200, tune=200, chains=2, seed=9, exact_check=False)
    seq = bma.fit_bma(acc, **kw)
    assert "bridge" in [m["log_ml_method"] for m in seq.members]
    with distributed.LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster:
        par = bma.fit_bma(acc, scheduler=cluster.scheduler_address, **kw)
    _same_fit(seq, par)


def test_members_in_two_processes_give_the_sequential_numbers(tab):
    """jobs=2 (two worker processes) on the quadrature members gives the numbers of the sequential fit."""
    from metaquant.evidence.effects import for_property

    acc = known_rows(for_property(tab, "accuracy"))
    kw = dict(members=PARALLEL_MEMBERS[:4], seed=9)
    _same_fit(bma.fit_bma(acc, **kw), bma.fit_bma(acc, jobs=2, **kw))


@pytest.mark.slow
def test_sampled_members_in_two_processes_give_the_sequential_numbers(tab):
    """jobs=2 with a member sampled by PyMC in a worker process: the same numbers as in this process."""
    from metaquant.evidence.effects import for_property

    acc = known_rows(for_property(tab, "accuracy"))
    kw = dict(members=PARALLEL_MEMBERS, draws=200, tune=200, chains=2, seed=9, exact_check=False)
    _same_fit(bma.fit_bma(acc, **kw), bma.fit_bma(acc, jobs=2, **kw))
