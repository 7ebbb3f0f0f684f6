r"""The posterior of the PyMC engine's model by quadrature: random effects or multilevel, with moderators.

The model is the one of :mod:`metaquant.bayes.models` (marginal parametrization), with up to three
standard deviations: ``tau_study`` and ``tau_within`` in the multilevel model (``tau`` in the
random-effects model) and ``sigma_resid`` when some rows have no sampling variance.  Given the standard
deviations ``s``, the coefficients ``b`` (``mu`` and the moderator slopes) have a normal prior and enter
linearly, so they integrate out analytically (Searle, Casella & McCulloch 1992, ch. 6):

.. math::

    y \mid s \sim N(X m_0, \Sigma_1(s) + X S_0 X'), \qquad
    b \mid s, y \sim N\big(m_0 + A^{-1} X'\Sigma_1^{-1} r,\; A^{-1}\big), \quad
    A = S_0^{-1} + X'\Sigma_1^{-1} X,

with ``r = y - X m0`` and ``Sigma_1 = diag(v_j + tau_within^2) + tau_study^2 Z Z'`` (rows of unknown
variance get ``v_j = sigma_resid^2``).  The log density is :func:`collapsed_loglik`, the numpy twin of
:func:`metaquant.bayes.models.marginal_loglik` evaluated on arrays of standard deviations at once.

The posterior of ``s`` (1 to 3 dimensions) is integrated on a tensor grid in ``x = log(s / a)`` (``a``
each prior's scale), built as :mod:`metaquant.bayes.exact` builds its 1-D and 2-D grids: a coarse pass
over ``s`` from 1e-13 to 3e6 prior scales finds, per axis, the range holding everything within a factor
e^-46 of the maximum and the marginal mode and width; composite Simpson's rule on ``x = c + w sinh(u)``
nodes (re-centred until mode and width settle) then integrates it.  ``mu``, each slope, the effect at a
moderator level and a new study's effect ``theta_new = b_0 + sqrt(tau_study^2 + tau_within^2) z`` are
normal mixtures over the nodes (:class:`~metaquant.bayes.exact.NormalMixture`): moments, quantiles and
zone probabilities (the mixture CDF at the SSM cut-points) are exact up to the quadrature error:
within 1e-6 of a brute-force integration with two axes, within 2e-5 of a 1.5 times finer grid with
three (``tests/test_exact_multilevel.py``).  The total heterogeneity ``sqrt(tau_study^2 +
tau_within^2)`` lies on no axis of the grid: its mean and sd are exact, its quantiles are read off the
nodal masses (within about 2e-3).

Nothing here imports PyMC, PyTensor or ArviZ.  Posterior draws (``idata``) are made only when asked:
exact independent draws of ``s`` from the nodal masses, then of ``b``, the study effects and ``theta``
from their normal full conditionals (:func:`metaquant.bayes.collapsed.conditional_draws`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from .. import scale
from ..evidence.effects import pct_from_log
from .collapsed import Structure, conditional_draws
from .data import MetaData
from .exact import (
    _LOG_FLOOR,
    _X_RANGE,
    NormalMixture,
    _cdf_on_pct,
    _centre_scale,
    _grid_marginal_summary,
    _pct_moments,
    _sinh_nodes,
)
from .priors import Priors
from .results import _Q, DIAGNOSTIC_KEYS, BayesResult, Marginal, label_fields

LOG_2PI = math.log(2.0 * math.pi)
#: What the output says of a fit by quadrature.
QUADRATURE_NOTE = "posterior by quadrature (the same model as the MCMC sampler; exact up to 1e-5)"
#: Nodes per axis of the final grid, by the number of standard deviations integrated over.
GRID_NODES = {1: 801, 2: 201, 3: 61}
#: Nodes per axis of the coarse search and of the re-centring probes.
_COARSE = {1: 361, 2: 121, 3: 46}
_PROBE = {1: 201, 2: 61, 3: 31}


# --------------------------------------------------------------------------
# The collapsed likelihood on arrays of standard deviations
# --------------------------------------------------------------------------


class CollapsedLikelihood:
    """``log p(y | s)`` and the normal posterior of ``b`` given ``s``, for arrays of ``s`` (numpy).

    The rows' residuals are taken about reference coefficients ``m0 + d``, the least-squares fit of
    the rows without a sampling variance (of all rows when there are none): the rows of unknown
    variance enter only through sums of squares, and about a poor centre those sums are large numbers
    whose difference near ``tau = sigma_resid = 0`` is lost to rounding.  The quadratic form is
    invariant: ``r' Sigma^{-1} r = r_d' Sigma_1^{-1} r_d + d' S0^{-1} d - q' A^{-1} q`` with
    ``r_d = r - X d`` and ``q = X' Sigma_1^{-1} r_d - S0^{-1} d``.
    """

    def __init__(self, md: MetaData, priors: Priors):
        if md.correlated:
            raise ValueError("the quadrature takes independent sampling errors")
        self.ml = md.model == "multilevel"
        p = md.p
        m0 = np.r_[priors.mu_mean, np.zeros(p - 1)]
        self.s0 = np.r_[priors.mu_sd, np.full(p - 1, priors.beta_sd)]
        r = md.y - md.X @ m0
        kn, un = md.known, ~md.known
        ref = un if un.sum() >= 1 else kn
        d = np.linalg.lstsq(md.X[ref], r[ref], rcond=None)[0]
        self.d, self.mref, self.p, self.k = d, m0 + d, p, md.k
        r = r - md.X @ d
        ns = md.n_studies
        self.vk, self.Xk, self.rk = md.v[kn], md.X[kn], r[kn]
        Xk, rk = self.Xk, self.rk
        self.kk = int(kn.sum())
        self.XXk = (Xk[:, :, None] * Xk[:, None, :]).reshape(self.kk, p * p)
        self.Xrk = Xk * rk[:, None]
        self.rrk = rk**2
        self.ns = ns
        if self.ml:
            self.sk = md.study_idx[kn]
            Z = np.zeros((self.kk, ns))
            Z[np.arange(self.kk), self.sk] = 1.0
            self.Zk = Z
            self.ZXk = (Z[:, :, None] * Xk[:, None, :]).reshape(self.kk, ns * p)
            self.Zrk = Z * rk[:, None]
        self.n_unk = int(un.sum())
        if self.n_unk:
            Xu, ru = md.X[un], r[un]
            self.XXu, self.Xru, self.rru = Xu.T @ Xu, Xu.T @ ru, float(ru @ ru)
            if self.ml:  # per study: the number, sums and plain means of the rows; scatter about those means
                su = md.study_idx[un]
                self.nu = np.bincount(su, minlength=ns).astype(float)
                self.SXu = np.stack([np.bincount(su, weights=Xu[:, j], minlength=ns) for j in range(p)], 1)
                self.Sru = np.bincount(su, weights=ru, minlength=ns)
                n1 = np.maximum(self.nu, 1.0)
                self.xu0, self.ru0 = self.SXu / n1[:, None], self.Sru / n1
                ex, er = Xu - self.xu0[su], ru - self.ru0[su]
                self.Cxx, self.Cxr, self.Crr = ex.T @ ex, ex.T @ er, float(er @ er)

    def __call__(self, tw, ts=None, sig=None, *, moments: bool = False, chunk: int = 4_000_000):
        """``ll`` (N,) and, with ``moments``, the posterior mean (N, p) and covariance (N, p, p) of ``b``."""
        tw = np.asarray(tw, dtype=float).ravel()
        N = tw.size
        width = max(1, self.kk) * max(self.p * self.p, (self.ns * self.p) if self.ml else 1, 1)
        step = max(1, chunk // width)
        ll = np.empty(N)
        mean = np.empty((N, self.p)) if moments else None
        cov = np.empty((N, self.p, self.p)) if moments else None
        for a in range(0, N, step):
            sl = slice(a, min(N, a + step))
            out = self._block(tw[sl], None if ts is None else np.asarray(ts, float).ravel()[sl],
                              None if sig is None else np.asarray(sig, float).ravel()[sl], moments)
            ll[sl] = out[0]
            if moments:
                mean[sl], cov[sl] = out[1], out[2]
        return (ll, mean, cov) if moments else ll

    def _studies(self, tw, ts, sig):
        r"""``G``, ``q``, ``rr`` and ``log det Sigma_1`` of the multilevel model, about the studies' means.

        Per study ``i`` with weighted means ``xbar_i = TX_i / TW_i``, ``rbar_i = Tr_i / TW_i`` the
        Woodbury step ``G_i - c_i TX_i TX_i'`` equals ``S_i + g_i xbar_i xbar_i'`` with ``S_i`` the
        weighted scatter about the means and ``g_i = TW_i / (1 + ts^2 TW_i)`` (likewise ``q``, ``rr``):
        no difference of large numbers when ``ts^2 TW_i`` is large.
        """
        N, p = tw.size, self.p
        G, q, rr, logdet = np.zeros((N, p, p)), np.zeros((N, p)), np.zeros(N), np.zeros(N)
        TW = np.zeros((N, self.ns))
        TX = np.zeros((N, self.ns, p))
        Tr = np.zeros((N, self.ns))
        if self.kk:
            dk = self.vk[None, :] + tw[:, None] ** 2
            w = 1.0 / dk
            logdet += np.log(dk).sum(1)
            TW += w @ self.Zk
            TX += (w @ self.ZXk).reshape(N, self.ns, p)
            Tr += w @ self.Zrk
        if self.n_unk:
            du = tw**2 + sig**2
            logdet += self.n_unk * np.log(du)
            TW += self.nu[None] / du[:, None]
            TX += self.SXu[None] / du[:, None, None]
            Tr += self.Sru[None] / du[:, None]
        rbar = Tr / TW
        t2 = ts[:, None] ** 2
        g = TW / (1.0 + t2 * TW)
        logdet += np.log1p(t2 * TW).sum(1)
        if p == 1:  # the intercept alone: every x is 1, so xbar = 1 and the scatter of x is 0
            if self.kk:
                rr += (w * (self.rk[None] - rbar[:, self.sk]) ** 2).sum(1)
            if self.n_unk:
                rr += (self.Crr + (self.nu[None] * (self.ru0[None] - rbar) ** 2).sum(1)) / du
            G[:, 0, 0] = g.sum(1)
            q[:, 0] = (g * rbar).sum(1)
            rr += (g * rbar**2).sum(1)
            return G, q, rr, logdet
        xbar = TX / TW[..., None]
        if self.kk:
            ex = self.Xk[None] - xbar[:, self.sk, :]
            er = self.rk[None] - rbar[:, self.sk]
            G += np.einsum("nk,nkp,nkq->npq", w, ex, ex)
            q += np.einsum("nk,nkp,nk->np", w, ex, er)
            rr += (w * er**2).sum(1)
        if self.n_unk:
            dx = self.xu0[None] - xbar
            dr = self.ru0[None] - rbar
            nu = self.nu[None]
            G += (self.Cxx[None] + np.einsum("ni,nip,niq->npq", nu, dx, dx)) / du[:, None, None]
            q += (self.Cxr[None] + np.einsum("ni,nip,ni->np", nu, dx, dr)) / du[:, None]
            rr += (self.Crr + (nu * dr**2).sum(1)) / du
        G += np.einsum("ni,nip,niq->npq", g, xbar, xbar)
        q += np.einsum("ni,nip,ni->np", g, xbar, rbar)
        rr += (g * rbar**2).sum(1)
        return G, q, rr, logdet

    def _block(self, tw, ts, sig, moments):
        N, p = tw.size, self.p
        logdet = np.zeros(N)
        G = np.zeros((N, p, p))
        q = np.zeros((N, p))
        rr = np.zeros(N)
        if self.ml:
            G, q, rr, logdet = self._studies(tw, ts, sig)
        else:
            if self.kk:
                dk = self.vk[None, :] + tw[:, None] ** 2
                w = 1.0 / dk
                logdet += np.log(dk).sum(1)
                G += (w @ self.XXk).reshape(N, p, p)
                q += w @ self.Xrk
                rr += w @ self.rrk
            if self.n_unk:
                du = tw**2 + sig**2
                logdet += self.n_unk * np.log(du)
                G += self.XXu[None] / du[:, None, None]
                q += self.Xru[None] / du[:, None]
                rr += self.rru / du
        s0 = self.s0
        A = G + np.diag(1.0 / s0**2)[None]
        q = q - (self.d / s0**2)[None]
        rr = rr + float(np.sum(self.d**2 / s0**2))
        if p == 1:
            a = A[:, 0, 0]
            delta = q / a[:, None]
            logdet_a = np.log(a)
        else:
            # far out in the tails (scales of 1e-13 or 1e6 prior scales) rounding can leave A singular:
            # such a node has no mass
            sign, logdet_a = np.linalg.slogdet(A)
            bad = ~((sign > 0) & np.isfinite(logdet_a))
            A = np.where(bad[:, None, None], np.eye(p)[None], A)
            logdet_a = np.where(bad, np.inf, logdet_a)
            delta = np.linalg.solve(A, q[..., None])[..., 0]
        quad = rr - np.einsum("np,np->n", q, delta)
        ll = -0.5 * (self.k * LOG_2PI + logdet + logdet_a + 2.0 * np.log(s0).sum() + quad)
        ll = np.where(np.isfinite(ll), ll, -np.inf)  # overflow far out in the tails: no mass
        if not moments:
            return (ll,)
        cov = 1.0 / A if p == 1 else np.linalg.inv(A)
        return ll, self.mref[None] + delta, cov


# --------------------------------------------------------------------------
# The tensor grid
# --------------------------------------------------------------------------


def components(md: MetaData, priors: Priors) -> list[tuple[str, object]]:
    """The standard deviations of ``md``'s model and their priors, in the order of the grid's axes."""
    out = ([("tau_study", priors.tau), ("tau_within", priors.tau_within_prior)] if md.model == "multilevel"
           else [("tau", priors.tau)])
    if md.n_unknown:
        out.append(("sigma_resid", priors.sigma_resid))
    return out


def _evaluate(f: CollapsedLikelihood, names, prs, xs, moments=False):
    """Log posterior density in ``x`` on the tensor grid of the 1-D node arrays ``xs``."""
    vals = [p.scale * np.exp(x) for p, x in zip(prs, xs, strict=True)]
    lps = [p.logpdf(t) + np.log(t) for p, t in zip(prs, vals, strict=True)]
    mesh = dict(zip(names, (m.ravel() for m in np.meshgrid(*vals, indexing="ij")), strict=True))
    low = "tau_within" if "tau_within" in mesh else "tau"
    out = f(mesh[low], mesh.get("tau_study"), mesh.get("sigma_resid"), moments=moments)
    shape = tuple(x.size for x in xs)
    ll = (out[0] if moments else out).reshape(shape)
    for ax, lp in enumerate(lps):
        ll = ll + lp.reshape([-1 if i == ax else 1 for i in range(len(xs))])
    if not moments:
        return ll
    return ll, vals, out[1], out[2]


def _log_marginals(ll, wqs):
    """Log marginal density along each axis (the others summed with their quadrature weights)."""
    D = ll.ndim
    lw = ll.copy()
    for ax, wq in enumerate(wqs):
        lw = lw + np.log(wq).reshape([-1 if i == ax else 1 for i in range(D)])
    out = []
    for ax in range(D):
        others = tuple(i for i in range(D) if i != ax)
        m = special.logsumexp(lw, axis=others) if others else lw
        out.append(m - np.log(wqs[ax]))
    return out


def posterior_grid(f: CollapsedLikelihood, comps, n: int | None = None) -> dict:
    """Nodes, normalised masses and the conditional moments of ``b`` on the final grid."""
    names = [c[0] for c in comps]
    prs = [c[1] for c in comps]
    D = len(comps)
    n = n or GRID_NODES[D]
    n = n if n % 2 else n + 1
    nc = _COARSE[D]
    xs = [np.linspace(*_X_RANGE, nc) for _ in range(D)]
    ll = _evaluate(f, names, prs, xs)
    keep = ll > np.nanmax(ll) - _LOG_FLOOR
    box = []
    for ax in range(D):
        idx = np.flatnonzero(keep.any(axis=tuple(i for i in range(D) if i != ax)))
        box.append((xs[ax][max(idx[0] - 1, 0)], xs[ax][min(idx[-1] + 1, nc - 1)]))
    h = xs[0][1] - xs[0][0]
    cs = [_centre_scale(x, m) for x, m in zip(xs, _log_marginals(ll, [np.full(nc, h)] * D), strict=True)]
    for _ in range(5):  # re-centre on probe grids until modes and widths settle
        nodes = [_sinh_nodes(c, s, lo, hi, min(n, _PROBE[D])) for (c, s), (lo, hi) in zip(cs, box, strict=True)]
        xs = [x for x, _ in nodes]
        ll = _evaluate(f, names, prs, xs)
        new = [_centre_scale(x, m) for x, m in zip(xs, _log_marginals(ll, [w for _, w in nodes]), strict=True)]
        settled = all(abs(c2 - c) < 0.25 * s and 0.7 < s2 / s < 1.4
                      for (c, s), (c2, s2) in zip(cs, new, strict=True))
        cs = new
        if settled:
            break
    nodes = [_sinh_nodes(c, s, lo, hi, n) for (c, s), (lo, hi) in zip(cs, box, strict=True)]
    xs, wqs = [x for x, _ in nodes], [w for _, w in nodes]
    ll, vals, mean, cov = _evaluate(f, names, prs, xs, moments=True)
    wq = wqs[0]
    for w in wqs[1:]:
        wq = np.multiply.outer(wq, w)
    w = wq * np.exp(ll - ll.max())
    w = w / w.sum()
    return {"names": names, "x": xs, "wq": wqs, "values": vals, "w": w, "mean": mean, "cov": cov,
            "shape": w.shape}


# --------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------


class Mixture(NormalMixture):
    """A :class:`~metaquant.bayes.exact.NormalMixture` whose quantiles take safeguarded Newton steps.

    Each step evaluates the CDF and the density in one pass over the components (a mixture here has up
    to ~10^5 of them); a step that leaves the bracket is replaced by bisection, and Brent's method is the
    fall-back.
    """

    def _cdf_pdf(self, x: float) -> tuple[float, float]:
        z = (x - self.m) / self.s
        return float(special.ndtr(z) @ self.w), float((np.exp(-0.5 * z * z) / self.s) @ self.w) / math.sqrt(2 * math.pi)

    def ppf(self, p: float) -> float:
        sd = self.sd()
        x = self.mean() + sd * float(special.ndtri(p))
        lo, hi = -math.inf, math.inf
        for _ in range(40):
            F, f = self._cdf_pdf(x)
            if F < p:
                lo = x
            else:
                hi = x
            if abs(F - p) <= 1e-15 * max(p, 1e-300) + 1e-16:
                return x
            step = (F - p) / f if f > 0 else math.inf
            nx = x - step
            if not (lo < nx < hi) or not math.isfinite(nx):
                if math.isfinite(lo) and math.isfinite(hi):
                    nx = 0.5 * (lo + hi)
                else:
                    return super().ppf(p)
            if abs(nx - x) <= 1e-14 * max(abs(x), sd):
                return nx
            x = nx
        return super().ppf(p)


def compressed(mix: NormalMixture, bins: tuple[int, int] = (400, 40)) -> Mixture:
    """``mix`` with its components merged in bins of (mean, log sd), each bin's weight, mean and variance kept.

    A grid of 10^5 nodes gives as many components; plots evaluate the density at thousands of points,
    so they get at most ``400 x 40`` components whose merged members differ by a small fraction of
    their own sd (the mixture's first two moments are unchanged).
    """
    if mix.w.size <= bins[0] * bins[1]:
        return Mixture(mix.w, mix.m, mix.s)
    ls = np.log(mix.s)
    im = np.minimum(((mix.m - mix.m.min()) / (np.ptp(mix.m) or 1.0) * bins[0]).astype(int), bins[0] - 1)
    js = np.minimum(((ls - ls.min()) / (np.ptp(ls) or 1.0) * bins[1]).astype(int), bins[1] - 1)
    key = im * bins[1] + js
    n = bins[0] * bins[1]
    w = np.bincount(key, weights=mix.w, minlength=n)
    keep = w > 0
    m1 = np.bincount(key, weights=mix.w * mix.m, minlength=n)[keep] / w[keep]
    m2 = np.bincount(key, weights=mix.w * (mix.s**2 + mix.m**2), minlength=n)[keep] / w[keep]
    return Mixture(w[keep], m1, np.sqrt(np.maximum(m2 - m1**2, 1e-300)))


def _weighted_quantiles(x: np.ndarray, w: np.ndarray, ps) -> list[float]:
    """Quantiles of a discrete distribution (nodes ``x``, masses ``w``), interpolated between mid-masses."""
    o = np.argsort(x)
    xs, ws = x[o], w[o]
    cdf = np.cumsum(ws) - 0.5 * ws
    return [float(np.interp(p, cdf, xs)) for p in ps]


def _mixture_marginal(mix: NormalMixture) -> Marginal:
    return Marginal(mix.mean(), mix.sd(), mix.ppf(0.5), mix.ppf(_Q[0]), mix.ppf(_Q[1]))


@dataclass(kw_only=True)
class QuadratureResult(BayesResult):
    """A :class:`~metaquant.bayes.results.BayesResult` computed by quadrature (:func:`fit_quadrature`).

    The same attributes and ``to_dict()`` keys as a fit by MCMC (``engine="bayes"``,
    ``settings["sampler"] = "quadrature"``); the diagnostics say ``method: "quadrature"`` and never fail.
    ``idata`` (exact independent posterior draws, ``chains x draws`` of them) is made on first use.

    Attributes
    ----------
    grid : dict
        Nodes (``names``, ``values``), normalised masses ``w`` and the conditional mean (``mean``) and
        covariance (``cov``) of the coefficients at each node.
    mixture, predictive : NormalMixture
        The posterior of ``mu`` and of a new study's effect, components merged by :func:`compressed`
        (every number of the result is computed from the full mixtures before).
    """

    grid: dict = field(default_factory=dict, repr=False)
    mixture: NormalMixture | None = field(default=None, repr=False)
    predictive: NormalMixture | None = field(default=None, repr=False)

    # idata is made from the grid on first use (ArviZ and the draws cost more than the fit)
    @property
    def idata(self):
        if getattr(self, "_idata", None) is None and self.grid:
            self._idata = self._draws_idata()
        return getattr(self, "_idata", None)

    @idata.setter
    def idata(self, value):
        self._idata = value

    def cdf_mu(self, x):
        """Posterior CDF of ``mu`` (log-ratio scale), from the full mixture."""
        return self._level_mixture(np.zeros(self.data.p - 1)).cdf(x)

    def _node_moments(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per node: mean and variance of ``mu + x' beta`` (``x`` the centred covariate row)."""
        g = self.grid
        a = np.r_[1.0, np.asarray(x, dtype=float)]
        return g["mean"] @ a, np.einsum("p,npq,q->n", a, g["cov"], a)

    def _tau_total2(self) -> np.ndarray:
        g = self.grid
        vals = dict(zip(g["names"], np.meshgrid(*g["values"], indexing="ij"), strict=True))
        if "tau_study" in vals:
            return (vals["tau_study"] ** 2 + vals["tau_within"] ** 2).ravel()
        return (vals["tau"] ** 2).ravel()

    def _level_mixture(self, x, new_study: bool = False) -> NormalMixture:
        m, v = self._node_moments(x)
        if new_study:
            v = v + self._tau_total2()
        return Mixture.of(self.grid["w"], m, v)

    def _level_reading(self, x) -> dict:
        """The reading of ``mu + x' beta`` from its mixture (moments, quantiles, zones, label)."""
        md = self.data
        hib = md.higher_is_better
        mix = self._level_mixture(x)
        m = _mixture_marginal(mix)
        pm_, _ = _pct_moments(mix, hib)
        zp = scale.zone_probabilities_from_cdf(lambda e: _cdf_on_pct(mix, e, hib), md.thresholds)
        out = {"mean": m.mean, "sd": m.sd, "median": m.median, "ci_low": m.ci_low, "ci_high": m.ci_high,
               "pct": float(pct_from_log(m.median, hib)), "pct_mean": pm_,
               "pct_ci_low": float(pct_from_log(m.ci_low, hib)), "pct_ci_high": float(pct_from_log(m.ci_high, hib))}
        dec = scale.decide_label(zp, min_probability=self.min_probability)
        out.update({k: dec[k] for k in ("label_code", "label", "label_probability", "label_selected",
                                        "label_zones")})
        out["zone_probabilities"] = zp
        return out

    def mu_draws(self) -> np.ndarray:
        """Exact independent draws of ``mu`` (``chains x draws`` of them, seeded by the fit's seed)."""
        return np.asarray(self.idata.posterior["mu"].values, dtype=float).reshape(-1)

    def predict_new(self, X) -> dict:
        """As :meth:`BayesResult.predict_new`, from the mixtures (no draws)."""
        from ..results import design_rows

        md = self.data
        X = design_rows(X, list(md.coef_names), argument="X")
        centre = np.array([md.centres.get(n, 0.0) for n in md.coef_names])
        cols = {k: [] for k in ("pred", "ci_low", "ci_high", "pi_low", "pi_high")}
        first = None
        for x in X:
            xc = np.asarray(x, dtype=float) - centre
            mix, new = self._level_mixture(xc), self._level_mixture(xc, new_study=True)
            vals = (mix.ppf(0.5), mix.ppf(0.025), mix.ppf(0.975), new.ppf(0.025), new.ppf(0.975))
            for key, v in zip(cols, vals, strict=True):
                cols[key].append(float(v))
            if first is None:
                zp = scale.zone_probabilities_from_cdf(
                    lambda e, n_=new, h=md.higher_is_better: _cdf_on_pct(n_, e, h), md.thresholds)
                dec = scale.decide_label(zp, min_probability=self.min_probability)
                first = {"label_code": dec["label_code"], "label_probability": dec["label_probability"],
                         "zone_probabilities": zp}
        out = {k: np.asarray(v) for k, v in cols.items()}
        out.update(first)
        return out

    def summary(self, var_names=None) -> pd.DataFrame:
        """Tidy table: mean, sd, median and 2.5/97.5 % quantiles of ``mu``, ``mu_pct``, the standard
        deviations, the slopes and ``theta_new``/``theta_new_pct`` (exact, no Monte Carlo columns)."""
        cols = ("mean", "sd", "median", "ci_low", "ci_high")
        rows = {}
        for name, m in (("mu", self.mu), ("mu_pct", self.effect_pct), ("tau", self.tau),
                        ("tau_study", self.tau_study), ("tau_within", self.tau_within),
                        ("sigma_resid", self.sigma_resid)):
            if m is not None:
                rows[name] = {c: getattr(m, c) for c in cols}
        for c in self.coefficients:
            rows[f"beta[{c['name']}]"] = {k: c.get(k) for k in cols}
        hib = self.data.higher_is_better
        pred = self._level_mixture(np.zeros(self.data.p - 1), new_study=True)
        rows["theta_new"] = {"mean": pred.mean(), "sd": pred.sd(), "median": pred.ppf(0.5),
                             "ci_low": self.pi_low, "ci_high": self.pi_high}
        pm_, psd = _pct_moments(pred, hib)
        rows["theta_new_pct"] = {"mean": pm_, "sd": psd, "median": float(pct_from_log(pred.ppf(0.5), hib)),
                                 "ci_low": self.pct_pi_low, "ci_high": self.pct_pi_high}
        df = pd.DataFrame.from_dict(rows, orient="index")
        return df.loc[var_names] if var_names else df

    def _draws_idata(self):
        """InferenceData of exact independent draws (``chains x draws``; ``sample_stats`` left out)."""
        import arviz as az
        import xarray as xr

        from .draws import MAX_EFFECT_NUMBERS, _dataset, _scale_vars, pointwise_loglik, replicate, row_predictive

        md, g = self.data, self.grid
        nchain = int(self.settings.get("chains") or 4)
        ndraw = int(self.settings.get("draws") or 1000)
        S = nchain * ndraw
        rng = np.random.default_rng([int(self.settings.get("seed") or 0), 4])
        idx = rng.choice(g["w"].size, size=S, p=g["w"].ravel())
        mesh = np.meshgrid(*g["values"], indexing="ij")
        sd = {name: m.ravel()[idx] for name, m in zip(g["names"], mesh, strict=True)}
        st = Structure.of(md, self.priors, "marginal")
        keep = S * md.k <= MAX_EFFECT_NUMBERS
        cd = conditional_draws(md, self.priors, st, sd, rng, keep_effects=keep)
        b, u = cd["b"], cd.get("u")
        tot = np.sqrt(sd["tau_study"] ** 2 + sd["tau_within"] ** 2) if "tau_study" in sd else sd["tau"]

        def cd_(x):
            return np.asarray(x).reshape((nchain, ndraw) + np.shape(x)[1:])

        coords = {"chain": np.arange(nchain), "draw": np.arange(ndraw), "comparison": md.comparisons,
                  "study": md.studies}
        pv = _scale_vars(md, b, sd, tot)
        if keep:
            pv["theta"] = (("comparison",), cd["theta"])
            if u is not None:
                pv["u"] = (("study",), u)
        new = b[:, 0] + tot * rng.standard_normal(S)
        ppv = {"theta_new": ((), new), "theta_new_pct": ((), pct_from_log(new, md.higher_is_better))}
        groups = {"posterior": _dataset(pv, coords, md, cd_)}
        if keep:
            loc, var = row_predictive(md, st, b, u, sd)
            groups["log_likelihood"] = _dataset({"y": (("comparison",), pointwise_loglik(md, loc, var))}, coords,
                                                md, cd_)
            ppv["y"] = (("comparison",), replicate(md, loc, var, rng))
        groups["posterior_predictive"] = _dataset(ppv, coords, md, cd_)
        groups["observed_data"] = xr.Dataset({"y": (("comparison",), md.y)}, coords={"comparison": md.comparisons})
        groups["constant_data"] = xr.Dataset(
            {"vi": (("comparison",), np.where(md.known, md.v, np.nan)), "vi_known": (("comparison",), md.known),
             "study": (("comparison",), np.asarray(md.studies)[md.study_idx])},
            coords={"comparison": md.comparisons})
        return az.InferenceData(**groups)


# --------------------------------------------------------------------------
# Public function
# --------------------------------------------------------------------------


def reach(md: MetaData, parametrization: str = "marginal", sampler: str = "pymc", prior: bool = False) -> str | None:
    """Why the quadrature cannot compute the sampler's posterior of ``md``, or ``None`` when it can."""
    if md.correlated:
        return "correlated sampling errors (the quadrature grid takes independent ones)"
    if parametrization != "marginal":
        return f"the {parametrization} parametrization was asked for"
    if sampler != "pymc":
        return f"the {sampler} sampler was asked for"
    if prior:
        return "prior draws were asked for"
    return None


def fit_quadrature(md: MetaData, priors: Priors, *, min_probability: float = scale.SELECTION_THRESHOLD,
                   grid: int | None = None, settings: dict | None = None) -> QuadratureResult:
    """The posterior of the sampler's model of ``md`` by quadrature over its standard deviations.

    Parameters
    ----------
    md : MetaData
        Prepared data (:func:`metaquant.bayes.data.prepare`), independent sampling errors.
    priors : Priors
    min_probability : float
        A label is stated only when its zones hold at least this probability.
    grid : int, optional
        Nodes per axis of the final grid (default :data:`GRID_NODES`: 801, 201, 61 for 1, 2, 3 axes).
    settings : dict, optional
        The run's settings (``seed``, ``chains``, ``draws``: the size of ``idata`` when it is asked for).

    Returns
    -------
    QuadratureResult
    """
    t0 = time.perf_counter()
    comps = components(md, priors)
    f = CollapsedLikelihood(md, priors)
    g = posterior_grid(f, comps, grid)
    w = g["w"].ravel()
    hib = md.higher_is_better
    res = QuadratureResult.__new__(QuadratureResult)
    res.grid = dict(g, w=w, mean=g["mean"], cov=g["cov"])
    res.data = md
    mix = Mixture.of(w, g["mean"][:, 0], g["cov"][:, 0, 0])
    tot2 = QuadratureResult._tau_total2(res)
    pred = Mixture.of(w, g["mean"][:, 0], g["cov"][:, 0, 0] + tot2)
    mu = _mixture_marginal(mix)
    pm_, psd = _pct_moments(mix, hib)
    effect_pct = Marginal(pm_, psd, *(float(pct_from_log(x, hib)) for x in (mu.median, mu.ci_low, mu.ci_high)))
    scales = {}
    W = g["w"]
    D = W.ndim
    for ax, name in enumerate(g["names"]):
        mass = W.sum(axis=tuple(i for i in range(D) if i != ax)) if D > 1 else W
        s = _grid_marginal_summary(g["x"][ax], g["values"][ax], mass, g["wq"][ax], "x")
        scales[name] = Marginal(s["x_mean"], s["x_sd"], s["x_median"], s["x_ci_low"], s["x_ci_high"])
    if "tau_study" in scales:
        tt = np.sqrt(tot2)
        mean = float(w @ tt)
        # quantiles from smooth nodal masses: density x trapezoid cells (Simpson's 4-2-4 weights alternate)
        cells = [np.gradient(x) for x in g["x"]]
        wq_s, wq_t = g["wq"][0], cells[0]
        for a, b in zip(g["wq"][1:], cells[1:], strict=True):
            wq_s, wq_t = np.multiply.outer(wq_s, a), np.multiply.outer(wq_t, b)
        wt = (w.reshape(g["shape"]) / wq_s * wq_t).ravel()
        q = _weighted_quantiles(tt, wt / wt.sum(), (0.5, _Q[0], _Q[1]))
        scales["tau"] = Marginal(mean, float(math.sqrt(max(w @ (tt - mean) ** 2, 0.0))), *q)
    coefs = []
    for j, name in enumerate(md.coef_names, start=1):
        m = _mixture_marginal(Mixture.of(w, g["mean"][:, j], g["cov"][:, j, j]))
        coefs.append({"name": name, "mean": m.mean, "sd": m.sd, "ci_low": m.ci_low, "ci_high": m.ci_high,
                      "centre": md.centres.get(name)})
    lo, hi = pred.ppf(_Q[0]), pred.ppf(_Q[1])
    zp = scale.zone_probabilities_from_cdf(lambda e: _cdf_on_pct(mix, e, hib), md.thresholds)
    pzp = scale.zone_probabilities_from_cdf(lambda e: _cdf_on_pct(pred, e, hib), md.thresholds)
    diag = {k: None for k in DIAGNOSTIC_KEYS}
    diag.update(method="quadrature", nodes=int(w.size), axes=list(g["names"]), problems=[])
    st = dict(settings or {})
    st.update(sampler="quadrature", parametrization="marginal", target_accept=None, tune=None,
              grid=[int(s) for s in g["shape"]], compiled=False, time_s=time.perf_counter() - t0)
    out = QuadratureResult(
        data=md, priors=priors, settings=st, engine="bayes", mu=mu, effect_pct=effect_pct, tau=scales["tau"],
        tau_study=scales.get("tau_study"), tau_within=scales.get("tau_within"),
        sigma_resid=scales.get("sigma_resid"), p_positive=float(1.0 - mix.cdf(0.0)), pi_low=lo, pi_high=hi,
        pct_pi_low=float(pct_from_log(lo, hib)), pct_pi_high=float(pct_from_log(hi, hib)),
        zone_probabilities=zp, pred_zone_probabilities=pzp, **label_fields(zp, pzp, min_probability),
        coefficients=coefs, diagnostics=diag, ok=True, notes=list(md.notes), grid=res.grid, mixture=compressed(mix),
        predictive=compressed(pred))
    return out


__all__ = ["GRID_NODES", "QUADRATURE_NOTE", "CollapsedLikelihood", "QuadratureResult", "components",
           "fit_quadrature", "posterior_grid", "reach"]
