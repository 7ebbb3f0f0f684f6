"""Priors of the Bayesian engine: defaults, parsing of prior strings, clear errors.

Reference for the densities: the half-normal and half-Cauchy densities as
defined in bayesmeta (Röver 2020, JSS 93(6), §2.4), checked here against
scipy.stats.halfnorm / halfcauchy.
"""

import math

import numpy as np
import pytest
from scipy import stats

from metaquant.bayes import Priors, PriorSpecError, ScalePrior, as_priors, parse_scale_prior
from metaquant.errors import InputError


def test_defaults_are_the_documented_weakly_informative_priors():
    p = Priors()
    assert (p.mu_mean, p.mu_sd) == (0.0, 1.0)
    assert p.tau == ScalePrior("halfnormal", 0.5)
    assert p.tau_within_prior == p.tau  # the multilevel model uses tau's prior for both levels
    assert p.sigma_resid == ScalePrior("halfnormal", 0.25)
    assert p.describe() == {"mu": "Normal(0, 1)", "tau": "HalfNormal(0.5)", "tau_within": "HalfNormal(0.5)",
                            "sigma_resid": "HalfNormal(0.25)", "beta": "Normal(0, 1)"}


@pytest.mark.parametrize(
    "text, family, scale",
    [("halfnormal:0.5", "halfnormal", 0.5), ("HalfCauchy:2", "halfcauchy", 2.0),
     (" half-normal : 1e-1 ", "halfnormal", 0.1), ("half_cauchy:25", "halfcauchy", 25.0)],
)
def test_parse_scale_prior_accepts_the_documented_forms(text, family, scale):
    sp = parse_scale_prior(text)
    assert sp.family == family and sp.scale == pytest.approx(scale)


@pytest.mark.parametrize(
    "text, fragment",
    [("halfnormal", "halfnormal:S"), ("normal:0.5", "halfnormal:S"), ("halfnormal:", "halfnormal:S"),
     ("halfnormal:abc", "scale"), ("halfcauchy:-1", "positive"), ("halfcauchy:0", "positive"),
     ("halfnormal:inf", "positive"), ("gamma:2", "halfnormal:S"), ("", "halfnormal:S")],
)
def test_bad_prior_strings_raise_a_clear_value_error(text, fragment):
    with pytest.raises(ValueError, match=fragment) as exc:
        parse_scale_prior(text, option="prior_tau")
    assert isinstance(exc.value, InputError)  # the CLI reports it as a one-line input error (exit 2)
    assert "prior_tau" in str(exc.value)


def test_from_options_overrides_only_what_is_given():
    p = Priors.from_options(prior_mu_sd=2, prior_tau="halfcauchy:0.3")
    assert p.mu_sd == 2.0 and p.tau == ScalePrior("halfcauchy", 0.3)
    assert p.sigma_resid == Priors().sigma_resid
    q = Priors.from_options(prior_sigma="halfnormal:0.1", base=p)
    assert q.tau == p.tau and q.sigma_resid.scale == 0.1
    with pytest.raises(ValueError, match="prior_mu_sd"):
        Priors.from_options(prior_mu_sd=-1)
    with pytest.raises(ValueError, match="prior_mu_sd"):
        Priors.from_options(prior_mu_sd="wide")


def test_as_priors_from_dict_round_trip():
    p = Priors.from_options(prior_mu_sd=3, prior_tau="halfcauchy:1")
    d = p.to_dict()
    assert as_priors(d) == Priors(mu_sd=3, tau=ScalePrior("halfcauchy", 1), tau_within=ScalePrior("halfcauchy", 1))
    with pytest.raises(PriorSpecError, match="unknown prior field"):
        as_priors({"mu_sdd": 1})
    with pytest.raises(PriorSpecError):
        as_priors("halfnormal:1")


@pytest.mark.parametrize("family, dist", [("halfnormal", stats.halfnorm), ("halfcauchy", stats.halfcauchy)])
def test_scale_prior_density_cdf_quantile_match_scipy(family, dist):
    sp = ScalePrior(family, 0.7)
    x = np.array([0.0, 0.01, 0.3, 1.0, 4.0])
    np.testing.assert_allclose(sp.logpdf(x), dist.logpdf(x, scale=0.7), rtol=1e-12)
    np.testing.assert_allclose(sp.cdf(x), dist.cdf(x, scale=0.7), rtol=1e-12, atol=1e-15)
    u = np.array([0.0, 0.1, 0.5, 0.975])
    np.testing.assert_allclose(sp.ppf(u), dist.ppf(u, scale=0.7), rtol=1e-12)
    assert math.isinf(float(sp.ppf(1.0)))


def test_scale_prior_rejects_unknown_family():
    with pytest.raises(ValueError, match="unknown prior family"):
        ScalePrior("lognormal", 1.0)
