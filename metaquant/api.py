"""The Python face of metaquant: one call per question.

>>> import metaquant as mq
>>> res = mq.fit("ssm2025", "storage_size", method="reml", variance_policy="drop")
>>> res.label_code, round(res.pct, 2)
('SP', 86.33)
>>> res.to_dict()["tau2"] >= 0
True

Every call builds a :class:`~metaquant.spec.FitSpec` and a
:class:`~metaquant.spec.RunSettings` (from the keyword options, or given as
``spec=`` / ``settings=``) and goes through :func:`metaquant.fitting.fit_table`,
the same road the CLI takes, so the same specification gives the same numbers
from the shell and from Python.  Engines are imported lazily: a classical fit
never pays PyMC's import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .fitting import as_bool, effect_table  # noqa: F401  (re-exported)
from .outputs import json_safe as clean  # noqa: F401  (re-exported: api.clean)
from .spec import (  # noqa: F401  (re-exported: the vocabulary of the face)
    BAYES_METHODS,
    DEFAULT_SEED,
    FREQUENTIST_METHODS,
    METHODS,
    FitSpec,
    RunSettings,
    split_options,
)

#: The ``method`` that asks for the primary estimate of each property (the default when no method is given).
PRIMARY = "primary"


def _wants_primary(spec: FitSpec | None, options: dict) -> bool:
    """True (and ``method`` taken out of ``options``) when the call asks for the primary estimate."""
    method = options.get("method")
    if method is not None and str(method).lower() == PRIMARY:
        options.pop("method")
        return True
    return spec is None and method is None


def primary_estimate(table, prop: str, spec: FitSpec | None = None) -> tuple[FitSpec, str]:
    """The primary estimate's spec for ``prop`` and why (:func:`metaquant.workbench.primary.primary_spec`).

    The Bayesian model where a sampling variance is unknown or studies are few, REML otherwise; multilevel where
    rows are nested in studies.  ``spec`` carries what the user asked for besides the method.
    """
    from .workbench.primary import primary_spec

    return primary_spec(table, prop, spec)


def primary_statement(spec: FitSpec, table, chosen: FitSpec | None = None) -> list[str]:
    """The line ``fit`` prints first: the primary estimate and why, or what a chosen estimate assumes instead."""
    from .workbench.primary import statement

    return statement(spec, table, chosen)


def primary_summary(spec: FitSpec, table, chosen: bool) -> dict:
    """``name``, ``reason`` and ``is_primary`` of the estimate ``spec`` beside the primary one of its property."""
    from .workbench.primary import estimate_name, is_primary, primary_spec

    prim, why = primary_spec(table, spec.property, spec)
    return {"name": estimate_name(prim, table), "reason": why, "is_primary": (not chosen) or is_primary(spec, table)}


def fit(data: Any = "ssm2025", prop: str | None = None, *, spec: FitSpec | None = None,
        settings: RunSettings | None = None, include_confounded: bool = False, **options):
    """Pool one property.

    Parameters
    ----------
    data : str, path, list or DataFrame
        As :func:`effect_table`.
    prop : str
        The property (or give ``spec``).
    spec : FitSpec, optional
        The whole specification; keyword ``options`` override its fields.
    settings : RunSettings, optional
        MCMC settings; keyword options ``draws``, ``tune``, ``chains``,
        ``seed``, ``sampler`` build one otherwise.
    include_confounded : bool
    **options
        Fields of :class:`FitSpec` and :class:`RunSettings` (``method``,
        ``model``, ``moderators``, ``variance_policy``, ``prior_mu_sd``,
        ``draws``, ``seed``, ...).  ``method="primary"`` (the default when
        neither ``method`` nor ``spec`` is given) fits the property's primary
        estimate (:func:`primary_estimate`), as ``metaquant fit`` does
        without ``--method``.

    Returns
    -------
    ClassicalResult or BayesResult
        See :mod:`metaquant.results` for what every result provides.
    """
    from .fitting import fit_table

    primary = _wants_primary(spec, options)
    spec, run = split_options(prop, spec=spec, settings=settings, **options)
    table = effect_table(data, measure=spec.measure, include_confounded=include_confounded)
    if primary:
        spec = primary_estimate(table, spec.property, spec)[0]
    return fit_table(table, spec, run)


def fit_all(data: Any = "ssm2025", properties: Sequence[str] | None = None, *, spec: FitSpec | None = None,
            settings: RunSettings | None = None, include_confounded: bool = False, progress=None,
            **options) -> dict:
    """Pool several properties (all in the data by default) with one specification.

    A property that cannot be pooled gives a :class:`~metaquant.fitting.NotPooled`
    saying why, instead of stopping the others.

    ``method="primary"`` (the default when neither ``method`` nor ``spec`` is given) fits each property's own
    primary estimate (:func:`primary_estimate`).

    Returns
    -------
    dict of property -> result
    """
    from .fitting import check, fit_or_reason, properties_of

    primary = _wants_primary(spec, options)
    # the spec is made for a placeholder property and then replaced for each one
    spec0, run = split_options(None if spec is not None else "accuracy", spec=spec, settings=settings, **options)
    check(spec0)  # a usage error is raised once, before any property is fitted
    table = effect_table(data, measure=spec0.measure, include_confounded=include_confounded)
    out = {}
    for p in properties_of(table, properties):
        s = primary_estimate(table, p, spec0)[0] if primary else spec0.replace(property=p)
        out[s.property] = fit_or_reason(table, s, run)
        if progress is not None:
            progress(s.property, out[s.property])
    return out


def synthesize(data: Any = "ssm2025", prop: str | None = None, *, include_confounded: bool = False, **options):
    """SSM synthesis of one property (or of all: ``prop=None``); see :func:`metaquant.ssm.synthesize`."""
    from . import ssm as ssm_engine

    table = effect_table(data, include_confounded=include_confounded)
    return ssm_engine.synthesize(table, prop, **options)


def compare(data: Any = "ssm2025", properties: Sequence[str] | str | None = None, **options):
    """SSM, Bayesian and classical pooling side by side (:func:`metaquant.workbench.compare.compare`).

    ``jobs=N`` runs the per-property, per-engine fits over ``N`` local processes and ``scheduler="tcp://..."``
    on a Dask cluster (:func:`metaquant.parallel.run_tasks`); the results are those of ``jobs=1``, in order.
    """
    from .workbench import compare as compare_mod

    return compare_mod.compare(data, properties, **options)


def sensitivity(data: Any, prop: str, kind: str, **options):
    """One sensitivity analysis of one property (:func:`metaquant.workbench.sensitivity.run`)."""
    from .workbench import sensitivity as sens

    return sens.run(effect_table(data), prop, kind, **options)


def predict(table, spec: FitSpec, at, settings: RunSettings | None = None, *, calibrate: bool = True,
            homoscedastic: bool = False):
    """The effect expected at a setting, with its calibration (:func:`metaquant.workbench.predict.predict`)."""
    from .workbench import predict as predict_mod

    return predict_mod.predict(table, spec, at, settings, calibrate=calibrate, homoscedastic=homoscedastic)


def property_table(data: Any, prop: str, *, include_confounded: bool = False):
    """The effect rows of one property (:func:`effect_table` narrowed to ``prop``; unknown names are refused)."""
    from .evidence.effects import for_property

    return for_property(effect_table(data, include_confounded=include_confounded), prop)


def bias(table, **options):
    """Small-study effects and publication bias of one property's rows (:func:`metaquant.classical.bias.analyze`).

    ``options``: ``method``, ``estimator``, ``side``, ``steps``, ``alternative``, ``alpha``.  The report's
    ``to_dict()`` names each method's assumptions under ``assumptions``.
    """
    from .classical import bias as bias_mod

    return bias_mod.analyze(table, **options)


def bias_assumptions() -> dict:
    """What each bias method assumes, in words (printed beside its result)."""
    from .classical.bias import ASSUMPTIONS

    return dict(ASSUMPTIONS)


def posterior_checks(result) -> dict:
    """A Bayesian fit's posterior predictive check, PSIS-LOO and outlier flags (:func:`metaquant.bayes.checks`)."""
    from .bayes.checks import posterior_checks as checks

    return checks(result)


def covariate_column(table, name: str) -> str:
    """The data column that carries a practitioner's setting (:func:`metaquant.workbench.predict.covariate_column`)."""
    from .workbench import predict as predict_mod

    return predict_mod.covariate_column(table, name)


__all__ = [
    "PRIMARY", "FitSpec", "RunSettings", "as_bool", "bias", "bias_assumptions", "compare", "covariate_column",
    "effect_table", "fit", "fit_all", "posterior_checks", "predict", "primary_estimate", "primary_statement",
    "primary_summary", "property_table", "sensitivity", "synthesize",
]
