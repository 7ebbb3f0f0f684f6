"""Posterior draws as ArviZ groups: the variables by name, each row's predictive and pointwise log-likelihood.

Shared by the sampler (:mod:`metaquant.bayes.sampling`) and the quadrature engine
(:mod:`metaquant.bayes.exact_multilevel`), which both turn draws of the coefficients and the scales into the same
``InferenceData`` groups.
"""

from __future__ import annotations

import math

import numpy as np

from ..evidence.effects import pct_from_log
from .data import MetaData

#: Keep per-comparison effects ``theta`` in the posterior up to this many numbers (draws x k).
MAX_EFFECT_NUMBERS = 20_000_000
LOG_2PI = math.log(2.0 * math.pi)


def _scale_vars(md: MetaData, b: np.ndarray, sd: dict, tot: np.ndarray) -> dict:
    """Posterior (or prior) variables named as the CLI prints them: ``tau`` is the total heterogeneity."""
    pv = {"mu": ((), b[:, 0]), "mu_pct": ((), pct_from_log(b[:, 0], md.higher_is_better))}
    for name, x in sd.items():
        pv[name] = ((), x)
    pv["tau"] = ((), tot)
    if md.model == "multilevel":
        pv["tau_total"] = ((), tot)  # the former name of the total heterogeneity, kept for old readers
    if md.p > 1:
        pv["beta"] = (("coef",), b[:, 1:])
    return pv


def _dataset(variables: dict, coords: dict, md: MetaData, cd_):
    """An xarray Dataset of (chain, draw, ...) variables from flat draws ``{name: (extra dims, array)}``."""
    import xarray as xr

    data = {k: xr.DataArray(cd_(v), dims=("chain", "draw") + dims) for k, (dims, v) in variables.items()}
    used = {"chain", "draw"} | {d for dims, _ in variables.values() for d in dims}
    c = {k: v for k, v in coords.items() if k in used}
    if "coef" in used:
        c["coef"] = md.coef_names
    return xr.Dataset(data, coords=c)


def _normal_logpdf(y, loc, var):
    return -0.5 * (LOG_2PI + np.log(var) + (y - loc) ** 2 / var)


def pointwise_loglik(md: MetaData, loc: np.ndarray, var: np.ndarray) -> np.ndarray:
    r"""Pointwise log-likelihood (S, k) of the rows given ``b``, ``u`` and the scales.

    Independent rows: ``log N(y_j | loc_j, var_j)``.  Rows whose sampling
    errors are correlated (covariance ``M = diag(var - omega^2) + omega
    omega'`` within a group) do not factorise, so each row's term is its
    leave-one-out predictive density given the other rows of its group,
    ``log N(y_j | y_j - (P r)_j / P_jj, 1 / P_jj)`` with ``P = M^{-1}`` and
    ``r = y - loc`` (the non-factorised form of Bürkner, Gabry & Vehtari
    2021, Comput. Stat. 36, 1243-1261, as brms computes it); ArviZ's PSIS-LOO
    then estimates exact leave-one-out.
    """
    from .collapsed import _Levels, per_row

    y = md.y[None, :]
    if not md.correlated:
        return _normal_logpdf(y, loc, var)
    lv = _Levels(md, var - md.omega[None, :] ** 2, None)  # M = diag(d) + omega omega' per group
    Pr = lv.solve_groups(y - loc)
    Pjj = lv.w - per_row(lv.gam, md.group_idx) * lv.ww**2
    return -0.5 * (LOG_2PI - np.log(Pjj) + Pr**2 / Pjj)


def replicate(md: MetaData, loc: np.ndarray, var: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Replicated ``y`` (S, k) given ``b``, ``u`` and the scales, with the rows' correlated sampling errors."""
    if not md.correlated:
        return loc + np.sqrt(var) * rng.standard_normal(loc.shape)
    from .collapsed import per_row

    om = md.omega[None, :]
    z_g = rng.standard_normal((loc.shape[0], md.n_groups))
    return loc + np.sqrt(var - om**2) * rng.standard_normal(loc.shape) + om * per_row(z_g, md.group_idx)


def row_predictive(md: MetaData, st, b: np.ndarray, u: np.ndarray | None, sd: dict) -> tuple[np.ndarray, np.ndarray]:
    r"""Mean and variance (S, k) of each row given the coefficients, the study effects and the scales.

    The row's own effect ``w_j`` integrated out: ``y_j | b, u, scales ~
    N(x_j'b + u_i(j), ve_j + tau_low^2)``, with ``ve_j`` the row's sampling
    variance (``sigma_resid^2`` when unknown) and ``tau_low`` the lowest-level
    heterogeneity (``tau`` in the random-effects model, ``tau_within`` in the
    multilevel one).  Rows are independent given these, so the log densities
    are the pointwise terms of the ``log_likelihood`` group (see
    ``docs/methods/bayes.md``).
    """
    from .collapsed import _scale_names

    top, low, res = _scale_names(st)
    ve = np.broadcast_to(md.v[None, :], (b.shape[0], md.k)).astype(float)
    if res:
        ve = ve + (~md.known)[None, :] * sd[res][:, None] ** 2
    var = np.maximum(ve + sd[low][:, None] ** 2, 1e-300)
    loc = b @ md.X.T
    if top:
        loc = loc + u[:, md.study_idx]
    return loc, var
