"""What to fit and how to run it: the one place where a fit is specified.

A fit is described by two frozen objects that the CLI parses into and that
:mod:`metaquant.fitting`, :mod:`metaquant.workbench.compare`, :mod:`metaquant.workbench.sensitivity`,
:mod:`metaquant.present.report` and :mod:`metaquant.api` take as they are:

:class:`FitSpec`
    *what* is pooled and how it is modelled: property, method, model,
    moderators, effect measure, variance policy, priors, level, SSM
    cut-points, test.
:class:`RunSettings`
    *how* the computation runs: MCMC draws, tuning steps, chains, seed,
    sampler, parallel jobs, a Dask scheduler, progress.

The unknown-variance policy is decided here too, once: :data:`VARIANCE_POLICIES`
is its vocabulary, :data:`ENGINE_POLICIES` says which engine accepts which
policy and what each does by default, and :func:`apply_variance_policy` is the
one function that applies a policy to an effect table.  A policy an engine
cannot honour is an error, never a silent no-op.

>>> spec = FitSpec("accuracy", method="reml", variance_policy="drop")
>>> spec.engine, spec.policy
('frequentist', 'drop')
>>> FitSpec("accuracy").policy          # the Bayesian engines model unknown variances
'model'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from . import scale
from .errors import InputError, UsageError
from .evidence import schema
from .progress import plural

#: The seed of every fit that is not given one (CLI, Python API and sweeps alike).
DEFAULT_SEED = 20251123

#: The one set of MCMC defaults (draws, tuning steps, chains) of every command and function that fits.
DEFAULT_MCMC = (1000, 1000, 4)
#: The lighter, named setting of sweeps of many fits (:meth:`RunSettings.for_sweep`); 2 x 500 draws gave a
#: bulk ESS below 400 on the shipped data, so a sweep keeps 1000 draws and halves the tuning and the chains.
SWEEP_MCMC = (1000, 500, 2)

#: Classical estimators (metafor's ``method=``); ``ee`` and ``fe`` are the equal-effects model.
FREQUENTIST_METHODS = ("ee", "fe", "dl", "reml", "ml", "pm", "hs", "sj", "eb", "he")
#: Bayesian engines: the PyMC model, the exact quadrature engine and the model-averaged ensemble (bias-adjusted).
BAYES_METHODS = ("bayes", "exact", "bma")
METHODS = BAYES_METHODS + FREQUENTIST_METHODS
#: The Structured Synthesis Method: a qualitative engine (labels and beliefs, no sampling variances).
SSM_METHODS = ("ssm",)
#: Every method a :class:`FitSpec` takes (the quantitative ones, :data:`METHODS`, and SSM).
ALL_METHODS = METHODS + SSM_METHODS
#: SSM's options (:func:`metaquant.ssm.synthesize`): label selection, belief split, discount, rule set.
SSM_SELECTIONS = ("ef", "santos")
SSM_BELIEF_SPLITS = ("none", "equitable", "mass-preserving")
SSM_DISCOUNTS = ("v1", "v2")
SSM_RULES = ("ssm2025", "ssm2026")
#: Methods that estimate no between-study variance.
FIXED_METHODS = ("ee", "fe")
#: Models: ``auto`` is multilevel where a study gives several rows, random effects otherwise.
MODELS = ("auto", "random-effects", "multilevel")
MEASURES = ("ROM", "SMD", "MD", "PLO", "PAS", "PR")
TESTS = ("z", "knha", "t")
SAMPLERS = ("pymc", "nutpie", "numpyro")
#: Cluster-robust variances of the classical engine.
ROBUST = ("cr1", "cr2")
#: Classical methods the multilevel model (rma.mv) fits.
MULTILEVEL_METHODS = ("reml", "ml")

#: What to do with rows whose sampling variance is unknown.
VARIANCE_POLICIES = ("refuse", "drop", "impute-max", "impute-median", "model")
#: Per engine: the policies it accepts and its default.
ENGINE_POLICIES: dict[str, dict[str, Any]] = {
    "frequentist": {"accepts": ("refuse", "drop", "impute-max", "impute-median"), "default": "refuse"},
    "exact": {"accepts": VARIANCE_POLICIES, "default": "model"},
    "bayes": {"accepts": VARIANCE_POLICIES, "default": "model"},
    "bma": {"accepts": ("refuse", "drop", "impute-max", "impute-median"), "default": "drop"},
    # SSM reads measurements and study beliefs, never a sampling variance: no policy applies
    "ssm": {"accepts": (), "default": None},
}
#: Why an engine refuses a policy (the refusal is :func:`metaquant.fitting.check`'s).
POLICY_WHY = {
    "model": "it needs every sampling variance; 'model' (a residual scale for the unknown ones) is for the "
    "Bayesian engines",
    "ssm": "SSM reads no sampling variance, so no variance policy applies",
}


def engine_of(method: str) -> str:
    """The engine that runs ``method``: ``"frequentist"``, ``"bayes"`` (PyMC), ``"exact"``, ``"bma"`` or ``"ssm"``."""
    m = check_choice(method, ALL_METHODS, "method").lower()
    if m in FREQUENTIST_METHODS:
        return "frequentist"
    return m if m in ("exact", "bma", "ssm") else "bayes"


def is_fixed(method: str) -> bool:
    """Whether ``method`` is the equal-effects (fixed-effect) model."""
    return str(method).lower() in FIXED_METHODS


def check_choice(value, choices: Sequence[str], name: str, *, case_sensitive: bool = False) -> str:
    """``value`` if it is one of ``choices``, else a :class:`UsageError` naming the argument."""
    if not isinstance(value, str):
        raise UsageError(f"{name} must be a string, not {type(value).__name__}", expected=" | ".join(choices))
    v = value if case_sensitive else value.lower()
    pool = choices if case_sensitive else [c.lower() for c in choices]
    if v not in pool:
        raise UsageError(f"unknown {name} {value!r}", expected=" | ".join(choices))
    return choices[pool.index(v)]


def _check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{name} must be an integer, not {type(value).__name__}")
    if value < minimum:
        raise UsageError(f"{name} must be at least {minimum}, got {value}")
    return value


def _moderator_tuple(moderators, what: str = "moderator") -> tuple[str, ...]:
    if moderators is None:
        return ()
    if isinstance(moderators, str):  # one moderator, not its characters
        moderators = [moderators]
    try:
        out = tuple(moderators)
    except TypeError:
        raise UsageError(
            f"{what}s must be a column name or a list of them, not {type(moderators).__name__}") from None
    for m in out:
        if not isinstance(m, str) or not m.strip():
            raise UsageError(f"{what} {m!r} is not a column name")
    return tuple(m.strip() for m in out)


@dataclass(frozen=True)
class FitSpec:
    """What to pool and how to model it.

    Parameters
    ----------
    property : str
        The property (canonical name or alias; see :mod:`metaquant.evidence.schema`).
    method : str
        ``bayes`` (PyMC, default), ``exact`` (quadrature) or a classical
        estimator: ``ee``/``fe``, ``dl``, ``reml``, ``ml``, ``pm``, ``hs``, ``sj``,
        ``eb``, ``he``.
    model : {"auto", "random-effects", "multilevel"}
        ``auto`` nests comparisons in studies where a study gives several rows.
    moderators : sequence of str
        Moderator columns (``bits`` enters as log2; ``COL:cat`` as categories).
    scale_moderators : sequence of str
        Moderators of the between-study variance, coded as ``moderators``: a location-scale model with
        ``log tau² = z' alpha`` (metafor's ``rma(scale = ~ ...)``; classical REML or ML only,
        :mod:`metaquant.classical.rma_ls`).  Empty: one tau² for every row.
    measure : {"ROM", "SMD", "MD", "PLO", "PAS", "PR"}
        Effect size of measurement rows; the proportion measures (logit, arcsine square root, raw
        proportion, with binomial variances from ``n_eval``) only for accuracy, precision and recall.
    variance_policy : str, optional
        What to do with rows whose sampling variance is unknown (one of
        :data:`VARIANCE_POLICIES`); ``None`` is the engine's default
        (:data:`ENGINE_POLICIES`).
    prior_mu_sd : float, optional
        Bayesian engines: ``mu ~ N(0, prior_mu_sd)`` on the log-ratio scale.
    prior_tau : str, optional
        Bayesian engines: ``halfnormal:S`` or ``halfcauchy:S``.
    level : float
        Interval level in % (95).
    thresholds : six floats, optional
        SSM cut-points for the label (default: the property's).
    threshold_scale : float, optional
        Multiply the property's cut-points by this factor.
    test : {"z", "knha", "t"}
        Classical inference: normal, Knapp-Hartung or t.
    robust : {"cr1", "cr2"}, optional
        Classical engine: cluster-robust inference clustered by study (metafor's
        ``robust()``; ``cr2`` is clubSandwich's bias-reduced linearisation with
        Satterthwaite degrees of freedom).
    min_probability : float
        Bayesian engines: the posterior probability a label's zones must hold
        for the label to be stated (0.75); below it the result says "no
        label: the evidence does not decide" and shows the zone probabilities.
    rho : float, optional
        Known sampling covariance: the sampling errors of the rows of one
        study correlated at ``rho`` (metafor's ``vcalc(vi, cluster=study,
        rho=rho)``; :func:`metaquant.evidence.covariance.constant_rho`).  The
        classical multilevel model (REML/ML) and the PyMC model use it.
    shared_baseline : bool
        Known sampling covariance from the data: arms that share a baseline
        (equal ``baseline_group``) correlated through it
        (:func:`metaquant.evidence.covariance.shared_baseline`).
    wald : sequence of str
        Classical engine: Wald tests of moderator terms, one per entry; an entry names terms separated by commas
        (``"technique"``, ``"bits, technique"``) and tests every coefficient whose name contains one of them
        (metafor's ``anova(res, btt=)``; :func:`metaquant.classical.wald.anova`).
    selection, belief_split, discount, rules : str
        SSM (``method="ssm"``): the label selection rule (``ef``, ``santos``), how a study's belief is shared
        among its evidence models, the discount (``v1``, ``v2``; default the rules') and the rule set
        (``ssm2025``, ``ssm2026``; default ``ssm2025``); see :func:`metaquant.ssm.synthesize`.
    """

    property: str
    method: str = "bayes"
    model: str = "auto"
    moderators: tuple[str, ...] = ()
    scale_moderators: tuple[str, ...] = ()
    measure: str = "ROM"
    variance_policy: str | None = None
    prior_mu_sd: float | None = None
    prior_tau: str | None = None
    level: float = 95.0
    thresholds: tuple[float, ...] | None = None
    threshold_scale: float | None = None
    test: str = "z"
    robust: str | None = None
    min_probability: float = 0.75
    rho: float | None = None
    shared_baseline: bool = False
    wald: tuple[str, ...] = ()
    selection: str = "ef"
    belief_split: str = "none"
    discount: str | None = None
    rules: str | None = None

    def __post_init__(self):
        if not isinstance(self.property, str) or not self.property.strip():
            raise UsageError("property must be a property name, e.g. 'accuracy'")
        set_ = object.__setattr__
        set_(self, "property", schema.get_property(self.property.strip()).name)
        set_(self, "method", check_choice(self.method, ALL_METHODS, "method"))
        set_(self, "selection", check_choice(self.selection, SSM_SELECTIONS, "selection"))
        set_(self, "belief_split", check_choice(self.belief_split, SSM_BELIEF_SPLITS, "belief_split"))
        if self.discount is not None:
            set_(self, "discount", check_choice(self.discount, SSM_DISCOUNTS, "discount"))
        if self.rules is not None:
            set_(self, "rules", check_choice(self.rules, SSM_RULES, "rules"))
        set_(self, "model", check_choice(self.model, MODELS, "model"))
        set_(self, "moderators", _moderator_tuple(self.moderators))
        set_(self, "scale_moderators", _moderator_tuple(self.scale_moderators, "scale moderator"))
        set_(self, "measure", check_choice(self.measure, MEASURES, "measure").upper())
        if self.measure in ("PLO", "PAS", "PR") and self.property not in ("accuracy", "precision", "recall"):
            raise UsageError(f"measure {self.measure} is for proportions, not {self.property!r}",
                             expected="accuracy, precision or recall (or measure ROM, SMD or MD)")
        set_(self, "test", check_choice(self.test, TESTS, "test"))
        if self.variance_policy is not None:
            set_(self, "variance_policy", check_choice(self.variance_policy, VARIANCE_POLICIES, "variance policy"))
        if isinstance(self.level, bool) or not isinstance(self.level, (int, float)) or not 0 < self.level < 100:
            raise UsageError(f"level must be a percentage between 0 and 100, got {self.level!r}")
        if isinstance(self.min_probability, bool) or not isinstance(self.min_probability, (int, float)) \
                or not 0 < self.min_probability <= 1:
            raise UsageError(f"min_probability must be a probability in (0, 1], got {self.min_probability!r}")
        if self.robust is not None:
            set_(self, "robust", check_choice(self.robust, ROBUST, "robust variance"))
        if self.thresholds is not None:
            set_(self, "thresholds", tuple(scale.validate_thresholds(self.thresholds)))
        if self.threshold_scale is not None and not (
            isinstance(self.threshold_scale, (int, float)) and 0 < self.threshold_scale < float("inf")
        ):
            raise UsageError(f"threshold_scale must be a positive number, got {self.threshold_scale!r}")
        self._check_sampling_cov()
        self._check_wald()

    def _check_sampling_cov(self) -> None:
        if not isinstance(self.shared_baseline, bool):
            raise UsageError(f"shared_baseline must be True or False, not {self.shared_baseline!r}")
        if self.rho is None and not self.shared_baseline:
            return
        if self.rho is not None:
            if isinstance(self.rho, bool) or not isinstance(self.rho, (int, float)) or not -1 < self.rho < 1:
                raise UsageError(f"rho must be a correlation in (-1, 1), got {self.rho!r}")
            object.__setattr__(self, "rho", float(self.rho))
            if self.shared_baseline:
                raise UsageError("give either rho or shared_baseline, not both")

    def _check_wald(self) -> None:
        wald = (self.wald,) if isinstance(self.wald, str) else tuple(self.wald or ())
        if any(not isinstance(w, str) or not [t for t in w.split(",") if t.strip()] for w in wald):
            raise UsageError("wald takes moderator terms, e.g. 'technique' or 'bits, technique'")
        object.__setattr__(self, "wald", wald)
        if wald and not self.moderators:
            raise UsageError("a Wald test of moderator terms needs moderators", expected="--moderator COL")

    @property
    def known_cov(self) -> bool:
        """Whether a known sampling covariance is asked for."""
        return self.rho is not None or self.shared_baseline

    # ------------------------------------------------------------------ derived
    @property
    def engine(self) -> str:
        """``"frequentist"``, ``"bayes"`` or ``"exact"``."""
        return engine_of(self.method)

    @property
    def policy(self) -> str:
        """The variance policy in force (the stated one, or the engine's default)."""
        return self.variance_policy or ENGINE_POLICIES[self.engine]["default"]

    @property
    def is_fixed(self) -> bool:
        return is_fixed(self.method)

    def cut_points(self) -> tuple[float, ...]:
        """The SSM cut-points the label is read with."""
        th = self.thresholds or schema.get_property(self.property).thresholds
        if self.threshold_scale is not None:
            th = scale.scale_thresholds(th, self.threshold_scale)
        return tuple(th)

    def replace(self, **changes) -> FitSpec:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.update(engine=self.engine, policy=self.policy, moderators=list(self.moderators),
                 scale_moderators=list(self.scale_moderators), wald=list(self.wald))
        if d["thresholds"] is not None:
            d["thresholds"] = list(d["thresholds"])
        return d


@dataclass(frozen=True)
class RunSettings:
    """How a fit runs (results do not depend on ``jobs``, ``scheduler`` or ``progress``).

    Parameters
    ----------
    draws, tune, chains : int
        MCMC draws and tuning steps per chain, and the number of chains.
    seed : int
        Random seed (:data:`DEFAULT_SEED`); the same seed gives the same numbers.
    sampler : {"pymc", "nutpie", "numpyro"}
    jobs : int
        Parallel processes for sweeps of independent fits and for the members of the ``bma`` ensemble.
    scheduler : str, optional
        Address of a Dask scheduler for sweeps and for the members of the ``bma`` ensemble.
    progress : bool
        Show progress on stderr.
    prior : bool
        Also draw from the prior (InferenceData groups ``prior`` and ``prior_predictive``).
    profile : bool
        Classical multilevel model: profile-likelihood intervals of the variance components
        (the slow part of a fit on thousands of rows).
    force_mcmc : bool
        Sample the Bayesian model by NUTS even where quadrature computes the same posterior
        (:mod:`metaquant.bayes.exact_multilevel`; the default uses quadrature there).
    """

    draws: int = DEFAULT_MCMC[0]
    tune: int = DEFAULT_MCMC[1]
    chains: int = DEFAULT_MCMC[2]
    seed: int = DEFAULT_SEED
    sampler: str = "pymc"
    jobs: int = 1
    scheduler: str | None = None
    progress: bool = False
    prior: bool = False
    profile: bool = True
    force_mcmc: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        _check_int(self.draws, "draws", 1)
        _check_int(self.tune, "tune", 0)
        _check_int(self.chains, "chains", 1)
        _check_int(self.seed, "seed", 0)
        _check_int(self.jobs, "jobs", 1)
        object.__setattr__(self, "sampler", check_choice(self.sampler, SAMPLERS, "sampler"))
        object.__setattr__(self, "extra", dict(self.extra))

    @classmethod
    def for_sweep(cls, **changes) -> RunSettings:
        """The lighter, named MCMC settings of sweeps of many fits: :data:`SWEEP_MCMC` (draws, tune, chains).

        The report's sensitivity sweeps and its ``--fast`` main fits use them, and say so in their output
        (:meth:`describe`); every command's own default is :class:`RunSettings` ``()``.
        """
        draws, tune, chains = SWEEP_MCMC
        return cls(**{"draws": draws, "tune": tune, "chains": chains, **changes})

    def describe(self) -> str:
        """The MCMC sizes in words, naming the setting they are (``RunSettings`` defaults or ``RunSettings.sweep``).

        >>> RunSettings.for_sweep().describe()
        '1000 draws, 500 tuning steps, 2 chains (RunSettings.sweep)'
        """
        sizes = (self.draws, self.tune, self.chains)
        words = (f"{plural(self.draws, 'draw')}, {plural(self.tune, 'tuning step')}, "
                 f"{plural(self.chains, 'chain')}")
        if sizes == SWEEP_MCMC:
            return f"{words} (RunSettings.sweep)"
        if sizes == DEFAULT_MCMC:
            return f"{words} (RunSettings defaults)"
        return words

    def replace(self, **changes) -> RunSettings:
        return dataclasses.replace(self, **changes)

    def mcmc(self) -> dict:
        """Keyword arguments of the PyMC engine (``profile`` is the classical engine's)."""
        return {"draws": self.draws, "tune": self.tune, "chains": self.chains, "seed": self.seed,
                "sampler": self.sampler, "progressbar": self.progress, "prior": self.prior,
                "quadrature": not self.force_mcmc, **self.extra}

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["extra"] = dict(self.extra)
        return d


_SPEC_FIELDS = {f.name for f in dataclasses.fields(FitSpec)}
_RUN_FIELDS = {f.name for f in dataclasses.fields(RunSettings)} - {"extra"}
#: Names the first version's functions used, mapped to the fields above.
_ALIASES = {"missing_vi": "variance_policy", "unknown_vi": "variance_policy", "prop": "property",
            "progressbar": "progress"}


def split_options(prop: str | None = None, *, spec: FitSpec | None = None, settings: RunSettings | None = None,
                  **options) -> tuple[FitSpec, RunSettings]:
    """A :class:`FitSpec` and :class:`RunSettings` from keyword options.

    Options that name fields of either class are applied on top of ``spec`` /
    ``settings`` when given (else on the defaults).  ``missing_vi`` and
    ``unknown_vi`` are accepted as names of the variance policy; an unknown
    keyword is an error naming it.
    """
    spec_kw: dict[str, Any] = {}
    run_kw: dict[str, Any] = {}
    for key, value in options.items():
        name = _ALIASES.get(key, key)
        if name in _SPEC_FIELDS:
            spec_kw[name] = value
        elif name in _RUN_FIELDS:
            run_kw[name] = value
        else:
            raise UsageError(f"unknown option {key!r}",
                             expected=", ".join(sorted((_SPEC_FIELDS | _RUN_FIELDS) - {"property"})))
    if prop is not None:
        spec_kw["property"] = prop
    if spec_kw.get("variance_policy") == "error":  # the first version's word for 'refuse'
        spec_kw["variance_policy"] = "refuse"
    if spec is not None and not isinstance(spec, FitSpec):
        raise UsageError(f"spec must be a FitSpec, not {type(spec).__name__}")
    if settings is not None and not isinstance(settings, RunSettings):
        raise UsageError(f"settings must be RunSettings, not {type(settings).__name__}")
    if spec is None and "property" not in spec_kw:
        raise UsageError("no property given", expected="a property name, e.g. 'accuracy'")
    spec = spec.replace(**spec_kw) if spec is not None else FitSpec(**spec_kw)
    settings = settings.replace(**run_kw) if settings is not None else RunSettings(**run_kw)
    return spec, settings


# --------------------------------------------------------------------------
# The variance policy
# --------------------------------------------------------------------------


def apply_variance_policy(table: pd.DataFrame, policy: str, *, engine: str) -> tuple[pd.DataFrame, str | None]:
    """Apply a stated policy to one property's rows whose sampling variance is unknown.

    Parameters
    ----------
    table : DataFrame
        One property's effect table (columns ``vi``, ``vi_known``, ``study``,
        ``vi_note``, ``source_file``, ``source_row``).
    policy : str
        ``refuse`` raises a clear error naming the first such row; ``drop``
        pools only rows with a known variance; ``impute-max`` /
        ``impute-median`` give the unknown rows the largest / median known
        ``vi``; ``model`` keeps them for an engine that models them (a
        residual scale, ``sigma_resid``).
    engine : {"frequentist", "bayes", "exact"}
        The engine the table is for; a policy it does not accept is an error.

    Returns
    -------
    (DataFrame, str or None)
        The table to pool and a note describing what was done (None if nothing).
    """
    if policy is None and not ENGINE_POLICIES[engine]["accepts"]:  # an engine that reads no sampling variance
        return table, None
    policy = check_choice(policy, VARIANCE_POLICIES, "variance policy")
    accepts = ENGINE_POLICIES[engine]["accepts"]
    if policy not in accepts:
        raise UsageError(f"the {engine} engine cannot honour the variance policy {policy!r}",
                         expected=" | ".join(accepts))
    unknown = ~table["vi_known"].astype(bool)
    n_unknown = int(unknown.sum())
    if n_unknown == 0 or policy == "model":
        return table, None
    prop = table["property"].iloc[0]
    studies = ", ".join(sorted(table.loc[unknown, "study"].astype(str).unique()))
    known = table.loc[~unknown, "vi"]
    label = {"frequentist": "the classical estimator", "bayes": "the Bayesian model",
             "exact": "the exact engine", "bma": "the bias-adjusted ensemble"}[engine]
    if policy == "refuse":
        first = table[unknown].iloc[0]
        alt = "--missing-vi drop|impute-max|impute-median"
        alt += ", or --method bayes, which models unknown variances" if engine == "frequentist" else " or model"
        raise InputError(
            f"{n_unknown} of {plural(len(table), 'row')} of {prop!r} {'has' if n_unknown == 1 else 'have'} no "
            "sampling variance "
            f"(studies {studies}: {first['vi_note']}); {label} needs one under the policy 'refuse'",
            path=first["source_file"], row=int(first["source_row"]), column="vi", expected=alt,
        )
    if known.empty:
        # never suggest what was asked already: the Bayesian engines model unknown variances under 'model'
        modelled = "model" in ENGINE_POLICIES[engine]["accepts"]
        raise InputError(
            f"no row of {prop!r} has a known sampling variance"
            + (" to impute from" if policy != "drop" else ""),
            expected="--missing-vi model, which models unknown variances with a residual scale" if modelled
            else "--method bayes or exact, which model unknown variances",
        )
    if policy == "drop":
        return (table[~unknown].reset_index(drop=True),
                f"dropped {plural(n_unknown, 'row')} without a sampling variance (studies {studies})")
    value = float(known.max() if policy == "impute-max" else known.median())
    out = table.copy()
    out.loc[unknown, "vi"] = value
    out.loc[unknown, "vi_known"] = True
    out.loc[unknown, "vi_note"] = f"imputed ({policy})"
    return out, f"imputed vi = {value:.6g} ({policy}) for {plural(n_unknown, 'row')} without a sampling variance " \
                f"(studies {studies})"


__all__ = [
    "ALL_METHODS", "BAYES_METHODS", "DEFAULT_SEED", "ENGINE_POLICIES", "FIXED_METHODS", "FREQUENTIST_METHODS",
    "FitSpec", "MEASURES", "METHODS", "MODELS", "POLICY_WHY", "RunSettings", "SAMPLERS", "SSM_BELIEF_SPLITS",
    "SSM_DISCOUNTS", "SSM_METHODS", "SSM_RULES", "SSM_SELECTIONS", "TESTS", "VARIANCE_POLICIES",
    "apply_variance_policy", "check_choice", "engine_of", "is_fixed", "split_options",
]
