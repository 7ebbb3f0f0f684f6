"""The exact (quadrature) engine against published posteriors and independent integrations.

References
----------
* Eight schools, rounded data (BDA3 Table 5.2; pymc-examples "Diagnosing biased
  inference with divergences"), mu ~ N(0, 5), tau ~ HalfCauchy(5): the
  posterior moments computed by an independent 400k-node quadrature
  (research notes, reference_values.json "schools_rounded_halfcauchy5_N0_5");
  Betancourt's MCMC estimate gives E[mu] ~ 4.4 and E[tau] ~ 3.6.
* Eight schools, unrounded data (bayesmeta's Rubin1981), mu ~ N(0, 50),
  tau ~ HalfCauchy(25): bayesmeta 3.4 vignette printout.
* Crins et al. 2014 (bayesmeta JSS example, Röver 2020, JSS 93(6), pp. 21-27),
  mu ~ N(0, 4), tau ~ HalfNormal(0.5).
bayesmeta approximates the mixture for mu (DIRECT algorithm, its own two
printouts differ in the 6th-7th digit), so its mu summaries are met at
rtol 1e-3 and the tau summaries at 1e-5; quantiles of mu are checked against
an adaptive scipy.integrate.quad of the mixture CDF.
"""

import math
import time

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import metaquant as mq
from metaquant import scale
from metaquant.bayes import Priors, fit_exact
from metaquant.errors import InputError, UsageError
from metaquant.fitting import fit_table
from metaquant.spec import FitSpec

SCHOOLS_Y = [28, 8, -3, 7, -1, 1, 18, 12]
SCHOOLS_SE = [15, 10, 16, 11, 9, 11, 10, 18]
SCHOOLS_Y_UNROUNDED = [28.39, 7.94, -2.75, 6.82, -0.64, 0.63, 18.01, 12.16]
SCHOOLS_SE_UNROUNDED = [14.9, 10.2, 16.3, 11.0, 9.4, 11.4, 10.4, 17.6]
CRINS_YI = [-2.30970256076291, -0.459532329378441, -2.30258509299405, -1.75785791755237, -1.25846098961001,
            -2.41789593950504]
CRINS_VI = [0.359371833839919, 0.309576023391813, 0.775, 0.207816091954023, 0.412159090909091, 2.33726229765834]


def table(y, v, **cols):
    return pd.DataFrame({"yi": y, "vi": v, **cols})


@pytest.fixture(scope="module")
def schools():
    return fit_exact(table(SCHOOLS_Y, np.square(SCHOOLS_SE)), priors=Priors(mu_sd=5, tau="halfcauchy:5"))


def test_eight_schools_rounded_against_independent_quadrature(schools):
    d = schools.to_dict()
    assert d["method"] == "exact" and d["model"] == "re" and d["k"] == 8
    ref = {"tau_mean": 3.59771, "tau_sd": 3.21996, "tau_median": 2.74873, "mu_mean": 4.39682, "mu_sd": 3.3177,
           "mu_ci_high": 10.85229, "tau_ci_low": 0.1231, "tau_ci_high": 11.93196}
    for key, val in ref.items():
        assert d[key] == pytest.approx(val, rel=2e-5, abs=5e-6), key
    # Betancourt's published MCMC values (approximate)
    assert d["mu_mean"] == pytest.approx(4.4, abs=0.05) and d["tau_mean"] == pytest.approx(3.6, abs=0.05)


def _mixture_cdf_by_quad(y, v, m0, s0, tau_pdf, x):
    """P(mu <= x | y) by nested adaptive quadrature (independent of the engine's grid)."""
    y, v = np.asarray(y, float), np.asarray(v, float)

    def parts(t):
        d = v + t * t
        w = 1 / d
        P = 1 / s0**2 + w.sum()
        m = (m0 / s0**2 + (w * y).sum()) / P
        q = (w * (y - m) ** 2).sum() + (m - m0) ** 2 / s0**2
        return np.exp(-0.5 * (np.log(d).sum() + np.log(s0**2 * P) + q) + 40) * tau_pdf(t), m, 1 / math.sqrt(P)

    kw = dict(epsabs=0, epsrel=1e-11, limit=500)
    Z = integrate.quad(lambda t: parts(t)[0], 0, np.inf, **kw)[0]
    return integrate.quad(lambda t: parts(t)[0] * stats.norm.cdf((x - parts(t)[1]) / parts(t)[2]), 0, np.inf,
                          **kw)[0] / Z


