"""Fitting: compiled-model cache, the three NUTS back-ends, and the assembly of InferenceData."""

from __future__ import annotations

import logging
import signal
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import InputError
from ..evidence.effects import pct_from_log
from ..scale import SELECTION_THRESHOLD
from ..spec import DEFAULT_SEED
from .data import MetaData, normalise_model, prepare, rows_as_given
from .draws import (  # noqa: F401  (pointwise_loglik, replicate: read from here by the tests)
    MAX_EFFECT_NUMBERS,
    _dataset,
    _scale_vars,
    pointwise_loglik,
    replicate,
    row_predictive,
)
from .priors import Priors, as_priors
from .results import BayesResult, single_threaded_blas
from .rules import check as check_rules

if TYPE_CHECKING:  # PyMC is imported on the first fit, not with the package
    from .models import BuiltModel, Structure

SAMPLERS = ("pymc", "nutpie", "numpyro")
#: The engines of :func:`fit`: PyMC's NUTS (with the samplers above) or the exact quadrature.
ENGINES = ("pymc", "exact")
DEFAULT_TARGET_ACCEPT = 0.95

_CACHE: dict[Structure, BuiltModel] = {}
_STATS = {"builds": 0, "compiles": 0}
#: PyTensor backend of PyMC's NUTS log density and gradient: "NUMBA" (one fused function, cached on disk by
#: PyTensor) or "C".  The marginal models have 2-4 free parameters, so a NUTS step is dominated by calling the
#: compiled function; Numba's one call is ~3x faster per fit than the C virtual machine's node-by-node dispatch
#: (docs/benchmarks.md, "Where the seconds go").
PYTENSOR_MODE = "NUMBA"


def compile_kwargs() -> dict:
    """``compile_kwargs`` of PyMC's NUTS: Numba where PyTensor has it, else PyTensor's default (C)."""
    if PYTENSOR_MODE.upper() != "NUMBA":
        return {}
    try:
        import numba  # noqa: F401  (a dependency of PyTensor >= 2.x)
    except ImportError:  # pragma: no cover
        return {}
    return {"mode": "NUMBA"}


def cache_info() -> dict[str, int]:
    """How many models were built and how many NUTS functions compiled in this process."""
    return {"models": len(_CACHE), **_STATS}


def clear_cache() -> None:
    """Forget every compiled model (the next fit builds and compiles again)."""
    _CACHE.clear()


def _get_model(md: MetaData, priors: Priors, parametrization: str) -> BuiltModel:
    from .models import Structure, build

    st = Structure.of(md, priors, parametrization)
    bm = _CACHE.get(st)
    if bm is None:
        bm = build(md, priors, parametrization)
        _CACHE[st] = bm
        _STATS["builds"] += 1
    else:
        bm.set_data(md, priors)
    return bm


