"""One road from an effect table to an engine.

Every fit in metaquant — ``metaquant fit``, :func:`metaquant.api.fit`,
``compare``, ``sensitivity`` and ``report`` — goes through :func:`fit_table`,
for every engine (classical, PyMC, exact, bma and the Structured Synthesis
Method, ``FitSpec(method="ssm")``).  Here, and only here:

1. the property's rows are selected;
2. the variance policy of the :class:`~metaquant.spec.FitSpec` is applied
   (:func:`metaquant.spec.apply_variance_policy`) for the engine that runs;
3. the engine is called with the spec's model, moderators, priors and
   cut-points and the :class:`~metaquant.spec.RunSettings`;
4. the effect at each level of a single moderator is attached, and the
   result is given its ``spec`` and the ``rows`` it pooled.

:func:`fit_or_reason` is the same call for a table that may not be poolable
(``--all``, ``compare``): instead of raising it returns a :class:`NotPooled`
that says why.

This module imports the engines lazily: a classical fit never imports PyMC.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from .errors import InputError, UsageError
from .evidence.effects import compute_effects, for_property
from .evidence.io import _drop_confounded, as_bool, load, validate
from .evidence.nesting import nesting
from .progress import plural
from .results import tidy_frame
from .spec import POLICY_WHY, FitSpec, RunSettings, apply_variance_policy


def effect_table(data = "ssm2025", *, measure: str = "ROM", include_confounded: bool = False) -> pd.DataFrame:
    """Load evidence (dataset names, files, a list of them, or an effect table) and compute effect sizes.

    Parameters
    ----------
    data : str, path, list, Evidence or DataFrame
        Shipped dataset name(s) (``metaquant data list``), CSV/Parquet file(s),
        or an effect table from :func:`metaquant.compute_effects` (returned as it is).
    measure : {"ROM", "SMD", "MD"}
    include_confounded : bool
        Keep rows flagged ``confounded``.
    """
    if isinstance(data, pd.DataFrame):
        if _is_effect_table(data):
            return _checked_effect_table(data)
        # rows as a file holds them (pd.read_csv(FILE), or metafor's yi/vi columns): validated
        # exactly like that file, with "DataFrame" in place of its name
        evidence = validate(data, "DataFrame")
        if "confounded" in evidence.columns and not as_bool(include_confounded, "include_confounded"):
            evidence = _drop_confounded(evidence, ["DataFrame"])
        return compute_effects(evidence, measure=measure)
    if data is None:
        raise UsageError("data is None", expected="a shipped dataset name, a file or an effect table")
    return compute_effects(load(data, include_confounded=as_bool(include_confounded, "include_confounded")),
                           measure=measure)


#: Columns only :func:`metaquant.compute_effects` writes: a frame with one of them is an effect table.
_EFFECT_TABLE_MARKS = ("vi_known", "measure", "metric_class")
#: What the engines read from an effect table.
_EFFECT_TABLE_NEEDS = ("study", "property", "yi", "vi", "higher_is_better")


def _is_effect_table(df: pd.DataFrame) -> bool:
    """An effect table (from ``compute_effects``), as opposed to evidence rows as a file holds them.

    A frame of ``study, property, yi, vi`` alone -- what a user of metafor's
    ``escalc`` has in hand -- is evidence in effects form: it is validated like
    a file and its effect table computed (``vi_known``, orientation, ``pct``),
    so nothing is made up and a bad ``vi`` is named by row and column.
    """
    return any(c in df.columns for c in _EFFECT_TABLE_MARKS)


def _checked_effect_table(df: pd.DataFrame) -> pd.DataFrame:
    """An effect table with the columns the engines read, or a clear error; derivable columns filled.

    ``vi_known`` (a finite ``vi``), ``vi_note``, ``comparison`` (one per row) and the
    source columns follow from the others, as ``compute_effects`` would give them.
    """
    missing = [c for c in _EFFECT_TABLE_NEEDS if c not in df.columns]
    if missing:
        raise UsageError(
            f"looks like an effect table but lacks the column(s) {', '.join(missing)}", argument="data",
            expected="the table metaquant.compute_effects returns, or evidence rows as a file holds them "
                     "(study, property and yi/vi or measurements)",
        )  # fmt: skip
    fill = {}
    if "vi_known" not in df.columns:
        fill["vi_known"] = pd.to_numeric(df["vi"], errors="coerce").notna().to_numpy()
    if "vi_note" not in df.columns:
        fill["vi_note"] = None
    if "source_file" not in df.columns:
        fill["source_file"] = "DataFrame"
    if "source_row" not in df.columns:
        fill["source_row"] = range(1, len(df) + 1)
    if "comparison" not in df.columns:
        fill["comparison"] = df["study"].astype("str") + "|row" + pd.Series(range(1, len(df) + 1),
                                                                              index=df.index).astype("str")
    return df.assign(**fill) if fill else df


@dataclass
class NotPooled:
    """A property an engine could not pool, and why (same protocol as a result)."""

    property: str
    engine: str
    reason: str
    k_total: int = 0
    notes: list[str] = field(default_factory=list)
    label_code = None
    label_probability = None
    pct = pct_ci_low = pct_ci_high = None
    predictions: list = field(default_factory=list)
    diagnostics: dict = field(default_factory=dict)
    ok = False

    def to_dict(self) -> dict:
        return {"engine": self.engine, "property": self.property, "estimable": False, "reason": self.reason,
                "k_total": self.k_total, "k": 0, "label_code": None, "label": None, "label_probability": None,
                "pct": None, "notes": list(self.notes), "ok": False}

    def to_frame(self) -> pd.DataFrame:
        return tidy_frame([{"term": "not pooled", "reason": self.reason}], prop=self.property, engine=self.engine)


class Engine(Protocol):
    """What the road needs of an engine: one adapter per engine package.

    ``classical/engine.py``, ``bayes/engine.py``, ``ssm/engine.py`` provide them; :data:`ENGINES` names where.
    """

    #: The engine's name (``FitSpec.engine``): ``frequentist``, ``bayes``, ``exact``, ``bma``, ``ssm``.
    name: str
    #: The variance policies it honours and its default (``{"accepts": (...), "default": ...}``).
    policies: Mapping[str, Any]

    def check(self, spec: FitSpec) -> None:
        """Raise :class:`~metaquant.errors.UsageError` for a spec this engine cannot fit, before any work."""

    def fit(self, rows: pd.DataFrame, spec: FitSpec, settings: RunSettings):
        """Pool one property's rows (variance policy applied) and return a result."""