def test_eight_schools_mu_quantiles_solve_the_mixture_cdf(schools):
    d = schools.to_dict()
    pdf = stats.halfcauchy(scale=5).pdf
    v = np.square(SCHOOLS_SE)
    for key, p in (("mu_ci_low", 0.025), ("mu_median", 0.5), ("mu_ci_high", 0.975)):
        assert _mixture_cdf_by_quad(SCHOOLS_Y, v, 0, 5, pdf, d[key]) == pytest.approx(p, abs=2e-8), key
    assert 1 - _mixture_cdf_by_quad(SCHOOLS_Y, v, 0, 5, pdf, 0.0) == pytest.approx(d["p_positive"], abs=2e-8)


def test_eight_schools_bayesmeta_vignette():
    res = fit_exact(table(SCHOOLS_Y_UNROUNDED, np.square(SCHOOLS_SE_UNROUNDED)),
                    priors=Priors(mu_sd=50, tau="halfcauchy:25"))
    d = res.to_dict()
    # bayesmeta 3.4 vignette: tau mean/sd/median/central 95 %, mu mean/sd/median, P(mu > 0)
    assert d["tau_mean"] == pytest.approx(5.884511, rel=1e-5)
    assert d["tau_sd"] == pytest.approx(4.869904, rel=1e-5)
    assert d["tau_median"] == pytest.approx(4.758539, rel=1e-5)
    assert d["tau_ci_low"] == pytest.approx(0.2199559, rel=1e-5)
    assert d["tau_ci_high"] == pytest.approx(18.0531718, rel=1e-5)
    assert d["mu_mean"] == pytest.approx(7.985729, rel=1e-4)
    assert d["mu_sd"] == pytest.approx(4.995762, rel=1e-4)
    assert d["mu_median"] == pytest.approx(7.962961, rel=1e-4)
    assert d["p_positive"] == pytest.approx(0.9487521, rel=1e-4)
    # the predictive distribution of a new school: mean 7.985729, sd 9.126767 (vignette)
    assert res.predictive.mean() == pytest.approx(7.985729, rel=1e-4)
    assert res.predictive.sd() == pytest.approx(9.126767, rel=1e-3)


def test_crins_2014_bayesmeta_jss():
    res = fit_exact(table(CRINS_YI, CRINS_VI), priors=Priors(mu_sd=4, tau="halfnormal:0.5"))
    d = res.to_dict()
    assert d["tau_mean"] == pytest.approx(0.3810562, rel=1e-5)
    assert d["tau_sd"] == pytest.approx(0.2593672, rel=1e-5)
    assert d["tau_median"] == pytest.approx(0.3445022, rel=1e-5)
    assert d["mu_mean"] == pytest.approx(-1.5764366, rel=1e-4)
    assert d["mu_sd"] == pytest.approx(0.3295298, rel=1e-3)
    assert d["mu_median"] == pytest.approx(-1.5734823, rel=1e-4)
    # P(mu > 0): bayesmeta prints 6.187343e-05; its mixture approximation is ~3 % off this far in the
    # tail, the adaptive quadrature of the exact mixture gives 6.01269e-05
    assert d["p_positive"] == pytest.approx(6.187343e-05, rel=0.05)
    pdf = stats.halfnorm(scale=0.5).pdf
    assert d["p_positive"] == pytest.approx(1 - _mixture_cdf_by_quad(CRINS_YI, CRINS_VI, 0, 4, pdf, 0.0), rel=1e-6)
    # bayesmeta's shortest 95 % interval of mu holds 95 % of the exact posterior
    assert float(res.cdf_mu(-0.9264079) - res.cdf_mu(-2.2312306)) == pytest.approx(0.95, abs=2e-4)
    assert res.predictive.sd() == pytest.approx(0.5671855, rel=2e-3)
    # the REML fit of the same data (Röver 2020, p. 32) sits close to the posterior mean
    assert d["mu_mean"] == pytest.approx(-1.591513, abs=0.02)


def test_exact_is_fast():
    t = table(SCHOOLS_Y, np.square(SCHOOLS_SE))
    fit_exact(t)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        fit_exact(t, priors=Priors(mu_sd=5, tau="halfcauchy:5"))
        times.append(time.perf_counter() - t0)
    assert np.median(times) < 0.2


