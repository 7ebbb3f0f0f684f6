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
from scipy import special

from .data import MetaData
from .priors import Priors

PARAMETRIZATIONS = ("marginal", "noncentered")
LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class Structure:
    """What a compiled model depends on; data of equal structure reuse it.

    ``shape`` is empty for the marginal parametrization (any k, any number of
    studies or moderator columns) and ``(k, n_studies, p)`` for the
    non-centred one, whose free parameters grow with the data.
    """

    model: str
    parametrization: str
    unknown: bool
    tau_family: str
    tau_within_family: str
    sigma_family: str
    moderators: bool
    shape: tuple = ()

    @classmethod
    def of(cls, md: MetaData, priors: Priors, parametrization: str) -> Structure:
        ml = md.model == "multilevel"
        unknown = md.n_unknown > 0
        return cls(
            model=md.model,
            parametrization=parametrization,
            unknown=unknown,
            tau_family=priors.tau.family,
            tau_within_family=priors.tau_within_prior.family if ml else "",
            sigma_family=priors.sigma_resid.family if unknown else "",
            moderators=md.p > 1,
            shape=(md.k, md.n_studies, md.p) if parametrization == "noncentered" else (),
        )


# --------------------------------------------------------------------------
# Standard deviations on unconstrained coordinates (pytensor and numpy)
# --------------------------------------------------------------------------


def _softplus(x, lib):
    return pt.softplus(x) if lib is pt else np.logaddexp(0.0, x)


def _expit(x, lib):
    return pt.sigmoid(x) if lib is pt else special.expit(x)


def _radial(r, scale, family, lib):
    """``(value, log |d value / d r|)`` of one positive scale parameter."""
    if family == "halfnormal":
        return scale * _softplus(r, lib), lib.log(scale) - _softplus(-r, lib)
    return scale * lib.exp(r), lib.log(scale) + r


def _prior_logpdf(x, scale, family, lib):
    z = x / scale
    if family == "halfnormal":
        return 0.5 * math.log(2.0 / math.pi) - lib.log(scale) - 0.5 * z * z
    return math.log(2.0 / math.pi) - lib.log(scale) - lib.log1p(z * z)


def _scale_names(st: Structure) -> tuple[str | None, str, str | None]:
    """(study-level, lowest-level, residual) parameter names of a structure."""
    if st.model == "multilevel":
        return "tau_study", "tau_within", ("sigma_resid" if st.unknown else None)
    return None, "tau", ("sigma_resid" if st.unknown else None)


def raw_names(st: Structure) -> list[str]:
    """Names of the unconstrained free variables that carry the standard deviations."""
    top, low, res = _scale_names(st)
    names = [f"{top}_raw"] if top else []
    names += ["hetres_radius_raw", "hetres_angle_raw"] if res else [f"{low}_raw"]
    return names


def scales_from_raw(st: Structure, raw: dict, scales: dict, lib=np):
    """Map raw draws to the standard deviations; also the log prior + log Jacobian.

    Parameters
    ----------
    raw : dict
        ``raw_names(st)`` -> arrays (numpy) or tensors (pytensor).
    scales : dict
        Prior scales ``{"tau": a, "tau_within": a_w, "sigma_resid": a_s}``.
    lib : module
        ``numpy`` or ``pytensor.tensor``.

    Returns
    -------
    values : dict
        ``tau`` or ``tau_study``/``tau_within``, and ``sigma_resid`` when present.
    logp : tensor or ndarray
        Log prior density of the standard deviations plus the log Jacobian.
    """
    top, low, res = _scale_names(st)
    fam_low = st.tau_within_family if top else st.tau_family
    scale_low = scales["tau_within"] if top else scales["tau"]
    out, logp = {}, 0.0
    if top:
        out[top], jac = _radial(raw[f"{top}_raw"], scales["tau"], st.tau_family, lib)
        logp = logp + jac + _prior_logpdf(out[top], scales["tau"], st.tau_family, lib)
    if res:
        both_normal = fam_low == "halfnormal" and st.sigma_family == "halfnormal"
        c = lib.sqrt(scale_low**2 + scales["sigma_resid"] ** 2)
        s, jac_s = _radial(raw["hetres_radius_raw"], c, "halfnormal" if both_normal else "halfcauchy", lib)
        ra = raw["hetres_angle_raw"]
        phi = 0.5 * math.pi * _expit(ra, lib)
        out[low] = s * lib.cos(phi)
        out[res] = s * lib.sin(phi)
        jac = lib.log(s) + jac_s + math.log(0.5 * math.pi) - _softplus(-ra, lib) - _softplus(ra, lib)
        logp = (logp + jac + _prior_logpdf(out[low], scale_low, fam_low, lib)
                + _prior_logpdf(out[res], scales["sigma_resid"], st.sigma_family, lib))
    else:
        out[low], jac = _radial(raw[f"{low}_raw"], scale_low, fam_low, lib)
        logp = logp + jac + _prior_logpdf(out[low], scale_low, fam_low, lib)
    return out, logp


