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
#: Sums over the rows of a study (or a group) are products with a dense 0/1 matrix up to this many
#: entries (BLAS, and so is their gradient), scatter-adds beyond it.
DENSE_SEGMENTS = 4_000_000


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
    known_rows: bool = True
    correlated: bool = False
    segments: str = "dense"

    @classmethod
    def of(cls, md: MetaData, priors: Priors, parametrization: str) -> Structure:
        ml = md.model == "multilevel"
        unknown = md.n_unknown > 0
        kk = md.k - md.n_unknown
        if parametrization == "noncentered" and md.correlated:
            from ..errors import InputError

            raise InputError("the non-centred parametrization takes independent sampling errors",
                             expected="parametrization='marginal' with correlated rows")
        dense = kk * max(md.n_studies if ml else 0, md.n_groups) <= DENSE_SEGMENTS
        return cls(
            model=md.model,
            parametrization=parametrization,
            unknown=unknown,
            tau_family=priors.tau.family,
            tau_within_family=priors.tau_within_prior.family if ml else "",
            sigma_family=priors.sigma_resid.family if unknown else "",
            moderators=md.p > 1,
            shape=(md.k, md.n_studies, md.p) if parametrization == "noncentered" else (),
            known_rows=kk > 0,
            correlated=md.correlated,
            segments="dense" if dense else "index",
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


def _onehot(idx: np.ndarray, n: int) -> np.ndarray:
    """(len(idx), n) 0/1 matrix; rows with ``idx < 0`` are zero."""
    out = np.zeros((idx.size, n))
    ok = idx >= 0
    out[np.flatnonzero(ok), idx[ok]] = 1.0
    return out


def loglik_inputs(md: MetaData, priors: Priors, st: Structure) -> dict[str, np.ndarray]:
    r"""The arrays the collapsed likelihood reads (the ``pm.Data`` containers of the marginal model).

    Rows with a known variance enter one by one: ``rk = y - X m0``, ``ek``
    (the variance left after the rank-one terms, ``v - omega^2``), ``Xk``,
    ``wk`` (``omega``) and their study / group memberships, as dense 0/1
    matrices (``Zk``, ``Gk``, ``Gs``: group -> study) or as indices (``sk``,
    ``gk``, ``gs``).  Rows with an unknown variance all have the same
    ``d = tau_low^2 + sigma_resid^2``, so they enter only through sufficient
    statistics: per study their number ``nu``, ``SXu = sum x``, ``Sru = sum
    r``, and in total ``XXu = sum x x'``, ``Xru = sum x r``, ``rru = sum
    r^2`` and ``n_unk``.  This makes the cost of a likelihood evaluation
    independent of the number of such rows.
    """
    ml = st.model == "multilevel"
    m0 = np.r_[priors.mu_mean, np.zeros(md.p - 1)]
    r = md.y - md.X @ m0
    kn = md.known
    out: dict[str, np.ndarray] = {"n_rows": np.asarray(float(md.k)),
                                  "s0": np.r_[priors.mu_sd, np.full(md.p - 1, priors.beta_sd)]}
    ns, ng = md.n_studies, md.n_groups
    if st.known_rows:
        om = md.omega[kn]
        out.update(rk=r[kn], ek=md.v[kn] - om**2, Xk=md.X[kn])
        sk, gk = md.study_idx[kn], md.group_idx[kn]
        if ml:
            if st.segments == "dense":
                out["Zk"] = _onehot(sk, ns)
            else:
                out.update(sk=sk, study_ones=np.ones(ns))
        if st.correlated:
            out["wk"] = om
            gstudy = np.full(ng, -1, dtype=np.int64)
            gstudy[gk[gk >= 0]] = sk[gk >= 0]
            if st.segments == "dense":
                out["Gk"] = _onehot(gk, ng)
                if ml:
                    out["Gs"] = _onehot(gstudy, ns)
            else:  # independent rows go to a last, empty group (their omega is 0)
                out.update(gk=np.where(gk >= 0, gk, ng), group_ones=np.ones(ng + 1))
                if ml:
                    out["gs"] = np.r_[gstudy, 0]
    if st.unknown:
        un = ~kn
        Xu, ru = md.X[un], r[un]
        out.update(XXu=Xu.T @ Xu, Xru=Xu.T @ ru, rru=np.asarray(float(ru @ ru)), n_unk=np.asarray(float(un.sum())))
        if ml:
            su = md.study_idx[un]
            out.update(nu=np.bincount(su, minlength=ns).astype(float),
                       SXu=np.stack([np.bincount(su, weights=Xu[:, j], minlength=ns) for j in range(md.p)], 1),
                       Sru=np.bincount(su, weights=ru, minlength=ns))
    return out


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


# --------------------------------------------------------------------------
# Exact conditional draws of the location parameters (marginal parametrization)
# --------------------------------------------------------------------------


def _segment_sum(x: np.ndarray, idx: np.ndarray, n: int) -> np.ndarray:
    """Sum ``x[:, j, ...]`` over rows ``j`` with equal ``idx >= 0`` (axis 1 of a (S, k, ...) array).

    A product with the 0/1 membership matrix (BLAS) where that matrix is small, else a scatter-add.
    """
    if idx.size * n <= DENSE_SEGMENTS:
        M = _onehot(idx, n)
        if x.ndim == 2:
            return x @ M
        return np.swapaxes(np.swapaxes(x, 1, 2) @ M, 1, 2)
    out = np.zeros((x.shape[0], n + 1) + x.shape[2:])
    np.add.at(out, (slice(None), np.where(idx >= 0, idx, n)), x)
    return out[:, :n]


def per_row(G: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """(S, n) values of segments -> (S, k): each row's segment value, 0 for rows with ``idx < 0``."""
    return np.where(idx >= 0, G[:, np.maximum(idx, 0)], 0.0)


class _Levels:
    r"""``Sigma1 = diag(d) + sum_g omega_g omega_g' + ts^2 Z Z'`` for a block of draws (numpy).

    ``d`` is (n, k); inner products ``<a, b>`` with ``Sigma1^{-1}`` and the
    study sums ``U_i(a) = 1_i' A^{-1} a`` follow :func:`marginal_loglik`.
    """

    def __init__(self, md: MetaData, d: np.ndarray, t2: np.ndarray | None):
        self.md, self.d, self.t2 = md, d, t2
        self.w = 1.0 / d
        self.corr = md.correlated
        if self.corr:
            self.ww = md.omega[None, :] * self.w
            H = _segment_sum(md.omega[None, :] * self.ww, md.group_idx, md.n_groups)
            self.gam = 1.0 / (1.0 + H)
            self.O1 = _segment_sum(self.ww, md.group_idx, md.n_groups)
            self.gstudy = np.full(md.n_groups, -1, dtype=np.int64)
            ok = md.group_idx >= 0
            self.gstudy[md.group_idx[ok]] = md.study_idx[ok]
        if t2 is not None:
            self.W = self.study_sum(np.ones_like(d))
            self.c = t2 / (1.0 + t2 * self.W)

    def group_sum(self, a: np.ndarray) -> np.ndarray:
        """``O_g(a)``: (n, n_groups[, p])."""
        ww = self.ww if a.ndim == 2 else self.ww[:, :, None]
        return _segment_sum(ww * a, self.md.group_idx, self.md.n_groups)

    def study_sum(self, a: np.ndarray) -> np.ndarray:
        """``U_i(a)``: (n, n_studies[, p])."""
        w = self.w if a.ndim == 2 else self.w[:, :, None]
        U = _segment_sum(w * a, self.md.study_idx, self.md.n_studies)
        if self.corr:
            f = self.gam * self.O1
            f = f if a.ndim == 2 else f[..., None]
            U = U - _segment_sum(f * self.group_sum(a), self.gstudy, self.md.n_studies)
        return U

    def solve_groups(self, s: np.ndarray) -> np.ndarray:
        """``A^{-1} s`` for (n, k) ``s`` (groups only, no study level)."""
        out = s * self.w
        if self.corr:
            out = out - self.ww * per_row(self.group_sum(s) * self.gam, self.md.group_idx)
        return out


def _b_system(lv: _Levels, X: np.ndarray, y: np.ndarray, top) -> tuple[np.ndarray, np.ndarray]:
    """``G = X' Sigma1^{-1} X`` (n, p, p) and ``h = X' Sigma1^{-1} y`` (n, p)."""
    Xw = X[None, :, :] * lv.w[:, :, None]
    G = np.einsum("kp,nkq->npq", X, Xw)
    h = np.einsum("nkp,k->np", Xw, y)
    if lv.corr:
        OX = lv.group_sum(np.broadcast_to(X, lv.w.shape + (X.shape[1],)))
        Oy = lv.group_sum(np.broadcast_to(y, lv.w.shape))
        G = G - np.einsum("ng,ngp,ngq->npq", lv.gam, OX, OX)
        h = h - np.einsum("ng,ngp,ng->np", lv.gam, OX, Oy)
    if top:
        SX = lv.study_sum(np.broadcast_to(X, lv.w.shape + (X.shape[1],)))
        Sy = lv.study_sum(np.broadcast_to(y, lv.w.shape))
        G = G - np.einsum("ni,nip,niq->npq", lv.c, SX, SX)
        h = h - np.einsum("ni,nip,ni->np", lv.c, SX, Sy)
    return G, h


# Long on purpose: the three exact conditional draws (b, u, theta) share one block of per-draw arrays; split up,
# each step would recompute or pass around the same half-dozen (draws x rows) matrices.
def conditional_draws(
    md: MetaData, priors: Priors, st: Structure, sd: dict[str, np.ndarray], rng: np.random.Generator,
    *, keep_effects: bool = True, chunk: int = 2_000_000,
) -> dict[str, np.ndarray]:
    r"""One exact draw of ``b`` (and ``u``, ``theta``) per draw of the standard deviations.

    Given the standard deviations, the model is linear-Gaussian; with
    ``Sigma1`` the covariance of ``y`` given ``b`` (see :func:`marginal_loglik`):

    * ``b | sd, y ~ N(A^{-1} (S0^{-1} m0 + X' Sigma1^{-1} y), A^{-1})``,
      ``A = S0^{-1} + X' Sigma1^{-1} X``;
    * ``u_i | b, sd, y ~ N(c_i U_i(e), c_i)``, ``c_i = ts^2 / (1 + ts^2 W_i)``,
      with ``e = y - X b`` and ``U_i``, ``W_i`` the study sums of
      :func:`marginal_loglik` (``U_i(e) = sum_{j in i} e_j / d_j`` for
      independent rows);
    * ``w | b, u, sd, y``: for independent rows ``w_j ~ N(tw^2 e_j / d_j, tw^2
      ve_j / d_j)`` with ``e_j = y_j - x_j'b - u_i(j)`` and ``d_j = ve_j +
      tw^2``; for rows with correlated sampling errors (covariance ``M =
      diag(d) + omega omega'`` within a group) by Matheron's rule: ``w = w* +
      tw^2 M^{-1} (e - w* - eps*)`` with ``w* ~ N(0, tw^2 I)`` and ``eps*`` a
      draw of the sampling errors (Hoffman & Ribak 1991; Wilson et al. 2020,
      ICML), an exact draw from the Gaussian conditional.
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
    X, y = md.X, md.y
    m0 = np.r_[priors.mu_mean, np.zeros(p - 1)]
    s0 = np.r_[priors.mu_sd, np.full(p - 1, priors.beta_sd)]
    unk = (~md.known).astype(float)
    e_known = md.v - md.omega**2  # the variance left after the rank-one terms (= v for independent rows)
    out = {"b": np.empty((S, p))}
    if top:  # the study effects are kept always: the pointwise log-likelihood needs them
        out["u"] = np.empty((S, ns))
    if keep_effects:
        out["theta"] = np.empty((S, k))
    step = max(1, chunk // max(k * p, 1))
    for a in range(0, S, step):
        sl = slice(a, min(S, a + step))
        n = sl.stop - sl.start
        ve = e_known[None, :] + (unk[None, :] * sig[sl, None] ** 2 if sig is not None else 0.0)
        ve = np.maximum(ve, 1e-300)
        lv = _Levels(md, ve + tw[sl, None] ** 2, ts[sl, None] ** 2 if top else None)
        G, h = _b_system(lv, X, y, top)
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
            u = lv.c * lv.study_sum(e) + np.sqrt(lv.c) * rng.standard_normal((n, ns))
            out["u"][sl] = u
            e = e - u[:, md.study_idx]
        if not keep_effects:
            continue
        t2w = tw[sl, None] ** 2
        if not md.correlated:
            frac = t2w / (t2w + ve)
            wj = frac * e + np.sqrt(frac * ve) * rng.standard_normal((n, k))
        else:
            w_star = np.sqrt(t2w) * rng.standard_normal((n, k))
            z_g = rng.standard_normal((n, md.n_groups))
            eps = np.sqrt(ve) * rng.standard_normal((n, k)) + md.omega[None, :] * per_row(z_g, md.group_idx)
            wj = w_star + t2w * lv.solve_groups(e - w_star - eps)
        out["theta"][sl] = y[None, :] - e + wj
    return out