def test_zone_probabilities_match_monte_carlo_from_the_mixture():
    """Exact zone probabilities (mixture CDF at the cut-points) vs draws from the same mixture."""
    acc = table([-0.02, -0.05, 0.01, -0.08, -0.03], [4e-4, 9e-4, 2.5e-4, 1.6e-3, 6e-4],
                property="accuracy", study=list("abcde"))
    res = fit_exact(acc)
    zp = res.to_dict()["zone_probabilities"]
    rng = np.random.default_rng(7)
    mix = res.mixture
    n = 400_000
    comp = rng.choice(mix.w.size, size=n, p=mix.w)
    mu = mix.m[comp] + mix.s[comp] * rng.standard_normal(n)
    zmc = scale.zone_probabilities_from_draws(mq.pct_from_log(mu, True), (2, 5, 10, 15, 20, 25))
    for lab in scale.LABELS:
        p = zp[lab]
        assert abs(p - zmc[lab]) <= 4.5 * math.sqrt(max(p * (1 - p), 1e-12) / n) + 1e-6, lab
    assert sum(zp.values()) == pytest.approx(1.0, abs=1e-12)
    sel = scale.label_from_zone_probabilities(zp)
    assert res.to_dict()["label_code"] == sel.code and res.to_dict()["label_probability"] == pytest.approx(sel.belief)


def test_lower_is_better_orientation_maps_percent_edges_correctly():
    """For a lower-is-better property the % cut-points map through -log(1 - pct/100)."""
    lat = table([0.3, 0.45, 0.2], [0.004, 0.006, 0.003], property="inference_latency", study=list("abc"))
    res = fit_exact(lat)
    d = res.to_dict()
    th = (2, 10, 20, 30, 40, 50)
    assert d["thresholds"] == list(th)
    # P(RI > 30 %) = P(mu > -log(0.7)); RI > 30 % is PO, PO-SP, SP
    p_gt30 = 1 - float(res.cdf_mu(-math.log(0.7)))
    zp = d["zone_probabilities"]
    assert zp["PO"] + zp["PO-SP"] + zp["SP"] == pytest.approx(p_gt30, abs=1e-12)
    assert d["pct_median"] == pytest.approx(100 * (1 - math.exp(-d["mu_median"])), rel=1e-12)


def test_unknown_variances_two_dimensional_quadrature_against_brute_force():
    """Rows without vi get sigma_resid^2: compare with a dense trapezoid grid over (log tau, log sigma)
    using the joint-normal form y ~ N(0, diag(var) + s0^2 11') with numpy's slogdet/solve (independent code)."""
    y = np.array([0.10, 0.25, -0.05, 0.40, 0.15, 0.32])
    vi = np.array([0.004, np.nan, 0.010, np.nan, 0.006, np.nan])
    t = table(y, vi, vi_known=np.isfinite(vi), study=list("abcdef"), property="storage_size")
    pri = Priors(mu_sd=1.0, tau="halfnormal:0.5", sigma_resid="halfnormal:0.25")
    d = fit_exact(t, priors=pri).to_dict()
    assert d["n_unknown_vi"] == 3

    x = np.linspace(-16, 1.8, 401)  # log tau and log sigma; below e^-16 lies < 1e-6 of the mass
    wx = np.full(x.size, x[1] - x[0])
    wx[[0, -1]] /= 2
    T, S = np.meshgrid(np.exp(x), np.exp(x), indexing="ij")
    known = np.isfinite(vi)
    var = np.where(known, np.nan_to_num(vi), S[..., None] ** 2) + T[..., None] ** 2
    cov = var[..., :, None] * np.eye(6) + pri.mu_sd**2
    _, logdet = np.linalg.slogdet(cov)
    rhs = np.stack([np.broadcast_to(y, cov.shape[:-1]), np.ones(cov.shape[:-1])], -1)
    sol = np.linalg.solve(cov, rhs)
    loglik = -0.5 * logdet - 0.5 * (sol[..., 0] * y).sum(-1)
    logpost = (loglik + stats.halfnorm.logpdf(T, scale=0.5) + stats.halfnorm.logpdf(S, scale=0.25)
               + np.log(T) + np.log(S))  # Jacobian of the log scale
    w = np.exp(logpost - logpost.max()) * np.outer(wx, wx)
    w /= w.sum()
    cond_mean = pri.mu_sd**2 * (sol[..., 1] * y).sum(-1)  # E[mu | y, tau, sigma] = s0^2 1' Sigma^-1 y
    assert d["mu_mean"] == pytest.approx((w * cond_mean).sum(), abs=1e-6)
    assert d["tau_mean"] == pytest.approx((w * T).sum(), abs=1e-6)
    assert d["sigma_resid_mean"] == pytest.approx((w * S).sum(), abs=1e-6)