@contextmanager
def _quiet(active: bool):
    """Silence PyMC's and PyTensor's INFO logging while sampling."""
    if not active:
        yield
        return
    loggers = [logging.getLogger(n) for n in ("pymc", "pytensor", "pymc.sampling", "nutpie")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, lev in zip(loggers, levels, strict=True):
            lg.setLevel(lev)


class SamplingInterrupted(KeyboardInterrupt):
    """Sampling ended before every chain drew every draw asked for (Ctrl-C): no result is returned."""


class InterruptGuard:
    """Ctrl-C during sampling ends the fit: a trace from fewer chains or draws is never returned.

    PyMC catches ``KeyboardInterrupt`` inside its sampling loop and returns the
    draws it has, then goes on with the next chain: a run interrupted in its
    first chain would come back as a one-chain result.  Inside the guard a
    SIGINT is recorded before it is raised (in the main thread, where Python
    delivers it, and only while the default handler is in force), the
    ``callback`` stops every later chain at its first draw, and on leaving the
    guard the interrupt is raised again; :meth:`check` refuses a posterior
    whose chains or draws fall short of those asked for, whatever stopped it.

    >>> with InterruptGuard(chains=2, draws=10) as guard:
    ...     guard.interrupted
    False
    """

    def __init__(self, *, chains: int, draws: int):
        self.chains, self.draws = int(chains), int(draws)
        self.interrupted = False
        self._previous = None

    def _handler(self, signum, frame):
        self.interrupted = True
        raise KeyboardInterrupt

    def callback(self, trace=None, draw=None) -> None:
        """PyMC's per-draw callback: end a chain at once after an interrupt."""
        if self.interrupted:
            raise KeyboardInterrupt

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        if self.interrupted and not (exc_type is not None and issubclass(exc_type, KeyboardInterrupt)):
            # PyMC may fail after the interrupt it swallowed ("Not enough samples to build a trace"): an interrupt
            raise SamplingInterrupted("sampling was interrupted; no result is returned") from exc

    def check(self, posterior) -> None:
        """Raise :class:`SamplingInterrupted` unless ``posterior`` holds every chain and draw asked for."""
        sizes = dict(getattr(posterior, "sizes", {}))
        chains, draws = int(sizes.get("chain", 0)), int(sizes.get("draw", 0))
        if self.interrupted or chains < self.chains or draws < self.draws:
            self.interrupted = True
            raise SamplingInterrupted(f"sampling stopped early ({chains} of {self.chains} chains, {draws} of "
                                      f"{self.draws} draws); no result is returned")


def _missing_extra(sampler: str, extra: str, exc: Exception) -> ImportError:
    return ImportError(
        f"sampler={sampler!r} needs the optional package(s) for it ({exc}); "
        f"install them with: pip install 'metaquant[{extra}]'"
    )


# --------------------------------------------------------------------------
# Back-ends
# --------------------------------------------------------------------------


def _jitter(bm: BuiltModel, chains: int, rng: np.random.Generator) -> list[dict]:
    """Starting points: uniform(-1, 1) around zero on every unconstrained coordinate (PyMC's jitter)."""
    ip = bm.initial_point()
    return [{k: v + rng.uniform(-1.0, 1.0, size=np.shape(v)) for k, v in ip.items()} for _ in range(chains)]


def _sample_pymc(bm, *, draws, tune, chains, seed, target_accept, progressbar, cores, callback=None):
    import pymc as pm
    from pymc.step_methods.step_sizes import DualAverageAdaptation

    step = bm.compiled.get("pymc")
    if step is None:
        step = pm.NUTS(model=bm.model, target_accept=target_accept, compile_kwargs=compile_kwargs())
        bm.compiled["pymc"] = step
        bm.compiled["pymc_step_size"] = float(step.step_size)
        _STATS["compiles"] += 1
    # a fresh step-size adaptation towards this fit's target (cheap; the compiled logp is kept);
    # NUTS overwrites step.step_size while sampling, so the initial value is restored from the cache
    step.step_size = bm.compiled["pymc_step_size"]
    step.step_adapt = DualAverageAdaptation(step.step_size, target_accept, 0.05, 0.75, 10)
    step.target_accept = target_accept
    rng = np.random.default_rng([seed, 1])
    init = _jitter(bm, chains, rng)
    with bm.model:
        idata = pm.sample(
            draws=draws, tune=tune, chains=chains, cores=cores, step=step, initvals=init,
            random_seed=int(rng.integers(2**31 - 1)), progressbar=progressbar, compute_convergence_checks=False,
            return_inferencedata=True, quiet=not progressbar, idata_kwargs={"log_likelihood": False},
            callback=callback,
        )
    return idata.posterior, idata.sample_stats


def _sample_nutpie(bm, md, priors, *, draws, tune, chains, seed, target_accept, progressbar, cores):
    try:
        import nutpie
    except ImportError as exc:
        raise _missing_extra("nutpie", "fast", exc) from None
    compiled = bm.compiled.get("nutpie")
    if compiled is None:
        compiled = nutpie.compile_pymc_model(bm.model)
        bm.compiled["nutpie"] = compiled
        _STATS["compiles"] += 1
    known = getattr(compiled, "shared_data", None)
    values = {k: v for k, v in bm.data_values(md, priors).items() if known is None or k in known}
    compiled = compiled.with_data(**values)
    kw = {"cores": cores} if cores else {}
    idata = nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, seed=int(seed), target_accept=target_accept,
                          progress_bar=progressbar, **kw)
    return idata.posterior, idata.sample_stats