# --------------------------------------------------------------------------
# The collapsed (marginal) likelihood
# --------------------------------------------------------------------------


def marginal_loglik(y, v, unk, X, m0, s0, tw, ts=None, sig=None, study_idx=None, study_ones=None,
                    intercept_only=False):
    r"""Log density of ``y ~ N(X m0, D + ts^2 Z Z' + X S0 X')`` (pytensor).

    With ``d_j = v_j + [unknown_j] sig^2 + tw^2`` and, per study ``i``,
    ``W_i = sum_j 1/d_j`` and ``c_i = ts^2 / (1 + ts^2 W_i)``:

    * ``a' Sigma1^{-1} b = sum_j a_j b_j / d_j - sum_i c_i A_i B_i`` where
      ``Sigma1 = D + ts^2 Z Z'`` and ``A_i = sum_{j in i} a_j/d_j``;
    * ``log det Sigma1 = sum_j log d_j + sum_i log(1 + ts^2 W_i)``;
    * with ``G = X' Sigma1^{-1} X``, ``q = X' Sigma1^{-1} r``, ``r = y - X m0``
      and ``A = S0^{-1} + G = L L'``:
      ``log det Sigma = log det Sigma1 + 2 sum log diag L + sum log s0^2`` and
      ``r' Sigma^{-1} r = r' Sigma1^{-1} r - |L^{-1} q|^2``.

    ``intercept_only=True`` (X a column of ones) uses the scalar form of the
    same formulas, a graph about six times cheaper to evaluate.
    """
    ve = v + unk * sig**2 if sig is not None else v
    d = ve + tw**2
    w = 1.0 / d
    logdet = pt.sum(pt.log(d))
    if intercept_only:
        r = y - m0[0]
        rw = r * w
        G = pt.sum(w)
        q = pt.sum(rw)
        rr = pt.sum(r * rw)
        if ts is not None:
            t2 = ts**2
            zero = pt.zeros_like(study_ones)
            W = pt.inc_subtensor(zero[study_idx], w)
            Sr = pt.inc_subtensor(zero[study_idx], rw)
            c = t2 / (1.0 + t2 * W)
            G = G - pt.sum(c * W * W)
            q = q - pt.sum(c * W * Sr)
            rr = rr - pt.sum(c * Sr**2)
            logdet = logdet + pt.sum(pt.log1p(t2 * W))
        A = G + 1.0 / s0[0] ** 2
        return -0.5 * (y.shape[0] * LOG_2PI + logdet + pt.log(A * s0[0] ** 2) + rr - q**2 / A)
    r = y - pt.dot(X, m0)
    Xw = X * w[:, None]
    rw = r * w
    G = pt.dot(X.T, Xw)
    q = pt.dot(X.T, rw)
    rr = pt.sum(r * rw)
    if ts is not None:
        t2 = ts**2
        zero = pt.zeros_like(study_ones)
        W = pt.inc_subtensor(zero[study_idx], w)
        c = t2 / (1.0 + t2 * W)
        SX = pt.inc_subtensor(pt.zeros((study_ones.shape[0], X.shape[1]))[study_idx], Xw)
        Sr = pt.inc_subtensor(zero[study_idx], rw)
        cSX = SX * c[:, None]
        G = G - pt.dot(cSX.T, SX)
        q = q - pt.dot(cSX.T, Sr)
        rr = rr - pt.sum(c * Sr**2)
        logdet = logdet + pt.sum(pt.log1p(t2 * W))
    A = G + pt.diag(1.0 / s0**2)
    L = pt.linalg.cholesky(A)
    Lq = pt.linalg.solve_triangular(L, q, lower=True)
    logdet = logdet + 2.0 * pt.sum(pt.log(pt.diag(L))) + 2.0 * pt.sum(pt.log(s0))
    return -0.5 * (y.shape[0] * LOG_2PI + logdet + rr - pt.sum(Lq**2))


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
        vals = {
            "y": md.y,
            "v": md.v,
            "unknown": (~md.known).astype(float),
            "study_idx": md.study_idx,
            "study_ones": np.ones(md.n_studies),
            "X": md.X,
            "m0": np.r_[priors.mu_mean, np.zeros(md.p - 1)],
            "s0": np.r_[priors.mu_sd, np.full(md.p - 1, priors.beta_sd)],
            "tau_scale": np.asarray(priors.tau.scale),
            "tau_within_scale": np.asarray(priors.tau_within_prior.scale),
            "sigma_scale": np.asarray(priors.sigma_resid.scale),
        }
        return {k: v for k, v in vals.items() if k in self.model.named_vars}

    def set_data(self, md: MetaData, priors: Priors) -> None:
        """Load ``md`` and the prior scales into the shared containers (no recompilation)."""
        coords = {"comparison": md.comparisons, "study": md.studies, "coef": ["mu", *md.coef_names]}
        if self.structure.parametrization == "noncentered":
            coords["slope"] = md.coef_names
        pm.set_data(self.data_values(md, priors), model=self.model, coords=coords)

    def initial_point(self) -> dict[str, np.ndarray]:
        """Zero on every unconstrained coordinate (the centre of the jitter); computed once."""
        if "initial_point" not in self.compiled:
            ip = self.model.initial_point()
            self.compiled["initial_point"] = {k: np.zeros_like(np.asarray(v, dtype=float)) for k, v in ip.items()}
        return {k: v.copy() for k, v in self.compiled["initial_point"].items()}


