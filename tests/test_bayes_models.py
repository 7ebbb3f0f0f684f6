"""The building blocks of the PyMC models, checked against dense linear algebra.

* the collapsed log-likelihood (Woodbury / determinant-lemma form) against
  scipy.stats.multivariate_normal with the full k x k covariance
  ``D + tau_study^2 Z Z' + X S0 X'``;
* the maps from unconstrained coordinates to standard deviations: the prior
  potential plus log Jacobian must integrate to one over the raw coordinates;
* the exact conditional draws of the location parameters against the dense
  Gaussian conditional mean and covariance.
"""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

pytensor = pytest.importorskip("pytensor")
pt = pytest.importorskip("pytensor.tensor")

from metaquant.bayes import Priors, prepare  # noqa: E402
from metaquant.bayes.models import Structure, conditional_draws, marginal_loglik, scales_from_raw  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*BLAS.*:UserWarning")


def _table(rng, moderators: bool, correlated: bool = False):
    k = 9
    study = ["a", "a", "a", "b", "c", "c", "d", "d", "e"]
    bits = np.array([2, 4, 8, 8, 4, 16, 8, 32, 4.0])
    vi = rng.uniform(0.002, 0.02, k)
    known = np.array([True, False, True, True, False, True, False, True, True])
    if correlated:  # study a: rows 1 and 3 share a baseline; study c: row 6 alone; study d: row 8 alone
        known = np.array([True, True, True, True, False, True, False, True, True])
    t = pd.DataFrame({"study": study, "yi": rng.normal(0.1, 0.2, k), "vi": np.where(known, vi, np.nan),
                      "vi_known": known, "bits": bits,
                      "technique": ["qat", "ptq", "qat", "ptq", "qat", "qat", "ptq", "qat", "ptq"],
                      "baseline_group": ["a1", "a1", "a1", "b1", "c1", "c1", "d1", "d2", None]})
    return t, dict(model="multilevel", moderators=["bits", "technique"] if moderators else None)


def _design(rng, moderators: bool, correlated: bool = False, **kw):
    t, opts = _table(rng, moderators, correlated)
    return prepare(t, **opts, **kw)


def _dense_V(md, sig):
    from metaquant.evidence.covariance import from_factor

    ve = np.where(md.known, md.v, sig**2)
    return from_factor(ve, md.group_idx, md.omega)


def _dense_loglik(md, m0, s0, tw, ts, sig):
    Z = np.eye(md.n_studies)[md.study_idx]
    cov = _dense_V(md, sig) + tw**2 * np.eye(md.k) + ts**2 * Z @ Z.T + md.X @ np.diag(s0**2) @ md.X.T
    return stats.multivariate_normal(md.X @ m0, cov).logpdf(md.y)


def _loglik_function(md, pri):
    from metaquant.bayes.models import loglik_inputs

    st = Structure.of(md, pri, "marginal")
    data = {k: pt.as_tensor(v) for k, v in loglik_inputs(md, pri, st).items()}
    tw_, ts_, sig_ = pt.dscalars("tw", "ts", "sig")
    ll = marginal_loglik(data, tw_, ts=ts_, sig=sig_ if st.unknown else None, intercept_only=md.p == 1)
    # the Python linker: this checks the algebra, and skips compiling C code for the test
    return pytensor.function([tw_, ts_, sig_], ll, on_unused_input="ignore",
                             mode=pytensor.compile.mode.Mode(linker="py", optimizer="fast_compile"))


@pytest.mark.parametrize("moderators", [False, True])
@pytest.mark.parametrize("cov", [{}, {"shared_baseline": True}, {"rho": 0.6}])
def test_marginal_loglik_equals_the_dense_multivariate_normal(moderators, cov):
    rng = np.random.default_rng(3)
    md = _design(rng, moderators, correlated=bool(cov), **cov)
    assert md.correlated == bool(cov)
    p = md.p
    pri = Priors(mu_mean=0.05, mu_sd=1.0, beta_sd=0.7)
    m0 = np.r_[0.05, np.zeros(p - 1)]
    s0 = np.r_[1.0, np.full(p - 1, 0.7)]
    f = _loglik_function(md, pri)
    for tw, ts, sig in [(0.1, 0.3, 0.05), (1e-4, 0.8, 0.2), (0.5, 1e-5, 0.01), (0.02, 0.02, 0.4)]:
        assert float(f(tw, ts, sig)) == pytest.approx(_dense_loglik(md, m0, s0, tw, ts, sig), rel=1e-10, abs=1e-9)