def _sample_numpyro(bm, *, draws, tune, chains, seed, target_accept, progressbar, cores):
    try:
        import jax  # noqa: F401
        import numpyro  # noqa: F401
    except ImportError as exc:
        raise _missing_extra("numpyro", "numpyro", exc) from None
    import pymc as pm

    _STATS["compiles"] += 1  # JAX traces and compiles on every call
    with bm.model:
        idata = pm.sample(draws=draws, tune=tune, chains=chains, nuts_sampler="numpyro", random_seed=int(seed),
                          target_accept=target_accept, progressbar=progressbar, compute_convergence_checks=False,
                          idata_kwargs={"log_likelihood": False},
                          nuts_sampler_kwargs={"chain_method": "sequential" if (cores or 1) == 1 else "parallel"})
    return idata.posterior, idata.sample_stats


# --------------------------------------------------------------------------
# From raw draws to a labelled InferenceData
# --------------------------------------------------------------------------


def _assemble(md: MetaData, priors: Priors, bm: BuiltModel, posterior, sample_stats, seed: int, keep_effects,
              prior: bool = False):
    """The labelled InferenceData of a fit (see :class:`~metaquant.bayes.results.BayesResult`)."""
    import arviz as az
    import xarray as xr

    from .collapsed import raw_names, scales_from_raw

    st = bm.structure
    nchain, ndraw = posterior.sizes["chain"], posterior.sizes["draw"]
    S = nchain * ndraw
    raw = {n: np.asarray(posterior[n].values, dtype=float).reshape(S) for n in raw_names(st)}
    pscale = {"tau": priors.tau.scale, "tau_within": priors.tau_within_prior.scale,
              "sigma_resid": priors.sigma_resid.scale}
    sd, _ = scales_from_raw(st, raw, pscale, lib=np)
    rng = np.random.default_rng([seed, 2])
    if keep_effects is None:
        keep_effects = S * md.k <= MAX_EFFECT_NUMBERS
    b, u, theta = _locations(md, priors, st, posterior, sd, rng, keep_effects)

    def cd_(x):
        return np.asarray(x).reshape((nchain, ndraw) + np.shape(x)[1:])

    coords = {"chain": posterior["chain"].values, "draw": posterior["draw"].values, "comparison": md.comparisons,
              "study": md.studies}
    if md.model == "multilevel":
        tot = np.sqrt(sd["tau_study"] ** 2 + sd["tau_within"] ** 2)
    else:
        tot = sd["tau"]
    pv = _scale_vars(md, b, sd, tot)
    if theta is not None:
        pv["theta"] = (("comparison",), theta)
    if u is not None and keep_effects:
        pv["u"] = (("study",), u)
    post = _dataset(pv, coords, md, cd_)
    # a new study's true effect: theta_new = mu + tau_total * z
    new = b[:, 0] + tot * rng.standard_normal(S)
    ppv = {"theta_new": ((), new), "theta_new_pct": ((), pct_from_log(new, md.higher_is_better))}
    groups = {"posterior": post}
    if S * md.k <= MAX_EFFECT_NUMBERS:
        loc, var = row_predictive(md, st, b, u, sd)
        groups["log_likelihood"] = _dataset({"y": (("comparison",), pointwise_loglik(md, loc, var))}, coords, md,
                                            cd_)
        ppv["y"] = (("comparison",), replicate(md, loc, var, rng))
    groups["posterior_predictive"] = _dataset(ppv, coords, md, cd_)
    if prior:
        pr, prp = prior_draws(md, priors, st, S, np.random.default_rng([seed, 3]))
        groups["prior"] = _dataset(pr, coords, md, cd_)
        groups["prior_predictive"] = _dataset(prp, coords, md, cd_)
    groups["observed_data"] = xr.Dataset({"y": (("comparison",), md.y)}, coords={"comparison": md.comparisons})
    groups["constant_data"] = xr.Dataset(
        {"vi": (("comparison",), np.where(md.known, md.v, np.nan)), "vi_known": (("comparison",), md.known),
         "study": (("comparison",), np.asarray(md.studies)[md.study_idx])},
        coords={"comparison": md.comparisons},
    )
    stats = sample_stats
    if "diverging" not in stats and "divergent" in stats:
        stats = stats.rename({"divergent": "diverging"})
    groups["sample_stats"] = stats
    return az.InferenceData(**groups)


