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
from ..effects import pct_from_log
from ..errors import ConvergenceWarning, DiagnosticsError, InputError
from ..outputs import json_safe as clean
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


def scale_reading(zone_probs: dict[str, float]) -> dict:
    """The SSM label of 13 zone probabilities (0.75 rule, :func:`metaquant.scale.label_from_zone_probabilities`)."""
    sel = scale.label_from_zone_probabilities(zone_probs)
    return {"label": sel.name, "label_code": sel.code, "label_probability": float(sel.belief)}


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


@dataclass
class BayesResult:
    """The posterior of one pooling problem, read on SSM's scale.

    Attributes
    ----------
    data : MetaData
        The arrays that were pooled (property, thresholds, design).
    priors : Priors
    idata : arviz.InferenceData or None
        Groups ``posterior`` (``mu`` on the log-ratio scale, ``mu_pct`` in %,
        ``tau`` or ``tau_study``/``tau_within``/``tau_total``, ``sigma_resid``,
        ``beta``, the comparison effects ``theta`` and study effects ``u``),
        ``posterior_predictive`` (``theta_new``, ``theta_new_pct``: the effect
        in a new study), ``sample_stats``, ``observed_data`` (``y``) and
        ``constant_data`` (``vi``, ``vi_known``, ``study``).  ``None`` for the
        exact engine.
    settings : dict
        Sampler, draws, tune, chains, seed, target_accept, parametrization.
    warnings : list of str
        Diagnostics failures and notes (also emitted as
        :class:`~metaquant.errors.ConvergenceWarning`).
    """

    data: MetaData
    priors: Priors
    idata: object | None
    settings: dict
    warnings: list[str] = field(default_factory=list)
    _summary: dict = field(default_factory=dict, repr=False)
    method = "bayes"

    # ---------------------------------------------------------------- build
    def __post_init__(self):
        if self.idata is not None and not self._summary:
            self._summary = self._summarise()
            self._check_diagnostics()

    def _draws(self, name: str, group: str = "posterior") -> np.ndarray:
        return np.asarray(getattr(self.idata, group)[name].values, dtype=float)

    def _summarise(self) -> dict:
        md = self.data
        hib = md.higher_is_better
        mu = self._draws("mu")
        pct = pct_from_log(mu, hib)
        new = self._draws("theta_new", "posterior_predictive").ravel()
        out = draw_summary(mu, "mu")
        out.update(draw_summary(pct, "pct"))
        out["p_positive"] = float(np.mean(mu > 0))
        post = self.idata.posterior
        het = "tau_total" if "tau_total" in post else "tau"
        out.update(draw_summary(self._draws(het), "tau"))
        for name in ("tau_study", "tau_within", "sigma_resid"):
            if name in post:
                out.update(draw_summary(self._draws(name), name))
        lo, hi = np.quantile(new, _Q)
        out.update(pi_low=float(lo), pi_high=float(hi), pct_pi_low=float(pct_from_log(lo, hib)),
                   pct_pi_high=float(pct_from_log(hi, hib)))
        zp = scale.zone_probabilities_from_draws(pct, md.thresholds)
        out["zone_probabilities"] = zp
        out.update(scale_reading(zp))
        pzp = scale.zone_probabilities_from_draws(pct_from_log(new, hib), md.thresholds)
        out["pred_zone_probabilities"] = pzp
        out["pred_label_code"] = scale_reading(pzp)["label_code"]
        coefs = []
        if "beta" in post:
            b = self._draws("beta")
            for j, name in enumerate(md.coef_names):
                s = draw_summary(b[..., j], "x")
                coefs.append({"name": name, "mean": s["x_mean"], "sd": s["x_sd"], "ci_low": s["x_ci_low"],
                              "ci_high": s["x_ci_high"], "centre": md.centres.get(name)})
        out["coefficients"] = coefs
        out.update(self._diagnostics())
        return out

    def _main_vars(self) -> list[str]:
        post = self.idata.posterior
        names = ["mu", "tau", "tau_study", "tau_within", "sigma_resid", "beta"]
        return [n for n in names if n in post]

    def _diagnostics(self) -> dict:
        import logging

        import arviz as az

        sub = self.idata.posterior[self._main_vars()]
        lg = logging.getLogger("arviz")
        level = lg.level
        lg.setLevel(logging.ERROR)  # a single chain is reported below, not logged
        try:
            rhat = az.rhat(sub)
            ess_b = az.ess(sub, method="bulk")
            ess_t = az.ess(sub, method="tail")
        finally:
            lg.setLevel(level)

        def _ext(ds, fn):
            vals = [float(fn(np.asarray(ds[v].values))) for v in ds.data_vars]
            vals = [v for v in vals if math.isfinite(v)]
            return fn(np.asarray(vals)) if vals else float("nan")

        div = int(np.asarray(self.idata.sample_stats["diverging"].values).sum()) \
            if "diverging" in self.idata.sample_stats else 0
        mcse = az.mcse(self.idata.posterior[["mu"]])
        return {
            "r_hat_max": float(_ext(rhat, np.max)),
            "ess_bulk_min": float(_ext(ess_b, np.min)),
            "ess_tail_min": float(_ext(ess_t, np.min)),
            "divergences": div,
            "mcse_mu_mean": float(mcse["mu"].values),
        }

    def _check_diagnostics(self) -> None:
        s = self._summary
        problems = []
        if s["divergences"] > 0:
            problems.append(f"{s['divergences']} divergent transitions after tuning; raise target_accept "
                            "or check the model")
        if not math.isfinite(s["r_hat_max"]):
            problems.append("R-hat could not be computed (it needs at least 2 chains of at least 4 draws)")
        elif s["r_hat_max"] > RHAT_MAX:
            problems.append(f"R-hat {s['r_hat_max']:.3f} > {RHAT_MAX}: chains disagree; draw more")
        if not (s["ess_bulk_min"] >= ESS_MIN):
            problems.append(f"bulk ESS {s['ess_bulk_min']:.0f} < {ESS_MIN}: draw more")
        where = f"{self.data.prop}: " if self.data.prop else ""
        for msg in problems:
            self.warnings.append(msg)
            warnings.warn(where + msg, ConvergenceWarning, stacklevel=4)
        self._summary["diagnostics_ok"] = not problems

    # ---------------------------------------------------------------- read
    @property
    def ok(self) -> bool:
        """True when every diagnostic passed (R-hat <= 1.01, bulk ESS >= 400, no divergence)."""
        return bool(self._summary.get("diagnostics_ok", True))

    @property
    def label_code(self) -> str:
        return self._summary["label_code"]

    @property
    def zone_probabilities(self) -> dict[str, float]:
        return dict(self._summary["zone_probabilities"])

    def to_dict(self) -> dict:
        """Everything the CLI prints, JSON-ready (NaN -> None).

        Keys: ``method``, ``model``, ``property``, ``k``, ``n_studies``,
        ``n_unknown_vi``, ``mu_*`` (log ratio: mean, sd, median, ci_low,
        ci_high = 2.5/97.5 % quantiles), ``pct_*`` (the same in % relative
        improvement), ``tau_*`` (total heterogeneity, ``sqrt(tau_study^2 +
        tau_within^2)`` in the multilevel model) and ``tau_study_*``,
        ``tau_within_*``, ``sigma_resid_*``, ``pi_low``/``pi_high`` and
        ``pct_pi_*`` (95 % prediction interval of the effect in a new study),
        ``p_positive`` (P(mu > 0)), ``label``, ``label_code``,
        ``label_probability``, ``zone_probabilities`` (13),
        ``pred_zone_probabilities``, ``coefficients``, diagnostics
        (``r_hat_max``, ``ess_bulk_min``, ``ess_tail_min``, ``divergences``,
        ``ok``), ``warnings``, and the settings (``seed``, ``priors``,
        ``sampler``, ``draws``, ``tune``, ``chains``, ...).
        """
        md = self.data
        d = {
            "method": self.method,
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
        d.update({k: v for k, v in self._summary.items() if k != "diagnostics_ok"})
        d["ok"] = self.ok
        d["warnings"] = list(md.notes) + list(self.warnings)
        d["priors"] = self.priors.to_dict()
        d.update(self.settings)
        return clean(d)

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