#: Engine name -> the module whose ``ENGINES`` holds its adapter (imported on first use: a classical fit never
#: imports PyMC).
ENGINES = {"frequentist": "metaquant.classical.engine", "bayes": "metaquant.bayes.engine",
           "exact": "metaquant.bayes.engine", "bma": "metaquant.bayes.engine", "ssm": "metaquant.ssm.engine"}


def engine_for(spec: FitSpec) -> Engine:
    """The adapter of the engine that runs ``spec``."""
    return importlib.import_module(ENGINES[spec.engine]).ENGINES[spec.engine]


def check(spec: FitSpec) -> Engine:
    """The engine of ``spec``, after its checks (a usage error is raised here, before any work).

    The variance policy must be one the engine honours (its ``policies``); every other rule about what an
    engine can fit is its :meth:`Engine.check`.
    """
    eng = engine_for(spec)
    accepts = eng.policies["accepts"]
    if spec.variance_policy is not None and spec.variance_policy not in accepts:
        why = POLICY_WHY.get(spec.variance_policy if accepts else eng.name, "")
        raise UsageError(f"the {eng.name} engine cannot honour the variance policy {spec.variance_policy!r}: {why}",
                         expected=" | ".join(accepts) or "no variance_policy")
    eng.check(spec)
    return eng