def _data(md: MetaData, priors: Priors) -> dict:
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
    coords = {"comparison": md.comparisons, "study": md.studies, "coef": ["mu", *md.coef_names]}
    if parametrization == "noncentered":
        coords["slope"] = md.coef_names
    with pm.Model(coords=coords) as model:
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
            pm.Potential(
                "loglik",
                marginal_loglik(d["y"], d["v"], d["unknown"], d["X"], d["m0"], d["s0"], vals[low], ts=ts, sig=sig,
                                study_idx=d["study_idx"], study_ones=d["study_ones"],
                                intercept_only=not st.moderators),
            )
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


# --------------------------------------------------------------------------
# Exact conditional draws of the location parameters (marginal parametrization)
# --------------------------------------------------------------------------


def _segment_sum(x: np.ndarray, idx: np.ndarray, n: int) -> np.ndarray:
    """Sum ``x[..., j, ...]`` over rows ``j`` with equal ``idx`` (axis 1 of a (S, k, ...) array)."""
    out = np.zeros((x.shape[0], n) + x.shape[2:])
    np.add.at(out, (slice(None), idx), x)
    return out


def conditional_draws(
    md: MetaData, priors: Priors, st: Structure, sd: dict[str, np.ndarray], rng: np.random.Generator,
    *, keep_effects: bool = True, chunk: int = 2_000_000,
) -> dict[str, np.ndarray]:
    r"""One exact draw of ``b`` (and ``u``, ``theta``) per draw of the standard deviations.

    Given the standard deviations, the model is linear-Gaussian:

    * ``b | sd, y ~ N(A^{-1} (S0^{-1} m0 + X' Sigma1^{-1} y), A^{-1})``,
      ``A = S0^{-1} + X' Sigma1^{-1} X``;
    * ``u_i | b, sd, y ~ N(ts^2 R_i / (1 + ts^2 W_i), ts^2 / (1 + ts^2 W_i))``
      with ``R_i = sum_{j in i} (y_j - x_j'b)/d_j``;
    * ``w_j | b, u, sd, y ~ N(tw^2 e_j / (tw^2 + ve_j), tw^2 ve_j / (tw^2 + ve_j))``
      with ``e_j = y_j - x_j'b - u_i(j)`` and ``ve_j`` the row's variance;
      ``theta_j = x_j'b + u_i(j) + w_j``.

    Parameters
    ----------
    sd : dict
        Flat arrays (S,) of ``tau`` or ``tau_study``/``tau_within`` and ``sigma_resid``.
    keep_effects : bool
        Also draw ``theta`` (an array of S x k); ``u`` is drawn always.
    chunk : int
        Work in blocks of about ``chunk`` numbers to bound memory.

    Returns
    -------
    dict with ``b`` (S, p), ``u`` (S, n_studies) in the multilevel model and, with ``keep_effects``,
    ``theta`` (S, k).
    """
    top, low, res = _scale_names(st)
    tw = np.asarray(sd[low], dtype=float)
    S = tw.size
    ts = np.asarray(sd[top], dtype=float) if top else None
    sig = np.asarray(sd[res], dtype=float) if res else None
    k, p, ns = md.k, md.p, md.n_studies
    X, y, idx = md.X, md.y, md.study_idx
    m0 = np.r_[priors.mu_mean, np.zeros(p - 1)]
    s0 = np.r_[priors.mu_sd, np.full(p - 1, priors.beta_sd)]
    unk = (~md.known).astype(float)
    out = {"b": np.empty((S, p))}
    if top:  # the study effects are kept always: the pointwise log-likelihood needs them
        out["u"] = np.empty((S, ns))
    if keep_effects:
        out["theta"] = np.empty((S, k))
    step = max(1, chunk // max(k * p, 1))
    for a in range(0, S, step):
        sl = slice(a, min(S, a + step))
        n = sl.stop - sl.start
        ve = md.v[None, :] + (unk[None, :] * sig[sl, None] ** 2 if sig is not None else 0.0)
        ve = np.maximum(ve, 1e-300)
        d = ve + tw[sl, None] ** 2
        w = 1.0 / d
        Xw = X[None, :, :] * w[:, :, None]  # (n, k, p)
        G = np.einsum("kp,nkq->npq", X, Xw)
        h = np.einsum("nkp,k->np", Xw, y)
        if top:
            t2 = ts[sl, None] ** 2
            W = _segment_sum(w, idx, ns)
            c = t2 / (1.0 + t2 * W)
            SX = _segment_sum(Xw, idx, ns)  # (n, ns, p)
            Sy = _segment_sum(w * y[None, :], idx, ns)
            G = G - np.einsum("ni,nip,niq->npq", c, SX, SX)
            h = h - np.einsum("ni,nip,ni->np", c, SX, Sy)
        A = G + np.diag(1.0 / s0**2)[None]
        rhs = (m0 / s0**2)[None] + h
        L = np.linalg.cholesky(A)
        mean = np.linalg.solve(A, rhs[..., None])[..., 0]
        z = rng.standard_normal((n, p))
        # b = mean + L^{-T} z has covariance (L L')^{-1} = A^{-1}
        b = mean + np.linalg.solve(np.swapaxes(L, 1, 2), z[..., None])[..., 0]
        out["b"][sl] = b
        e = y[None, :] - b @ X.T  # (n, k)
        if top:
            R = _segment_sum(e * w, idx, ns)
            var_u = t2 / (1.0 + t2 * W)
            u = var_u * R + np.sqrt(var_u) * rng.standard_normal((n, ns))
            out["u"][sl] = u
            e = e - u[:, idx]
        if not keep_effects:
            continue
        t2w = tw[sl, None] ** 2
        frac = t2w / (t2w + ve)
        wj = frac * e + np.sqrt(frac * ve) * rng.standard_normal((n, k))
        out["theta"][sl] = y[None, :] - e + wj
    return out