def test_marginal_loglik_with_scatter_sums_equals_the_dense_products(monkeypatch):
    """The scatter-add form used for very large tables gives the same numbers as the 0/1 products."""
    from metaquant.bayes import collapsed

    rng = np.random.default_rng(5)
    md = _design(rng, True, correlated=True, shared_baseline=True)
    pri = Priors(mu_mean=0.05, mu_sd=1.0, beta_sd=0.7)
    dense = _loglik_function(md, pri)(0.1, 0.3, 0.05)
    monkeypatch.setattr(collapsed, "DENSE_SEGMENTS", 0)
    assert Structure.of(md, pri, "marginal").segments == "index"
    assert float(_loglik_function(md, pri)(0.1, 0.3, 0.05)) == pytest.approx(float(dense), rel=1e-12)


@pytest.mark.parametrize(
    "model, unknown, fam_t, fam_w, fam_s",
    [("re", False, "halfnormal", "", ""), ("re", False, "halfcauchy", "", ""),
     ("re", True, "halfnormal", "", "halfnormal"), ("re", True, "halfcauchy", "", "halfnormal"),
     ("multilevel", False, "halfnormal", "halfcauchy", "")],
)
def test_prior_potential_with_jacobian_integrates_to_one(model, unknown, fam_t, fam_w, fam_s):
    """exp(log prior + log Jacobian) is a density on the raw coordinates, so it integrates to 1."""
    st = Structure(model=model, parametrization="marginal", unknown=unknown, tau_family=fam_t,
                   tau_within_family=fam_w, sigma_family=fam_s, moderators=False)
    scales = {"tau": 0.5, "tau_within": 0.3, "sigma_resid": 0.25}
    from metaquant.bayes.models import raw_names

    names = raw_names(st)

    def dens(*r):
        _, logp = scales_from_raw(st, dict(zip(names, r, strict=True)), scales)
        return math.exp(float(logp))

    kw = dict(epsabs=1e-10, epsrel=1e-8, limit=200)
    if len(names) == 1:
        total = integrate.quad(dens, -60, 60, **kw)[0]
    else:
        total = integrate.dblquad(lambda b, a: dens(a, b), -60, 40, -40, 40, epsabs=1e-9, epsrel=1e-7)[0]
    assert total == pytest.approx(1.0, abs=2e-6)


def test_polar_coordinates_reproduce_the_two_independent_priors():
    """The map (r_radius, r_angle) -> (tau, sigma) carries the product of two half-normal priors:
    E[tau] = a sqrt(2/pi), E[sigma] = b sqrt(2/pi), E[tau sigma] = E[tau] E[sigma], E[tau^2] = a^2."""
    st = Structure(model="re", parametrization="marginal", unknown=True, tau_family="halfnormal",
                   tau_within_family="", sigma_family="halfnormal", moderators=False)
    a, b = 0.5, 0.25
    scales = {"tau": a, "tau_within": a, "sigma_resid": b}

    def moment(fn):
        def integrand(rb, ra):
            vals, logp = scales_from_raw(st, {"hetres_radius_raw": ra, "hetres_angle_raw": rb}, scales)
            return fn(vals["tau"], vals["sigma_resid"]) * math.exp(float(logp))

        return integrate.dblquad(integrand, -60, 40, -40, 40, epsabs=1e-10, epsrel=1e-8)[0]

    c = math.sqrt(2 / math.pi)
    assert moment(lambda t, s: t) == pytest.approx(a * c, rel=1e-5)
    assert moment(lambda t, s: s) == pytest.approx(b * c, rel=1e-5)
    assert moment(lambda t, s: t * s) == pytest.approx(a * b * c * c, rel=1e-5)
    assert moment(lambda t, s: t * t) == pytest.approx(a * a, rel=1e-5)


