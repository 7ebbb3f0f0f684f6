r"""PyMC model builders of the Bayesian engine.

Notation: ``y_j`` the effect of comparison ``j`` (log ratio, + = better), ``v_j``
its sampling variance, ``i(j)`` its study, ``x_j`` its row of the design
matrix (a leading 1, then the centred moderators).

Random-effects model (normal-normal hierarchical model)::

    y_j ~ N(theta_j, v_j),   theta_j = x_j'b + w_j,   w_j ~ N(0, tau^2)

Multilevel model (comparisons nested in studies)::

    y_j ~ N(theta_j, v_j),   theta_j = x_j'b + u_i(j) + w_j,
    u_i ~ N(0, tau_study^2),   w_j ~ N(0, tau_within^2)

Priors: ``b_0 = mu ~ N(mu_mean, mu_sd^2)``, ``b_m ~ N(0, beta_sd^2)``, the
standard deviations from :class:`~metaquant.bayes.priors.Priors`.  A row whose
sampling variance is unknown gets ``v_j = sigma_resid^2`` with its own prior.

Two parametrizations of the same posterior are built:

``"marginal"`` (default)
    The location parameters (``b``, the study effects ``u`` and the
    comparison effects ``w``) enter linearly with normal priors, so they are
    integrated out analytically and NUTS explores only the standard
    deviations.  With ``d_j = v_j + tau_within^2``, ``D = diag(d)``, ``Z`` the
    study indicator matrix and ``S0 = diag(mu_sd^2, beta_sd^2, ...)``,
    ``y ~ N(X m0, Sigma)`` with ``Sigma = D + tau_study^2 Z Z' + X S0 X'``.
    Its log density is evaluated in O(k p^2) with the matrix determinant lemma
    and the Woodbury identity, study by study (Searle, Casella & McCulloch
    1992, *Variance Components*, ch. 6; Röver 2020, JSS 93(6), eq. 6 for the
    one-level case).  Posterior draws of ``b``, ``u`` and ``theta`` are then
    drawn exactly from their normal full conditionals, one per draw of the
    standard deviations (:func:`conditional_draws`).  There is no funnel left
    to diverge in (Betancourt & Girolami 2015, arXiv:1312.0906).
``"noncentered"``
    The textbook form ``theta_j = x_j'b + tau_study z_i + tau_within z_j``
    with standard-normal ``z`` sampled by NUTS.  Kept for comparison; on data
    with very precise rows (sampling variances of 1e-7 next to
    heterogeneities of 0.05) its posterior is a thin ridge in ``z`` and NUTS
    diverges (see ``docs/methods/bayes.md``).

Standard deviations are sampled on unconstrained coordinates ``r``:
``s = a * softplus(r)`` for half-normal priors (log-like near zero, linear in
the tail, so the prior's Gaussian tail does not become a double-exponential
wall) and ``s = a * exp(r)`` for half-Cauchy priors (whose polynomial tail
is better handled on the log scale); ``a`` is the prior scale.  When some rows
have unknown variance, the lowest-level heterogeneity ``t`` and
``sigma_resid`` enter those rows only through ``t^2 + sigma_resid^2``; the
pair is then sampled in polar coordinates ``t = s cos(phi)``,
``sigma_resid = s sin(phi)``, ``phi = (pi/2) logistic(r_phi)``, which turns
the L-shaped ridge of ``(log t, log sigma)`` into a straight one.  The priors
enter as potentials with the log Jacobian of each map, so the posterior is
exactly the one of the model above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from .collapsed import (  # noqa: F401  (re-exported: the numpy half of the model lives there)
    DENSE_SEGMENTS,
    PARAMETRIZATIONS,
    Structure,
    _b_system,
    _Levels,
    _onehot,
    _prior_logpdf,
    _radial,
    _scale_names,
    _segment_sum,
    conditional_draws,
    loglik_inputs,
    per_row,
    raw_names,
    scales_from_raw,
)
from .data import MetaData
from .priors import Priors

LOG_2PI = math.log(2.0 * math.pi)


def _seg(d: dict, x, dense: str, index: str, ones: str):
    """Sums of ``x`` (rows first) within the segments given by ``d[dense]`` (0/1 matrix) or ``d[index]``."""
    if dense in d:
        return pt.dot(d[dense].T, x)
    n = d[ones].shape[0]
    zero = pt.zeros((n,)) if x.ndim == 1 else pt.zeros((n, x.shape[1]))
    return pt.inc_subtensor(zero[d[index]], x)


def marginal_loglik(d: dict, tw, ts=None, sig=None, *, intercept_only: bool = False):
    r"""Log density of ``y ~ N(X m0, V + tw^2 I + ts^2 Z Z' + X S0 X')`` (pytensor).

    ``d`` holds the tensors of :func:`loglik_inputs`; ``V = diag(e) + sum_g
    omega_g omega_g'`` (one rank-one term per group of rows with correlated
    sampling errors, nested in studies), ``ts`` is ``None`` in the
    random-effects model and ``sig`` when every variance is known.  The
    inverse and determinant are taken level by level (Woodbury and the
    matrix determinant lemma; Searle, Casella & McCulloch 1992, ch. 6).
    With ``d_j = e_j + tw^2``:

    * rows: ``<a, b>_D = sum a_j b_j / d_j``, ``log det D = sum log d_j``;
    * groups: ``O_g(a) = sum_{j in g} omega_j a_j / d_j``, ``H_g = O_g(omega)``,
      ``gamma_g = 1 / (1 + H_g)``: ``<a, b>_A = <a, b>_D - sum_g gamma_g O_g(a)
      O_g(b)``, ``log det A = log det D + sum log(1 + H_g)``;
    * studies: ``U_i(a) = 1_i' A^{-1} a = sum_{j in i} a_j / d_j - sum_{g in i}
      gamma_g O_g(1) O_g(a)``, ``W_i = U_i(1)``, ``c_i = ts^2 / (1 + ts^2 W_i)``:
      ``<a, b>_Sigma1 = <a, b>_A - sum_i c_i U_i(a) U_i(b)``, ``log det Sigma1 =
      log det A + sum log(1 + ts^2 W_i)``;
    * the coefficients: with ``G = <X, X>``, ``q = <X, r>``, ``r = y - X m0``
      and ``S0^{-1} + G = L L'``: ``log det Sigma = log det Sigma1 + 2 sum log
      diag L + sum log s0^2``, ``r' Sigma^{-1} r = <r, r> - |L^{-1} q|^2``.

    Rows of unknown variance share ``d = tw^2 + sig^2`` and add their
    sufficient statistics to each sum.  ``intercept_only=True`` (one
    coefficient) uses the scalar form of the last step.
    """
    ml = ts is not None
    logdet = G = q = rr = 0.0
    TW = TX = Tr = 0.0
    if "rk" in d:
        dk = d["ek"] + tw**2
        w = 1.0 / dk
        Xw = d["Xk"] * w[:, None]
        rw = d["rk"] * w
        logdet = pt.sum(pt.log(dk))
        G = pt.dot(d["Xk"].T, Xw)
        q = pt.dot(Xw.T, d["rk"])
        rr = pt.sum(d["rk"] * rw)
        if ml:
            TW, TX, Tr = (_seg(d, x, "Zk", "sk", "study_ones") for x in (w, Xw, rw))
        if "wk" in d:
            ww = d["wk"] * w
            H, O1, Or = (_seg(d, x, "Gk", "gk", "group_ones") for x in (d["wk"] * ww, ww, ww * d["rk"]))
            OX = _seg(d, d["Xk"] * ww[:, None], "Gk", "gk", "group_ones")
            gam = 1.0 / (1.0 + H)
            logdet = logdet + pt.sum(pt.log1p(H))
            G = G - pt.dot(OX.T, OX * gam[:, None])
            q = q - pt.dot(OX.T, gam * Or)
            rr = rr - pt.sum(gam * Or**2)
            if ml:
                g1 = gam * O1
                TW = TW - _seg(d, g1 * O1, "Gs", "gs", "study_ones")
                TX = TX - _seg(d, OX * g1[:, None], "Gs", "gs", "study_ones")
                Tr = Tr - _seg(d, g1 * Or, "Gs", "gs", "study_ones")
    if sig is not None:
        du = tw**2 + sig**2
        logdet = logdet + d["n_unk"] * pt.log(du)
        G = G + d["XXu"] / du
        q = q + d["Xru"] / du
        rr = rr + d["rru"] / du
        if ml:
            TW = TW + d["nu"] / du
            TX = TX + d["SXu"] / du
            Tr = Tr + d["Sru"] / du
    if ml:
        t2 = ts**2
        c = t2 / (1.0 + t2 * TW)
        G = G - pt.dot(TX.T, TX * c[:, None])
        q = q - pt.dot(TX.T, c * Tr)
        rr = rr - pt.sum(c * Tr**2)
        logdet = logdet + pt.sum(pt.log1p(t2 * TW))
    s0 = d["s0"]
    if intercept_only:  # the scalar form, without a Cholesky factor
        A = G[0, 0] + 1.0 / s0[0] ** 2
        return -0.5 * (d["n_rows"] * LOG_2PI + logdet + pt.log(A * s0[0] ** 2) + rr - q[0] ** 2 / A)
    A = G + pt.diag(1.0 / s0**2)
    L = pt.linalg.cholesky(A)
    Lq = pt.linalg.solve_triangular(L, q, lower=True)
    logdet = logdet + 2.0 * pt.sum(pt.log(pt.diag(L))) + 2.0 * pt.sum(pt.log(s0))
    return -0.5 * (d["n_rows"] * LOG_2PI + logdet + rr - pt.sum(Lq**2))


# --------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------


@dataclass
class BuiltModel:
    """A PyMC model with its data containers, ready to take new data of the same structure."""

    structure: Structure
    model: pm.Model
    free: list[str]
    compiled: dict = field(default_factory=dict)  # sampler name -> compiled object

    def data_values(self, md: MetaData, priors: Priors) -> dict[str, np.ndarray]:
        """Values of every data container for ``md`` and ``priors``."""
        vals = _scales(priors)
        if self.structure.parametrization == "marginal":
            vals.update(loglik_inputs(md, priors, self.structure))
        else:
            vals.update({k: v for k, (v, _) in _data(md, priors).items()})
        return {k: v for k, v in vals.items() if k in self.model.named_vars}

    def set_data(self, md: MetaData, priors: Priors) -> None:
        """Load ``md`` and the prior scales into the shared containers (no recompilation)."""
        coords = None
        if self.structure.parametrization == "noncentered":
            coords = {"comparison": md.comparisons, "study": md.studies, "coef": ["mu", *md.coef_names],
                      "slope": md.coef_names}
        pm.set_data(self.data_values(md, priors), model=self.model, coords=coords)

    def initial_point(self) -> dict[str, np.ndarray]:
        """Zero on every unconstrained coordinate (the centre of the jitter); computed once."""
        if "initial_point" not in self.compiled:
            ip = self.model.initial_point()
            self.compiled["initial_point"] = {k: np.zeros_like(np.asarray(v, dtype=float)) for k, v in ip.items()}
        return {k: v.copy() for k, v in self.compiled["initial_point"].items()}


def _scales(priors: Priors) -> dict[str, np.ndarray]:
    return {"tau_scale": np.asarray(priors.tau.scale), "tau_within_scale": np.asarray(priors.tau_within_prior.scale),
            "sigma_scale": np.asarray(priors.sigma_resid.scale)}


def _data(md: MetaData, priors: Priors) -> dict:
    """Data containers of the non-centred model, with their dims."""
    return {
        "y": (md.y, "comparison"),
        "v": (md.v, "comparison"),
        "unknown": ((~md.known).astype(float), "comparison"),
        "study_idx": (md.study_idx, "comparison"),
        "study_ones": (np.ones(md.n_studies), "study"),
        "X": (md.X, ("comparison", "coef")),
        "m0": (np.r_[priors.mu_mean, np.zeros(md.p - 1)], "coef"),
        "s0": (np.r_[priors.mu_sd, np.full(md.p - 1, priors.beta_sd)], "coef"),
    }


def build(md: MetaData, priors: Priors, parametrization: str = "marginal") -> BuiltModel:
    """Build the PyMC model of ``md`` (see the module docstring for the equations).

    Parameters
    ----------
    md : MetaData
        From :func:`metaquant.bayes.data.prepare`.
    priors : Priors
    parametrization : {"marginal", "noncentered"}

    Returns
    -------
    BuiltModel
        The model uses ``pm.Data`` containers (``y``, ``v``, ``unknown``,
        ``study_idx``, ``X``, prior scales), so data of the same
        :class:`Structure` are swapped in with :meth:`BuiltModel.set_data`.
    """
    if parametrization not in PARAMETRIZATIONS:
        from ..errors import InputError

        raise InputError(f"unknown parametrization {parametrization!r}", expected=" | ".join(PARAMETRIZATIONS))
    st = Structure.of(md, priors, parametrization)
    coords = None
    if parametrization == "noncentered":
        coords = {"comparison": md.comparisons, "study": md.studies, "coef": ["mu", *md.coef_names],
                  "slope": md.coef_names}
    with pm.Model(coords=coords) as model:
        if parametrization == "marginal":
            d = {name: pm.Data(name, val) for name, val in loglik_inputs(md, priors, st).items()}
        else:
            d = {name: pm.Data(name, val, dims=dims) for name, (val, dims) in _data(md, priors).items()}
        scales = {
            "tau": pm.Data("tau_scale", float(priors.tau.scale)),
            "tau_within": pm.Data("tau_within_scale", float(priors.tau_within_prior.scale)),
            "sigma_resid": pm.Data("sigma_scale", float(priors.sigma_resid.scale)),
        }
        raw = {name: pm.Flat(name) for name in raw_names(st)}
        vals, logp = scales_from_raw(st, raw, scales, lib=pt)
        pm.Potential("scale_priors", logp)
        top, low, res = _scale_names(st)
        ts = vals.get(top) if top else None
        sig = vals.get(res) if res else None
        if parametrization == "marginal":
            pm.Potential("loglik", marginal_loglik(d, vals[low], ts=ts, sig=sig, intercept_only=not st.moderators))
        else:
            mu = pm.Normal("mu", d["m0"][0], d["s0"][0])
            loc = mu + pt.zeros_like(d["y"])
            if md.p > 1:
                beta = pm.Normal("beta", 0.0, d["s0"][1:], dims="slope")
                loc = loc + pt.dot(d["X"][:, 1:], beta)
            if top:
                z_s = pm.Normal("z_study", 0.0, 1.0, dims="study")
                loc = loc + ts * z_s[d["study_idx"]]
            z = pm.Normal("z", 0.0, 1.0, dims="comparison")
            loc = loc + vals[low] * z
            ve = d["v"] + d["unknown"] * sig**2 if sig is not None else d["v"]
            pm.Normal("y_obs", loc, pt.sqrt(ve), observed=d["y"], dims="comparison")
    free = [rv.name for rv in model.free_RVs]
    return BuiltModel(structure=st, model=model, free=free)
