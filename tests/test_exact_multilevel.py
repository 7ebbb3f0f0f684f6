"""The quadrature engine of the sampler's model, checked against references that do not share its formulas.

* The collapsed log-likelihood against the dense multivariate normal ``y ~ N(X m0, V + tw^2 I + ts^2 ZZ' +
  X S0 X')`` built entry by entry (scipy), with and without moderators and unknown variances.
* The posterior of ``mu`` (mean, sd, a tail probability) against adaptive 2-D integration (``scipy.integrate
  .dblquad``) of that dense likelihood.
* The conditional posterior of the coefficients against the textbook GLS formulas.
The agreement with the MCMC sampler on every shipped property is in ``tests/test_same_answers.py``.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from metaquant.bayes.data import prepare
from metaquant.bayes.exact_multilevel import CollapsedLikelihood, components, fit_quadrature, reach
from metaquant.bayes.priors import Priors


def _table(rng, n_studies=3, per=2, unknown=0, bits=False):
    rows = []
    for s in range(n_studies):
        u = rng.normal(0, 0.15)
        for j in range(per):
            v = float(rng.uniform(0.002, 0.02))
            b = [2, 4, 8, 16][j % 4]
            rows.append({"study": f"S{s}", "property": "accuracy", "yi": 0.05 + u + rng.normal(0, 0.1)
                         + (0.03 * np.log2(b) if bits else 0.0), "vi": v, "bits": b})
    df = pd.DataFrame(rows)
    df["vi_known"] = True
    if unknown:
        df.loc[df.index[-unknown:], "vi"] = np.nan
        df.loc[df.index[-unknown:], "vi_known"] = False
    df["higher_is_better"] = True
    df["comparison"] = [f"c{i}" for i in range(len(df))]
    return df


def _prepare(df, moderators=None):
    md = prepare(df, model="multilevel", moderators=moderators)
    return md


def _dense_loglik(md, pri, tw, ts, sig):
    v = np.where(md.known, md.v, sig**2)
    Z = (md.study_idx[:, None] == np.arange(md.n_studies)[None, :]).astype(float)
    S0 = np.diag(np.r_[pri.mu_sd, np.full(md.p - 1, pri.beta_sd)] ** 2)
    cov = np.diag(v + tw**2) + ts**2 * Z @ Z.T + md.X @ S0 @ md.X.T
    m = md.X @ np.r_[pri.mu_mean, np.zeros(md.p - 1)]
    return stats.multivariate_normal(m, cov).logpdf(md.y)


@pytest.mark.parametrize("unknown,mods", [(0, None), (2, None), (0, ["bits"]), (3, ["bits"])])
def test_collapsed_loglik_equals_the_dense_normal(unknown, mods):
    rng = np.random.default_rng(7)
    md = _prepare(_table(rng, n_studies=4, per=3, unknown=unknown, bits=bool(mods)), mods)
    pri = Priors(mu_mean=0.1, mu_sd=0.8, beta_sd=0.6)
    f = CollapsedLikelihood(md, pri)
    pts = [(0.05, 0.2, 0.1), (1e-4, 0.5, 0.03), (0.3, 1e-5, 0.2), (0.02, 0.02, 0.4)]
    tw, ts, sig = (np.array(c) for c in zip(*pts, strict=True))
    ll, mean, cov = f(tw, ts, sig if unknown else None, moments=True)
    for i, (a, b, c) in enumerate(pts):
        assert ll[i] == pytest.approx(_dense_loglik(md, pri, a, b, c), rel=1e-10, abs=1e-9)
        # b | s, y by the textbook GLS formulas
        v = np.where(md.known, md.v, c**2)
        Z = (md.study_idx[:, None] == np.arange(md.n_studies)[None, :]).astype(float)
        Si = np.linalg.inv(np.diag(v + a**2) + b**2 * Z @ Z.T)
        s0 = np.r_[pri.mu_sd, np.full(md.p - 1, pri.beta_sd)]
        A = np.diag(1 / s0**2) + md.X.T @ Si @ md.X
        m0 = np.r_[pri.mu_mean, np.zeros(md.p - 1)]
        bm = np.linalg.solve(A, m0 / s0**2 + md.X.T @ Si @ md.y)
        np.testing.assert_allclose(mean[i], bm, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(cov[i], np.linalg.inv(A), rtol=1e-9, atol=1e-14)


def test_collapsed_loglik_has_no_cancellation_near_zero_scales():
    """Rows of unknown variance with tau_within = sigma_resid ~ 0: finite, and below the value at the mode."""
    rng = np.random.default_rng(3)
    md = _prepare(_table(rng, n_studies=3, per=4, unknown=8))
    f = CollapsedLikelihood(md, Priors())
    tiny = np.array([1e-13, 1e-10, 1e-7])
    ll = f(tiny, np.full(3, 0.1), tiny)
    assert np.all(np.isfinite(ll)) and np.all(ll < f(np.array([0.05]), np.array([0.1]), np.array([0.05]))[0])
    assert np.all(np.diff(ll) > 0)  # closer to zero, less likely


def _brute_force_mu(md, pri, n=801):
    """E[mu], sd(mu) and P(mu < 0) by the trapezoidal rule on a uniform, fine grid over (log tau_study,
    log tau_within), each node's dense covariance inverted directly (exponentially accurate for a smooth
    integrand that decays in both directions)."""
    (_, p1), (_, p2) = components(md, pri)
    x = np.linspace(-25.0, 5.0, n)
    ts, tw = (a.ravel() for a in np.meshgrid(p1.scale * np.exp(x), p2.scale * np.exp(x), indexing="ij"))
    Z = (md.study_idx[:, None] == np.arange(md.n_studies)[None, :]).astype(float)
    one, y, s0 = md.X[:, 0], md.y, pri.mu_sd
    lp, m, s2 = (np.empty(ts.size) for _ in range(3))
    for a in range(0, ts.size, 50_000):
        sl = slice(a, a + 50_000)
        C = np.eye(md.k)[None] * (md.v[None, :, None] + tw[sl, None, None] ** 2) + ts[sl, None, None] ** 2 * (Z @ Z.T)
        Ci = np.linalg.inv(C)
        A = 1 / s0**2 + np.einsum("i,nij,j->n", one, Ci, one)
        h = pri.mu_mean / s0**2 + np.einsum("i,nij,j->n", one, Ci, y)
        m[sl], s2[sl] = h / A, 1 / A
        full = C + s0**2 * np.outer(one, one)[None]  # y ~ N(mu_mean, C + s0^2 11')
        r = y - pri.mu_mean
        _, logdet = np.linalg.slogdet(full)
        rs = np.broadcast_to(r, (full.shape[0], md.k))[..., None]
        quad = np.einsum("i,ni->n", r, np.linalg.solve(full, rs)[..., 0])
        lp[sl] = -0.5 * (logdet + quad) + p1.logpdf(ts[sl]) + np.log(ts[sl]) + p2.logpdf(tw[sl]) + np.log(tw[sl])
    w = np.exp(lp - lp.max())
    w /= w.sum()
    e1 = w @ m
    return e1, np.sqrt(w @ (s2 + m * m) - e1**2), w @ stats.norm.cdf(-m / np.sqrt(s2))


def test_multilevel_posterior_of_mu_equals_brute_force_integration():
    rng = np.random.default_rng(11)
    md = _prepare(_table(rng, n_studies=3, per=2))
    pri = Priors()
    res = fit_quadrature(md, pri)
    e1, sd, p0 = _brute_force_mu(md, pri)
    assert res.mu.mean == pytest.approx(e1, abs=1e-6)
    assert res.mu.sd == pytest.approx(sd, abs=1e-6)
    assert 1.0 - res.p_positive == pytest.approx(p0, abs=1e-6)


def test_a_finer_grid_moves_nothing_by_more_than_2e_5():
    """Three axes (tau_study, tau_within, sigma_resid): the default grid against one 1.5 times finer.

    The probabilities and ``mu`` move by less than 1e-5 (what the printed note says), the scales' tails
    by less than 2e-5; the total heterogeneity's quantiles (on no axis) by less than 2e-3.
    """
    rng = np.random.default_rng(5)
    md = _prepare(_table(rng, n_studies=4, per=3, unknown=6))
    a, b = fit_quadrature(md, Priors()), fit_quadrature(md, Priors(), grid=91)
    for name, tol in (("mu", 1e-5), ("tau_study", 2e-5), ("tau_within", 2e-5), ("sigma_resid", 2e-5)):
        for attr in ("mean", "sd", "median", "ci_low", "ci_high"):
            assert getattr(getattr(a, name), attr) == pytest.approx(getattr(getattr(b, name), attr), abs=tol)
    assert (a.tau.mean, a.tau.sd) == pytest.approx((b.tau.mean, b.tau.sd), abs=2e-5)
    assert (a.tau.median, a.tau.ci_high) == pytest.approx((b.tau.median, b.tau.ci_high), abs=2e-3)
    for z, p in a.zone_probabilities.items():
        assert p == pytest.approx(b.zone_probabilities[z], abs=1e-5)


def test_moderators_levels_and_draws_agree_with_the_mixtures():
    rng = np.random.default_rng(9)
    df = _table(rng, n_studies=4, per=4, unknown=4, bits=True)
    md = _prepare(df, ["bits"])
    res = fit_quadrature(md, Priors(), settings={"seed": 1, "chains": 2, "draws": 1000})
    assert res.coefficients and res.coefficients[0]["name"] == "log2(bits)"
    levels = res.predict_levels("bits", df)
    assert [lv["level"] for lv in levels] == [16.0, 8.0, 4.0, 2.0]
    post = res.idata.posterior  # exact independent draws, made on first use
    mu = post["mu"].values.ravel()
    beta = post["beta"].values.reshape(mu.size, -1)[:, 0]
    for lv in levels:
        draws = mu + beta * (np.log2(lv["level"]) - md.centres["log2(bits)"])
        assert lv["mean"] == pytest.approx(draws.mean(), abs=4 * draws.std() / np.sqrt(draws.size))
        assert sum(lv["zone_probabilities"].values()) == pytest.approx(1.0)
    assert res.coefficients[0]["mean"] == pytest.approx(beta.mean(), abs=4 * beta.std() / np.sqrt(beta.size))
    out = res.predict_new(np.array([[8.0], [2.0]]))
    assert out["pi_low"][0] < out["ci_low"][0] < out["pred"][0] < out["ci_high"][0] < out["pi_high"][0]


def test_results_keep_the_public_face():
    import metaquant as mq

    res = mq.fit("ssm2025", "accuracy")
    d = res.to_dict()
    assert d["engine"] == "bayes" and d["sampler"] == "quadrature" and d["ok"] is True
    assert d["diagnostics"]["method"] == "quadrature" and d["diagnostics"]["problems"] == []
    assert any("posterior by quadrature" in n for n in d["notes"])
    assert mq.bayes.check(res)


def test_the_quadrature_path_imports_no_sampler():
    code = ("import sys, metaquant as mq; mq.fit('ssm2025', 'accuracy'); "
            "print(sorted(m for m in ('pymc', 'pytensor', 'arviz', 'numba') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_what_the_grid_cannot_reach_stays_with_mcmc():
    rng = np.random.default_rng(2)
    md = _prepare(_table(rng))
    assert reach(md) is None
    assert "noncentered" in reach(md, parametrization="noncentered")
    assert "nutpie" in reach(md, sampler="nutpie")
    md_c = prepare(_table(rng), model="multilevel", rho=0.5)
    assert "correlated" in reach(md_c)
