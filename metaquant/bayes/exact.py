r"""The exact engine: the random-effects model by quadrature (the bayesmeta approach).

Model (Röver 2020, JSS 93(6), §2): ``y_j ~ N(theta_j, v_j)``,
``theta_j ~ N(mu, tau^2)``, ``mu ~ N(m0, s0^2)``, ``tau`` from a half-normal or
half-Cauchy prior.

Given ``tau``, ``mu`` is conjugate: with ``w_j = 1/(v_j + tau^2)``,

.. math::

    P(\tau) = 1/s_0^2 + \sum_j w_j, \quad
    m(\tau) = (m_0/s_0^2 + \sum_j w_j y_j) / P(\tau), \quad
    \mu \mid \tau, y \sim N(m(\tau), 1/P(\tau)),

and the marginal likelihood of ``tau`` is

.. math::

    \log p(y \mid \tau) = -\tfrac12 \Big[\sum_j \log(v_j + \tau^2) + \log(s_0^2 P)
        + \sum_j w_j (y_j - m)^2 + (m - m_0)^2 / s_0^2\Big] + \text{const}.

The posterior of ``tau`` is one-dimensional; it is integrated in
``x = log(tau / a)`` (``a`` the prior scale), where the integrand
``p(tau) p(y | tau) tau`` is smooth with exponentially decaying tails for
half-normal and half-Cauchy priors alike: first on a coarse grid over
``tau`` in [1e-13 a, 3e6 a] that finds the mode, the width and the range of
the posterior, then with composite Simpson's rule on ``grid`` nodes spaced
``x = c + s sinh(u)`` around the mode ``c`` (re-centred until mode and width
settle).  The posterior of ``mu`` is the
normal mixture ``sum_n W_n N(m(tau_n), 1/P(tau_n))`` and the effect in a new
study ``theta_new`` the mixture ``sum_n W_n N(m(tau_n), 1/P(tau_n) + tau_n^2)``;
their moments, quantiles (root of the mixture CDF) and zone probabilities (the
mixture CDF at the SSM cut-points, mapped from % to the log scale) are exact
up to the quadrature error (about 1e-7 relative with the default grid).

Rows with an unknown sampling variance (``unknown_vi="model"``, the default)
get ``v_j = sigma_resid^2`` as in the MCMC models; the posterior of
``(tau, sigma_resid)`` is then integrated on a two-dimensional grid in the
same way.  Any other variance policy (``drop``, ``impute-max``, ``refuse``, ...)
is applied on the fitting road before the rows reach this engine
(``metaquant.fit(..., method="exact", variance_policy=...)``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import interpolate, optimize, special

from .. import scale
from ..errors import InputError
from ..evidence.effects import log_from_pct, pct_from_log
from ..progress import plural
from ..scale import SELECTION_THRESHOLD
from .data import MetaData, prepare, rows_as_given
from .priors import Priors, ScalePrior, as_priors
from .results import _Q, DIAGNOSTIC_KEYS, BayesResult, Marginal, label_fields, single_threaded_blas

_LOG_FLOOR = 46.0  # nodes below max log density - 46 (a factor 1e-20) carry no mass


def _simpson_weights(n: int, h: float) -> np.ndarray:
    """Composite Simpson weights on ``n`` (odd) equally spaced nodes of spacing ``h``."""
    w = np.ones(n)
    w[1:-1:2] = 4.0
    w[2:-1:2] = 2.0
    return w * h / 3.0


def _norm_cdf(x):
    return special.ndtr(x)


# --------------------------------------------------------------------------
# Conditional quantities given tau (and sigma)
# --------------------------------------------------------------------------


def _given_tau(tau, y, v, m0, s0, chunk=2_000_000):
    """log p(y | tau) (up to a constant), m(tau) and 1/P(tau) for an array of tau (known variances)."""
    tau = np.asarray(tau, dtype=float)
    out_l = np.empty(tau.size)
    out_m = np.empty(tau.size)
    out_s2 = np.empty(tau.size)
    step = max(1, chunk // max(y.size, 1))
    for a in range(0, tau.size, step):
        t = tau[a:a + step, None]
        d = v[None, :] + t * t
        w = 1.0 / d
        P = 1.0 / s0**2 + w.sum(1)
        m = (m0 / s0**2 + (w * y[None, :]).sum(1)) / P
        q = (w * (y[None, :] - m[:, None]) ** 2).sum(1) + (m - m0) ** 2 / s0**2
        out_l[a:a + step] = -0.5 * (np.log(d).sum(1) + np.log(s0**2 * P) + q)
        out_m[a:a + step] = m
        out_s2[a:a + step] = 1.0 / P
    return out_l, out_m, out_s2


def _given_tau_sigma(tau, sig, y, v, known, m0, s0):
    """As :func:`_given_tau` on a (len(tau), len(sig)) grid; unknown rows get variance sig^2."""
    yk, vk, yu = y[known], v[known], y[~known]
    nu = yu.size
    t2 = np.asarray(tau, dtype=float)[:, None] ** 2
    if yk.size:
        dk = vk[None, :] + t2  # (n1, kk)
        wk = 1.0 / dk
        Wk = wk.sum(1)[:, None]
        Ak = (wk * yk[None, :]).sum(1)[:, None]
        Bk = (wk * yk[None, :] ** 2).sum(1)[:, None]
        Lk = np.log(dk).sum(1)[:, None]
    else:
        Wk = Ak = Bk = Lk = 0.0
    du = t2 + np.asarray(sig, dtype=float)[None, :] ** 2  # (n1, n2)
    # The unknown-variance rows enter through their mean and sum of squares about it:
    # sum_u (y_u - m)^2 / du = (SS_u + n_u (ybar_u - m)^2) / du.  Expanding the square instead
    # (B - 2 m A + m^2 W) cancels terms of size y^2/du, which near tau = sigma = 0 (du ~ 1e-26)
    # leaves rounding noise larger than the log-likelihood itself.
    ybar = yu.mean() if nu else 0.0
    ss_u = float(((yu - ybar) ** 2).sum()) if nu else 0.0
    P = 1.0 / s0**2 + Wk + nu / du
    m = (m0 / s0**2 + Ak + nu * ybar / du) / P
    d_u = (ybar * (1.0 / s0**2 + Wk) - m0 / s0**2 - Ak) / P  # ybar_u - m, without cancellation
    q_k = Bk - 2.0 * m * Ak + m * m * Wk
    q = q_k + (ss_u + nu * d_u**2) / du + (m - m0) ** 2 / s0**2
    ll = -0.5 * (Lk + nu * np.log(du) + np.log(s0**2 * P) + q)
    return ll, m, 1.0 / P


# --------------------------------------------------------------------------
# Adaptive grids on the log scale of the standard deviations
# --------------------------------------------------------------------------

#: Coarse search range of x = log(tau / prior scale): tau from 1e-13 to 3e6 prior scales.
_X_RANGE = (-30.0, 15.0)


def _significant(ll: np.ndarray, axis: int | None = None) -> tuple[int, int]:
    """First and last index (along ``axis``) of nodes within ``_LOG_FLOOR`` of the maximum."""
    keep = ll > np.nanmax(ll) - _LOG_FLOOR
    if axis is not None:
        keep = keep.any(axis=1 - axis)
    idx = np.flatnonzero(keep)
    return int(idx[0]), int(idx[-1])


def _centre_scale(x: np.ndarray, logf: np.ndarray) -> tuple[float, float]:
    """Mode and half-width of a 1-D log density on nodes ``x``.

    The half-width is the distance from the mode to where ``logf`` has
    dropped by 1/2 (one sd for a normal), averaged over the two sides that
    reach it, and at least a quarter of the local node spacing.
    """
    i = int(np.nanargmax(logf))
    c, top = float(x[i]), float(logf[i])
    widths = []
    for step in (-1, 1):
        j = i
        while 0 <= j + step < x.size and logf[j + step] > top - 0.5:
            j += step
        if 0 <= j + step < x.size:  # interpolate the crossing between j and j + step
            f0, f1 = logf[j] - (top - 0.5), logf[j + step] - (top - 0.5)
            xc = x[j] + (x[j + step] - x[j]) * f0 / (f0 - f1)
            widths.append(abs(xc - c))
    gap = np.diff(x)
    local = float(gap[min(max(i - 1, 0), gap.size - 1)])
    s = float(np.mean(widths)) if widths else float(x[-1] - x[0]) / 4
    return c, max(s, 0.25 * local)


def _sinh_nodes(c: float, s: float, lo: float, hi: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes on [lo, hi] crowded around ``c``: x = c + s sinh(u), u uniform; Simpson weights in x.

    The sinh map (a standard device for peaked integrands) puts the nodes
    ``s * du`` apart near the mode and spreads them exponentially in the
    tails, where an exponentially decaying tail becomes a doubly exponential
    one in ``u``; the weights are Simpson's in ``u`` times dx/du = s cosh(u).
    """
    u = np.linspace(np.arcsinh((lo - c) / s), np.arcsinh((hi - c) / s), n)
    return c + s * np.sinh(u), _simpson_weights(n, u[1] - u[0]) * s * np.cosh(u)


