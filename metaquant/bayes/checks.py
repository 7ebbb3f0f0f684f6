r"""Checks of a Bayesian fit a reader expects without opening ArviZ: outlying rows, PSIS-LOO, a predictive check.

* :func:`outlier_rows` flags a row whose standardized residual from the pooled effect is large,

  .. math:: z_j = \frac{y_j - \hat\mu}{\sqrt{v_j + \hat\tau^2}}, \qquad |z_j| > 3,

  with :math:`\hat\mu`, :math:`\hat\tau` the posterior medians of the pooled effect and of the total
  heterogeneity and :math:`v_j` the row's sampling variance (:math:`\hat\sigma_{resid}^2` where it is
  unknown).  A row without a sampling variance can hide behind a large residual scale it inflates itself
  (five rows at -89 % make :math:`\hat\sigma_{resid} = 0.83`), so such a row is also flagged when it lies
  beyond 3 sd on the *typical known* variance (the median of the known ones) -- "absorbed through
  sigma_resid".  With the pointwise log-likelihood stored (the PyMC engine), a row whose PSIS Pareto
  :math:`\hat k > 0.7` is flagged too (its leave-one-out predictive is not reliably estimated: it is
  influential).
* :func:`loo_summary`: ArviZ's PSIS-LOO (``az.loo``) with the Pareto :math:`\hat k` counts in the classes of
  Vehtari, Gelman & Gabry (2017): good (:math:`\le 0.5`), ok (0.5-0.7), bad (0.7-1), very bad (> 1).
* :func:`ppc_summary`: the replicated effects ``posterior_predictive.y`` against the observed ones -- how many
  rows fall outside their central 95 % predictive interval, and posterior predictive p-values of the
  smallest, the largest and the sd of the effects.

References
----------
Vehtari A, Gelman A, Gabry J (2017). Practical Bayesian model evaluation using leave-one-out
cross-validation and WAIC. *Stat Comput* 27:1413-1432.
Viechtbauer W, Cheung MW-L (2010). Outlier and influence diagnostics for meta-analysis. *Res Synth Methods*
1:112-125.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..evidence.effects import pct_from_log
from ..progress import plural

#: |standardized residual| above this flags a row.
Z_CUT = 3.0
#: Pareto k above this flags a row (its importance-sampling LOO is unreliable: the row is influential).
PARETO_K_BAD = 0.7

__all__ = ["PARETO_K_BAD", "Z_CUT", "loo_summary", "outlier_note", "outlier_rows", "posterior_checks",
           "ppc_summary"]


def _has_loglik(res, *, build: bool = True) -> bool:
    if not build and (getattr(res, "diagnostics", None) or {}).get("method") == "quadrature":
        return False  # a fit by quadrature builds its draws (and imports ArviZ) only when asked: not for a flag
    idata = getattr(res, "idata", None)
    return idata is not None and "log_likelihood" in idata.groups()


def _loo(idata):
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return az.loo(idata, pointwise=True)


def outlier_rows(res) -> list[dict]:
    """The flagged rows of a Bayesian fit without moderators (empty for a fit with them or another engine).

    Returns
    -------
    list of dict
        One per flagged row: ``row`` (0-based, in the pooled rows), ``comparison``, ``study``, ``yi``, ``pct``,
        ``z`` (the standardized residual), ``z_typical`` (on the typical known variance; rows without a
        variance), ``pareto_k`` (``None`` without a log-likelihood) and ``why``.
    """
    md = getattr(res, "data", None)
    if md is None or getattr(res, "mu", None) is None or md.X.shape[1] != 1 or md.k < 3:
        return []
    mu, tau = float(res.mu.median), float(res.tau.median)
    sr = float(res.sigma_resid.median) if getattr(res, "sigma_resid", None) is not None else 0.0
    v = np.where(md.known, md.v, sr**2)
    z = (md.y - mu) / np.sqrt(v + tau**2)
    vk = md.v[md.known]
    v_typ = float(np.median(vk)) if vk.size else None
    z_typ = np.full(md.k, np.nan)
    if v_typ is not None:
        z_typ = np.where(~md.known, (md.y - mu) / np.sqrt(v_typ + tau**2), np.nan)
    k_hat = np.full(md.k, np.nan)
    if _has_loglik(res, build=False):
        k_hat = np.asarray(_loo(res.idata).pareto_k).ravel()
    out = []
    for j in range(md.k):
        why = []
        if abs(z[j]) > Z_CUT:
            why.append(f"standardized residual {z[j]:+.1f}")
        elif np.isfinite(z_typ[j]) and abs(z_typ[j]) > Z_CUT:
            why.append(f"{abs(z_typ[j]):.0f} sd from the pooled effect on the typical known variance, absorbed "
                       f"through sigma_resid = {sr:.2f}")
        if np.isfinite(k_hat[j]) and k_hat[j] > PARETO_K_BAD:
            why.append(f"Pareto k {k_hat[j]:.2f} > {PARETO_K_BAD}")
        if why:
            out.append({"row": j, "comparison": md.comparisons[j], "study": md.studies[md.study_idx[j]],
                        "yi": float(md.y[j]), "pct": float(pct_from_log(md.y[j], md.higher_is_better)),
                        "z": float(z[j]), "z_typical": None if not np.isfinite(z_typ[j]) else float(z_typ[j]),
                        "pareto_k": None if not np.isfinite(k_hat[j]) else float(k_hat[j]), "why": "; ".join(why)})
    return out


def outlier_note(flags: list[dict]) -> str | None:
    """The flagged rows in one sentence, grouped by study (``None`` when none is flagged)."""
    if not flags:
        return None
    by_study: dict[str, list[dict]] = {}
    for f in flags:
        by_study.setdefault(f["study"], []).append(f)
    parts = []
    for s, fs in by_study.items():
        pcts = sorted({round(f["pct"]) for f in fs})
        shown = ", ".join(f"{p:+d} %" for p in pcts[:3]) + (", ..." if len(pcts) > 3 else "")
        parts.append(f"{plural(len(fs), 'row')} of study {s} ({shown}: {fs[0]['why']})")
    return (f"outlying or influential rows: {'; '.join(parts)}; the pooled effect and its interval lean on them: "
            "read it with and without them (metaquant sensitivity --loo)")


def loo_summary(res) -> dict | None:
    """PSIS-LOO of a fit with a pointwise log-likelihood (``None`` otherwise): elpd, p_loo, Pareto k counts."""
    if not _has_loglik(res):
        return None
    loo = _loo(res.idata)
    k = np.asarray(loo.pareto_k).ravel()
    return {"elpd_loo": float(loo.elpd_loo), "se": float(loo.se), "p_loo": float(loo.p_loo), "n": int(k.size),
            "k_good": int((k <= 0.5).sum()), "k_ok": int(((k > 0.5) & (k <= PARETO_K_BAD)).sum()),
            "k_bad": int(((k > PARETO_K_BAD) & (k <= 1.0)).sum()), "k_very_bad": int((k > 1.0).sum()),
            "k_max": float(np.nanmax(k)) if k.size else None}


def ppc_summary(res, level: float = 0.95) -> dict | None:
    """Posterior predictive check from ``posterior_predictive.y`` (``None`` without replicated effects)."""
    idata = getattr(res, "idata", None)
    if idata is None or "posterior_predictive" not in idata.groups() or "y" not in idata.posterior_predictive:
        return None
    yrep = np.asarray(idata.posterior_predictive["y"]).reshape(-1, idata.posterior_predictive["y"].shape[-1])
    y = np.asarray(idata.observed_data["y"])
    a = (1 - level) / 2
    lo, hi = np.quantile(yrep, [a, 1 - a], axis=0)
    outside = (y < lo) | (y > hi)
    stats = {"min": np.min, "max": np.max, "sd": np.std}
    p = {name: float(np.mean(fn(yrep, axis=1) >= fn(y))) for name, fn in stats.items()}
    return {"n": int(y.size), "level": level, "outside": int(outside.sum()), "expected_outside": float((1 - level)
            * y.size), "outside_rows": [str(c) for c, o in zip(idata.observed_data["comparison"].values, outside,
                                                               strict=True) if o],
            "p_values": p}


def posterior_checks(res) -> dict:
    """``fit --check``: the predictive check, PSIS-LOO and the flagged rows, or why they cannot be made."""
    if getattr(res, "engine", None) not in ("bayes", "exact") or getattr(res, "data", None) is None:
        return {"available": False, "reason": "posterior checks are for the Bayesian engines"}
    out = {"available": True, "outliers": outlier_rows(res), "loo": loo_summary(res), "ppc": ppc_summary(res)}
    if out["loo"] is None:
        out["reason"] = ("no posterior draws of the rows' likelihood (the exact engine integrates them out): "
                         "--method bayes gives PSIS-LOO and the predictive check")
    return out