def _locations(md: MetaData, priors: Priors, st, posterior, sd: dict, rng: np.random.Generator, keep_effects: bool):
    """Draws of the coefficients ``b`` (S, p), study effects ``u`` (S, n_studies) and ``theta`` (S, k).

    Marginal parametrization: exact draws from the normal full conditionals
    (:func:`metaquant.bayes.models.conditional_draws`); non-centred: from the
    sampled ``mu``, ``beta`` and standard-normal ``z``.  ``u`` is ``None`` in
    the random-effects model, ``theta`` without ``keep_effects``.
    """
    from .collapsed import conditional_draws

    S = next(iter(sd.values())).size
    if st.parametrization == "marginal":
        cd = conditional_draws(md, priors, st, sd, rng, keep_effects=keep_effects)
        return cd["b"], cd.get("u"), cd.get("theta")
    b = np.asarray(posterior["mu"].values, dtype=float).reshape(S, 1)
    if md.p > 1:
        b = np.column_stack([b, np.asarray(posterior["beta"].values, dtype=float).reshape(S, md.p - 1)])
    u = None
    lin = b @ md.X.T
    if md.model == "multilevel":
        u = sd["tau_study"][:, None] * np.asarray(posterior["z_study"].values, dtype=float).reshape(S, -1)
        lin = lin + u[:, md.study_idx]
    low = "tau_within" if md.model == "multilevel" else "tau"
    theta = lin + sd[low][:, None] * np.asarray(posterior["z"].values, dtype=float).reshape(S, -1)
    return b, u, (theta if keep_effects else None)


def prior_draws(md: MetaData, priors: Priors, st, S: int, rng: np.random.Generator) -> tuple[dict, dict]:
    """``S`` independent draws from the prior (``prior`` group) and the prior predictive of ``y``."""
    from .collapsed import _scale_names

    top, low, res = _scale_names(st)
    sd = {}
    if top:
        sd[top] = priors.tau.ppf(rng.uniform(size=S))
        sd[low] = priors.tau_within_prior.ppf(rng.uniform(size=S))
    else:
        sd[low] = priors.tau.ppf(rng.uniform(size=S))
    if res:
        sd[res] = priors.sigma_resid.ppf(rng.uniform(size=S))
    b = np.column_stack([rng.normal(priors.mu_mean, priors.mu_sd, S)]
                        + [rng.normal(0.0, priors.beta_sd, S) for _ in range(md.p - 1)])
    u = sd[top][:, None] * rng.standard_normal((S, md.n_studies)) if top else None
    tot = np.sqrt(sd[top] ** 2 + sd[low] ** 2) if top else sd[low]
    loc, var = row_predictive(md, st, b, u, sd)
    return _scale_vars(md, b, sd, tot), {"y": (("comparison",), replicate(md, loc, var, rng))}


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def _check_settings(draws, tune, chains, sampler, target_accept, parametrization):
    for name, val, low in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1)):
        if isinstance(val, bool) or not isinstance(val, int | np.integer) or val < low:
            raise InputError(f"{name} must be an integer >= {low}, got {val!r}", column=name)
    if sampler not in SAMPLERS:
        raise InputError(f"unknown sampler {sampler!r}", expected=" | ".join(SAMPLERS))
    try:
        ta = float(target_accept)
    except (TypeError, ValueError):
        ta = float("nan")
    if not (0.5 <= ta < 1.0):
        raise InputError(f"target_accept must be in [0.5, 1), got {target_accept!r}", column="target_accept")
    if parametrization not in ("marginal", "noncentered"):
        raise InputError(f"unknown parametrization {parametrization!r}", expected="marginal | noncentered")