def test_unknown_variance_policies(caplog):
    y = [0.1, 0.2, 0.3]
    t = table(y, [0.01, np.nan, np.nan], vi_known=[True, False, False], vi_note=[None, "single observation", "x"],
              study=list("abc"), property="storage_size", source_file="ev.csv", source_row=[1, 2, 3])
    # the engine pools the rows it is given; a policy other than 'model' is the fitting road's
    for policy in ("refuse", "error", "drop", "impute-max"):
        with pytest.raises(UsageError, match="2 of 3 rows of 'storage_size' have no sampling variance"):
            fit_exact(t, unknown_vi=policy)
    with pytest.raises(UsageError, match="unknown unknown_vi"):
        fit_exact(t, unknown_vi="impute")
    assert fit_exact(t.iloc[:1], unknown_vi="refuse").to_dict()["k"] == 1  # every variance known: pooled
    # through the road: refused naming the file, row and column, or dropped with a note
    with pytest.raises(InputError, match="2 of 3 rows of 'storage_size' have no sampling variance") as exc:
        fit_table(t, FitSpec("storage_size", method="exact", variance_policy="refuse"))
    assert "ev.csv" in str(exc.value) and "row 2" in str(exc.value) and "'vi'" in str(exc.value)
    res = fit_table(t, FitSpec("storage_size", method="exact", variance_policy="drop"))
    assert res.to_dict()["k"] == 1 and any("dropped 2 rows" in n for n in res.notes)
    with pytest.raises(InputError, match="no row of 'storage_size' has a known sampling variance"):
        fit_table(t.iloc[1:], FitSpec("storage_size", method="exact", variance_policy="drop"))


def test_exact_on_shipped_accuracy_reads_the_ssm_scale():
    acc = mq.for_property(mq.compute_effects(mq.load("ssm2025")), "accuracy")
    d = fit_exact(acc).to_dict()
    assert d["property"] == "accuracy" and d["k"] == 17 and d["n_unknown_vi"] == 13
    assert d["r_hat_max"] is None and d["divergences"] is None and d["ok"] is True
    assert set(d["zone_probabilities"]) == set(scale.LABELS)
    assert any("treats them as independent" in w for w in d["warnings"])
    assert d["pct_ci_low"] < d["pct_median"] < d["pct_ci_high"]
    assert d["pct_pi_low"] <= d["pct_ci_low"] and d["pct_pi_high"] >= d["pct_ci_high"]
    assert d["pct_median"] == pytest.approx(100 * math.expm1(d["mu_median"]), rel=1e-12)


def test_exact_save_and_refuse_overwrite(tmp_path, schools):
    paths = schools.save(tmp_path / "out")
    assert paths["posterior"].exists() and paths["summary"].exists()
    with pytest.raises(InputError, match="refusing to overwrite"):
        schools.save(tmp_path / "out")
    schools.save(tmp_path / "out", overwrite=True)
    import json

    import xarray as xr

    d = json.loads(paths["summary"].read_text())
    assert d["method"] == "exact" and d["mu_mean"] == pytest.approx(4.39682, rel=1e-5)
    ds = xr.open_dataset(paths["posterior"], engine="h5netcdf")
    assert float(ds["w"].sum()) == pytest.approx(1.0)
    assert not list(tmp_path.glob("out/.*tmp"))


def test_exact_rejects_bad_input():
    with pytest.raises(InputError, match="no column 'vi'"):
        fit_exact(pd.DataFrame({"yi": [0.1]}))
    with pytest.raises(InputError, match="positive"):
        fit_exact(table([0.1, 0.2], [0.01, -0.01]))
    with pytest.raises(InputError, match="finite"):
        fit_exact(table([0.1, np.inf], [0.01, 0.01]))
    with pytest.raises(InputError, match="one property at a time"):
        fit_exact(table([0.1, 0.2], [0.01, 0.01], property=["accuracy", "storage_size"]))
    with pytest.raises(ValueError, match="halfnormal:S"):
        fit_exact(table([0.1], [0.01]), prior_tau="cauchy")
