"""The Bayesian engine: hierarchical pooling in PyMC and an exact quadrature engine.

>>> import metaquant as mq
>>> from metaquant import bayes
>>> acc = mq.for_property(mq.compute_effects(mq.load("ssm2025")), "accuracy")
>>> res = bayes.fit(acc)                      # doctest: +SKIP
>>> res.to_dict()["label_code"]               # doctest: +SKIP
>>> bayes.fit(acc, engine="exact").pct        # doctest: +SKIP

Models (:mod:`metaquant.bayes.models`): the normal-normal random-effects
model, the multilevel model (comparisons nested in studies) and
meta-regression, with unknown sampling variances modelled by
``sigma_resid``.  The posterior of the pooled log ratio ``mu`` is read on
SSM's scale: relative improvement in %, 13 zone probabilities, and the label
chosen with the 0.75 rule and stated only when its zones hold at least
``min_probability`` (:func:`metaquant.scale.decide_label`).  See
``docs/methods/bayes.md``.
"""

#: The one default seed of the package (the CLI's, ``compare``'s and ``api``'s): equal seeds, equal numbers.
from ..spec import DEFAULT_SEED  # noqa: E402,F401
from .data import MODELS, MetaData, prepare, rows_as_given  # noqa: E402
from .exact import ExactResult, NormalMixture, fit_exact  # noqa: E402
from .priors import SCALE_FAMILIES, Priors, PriorSpecError, ScalePrior, as_priors, parse_scale_prior  # noqa: E402
from .results import ESS_MIN, RHAT_MAX, BayesResult, Marginal, check  # noqa: E402
from .sampling import (  # noqa: E402
    DEFAULT_TARGET_ACCEPT,
    ENGINES,
    SAMPLERS,
    cache_info,
    clear_cache,
    fit,
    fit_many,
)

PARAMETRIZATIONS = ("marginal", "noncentered")
_LAZY = ("Structure", "build", "conditional_draws", "marginal_loglik")


def __getattr__(name):  # the PyMC model builders load PyMC, so they are imported on first use
    if name in _LAZY:
        from . import models

        return getattr(models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BayesResult", "DEFAULT_SEED", "DEFAULT_TARGET_ACCEPT", "ENGINES", "ESS_MIN", "ExactResult", "MODELS", "Marginal",
    "MetaData", "rows_as_given",
    "NormalMixture", "PARAMETRIZATIONS", "PriorSpecError", "Priors", "RHAT_MAX", "SAMPLERS", "SCALE_FAMILIES",
    "ScalePrior", "Structure", "as_priors", "build", "cache_info", "check", "clear_cache",
    "conditional_draws", "fit", "fit_exact", "fit_many", "marginal_loglik", "parse_scale_prior", "prepare",
]