def priors_of(spec: FitSpec):
    """The Bayesian engines' prior object of a spec (:func:`metaquant.bayes.engine.priors_of`)."""
    from .bayes.engine import priors_of as _priors_of

    return _priors_of(spec)


def properties_of(table: pd.DataFrame, properties=None) -> list[str]:
    """The properties to fit: those named (one or several), or every property of the table in order of appearance."""
    if properties is None:
        return list(dict.fromkeys(table["property"]))
    return [properties] if isinstance(properties, str) else list(properties)


def property_rows(table: pd.DataFrame, prop: str) -> pd.DataFrame:
    """The rows of one property, ``table`` itself when it holds only that property."""
    if "property" in table.columns and (table["property"] == prop).all():
        return table
    return for_property(table, prop)


def fit_table(table: pd.DataFrame, spec: FitSpec, settings: RunSettings | None = None):
    """Fit one property of an effect table as ``spec`` says.

    Parameters
    ----------
    table : DataFrame
        An effect table (:func:`metaquant.compute_effects`); rows of other
        properties are ignored.
    spec : FitSpec
    settings : RunSettings, optional
        MCMC settings of the PyMC engine (default :class:`RunSettings`).

    Returns
    -------
    ClassicalResult or BayesResult
        A result that follows :mod:`metaquant.results`' protocol.
    """
    settings = settings or RunSettings()
    eng = check(spec)
    rows = property_rows(table, spec.property)
    pooled, note = apply_variance_policy(rows, spec.policy, engine=eng.name)
    pooled.attrs["k_total"] = len(rows)
    pooled.attrs["policy_note"] = note
    res = eng.fit(pooled, spec, settings)
    if len(spec.moderators) == 1:  # the effect at each level of one moderator, for every engine, here only
        res.predictions = res.predict_levels(spec.moderators[0], pooled)
    res.spec, res.rows = spec, pooled  # what it was fitted with and on: read by the workbench and presentation
    return res


def fit_or_reason(table: pd.DataFrame, spec: FitSpec, settings: RunSettings | None = None):
    """:func:`fit_table`, or a :class:`NotPooled` saying why the property's *data* cannot be pooled.

    Only a data error (:class:`~metaquant.errors.InputError`) becomes a :class:`NotPooled`; a
    :class:`~metaquant.errors.UsageError` (a specification no engine can run) is raised, since it says the
    same of every property.
    """
    try:
        return fit_table(table, spec, settings)
    except UsageError:
        raise
    except InputError as exc:
        k = int((table["property"] == spec.property).sum()) if "property" in table.columns else 0
        return NotPooled(spec.property, spec.engine, str(exc), k_total=k)


def exact_applicable(table: pd.DataFrame) -> tuple[bool, str]:
    """Whether the exact (quadrature) engine fits the same model as the PyMC default.

    The PyMC default (``model="auto"``) is the two-level random-effects model
    when no study gives more than one row, which the exact engine computes by
    quadrature; otherwise it is the multilevel model.
    """
    n = nesting(table)
    if n.nested:
        return False, f"study {n.max_study} gives {plural(n.max_rows, 'row')} (multilevel model)"
    return True, "one row per study (random-effects model)"


def fast_spec(table: pd.DataFrame, spec: FitSpec) -> tuple[FitSpec, str | None]:
    """``spec`` with the exact engine where it is the same model as the PyMC default, and why not otherwise."""
    if spec.engine != "bayes" or spec.moderators or spec.model == "multilevel":
        return spec, None
    if spec.known_cov:
        return spec, "PyMC model used: correlated sampling errors (the exact engine takes independent ones)"
    ok, why = exact_applicable(property_rows(table, spec.property))
    return (spec.replace(method="exact"), None) if ok else (spec, f"PyMC model used: {why}")


__all__ = ["ENGINES", "Engine", "NotPooled", "as_bool", "check", "effect_table", "engine_for", "exact_applicable",
           "fast_spec", "fit_or_reason",
           "fit_table", "properties_of", "property_rows"]
