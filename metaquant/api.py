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
        ``draws``, ``seed``, ...).

    Returns
    -------
    ClassicalResult or BayesResult
        See :mod:`metaquant.results` for what every result provides.
    """
    from .fitting import fit_table

    spec, run = split_options(prop, spec=spec, settings=settings, **options)
    table = effect_table(data, measure=spec.measure, include_confounded=include_confounded)
    return fit_table(table, spec, run)


def fit_all(data: Any = "ssm2025", properties: Sequence[str] | None = None, *, spec: FitSpec | None = None,
            settings: RunSettings | None = None, include_confounded: bool = False, progress=None,
            **options) -> dict:
    """Pool several properties (all in the data by default) with one specification.

    A property that cannot be pooled gives a :class:`~metaquant.fitting.NotPooled`
    saying why, instead of stopping the others.

    Returns
    -------
    dict of property -> result
    """
    from .fitting import check, fit_or_reason, properties_of

    # the spec is made for a placeholder property and then replaced for each one
    spec0, run = split_options(None if spec is not None else "accuracy", spec=spec, settings=settings, **options)
    check(spec0)  # a usage error is raised once, before any property is fitted
    table = effect_table(data, measure=spec0.measure, include_confounded=include_confounded)
    out = {}
    for p in properties_of(table, properties):
        s = spec0.replace(property=p)
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
    """SSM, Bayesian and classical pooling side by side (:func:`metaquant.workbench.compare.compare`)."""
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


def covariate_column(table, name: str) -> str:
    """The data column that carries a practitioner's setting (:func:`metaquant.workbench.predict.covariate_column`)."""
    from .workbench import predict as predict_mod

    return predict_mod.covariate_column(table, name)


__all__ = [
    "FitSpec", "RunSettings", "as_bool", "compare", "covariate_column", "effect_table", "fit", "fit_all", "predict",
    "sensitivity", "synthesize",
]
