"""The Bayesian engines as the fitting road sees them: PyMC, the exact quadrature and the bias-adjusted ensemble.

Each object follows :class:`metaquant.fitting.Engine`: its ``name``, the variance ``policies`` it honours,
``check(spec)`` (a :class:`~metaquant.errors.UsageError` before any work) and ``fit(rows, spec, settings)``.
The rows arrive with the variance policy applied (what it did is ``rows.attrs["policy_note"]``); nothing here
applies it again.
"""

from __future__ import annotations

from ..errors import InputError
from ..spec import ENGINE_POLICIES
from .rules import check_spec


def priors_of(spec):
    """The engine's prior object of a spec (a clear error for a bad prior)."""
    from .priors import Priors

    try:
        return Priors.from_options(prior_mu_sd=spec.prior_mu_sd, prior_tau=spec.prior_tau)
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _with_note(res, rows):
    note = rows.attrs.get("policy_note")
    if note:
        res.notes.append(note)
    return res


def _with_outliers(res):
    """Rows the model absorbs without a word, flagged in the notes and ``diagnostics["outliers"]``."""
    from .checks import outlier_note, outlier_rows

    flags = outlier_rows(res)
    res.diagnostics["outliers"] = flags
    note = outlier_note(flags)
    if note:
        res.notes.append(note)
    return res


class PyMCEngine:
    """The hierarchical model in PyMC (random effects, multilevel, meta-regression)."""

    name = "bayes"
    policies = ENGINE_POLICIES["bayes"]

    def check(self, spec) -> None:
        """No classical-only option; ``rho >= 0`` (:func:`metaquant.bayes.rules.check`)."""
        check_spec(spec)

    def fit(self, rows, spec, settings):
        from .sampling import fit

        res = fit(rows, engine="pymc", model=spec.model, moderators=list(spec.moderators) or None,
                  priors=priors_of(spec), thresholds=spec.cut_points(), min_probability=spec.min_probability,
                  rho=spec.rho, shared_baseline=spec.shared_baseline, levels=False,
                  **settings.mcmc())
        return _with_outliers(_with_note(res, rows))


class ExactEngine:
    """The normal-normal random-effects model by quadrature (no MCMC)."""

    name = "exact"
    policies = ENGINE_POLICIES["exact"]

    def check(self, spec) -> None:
        """No moderators, independent sampling errors, the random-effects model (:mod:`metaquant.bayes.rules`)."""
        check_spec(spec)

    def fit(self, rows, spec, settings):
        from .sampling import fit

        res = fit(rows, engine="exact", priors=priors_of(spec), thresholds=spec.cut_points(),
                  min_probability=spec.min_probability)
        return _with_outliers(_with_note(res, rows))


class BMAEngine:
    """The bias-adjusted model-averaged ensemble (RoBMA-style)."""

    name = "bma"
    policies = ENGINE_POLICIES["bma"]

    def check(self, spec) -> None:
        """No moderators, independent sampling errors, the random-effects model (:mod:`metaquant.bayes.rules`)."""
        check_spec(spec)

    def fit(self, rows, spec, settings):
        from .bma import fit_bma

        res = fit_bma(rows, thresholds=spec.cut_points(), priors=priors_of(spec), draws=settings.draws,
                      tune=settings.tune, chains=min(settings.chains, 2), seed=settings.seed, jobs=settings.jobs,
                      scheduler=settings.scheduler)
        return _with_note(res, rows)


ENGINES = {e.name: e for e in (PyMCEngine(), ExactEngine(), BMAEngine())}

__all__ = ["BMAEngine", "ENGINES", "ExactEngine", "PyMCEngine", "priors_of"]
