"""The numpy half of the collapsed model: structures, scale maps, the inputs of the collapsed likelihood and
the exact conditional draws of the location parameters.

Nothing here imports PyMC or PyTensor, so the quadrature engine and the reading of posteriors load without them;
:mod:`metaquant.bayes.models` builds the PyMC models on top (see its docstring for the equations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
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
    return np.logaddexp(0.0, x) if lib is np else lib.softplus(x)


def _expit(x, lib):
    return special.expit(x) if lib is np else lib.sigmoid(x)


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
