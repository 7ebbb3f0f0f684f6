"""The Bayesian engine: hierarchical pooling in PyMC and an exact quadrature engine.

>>> import metaquant as mq
>>> from metaquant import bayes
>>> acc = mq.for_property(mq.compute_effects(mq.load("ssm2025")), "accuracy")
>>> res = bayes.fit(acc)                      # doctest: +SKIP
>>> res.to_dict()["label_code"]               # doctest: +SKIP
>>> bayes.fit_exact(acc).to_dict()["mu_mean"]  # doctest: +SKIP

Models (:mod:`metaquant.bayes.models`): the normal-normal random-effects
model, the multilevel model (comparisons nested in studies) and
meta-regression, with unknown sampling variances modelled by
``sigma_resid``.  The posterior of the pooled log ratio ``mu`` is read on
SSM's scale: relative improvement in %, 13 zone probabilities, and the label
chosen with the 0.75 rule (:mod:`metaquant.scale`).  See ``docs/methods/bayes.md``.
"""

from .data import MODELS, MetaData, prepare
from .exact import UNKNOWN_VI_POLICIES, ExactResult, NormalMixture, fit_exact
from .priors import SCALE_FAMILIES, Priors, PriorSpecError, ScalePrior, as_priors, parse_scale_prior
from .results import ESS_MIN, RHAT_MAX, BayesResult, check
from .sampling import DEFAULT_SEED, DEFAULT_TARGET_ACCEPT, SAMPLERS, cache_info, clear_cache, fit, fit_many

PARAMETRIZATIONS = ("marginal", "noncentered")
_LAZY = ("Structure", "build", "conditional_draws", "marginal_loglik")


def __getattr__(name):  # the PyMC model builders load PyMC, so they are imported on first use
    if name in _LAZY:
        from . import models

        return getattr(models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BayesResult", "DEFAULT_SEED", "DEFAULT_TARGET_ACCEPT", "ESS_MIN", "ExactResult", "MODELS", "MetaData",
    "NormalMixture", "PARAMETRIZATIONS", "PriorSpecError", "Priors", "RHAT_MAX", "SAMPLERS", "SCALE_FAMILIES",
    "ScalePrior", "Structure", "UNKNOWN_VI_POLICIES", "as_priors", "build", "cache_info", "check", "clear_cache",
    "conditional_draws", "fit", "fit_exact", "fit_many", "marginal_loglik", "parse_scale_prior", "prepare",
]
