r"""The integral of a smooth density over R^d (d <= 4) by the trapezoidal rule on a Laplace-centred grid.

The ensemble's selection members with an effect or heterogeneity (:mod:`metaquant.bayes.bma`) have
2-4 unconstrained parameters and no closed form for any of them.  Their marginal likelihood
``log ∫ q(theta) dtheta`` is computed here:

1. the mode of ``log q`` (a coarse lattice, then BFGS) and the Hessian there by central differences
   give an affine map ``theta = c + L z`` with ``L L' = (-H)^{-1}`` (the diagonal when ``-H`` is not
   positive definite), so that ``z`` is about standard normal near the mode;
2. ``∫ q dtheta = |det L| ∫ q(c + L z) dz`` by the trapezoidal rule ``h^d Σ q`` on the lattice
   ``z ∈ lo + h N^d``.  The box ``[lo, hi]`` starts from line scans along each axis to where
   ``log q`` has dropped :data:`DROP` below its peak, and grows, by the decay of the profile of ``log q``
   at the face, until ``log q`` on every face lies at least :data:`FACE_DROP` below the peak (the
   truncation error is then of the order ``e^-FACE_DROP`` relative);
3. the same sum on the lattice shifted by ``h/2`` along every axis is the error estimate.  By Poisson
   summation the error of the trapezoidal rule on a smooth, rapidly decaying integrand is the sum of
   its Fourier transform at the aliases ``2 pi k / h``; the leading aliases change sign on the shifted
   lattice, so ``|I_A - I_B| / 2`` estimates the error of either lattice, and their mean (a
   body-centred lattice) cancels the leading terms.  The mean is the result; above ``tol`` the step
   is halved (up to ``tol_max`` is accepted where the finer grid would exceed the budget).

The grid stays within ``max_nodes`` nodes, or the integral is refused (``None``: the caller falls back
to sampling).  Posterior draws come by sampling-importance-resampling from the grid: a node by its
weight, a uniform point in its cell, importance weight ``q(theta) / q(node)``, resampled.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

__all__ = ["DROP", "GridIntegral", "integrate"]

#: log q on every face of the box lies this far below its peak (relative truncation error ~ e^-DROP).
DROP = 16.0
#: A face of the box whose largest log q lies less than this below the peak is pushed out (to DROP).
FACE_DROP = 14.0
#: Most dimensions integrated.
MAX_DIMS = 4


@dataclass(frozen=True)
class GridIntegral:
    """Outcome of :func:`integrate`.

    Attributes
    ----------
    log_integral : float
        ``log ∫ q(theta) dtheta``.
    error : float
        ``|log I_A - log I_B| / 2`` (the error of one lattice; that of their mean is smaller).
    nodes : int
        Nodes of the two lattices.
    step : float
        Lattice step ``h`` in the standardised coordinates ``z``.
    """

    log_integral: float
    error: float
    nodes: int
    step: float
    centre: np.ndarray
    chol: np.ndarray
    axes: tuple
    logq: np.ndarray

    def draws(self, logq: Callable[[np.ndarray], np.ndarray], n: int, rng: np.random.Generator,
              oversample: int = 4) -> tuple[np.ndarray, float]:
        """``n`` posterior draws ``(n, d)`` by sampling-importance-resampling, and the ESS of the weights."""
        v = self.logq.ravel()
        p = np.exp(v - special.logsumexp(v))
        m = oversample * n
        idx = rng.choice(v.size, size=m, p=p)
        sub = np.unravel_index(idx, self.logq.shape)
        z = np.stack([ax[s] for ax, s in zip(self.axes, sub, strict=True)], axis=1)
        z = z + (rng.random(z.shape) - 0.5) * self.step
        theta = self.centre + z @ self.chol.T
        lw = np.atleast_1d(np.asarray(logq(theta), float)) - v[idx]
        lw = np.where(np.isfinite(lw), lw, -np.inf)
        w = np.exp(lw - np.max(lw))
        ess = float(w.sum() ** 2 / np.sum(w**2))
        pick = rng.choice(m, size=n, p=w / w.sum())
        return theta[pick], ess


def _chunked(logq, pts: np.ndarray, chunk: int) -> np.ndarray:
    out = np.empty(pts.shape[0])
    for s in range(0, pts.shape[0], chunk):
        out[s:s + chunk] = logq(pts[s:s + chunk])
    return np.where(np.isfinite(out), out, -np.inf)


def _mode(logq, d: int, chunk: int) -> tuple[np.ndarray, float]:
    """The mode of ``log q``: the best node of a lattice on [-8, 8]^d, then BFGS from there."""
    lattice = np.array(list(itertools.product(np.linspace(-8.0, 8.0, 9), repeat=d)))
    v = _chunked(logq, lattice, chunk)
    x0 = lattice[int(np.argmax(v))]

    def neg(x):
        val = float(logq(x[None, :])[0])
        return -val if math.isfinite(val) else 1e300

    res = optimize.minimize(neg, x0, method="BFGS", options={"gtol": 1e-7})
    x = res.x if np.isfinite(res.fun) and res.fun <= -float(np.max(v)) + 1e-9 else x0
    return x, float(logq(x[None, :])[0])


def _scale(logq, x: np.ndarray, d: int, eps: float = 1e-3) -> np.ndarray:
    """Cholesky factor of ``(-H)^{-1}`` at ``x`` (central differences), or of its diagonal."""
    e = np.eye(d) * eps
    pts = [x]
    for i in range(d):
        pts += [x + e[i], x - e[i]]
        for j in range(i):
            pts += [x + e[i] + e[j], x + e[i] - e[j], x - e[i] + e[j], x - e[i] - e[j]]
    f = np.asarray(logq(np.array(pts)), float)
    f0, H, k = f[0], np.zeros((d, d)), 1
    for i in range(d):
        H[i, i] = (f[k] - 2 * f0 + f[k + 1]) / eps**2
        k += 2
        for j in range(i):
            H[i, j] = H[j, i] = (f[k] - f[k + 1] - f[k + 2] + f[k + 3]) / (4 * eps**2)
            k += 4
    try:
        if not np.all(np.isfinite(H)):
            raise np.linalg.LinAlgError
        return np.linalg.cholesky(np.linalg.inv(-H))
    except np.linalg.LinAlgError:
        diag = np.diag(H)
        sd = np.where(np.isfinite(diag) & (diag < 0), 1.0 / np.sqrt(np.abs(diag)), 1.0)
        return np.diag(sd)


def _extent(logq, centre, chol, top: float, d: int, chunk: int, reach: float = 120.0, step: float = 0.5):
    """Per axis of ``z``, how far from the mode ``log q`` stays within :data:`DROP` of ``top`` (line scans)."""
    t = np.arange(step, reach + step, step)
    lo, hi = np.full(d, -3.0), np.full(d, 3.0)
    for i in range(d):
        for sign, out in ((-1.0, lo), (1.0, hi)):
            z = np.zeros((t.size, d))
            z[:, i] = sign * t
            v = _chunked(logq, centre + z @ chol.T, chunk)
            inside = np.nonzero(v > top - DROP)[0]
            reachd = t[inside[-1]] + 1.0 if inside.size else 1.0
            out[i] = sign * max(3.0, reachd)
    return lo, hi


def _lattice(logq, centre, chol, lo, hi, h, chunk):
    axes = tuple(np.arange(a, b + 0.5 * h, h) for a, b in zip(lo, hi, strict=True))
    mesh = np.meshgrid(*axes, indexing="ij")
    z = np.stack([m.ravel() for m in mesh], axis=1)
    v = _chunked(logq, centre + z @ chol.T, chunk).reshape(mesh[0].shape)
    return axes, v


# Long on purpose: mode, scale, box, the two lattices and the error check are one algorithm (see the module's
# docstring), and every early return says why the integral is refused.
def integrate(logq: Callable[[np.ndarray], np.ndarray], d: int, *, step: float = 1.0, tol: float = 1e-4,
              tol_max: float = 1e-3, max_nodes: int = 2_000_000, chunk: int = 65536) -> GridIntegral | None:
    """``log ∫ q(theta) dtheta`` over R^d, or ``None`` when the grid it needs exceeds ``max_nodes``.

    Parameters
    ----------
    logq : callable
        ``f(theta) -> log q(theta)`` for ``theta`` of shape ``(n, d)`` (vectorised; ``-inf`` allowed).
    d : int
        Dimension, 1 to :data:`MAX_DIMS`.
    step : float
        Initial lattice step in the standardised coordinates (about posterior standard deviations).
    tol, tol_max : float
        The step is halved while the error estimate (log units) exceeds ``tol``, unless the finer grid would
        exceed ``max_nodes`` and the estimate is within ``tol_max``.
    max_nodes, chunk : int
        Most nodes of the two lattices together; points per call of ``logq``.
    """
    if not 1 <= d <= MAX_DIMS:
        raise ValueError(f"integrate handles 1 to {MAX_DIMS} dimensions, got {d}")
    f = logq
    logq = lambda t: np.atleast_1d(np.asarray(f(t), float))  # noqa: E731  (one point gives a scalar in scipy)
    x, top = _mode(logq, d, chunk)
    if not math.isfinite(top):
        return None
    chol = _scale(logq, x, d)
    lo, hi = _extent(logq, x, chol, top, d, chunk)
    logdet = float(np.sum(np.log(np.abs(np.diag(chol)))))
    h = step
    for _ in range(16):
        if 2 * int(np.prod(np.floor((hi - lo) / h) + 1)) > max_nodes:
            return None
        axes, v = _lattice(logq, x, chol, lo, hi, h, chunk)
        peak = float(np.max(v))
        if not math.isfinite(peak):
            return None
        grown = False
        for i in range(d):  # a face within FACE_DROP of the peak: push it out by the decay of the profile there
            prof = np.max(v, axis=tuple(j for j in range(d) if j != i)) if d > 1 else v
            for end, inward, sign in ((0, 1, -1.0), (-1, -2, 1.0)):
                gap = peak - float(prof[end])
                if gap < FACE_DROP:
                    grown = True
                    slope = max((float(prof[inward]) - float(prof[end])) / h, 0.25)
                    width = min(math.ceil((DROP - gap) / slope) + 1.0, max(2.0, hi[i] - lo[i]))
                    lo[i], hi[i] = (lo[i] - width, hi[i]) if sign < 0 else (lo[i], hi[i] + width)
        if grown:
            continue
        _, w = _lattice(logq, x, chol, lo + h / 2, hi - h / 2, h, chunk)  # the lattice shifted by h/2
        a = float(special.logsumexp(v)) + d * math.log(h) + logdet
        b = float(special.logsumexp(w)) + d * math.log(h) + logdet
        err = abs(a - b) / 2.0
        finer = 2 * int(np.prod(np.floor((hi - lo) / (h / 2)) + 1))
        if err > tol and not (err <= tol_max and finer > max_nodes):
            h /= 2.0
            continue
        return GridIntegral(log_integral=float(np.logaddexp(a, b) - math.log(2.0)), error=err,
                            nodes=int(v.size + w.size), step=h, centre=x, chol=chol, axes=axes, logq=v)
    return None
