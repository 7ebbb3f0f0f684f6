"""Sensitivity analyses: how the three engines' conclusions move when the analysis changes.

Five analyses of one property, each returning a :class:`SensitivityResult`:

:func:`by_moderator`
    Subgroups: pooling per level of ``bits``, ``technique``, ``study`` or
    ``hardware`` with SSM, the Bayesian model and REML, plus a meta-regression
    on the moderator (Bayesian and REML; bits enter as ``log2(bits)``, so the
    slope is the change of the log ratio per doubling of the
    bit-width, text moderators are treatment-coded).
:func:`leave_one_out`
    Every study left out in turn, all three engines, each label change against
    the full data flagged.
:func:`prior_grid`
    The Bayesian label, posterior probability and pooled effect over a grid of
    priors ``mu ~ N(0, s)`` × ``tau ~ half-normal / half-Cauchy``.
:func:`threshold_scaling`
    SSM's six cut-points multiplied by ``c`` (×0.5 … ×2): the SSM label and
    the label read off the same Bayesian posterior (and REML's point estimate)
    with the scaled cut-points.
:func:`belief_policies`
    SSM under the dependence splits of the study belief among a study's ``N``
    models: none (``B``), equitable (``B/N``) and mass-preserving
    (``1 - (1 - B)^(1/N)``).

Independent fits are tasks run by :func:`run_tasks`: one after another
(``jobs=1``), over local cores with :class:`concurrent.futures.ProcessPoolExecutor`
(``jobs=N``) or on a Dask distributed cluster (``scheduler="tcp://..."``,
the optional extra ``dist``).  The Bayesian fits of a sweep use the exact
quadrature engine where the full data allow it (every variance known, one row
per study: :func:`metaquant.workbench.compare.exact_applicable`) and the PyMC model otherwise, with the
:class:`~metaquant.spec.RunSettings` given (the one set of defaults of every command unless a caller names
lighter ones, e.g. :meth:`~metaquant.spec.RunSettings.for_sweep`, which the report's sweeps use).  Every task
carries its :class:`~metaquant.spec.FitSpec` and :class:`~metaquant.spec.RunSettings`, so the full-data fit of a
sweep is the fit ``metaquant fit`` makes with the same spec and settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import fitting, scale
from ..errors import InputError, UsageError
from ..evidence import schema
from ..evidence.effects import for_property, pct_from_log
from ..outputs import json_safe
from ..parallel import run_tasks as _run
from ..results import failed_reason
from ..spec import FitSpec, RunSettings
from . import compare

KINDS = ("by", "loo", "priors", "thresholds", "belief")
#: Moderators of :func:`by_moderator`.
BY = ("bits", "technique", "study", "hardware")
#: Threshold factors of :func:`threshold_scaling`.
DEFAULT_FACTORS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
#: Prior standard deviations of mu (log-ratio scale) in :func:`prior_grid`.
DEFAULT_MU_SDS = (0.25, 1.0, 4.0)
#: Priors on tau in :func:`prior_grid`.
DEFAULT_TAU_PRIORS = ("halfnormal:0.1", "halfnormal:0.5", "halfnormal:1", "halfcauchy:0.5")
#: Belief splits of :func:`belief_policies`.
BELIEF_POLICIES = ("none", "equitable", "mass-preserving")
ENGINE_NAMES = ("ssm", "bayes", "reml")


# --------------------------------------------------------------------------
# Tasks and their execution
# --------------------------------------------------------------------------


@dataclass
class Task:
    """One independent fit: an engine on a table, with its spec and settings.

    ``engine`` is ``"ssm"`` (SSM's ``options``: ``thresholds``, ``belief_split``, ``rules``), ``"reml"``,
    ``"bayes"`` (the PyMC model or the exact engine, by ``spec.method``) or ``"bayes_zones"`` (one Bayesian
    fit read with several sets of cut-points, ``options["thresholds_list"]``).  The quantitative tasks carry
    their :class:`FitSpec` and :class:`RunSettings` as they are fitted.
    """

    key: tuple
    engine: str
    table: pd.DataFrame
    options: dict = field(default_factory=dict)
    spec: FitSpec | None = None
    settings: RunSettings | None = None


def _bayes_pct_draws(res, prop: str) -> np.ndarray | None:
    """The posterior draws of the pooled effect in % (``None`` for the exact engine, which has no draws)."""
    if res is None or getattr(res, "idata", None) is None:
        return None
    hib = bool(schema.get_property(prop).higher_is_better)
    return np.asarray(pct_from_log(res.mu_draws(), hib), dtype=float)


def _zones_sweep(task: Task, prefit: tuple[dict, Any] | None = None) -> dict:
    """One Bayesian fit read with every set of cut-points in ``thresholds_list``.

    ``prefit`` (the dict and result object of a fit already made) is read
    instead of fitting again.
    """
    th_list = task.options["thresholds_list"]
    spec, run = task.spec, task.settings
    prop = spec.property
    if prefit is not None:
        d, res = prefit
        if d.get("engine") == "exact":
            spec = spec.replace(method="exact")
    else:
        d, res = compare.fit_bayesian(task.table, spec, run)
    out = {"base": d, "labels": []}
    draws = _bayes_pct_draws(res, prop) if res is not None else None
    # the label under the selection rule (scale.decide_label): none below the stated probability
    min_p = float(d.get("min_probability") or scale.SELECTION_THRESHOLD)
    for th in th_list:
        if res is None or failed_reason(d):
            out["labels"].append({"label_code": None, "label_probability": None})
        elif draws is not None:
            zp = scale.zone_probabilities_from_draws(draws, th)
            dec = scale.decide_label(zp, min_probability=min_p)
            out["labels"].append({"label_code": dec["label_code"], "label_probability": dec["label_probability"],
                                  "label_selected": dec["label_selected"], "zone_probabilities": zp})
        else:  # the exact engine: recompute its zone probabilities with these cut-points
            dd, _ = compare.fit_bayesian(task.table, spec.replace(thresholds=tuple(th)), run)
            out["labels"].append({"label_code": dd.get("label_code"), "label_probability": dd.get("label_probability"),
                                  "zone_probabilities": dd.get("zone_probabilities")})
    return json_safe(out)


def execute(task: Task) -> dict:
    """Run one task; an engine that cannot fit the rows gives ``{"error": ...}`` instead of raising."""
    try:
        if task.engine in ("ssm", "reml", "bayes"):  # the fits of a comparison: compare runs them
            return compare.execute(compare.Task((task.engine,), task.table, task.spec, task.settings,
                                                dict(task.options)))[0]
        if task.engine == "bayes_zones":
            return _zones_sweep(task)
    except InputError as exc:
        return {"label_code": None, "error": str(exc), "estimable": False}
    raise ValueError(f"unknown engine {task.engine!r}")


def _keyed(tasks: Sequence[Task], results: list[dict]) -> dict:
    return dict(zip([t.key for t in tasks], results, strict=True))


def run_tasks(tasks: Sequence[Task], *, jobs: int = 1, scheduler: str | None = None, fn=execute,
              progress=None) -> list[dict]:
    """Run the sweep's tasks (:func:`metaquant.parallel.run_tasks` with :func:`execute` by default)."""
    return _run(tasks, jobs=jobs, scheduler=scheduler, fn=fn, progress=progress)


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


@dataclass
class SensitivityResult:
    """One sensitivity analysis of one property.

    Attributes
    ----------
    kind : str
        ``"by"``, ``"loo"``, ``"priors"``, ``"thresholds"`` or ``"belief"``.
    property : str
    settings : dict
        What was varied and how the engines were run.
    reference : dict
        Each engine's result on the unchanged analysis (``ssm``, ``bayes``, ``reml``).
    rows : list of dict
        One per scenario × engine: ``scenario``, ``engine``, ``k``,
        ``label_code``, ``support`` (SSM belief or posterior probability),
        ``pct``/``pct_low``/``pct_high``, ``changed`` (label differs from the
        reference), ``note``.
    regression : dict
        Meta-regression on the moderator (``by`` only): ``reml`` and ``bayes``
        coefficient tables and, for bits, the slope with its interval.
    changes : list of str
        Every label change, in words.
    """

    kind: str
    property: str
    settings: dict
    reference: dict
    rows: list[dict]
    regression: dict = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return json_safe({"kind": self.kind, "property": self.property, "settings": self.settings,
                          "reference": self.reference, "rows": self.rows, "regression": self.regression,
                          "changes": self.changes})

    def summary(self) -> pd.DataFrame:
        """The rows as a tidy frame."""
        cols = ["scenario", "engine", "k", "label_code", "support", "pct", "pct_low", "pct_high", "changed", "note"]
        return pd.DataFrame(self.rows, columns=cols)

    @property
    def n_changes(self) -> int:
        return sum(bool(r.get("changed")) for r in self.rows)


def _row(scenario: str, engine: str, d: dict, ref_label: str | None) -> dict:
    """Flatten one engine dict into a sensitivity row."""
    if engine == "ssm":
        support, pct, lo, hi = d.get("belief"), None, None, None
        k = d.get("n_models")
    elif engine == "reml":
        support, pct, lo, hi = None, d.get("pct"), d.get("pct_ci_low"), d.get("pct_ci_high")
        k = d.get("k")
    else:
        support, lo, hi = d.get("label_probability"), d.get("pct_ci_low"), d.get("pct_ci_high")
        pct = d.get("pct", d.get("pct_mean"))
        k = d.get("k")
    code = d.get("label_code")
    if code is None:  # no label, so no probability of one (the best candidate's is not a finding)
        support = None if engine == "bayes" else support
    note = d.get("error") or d.get("reason") or ""
    if not note and engine == "bayes" and d.get("engine"):
        note = d["engine"]
    changed = bool(code is not None and ref_label is not None and code != ref_label)
    mcmc_ok = d.get("ok") if engine == "bayes" and d.get("engine") == "pymc" else None
    if mcmc_ok is False:
        note = (note + "; " if note else "") + f"{compare.MCMC_MARK} MCMC diagnostics failed"
    return {"scenario": scenario, "engine": engine, "k": k, "label_code": code, "support": support, "pct": pct,
            "pct_low": lo, "pct_high": hi, "changed": changed, "note": note, "mcmc_ok": mcmc_ok}


def _bayes_spec(table: pd.DataFrame, *, bayes_engine: str) -> FitSpec:
    """The Bayesian :class:`FitSpec` of a sweep over subsets of ``table`` (PyMC or the exact engine).

    ``bayes_engine="auto"`` uses the exact engine when it is the same model as
    the PyMC default on the full table (one row per study, and so on every
    subset of it), the PyMC model otherwise.  Both model unknown sampling
    variances, so ``missing_vi`` (REML's policy) does not enter.
    """
    if bayes_engine not in ("auto", "pymc", "exact"):
        raise InputError(f"unknown Bayesian engine {bayes_engine!r}", expected="auto | pymc | exact")
    exact = bayes_engine == "exact" or (bayes_engine == "auto" and fitting.exact_applicable(table)[0])
    return FitSpec(str(table["property"].iloc[0]), method="exact" if exact else "bayes")


def _bayes_record(spec: FitSpec, settings: RunSettings) -> dict:
    """How a sweep's Bayesian fits ran, for its ``settings``: the method and, for PyMC, the MCMC settings."""
    if spec.engine == "exact":
        return {"method": "exact"}
    return {"method": spec.method, "draws": settings.draws, "tune": settings.tune, "chains": settings.chains,
            "seed": settings.seed, "sampler": settings.sampler, "mcmc": settings.describe()}


def _reml_spec(table: pd.DataFrame, missing_vi: str, thresholds=None, **fields) -> FitSpec:
    """REML's :class:`FitSpec` in a sweep: the stated variance policy, the property's cut-points or ``thresholds``."""
    return FitSpec(str(table["property"].iloc[0]), method="reml", variance_policy=missing_vi,
                   thresholds=None if thresholds is None else tuple(thresholds), **fields)


def _engines(engines: Sequence[str]) -> list[str]:
    out = [str(e).lower() for e in engines]
    bad = [e for e in out if e not in ENGINE_NAMES]
    if bad or not out:
        raise InputError(f"unknown engine {bad[0] if bad else '(none)'!r}", expected=" | ".join(ENGINE_NAMES))
    return [e for e in ENGINE_NAMES if e in out]


def _engine_tasks(name: str, sub: pd.DataFrame, engines: Sequence[str], bspec: FitSpec, settings: RunSettings,
                  missing_vi: str, rules: str = "ssm2025") -> list[Task]:
    make = {"ssm": lambda: Task((name, "ssm"), "ssm", sub, {"rules": rules}),
            "bayes": lambda: Task((name, "bayes"), "bayes", sub, spec=bspec, settings=settings),
            "reml": lambda: Task((name, "reml"), "reml", sub, spec=_reml_spec(sub, missing_vi))}
    return [make[e]() for e in engines]


def _settings(**kw) -> dict:
    return json_safe({k: v for k, v in kw.items() if v is not None})


def _prep(table_or_data, prop: str) -> pd.DataFrame:
    if isinstance(table_or_data, pd.DataFrame) and "yi" in table_or_data.columns:
        tab = table_or_data
    else:
        tab = fitting.effect_table(table_or_data)
    return for_property(tab, prop)


def _level_name(v) -> str:
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return f"{int(v)}"
    return str(v)


def _changes(rows: list[dict], what: str) -> list[str]:
    out = []
    for r in rows:
        if r["changed"]:
            out.append(f"{what} {r['scenario']}: {r['engine'].upper() if r['engine'] != 'bayes' else 'Bayes'} "
                       f"{r['_ref']} -> {r['label_code']}")
    for r in rows:
        r.pop("_ref", None)
    return out


# --------------------------------------------------------------------------
# The analyses
# --------------------------------------------------------------------------


def leave_one_out(
    table,
    prop: str,
    *,
    missing_vi: str = "drop",
    rules: str = "ssm2025",
    bayes_engine: str = "auto",
    settings: RunSettings | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    progress=None,
    engines: Sequence[str] = ENGINE_NAMES,
) -> SensitivityResult:
    """Leave each study out in turn and refit with SSM, the Bayesian model and REML.

    A row is flagged ``changed`` when the engine's label without the study
    differs from its label on all studies.  Studies whose removal leaves no
    row are skipped.

    Parameters
    ----------
    table : DataFrame or data
        An effect table (or anything :func:`metaquant.api.effect_table` reads).
    prop : str
    missing_vi : str
        REML's (and the exact engine's) policy for rows without a variance.
    bayes_engine : {"auto", "pymc", "exact"}
    settings : RunSettings, optional
        How the PyMC fits run (default ``RunSettings()``, the one set of defaults of every command;
        :meth:`RunSettings.for_sweep` names the lighter sweep settings).
    jobs, scheduler
        See :func:`run_tasks`.
    engines : sequence of {"ssm", "bayes", "reml"}
        The engines to run (default all three).
    """
    engines = _engines(engines)
    t = _prep(table, prop)
    prop = str(t["property"].iloc[0])
    settings = settings or RunSettings()
    bspec = _bayes_spec(t, bayes_engine=bayes_engine)
    bopt = _bayes_record(bspec, settings)
    studies = list(dict.fromkeys(t["study"].astype(str)))
    scen: list[tuple[str, pd.DataFrame]] = [("all studies", t)]
    scen += [(f"without {s}", t[t["study"].astype(str) != s].reset_index(drop=True)) for s in studies
             if (t["study"].astype(str) != s).any()]
    tasks = [x for name, sub in scen for x in _engine_tasks(name, sub, engines, bspec, settings, missing_vi, rules)]
    res = _keyed(tasks, run_tasks(tasks, jobs=jobs, scheduler=scheduler, progress=progress))
    ref = {e: res[("all studies", e)] for e in engines}
    rows = []
    for name, _ in scen[1:]:
        for e in engines:
            r = _row(name, e, res[(name, e)], ref[e].get("label_code"))
            r["_ref"] = ref[e].get("label_code")
            rows.append(r)
    changes = _changes(rows, "")
    changes = [c.strip() for c in changes]
    return SensitivityResult("loo", prop, _settings(studies=studies, engines=engines, missing_vi=missing_vi,
                                                    bayes=bopt if "bayes" in engines else None, jobs=jobs,
                                                    scheduler=scheduler),
                             ref, rows, changes=changes)


def by_moderator(
    table,
    prop: str,
    moderator: str,
    *,
    missing_vi: str = "drop",
    rules: str = "ssm2025",
    bayes_engine: str = "auto",
    settings: RunSettings | None = None,
    regression: bool = True,
    jobs: int = 1,
    scheduler: str | None = None,
    progress=None,
    engines: Sequence[str] = ENGINE_NAMES,
) -> SensitivityResult:
    """Pool per level of a moderator with all three engines, and regress the effect on it.

    The subgroup fits are the engines on the rows of each level.  The
    meta-regression is ``y_i = β0 + β1 x_i + u_i + ε_i`` with ``x = log2(bits)``
    for bits (``β1``: change of the log ratio per doubling of the bit-width)
    or treatment-coded levels for a text moderator: REML on the rows with a
    known variance (``missing_vi``) and the Bayesian PyMC model on every row.

    Parameters
    ----------
    moderator : {"bits", "technique", "study", "hardware"}
    regression : bool
        Also fit the meta-regressions.

    Other parameters are those of :func:`leave_one_out`.
    """
    if moderator not in BY:
        raise InputError(f"cannot stratify by {moderator!r}", expected=" | ".join(BY))
    engines = _engines(engines)
    t = _prep(table, prop)
    prop = str(t["property"].iloc[0])
    if t[moderator].isna().all():
        raise InputError(f"no row of {prop!r} has a value for {moderator!r}", column=moderator)
    settings = settings or RunSettings()
    bspec = _bayes_spec(t, bayes_engine=bayes_engine)
    bopt = _bayes_record(bspec, settings)
    levels = sorted(t[moderator].dropna().unique(), key=lambda v: (isinstance(v, str), v))
    tasks = []
    for lev in levels:
        sub = t[t[moderator] == lev].reset_index(drop=True)
        tasks += _engine_tasks(f"{moderator}={_level_name(lev)}", sub, engines, bspec, settings, missing_vi, rules)
    tasks += _engine_tasks("all", t, engines, bspec, settings, missing_vi, rules)
    with_mod = t[t[moderator].notna()].reset_index(drop=True)
    if regression and len(levels) > 1:
        if "reml" in engines:
            tasks.append(Task(("regression", "reml"), "reml", with_mod,
                              spec=_reml_spec(with_mod, missing_vi, moderators=(moderator,))))
        if "bayes" in engines:
            tasks.append(Task(("regression", "bayes"), "bayes", with_mod,
                              spec=FitSpec(prop, method="bayes", moderators=(moderator,)), settings=settings))
    res = _keyed(tasks, run_tasks(tasks, jobs=jobs, scheduler=scheduler, progress=progress))
    ref = {e: res[("all", e)] for e in engines}
    rows = []
    for lev in levels:
        name = f"{moderator}={_level_name(lev)}"
        n = int((t[moderator] == lev).sum())
        for e in engines:
            r = _row(name, e, res[(name, e)], ref[e].get("label_code"))
            r["_ref"] = ref[e].get("label_code")
            r["rows"] = n
            rows.append(r)
    changes = _changes(rows, "level")
    reg: dict[str, Any] = {}
    if ("regression", "reml") in res or ("regression", "bayes") in res:
        reg = _regression_summary(moderator, res.get(("regression", "reml")), res.get(("regression", "bayes")))
    return SensitivityResult("by", prop, _settings(moderator=moderator, levels=[_level_name(v) for v in levels],
                                                   engines=engines, missing_vi=missing_vi,
                                                   bayes=bopt if "bayes" in engines else None, jobs=jobs,
                                                   scheduler=scheduler),
                             ref, rows, regression=reg, changes=changes)


def _regression_summary(moderator: str, reml: dict, bayes: dict) -> dict:
    """Coefficient tables of the two meta-regressions and, for bits, the slope side by side."""
    out: dict[str, Any] = {"moderator": moderator, "term": "log2(bits)" if moderator == "bits" else moderator}
    reml = reml or {"estimable": False, "reason": "not run"}
    bayes = bayes or {"error": "not run"}
    rc = reml.get("coefficients") or []
    bc = bayes.get("coefficients") or []
    out["reml"] = {"estimable": bool(reml.get("estimable")), "k": reml.get("k"), "tau2": reml.get("tau2"),
                   "QM": reml.get("QM"), "QM_p": reml.get("QM_p"), "coefficients": rc,
                   "reason": reml.get("reason") or reml.get("error")}
    out["bayes"] = {"estimable": not bayes.get("error"), "k": bayes.get("k"), "coefficients": bc,
                    "reason": bayes.get("error"), "r_hat_max": bayes.get("r_hat_max"),
                    "divergences": bayes.get("divergences")}
    if moderator == "bits":
        term = "log2(bits)"
        r = next((c for c in rc if c.get("name") == term), None)
        b = next((c for c in bc if c.get("name") == term), None)
        out["slope"] = {
            "reml": None if r is None else {"estimate": r["estimate"], "se": r.get("se"), "ci_low": r["ci_low"],
                                            "ci_high": r["ci_high"], "p": r.get("p")},
            "bayes": None if b is None else {"mean": b.get("mean"), "sd": b.get("sd"), "ci_low": b.get("ci_low"),
                                             "ci_high": b.get("ci_high")},
        }
    return out


def prior_grid(
    table,
    prop: str,
    *,
    mu_sds: Sequence[float] = DEFAULT_MU_SDS,
    tau_priors: Sequence[str] = DEFAULT_TAU_PRIORS,
    missing_vi: str = "drop",
    bayes_engine: str = "auto",
    settings: RunSettings | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    progress=None,
) -> SensitivityResult:
    """The Bayesian label and pooled effect over a grid of priors.

    Every combination of ``mu ~ N(0, s)`` (``s`` in ``mu_sds``, log-ratio
    scale) and a prior on ``tau`` (``"halfnormal:S"`` or ``"halfcauchy:S"``)
    is fitted; ``changed`` marks a label that differs from the fit with the
    engine's default priors.  The exact engine is used where the rows allow
    it (``bayes_engine="auto"``), the PyMC model otherwise.
    """
    t = _prep(table, prop)
    prop = str(t["property"].iloc[0])
    settings = settings or RunSettings()
    bspec = _bayes_spec(t, bayes_engine=bayes_engine)
    bopt = _bayes_record(bspec, settings)
    grid = [(float(s), str(tp)) for s in mu_sds for tp in tau_priors]
    for s, tp in grid:  # fail early on a bad prior, before any sampling
        fitting.priors_of(FitSpec(prop, prior_mu_sd=s, prior_tau=tp))
    tasks = [Task(("default priors",), "bayes", t, spec=bspec, settings=settings)]
    tasks += [Task((f"mu~N(0,{s:g}), tau~{tp}",), "bayes", t, spec=bspec.replace(prior_mu_sd=s, prior_tau=tp),
                   settings=settings) for s, tp in grid]
    out = run_tasks(tasks, jobs=jobs, scheduler=scheduler, progress=progress)
    ref = out[0]
    rows = []
    for task, d, (s, tp) in zip(tasks[1:], out[1:], grid, strict=True):
        r = _row(task.key[0], "bayes", d, ref.get("label_code"))
        r["_ref"] = ref.get("label_code")
        r.update(mu_sd=s, tau_prior=tp)
        rows.append(r)
    changes = _changes(rows, "priors")
    return SensitivityResult("priors", prop, _settings(mu_sds=list(mu_sds), tau_priors=list(tau_priors),
                                                       missing_vi=missing_vi, bayes=bopt, jobs=jobs,
                                                       scheduler=scheduler),
                             {"bayes": ref}, rows, changes=changes)


def threshold_scaling(
    table,
    prop: str,
    *,
    factors: Sequence[float] = DEFAULT_FACTORS,
    missing_vi: str = "drop",
    rules: str = "ssm2025",
    bayes_engine: str = "auto",
    settings: RunSettings | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    progress=None,
    engines: Sequence[str] = ENGINE_NAMES,
    bayes_fit: tuple[dict, Any] | None = None,
) -> SensitivityResult:
    """Label stability when SSM's cut-points ``(I, W, WM, M, SM, S)`` are multiplied by ``c``.

    For each factor ``c`` the SSM synthesis is rerun with the scaled
    cut-points ``c·(I, W, WM, M, SM, S)`` (each evidence model's label may
    change, its belief does not), and one Bayesian posterior is read with the
    scaled zones (the same draws, so only the reading moves); REML's
    point-estimate label is given alongside.  ``changed`` compares with
    ``c = 1``, which is always included.

    Parameters
    ----------
    factors : sequence of float
        Multipliers of the property's cut-points (default ×0.5 … ×2).
    engines : sequence of {"ssm", "bayes", "reml"}
    bayes_fit : (dict, result), optional
        A fit already made by :func:`metaquant.workbench.compare.fit_bayes` on the same
        rows with the property's own cut-points; it is read instead of fitting
        the posterior again.

    Other parameters are those of :func:`leave_one_out`.
    """
    engines = _engines(engines)
    t = _prep(table, prop)
    prop = str(t["property"].iloc[0])
    base = schema.get_property(prop).thresholds
    factors = [float(f) for f in factors]
    if not all(np.isfinite(f) and f > 0 for f in factors):
        raise InputError(f"threshold factors must be positive finite numbers, got {factors}",
                         expected="e.g. 0.5 0.75 1 1.25 1.5 2")
    if 1.0 not in factors:
        factors = sorted([1.0, *factors])
    ths = [scale.scale_thresholds(base, f) for f in factors]
    settings = settings or RunSettings()
    bspec = _bayes_spec(t, bayes_engine=bayes_engine)
    bopt = _bayes_record(bspec, settings)
    zones = Task(("bayes",), "bayes_zones", t, {"thresholds_list": ths},
                 spec=bspec.replace(thresholds=tuple(base)), settings=settings)
    tasks = [zones] if "bayes" in engines and bayes_fit is None else []
    if "ssm" in engines:
        tasks += [Task((f, "ssm"), "ssm", t, {"thresholds": th, "rules": rules})
                  for f, th in zip(factors, ths, strict=True)]
    if "reml" in engines:
        tasks += [Task((f, "reml"), "reml", t, spec=_reml_spec(t, missing_vi, th))
                  for f, th in zip(factors, ths, strict=True)]
    res = _keyed(tasks, run_tasks(tasks, jobs=jobs, scheduler=scheduler, progress=progress))
    if "bayes" in engines and bayes_fit is not None:
        bopt = {"method": bayes_fit[0].get("engine"), "prefit": True}
        try:
            res[("bayes",)] = _zones_sweep(zones, prefit=bayes_fit)
        except InputError as exc:
            res[("bayes",)] = {"label_code": None, "error": str(exc), "labels": []}
    i1 = factors.index(1.0)
    bz = res.get(("bayes",), {})
    blabels = bz.get("labels") or [{}] * len(factors)
    ref = {}
    for e in engines:
        ref[e] = dict(bz.get("base") or bz) if e == "bayes" else res[(1.0, e)]
    rows = []
    for i, (f, th) in enumerate(zip(factors, ths, strict=True)):
        name = f"x{f:g}"
        for e in engines:
            if e == "bayes":
                d = {**ref["bayes"], "label_code": blabels[i].get("label_code"),
                     "label_probability": blabels[i].get("label_probability")}
                ref_code = blabels[i1].get("label_code")
            else:
                d = res[(f, e)]
                ref_code = ref[e].get("label_code")
            r = _row(name, e, d, ref_code)
            r["_ref"] = ref_code
            r.update(factor=f, thresholds=list(th))
            rows.append(r)
    changes = _changes(rows, "thresholds")
    return SensitivityResult("thresholds", prop, _settings(factors=factors, base_thresholds=list(base),
                                                           engines=engines, missing_vi=missing_vi,
                                                           bayes=bopt if "bayes" in engines else None, jobs=jobs,
                                                           scheduler=scheduler),
                             ref, rows, changes=changes)


def belief_policies(table, prop: str, *, policies: Sequence[str] = BELIEF_POLICIES, rules: str = "ssm2025",
                    jobs: int = 1, scheduler: str | None = None, progress=None) -> SensitivityResult:
    """SSM's label and belief under the three dependence splits of the study belief.

    ``none`` is the paper's analysis (each of a study's ``N`` models carries
    ``B``); ``equitable`` gives each ``B/N`` and ``mass-preserving`` gives
    each ``1 - (1 - B)^(1/N)``, so that a study's ``N`` agreeing models
    combine to exactly ``B``.
    """
    t = _prep(table, prop)
    prop = str(t["property"].iloc[0])
    policies = list(policies)
    if "none" not in policies:
        policies = ["none", *policies]
    tasks = [Task((p,), "ssm", t, {"belief_split": p, "rules": rules}) for p in policies]
    out = dict(zip(policies, run_tasks(tasks, jobs=jobs, scheduler=scheduler, progress=progress), strict=True))
    ref = out["none"]
    rows = []
    for p in policies:
        r = _row(p, "ssm", out[p], ref.get("label_code"))
        r["_ref"] = ref.get("label_code")
        r.update(uncertainty=out[p].get("uncertainty"), plausibility=out[p].get("plausibility"),
                 masses=out[p].get("masses"))
        rows.append(r)
    changes = _changes(rows, "belief split")
    return SensitivityResult("belief", prop, _settings(policies=policies, models_per_study=compare.models_per_study(t)),
                             {"ssm": ref}, rows, changes=changes)


def run(table, prop: str, kind: str, **kw) -> SensitivityResult:
    """Dispatch by name: ``by`` (with ``moderator=``), ``loo``, ``priors``, ``thresholds`` or ``belief``."""
    if kind == "by":
        moderator = kw.pop("moderator", None)
        if not isinstance(moderator, str) or not moderator.strip():
            raise UsageError(
                "is missing" if moderator is None else f"is {moderator!r}", argument="moderator",
                expected="moderator='COLUMN' naming the column to split by (e.g. 'technique') for kind='by'",
            )  # fmt: skip
        return by_moderator(table, prop, moderator, **kw)
    funcs = {"loo": leave_one_out, "priors": prior_grid, "thresholds": threshold_scaling, "belief": belief_policies}
    if kind not in funcs:
        raise InputError(f"unknown sensitivity analysis {kind!r}", expected=" | ".join(KINDS))
    return funcs[kind](table, prop, **kw)


def _short_note(note) -> str:
    """A row's note cut at a word boundary (the reference lines above the table give the full reason)."""
    text = str(note or "")
    if len(text) <= 70:
        return text
    return text[:70].rsplit(" ", 1)[0] + " ..."


def format_sensitivity(res: SensitivityResult) -> str:
    """Plain-text rendering of a sensitivity result (what the CLI prints)."""

    def num(v, f):
        return "" if v is None else format(v, f)

    head = f"{res.property}: sensitivity ({res.kind})"
    ref = res.reference
    refs = ", ".join(f"{('Bayes' if e == 'bayes' else e.upper())} {d.get('label_code') or 'no label'}"
                     for e, d in ref.items() if isinstance(d, dict))
    lines = [head, f"  reference: {refs}"]
    mcmc = (res.settings.get("bayes") or {}).get("mcmc")
    if mcmc:
        lines.append(f"  Bayesian fits (PyMC): {mcmc}")
    for e, d in ref.items():  # an engine that gave no label says why, in full
        why = isinstance(d, dict) and not d.get("label_code") and (d.get("reason") or d.get("error"))
        if why:
            lines.append(f"  {('Bayes' if e == 'bayes' else e.upper())}: {why}")
    cols = ("scenario", "engine", "k", "label", "support", "pct", "interval", "changed", "note")
    body = []
    for r in res.rows:
        iv = f"[{r['pct_low']:+.1f}, {r['pct_high']:+.1f}]" if r.get("pct_low") is not None and \
            r.get("pct_high") is not None else ""
        body.append((r["scenario"], r["engine"], "" if r.get("k") is None else str(r["k"]), r.get("label_code") or "-",
                     num(r.get("support"), ".3f"), num(r.get("pct"), "+.2f"), iv, "CHANGED" if r["changed"] else "",
                     _short_note(r.get("note"))))
    widths = [max(len(str(x[i])) for x in [cols, *body]) for i in range(len(cols))]
    lines += ["  " + "  ".join(str(x[i]).ljust(widths[i]) for i in range(len(cols))).rstrip() for x in [cols, *body]]
    if res.regression:
        reg = res.regression
        lines.append(f"  meta-regression on {reg.get('term')}:")
        for eng in ("reml", "bayes"):
            e = reg.get(eng) or {}
            if not e.get("estimable"):
                lines.append(f"    {eng.upper() if eng == 'reml' else 'Bayes'}: not estimable ({e.get('reason')})")
                continue
            for c in e.get("coefficients") or []:
                est = c.get("estimate", c.get("mean"))
                lines.append(f"    {eng.upper() if eng == 'reml' else 'Bayes'} {c['name']:<28} {est:+.4f} "
                             f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]")
    lines.append(f"  label changes: {len(res.changes)}")
    lines += [f"    {c}" for c in res.changes]
    return "\n".join(lines)


__all__ = [
    "BELIEF_POLICIES", "BY", "DEFAULT_FACTORS", "DEFAULT_MU_SDS", "DEFAULT_TAU_PRIORS", "KINDS", "SensitivityResult",
    "Task", "belief_policies", "by_moderator", "execute", "format_sensitivity", "leave_one_out", "prior_grid", "run",
    "run_tasks", "threshold_scaling",
]
