"""The exact engine with unknown sampling variances, against brute-force quadrature.

Reference: the posterior of (mu, tau, sigma_resid) integrated on a plain 3-D grid, with each row's
normal likelihood evaluated directly (no analytic integration over mu).  The case is the 2-bit
perplexity rows of the shipped ``benchmarks`` corpus: fifteen llama.cpp rows with tiny standard
errors and one row without a spread, where a naive expansion of the quadratic form near
tau = sigma = 0 once collapsed the posterior onto the row without a spread.
"""

import numpy as np
import pytest
from scipy import stats

from metaquant import api, bayes


def _brute_force(y, v, known, n=161):
    mu = np.linspace(-1.2, 0.4, n)
    tau = np.linspace(1e-4, 1.5, n)
    sig = np.linspace(1e-4, 1.2, n)
    M, T, S = np.meshgrid(mu, tau, sig, indexing="ij")
    logp = stats.norm.logpdf(M, 0, 1) + stats.halfnorm.logpdf(T, scale=0.5) + stats.halfnorm.logpdf(S, scale=0.25)
    for yi, vi, k in zip(y, v, known, strict=True):
        var = (vi if k else 0.0) + T**2 + (0.0 if k else 1.0) * S**2
        logp = logp + stats.norm.logpdf(yi, M, np.sqrt(var))
    w = np.exp(logp - logp.max())
    w /= w.sum()
    return {"mu_mean": float((w * M).sum()), "tau_mean": float((w * T).sum()), "sigma_mean": float((w * S).sum())}


@pytest.fixture(scope="module")
def two_bit_perplexity():
    t = api.effect_table("benchmarks")
    return t[(t.property == "perplexity") & (t.bits == 2)].reset_index(drop=True)


def test_exact_engine_matches_brute_force_with_an_unknown_variance(two_bit_perplexity):
    sub = two_bit_perplexity
    assert (~sub.vi_known).sum() == 1 and sub.vi_known.sum() == 15
    ref = _brute_force(sub.yi.to_numpy(), sub.vi.fillna(0).to_numpy(), sub.vi_known.to_numpy())
    ex = bayes.fit_exact(sub).to_dict()
    # grid spacing 0.01 on mu and ~0.0094 on tau: agreement to a few thousandths
    assert ex["mu_mean"] == pytest.approx(ref["mu_mean"], abs=3e-3)
    assert ex["tau_mean"] == pytest.approx(ref["tau_mean"], abs=5e-3)
    assert ex["sigma_resid_mean"] == pytest.approx(ref["sigma_mean"], abs=1e-2)
    # and it is nowhere near the degenerate answer (mu pinned on the row without a spread)
    assert abs(ex["mu_mean"] - sub.loc[~sub.vi_known, "yi"].iloc[0]) > 0.2
