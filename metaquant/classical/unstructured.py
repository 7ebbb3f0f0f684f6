r"""The unstructured (``struct="UN"``) between-group covariance, fitted on its Cholesky factor.

The ``q x q`` covariance :math:`\Sigma` of an ``~ inner | outer`` random effect enters the marginal
covariance linearly, :math:`M = V + \sum_a \Sigma_{aa} G_a + \sum_{a>b} \Sigma_{ab} G_{ab}`.  Scoring on
those elements directly can step outside the positive semi-definite cone (a correlation above 1 and a
nearly singular :math:`M` whose likelihood is meaningless).  Here the likelihood is maximised over the
lower-triangular Cholesky factor :math:`L` of :math:`\Sigma = LL'`, which is unconstrained: every
:math:`L` gives a valid :math:`\Sigma`, and a correlation of exactly ±1 (a rank-deficient :math:`\Sigma`,
metafor's boundary solution) is an ordinary interior point :math:`L_{qq} = 0`.  metafor maximises over
:math:`\log\tau` and :math:`\operatorname{atanh}\rho` for the same reason.

With :math:`D` the symmetric matrix of :math:`\partial\ell/\partial\Sigma` (off-diagonal scores halved,
since :math:`\Sigma_{ab}` appears twice), the gradient is :math:`\partial\ell/\partial L = 2DL` (lower
triangle); the Hessian is the chain rule through the (quadratic) map :math:`L \mapsto \Sigma`, with the
observed information of the elements.  A trust-region Newton method (``scipy.optimize`` ``trust-exact``)
handles the indefinite Hessians met on the way.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import optimize

__all__ = ["fit_unstructured"]


def _index(q: int):
    """Positions ``(i, j)`` of the free entries of L (lower triangle, row-major) and of Σ's elements.

    Σ's elements are the variances ``(a, a)`` then the covariances in R's lower-triangle (column-major)
    order, as the linear model's components are laid out.
    """
    lpos = [(i, j) for i in range(q) for j in range(i + 1)]
    spos = [(a, a) for a in range(q)] + [(a, b) for b in range(q) for a in range(b + 1, q)]
    return lpos, spos


def _sigma(theta: np.ndarray, q: int, lpos) -> tuple[np.ndarray, np.ndarray]:
    L = np.zeros((q, q))
    for t, (i, j) in zip(theta, lpos, strict=True):
        L[i, j] = t
    return L, L @ L.T


def _jacobians(L: np.ndarray, lpos, spos) -> tuple[np.ndarray, np.ndarray]:
    r"""``J[c, t] = dS_c/dθ_t`` and the constant second derivatives ``H2[c, t, u]``.

    :math:`S_{ab} = \sum_m L_{am}L_{bm}`, so :math:`\partial S_{ab}/\partial L_{ij} = \delta_{ai}L_{bj} +
    \delta_{bi}L_{aj}` and :math:`\partial^2 S_{ab}/\partial L_{ij}\partial L_{kl} = \delta_{jl}(\delta_{ai}
    \delta_{bk} + \delta_{bi}\delta_{ak})`.
    """
    n_s, n_t = len(spos), len(lpos)
    J = np.zeros((n_s, n_t))
    H2 = np.zeros((n_s, n_t, n_t))
    for c, (a, b) in enumerate(spos):
        for t, (i, j) in enumerate(lpos):
            J[c, t] = (L[b, j] if a == i else 0.0) + (L[a, j] if b == i else 0.0)
        for (t, (i, j)), (u, (kk, ll)) in itertools.product(enumerate(lpos), repeat=2):
            if j == ll:
                H2[c, t, u] = float(a == i and b == kk) + float(b == i and a == kk)
    return J, H2


def _starts(s0: np.ndarray, q: int, lpos) -> list[np.ndarray]:
    """Cholesky factors of the starting Σ with correlations 0, 0.5 and -0.5 (local maxima); -0.5 only if q = 2."""
    tau2 = np.maximum(s0[:q], 1e-4)
    out = []
    for r in (0.0, 0.5, -0.5)[: 3 if q == 2 else 2]:
        S = np.sqrt(np.outer(tau2, tau2)) * r
        np.fill_diagonal(S, tau2)
        L = np.linalg.cholesky(S)
        out.append(np.array([L[i, j] for i, j in lpos]))
    return out


def fit_unstructured(model, q: int, s0: np.ndarray, tol: float = 1e-10):
    """Maximise the (restricted) likelihood of ``model`` over Σ = LL'.

    Parameters
    ----------
    model
        A ``multilevel._DenseModel`` whose components are Σ's elements (variances first, then the
        covariances in R's lower-triangle order); it provides ``fit(s)`` and ``score_info(f)``.
    q : int
        Dimension of Σ.
    s0 : ndarray
        Starting elements (only the variances are used).
    tol : float
        Gradient tolerance of the trust-region Newton method.

    Returns
    -------
    (fit, iterations, converged)
        ``fit`` is the model's fit at the best Σ of the starts; ``converged`` is True when its gradient
        vanished (relative to ``tol``).
    """
    lpos, spos = _index(q)

    def parts(theta):
        L, S = _sigma(theta, q, lpos)
        s = np.array([S[a, b] for a, b in spos])
        return L, s, model.fit(s)

    def fun(theta):
        return -parts(theta)[2].ll

    def jac(theta):
        L, _, f = parts(theta)
        score = model.score_info(f)[0]
        J, _ = _jacobians(L, lpos, spos)
        return -(J.T @ score)

    def hess(theta):
        L, _, f = parts(theta)
        score, _, obs = model.score_info(f)
        J, H2 = _jacobians(L, lpos, spos)
        return J.T @ obs @ J - np.einsum("c,ctu->tu", score, H2)

    best = None
    for th0 in _starts(s0, q, lpos):
        try:
            r = optimize.minimize(fun, th0, jac=jac, hess=hess, method="trust-exact",
                                  options={"gtol": tol, "maxiter": 500})
        except np.linalg.LinAlgError:
            continue
        if best is None or r.fun < best.fun - 1e-12 * (1.0 + abs(best.fun)):
            best = r
    if best is None:
        raise np.linalg.LinAlgError("the unstructured covariance could not be fitted")
    _, _, f = parts(best.x)
    grad = np.max(np.abs(best.jac)) if best.jac is not None else math.inf
    converged = bool(best.success or grad <= math.sqrt(tol) * (1.0 + abs(best.fun)))
    return f, int(best.nit), converged