def fit(
    table: pd.DataFrame,
    *,
    engine: str = "pymc",
    model: str = "auto",
    moderators: Sequence[str] | None = None,
    priors: Priors | dict | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = DEFAULT_SEED,
    sampler: str = "pymc",
    target_accept: float = DEFAULT_TARGET_ACCEPT,
    thresholds: Sequence[float] | None = None,
    progressbar: bool = False,
    cores: int | None = None,
    parametrization: str = "marginal",
    prior_mu_sd: float | None = None,
    prior_tau: str | None = None,
    prior_sigma: str | None = None,
    keep_effects: bool | None = None,
    unknown_vi: str = "model",
    min_probability: float = SELECTION_THRESHOLD,
    prior: bool = False,
    grid: int = 801,
    rho: float | None = None,
    shared_baseline: bool = False,
    levels: bool = True,
    quadrature: bool = False,
) -> BayesResult:
    """Bayesian pooling of one property's effect table (NUTS, or the exact quadrature).

    Parameters
    ----------
    table : DataFrame
        One property's effect table (:func:`metaquant.for_property`).
    engine : {"pymc", "exact"}
        ``pymc``: NUTS on the model below (``sampler`` chooses the NUTS
        implementation); ``exact``: :func:`metaquant.bayes.fit_exact`, the
        random-effects model by quadrature (no moderators, no multilevel
        model; the sampler settings are not used).
    model : {"auto", "re", "multilevel"}
        ``auto``: ``multilevel`` when some study gives more than one row,
        else ``re`` (the normal-normal random-effects model).
    moderators : list of str, optional
        Meta-regression: ``mu`` becomes ``b0 + x'b``; ``bits`` and
        ``act_bits`` enter as ``log2`` centred at their mean, other numeric
        columns centred, text columns (or ``COL:cat``) treatment-coded.  With
        one moderator, ``predictions`` holds :meth:`BayesResult.predict_levels`.
    priors : Priors or dict, optional
        Defaults: ``mu ~ N(0, 1)``, ``tau ~ HalfNormal(0.5)``,
        ``sigma_resid ~ HalfNormal(0.25)``, ``beta ~ N(0, 1)``.
    prior_mu_sd, prior_tau, prior_sigma : optional
        Shortcuts overriding ``priors``: ``mu ~ N(0, prior_mu_sd)``,
        ``prior_tau="halfnormal:S"`` or ``"halfcauchy:S"``.
    draws, tune, chains : int
        Posterior draws and tuning steps per chain.
    seed : int
        Seeds the sampler, the starting points and the exact conditional
        draws; equal seeds give identical numbers (default
        :data:`metaquant.bayes.DEFAULT_SEED`).
    sampler : {"pymc", "nutpie", "numpyro"}
        NUTS implementation; ``nutpie`` and ``numpyro`` are optional extras.
    target_accept : float
        NUTS step-size adaptation target (0.95 by default).
    thresholds : 6 floats, optional
        SSM cut-points in %; the property's by default.
    progressbar : bool
    cores : int, optional
        Processes for the chains.  ``None`` means one: the marginal models
        have two or three free parameters, and starting worker processes
        (which re-link the compiled model) costs more than the chains take.
        Results are reproducible for equal ``seed`` and equal ``cores``.
    parametrization : {"marginal", "noncentered"}
        See :mod:`metaquant.bayes.models`; ``marginal`` has no funnel.
    keep_effects : bool, optional
        Store the comparison effects ``theta`` (draws x k numbers);
        default: when that is at most 2e7 numbers.
    unknown_vi : str
        ``"model"``: rows without a sampling variance are modelled with
        ``sigma_resid``.  The rows are pooled as given: another policy
        (``drop``, ``impute-max``, ``refuse``, ...) is applied on the fitting
        road (``metaquant.fit(..., variance_policy=...)``) and here refuses a
        table with such rows (:func:`metaquant.bayes.data.rows_as_given`).
    min_probability : float
        A label is stated only when its zones hold at least this posterior
        probability (:func:`metaquant.scale.decide_label`).
    prior : bool
        Also draw ``draws x chains`` times from the prior: ``prior`` and
        ``prior_predictive`` groups of the InferenceData.
    grid : int
        Quadrature nodes of the exact engine.
    rho, shared_baseline :
        Correlated sampling errors (the known ``V`` of the classical
        multilevel model): rows of one study correlated at ``rho``, or arms
        sharing a baseline (``baseline_group``) as
        :func:`metaquant.evidence.covariance.shared_baseline`; see
        :func:`metaquant.bayes.data.prepare`.  PyMC engine only.
    levels : bool
        With one moderator, attach :meth:`BayesResult.predict_levels` as
        ``predictions`` (the fitting road attaches them itself and passes ``False``).
    quadrature : bool
        Compute the posterior of the same model by quadrature over its 1-3 standard deviations
        (:func:`metaquant.bayes.exact_multilevel.fit_quadrature`) wherever that is possible
        (independent sampling errors, the marginal parametrization, the ``pymc`` sampler, no prior
        draws); elsewhere NUTS runs and a note says why.  The command line's default.

    Returns
    -------
    BayesResult
        (:class:`~metaquant.bayes.exact.ExactResult` with ``engine="exact"``.)
    """
    if engine not in ENGINES:
        raise InputError(f"unknown Bayesian engine {engine!r}", column="engine", expected=" | ".join(ENGINES))
    _check_settings(draws, tune, chains, sampler, target_accept, parametrization)
    if not 0.0 < float(min_probability) <= 1.0:
        raise InputError(f"min_probability must be in (0, 1], got {min_probability!r}", column="min_probability")
    check_rules("exact" if engine == "exact" else "bayes", moderators=tuple(moderators or ()),
                model=normalise_model(model), rho=rho, shared_baseline=shared_baseline)
    if engine == "exact":
        from .exact import fit_exact

        return fit_exact(table, priors=priors, thresholds=thresholds, grid=grid, unknown_vi=unknown_vi,
                         prior_mu_sd=prior_mu_sd, prior_tau=prior_tau, prior_sigma=prior_sigma,
                         min_probability=min_probability)
    pri = as_priors(priors, prior_mu_sd=prior_mu_sd, prior_tau=prior_tau, prior_sigma=prior_sigma)
    unknown_vi = rows_as_given(table, unknown_vi)
    md = prepare(table, model=model, moderators=moderators, thresholds=thresholds, rho=rho,
                 shared_baseline=shared_baseline)
    if md.sampling_cov != "independent":
        md.notes.append(md.sampling_cov)
    if quadrature:
        from .exact_multilevel import QUADRATURE_NOTE, fit_quadrature, reach

        why = reach(md, parametrization, sampler, prior)
        if why is None:
            with single_threaded_blas():
                res = fit_quadrature(md, pri, min_probability=min_probability,
                                     settings={"seed": int(seed), "chains": int(chains), "draws": int(draws)})
            res.notes.append(QUADRATURE_NOTE)
            res.settings["unknown_vi"] = unknown_vi
            if levels and moderators is not None and len(moderators) == 1:  # the road attaches its own
                res.predictions = res.predict_levels(list(moderators)[0], table.reset_index(drop=True))
            return res
        md.notes.append(f"MCMC used, not quadrature: {why}")
    res = _fit_prepared(md, pri, draws=draws, tune=tune, chains=chains, seed=seed, sampler=sampler,
                        target_accept=target_accept, progressbar=progressbar, cores=cores,
                        parametrization=parametrization, keep_effects=keep_effects, min_probability=min_probability,
                        prior=prior)
    res.settings["unknown_vi"] = unknown_vi
    if levels and moderators is not None and len(moderators) == 1:  # a direct call; the road attaches its own
        res.predictions = res.predict_levels(list(moderators)[0], table.reset_index(drop=True))
    return res


