r"""Structured between-group covariances of ``random = ~ inner | outer`` (metafor ``struct=``).

Each structure is a map from unconstrained parameters :math:`\theta` to the ``q x q`` covariance
:math:`\Sigma(\theta)` of the ``q`` inner levels within an outer group, parameterised as metafor's
``rma.mv`` does: variances as :math:`\tau^2 = e^{\theta}` and correlations as :math:`\rho = \tanh\theta`,
so every :math:`\theta` gives variances > 0 and :math:`|\rho| < 1`:

* ``CS`` (compound symmetry): :math:`\Sigma = \tau^2\{(1-\rho)I + \rho 11'\}`;
* ``HCS``: :math:`\Sigma_{ab} = \tau_a\tau_b\rho^{[a \ne b]}` (one variance per level, one correlation);
* ``DIAG``: :math:`\Sigma = \operatorname{diag}(\tau^2_a)`;  ``ID``: :math:`\Sigma = \tau^2 I`;
* ``AR``: :math:`\Sigma_{ab} = \tau^2\rho^{|a-b|}` with ``a, b`` the positions of the levels in their
  (numeric) order, metafor's ``toeplitz(ARMAacf(ar = rho))``; ``HAR``: :math:`\tau_a\tau_b\rho^{|a-b|}`.

(For ``CS``/``HCS`` with ``q > 2`` a correlation below :math:`-1/(q-1)` makes :math:`\Sigma` indefinite; as
in metafor, such a point is admitted while the marginal covariance stays positive definite.)

The likelihood is that of the unstructured model evaluated at the elements of :math:`\Sigma(\theta)`; its
gradient is :math:`J'\,\partial\ell/\partial\Sigma` with :math:`J = \partial\Sigma/\partial\theta` computed by
complex-step differentiation (exact to rounding), and the Hessian :math:`J'HJ + \sum_c
(\partial\ell/\partial\Sigma_c)\,\partial^2\Sigma_c/\partial\theta^2` with the second derivatives from central
differences of :math:`J`.  The maximum is found by ``scipy.optimize`` ``trust-exact`` from several starting
correlations.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize

__all__ = ["STRUCTS", "fit_structured", "n_params", "sigma_of", "unpack"]

STRUCTS = ("CS", "HCS", "DIAG", "ID", "AR", "HAR")


def n_params(struct: str, q: int) -> tuple[int, int]:
    """``(number of variances, number of correlations)`` of ``struct`` for ``q`` inner levels."""
    return {
        "CS": (1, 1),
        "HCS": (q, 1),
        "DIAG": (q, 0),
        "ID": (1, 0),
        "AR": (1, 1),
        "HAR": (q, 1),
    }[struct]


def sigma_of(theta: np.ndarray, struct: str, q: int) -> np.ndarray:
    """Σ(θ) (complex θ allowed, for complex-step derivatives)."""
    nv, _ = n_params(struct, q)
    tau = np.exp(theta[:nv] / 2.0) * np.ones(q)  # broadcast a single variance to every level
    rho = np.tanh(theta[nv]) if nv < theta.shape[0] else 0.0
    pos = np.arange(q)
    lag = np.abs(pos[:, None] - pos[None, :])
    if struct in ("AR", "HAR"):
        R = np.where(lag == 0, 1.0 + 0.0 * rho, rho ** np.maximum(lag, 1))
    else:
        R = np.where(lag == 0, 1.0 + 0.0 * rho, rho + 0.0 * lag)
    return tau[:, None] * R * tau[None, :]


def unpack(theta: np.ndarray, struct: str, q: int) -> tuple[np.ndarray, np.ndarray]:
    """``(tau2, rho)`` as metafor reports them (``rho`` empty for DIAG and ID)."""
    nv, nr = n_params(struct, q)
    return np.exp(theta[:nv]), np.tanh(theta[nv : nv + nr])


def _elements(S: np.ndarray, spos) -> np.ndarray:
    return np.array([S[a, b] for a, b in spos])


def _jac(theta: np.ndarray, struct: str, q: int, spos) -> np.ndarray:
    """``J[c, t] = dS_c/dθ_t`` by complex step."""
    h = 1e-30
    J = np.empty((len(spos), theta.size))
    for t in range(theta.size):
        th = theta.astype(complex)
        th[t] += 1j * h
        J[:, t] = _elements(sigma_of(th, struct, q), spos).imag / h
    return J


def fit_structured(model, q: int, struct: str, tau2_0: float, tol: float = 1e-10):
    """Maximise the (restricted) likelihood of ``model`` over θ of ``struct``.

    Parameters
    ----------
    model
        A ``rma_mv._DenseModel`` whose components are Σ's elements (variances first, then the covariances in
        R's lower-triangle order).
    q : int
        Number of inner levels.
    struct : str
        One of :data:`STRUCTS`.
    tau2_0 : float
        Starting variance.
    tol : float
        Gradient tolerance of the trust-region Newton method.

    Returns
    -------
    (fit, theta, iterations, converged)
    """
    spos = [(a, a) for a in range(q)] + [(a, b) for b in range(q) for a in range(b + 1, q)]
    nv, nr = n_params(struct, q)

    def fit_at(theta):
        return model.fit(_elements(sigma_of(theta, struct, q), spos))

    def fun(theta):
        try:
            return -fit_at(theta).ll
        except np.linalg.LinAlgError:
            return math.inf

    def jac(theta):
        score = model.score_info(fit_at(theta))[0]
        return -(_jac(theta, struct, q, spos).T @ score)

    def hess(theta):
        score, _, obs = model.score_info(fit_at(theta))
        J = _jac(theta, struct, q, spos)
        h = 1e-5
        H2 = np.empty((len(spos), theta.size, theta.size))
        for t in range(theta.size):
            e = np.zeros(theta.size)
            e[t] = h
            H2[:, :, t] = (_jac(theta + e, struct, q, spos) - _jac(theta - e, struct, q, spos)) / (2 * h)
        H = J.T @ obs @ J - np.einsum("c,ctu->tu", score, H2)  # obs is the information, -d²l/dS²
        return 0.5 * (H + H.T)

    lt = math.log(max(tau2_0, 1e-4))
    starts = [np.r_[np.full(nv, lt), np.full(nr, math.atanh(r))] for r in ((0.0, 0.5, -0.3) if nr else (0.0,))]
    best = None
    for th0 in starts:
        try:
            r = optimize.minimize(fun, th0, jac=jac, hess=hess, method="trust-exact",
                                  options={"gtol": tol, "maxiter": 500})
        except np.linalg.LinAlgError:
            continue
        if np.isfinite(r.fun) and (best is None or r.fun < best.fun - 1e-12 * (1.0 + abs(best.fun))):
            best = r
    if best is None:
        raise np.linalg.LinAlgError(f"the {struct} covariance could not be fitted")
    f = fit_at(best.x)
    grad = np.max(np.abs(best.jac)) if best.jac is not None and best.jac.size else 0.0
    converged = bool(best.success or grad <= math.sqrt(tol) * (1.0 + abs(best.fun)))
    return f, best.x, int(best.nit), converged