@pytest.mark.parametrize("cov", [{}, {"shared_baseline": True}, {"rho": 0.6}])
def test_conditional_draws_match_the_dense_gaussian_conditional(cov):
    rng = np.random.default_rng(11)
    md = _design(rng, moderators=True, correlated=bool(cov), **cov)
    pri = Priors(mu_sd=1.0, beta_sd=0.7)
    st = Structure.of(md, pri, "marginal")
    S = 40_000
    sd = {"tau_study": np.full(S, 0.3), "tau_within": np.full(S, 0.1), "sigma_resid": np.full(S, 0.05)}
    cd = conditional_draws(md, pri, st, sd, np.random.default_rng(0))
    # dense joint Gaussian of (b, u, w) given y: prior precision + X'D^-1X form
    p, ns, k = md.p, md.n_studies, md.k
    Z = np.eye(ns)[md.study_idx]
    A = np.hstack([md.X, Z, np.eye(k)])
    prior_var = np.r_[1.0, np.full(p - 1, 0.7**2), np.full(ns, 0.3**2), np.full(k, 0.1**2)]
    Vi = np.linalg.inv(_dense_V(md, 0.05))
    prec = np.diag(1 / prior_var) + A.T @ Vi @ A
    cov = np.linalg.inv(prec)
    mean = cov @ (A.T @ (Vi @ md.y))
    b_mean, b_cov = mean[:p], cov[:p, :p]
    se = np.sqrt(np.diag(b_cov) / S)
    np.testing.assert_array_less(np.abs(cd["b"].mean(0) - b_mean), 5 * se)
    np.testing.assert_allclose(np.cov(cd["b"].T), b_cov, rtol=0.05, atol=1e-6)
    theta_mean = A @ mean  # theta = Xb + Zu + w
    np.testing.assert_array_less(np.abs(cd["theta"].mean(0) - theta_mean), 5 * cd["theta"].std(0) / math.sqrt(S))
    u_se = float(np.sqrt(np.diag(cov)[p:p + ns].max() / S))
    np.testing.assert_allclose(cd["u"].mean(0), mean[p:p + ns], atol=5 * u_se)
    # the joint covariance of the row effects (correlated within a shared baseline)
    theta_cov = A @ cov @ A.T
    dg = np.diag(theta_cov)
    mc_se = np.sqrt((np.outer(dg, dg) + theta_cov**2) / S)  # standard error of a sample covariance
    np.testing.assert_array_less(np.abs(np.cov(cd["theta"].T) - theta_cov), 5 * mc_se)


@pytest.mark.parametrize("cov", [{"shared_baseline": True}, {"rho": 0.4}])
def test_random_effects_loglik_with_correlated_errors_equals_the_dense_normal(cov):
    """The random-effects model (no study level) with correlated sampling errors."""
    from metaquant.bayes.models import loglik_inputs

    rng = np.random.default_rng(9)
    t, _ = _table(rng, moderators=True, correlated=True)
    md = prepare(t, model="re", moderators=["bits"], **cov)
    assert md.correlated and md.model == "re"
    pri = Priors(mu_mean=-0.02, mu_sd=0.8, beta_sd=0.5)
    st = Structure.of(md, pri, "marginal")
    data = {k: pt.as_tensor(v) for k, v in loglik_inputs(md, pri, st).items()}
    tau_, sig_ = pt.dscalars("tau", "sig")
    f = pytensor.function([tau_, sig_], marginal_loglik(data, tau_, sig=sig_), on_unused_input="ignore",
                          mode=pytensor.compile.mode.Mode(linker="py", optimizer="fast_compile"))
    m0, s0 = np.r_[-0.02, 0.0], np.r_[0.8, 0.5]
    for tau, sig in [(0.1, 0.05), (1e-5, 0.3), (0.6, 0.01)]:
        cov_ = _dense_V(md, sig) + tau**2 * np.eye(md.k) + md.X @ np.diag(s0**2) @ md.X.T
        ref = stats.multivariate_normal(md.X @ m0, cov_).logpdf(md.y)
        assert float(f(tau, sig)) == pytest.approx(ref, rel=1e-10, abs=1e-9)


def test_formula_moderators_reach_the_bayesian_design():
    """A formula (formulaic may hand back a read-only array) is centred like a column moderator."""
    rng = np.random.default_rng(2)
    t, _ = _table(rng, moderators=False)
    by_column = prepare(t, model="multilevel", moderators=["bits"])
    by_formula = prepare(t, model="multilevel", moderators=["log2(bits)"])
    np.testing.assert_allclose(by_formula.X, by_column.X, rtol=1e-12)
    assert abs(by_formula.X[:, 1].mean()) < 1e-12


def test_formula_with_an_interaction_reaches_the_bayesian_design():
    rng = np.random.default_rng(2)
    t, _ = _table(rng, moderators=False)
    md = prepare(t, model="multilevel", moderators=["log2(bits)*technique"])
    assert md.coef_names[:2] == ["log2(bits)", "technique[qat]"] and len(md.coef_names) == 3
    assert md.X.shape == (9, 4)