def _fit_prepared(md, pri, *, draws, tune, chains, seed, sampler, target_accept, progressbar, cores,
                  parametrization, keep_effects, min_probability=SELECTION_THRESHOLD, prior=False):
    seed = int(seed)
    t0 = time.perf_counter()
    compiles_before = _STATS["compiles"]
    with _quiet(not progressbar), warnings.catch_warnings(), single_threaded_blas():
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*BLAS.*")
        bm = _get_model(md, pri, parametrization)
        kw = dict(draws=int(draws), tune=int(tune), chains=int(chains), seed=seed, target_accept=float(target_accept),
                  progressbar=progressbar, cores=cores)
        with InterruptGuard(chains=int(chains), draws=int(draws)) as guard:
            if sampler == "pymc":
                kw["cores"] = 1 if kw["cores"] is None else int(kw["cores"])
                posterior, stats = _sample_pymc(bm, callback=guard.callback, **kw)
            elif sampler == "nutpie":
                posterior, stats = _sample_nutpie(bm, md, pri, **kw)
            else:
                posterior, stats = _sample_numpyro(bm, **kw)
            guard.check(posterior)
        idata = _assemble(md, pri, bm, posterior, stats, seed, keep_effects, prior=prior)
    settings = {
        "sampler": sampler, "parametrization": parametrization, "draws": int(draws), "tune": int(tune),
        "chains": int(chains), "seed": seed, "target_accept": float(target_accept),
        "compiled": _STATS["compiles"] > compiles_before, "time_s": time.perf_counter() - t0,
    }
    notes = []
    if "log_likelihood" not in idata.groups():
        notes.append(f"no log_likelihood / replicated y stored: {md.k} rows x {int(draws) * int(chains)} draws "
                     f"exceed {MAX_EFFECT_NUMBERS:.0e} numbers")
    return BayesResult.from_idata(md, pri, idata, settings, min_probability=min_probability, notes=notes)


def fit_many(
    tables: Mapping[str, pd.DataFrame] | pd.DataFrame,
    **kwargs,
) -> dict[str, BayesResult]:
    """Fit several effect tables, reusing compiled models across them.

    Parameters
    ----------
    tables : dict of name -> DataFrame, or one effect table of several properties
        A DataFrame with a ``property`` column is split by property.
    **kwargs
        As :func:`fit`.  Tables of equal model structure (model kind,
        parametrization, presence of unknown variances, prior families,
        moderators or not) share one compiled model: the data are swapped into
        its ``pm.Data`` containers, so only the first of them compiles.

    Returns
    -------
    dict of name -> BayesResult, in the order given.
    """
    if isinstance(tables, pd.DataFrame):
        if "property" not in tables.columns:
            raise InputError("fit_many needs a dict of tables or a table with a 'property' column")
        tables = {str(p): t.reset_index(drop=True) for p, t in tables.groupby("property", sort=True)}
    out = {}
    for name, tab in tables.items():
        out[name] = fit(tab, **kwargs)
    return out
