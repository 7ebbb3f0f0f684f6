"""The Bayesian result as ArviZ reads it: az.loo, az.compare (random-effects vs multilevel), az.plot_ppc.

References: the pointwise terms against scipy's normal density evaluated on the stored draws; the
PSIS-LOO estimate of the random-effects model against exact leave-one-out, each row's predictive
density p(y_i | y_-i) integrated by quadrature from the exact engine refitted without that row.
The runs are short (2 chains x 300 draws, seed fixed), so they are read with Monte Carlo tolerances.
"""

import warnings

import matplotlib
import numpy as np
import pytest
from scipy import stats

import metaquant as mq
from metaquant import bayes

matplotlib.use("Agg")
az = pytest.importorskip("arviz")

SHORT = dict(draws=300, tune=300, chains=2, seed=7)
pytestmark = pytest.mark.filterwarnings("ignore::matplotlib.MatplotlibDeprecationWarning")


@pytest.fixture(scope="module")
def acc():
    return mq.for_property(mq.compute_effects(mq.load("ssm2025")), "accuracy")


@pytest.fixture(scope="module")
def fits(acc):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mq.errors.ConvergenceWarning)
        re = bayes.fit(acc, model="re", prior=True, **SHORT)
        ml = bayes.fit(acc, model="multilevel", **SHORT)
    return re, ml


def _flat(ds, name):
    x = np.asarray(ds[name].values, dtype=float)
    return x.reshape((-1,) + x.shape[2:])


def test_groups_and_names_match_what_the_cli_prints(fits, acc):
    re, ml = fits
    for res in fits:
        groups = set(res.idata.groups())
        assert {"posterior", "log_likelihood", "posterior_predictive", "observed_data", "sample_stats"} <= groups
        pp, obs = res.idata.posterior_predictive["y"], res.idata.observed_data["y"]
        assert pp.dims == ("chain", "draw", "comparison") and obs.dims == ("comparison",)
        assert list(pp["comparison"].values) == list(obs["comparison"].values) == list(acc["comparison"])
        assert res.idata.log_likelihood["y"].shape == pp.shape
    assert {"prior", "prior_predictive"} <= set(re.idata.groups())
    assert "prior" not in ml.idata.groups()  # only when asked
    post = ml.idata.posterior
    np.testing.assert_allclose(post["tau"].values, np.hypot(post["tau_study"].values, post["tau_within"].values))
    d = ml.to_dict()
    assert d["tau_median"] == pytest.approx(float(np.median(post["tau"].values)))
    assert d["tau_study_mean"] == pytest.approx(float(post["tau_study"].mean()))


def test_pointwise_terms_are_the_row_densities_given_the_draws(fits, acc):
    re, ml = fits
    y = acc["yi"].to_numpy(float)
    known = acc["vi_known"].to_numpy(bool)
    v = np.where(known, acc["vi"].to_numpy(float), 0.0)
    for res, low in ((re, "tau"), (ml, "tau_within")):
        post = res.idata.posterior
        sig = _flat(post, "sigma_resid")[:, None]
        var = np.where(known, v, sig**2) + _flat(post, low)[:, None] ** 2
        loc = _flat(post, "mu")[:, None] + np.zeros_like(y)
        if res is ml:
            idx = [res.data.studies.index(s) for s in acc["study"]]
            loc = loc + _flat(post, "u")[:, idx]
        ref = stats.norm.logpdf(y, loc, np.sqrt(var))
        np.testing.assert_allclose(_flat(res.idata.log_likelihood, "y"), ref, rtol=1e-10, atol=1e-12)


def test_loo_matches_exact_leave_one_out_of_the_random_effects_model(fits, acc):
    re, _ = fits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loo = az.loo(re.idata, pointwise=True)
    assert np.all(np.asarray(loo.pareto_k) < 0.7)
    # p(y_i | y_-i) = sum over the quadrature nodes of the fit without row i of
    # W_n N(y_i | m_n, s2_n + tau_n^2 + v_i), v_i = sigma_n^2 for a row without a variance
    exact = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(len(acc)):
            r = acc.iloc[i]
            g = bayes.fit_exact(acc.drop(index=acc.index[i])).grid
            tau2 = g["tau"][:, None] ** 2 if "sigma" in g else g["tau"] ** 2
            vi = r["vi"] if r["vi_known"] else g["sigma"][None, :] ** 2
            dens = stats.norm.pdf(r["yi"], g["m"], np.sqrt(g["s2"] + tau2 + vi))
            exact.append(np.log(np.sum(g["w"] * dens)))
    exact = np.asarray(exact)
    pointwise = np.asarray(loo.loo_i)
    k = np.asarray(loo.pareto_k)
    # rows whose importance ratios have a light tail agree to Monte Carlo error; the heavier-tailed
    # ones (a row with vi = 1e-7, k about 0.6) carry PSIS's finite-sample bias, about +0.1 here
    np.testing.assert_allclose(pointwise[k < 0.5], exact[k < 0.5], atol=0.03)
    np.testing.assert_allclose(pointwise, exact, atol=0.15)
    assert float(loo.elpd_loo) == pytest.approx(exact.sum(), abs=0.25)


def test_compare_random_effects_and_multilevel(fits):
    re, ml = fits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = az.compare({"re": re.idata, "multilevel": ml.idata})
    assert set(table.index) == {"re", "multilevel"}
    assert np.isfinite(table["elpd_loo"]).all() and (table["p_loo"] > 0).all()
    # the multilevel model has more effective parameters (study effects) than the random-effects one
    assert table.loc["multilevel", "p_loo"] > table.loc["re", "p_loo"]


def test_plot_ppc_draws_observed_and_replicated_y(fits):
    import matplotlib.pyplot as plt

    re, _ = fits
    ax = az.plot_ppc(re.idata, num_pp_samples=40, random_seed=1)
    assert len(np.atleast_1d(ax)) == 1 and len(np.atleast_1d(ax)[0].get_lines()) >= 41
    ax = az.plot_ppc(re.idata, group="prior", num_pp_samples=20, random_seed=1)
    assert len(np.atleast_1d(ax)[0].get_lines()) >= 21
    plt.close("all")


def test_prior_group_holds_draws_from_the_priors(fits):
    re, _ = fits
    pr = re.idata.prior
    mu = pr["mu"].values.ravel()
    tau = pr["tau"].values.ravel()
    n = mu.size
    assert n == 600 and {"mu", "mu_pct", "tau", "sigma_resid"} <= set(pr.data_vars)
    # mu ~ N(0, 1), tau ~ HalfNormal(0.5), sigma_resid ~ HalfNormal(0.25): Kolmogorov-Smirnov at 1e-3
    assert stats.kstest(mu, stats.norm(0, 1).cdf).pvalue > 1e-3
    assert stats.kstest(tau, stats.halfnorm(scale=0.5).cdf).pvalue > 1e-3
    assert stats.kstest(pr["sigma_resid"].values.ravel(), stats.halfnorm(scale=0.25).cdf).pvalue > 1e-3
    # the prior predictive is not the posterior predictive: far wider
    assert re.idata.prior_predictive["y"].std() > 5 * re.idata.posterior_predictive["y"].std()
