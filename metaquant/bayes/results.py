"""Results of the Bayesian engine: the posterior read on SSM's scale, diagnostics, saving."""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import scale
from ..errors import ConvergenceWarning, DiagnosticsError, InputError
from ..evidence.effects import pct_from_log
from ..outputs import json_safe as clean
from ..progress import beside_limit
from ..results import design_rows, failed_reason, measure_of, withhold
from .data import MetaData
from .priors import Priors

#: Diagnostics policy (Vehtari et al. 2021, Bayesian Analysis 16(2), doi:10.1214/20-BA1221).
RHAT_MAX = 1.01
ESS_MIN = 400
CI_LEVEL = 0.95
_Q = ((1 - CI_LEVEL) / 2, 1 - (1 - CI_LEVEL) / 2)


@contextmanager
def single_threaded_blas():
    """Limit BLAS to one thread: the matrices here are tiny, and threaded BLAS busy-waits.

    On a machine whose cores are all busy, a 2x2 triangular solve in a
    threaded OpenBLAS was measured at 6.5 ms instead of 1 us.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with PyMC and scikit-learn
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def draw_summary(x: np.ndarray, prefix: str) -> dict[str, float]:
    """Mean, sd, median and central 95 % interval of draws, keyed ``{prefix}_mean`` etc."""
    x = np.asarray(x, dtype=float).ravel()
    lo, hi = np.quantile(x, _Q)
    return {
        f"{prefix}_mean": float(np.mean(x)),
        f"{prefix}_sd": float(np.std(x, ddof=1)) if x.size > 1 else float("nan"),
        f"{prefix}_median": float(np.median(x)),
        f"{prefix}_ci_low": float(lo),
        f"{prefix}_ci_high": float(hi),
    }


def scale_reading(zone_probs: dict[str, float], min_probability: float = scale.SELECTION_THRESHOLD) -> dict:
    """The SSM label of 13 zone probabilities, decided or not (:func:`metaquant.scale.decide_label`)."""
    return scale.decide_label(zone_probs, min_probability=min_probability)


@dataclass(frozen=True)
class Marginal:
    """Posterior mean, sd, median and central 95 % interval (2.5/97.5 % quantiles) of one quantity."""

    mean: float
    sd: float
    median: float
    ci_low: float
    ci_high: float

    @classmethod
    def of_draws(cls, x) -> Marginal:
        d = draw_summary(x, "x")
        return cls(d["x_mean"], d["x_sd"], d["x_median"], d["x_ci_low"], d["x_ci_high"])

    def flat(self, prefix: str) -> dict[str, float]:
        """``{prefix}_mean``, ``{prefix}_sd``, ``{prefix}_median``, ``{prefix}_ci_low``, ``{prefix}_ci_high``."""
        return {f"{prefix}_{k}": getattr(self, k) for k in ("mean", "sd", "median", "ci_low", "ci_high")}


def level_reading(draws: np.ndarray, hib: bool, thresholds, min_probability: float) -> dict:
    """Summary of draws of a pooled log ratio on both scales, with zone probabilities and the decided label.

    ``pct`` is the back-transformed median (the headline), ``pct_mean`` the
    mean of the transformed draws; the interval is the back-transformed
    2.5/97.5 % quantiles, so the % headline has the sign of the log ratio.
    """
    x = np.asarray(draws, dtype=float).ravel()
    m = Marginal.of_draws(x)
    pct = pct_from_log(x, hib)
    zp = scale.zone_probabilities_from_draws(pct, thresholds)
    out = {"mean": m.mean, "sd": m.sd, "median": m.median, "ci_low": m.ci_low, "ci_high": m.ci_high,
           "pct": float(pct_from_log(m.median, hib)), "pct_mean": float(np.mean(pct)),
           "pct_ci_low": float(pct_from_log(m.ci_low, hib)), "pct_ci_high": float(pct_from_log(m.ci_high, hib))}
    dec = scale_reading(zp, min_probability)
    out.update({k: dec[k] for k in ("label_code", "label", "label_probability", "label_selected", "label_zones")})
    out["zone_probabilities"] = zp
    return out


def label_fields(zp: dict, pzp: dict | None, min_probability: float) -> dict:
    """The label attributes of a :class:`BayesResult` from zone probabilities (mu's and a new study's)."""
    dec = scale_reading(zp, min_probability)
    out = {"label_code": dec["label_code"], "label": dec["label"], "label_probability": dec["label_probability"],
           "label_selected": dec["label_selected"], "label_zones": list(dec["label_zones"]),
           "label_reason": dec["reason"], "min_probability": float(min_probability)}
    if pzp is not None:
        out["pred_label_code"] = scale_reading(pzp, min_probability)["label_code"]
    return out


def mcmc_diagnostics(idata) -> dict:
    """R-hat, bulk/tail ESS, divergences and MCSE of ``mu``, with the checks that failed.

    A check that cannot be computed (one chain, too few draws) fails: an
    R-hat needs at least 2 chains of at least 4 draws, and a NaN ESS or MCSE
    is reported as such (Vehtari et al. 2021).
    """
    import logging

    import arviz as az

    post = idata.posterior
    names = [n for n in ("mu", "tau", "tau_study", "tau_within", "sigma_resid", "beta") if n in post]
    nchain, ndraw = int(post.sizes["chain"]), int(post.sizes["draw"])
    sub = post[names]
    lg = logging.getLogger("arviz")
    level = lg.level
    lg.setLevel(logging.ERROR)  # a single chain is reported below, not logged
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            rhat = az.rhat(sub)
            ess_b = az.ess(sub, method="bulk")
            ess_t = az.ess(sub, method="tail")
            mcse = float(az.mcse(post[["mu"]])["mu"].values)
    finally:
        lg.setLevel(level)

    def _ext(ds, fn):
        vals = np.concatenate([np.asarray(ds[v].values, dtype=float).ravel() for v in ds.data_vars])
        return float(fn(vals)) if vals.size and np.isfinite(vals).all() else float("nan")

    stats = idata.sample_stats
    div = int(np.asarray(stats["diverging"].values).sum()) if "diverging" in stats else 0
    d = {"r_hat_max": _ext(rhat, np.max), "ess_bulk_min": _ext(ess_b, np.min), "ess_tail_min": _ext(ess_t, np.min),
         "divergences": div, "mcse_mu_mean": mcse, "chains": nchain, "draws": ndraw}
    problems = []
    if div > 0:
        problems.append(f"{div} divergent transitions after tuning; raise target_accept or check the model")
    if nchain < 2 or ndraw < 4 or not math.isfinite(d["r_hat_max"]):
        problems.append(f"R-hat could not be computed ({nchain} chain(s) of {ndraw} draws; it needs at least 2 "
                        "chains of at least 4 draws), so convergence is not checked")
    elif d["r_hat_max"] > RHAT_MAX:
        problems.append(f"R-hat {beside_limit(d['r_hat_max'], RHAT_MAX)} > {RHAT_MAX}: chains disagree; draw more")
    if not math.isfinite(d["ess_bulk_min"]):
        problems.append("bulk ESS could not be computed; draw more")
    elif d["ess_bulk_min"] < ESS_MIN:
        problems.append(f"bulk ESS {beside_limit(d['ess_bulk_min'], ESS_MIN, 0)} < {ESS_MIN}: draw more")
    if not math.isfinite(mcse):
        problems.append("the Monte Carlo standard error of mu could not be computed; draw more")
    d["problems"] = problems
    return d


def _atomic_write(path: Path, writer, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise InputError(f"{path} exists; refusing to overwrite it", path=str(path), expected="overwrite=True")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        writer(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


#: Diagnostic keys of the MCMC engine (``None`` for the exact engine).
DIAGNOSTIC_KEYS = ("r_hat_max", "ess_bulk_min", "ess_tail_min", "divergences", "mcse_mu_mean")


@dataclass(kw_only=True)
class BayesResult:
    """The posterior of one pooling problem, read on SSM's scale (PyMC engine; base of the exact engine's).

    Follows the result protocol of :mod:`metaquant.results`.  Every number
    reported is a declared attribute; :meth:`to_dict` flattens them into the
    keys the CLI prints.

    Attributes
    ----------
    data : MetaData
        The arrays that were pooled (property, thresholds, design).
    priors : Priors
    settings : dict
        Sampler, draws, tune, chains, seed, target_accept, parametrization (``None`` for the exact engine).
    idata : arviz.InferenceData or None
        ``posterior`` (``mu``, ``mu_pct``, ``tau`` = the total heterogeneity,
        ``tau_study``/``tau_within`` in the multilevel model, ``sigma_resid``,
        ``beta``, the comparison effects ``theta`` and study effects ``u``),
        ``log_likelihood`` (``y``: pointwise, one term per row),
        ``posterior_predictive`` (``y``: replicated effects, same name and
        dims as ``observed_data``; ``theta_new``/``theta_new_pct``: the effect
        in a new study), ``prior``/``prior_predictive`` when asked,
        ``sample_stats``, ``observed_data`` (``y``) and ``constant_data``.
        ``None`` for the exact engine.
    engine : {"bayes", "exact"}
    mu : Marginal
        The pooled log ratio (the intercept with moderators; see :meth:`reference`).
    effect_pct : Marginal
        The same on the % scale; its ``median``, ``ci_low``, ``ci_high`` are
        the back-transformed ones of ``mu`` (the headline), its ``mean`` and
        ``sd`` those of the transformed draws.
    tau : Marginal
        Total heterogeneity, ``sqrt(tau_study^2 + tau_within^2)`` in the multilevel model.
    tau_study, tau_within, sigma_resid : Marginal or None
    p_positive : float
        P(mu > 0).
    pi_low, pi_high, pct_pi_low, pct_pi_high : float
        95 % prediction interval of a new study's effect (log ratio and %).
    zone_probabilities, pred_zone_probabilities : dict
        P(effect in each of the 13 zones) for ``mu`` and for a new study.
    label_code : str or None
        The decided label (:func:`metaquant.scale.decide_label`); ``None`` when
        the evidence does not decide.
    label : str
        Its name, or "no label: the evidence does not decide".
    label_probability : float
        P(effect in the zones of ``label_selected``) = sum over ``label_zones``.
    label_selected : str
        The label the 0.75 rule selects, decided or not.
    label_zones : list of str
        The zones ``label_selected`` spans (one for an atom, three for a pair).
    label_reason : str or None
        Why no label was decided.
    min_probability : float
        The probability a label's zones must hold to be stated.
    pred_label_code : str or None
        The decided label of a new study's effect.
    coefficients : list of dict
        Meta-regression slopes (``name``, ``mean``, ``sd``, ``ci_low``, ``ci_high``, ``centre``).
    predictions : list of dict
        :meth:`predict_levels` of a single moderator (filled by :func:`metaquant.bayes.fit`).
    diagnostics : dict
        ``r_hat_max``, ``ess_bulk_min``, ``ess_tail_min``, ``divergences``,
        ``mcse_mu_mean``, ``chains``, ``draws`` and ``problems`` (the failed checks).
    ok : bool
        Every diagnostic could be computed and passed.
    notes : list of str
        What was done that a reader must know (data preparation, rows dropped).
    warnings : list of str
        Failed diagnostics (also emitted as :class:`~metaquant.errors.ConvergenceWarning`).
    """

    data: MetaData = field(repr=False)
    priors: Priors
    settings: dict = field(repr=False)
    idata: object | None = field(default=None, repr=False)
    engine: str = "bayes"
    mu: Marginal
    effect_pct: Marginal
    tau: Marginal
    tau_study: Marginal | None = None
    tau_within: Marginal | None = None
    sigma_resid: Marginal | None = None
    p_positive: float
    pi_low: float
    pi_high: float
    pct_pi_low: float
    pct_pi_high: float
    zone_probabilities: dict = field(repr=False)
    pred_zone_probabilities: dict = field(repr=False)
    label_code: str | None
    label: str
    label_probability: float
    label_selected: str
    label_zones: list
    label_reason: str | None = None
    min_probability: float = scale.SELECTION_THRESHOLD
    pred_label_code: str | None = None
    coefficients: list = field(default_factory=list)
    predictions: list = field(default_factory=list, repr=False)
    diagnostics: dict = field(default_factory=dict)
    ok: bool = True
    notes: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    #: The specification it was fitted with (:class:`~metaquant.spec.FitSpec`; set by the fitting road).
    spec: object = field(default=None, repr=False, compare=False)
    #: The effect rows it pooled, variance policy applied (``len(rows) == k``; set by the fitting road).
    rows: object = field(default=None, repr=False, compare=False)

    # ---------------------------------------------------------------- build
    @classmethod
    def from_idata(cls, data: MetaData, priors: Priors, idata, settings: dict, *,
                   min_probability: float = scale.SELECTION_THRESHOLD, notes: list[str] | None = None) -> BayesResult:
        """Read an InferenceData (from :func:`metaquant.bayes.fit`): summaries, SSM reading, diagnostics."""
        md = data
        hib = md.higher_is_better
        post = idata.posterior

        def draws(name, group="posterior"):
            return np.asarray(getattr(idata, group)[name].values, dtype=float)

        mu = draws("mu")
        pct = pct_from_log(mu, hib)
        mm = Marginal.of_draws(mu)
        pm_ = Marginal.of_draws(pct)
        effect_pct = Marginal(pm_.mean, pm_.sd, float(pct_from_log(mm.median, hib)),
                              float(pct_from_log(mm.ci_low, hib)), float(pct_from_log(mm.ci_high, hib)))
        opt = {n: Marginal.of_draws(draws(n)) for n in ("tau_study", "tau_within", "sigma_resid") if n in post}
        new = draws("theta_new", "posterior_predictive").ravel()
        lo, hi = np.quantile(new, _Q)
        zp = scale.zone_probabilities_from_draws(pct, md.thresholds)
        pzp = scale.zone_probabilities_from_draws(pct_from_log(new, hib), md.thresholds)
        coefs = []
        if "beta" in post:
            b = draws("beta")
            for j, name in enumerate(md.coef_names):
                m = Marginal.of_draws(b[..., j])
                coefs.append({"name": name, "mean": m.mean, "sd": m.sd, "ci_low": m.ci_low, "ci_high": m.ci_high,
                              "centre": md.centres.get(name)})
        diag = mcmc_diagnostics(idata)
        problems = diag["problems"]
        where = f"{md.prop}: " if md.prop else ""
        for msg in problems:
            warnings.warn(where + msg, ConvergenceWarning, stacklevel=4)
        labels = label_fields(zp, pzp, min_probability)
        if problems:  # no finding from a failed fit (metaquant.results.withhold)
            why = failed_reason({"ok": False, "engine": "bayes", "diagnostics": diag})
            labels.update(label_code=None, label=f"no label: {why}", label_probability=None, label_selected=None,
                          label_zones=[], label_reason=why, pred_label_code=None)
        return cls(
            data=md, priors=priors, settings=settings, idata=idata, engine="bayes", mu=mm, effect_pct=effect_pct,
            tau=Marginal.of_draws(draws("tau")), **opt, p_positive=float(np.mean(mu > 0)),
            pi_low=float(lo), pi_high=float(hi), pct_pi_low=float(pct_from_log(lo, hib)),
            pct_pi_high=float(pct_from_log(hi, hib)), zone_probabilities=zp, pred_zone_probabilities=pzp,
            **labels, coefficients=coefs, diagnostics=diag, ok=not problems,
            notes=list(md.notes) + list(notes or []), warnings=list(problems),
        )

    # ---------------------------------------------------------------- the protocol
    @property
    def method(self) -> str:
        """Old name of :attr:`engine` (kept for ``to_dict()["method"]``)."""
        return self.engine

    @property
    def pct(self) -> float | None:
        """Headline % effect: the back-transformed posterior median of ``mu``; ``None`` when the checks failed."""
        return self.effect_pct.median if self.ok else None

    @property
    def pct_ci_low(self) -> float | None:
        return self.effect_pct.ci_low if self.ok else None

    @property
    def pct_ci_high(self) -> float | None:
        return self.effect_pct.ci_high if self.ok else None

    @property
    def pct_mean(self) -> float:
        """Mean of the transformed draws (not the headline: its sign can differ from ``mu``'s)."""
        return self.effect_pct.mean

    # ---------------------------------------------------------------- read
    def mu_draws(self) -> np.ndarray:
        """Posterior draws of ``mu`` (flat), for the engines that have them."""
        if self.idata is None:
            raise InputError(f"the {self.engine} engine has no posterior draws")
        return np.asarray(self.idata.posterior["mu"].values, dtype=float).reshape(-1)

    def _level_draws(self, x: np.ndarray) -> np.ndarray:
        """Draws of ``mu + x' beta`` for a centred covariate row ``x`` (one entry per coefficient)."""
        mu = self.mu_draws()
        if not self.data.coef_names:
            return mu
        beta = np.asarray(self.idata.posterior["beta"].values, dtype=float).reshape(mu.size, -1)
        return mu + beta @ x

    def _level_reading(self, x: np.ndarray) -> dict:
        """:func:`level_reading` of ``mu + x' beta`` (``x`` a centred covariate row)."""
        md = self.data
        return level_reading(self._level_draws(x), md.higher_is_better, md.thresholds, self.min_probability)

    def predict_levels(self, moderator_spec: str, table: pd.DataFrame) -> list[dict]:
        """The posterior of the pooled effect at each observed level of one moderator.

        For level ``x`` the draws of ``mu + (x - centre)' beta`` (other
        moderators at their centre or reference level) are summarised on the
        log and % scales, with zone probabilities and the decided label, so a
        meta-regression on bits reads as "the effect at 8, 4, 2 bits".

        Parameters
        ----------
        moderator_spec : str
            One of the fit's moderators, as given (``"bits"``, ``"bits:cat"``).
        table : DataFrame
            The effect table that was fitted (its levels and row counts are read).

        Returns
        -------
        list of dict
            One per level, highest first: ``moderator``, ``level``, ``k``,
            ``mean``, ``sd``, ``median``, ``ci_low``, ``ci_high`` (log ratio),
            ``pct`` (back-transformed median), ``pct_mean``, ``pct_ci_low``,
            ``pct_ci_high``, ``label_code``, ``label``, ``label_probability``,
            ``label_selected``, ``label_zones``, ``zone_probabilities``.
        """
        from ..evidence.effects import level_count, moderator_columns, moderator_levels, moderator_matrix

        md = self.data
        if moderator_spec not in md.moderators:
            raise InputError(f"{moderator_spec!r} is not a moderator of this fit",
                             expected=" | ".join(md.moderators) if md.moderators else "a fit with moderators")
        levels_df, level_names = moderator_levels(table, moderator_spec)
        Xn, names = moderator_matrix(levels_df, [moderator_spec])
        pos = {n: j for j, n in enumerate(md.coef_names)}
        missing = [n for n in names if n not in pos]
        mod = ", ".join(moderator_columns(moderator_spec))
        if missing:
            raise InputError(f"the table's levels of {mod!r} give columns the fit does not have: {missing}",
                             column=mod, expected="the table that was fitted")
        out = []
        for lev, (_, lrow), row in zip(level_names, levels_df.iterrows(), Xn, strict=True):
            x = np.zeros(len(md.coef_names))
            for j, n in enumerate(names):
                x[pos[n]] = row[j] - md.centres.get(n, 0.0)
            rd = self._level_reading(x)
            out.append({"moderator": mod, "level": lev, "k": level_count(table, moderator_spec, lrow), **rd})
        return out

    def predict_new(self, X) -> dict:
        """The posterior read at design rows ``X`` (the fit's moderator columns, uncentred, no intercept).

        Per row: the expected effect ``mu + (x - centre)' beta`` (its posterior
        median and 2.5/97.5 % quantiles: ``pred``, ``ci_low``, ``ci_high``) and
        the effect in one new study, which adds a draw of the between-study
        effect ``u ~ N(0, tau^2)`` for each posterior draw of ``tau`` (the total
        heterogeneity; ``pi_low``, ``pi_high``).  The SSM label is read off the
        new study's draws (zone probabilities and the decided label of the
        first row).  Draws of ``u`` use the fit's seed, so the same fit gives
        the same numbers.
        """
        md = self.data
        X = design_rows(X, list(md.coef_names), argument="X")
        if self.idata is None:
            raise InputError(f"the {self.engine} engine has no posterior draws to predict from",
                             expected="engine='pymc'")
        tau = np.asarray(self.idata.posterior["tau"].values, dtype=float).reshape(-1)
        rng = np.random.default_rng(int(self.settings.get("seed") or 0))
        u = rng.normal(0.0, 1.0, tau.size) * tau
        centre = np.array([md.centres.get(n, 0.0) for n in md.coef_names])
        cols = {k: [] for k in ("pred", "ci_low", "ci_high", "pi_low", "pi_high")}
        first = None
        for x in X:
            draws = self._level_draws(x - centre)
            new = draws + u
            q = np.quantile(draws, [0.5, 0.025, 0.975])
            qn = np.quantile(new, [0.025, 0.975])
            for key, v in zip(("pred", "ci_low", "ci_high", "pi_low", "pi_high"), (*q, *qn), strict=True):
                cols[key].append(float(v))
            if first is None:
                first = level_reading(new, md.higher_is_better, md.thresholds, self.min_probability)
        out = {k: np.asarray(v) for k, v in cols.items()}
        out.update(label_code=first["label_code"], label_probability=first["label_probability"],
                   zone_probabilities=first["zone_probabilities"])
        return out

    def to_dict(self) -> dict:
        """Everything the CLI prints, JSON-ready (NaN -> None).

        Keys: ``engine`` and ``method`` (both ``"bayes"`` or ``"exact"``),
        ``model``, ``property``, ``k``, ``n_studies``, ``n_unknown_vi``,
        ``mu_*`` (log ratio: mean, sd, median, ci_low, ci_high = 2.5/97.5 %
        quantiles), ``pct`` (the headline: back-transformed median of ``mu``),
        ``pct_median`` (the same), ``pct_ci_low``/``pct_ci_high``
        (back-transformed quantiles), ``pct_mean``/``pct_sd`` (of the
        transformed draws), ``pct_headline`` (``"median"``), ``tau_*`` (total
        heterogeneity) and ``tau_study_*``, ``tau_within_*``,
        ``sigma_resid_*``, ``pi_low``/``pi_high`` and ``pct_pi_*`` (95 %
        prediction interval of the effect in a new study), ``p_positive``,
        ``label`` (or "no label: ..."), ``label_code`` (``None`` when
        undecided), ``label_probability`` (sum over ``label_zones``),
        ``label_selected``, ``label_zones``, ``label_reason``,
        ``min_probability``, ``zone_probabilities`` (13),
        ``pred_zone_probabilities``, ``pred_label_code``, ``coefficients``,
        ``predictions``, the diagnostics flat (``r_hat_max``,
        ``ess_bulk_min``, ``ess_tail_min``, ``divergences``,
        ``mcse_mu_mean``) and nested (``diagnostics``), ``ok``, ``notes``,
        ``warnings`` (notes and failed diagnostics), ``priors`` and the
        settings (``seed``, ``sampler``, ``draws``, ``tune``, ``chains``, ...).
        """
        md = self.data
        d = {
            "engine": self.engine,
            "method": self.engine,
            "model": md.model,
            "property": md.prop,
            "higher_is_better": md.higher_is_better,
            "thresholds": list(md.thresholds),
            "k": md.k,
            "n_studies": md.n_studies,
            "n_unknown_vi": md.n_unknown,
            "moderators": list(md.moderators),
            "reference": self.reference(),
        }
        d.update(self.mu.flat("mu"))
        d.update(self.effect_pct.flat("pct"))
        d.update(pct=self.pct, pct_headline="median", p_positive=self.p_positive)
        d.update(self.tau.flat("tau"))
        for name in ("tau_study", "tau_within", "sigma_resid"):
            m = getattr(self, name)
            if m is not None:
                d.update(m.flat(name))
        d.update(pi_low=self.pi_low, pi_high=self.pi_high, pct_pi_low=self.pct_pi_low, pct_pi_high=self.pct_pi_high)
        for key in ("zone_probabilities", "label", "label_code", "label_probability", "label_selected", "label_zones",
                    "label_reason", "min_probability", "pred_zone_probabilities", "pred_label_code"):
            d[key] = getattr(self, key)
        d["coefficients"] = [dict(c) for c in self.coefficients]
        d["predictions"] = [dict(p) for p in self.predictions]
        d.update({k: self.diagnostics.get(k) for k in DIAGNOSTIC_KEYS})
        d["diagnostics"] = dict(self.diagnostics)
        d["ok"] = bool(self.ok)
        d["notes"] = list(self.notes)
        d["warnings"] = list(self.notes) + list(self.warnings)
        d["priors"] = self.priors.to_dict()
        d.update(self.settings)
        d["measure"] = measure_of(self)
        return clean(withhold(d))

    def to_frame(self) -> pd.DataFrame:
        """Tidy frame: one row per quantity (``mu``, ``pct``, scales, prediction, slopes, zones, levels).

        ``estimate`` is the posterior median (``pct``: the back-transformed
        median of ``mu``), ``ci_low``/``ci_high`` the 2.5/97.5 % quantiles;
        extra columns ``mean`` and ``sd``.  Zone rows (``zone[WP]``) hold the
        probability in ``estimate``.
        """
        from ..results import tidy_frame

        rows = [{"term": "mu", "estimate": self.mu.median, "ci_low": self.mu.ci_low, "ci_high": self.mu.ci_high,
                 "mean": self.mu.mean, "sd": self.mu.sd},
                {"term": "pct", "estimate": self.pct, "ci_low": self.pct_ci_low, "ci_high": self.pct_ci_high,
                 "mean": self.pct_mean, "sd": self.effect_pct.sd}]
        for name in ("tau", "tau_study", "tau_within", "sigma_resid"):
            m = getattr(self, name)
            if m is not None:
                rows.append({"term": name, "estimate": m.median, "ci_low": m.ci_low, "ci_high": m.ci_high,
                             "mean": m.mean, "sd": m.sd})
        rows.append({"term": "theta_new", "ci_low": self.pi_low, "ci_high": self.pi_high})
        rows.append({"term": "theta_new_pct", "ci_low": self.pct_pi_low, "ci_high": self.pct_pi_high})
        rows += [{"term": f"beta[{c['name']}]", "estimate": None, "ci_low": c["ci_low"], "ci_high": c["ci_high"],
                  "mean": c["mean"], "sd": c["sd"]} for c in self.coefficients]
        rows += [{"term": f"pct at {p['moderator']} = {p['level']}", "estimate": p["pct"], "ci_low": p["pct_ci_low"],
                  "ci_high": p["pct_ci_high"], "mean": p["pct_mean"]} for p in self.predictions]
        rows += [{"term": f"zone[{z}]", "estimate": p} for z, p in self.zone_probabilities.items()]
        df = tidy_frame(rows, prop=self.data.prop, engine=self.engine)
        return df.astype({c: float for c in ("estimate", "ci_low", "ci_high", "mean", "sd")})

    def reference(self) -> str | None:
        """What ``mu`` means when there are moderators (the intercept's covariate values)."""
        md = self.data
        if not md.coef_names:
            return None
        parts = []
        for name, c in md.centres.items():
            if name.startswith("log2("):
                parts.append(f"{name[5:-1]} = {2.0 ** c:.3g} (mean of log2)")
            else:
                parts.append(f"{name} = {c:.4g} (mean)")
        cats = {n.partition("[")[0] for n in md.coef_names if "[" in n}
        for mod in sorted(cats):
            parts.append(f"{mod} at its reference level")
        return "mu is the effect at " + ", ".join(parts)

    def summary(self, var_names: list[str] | None = None) -> pd.DataFrame:
        """Tidy table of the posterior (``arviz.summary``), pooled effect first.

        Rows: ``mu``, ``mu_pct``, the standard deviations, ``beta`` and the
        predictive ``theta_new``/``theta_new_pct``; columns of ArviZ
        (mean, sd, hdi_2.5%, hdi_97.5%, mcse, ess_bulk, ess_tail, r_hat).
        """
        import arviz as az

        post = self.idata.posterior
        names = var_names or [n for n in ("mu", "mu_pct", "tau", "tau_total", "tau_study", "tau_within",
                                          "sigma_resid", "beta") if n in post]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            a = az.summary(self.idata, var_names=names, hdi_prob=CI_LEVEL)
            b = az.summary(self.idata, group="posterior_predictive", var_names=["theta_new", "theta_new_pct"],
                           hdi_prob=CI_LEVEL, kind="stats")
        return pd.concat([a, b])

    def save(self, outdir: str | os.PathLike, *, overwrite: bool = False) -> dict[str, Path]:
        """Write ``posterior.nc`` (NetCDF of ``idata``) and ``summary.json`` into ``outdir``.

        Each file is written to a temporary file in the same folder and moved
        into place with ``os.replace``, so a reader never sees half a file.
        An existing file is an error unless ``overwrite=True``.
        """
        out = Path(outdir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"posterior": out / "posterior.nc", "summary": out / "summary.json"}
        if not overwrite:
            for p in paths.values():
                if p.exists():
                    raise InputError(f"{p} exists; refusing to overwrite it", path=str(p), expected="overwrite=True")
        _atomic_write(paths["posterior"], self._write_netcdf, overwrite)
        text = json.dumps(self.to_dict(), indent=2)

        def _write_json(tmp):
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")

        _atomic_write(paths["summary"], _write_json, overwrite)
        return paths

    def _write_netcdf(self, tmp: str) -> None:
        self.idata.to_netcdf(tmp)

    # defined last: inside the class body this name shadows the builtin ``property``
    @property
    def property(self) -> str | None:  # noqa: A003
        """The property pooled (``None`` for a table without a ``property`` column)."""
        return self.data.prop


def check(result: BayesResult, strict: bool = True) -> bool:
    """Raise :class:`~metaquant.errors.DiagnosticsError` (exit code 3) when diagnostics failed.

    With ``strict=False`` return ``result.ok`` instead of raising.
    """
    if result.ok:
        return True
    if strict:
        where = f"{result.data.prop}: " if result.data.prop else ""
        raise DiagnosticsError(where + "; ".join(w for w in result.warnings) + " (diagnostics failed)")
    return False