def _log_prior_x(prior: ScalePrior, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``tau = a e^x`` and ``log p(tau) + log tau`` (the prior density in x)."""
    t = prior.scale * np.exp(x)
    return t, prior.logpdf(t) + np.log(t)


def _marginal_log(ll: np.ndarray, wq_other: np.ndarray, axis: int) -> np.ndarray:
    """Log of the marginal density along ``axis`` of a 2-D grid of log densities."""
    other = 1 - axis
    lw = ll + np.log(wq_other)[(None, slice(None)) if other == 1 else (slice(None), None)]
    return special.logsumexp(lw, axis=other)


def _tau_grid_1d(y, v, m0, s0, prior: ScalePrior, n: int, coarse: int = 361):
    """Posterior of tau on an adaptive grid in x = log(tau/a) (normalised nodal mass ``w``).

    The integrand ``p(tau) p(y | tau) tau`` is smooth in x with exponentially
    decaying tails for both prior families.  A coarse uniform pass finds the
    mode, the width and the range holding everything within a factor e^-46 of
    the maximum; composite Simpson on sinh-spaced nodes (:func:`_sinh_nodes`)
    then integrates it, re-centred until mode and width settle.
    """
    x = np.linspace(*_X_RANGE, coarse)
    t, lp = _log_prior_x(prior, x)
    ll = _given_tau(t, y, v, m0, s0)[0] + lp
    i0, i1 = _significant(ll)
    lo, hi = x[max(i0 - 1, 0)], x[min(i1 + 1, coarse - 1)]
    c, sc = _centre_scale(x, ll)
    for _ in range(4):  # re-centre on a probe grid until mode and width settle
        xp, _ = _sinh_nodes(c, sc, lo, hi, min(n, 201))
        t, lp = _log_prior_x(prior, xp)
        c2, s2c = _centre_scale(xp, _given_tau(t, y, v, m0, s0)[0] + lp)
        settled = abs(c2 - c) < 0.25 * sc and 0.7 < s2c / sc < 1.4
        c, sc = c2, s2c
        if settled:
            break
    x, wq = _sinh_nodes(c, sc, lo, hi, n)
    t, lp = _log_prior_x(prior, x)
    ll, m, s2 = _given_tau(t, y, v, m0, s0)
    ll = ll + lp
    wts = wq * np.exp(ll - ll.max())
    wts /= wts.sum()
    return {"x": x, "tau": t, "w": wts, "m": m, "s2": s2, "wq": wq}


def _tau_sigma_grid_2d(y, v, known, m0, s0, pt_: ScalePrior, ps: ScalePrior, n: int, coarse: int = 181):
    """As :func:`_tau_grid_1d` for (tau, sigma_resid) on a tensor product of sinh-spaced grids."""
    xa = np.linspace(*_X_RANGE, coarse)
    xb = xa.copy()
    ta, la = _log_prior_x(pt_, xa)
    tb, lb = _log_prior_x(ps, xb)
    ll = _given_tau_sigma(ta, tb, y, v, known, m0, s0)[0] + la[:, None] + lb[None, :]
    box, cs = [], []
    h = xa[1] - xa[0]
    for ax, x in ((0, xa), (1, xb)):
        i0, i1 = _significant(ll, axis=ax)
        box.append((x[max(i0 - 1, 0)], x[min(i1 + 1, coarse - 1)]))
        cs.append(_centre_scale(x, _marginal_log(ll, np.full(coarse, h), ax)))
    for _ in range(4):  # re-centre on a probe grid until modes and widths settle
        npr = min(n, 61)
        (xa, wa), (xb, wb) = (_sinh_nodes(*cs[0], *box[0], npr), _sinh_nodes(*cs[1], *box[1], npr))
        ta, la = _log_prior_x(pt_, xa)
        tb, lb = _log_prior_x(ps, xb)
        ll = _given_tau_sigma(ta, tb, y, v, known, m0, s0)[0] + la[:, None] + lb[None, :]
        new = [_centre_scale(xa, _marginal_log(ll, wb, 0)), _centre_scale(xb, _marginal_log(ll, wa, 1))]
        settled = all(abs(c2 - c) < 0.25 * s and 0.7 < s2_ / s < 1.4
                      for (c, s), (c2, s2_) in zip(cs, new, strict=True))
        cs = new
        if settled:
            break
    (xa, wa), (xb, wb) = (_sinh_nodes(*cs[0], *box[0], n), _sinh_nodes(*cs[1], *box[1], n))
    ta, la = _log_prior_x(pt_, xa)
    tb, lb = _log_prior_x(ps, xb)
    ll, m, s2 = _given_tau_sigma(ta, tb, y, v, known, m0, s0)
    ll = ll + la[:, None] + lb[None, :]
    wts = np.outer(wa, wb) * np.exp(ll - ll.max())
    wts /= wts.sum()
    return {"x": xa, "tau": ta, "x_sigma": xb, "sigma": tb, "w": wts, "m": m, "s2": s2, "wq": wa, "wq_sigma": wb}


# --------------------------------------------------------------------------
# Normal mixtures
# --------------------------------------------------------------------------


@dataclass
class NormalMixture:
    """``sum_n w_n N(m_n, s_n^2)`` with negligible components dropped."""

    w: np.ndarray
    m: np.ndarray
    s: np.ndarray

    @classmethod
    def of(cls, w, m, s2, drop: float = 1e-14) -> NormalMixture:
        """Components with weights ``w`` (normalised), means ``m`` and variances ``s2``.

        The lightest components whose weights sum to at most ``drop`` are
        left out, which moves any probability by at most ``drop``.
        """
        w, m, s2 = (np.asarray(a, dtype=float).ravel() for a in (w, m, s2))
        w = w / w.sum()
        order = np.argsort(w)
        light = order[np.cumsum(w[order]) <= drop]
        keep = np.ones(w.size, dtype=bool)
        keep[light] = False
        ww = w[keep]
        return cls(ww / ww.sum(), m[keep], np.sqrt(s2[keep]))

    def mean(self) -> float:
        return float(self.w @ self.m)

    def sd(self) -> float:
        mu = self.mean()
        return float(math.sqrt(max(self.w @ (self.s**2 + (self.m - mu) ** 2), 0.0)))

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        return (_norm_cdf((x.reshape(-1)[:, None] - self.m[None, :]) / self.s[None, :]) @ self.w).reshape(x.shape)

    def ppf(self, p: float) -> float:
        """Quantile: a bracket grown from the normal approximation, then Brent's method."""
        sd = self.sd()
        x0 = self.mean() + sd * float(special.ndtri(p))
        lo, hi, step = x0 - 0.5 * sd, x0 + 0.5 * sd, sd
        while float(self.cdf(lo)) > p:
            lo -= step
            step *= 2
        step = sd
        while float(self.cdf(hi)) < p:
            hi += step
            step *= 2
        return float(optimize.brentq(lambda x: float(self.cdf(x)) - p, lo, hi, xtol=1e-14, rtol=1e-15))

    def exp_moment(self, a: float) -> float:
        """E[exp(a X)] = sum w exp(a m + a^2 s^2 / 2) (``inf`` when it overflows)."""
        lse = special.logsumexp(a * self.m + 0.5 * a * a * self.s**2, b=self.w)
        return float(np.exp(lse)) if lse < 700 else float("inf")


def _pct_moments(mix: NormalMixture, hib: bool) -> tuple[float, float]:
    """Mean and sd of the relative improvement 100(e^X - 1) or 100(1 - e^-X) of a normal mixture."""
    a = 1.0 if hib else -1.0
    e1, e2 = mix.exp_moment(a), mix.exp_moment(2 * a)
    mean = 100.0 * (e1 - 1.0) if hib else 100.0 * (1.0 - e1)
    return mean, 100.0 * math.sqrt(max(e2 - e1 * e1, 0.0))


def _grid_marginal_summary(x, t, mass, wq, prefix) -> dict:
    """Mean, sd, median and 95 % interval of a scale parameter from its nodal posterior mass.

    ``wq`` are the quadrature weights of the nodes ``x = log(t/a)``, so
    ``mass / wq`` is the density in x; quantiles invert the antiderivative of
    a cubic spline through it (error of the order of the Simpson rule's).
    """
    mean = float(mass @ t)
    sd = float(math.sqrt(max(mass @ (t - mean) ** 2, 0.0)))
    F = interpolate.CubicSpline(x, mass / wq).antiderivative()
    total = float(F(x[-1]))
    out = {f"{prefix}_mean": mean, f"{prefix}_sd": sd}
    for key, p in (("median", 0.5), ("ci_low", _Q[0]), ("ci_high", _Q[1])):
        xq = optimize.brentq(lambda z, p=p: float(F(z)) / total - p, x[0], x[-1], xtol=1e-13)
        out[f"{prefix}_{key}"] = float(t[0] * np.exp(xq - x[0]))
    return out


# --------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------


@dataclass(kw_only=True)
class ExactResult(BayesResult):
    """Result of :func:`fit_exact`: the attributes of :class:`BayesResult`, MCMC diagnostics ``None``.

    Attributes
    ----------
    grid : dict
        Quadrature nodes (``tau`` and, with unknown variances, ``sigma``),
        their normalised posterior mass ``w`` and the conditional mean ``m``
        and variance ``s2`` of ``mu``.
    mixture : NormalMixture
        The posterior of ``mu``.
    predictive : NormalMixture
        The posterior predictive of a new study's effect.
    """

    engine: str = "exact"
    grid: dict = field(default_factory=dict, repr=False)
    mixture: NormalMixture | None = field(default=None, repr=False)
    predictive: NormalMixture | None = field(default=None, repr=False)

    def cdf_mu(self, x):
        """Posterior CDF of ``mu`` (log-ratio scale)."""
        return self.mixture.cdf(x)

    def summary(self, var_names=None) -> pd.DataFrame:
        """Tidy table: mean, sd, median and 2.5/97.5 % quantiles of ``mu``, ``mu_pct``,
        the standard deviations and ``theta_new``/``theta_new_pct``."""
        rows = {}
        for name, m in (("mu", self.mu), ("mu_pct", self.effect_pct), ("tau", self.tau),
                        ("sigma_resid", self.sigma_resid)):
            if m is not None:
                rows[name] = {c: getattr(m, c) for c in ("mean", "sd", "median", "ci_low", "ci_high")}
        hib = self.data.higher_is_better
        rows["theta_new"] = {"mean": self.mu.mean, "sd": self.predictive.sd(), "median": self.predictive.ppf(0.5),
                             "ci_low": self.pi_low, "ci_high": self.pi_high}
        pm_, psd = _pct_moments(self.predictive, hib)
        med = float(pct_from_log(rows["theta_new"]["median"], hib))
        rows["theta_new_pct"] = {"mean": pm_, "sd": psd, "median": med,
                                 "ci_low": self.pct_pi_low, "ci_high": self.pct_pi_high}
        df = pd.DataFrame.from_dict(rows, orient="index")
        return df.loc[var_names] if var_names else df

    def _write_netcdf(self, tmp: str) -> None:
        import xarray as xr

        g = self.grid
        if "sigma" in g:
            ds = xr.Dataset({"w": (("tau", "sigma"), g["w"]), "m": (("tau", "sigma"), g["m"]),
                             "s2": (("tau", "sigma"), g["s2"])}, coords={"tau": g["tau"], "sigma": g["sigma"]})
        else:
            ds = xr.Dataset({"w": (("tau",), g["w"]), "m": (("tau",), g["m"]), "s2": (("tau",), g["s2"])},
                            coords={"tau": g["tau"]})
        ds.attrs["description"] = ("metaquant exact engine: posterior mass w of each quadrature node and the normal "
                                   "conditional posterior N(m, s2) of mu at that node")
        ds.to_netcdf(tmp, engine="h5netcdf")


# --------------------------------------------------------------------------
# Public function
# --------------------------------------------------------------------------


def fit_exact(
    table: pd.DataFrame,
    *,
    priors: Priors | dict | None = None,
    thresholds: Sequence[float] | None = None,
    grid: int = 801,
    unknown_vi: str = "model",
    prior_mu_sd: float | None = None,
    prior_tau: str | None = None,
    prior_sigma: str | None = None,
    min_probability: float = SELECTION_THRESHOLD,
) -> ExactResult:
    """Exact posterior of the random-effects model by quadrature.

    Parameters
    ----------
    table : DataFrame
        One property's effect table (``yi``, ``vi``; ``study`` and
        ``vi_known`` when present).  Rows are treated as independent studies
        (the random-effects model, not the multilevel one).
    priors : Priors or dict, optional
        ``mu ~ N(mu_mean, mu_sd^2)``, ``tau`` half-normal or half-Cauchy.
    thresholds : 6 floats, optional
        SSM cut-points in %; the property's by default.
    grid : int
        Simpson nodes per dimension (made odd); 801 gives about 1e-7
        relative accuracy in one dimension.
    unknown_vi : str
        ``"model"``: rows without a sampling variance are modelled with ``sigma_resid`` (2-D quadrature).
        The rows are pooled as given: another policy (``drop``, ``impute-max``, ...) is applied on the
        fitting road (``metaquant.fit(..., method="exact", variance_policy=...)``), and here refuses a table
        with such rows (:func:`metaquant.bayes.data.rows_as_given`).
    prior_mu_sd, prior_tau, prior_sigma : optional
        Shortcuts overriding ``priors`` (as in :func:`metaquant.bayes.fit`).
    min_probability : float
        A label is stated only when its zones hold at least this posterior
        probability (:func:`metaquant.scale.decide_label`).

    Returns
    -------
    ExactResult
        ``to_dict()`` has the keys of :class:`BayesResult` with
        ``method="exact"`` and the MCMC diagnostics ``None``.

    References
    ----------
    Röver C (2020). Bayesian random-effects meta-analysis using the bayesmeta
    R package. Journal of Statistical Software 93(6). doi:10.18637/jss.v093.i06
    """
    with single_threaded_blas():
        return _fit_exact(table, priors=priors, thresholds=thresholds, grid=grid, unknown_vi=unknown_vi,
                          prior_mu_sd=prior_mu_sd, prior_tau=prior_tau, prior_sigma=prior_sigma,
                          min_probability=min_probability)


def _fit_exact(table, *, priors, thresholds, grid, unknown_vi, prior_mu_sd, prior_tau, prior_sigma,
               min_probability) -> ExactResult:
    t_start = time.perf_counter()
    unknown_vi = rows_as_given(table, unknown_vi, engine="the exact engine")
    if not 0.0 < float(min_probability) <= 1.0:
        raise InputError(f"min_probability must be in (0, 1], got {min_probability!r}", column="min_probability")
    try:
        grid = int(grid)
    except (TypeError, ValueError):
        raise InputError(f"grid must be an integer, got {grid!r}") from None
    if grid < 21:
        raise InputError(f"grid must be at least 21 nodes, got {grid}")
    n = grid if grid % 2 else grid + 1
    pri = as_priors(priors, prior_mu_sd=prior_mu_sd, prior_tau=prior_tau, prior_sigma=prior_sigma)
    md = prepare(table, model="re", thresholds=thresholds)
    notes: list[str] = []
    if md.n_studies < md.k:
        notes.append(f"{plural(md.k, 'row')} come from {plural(md.n_studies, 'study')}; the exact engine treats them "
                     "as independent (random-effects model); the multilevel model of the MCMC engine nests them")
    centre = float(np.mean(md.y))  # translation keeps sums of squares well conditioned
    y = md.y - centre
    m0 = pri.mu_mean - centre
    s0 = pri.mu_sd
    if md.n_unknown:
        g = _tau_sigma_grid_2d(y, md.v, md.known, m0, s0, pri.tau, pri.sigma_resid, max(101, n // 4 | 1))
        mass_tau = g["w"].sum(1)
        mass_sig = g["w"].sum(0)
    else:
        g = _tau_grid_1d(y, md.v, m0, s0, pri.tau, n)
        mass_tau = g["w"]
    g["m"] = g["m"] + centre
    tau_b = g["tau"][:, None] if "sigma" in g else g["tau"]
    mix = NormalMixture.of(g["w"], g["m"], g["s2"])
    pred = NormalMixture.of(g["w"], g["m"], g["s2"] + np.broadcast_to(tau_b**2, g["s2"].shape))
    fields = _summarise(md, pri, mix, pred, g, mass_tau, mass_sig if md.n_unknown else None, min_probability)
    settings = {"sampler": None, "parametrization": None, "draws": None, "tune": None, "chains": None, "seed": None,
                "target_accept": None, "grid": n if not md.n_unknown else int(g["w"].shape[0]),
                "unknown_vi": unknown_vi, "time_s": time.perf_counter() - t_start}
    diag = {k: None for k in DIAGNOSTIC_KEYS}
    diag["problems"] = []
    return ExactResult(data=md, priors=pri, idata=None, settings=settings, **fields, diagnostics=diag, ok=True,
                       notes=list(md.notes) + notes, grid=g, mixture=mix, predictive=pred)


def _cdf_on_pct(mix: NormalMixture, edges, hib: bool) -> np.ndarray:
    """CDF of a log-scale mixture at relative improvements ``edges`` (in %).

    ``pct_from_log`` is increasing in both orientations, so
    ``P(pct <= e) = P(mu <= log_from_pct(e))``; edges outside the range of
    ``pct`` (at or below -100 % when higher is better, at or above 100 % when
    lower is better) give 0 or 1.
    """
    e = np.asarray(edges, dtype=float)
    F = np.where(e > 0, 1.0, 0.0)  # the limits at -inf / +inf and beyond the range
    inside = np.isfinite(e) & ((e > -100.0) if hib else (e < 100.0))
    F[inside] = mix.cdf(log_from_pct(e[inside], hib))
    return F


def _summarise(md: MetaData, pri: Priors, mix: NormalMixture, pred: NormalMixture, g: dict, mass_tau,
               mass_sig, min_probability: float) -> dict:
    """The summary attributes of an :class:`ExactResult` (moments, quantiles, zones, label)."""
    hib = md.higher_is_better
    mu = Marginal(mix.mean(), mix.sd(), mix.ppf(0.5), mix.ppf(_Q[0]), mix.ppf(_Q[1]))
    pm_, psd = _pct_moments(mix, hib)
    effect_pct = Marginal(pm_, psd, *(float(pct_from_log(x, hib)) for x in (mu.median, mu.ci_low, mu.ci_high)))

    def marginal(x, t, mass, wq, sd=None):
        d = _grid_marginal_summary(x, t, mass, wq, "x")
        return Marginal(d["x_mean"], d["x_sd"] if sd is None else sd, d["x_median"], d["x_ci_low"], d["x_ci_high"])

    # k = 1 with a half-Cauchy prior: the posterior tail of tau is ~ tau^-3, so its variance does not exist
    tau_sd = float("inf") if md.k == 1 and pri.tau.family == "halfcauchy" else None
    out = {"mu": mu, "effect_pct": effect_pct, "p_positive": float(1.0 - mix.cdf(0.0)),
           "tau": marginal(g["x"], g["tau"], mass_tau, g["wq"], tau_sd)}
    if mass_sig is not None:
        out["sigma_resid"] = marginal(g["x_sigma"], g["sigma"], mass_sig, g["wq_sigma"])
    lo, hi = pred.ppf(_Q[0]), pred.ppf(_Q[1])
    out.update(pi_low=lo, pi_high=hi, pct_pi_low=float(pct_from_log(lo, hib)), pct_pi_high=float(pct_from_log(hi, hib)))
    zp = scale.zone_probabilities_from_cdf(lambda e: _cdf_on_pct(mix, e, hib), md.thresholds)
    pzp = scale.zone_probabilities_from_cdf(lambda e: _cdf_on_pct(pred, e, hib), md.thresholds)
    out.update(zone_probabilities=zp, pred_zone_probabilities=pzp, **label_fields(zp, pzp, min_probability))
    return out


__all__ = ["ExactResult", "NormalMixture", "fit_exact"]
