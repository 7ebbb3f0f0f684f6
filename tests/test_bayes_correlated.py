"""Correlated sampling errors (shared baselines, a constant correlation) in the Bayesian multilevel model.

References: dense linear algebra for every building block, and a quadrature posterior for the
whole fit: on a grid of (tau_study, tau_within) the location parameters are integrated out
exactly with the full k x k covariance ``V + tau_within^2 I + tau_study^2 Z Z' + mu_sd^2 11'``,
so the reference shares no code with the Woodbury form the sampler uses.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from metaquant.bayes import Priors, prepare
from metaquant.errors import InputError
from metaquant.evidence.covariance import from_factor

pytestmark = pytest.mark.filterwarnings("ignore:.*BLAS.*:UserWarning")


def _table(seed=7):
    rng = np.random.default_rng(seed)
    # 5 studies; within each, 2-3 quantized arms share one baseline (and one study has two baselines)
    rows = [("s1", "b1"), ("s1", "b1"), ("s1", "b1"), ("s2", "b2"), ("s2", "b2"), ("s3", "b3"), ("s3", "b3"),
            ("s3", "b4"), ("s3", "b4"), ("s4", None), ("s4", "b5"), ("s4", "b5"), ("s5", "b6"), ("s5", "b6")]
    k = len(rows)
    vi = rng.uniform(0.004, 0.03, k)
    u = rng.normal(0, 0.15, 5)
    study = [r[0] for r in rows]
    y = -0.1 + u[[int(s[1]) - 1 for s in study]] + rng.normal(0, 0.05, k) + rng.normal(0, np.sqrt(vi))
    return pd.DataFrame({"study": study, "comparison": [f"c{i}" for i in range(k)], "yi": y, "vi": vi,
                         "vi_known": True, "baseline_group": [r[1] for r in rows]})


def _quadrature(md, pri, n=240):
    """Posterior mean and sd of mu, tau_study, tau_within on a (tau_study, tau_within) grid."""
    V = from_factor(md.v, md.group_idx, md.omega)
    Z = np.eye(md.n_studies)[md.study_idx]
    a_s, a_w = pri.tau.scale, pri.tau_within_prior.scale
    g_s = np.linspace(1e-6, 5 * a_s, n)
    g_w = np.linspace(1e-6, 5 * a_w, n)
    TS, TW = np.meshgrid(g_s, g_w, indexing="ij")
    ts, tw = TS.ravel(), TW.ravel()
    one = np.ones(md.k)
    cov = (V[None] + tw[:, None, None] ** 2 * np.eye(md.k)[None] + ts[:, None, None] ** 2 * (Z @ Z.T)[None]
           + pri.mu_sd**2 * np.outer(one, one)[None])
    r = md.y - pri.mu_mean
    L = np.linalg.cholesky(cov)
    sol_r = np.linalg.solve(cov, r[None, :, None])[..., 0]
    sol_1 = np.linalg.solve(cov, np.broadcast_to(one, (ts.size, md.k))[..., None])[..., 0]
    logdet = 2 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(1)
    ll = -0.5 * (logdet + (r * sol_r).sum(1))
    lp = ll + stats.halfnorm(scale=a_s).logpdf(ts) + stats.halfnorm(scale=a_w).logpdf(tw)
    w = np.exp(lp - lp.max())
    w /= w.sum()
    m = pri.mu_mean + pri.mu_sd**2 * sol_r.sum(1)  # E[mu | taus, y]
    v = pri.mu_sd**2 - pri.mu_sd**4 * sol_1.sum(1)
    mu_mean = float(w @ m)
    return {"mu": (mu_mean, float(np.sqrt(w @ (v + m**2) - mu_mean**2))),
            "tau_study": (float(w @ ts), float(np.sqrt(w @ ts**2 - (w @ ts) ** 2))),
            "tau_within": (float(w @ tw), float(np.sqrt(w @ tw**2 - (w @ tw) ** 2)))}


def test_factor_reproduces_the_classical_V():
    t = _table()
    md = prepare(t, model="multilevel", shared_baseline=True)
    from metaquant.evidence.covariance import shared_baseline

    V = shared_baseline(t["vi"], t["baseline_group"])
    np.testing.assert_allclose(from_factor(md.v, md.group_idx, md.omega), V, rtol=1e-14, atol=0)
    assert md.n_groups == 6 and (md.group_idx[9] == -1)


def test_pointwise_loglik_is_the_leave_one_out_density_within_a_group():
    from metaquant.bayes.sampling import pointwise_loglik, replicate

    t = _table()
    md = prepare(t, model="multilevel", rho=0.6)
    rng = np.random.default_rng(1)
    S = 3
    loc = rng.normal(0, 0.1, (S, md.k))
    var = md.v[None, :] + rng.uniform(0.001, 0.01, (S, 1))
    got = pointwise_loglik(md, loc, var)
    for s in range(S):
        M = from_factor(var[s], md.group_idx, md.omega)
        P = np.linalg.inv(M)
        r = md.y - loc[s]
        for j in range(md.k):
            others = [i for i in range(md.k) if i != j]
            m = loc[s, j] + M[j, others] @ np.linalg.solve(M[np.ix_(others, others)], r[others])
            vj = M[j, j] - M[j, others] @ np.linalg.solve(M[np.ix_(others, others)], M[others, j])
            assert got[s, j] == pytest.approx(stats.norm(m, np.sqrt(vj)).logpdf(md.y[j]), rel=1e-10)
            assert 1 / P[j, j] == pytest.approx(vj, rel=1e-10)
    # replicated data carry the correlated errors
    big = replicate(md, np.zeros((60_000, md.k)), np.broadcast_to(var[0], (60_000, md.k)), rng)
    M = from_factor(var[0], md.group_idx, md.omega)
    se = np.sqrt((np.outer(np.diag(M), np.diag(M)) + M**2) / 60_000)
    np.testing.assert_array_less(np.abs(np.cov(big.T) - M), 5 * se)


@pytest.mark.parametrize("cov", [{"shared_baseline": True}, {"rho": 0.7}])
def test_posterior_matches_quadrature_with_correlated_errors(cov):
    from metaquant import bayes

    t = _table()
    pri = Priors(mu_sd=1.0, tau="halfnormal:0.3")
    md = prepare(t, model="multilevel", **cov)
    ref = _quadrature(md, pri)
    res = bayes.fit(t, model="multilevel", priors=pri, draws=1500, tune=1000, chains=4, seed=11, **cov)
    assert res.ok
    import arviz as az

    post = res.idata.posterior
    for name in ("mu", "tau_study", "tau_within"):
        mean, sd = ref[name]
        got = post[name].values.ravel()
        mcse = float(az.mcse(res.idata, var_names=[name])[name].values)
        assert abs(got.mean() - mean) < 4 * mcse + 1e-3 * sd, (name, got.mean(), mean, mcse)
        assert got.std() == pytest.approx(sd, rel=0.06), name
    assert any("correlated" in n for n in res.notes)


def test_correlated_rows_are_refused_where_they_cannot_be_honoured():
    from metaquant import bayes

    t = _table()
    with pytest.raises(InputError, match="exact engine takes independent"):
        bayes.fit(t, engine="exact", shared_baseline=True)
    with pytest.raises(InputError, match="non-centred"):
        bayes.fit(t, shared_baseline=True, parametrization="noncentered", draws=10, tune=10, chains=1)
    bad = t.copy()
    bad.loc[3, "baseline_group"] = "b1"  # a baseline shared across studies s1 and s2
    with pytest.raises(InputError, match="different studies"):
        prepare(bad, model="multilevel", shared_baseline=True)
    with pytest.raises(InputError, match="either rho or shared_baseline"):
        prepare(t, rho=0.5, shared_baseline=True)
    with pytest.raises(InputError, match=r"rho must be in \[0, 1\)"):
        prepare(t, rho=-0.2)
