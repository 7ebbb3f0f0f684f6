r"""Robust Bayesian model averaging (RoBMA-PSMA style) in PyMC, read on SSM's scale.

The ensemble crosses three components (Maier, Bartoš & Wagenmakers 2023,
Psychol. Methods 28(1); Bartoš et al. 2023, Res. Synth. Methods 14(1), 99-116):

* effect: ``mu = 0`` (absent) or ``mu ~ Normal(m0, s0)`` (present, optionally truncated below);
* heterogeneity: ``tau = 0`` (fixed effect) or ``tau`` from its prior (random effects);
* publication bias: none; a step-function *selection model* on one- or
  two-sided p-values (Vevea & Hedges 1995); *PET*, ``y_i ~ N(mu + b se_i, se_i^2 + tau^2)``;
  *PEESE*, ``y_i ~ N(mu + b se_i^2, se_i^2 + tau^2)``; ``b`` from a Cauchy prior truncated to ``b > 0``.

The selection model weights the normal density of an estimate by the relative
probability ``omega_j`` that a study whose p-value lies in interval ``j`` is
published (``omega_1 = 1`` for the most significant interval):

.. math::

    f(y_i) = \frac{\omega_{j(i)} \, \phi\big((y_i - \mu)/s_i\big)/s_i}
                  {\sum_j \omega_j \, P_j(\mu, s_i)}, \quad s_i^2 = se_i^2 + \tau^2,

``P_j`` the normal probability of interval ``j``.  One-sided p-values are
``1 - Phi(y/se)`` (selection for positive, i.e. favourable, effects); two-sided
``2 (1 - Phi(|y|/se))``.  ``omega`` has RoBMA's cumulative Dirichlet prior:
``eta ~ Dirichlet(alpha)`` and ``omega_j = sum_{l >= j} eta_l``, so the weights
decrease with the p-value.

Prior model probabilities follow RoBMA: 1/2 on effect, 1/2 on heterogeneity,
1/2 on bias (split over the bias members, equally unless ``bias_weights`` says
otherwise), multiplied.  By default (``marginal_likelihood="exact"``) the marginal
likelihood of every member where it is tractable is computed by quadrature (``mu``
integrated analytically, ``tau`` and the PET/PEESE slope on grids; a selection member with
at most four free parameters on a Laplace-centred grid, :mod:`metaquant.bayes.gridquad`),
with posterior draws of ``mu`` from the grid; the other members (selection models with more
weights, or whose grid would exceed its budget on many studies) are fitted in PyMC and
their marginal likelihood is computed by bridge sampling on the posterior
(:mod:`metaquant.bayes.bridge`).  Where some member is bridge-sampled, the plain member is
bridge-sampled as well, so the fit checks the bridge sampler against quadrature on its own
data.  ``marginal_likelihood="bridge"`` bridge-samples every member and reports quadrature
alongside where tractable.  The members are independent fits: ``jobs`` and ``scheduler``
run them in worker processes or on a Dask cluster (:func:`metaquant.parallel.run_tasks`).  Posterior model
probabilities give the inclusion Bayes factors and the model-averaged ``mu`` (draws of ``mu = 0``
for the effect-absent members mixed in by posterior probability).

The SSM label is read as a hypothesis: for each of the 13 zones, the posterior
probability, the prior probability (from the prior of ``mu``: a normal for the
plain random-effects model, the spike-and-normal mixture for the ensemble) and
the Bayes factor ``posterior odds / prior odds``; ``label_survives`` says whether
the plain model's label is also the ensemble's.

Assumptions (also written into every result's notes): the sampling variances
are known; selection acts on positive effects through the stated p-value steps
(and needs studies in every p-value interval to be informed by data); PET and
PEESE read small-study effects as bias.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from .. import scale
from ..errors import InputError
from ..evidence import schema
from ..evidence.effects import log_from_pct, pct_from_log
from ..outputs import json_safe
from ..parallel import run_tasks
from ..progress import plural
from ..results import measure_of, tidy_frame, withhold
from . import gridquad
from .bridge import bridge_sampler
from .data import rows_as_given
from .priors import Priors, ScalePrior
from .results import ESS_MIN, RHAT_MAX, single_threaded_blas

__all__ = [
    "BMAPriors", "BMAResult", "DEFAULT_BIAS", "Member", "TauPrior", "WeightFunction", "ensemble", "fit_bma",
    "inclusion_bayes_factors", "parse_bias", "quadrature_log_ml",
]

LOG2PI = math.log(2.0 * math.pi)
SQRT2 = math.sqrt(2.0)
#: The bias members of the default ensemble (RoBMA-PSMA's two-sided .05, one-sided .05 and .025/.05, PET, PEESE).
DEFAULT_BIAS = ("selection:two:0.05", "selection:one:0.05", "selection:one:0.025,0.05", "pet", "peese")
#: Bridge-sampling relative error above which a member is flagged.
BRIDGE_RE_MAX = 0.1
#: Fewest posterior draws of ``mu`` from a member computed by quadrature (independent draws, cheap to make: the
#: Monte Carlo error of a zone probability of the plain model is then at most 0.0035).
QUADRATURE_DRAWS = 20_000
#: Fewer studies than this in a p-value interval of a selection model is reported.
MIN_PER_INTERVAL = 3
from ..spec import DEFAULT_SEED  # noqa: E402  (the package's one default seed)

# --------------------------------------------------------------------------
# Members
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightFunction:
    """Step weight function of a selection model.

    Attributes
    ----------
    side : {"one", "two"}
        One-sided p-values ``1 - Phi(y/se)`` or two-sided ``2 (1 - Phi(|y|/se))``.
    steps : tuple of float
        Increasing p-value cut-points in (0, 1).
    alpha : tuple of float or None
        Cumulative-Dirichlet concentration, one per interval (``None``: all 1).
    """

    side: str
    steps: tuple[float, ...]
    alpha: tuple[float, ...] | None = None

    def __post_init__(self):
        side = str(self.side).lower().replace("-sided", "").replace(".sided", "")
        if side not in ("one", "two"):
            raise InputError(f"weight function side must be 'one' or 'two', got {self.side!r}")
        steps = tuple(float(s) for s in self.steps)
        increasing = all(b > a for a, b in zip(steps, steps[1:], strict=False))
        if not steps or any(not 0 < s < 1 for s in steps) or not increasing:
            raise InputError(f"weight function steps must be increasing p-values in (0, 1), got {self.steps!r}")
        alpha = tuple(float(a) for a in self.alpha) if self.alpha is not None else (1.0,) * (len(steps) + 1)
        if len(alpha) != len(steps) + 1 or any(a <= 0 for a in alpha):
            raise InputError(f"alpha needs {len(steps) + 1} positive values, got {self.alpha!r}")
        object.__setattr__(self, "side", side)
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "alpha", alpha)

    @property
    def n_weights(self) -> int:
        """Number of weights ``J`` (p-value intervals)."""
        return len(self.steps) + 1

    @property
    def name(self) -> str:
        return f"{self.side}-sided({', '.join(f'{s:g}' for s in self.steps)})"

    def cuts(self, se: np.ndarray) -> np.ndarray:
        """Cut-points on the effect scale, shape ``(k, M)``, increasing along the last axis."""
        st = np.asarray(self.steps)
        if self.side == "one":
            z = special.ndtri(1.0 - st[::-1])
        else:
            a = special.ndtri(1.0 - st / 2.0)
            z = np.concatenate([-a, a[::-1]])
        return np.asarray(se, float)[:, None] * z[None, :]

    def interval_index(self) -> np.ndarray:
        """Weight index (0 = most significant) of each interval of the effect axis, in increasing order."""
        m_steps = len(self.steps)
        if self.side == "one":
            return np.arange(m_steps, -1, -1)
        m = np.arange(2 * m_steps + 1)
        return m_steps - np.abs(m - m_steps)

    def p_values(self, y: np.ndarray, se: np.ndarray) -> np.ndarray:
        z = np.asarray(y, float) / np.asarray(se, float)
        return special.ndtr(-z) if self.side == "one" else 2.0 * special.ndtr(-np.abs(z))

    def counts(self, y: np.ndarray, se: np.ndarray) -> list[int]:
        """Studies per p-value interval (most significant first)."""
        p = self.p_values(y, se)
        edges = np.concatenate([[0.0], self.steps, [1.0]])
        return [int(np.sum((p > lo) & (p <= hi))) if j else int(np.sum(p <= hi))
                for j, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True))]


@dataclass(frozen=True)
class Member:
    """One model of the ensemble."""

    effect: bool
    heterogeneity: bool
    bias: str = "none"
    weightfunction: WeightFunction | None = None

    def __post_init__(self):
        if self.bias not in ("none", "selection", "pet", "peese"):
            raise InputError(f"unknown bias component {self.bias!r}", expected="none | selection | pet | peese")
        if (self.bias == "selection") != (self.weightfunction is not None):
            raise InputError("a selection member needs a weight function, and only a selection member has one")

    @property
    def bias_label(self) -> str:
        if self.bias == "selection":
            return f"selection {self.weightfunction.name}"
        return {"none": "none", "pet": "PET", "peese": "PEESE"}[self.bias]

    @property
    def name(self) -> str:
        return f"{'mu' if self.effect else 'mu=0'}, {'tau' if self.heterogeneity else 'tau=0'}, {self.bias_label}"

    @property
    def structure(self) -> tuple:
        return (self.bias, self.weightfunction)

    @property
    def parameters(self) -> list[str]:
        """Free parameters (unconstrained coordinates: ``eta`` has ``J - 1``)."""
        out = (["mu"] if self.effect else []) + (["tau"] if self.heterogeneity else [])
        if self.bias in ("pet", "peese"):
            out.append("b")
        if self.bias == "selection":
            out += [f"eta_alr[{j}]" for j in range(self.weightfunction.n_weights - 1)]
        return out

    @property
    def tractable(self) -> bool:
        """Whether :func:`quadrature_log_ml` can compute the marginal likelihood.

        No bias, PET and PEESE always (``mu`` in closed form, at most two grid axes); a selection member
        with at most :data:`metaquant.bayes.gridquad.MAX_DIMS` free parameters (on the data at hand its
        grid must also stay within :func:`_grid_budget`).
        """
        if self.bias in ("none", "pet", "peese"):
            return True
        return len(self.parameters) <= gridquad.MAX_DIMS


def parse_bias(spec: str | WeightFunction | Member) -> tuple[str, WeightFunction | None]:
    """``"none"``, ``"pet"``, ``"peese"`` or ``"selection:one|two:p1,p2,..."`` -> (bias, weight function)."""
    if isinstance(spec, WeightFunction):
        return "selection", spec
    text = str(spec).strip().lower()
    if text in ("none", "pet", "peese"):
        return text, None
    kind, _, rest = text.partition(":")
    side, _, steps = rest.partition(":")
    if kind != "selection" or not steps:
        raise InputError(f"cannot read bias member {spec!r}",
                         expected="none | pet | peese | selection:one:0.025,0.05 | selection:two:0.05")
    try:
        st = tuple(float(s) for s in steps.split(","))
    except ValueError:
        raise InputError(f"cannot read the p-value steps in {spec!r}") from None
    return "selection", WeightFunction(side, st)


def ensemble(
    bias: Sequence[str | WeightFunction] = DEFAULT_BIAS,
    *,
    effect: float = 0.5,
    heterogeneity: float = 0.5,
    bias_prob: float = 0.5,
    bias_weights: Sequence[float] | None = None,
) -> tuple[list[Member], np.ndarray]:
    """The crossed ensemble and RoBMA's prior model probabilities.

    Parameters
    ----------
    bias : sequence
        Bias members (see :func:`parse_bias`); ``"none"`` is always added.
    effect, heterogeneity, bias_prob : float
        Prior probabilities that the component is present.
    bias_weights : sequence of float, optional
        Relative prior weights of the bias members (equal by default); RoBMA-PSMA
        gives the six weight functions 1 each and PET, PEESE 3 each.

    Returns
    -------
    (list of Member, ndarray)
        Members and their prior probabilities (summing to 1).
    """
    parsed = [parse_bias(b) for b in bias]
    parsed = [p for p in parsed if p[0] != "none"]
    if not parsed:
        bias_prob = 0.0
    w = np.ones(len(parsed)) if bias_weights is None else np.asarray(bias_weights, float)
    if w.shape != (len(parsed),) or np.any(w < 0) or (parsed and w.sum() <= 0):
        raise InputError("bias_weights needs one non-negative weight per bias member")
    for p, name in ((effect, "effect"), (heterogeneity, "heterogeneity"), (bias_prob, "bias")):
        if not 0.0 <= p <= 1.0:
            raise InputError(f"prior probability of {name} must lie in [0, 1], got {p}")
    members, probs = [], []
    for e in (False, True):
        for h in (False, True):
            pe = effect if e else 1 - effect
            ph = heterogeneity if h else 1 - heterogeneity
            members.append(Member(e, h))
            probs.append(pe * ph * (1 - bias_prob))
            for (b, wf), wb in zip(parsed, w, strict=True):
                members.append(Member(e, h, b, wf))
                probs.append(pe * ph * bias_prob * wb / w.sum())
    probs = np.asarray(probs)
    keep = probs > 0
    return [m for m, k in zip(members, keep, strict=True) if k], probs[keep] / probs[keep].sum()


# --------------------------------------------------------------------------
# Priors
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class TauPrior:
    """Prior of ``tau``: ``halfnormal``/``halfcauchy`` with ``scale``, or ``invgamma`` with ``shape``, ``scale``."""

    family: str = "halfnormal"
    scale: float = 0.5
    shape: float = 1.0

    def __post_init__(self):
        if self.family not in ("halfnormal", "halfcauchy", "invgamma"):
            raise InputError(f"unknown tau prior family {self.family!r}", expected="halfnormal | halfcauchy | invgamma")
        if not (self.scale > 0 and self.shape > 0):
            raise InputError("tau prior scale and shape must be positive")

    def logpdf(self, t):
        t = np.asarray(t, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.family == "halfnormal":
                out = math.log(2.0) + stats.norm.logpdf(t, 0.0, self.scale)
            elif self.family == "halfcauchy":
                out = math.log(2.0 / (math.pi * self.scale)) - np.log1p((t / self.scale) ** 2)
            else:
                a, b = self.shape, self.scale
                out = a * math.log(b) - special.gammaln(a) - (a + 1) * np.log(t) - b / t
        return np.where(t > 0, out, -np.inf)

    def pymc(self, name: str):
        import pymc as pm

        if self.family == "halfnormal":
            return pm.HalfNormal(name, sigma=self.scale)
        if self.family == "halfcauchy":
            return pm.HalfCauchy(name, beta=self.scale)
        return pm.InverseGamma(name, alpha=self.shape, beta=self.scale)

    def describe(self) -> str:
        if self.family == "invgamma":
            return f"InvGamma({self.shape:g}, {self.scale:g})"
        return {"halfnormal": "HalfNormal", "halfcauchy": "HalfCauchy"}[self.family] + f"({self.scale:g})"


@dataclass(frozen=True)
class BMAPriors:
    """Priors of the ensemble (the scale of the effect sizes).

    ``mu ~ Normal(mu_mean, mu_sd)`` (truncated to ``mu > mu_lower`` when set), ``tau`` from
    ``tau``, PET slope ``b ~ Cauchy+(0, pet_scale)``, PEESE slope ``b ~ Cauchy+(0, peese_scale)``;
    the selection weights take the ``alpha`` of their weight function.  The default takes
    ``mu`` and ``tau`` from :class:`metaquant.bayes.priors.Priors` (log-ratio scale) and RoBMA's
    PET/PEESE scales; :meth:`robma` is RoBMA's default on Cohen's d.
    """

    mu_mean: float = 0.0
    mu_sd: float = 1.0
    mu_lower: float | None = None
    tau: TauPrior = field(default_factory=TauPrior)
    pet_scale: float = 1.0
    peese_scale: float = 5.0

    @classmethod
    def from_priors(cls, p: Priors, **kw) -> BMAPriors:
        t: ScalePrior = p.tau
        return cls(mu_mean=p.mu_mean, mu_sd=p.mu_sd, tau=TauPrior(t.family, t.scale), **kw)

    @classmethod
    def robma(cls) -> BMAPriors:
        """RoBMA's defaults: ``mu ~ N(0, 1)``, ``tau ~ InvGamma(1, 0.15)``, Cauchy+(0, 1) and Cauchy+(0, 5)."""
        return cls(0.0, 1.0, None, TauPrior("invgamma", 0.15, 1.0), 1.0, 5.0)

    def mu_logpdf(self, mu):
        mu = np.asarray(mu, float)
        out = stats.norm.logpdf(mu, self.mu_mean, self.mu_sd)
        if self.mu_lower is None:
            return out
        out = out - stats.norm.logsf(self.mu_lower, self.mu_mean, self.mu_sd)
        return np.where(mu > self.mu_lower, out, -np.inf)

    def mu_cdf(self, x):
        x = np.asarray(x, float)
        if self.mu_lower is None:
            return stats.norm.cdf(x, self.mu_mean, self.mu_sd)
        lo = stats.norm.cdf(self.mu_lower, self.mu_mean, self.mu_sd)
        return np.clip((stats.norm.cdf(x, self.mu_mean, self.mu_sd) - lo) / (1 - lo), 0.0, 1.0)

    def b_scale(self, bias: str) -> float:
        return self.pet_scale if bias == "pet" else self.peese_scale

    def describe(self) -> dict[str, str]:
        mu = f"Normal({self.mu_mean:g}, {self.mu_sd:g})" + (f" truncated to > {self.mu_lower:g}"
                                                             if self.mu_lower is not None else "")
        return {"mu": mu, "tau": self.tau.describe(), "pet": f"Cauchy+(0, {self.pet_scale:g})",
                "peese": f"Cauchy+(0, {self.peese_scale:g})", "omega": "cumulative Dirichlet(alpha)"}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["text"] = self.describe()
        return d


def as_bma_priors(priors) -> BMAPriors:
    """``None`` (project defaults), ``"robma"``, a :class:`Priors`, a :class:`BMAPriors` or a dict of its fields."""
    if priors is None:
        return BMAPriors.from_priors(Priors())
    if isinstance(priors, BMAPriors):
        return priors
    if isinstance(priors, Priors):
        return BMAPriors.from_priors(priors)
    if isinstance(priors, str) and priors.strip().lower() == "robma":
        return BMAPriors.robma()
    if isinstance(priors, Mapping):
        d = {k: v for k, v in priors.items() if k != "text"}
        if isinstance(d.get("tau"), Mapping):
            d["tau"] = TauPrior(**d["tau"])
        try:
            return BMAPriors(**d)
        except TypeError as exc:
            raise InputError(f"unknown prior field: {exc}") from None
    raise InputError(f"priors must be None, 'robma', Priors, BMAPriors or a dict, got {type(priors).__name__}")


def _halfcauchy_logpdf(b, s):
    b = np.asarray(b, float)
    return np.where(b > 0, math.log(2.0 / (math.pi * s)) - np.log1p((b / s) ** 2), -np.inf)


# --------------------------------------------------------------------------
# Likelihood (numpy and PyTensor share this code)
# --------------------------------------------------------------------------


def _loglik(y, se, mu, tau, b, x, omega, cuts, g_idx, h_idx, lib):
    """Sum over studies of the log density of ``y``.

    numpy: ``mu``, ``tau``, ``b`` of shape ``(N, 1)``, ``omega`` ``(N, J)``; PyTensor: scalars
    and a vector.  ``x`` is ``se`` (PET) or ``se**2`` (PEESE); ``cuts`` ``(k, M)``; ``g_idx``
    ``(M+1,)`` the weight index of each interval of the effect axis, ``h_idx`` ``(k,)`` that of
    each observed estimate.  The weights are picked by indexing, not by products with one-hot
    matrices: without a linked BLAS, PyTensor runs matrix products in Python (4 of them made
    the compiled gradient of a selection member twice as slow).
    """
    log, sqrt, erfc = lib
    V = se**2 + tau**2
    m = mu + b * x if b is not None else mu
    ll = -0.5 * (LOG2PI + log(V) + (y - m) ** 2 / V)
    if omega is None:
        return ll.sum(axis=-1)
    w_obs = omega[..., h_idx]
    W = omega[..., g_idx]
    s = sqrt(V)
    z = (cuts - mu[..., None]) / s[..., None]
    S = 0.5 * erfc(z / SQRT2)  # P(Y > cut)
    dW = W[..., 1:] - W[..., :-1]
    # A = sum_j W_j P_j written with survival functions only (Abel summation; no cancellation for one-sided)
    A = W[..., :1] + (dW[..., None, :] * S).sum(axis=-1)
    return (ll + log(w_obs) - log(A)).sum(axis=-1)


_NP = (np.log, np.sqrt, special.erfc)


def _omega_from_eta(eta, lib_cumsum):
    """``omega_j = sum_{l >= j} eta_l`` (reverse cumulative sum, no cancellation)."""
    return lib_cumsum(eta[..., ::-1])[..., ::-1]


@dataclass
class _Data:
    y: np.ndarray
    se: np.ndarray
    prop: str
    hib: bool
    thresholds: tuple[float, ...]
    notes: list[str]

    @property
    def k(self) -> int:
        return int(self.y.size)

    def x(self, bias: str) -> np.ndarray:
        return self.se if bias == "pet" else self.se**2

    def selection_arrays(self, wf: WeightFunction):
        """Cut-points ``(k, M)``, the weight index of each interval ``(M+1,)`` and of each estimate ``(k,)``."""
        cuts = wf.cuts(self.se)
        idx = wf.interval_index()
        m = np.array([np.searchsorted(c, yy) for c, yy in zip(cuts, self.y, strict=True)], dtype=int)
        return cuts, idx.astype("int64"), idx[m].astype("int64")


def _np_loglik(member: Member, d: _Data, mu, tau, b, eta):
    """Vectorised log likelihood at ``N`` parameter points (arrays of shape (N,); ``eta`` (N, J))."""
    n = np.shape(mu)[0]
    mu = np.asarray(mu, float).reshape(n, 1)
    tau = np.asarray(tau, float).reshape(n, 1)
    bb = None if b is None else np.asarray(b, float).reshape(n, 1)
    x = d.x(member.bias) if member.bias in ("pet", "peese") else None
    if member.bias == "selection":
        cuts, g_idx, h_idx = d.selection_arrays(member.weightfunction)
        omega = _omega_from_eta(np.asarray(eta, float), lambda a: np.cumsum(a, axis=-1))
        with np.errstate(divide="ignore"):
            return _loglik(d.y, d.se, mu, tau, None, None, omega, cuts, g_idx, h_idx, _NP)
    return _loglik(d.y, d.se, mu, tau, bb, x, None, None, None, None, _NP)


# --------------------------------------------------------------------------
# The unconstrained posterior of a member (bridge sampling and quadrature)
# --------------------------------------------------------------------------


def _standardised(member: Member, pri: BMAPriors) -> bool:
    """Whether ``mu`` is sampled as ``z = (mu - m) / s`` (an effect with an untruncated prior)."""
    return member.effect and pri.mu_lower is None


def _mu_conditional(y, se, tau, b, x, m0, s0, lib_sqrt):
    """Mean ``m`` and sd ``s`` of ``mu`` given ``tau`` and ``b`` in the model without selection.

    ``w_i = 1/(se_i^2 + tau^2)``, ``P = 1/s0^2 + sum w``, ``m = (m0/s0^2 + sum w (y - b x))/P``,
    ``s = P^(-1/2)``.  Sampling ``z = (mu - m)/s`` instead of ``mu`` removes the funnel between
    ``mu`` and ``tau`` (sharp when one study is far more precise than the others) and the ridge
    between ``mu`` and the PET/PEESE slope; the map is a bijection for any model (Jacobian ``s``),
    so it is also used, as an approximation of the conditional, for the selection models.
    """
    w = 1.0 / (se**2 + tau**2)
    r = y - b * x if b is not None else y
    P = 1.0 / s0**2 + w.sum(axis=-1)
    m = (m0 / s0**2 + (w * r).sum(axis=-1)) / P
    return m, 1.0 / lib_sqrt(P)


def _unpack(member: Member, pri: BMAPriors, theta: np.ndarray, d: _Data):
    """Parameters and log prior + log Jacobian at unconstrained points ``theta`` (N, d).

    Coordinates, in order: the effect (``z = (mu - m)/s`` of :func:`_mu_conditional`, or
    ``log(mu - lower)`` for a truncated prior), ``log tau``, ``log b``, the additive log-ratios
    ``log(eta_j / eta_J)``.
    """
    theta = np.atleast_2d(np.asarray(theta, float))
    n = theta.shape[0]
    col = int(member.effect)
    lp = np.zeros(n)
    mu = np.zeros(n)
    tau = np.zeros(n)
    b = eta = None
    if member.heterogeneity:
        u = theta[:, col]
        col += 1
        tau = np.exp(u)
        lp = lp + pri.tau.logpdf(tau) + u
    if member.bias in ("pet", "peese"):
        u = theta[:, col]
        col += 1
        b = np.exp(u)
        lp = lp + _halfcauchy_logpdf(b, pri.b_scale(member.bias)) + u
    if member.effect:
        u = theta[:, 0]
        if pri.mu_lower is None:
            x = d.x(member.bias)[None, :] if b is not None else None
            m, sd = _mu_conditional(d.y[None, :], d.se[None, :], tau[:, None], None if b is None else b[:, None],
                                    x, pri.mu_mean, pri.mu_sd, np.sqrt)
            mu = m + sd * u
            lp = lp + np.log(sd)
        else:
            mu = pri.mu_lower + np.exp(u)
            lp = lp + u
        lp = lp + pri.mu_logpdf(mu)
    if member.bias == "selection":
        wf = member.weightfunction
        z = np.concatenate([theta[:, col:col + wf.n_weights - 1], np.zeros((n, 1))], axis=1)
        logeta = z - special.logsumexp(z, axis=1, keepdims=True)
        eta = np.exp(logeta)
        a = np.asarray(wf.alpha)
        lp = lp + special.gammaln(a.sum()) - special.gammaln(a).sum() + ((a - 1) * logeta).sum(1) + logeta.sum(1)
    return mu, tau, b, eta, lp


def _log_post(member: Member, d: _Data, pri: BMAPriors):
    def f(theta):
        mu, tau, b, eta, lp = _unpack(member, pri, theta, d)
        out = np.full(lp.shape, -np.inf)
        ok = np.isfinite(lp)
        if ok.any():
            sel = lambda v: None if v is None else v[ok]  # noqa: E731
            out[ok] = lp[ok] + _np_loglik(member, d, mu[ok], tau[ok], sel(b), sel(eta))
        return out

    return f


def _to_unconstrained(member: Member, pri: BMAPriors, draws: Mapping[str, np.ndarray], d: _Data):
    """Posterior draws (chains, draws, ...) -> (chains, draws, d) on the coordinates of :func:`_unpack`."""
    cols = []
    if member.effect:
        mu = draws["mu"]
        if _standardised(member, pri):
            tau = draws["tau"] if member.heterogeneity else np.zeros_like(mu)
            b = draws["b"][..., None] if member.bias in ("pet", "peese") else None
            x = d.x(member.bias) if b is not None else None
            m, sd = _mu_conditional(d.y, d.se, tau[..., None], b, x, pri.mu_mean, pri.mu_sd, np.sqrt)
            cols.append((mu - m) / sd)
        else:
            cols.append(np.log(mu - pri.mu_lower))
    if member.heterogeneity:
        cols.append(np.log(draws["tau"]))
    if member.bias in ("pet", "peese"):
        cols.append(np.log(draws["b"]))
    if member.bias == "selection":
        le = np.log(draws["eta"])
        cols += [le[..., j] - le[..., -1] for j in range(le.shape[-1] - 1)]
    return np.stack(cols, axis=-1)


# --------------------------------------------------------------------------
# Quadrature (the reference for the tractable members)
# --------------------------------------------------------------------------


def _log_mu_marginal(r, V, pri: BMAPriors, effect: bool):
    """log of the integral over mu of p(mu) prod_i N(r_i; mu, V_i) (closed form; mu = 0 when absent)."""
    if not effect:
        return -0.5 * (LOG2PI * r.shape[-1] + np.log(V).sum(-1) + (r**2 / V).sum(-1))
    w = 1.0 / V
    W = w.sum(-1)
    ybar = (w * r).sum(-1) / W
    Q = (w * (r - ybar[..., None]) ** 2).sum(-1)
    k = r.shape[-1]
    m0, s0 = pri.mu_mean, pri.mu_sd
    out = (-0.5 * ((k - 1) * LOG2PI + np.log(V).sum(-1) + Q) - 0.5 * np.log(W)
           + stats.norm.logpdf(ybar, m0, np.sqrt(s0**2 + 1.0 / W)))
    if pri.mu_lower is not None:
        sp2 = 1.0 / (1.0 / s0**2 + W)
        mp = sp2 * (m0 / s0**2 + W * ybar)
        out = out + stats.norm.logsf(pri.mu_lower, mp, np.sqrt(sp2)) - stats.norm.logsf(pri.mu_lower, m0, s0)
    return out


def _grid_integrate(logf, dims: int, lo=-30.0, hi=12.0, n_coarse=(421, 141), n_fine=(2001, 401), grid=False):
    """log of the integral of exp(logf) over R^dims (dims 0, 1 or 2) by the trapezoidal rule on a refined box.

    With ``grid=True`` also the nodes ``(n, dims)``, their log weights (trapezoid weight x integrand)
    and the spacings, for drawing from the normalised integrand.
    """
    if dims == 0:
        val = float(logf(np.zeros((1, 0)))[0])
        return (val, np.zeros((1, 0)), np.zeros(1), np.zeros(0)) if grid else val

    def on(axes):
        mesh = np.meshgrid(*axes, indexing="ij")
        pts = np.stack([m.ravel() for m in mesh], axis=1)
        return logf(pts).reshape(mesh[0].shape)

    nc, nf = n_coarse[dims - 1], n_fine[dims - 1]
    axes = [np.linspace(lo, hi, nc)] * dims
    for _ in range(3):  # locate the mass, then integrate on a fine grid over it
        v = on(axes)
        top = np.nanmax(v)
        keep = v > top - 60.0
        new = []
        for ax_i, ax in enumerate(axes):
            other = tuple(j for j in range(dims) if j != ax_i)
            hit = np.where(keep.any(axis=other) if other else keep)[0]
            h = ax[1] - ax[0]
            new.append(np.linspace(ax[max(hit[0] - 2, 0)] - h, ax[min(hit[-1] + 2, ax.size - 1)] + h, nf))
        axes = new
    v = on(axes)
    logw = sum(np.log(ax[1] - ax[0]) for ax in axes)
    # trapezoid: half weight on the box's faces (the integrand is negligible there)
    for ax_i in range(dims):
        sl = [slice(None)] * dims
        for end in (0, -1):
            sl[ax_i] = end
            v[tuple(sl)] -= math.log(2.0)
    total = float(special.logsumexp(v) + logw)
    if not grid:
        return total
    mesh = np.meshgrid(*axes, indexing="ij")
    nodes = np.stack([m.ravel() for m in mesh], axis=1)
    return total, nodes, v.ravel(), np.array([ax[1] - ax[0] for ax in axes])


def quadrature_log_ml(member: Member, y, se, priors=None) -> float:
    """log marginal likelihood of a tractable member by quadrature.

    No bias, PET and PEESE: ``mu`` integrated in closed form (normal or truncated-normal prior),
    ``log tau`` and ``log b`` by the trapezoidal rule on a refined grid (1-D or 2-D).  Selection
    members without effect and heterogeneity: the ``J - 1`` additive-log-ratio coordinates of
    ``eta`` on a grid (``J <= 3``).  The trapezoidal rule on a smooth, rapidly decaying integrand
    over the real line converges geometrically; grids are sized for a relative error below 1e-6.
    Other selection members with up to four free parameters (``mu``, ``log tau``, the ALR
    coordinates): the Laplace-centred grid of :func:`metaquant.bayes.gridquad.integrate`, whose
    error estimate is below 1e-4 (1e-3 where a finer grid would exceed its budget); an
    :class:`~metaquant.errors.InputError` when that grid would exceed its budget on these data.
    """
    pri = as_bma_priors(priors)
    d = _Data(np.asarray(y, float), np.asarray(se, float), "effect", True, (2, 5, 10, 15, 20, 25), [])
    q = _quadrature(member, d, pri)
    if q is None:
        raise InputError(f"the quadrature grid of {member.name!r} on {d.k} studies exceeds its budget "
                         f"({_grid_budget(d)} nodes)", expected="fit_bma(..., marginal_likelihood='bridge')")
    return q[0]


def _grid_budget(d: _Data) -> int:
    """Most nodes of a selection member's grid on ``k`` studies (about 3 s of numpy on one core)."""
    return int(min(2_000_000, 8_000_000 // max(d.k, 1)))


def _selection_quadrature(member: Member, d: _Data, pri: BMAPriors, n_draws: int = 0, rng=None):
    """(log marginal likelihood, posterior draws of ``mu``, error estimate) of a selection member, or None.

    One free parameter (no effect, no heterogeneity, two weights): the refined 1-D grid of
    :func:`_grid_integrate`; otherwise the Laplace-centred grid of :func:`metaquant.bayes.gridquad.integrate`
    (on the null member with three weights it agrees with a 2-D :func:`_grid_integrate` to 1e-7 with 1/400 of
    the nodes), with ``mu`` drawn by sampling-importance-resampling from it.  ``None`` when that grid would
    exceed :func:`_grid_budget` (the member is then sampled).
    """
    logq = _log_post(member, d, pri)
    if len(member.parameters) == 1:
        return _grid_integrate(logq, 1), np.zeros(1), 0.0
    chunk = max(1024, 2_000_000 // (d.k * (len(member.weightfunction.steps) * 2 + 2)))
    g = gridquad.integrate(logq, len(member.parameters), max_nodes=_grid_budget(d), chunk=chunk)
    if g is None:
        return None
    if not (member.effect and n_draws):
        return g.log_integral, np.zeros(1), g.error
    theta, _ = g.draws(logq, n_draws, rng)
    return g.log_integral, _unpack(member, pri, theta, d)[0], g.error


def _quadrature(member: Member, d: _Data, pri: BMAPriors, n_draws: int = 0, rng=None):
    """(log marginal likelihood, posterior draws of ``mu`` or None, error estimate) of a tractable member.

    ``None`` for a selection member whose grid would exceed its budget on these data.
    """
    if not member.tractable:
        raise InputError(f"the member {member.name!r} is not quadrature-tractable")
    if member.bias == "selection":
        return _selection_quadrature(member, d, pri, n_draws, rng)
    has_b = member.bias in ("pet", "peese")
    x = d.x(member.bias) if has_b else None
    dims = int(member.heterogeneity) + int(has_b)

    def params(pts):
        col = 0
        lp = np.zeros(pts.shape[0])
        tau = np.zeros(pts.shape[0])
        b = None
        if member.heterogeneity:
            u = pts[:, col]
            col += 1
            tau = np.exp(u)
            lp = lp + pri.tau.logpdf(tau) + u
        if has_b:
            u = pts[:, col]
            b = np.exp(u)
            lp = lp + _halfcauchy_logpdf(b, pri.b_scale(member.bias)) + u
        return tau, b, lp

    def logf(pts):
        tau, b, lp = params(pts)
        r = np.broadcast_to(d.y, (pts.shape[0], d.k))
        if b is not None:
            r = r - b[:, None] * x[None, :]
        V = np.broadcast_to(d.se[None, :] ** 2 + tau[:, None] ** 2, r.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = lp + _log_mu_marginal(r, V, pri, member.effect)
        return np.where(np.isfinite(out), out, -np.inf)

    if not n_draws:
        return _grid_integrate(logf, dims), None, 0.0
    total, nodes, logw, h = _grid_integrate(logf, dims, grid=True)
    if not member.effect:
        return total, np.zeros(1), 0.0
    # exact draws: a node by its weight (jittered within its cell), then mu | tau, b in closed form
    p = np.exp(logw - special.logsumexp(logw))
    pick = nodes[rng.choice(nodes.shape[0], size=n_draws, p=p)]
    pick = pick + (rng.random(pick.shape) - 0.5) * h
    tau, b, _ = params(pick)
    m, sd = _mu_conditional(d.y[None, :], d.se[None, :], tau[:, None], None if b is None else b[:, None],
                            None if b is None else x[None, :], pri.mu_mean, pri.mu_sd, np.sqrt)
    if pri.mu_lower is None:
        mu = m + sd * rng.standard_normal(n_draws)
    else:  # the conditional is the normal above truncated at the prior's lower bound
        w = 1.0 / (d.se[None, :] ** 2 + tau[:, None] ** 2)
        r = d.y[None, :] - (0.0 if b is None else b[:, None] * x[None, :])
        P = 1.0 / pri.mu_sd**2 + w.sum(1)
        m = (pri.mu_mean / pri.mu_sd**2 + (w * r).sum(1)) / P
        sd = 1.0 / np.sqrt(P)
        mu = stats.truncnorm.rvs((pri.mu_lower - m) / sd, np.inf, loc=m, scale=sd, random_state=rng)
    return total, mu, 0.0


# --------------------------------------------------------------------------
# PyMC models (one compiled model per bias structure and prior; flags switch mu and tau off)
# --------------------------------------------------------------------------

_CACHE: dict[tuple, dict] = {}
#: Held while a cached model samples (threads of one process share the cache).
_SAMPLE_LOCK = threading.RLock()


def clear_cache() -> None:
    """Forget the compiled ensemble models."""
    _CACHE.clear()


#: PyTensor backend of the compiled log density and gradient ("NUMBA" or "C"; see _compile_kwargs).
PYTENSOR_MODE = "NUMBA"


def _compile_kwargs() -> dict:
    """Compile the NUTS log density and gradient with Numba when PyTensor can.

    The graphs are small (k ~ 4 studies) and PyTensor's C virtual machine spends its time
    dispatching ~100 nodes one by one; one Numba function per graph evaluates the selection
    members' density and gradient in ~12 us instead of ~37 us (same values to 1e-15).
    Numba compiles on the first call and caches on disk next to PyTensor's C cache.
    """
    if PYTENSOR_MODE.upper() != "NUMBA":
        return {}
    try:
        import numba  # noqa: F401  (a dependency of PyTensor >= 2.x; absent on older installs)
    except ImportError:  # pragma: no cover
        return {}
    return {"mode": "NUMBA"}


def _full_adapt(n: int):
    """PyMC's dense mass-matrix adaptation, made restartable.

    ``QuadPotentialFullAdapt`` doubles its adaptation window as tuning proceeds and ``reset()``
    (called by ``pm.sample`` before every chain) keeps the doubled window, so a reused step would
    tune its second chain, and every later member, differently from the first: the same seed
    then gave different draws in the same process.  This subclass restores the window on reset.
    """
    from pymc.step_methods.hmc.quadpotential import QuadPotentialFullAdapt

    class _Restartable(QuadPotentialFullAdapt):
        def reset(self):
            if not hasattr(self, "_window0"):
                self._window0 = self.adaptation_window
            self.adaptation_window = self._window0
            super().reset()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "experimental feature"
        return _Restartable(n, np.zeros(n))


def _build(member: Member, pri: BMAPriors, d: _Data, target_accept: float) -> dict:
    """The model of :func:`_build_model` and its NUTS step (compiled once, with a dense mass matrix)."""
    import pymc as pm

    model = _build_model(member, pri, d)
    with model:
        # a dense mass matrix: the effect, the PET/PEESE slope and the weights are correlated a posteriori
        n = sum(int(np.size(v)) for v in model.initial_point().values())
        pot = _full_adapt(n)
        step = pm.NUTS(target_accept=target_accept, potential=pot, compile_kwargs=_compile_kwargs())
    return {"model": model, "step": step, "step_size": float(step.step_size)}


def _build_model(member: Member, pri: BMAPriors, d: _Data):
    """A PyMC model of a bias structure in which ``mu`` and ``tau`` enter as ``f_mu mu`` and ``f_tau tau``.

    With a flag at 0 the parameter no longer touches the likelihood and is drawn from its
    (proper) prior: the marginal likelihood is that of the reduced model, and its posterior
    draws of the other parameters are the reduced model's.  One NUTS compilation then serves
    the four effect x heterogeneity members of a bias structure.
    """
    import pymc as pm
    import pytensor.tensor as pt

    with pm.Model() as model:
        y = pm.Data("y", d.y)
        se = pm.Data("se", d.se)
        f_mu = pm.Data("f_mu", 1.0)
        f_tau = pm.Data("f_tau", 1.0)
        tau = pri.tau.pymc("tau")
        b = x = omega = cuts = g_idx = h_idx = None
        if member.bias in ("pet", "peese"):
            b = pm.HalfCauchy("b", beta=pri.b_scale(member.bias))
            x = pm.Data("x", d.x(member.bias))
        if pri.mu_lower is None:
            # mu = m + s z with (m, s) its conditional moments (see _mu_conditional); with the effect
            # switched off (f_mu = 0) z is mu itself, drawn from its prior
            z = pm.Flat("mu_z")
            m, sd = _mu_conditional(y, se, tau * f_tau, b, x, pri.mu_mean, pri.mu_sd, pt.sqrt)
            mu = pm.Deterministic("mu", f_mu * (m + sd * z) + (1.0 - f_mu) * z)
            pm.Potential("mu_prior", pm.logp(pm.Normal.dist(pri.mu_mean, pri.mu_sd), mu) + f_mu * pt.log(sd))
        else:
            mu = pm.TruncatedNormal("mu", pri.mu_mean, pri.mu_sd, lower=pri.mu_lower)
        if member.bias == "selection":
            wf = member.weightfunction
            eta = pm.Dirichlet("eta", a=np.asarray(wf.alpha))
            omega = _omega_from_eta(eta, pt.cumsum)
            c, g_idx, h = d.selection_arrays(wf)
            cuts = pm.Data("cuts", c)
            h_idx = pm.Data("h_idx", h)
        pm.Potential("loglik", _loglik(y, se, mu * f_mu, tau * f_tau, b, x, omega, cuts, g_idx, h_idx,
                                       (pt.log, pt.sqrt, pt.erfc)))
    return model


def _sample(member: Member, pri: BMAPriors, d: _Data, **kw):
    """:func:`_sample_locked` under :data:`_SAMPLE_LOCK`: a cached model and its step serve one fit at a time, also
    when members run in threads (a Dask ``LocalCluster`` with ``processes=False``)."""
    with _SAMPLE_LOCK:
        return _sample_locked(member, pri, d, **kw)


def _sample_locked(member: Member, pri: BMAPriors, d: _Data, *, draws, tune, chains, seed, target_accept, cores):
    import pymc as pm
    from pymc.step_methods.step_sizes import DualAverageAdaptation

    key = (member.structure, pri, target_accept)
    entry = _CACHE.get(key)
    compiled = entry is None
    if compiled:
        entry = _CACHE[key] = _build(member, pri, d, target_accept)
    model, step = entry["model"], entry["step"]
    values = {"y": d.y, "se": d.se, "f_mu": float(member.effect), "f_tau": float(member.heterogeneity)}
    if member.bias in ("pet", "peese"):
        values["x"] = d.x(member.bias)
    if member.bias == "selection":
        c, _, h = d.selection_arrays(member.weightfunction)
        values.update(cuts=c, h_idx=h)
    pm.set_data(values, model=model)
    step.step_size = entry["step_size"]
    step.step_adapt = DualAverageAdaptation(step.step_size, target_accept, 0.05, 0.75, 10)
    # pm.sample resets the adaptation of a reused step only when it runs the chains itself; the
    # processes of cores > 1 take the step as it is, so reset it here (mass matrix, tune flag)
    step.reset_tuning()
    from .sampling import InterruptGuard

    with model, warnings.catch_warnings(), InterruptGuard(chains=chains, draws=draws) as guard:
        warnings.simplefilter("ignore")
        idata = pm.sample(draws=draws, tune=tune, chains=chains, cores=cores, step=step, random_seed=int(seed),
                          progressbar=False, compute_convergence_checks=False, quiet=True,
                          idata_kwargs={"log_likelihood": False}, callback=guard.callback)
        guard.check(idata.posterior)  # Ctrl-C: PyMC returns the draws it has; no member from a partial trace
    post = {v: np.asarray(idata.posterior[v].values) for v in idata.posterior.data_vars}
    div = int(np.asarray(idata.sample_stats["diverging"].values).sum())
    return post, div, compiled


def _diagnostics(member: Member, post: Mapping[str, np.ndarray]) -> dict:
    import arviz as az

    names = (["mu"] if member.effect else []) + (["tau"] if member.heterogeneity else [])
    names += ["b"] if member.bias in ("pet", "peese") else []
    names += ["eta"] if member.bias == "selection" else []
    rh, es = [], []
    for n in names:
        a = post[n]
        parts = [a] if a.ndim == 2 else [a[..., j] for j in range(a.shape[-1])]
        for p in parts:
            rh.append(float(az.rhat(p)))
            es.append(float(az.ess(p, method="bulk")))
    return {"r_hat_max": max(rh) if rh else float("nan"), "ess_bulk_min": min(es) if es else float("nan")}


# --------------------------------------------------------------------------
# The result
# --------------------------------------------------------------------------


def _weighted_quantiles(x: np.ndarray, w: np.ndarray, q: Sequence[float]) -> np.ndarray:
    o = np.argsort(x, kind="stable")
    x, w = x[o], w[o]
    c = np.cumsum(w) - 0.5 * w
    c /= w.sum()
    return np.interp(q, c, x)


def _zone_table(post: Mapping[str, float], prior: Mapping[str, float]) -> dict[str, dict[str, float]]:
    out = {}
    for z in scale.LABELS:
        p, p0 = float(post[z]), float(prior[z])
        with np.errstate(divide="ignore", invalid="ignore"):
            bf = (p / (1 - p)) / (p0 / (1 - p0)) if 0 < p0 < 1 else float("nan")
        out[z] = {"prior": p0, "posterior": p, "bf": float(bf) if np.isfinite(bf) else (math.inf if p0 > 0 else
                                                                                          float("nan"))}
    return out


@dataclass
class BMAResult:
    """Result of :func:`fit_bma` (follows :mod:`metaquant.results`).

    ``members`` is a list of dicts, one per model: ``name``, ``effect``, ``heterogeneity``,
    ``bias``, ``prior_prob``, ``post_prob``, ``log_ml``, ``log_ml_error`` (bridge-sampling relative
    error), ``log_ml_exact`` (quadrature, where tractable), ``log_ml_method``, ``mu_*`` summaries,
    ``r_hat_max``, ``ess_bulk_min``, ``divergences``, ``seconds``.  ``inclusion`` maps
    ``effect``/``heterogeneity``/``bias`` to ``prior``, ``posterior``, ``bf``.  ``zones`` maps
    ``plain``/``ensemble`` to ``{zone: {prior, posterior, bf}}``.
    """

    property: str
    higher_is_better: bool
    thresholds: tuple[float, ...]
    k: int
    members: list[dict]
    inclusion: dict[str, dict[str, float]]
    mu: dict[str, float]
    mu_conditional: dict[str, float]
    zones: dict[str, dict[str, dict[str, float]]]
    label_plain: dict[str, Any]
    label_ensemble: dict[str, Any]
    priors: BMAPriors
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    mu_draws: np.ndarray | None = field(default=None, repr=False)
    seconds: float = float("nan")
    engine: str = "bma"
    predictions: list[dict] = field(default_factory=list)
    #: The specification it was fitted with (:class:`~metaquant.spec.FitSpec`; set by the fitting road).
    spec: object = field(default=None, repr=False, compare=False)
    #: The effect rows it pooled, variance policy applied (``len(rows) == k``; set by the fitting road).
    rows: object = field(default=None, repr=False, compare=False)

    # -- protocol --------------------------------------------------------
    @property
    def label_code(self) -> str | None:
        return self.label_ensemble.get("code")

    @property
    def label_probability(self) -> float | None:
        return self.label_ensemble.get("probability")

    @property
    def pct(self) -> float:
        return float(pct_from_log(self.mu["median"], self.higher_is_better))

    @property
    def pct_ci_low(self) -> float:
        return float(pct_from_log(self.mu["ci_low"], self.higher_is_better))

    @property
    def pct_ci_high(self) -> float:
        return float(pct_from_log(self.mu["ci_high"], self.higher_is_better))

    @property
    def label_survives(self) -> bool:
        """Whether the plain random-effects model's label is also the bias-adjusted ensemble's."""
        return self.label_plain.get("code") == self.label_ensemble.get("code")

    @property
    def diagnostics(self) -> dict[str, Any]:
        ens = [m for m in self.members if m["in_ensemble"]]
        mc = [m for m in ens if m["log_ml_method"] == "bridge"]
        gaps = [abs(m["log_ml_gap"]) for m in self.members if m.get("log_ml_gap") is not None]
        return {
            "r_hat_max": max((m["r_hat_max"] for m in mc), default=float("nan")),
            "ess_bulk_min": min((m["ess_bulk_min"] for m in mc), default=float("nan")),
            "divergences": int(sum(m["divergences"] for m in mc)),
            "bridge_re_max": max((m["log_ml_error"] for m in mc), default=0.0),
            "bridge_vs_exact_max": max(gaps, default=float("nan")),
            "members_failed": [m["name"] for m in mc if not m["ok"]],
            "members_sampled": len(mc),
            "quadrature_error_max": max((m["log_ml_error"] for m in ens if m["log_ml_method"] == "quadrature"),
                                        default=0.0),
        }

    @property
    def ok(self) -> bool:
        """True when every member passed: R-hat <= 1.01, bulk ESS >= 400, no divergence, bridge error <= 0.1."""
        return all(m["ok"] for m in self.members)

    # -- output ----------------------------------------------------------
    def to_dict(self) -> dict:
        d = {
            "engine": self.engine, "property": self.property, "higher_is_better": self.higher_is_better,
            "thresholds": list(self.thresholds), "k": self.k,
            "label_code": self.label_code, "label_probability": self.label_probability,
            "pct": self.pct, "pct_ci_low": self.pct_ci_low, "pct_ci_high": self.pct_ci_high,
            "predictions": self.predictions, "notes": self.notes, "diagnostics": self.diagnostics, "ok": self.ok,
            "members": self.members, "inclusion": self.inclusion, "mu": self.mu,
            "mu_conditional": self.mu_conditional, "zones": self.zones, "label_plain": self.label_plain,
            "label_ensemble": self.label_ensemble, "label_survives": self.label_survives,
            "priors": self.priors.to_dict(), "settings": self.settings, "seconds": self.seconds,
            "measure": measure_of(self),
        }
        if withhold(d).get("withheld_reason"):
            d["label_survives"] = None
        return json_safe(d)

    def members_frame(self) -> pd.DataFrame:
        """One row per member: name, components, prior and posterior probability, marginal likelihoods, diagnostics."""
        cols = ["name", "effect", "heterogeneity", "bias", "in_ensemble", "prior_prob", "post_prob", "log_ml",
                "log_ml_error", "log_ml_method", "log_ml_exact", "r_hat_max", "ess_bulk_min", "divergences", "ok",
                "mu_median", "mu_ci_low", "mu_ci_high", "seconds"]
        df = pd.DataFrame(self.members)
        return df[[c for c in cols if c in df.columns]]

    def to_frame(self) -> pd.DataFrame:
        rows = [{"term": "mu", "estimate": self.mu["median"], "ci_low": self.mu["ci_low"],
                 "ci_high": self.mu["ci_high"]},
                {"term": "pct", "estimate": self.pct, "ci_low": self.pct_ci_low, "ci_high": self.pct_ci_high}]
        for comp, v in self.inclusion.items():
            rows.append({"term": f"inclusion_bf[{comp}]", "estimate": v["bf"]})
            rows.append({"term": f"inclusion_prob[{comp}]", "estimate": v["posterior"]})
        for m in self.members:
            if m["in_ensemble"]:
                rows.append({"term": f"post_prob[{m['name']}]", "estimate": m["post_prob"]})
        for which, tab in self.zones.items():
            for z, v in tab.items():
                rows.append({"term": f"zone[{which}][{z}]", "estimate": v["posterior"], "prior": v["prior"],
                             "bf": v["bf"]})
        return tidy_frame(rows, prop=self.property, engine=self.engine)


# --------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------


def _prepare(table, thresholds, missing_vi) -> _Data:
    if not isinstance(table, pd.DataFrame):
        raise InputError(f"fit_bma needs an effect table (DataFrame), got {type(table).__name__}")
    for col in ("yi", "vi"):
        if col not in table:
            raise InputError(f"the effect table has no column {col!r}", column=col)
    notes = []
    if "property" in table and table["property"].nunique() > 1:
        raise InputError("the effect table holds several properties; pool one "
                         "(metaquant.evidence.effects.for_property)",
                         expected=", ".join(sorted(table["property"].astype(str).unique())))
    if "vi_known" in table:
        # a variance imputed upstream (vi filled, vi_known still False) counts as given
        table = table.copy()
        vi = pd.to_numeric(table["vi"], errors="coerce")
        table["vi_known"] = table["vi_known"].astype(bool) | (vi.notna() & (vi > 0))
    if missing_vi is not None:  # the rows are pooled as given: the policy is the fitting road's
        rows_as_given(table, missing_vi, engine="the bias-adjusted ensemble", models_unknown=False)
    y = pd.to_numeric(table["yi"], errors="coerce").to_numpy(float)
    v = pd.to_numeric(table["vi"], errors="coerce").to_numpy(float)
    bad = ~(np.isfinite(y) & np.isfinite(v) & (v > 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError("every row needs a finite effect and a positive sampling variance", row=i,
                         column="vi" if np.isfinite(y[i]) else "yi")
    if y.size < 2:
        raise InputError(f"the ensemble needs at least 2 effects with a known variance, got {y.size}")
    if "property" in table:
        p = schema.get_property(str(table["property"].iloc[0]))
        prop, hib, thr = p.name, bool(p.higher_is_better), tuple(p.thresholds)
    else:
        prop, hib, thr = "effect", True, (2.0, 5.0, 10.0, 15.0, 20.0, 25.0)
    if "higher_is_better" in table and "property" not in table:
        hib = bool(table["higher_is_better"].iloc[0])
    thr = scale.validate_thresholds(thresholds if thresholds is not None else thr)
    return _Data(y, np.sqrt(v), prop, hib, thr, notes)


def _zones_of_mu(mu_draws, weights, d: _Data) -> dict[str, float]:
    pct = pct_from_log(np.asarray(mu_draws, float), d.hib)
    t = np.asarray(d.thresholds)
    k = np.searchsorted(t, np.abs(pct), side="left")
    centre = scale.LABELS.index("IF")
    idx = np.where(pct >= 0, centre + k, centre - k)
    mass = np.bincount(idx, weights=weights, minlength=len(scale.LABELS))
    return {z: float(m) for z, m in zip(scale.LABELS, mass / mass.sum(), strict=True)}


def _prior_zones(pri: BMAPriors, d: _Data, p_effect: float) -> dict[str, float]:
    edges = scale.zone_edges(d.thresholds)
    with np.errstate(divide="ignore", invalid="ignore"):
        e = np.array([log_from_pct(x, d.hib) if np.isfinite(x) else x for x in edges], float)
    e[~np.isfinite(e) & (edges > 0)] = np.inf
    F = pri.mu_cdf(e)
    F[0], F[-1] = 0.0, 1.0
    z = dict(zip(scale.LABELS, np.clip(np.diff(F), 0, None) * p_effect, strict=True))
    z["IF"] += 1.0 - p_effect
    return z


def _label(zone_probs) -> dict:
    sel = scale.label_from_zone_probabilities(zone_probs)
    code = sel.code
    decided = code in scale.LABELS
    return {"code": code if decided else None, "selected": code, "name": sel.name, "probability": float(sel.belief)}

@dataclass(frozen=True)
class _MemberTask:
    """One member of the ensemble to fit (picklable: it travels to worker processes and Dask workers).

    ``how``: ``"closed form"`` (no parameter), ``"quadrature"`` (falls back to ``"bridge"`` beyond the grid's
    budget), ``"bridge"`` (PyMC + bridge sampling) or ``"check"`` (the plain member by PyMC + bridge sampling,
    the check of the sampler against quadrature).
    """

    key: tuple
    member: Member
    index: int
    how: str
    data: _Data
    priors: BMAPriors
    seed: int
    draws: int
    tune: int
    chains: int
    target_accept: float
    cores: int
    exact_check: bool
    in_ensemble: bool
    prior_prob: float


def _mcmc_bridge(t: _MemberTask, rng: np.random.Generator) -> tuple[dict, np.ndarray]:
    """PyMC posterior of a member and its bridge-sampled marginal likelihood."""
    m, d, pri = t.member, t.data, t.priors
    post, div, compiled = _sample(m, pri, d, draws=t.draws, tune=t.tune, chains=t.chains,
                                  seed=int(rng.integers(2**31 - 1)), target_accept=t.target_accept, cores=t.cores)
    br = bridge_sampler(_to_unconstrained(m, pri, post, d), _log_post(m, d, pri), seed=rng)
    diag = _diagnostics(m, post)
    ok = (diag["r_hat_max"] <= RHAT_MAX and diag["ess_bulk_min"] >= ESS_MIN and div == 0
          and br.converged and br.re <= BRIDGE_RE_MAX)
    out = dict(log_ml=br.log_ml, log_ml_error=br.re, log_ml_method="bridge", **diag, divergences=div,
               bridge_iterations=br.iterations, ok=bool(ok), compiled=compiled)
    return out, (post["mu"].ravel() if m.effect else np.zeros(1))


def _fit_member(t: _MemberTask) -> tuple[dict, np.ndarray]:
    """A member's row of :attr:`BMAResult.members` (without ``post_prob``) and its draws of ``mu``."""
    t1 = time.perf_counter()
    m, d, pri = t.member, t.data, t.priors
    rng = np.random.default_rng([t.seed, 7, t.index, int(t.how == "check")])
    row = {"name": m.name, "effect": m.effect, "heterogeneity": m.heterogeneity, "bias": m.bias_label,
           "in_ensemble": t.in_ensemble, "prior_prob": t.prior_prob, "parameters": m.parameters}
    with single_threaded_blas():
        n_q = max(t.draws * t.chains, QUADRATURE_DRAWS)
        q = _quadrature(m, d, pri, n_draws=n_q, rng=rng) if t.how == "quadrature" else None
        if q is not None:
            lm, mu_d, err = q
            row.update(log_ml=lm, log_ml_error=err, log_ml_method="quadrature", r_hat_max=float("nan"),
                       ess_bulk_min=float("nan"), divergences=0, ok=True, compiled=False, log_ml_exact=lm)
        elif t.how == "closed form":  # mu = 0, tau = 0, no bias: the likelihood is the marginal likelihood
            ll = float(_np_loglik(m, d, np.zeros(1), np.zeros(1), None, None)[0])
            row.update(log_ml=ll, log_ml_error=0.0, log_ml_method="closed form", r_hat_max=float("nan"),
                       ess_bulk_min=float("nan"), divergences=0, ok=True, compiled=False)
            mu_d = np.zeros(1)
        else:
            res_m, mu_d = _mcmc_bridge(t, rng)
            row.update(res_m)
        if row["log_ml_method"] != "quadrature":
            exact = _quadrature(m, d, pri) if (t.exact_check and m.tractable) else None
            row["log_ml_exact"] = exact[0] if exact is not None else None
    if m.effect:
        lo, med, hi = np.quantile(mu_d, [0.025, 0.5, 0.975])
        row.update(mu_mean=float(mu_d.mean()), mu_median=float(med), mu_ci_low=float(lo), mu_ci_high=float(hi))
    row["seconds"] = time.perf_counter() - t1
    return row, mu_d


def inclusion_bayes_factors(members: Sequence[Member], prior_probs, log_ml) -> tuple[np.ndarray, dict]:
    """Posterior model probabilities and inclusion Bayes factors.

    ``P(m | y) ∝ P(m) p(y | m)``; for a component (effect, heterogeneity, bias) with prior and
    posterior inclusion probabilities ``p0``, ``p1``, ``BF = [p1 / (1 - p1)] / [p0 / (1 - p0)]``.

    Returns
    -------
    (ndarray, dict)
        Posterior probabilities and ``{component: {"prior", "posterior", "bf", "log_bf"}}``.
    """
    prior = np.asarray(prior_probs, float)
    logml = np.asarray(log_ml, float)
    lw = np.log(np.where(prior > 0, prior, 1e-300)) + logml
    post_p = np.exp(lw - special.logsumexp(lw))
    post_p[prior == 0] = 0.0
    inclusion = {}
    for comp, has in (("effect", [m.effect for m in members]),
                      ("heterogeneity", [m.heterogeneity for m in members]),
                      ("bias", [m.bias != "none" for m in members])):
        has = np.asarray(has, bool)
        p0, p1 = float(prior[has].sum()), float(post_p[has].sum())
        # log BF from the log marginal likelihoods (stable when p1 is within rounding of 0 or 1)
        if 0 < p0 < 1:
            li = special.logsumexp(lw[has]) - math.log(p0)
            lo = special.logsumexp(lw[~has]) - math.log(1 - p0)
            lbf = float(li - lo)
        else:
            lbf = float("nan")
        inclusion[comp] = {"prior": p0, "posterior": p1, "bf": float(np.exp(lbf)), "log_bf": lbf}
    return post_p, inclusion


# Long on purpose: build the ensemble, fit each member, bridge-sample and check it against quadrature, then
# average; the sequence is the method (docs/methods/bma.md).
def fit_bma(
    table: pd.DataFrame,
    *,
    thresholds: Sequence[float] | None = None,
    prior_model_probs: Mapping[str, float] | Sequence[float] | None = None,
    priors: BMAPriors | Priors | Mapping | str | None = None,
    members: Sequence[Member] | None = None,
    bias: Sequence[str | WeightFunction] = DEFAULT_BIAS,
    bias_weights: Sequence[float] | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 2,
    seed: int = DEFAULT_SEED,
    target_accept: float = 0.95,
    cores: int = 1,
    missing_vi: str | None = "refuse",
    exact_check: bool = True,
    marginal_likelihood: str = "exact",
    jobs: int = 1,
    scheduler: str | None = None,
) -> BMAResult:
    """Fit the bias-adjusted Bayesian model-averaged ensemble (RoBMA-PSMA style).

    Parameters
    ----------
    table : DataFrame
        One property's effect table (``yi``, ``vi``; ``property``, ``vi_known`` when present).
    thresholds : sequence of 6 float, optional
        SSM cut-points in % (default: the property's).
    prior_model_probs : mapping or sequence, optional
        ``{"effect": pe, "heterogeneity": ph, "bias": pb}`` (prior probabilities that the
        component is present; RoBMA's default 1/2 each), or one weight per member (normalised).
    priors : BMAPriors, Priors, dict or "robma", optional
        Parameter priors (default: ``mu`` and ``tau`` from :class:`~metaquant.bayes.priors.Priors`).
    members : sequence of Member, optional
        A custom ensemble instead of the crossed one.
    bias : sequence of str or WeightFunction
        Bias members of the crossed ensemble (see :func:`parse_bias`; default :data:`DEFAULT_BIAS`).
    bias_weights : sequence of float, optional
        Relative prior weights of the bias members (equal by default).
    draws, tune, chains, seed, target_accept, cores
        NUTS settings per member (PyMC's sampler).
    missing_vi : str, optional
        The variance policy the rows were pooled under (the ensemble needs every sampling variance).  The rows
        are pooled as given: a policy that drops or imputes (``drop``, the ensemble's default on the fitting
        road, ``impute-max``, ...) is applied by ``metaquant.fit(..., method="bma", variance_policy=...)``, and a
        table with rows lacking a variance is refused here (:func:`metaquant.bayes.data.rows_as_given`).
    exact_check : bool
        ``"bridge"``: also compute the marginal likelihood of the quadrature-tractable members by
        quadrature (``log_ml_exact``, ``log_ml_gap``).  ``"exact"``: where some member is
        bridge-sampled, also fit the plain member by PyMC + bridge sampling, a live check of the
        bridge sampler on these data (``bridge_check``, ``log_ml_gap``; a note when the gap exceeds
        4 RE + 0.01).
    marginal_likelihood : {"exact", "bridge"}
        ``"exact"`` (default): the quadrature-tractable members (no bias, PET, PEESE, and the selection
        members with at most four free parameters whose grid stays within its budget) by quadrature,
        with posterior draws of ``mu`` from the quadrature grid (:data:`QUADRATURE_DRAWS` at least), and
        the others by PyMC + bridge sampling.  On the default ensemble every member is computed by
        quadrature, with no MCMC.
        ``"bridge"``: every member by PyMC + bridge sampling (quadrature only as a check).
    jobs, scheduler
        The members are independent fits: ``jobs`` local worker processes or a Dask scheduler's address
        (:func:`metaquant.parallel.run_tasks`).  Every member draws from its own random stream (the seed
        and its place in the ensemble), so the numbers do not depend on how the members are run.

    Returns
    -------
    BMAResult
    """
    t0 = time.perf_counter()
    if marginal_likelihood not in ("bridge", "exact"):
        raise InputError(f"unknown marginal_likelihood {marginal_likelihood!r}", expected="bridge | exact")
    exact_where_tractable = marginal_likelihood == "exact"
    d = _prepare(table, thresholds, missing_vi)
    pri = as_bma_priors(priors)
    for name, val, lo in (("draws", draws, 50), ("tune", tune, 0), ("chains", chains, 1)):
        if not isinstance(val, int | np.integer) or val < lo:
            raise InputError(f"{name} must be an integer >= {lo}, got {val!r}")
    if members is None:
        if prior_model_probs is not None and not isinstance(prior_model_probs, Mapping):
            raise InputError("one prior probability per member needs members=",
                             expected='{"effect": p, "heterogeneity": p, "bias": p}')
        pm_probs = dict(prior_model_probs or {})
        unknown = set(pm_probs) - {"effect", "heterogeneity", "bias"}
        if unknown:
            raise InputError(f"unknown prior_model_probs keys {sorted(unknown)}",
                             expected="effect, heterogeneity, bias")
        mem, prior = ensemble(bias, effect=pm_probs.get("effect", 0.5),
                              heterogeneity=pm_probs.get("heterogeneity", 0.5),
                              bias_prob=pm_probs.get("bias", 0.5), bias_weights=bias_weights)
    else:
        mem = list(members)
        if prior_model_probs is None:
            prior = np.full(len(mem), 1.0 / len(mem))
        else:
            prior = np.asarray(prior_model_probs, float)
            if prior.shape != (len(mem),) or np.any(prior < 0) or prior.sum() <= 0:
                raise InputError("prior_model_probs needs one non-negative weight per member")
            prior = prior / prior.sum()
    plain = Member(True, True)
    fits = list(mem) + ([plain] if plain not in mem else [])
    rng = np.random.default_rng([seed, 7])
    notes = list(d.notes)
    notes.append("assumes known sampling variances; the selection models assume selection for positive "
                 "(favourable) estimates on the stated p-value steps; PET and PEESE read small-study effects as bias")
    for wf in sorted({m.weightfunction for m in mem if m.weightfunction is not None}, key=lambda w: w.name):
        cnt = wf.counts(d.y, d.se)
        if min(cnt) < MIN_PER_INTERVAL:
            notes.append(f"selection {wf.name}: studies per p-value interval {cnt} (fewer than {MIN_PER_INTERVAL} "
                         "in some interval: its weight is informed mostly by the prior)")
    if d.k < 10:
        notes.append(f"only {plural(d.k, 'study')}: the bias components have little power and lean on their priors")
    nuts = dict(draws=draws, tune=tune, chains=chains, target_accept=target_accept, cores=cores)

    def task(i: int, m: Member, how: str) -> _MemberTask:
        return _MemberTask(key=(m.name,), member=m, index=i, how=how, data=d, priors=pri, seed=seed,
                           exact_check=exact_check, in_ensemble=i < len(mem),
                           prior_prob=float(prior[i]) if i < len(mem) else 0.0, **nuts)

    def how_of(m: Member) -> str:
        if not m.parameters:
            return "closed form"
        return "quadrature" if exact_where_tractable and m.tractable else "bridge"

    i_plain = fits.index(plain)
    check = exact_where_tractable and exact_check and how_of(plain) == "quadrature"
    tasks = [task(i, m, how_of(m)) for i, m in enumerate(fits)]
    # the live check of bridge sampling on these data, wherever some member is bridge-sampled
    wanted = check and any(t.how == "bridge" for t in tasks[:len(mem)])
    extra = [task(i_plain, plain, "check")] if wanted else []
    out = run_tasks(tasks + extra, jobs=jobs, scheduler=scheduler, fn=_fit_member)
    rows, mu_store = [r for r, _ in out[:len(tasks)]], [mu for _, mu in out[:len(tasks)]]
    checks = [r for r, _ in out[len(tasks):]]
    if check and not wanted and any(r["log_ml_method"] == "bridge" for r in rows[:len(mem)]):
        # a member beyond the quadrature grid's budget fell back to sampling: check the sampler now
        checks = [r for r, _ in run_tasks([task(i_plain, plain, "check")], jobs=jobs, scheduler=scheduler,
                                          fn=_fit_member)]
    if checks:
        chk = checks[0]
        rows[i_plain]["bridge_check"] = {k: chk[k] for k in ("log_ml", "log_ml_error", "r_hat_max", "ess_bulk_min",
                                                              "divergences", "ok")}
        rows[i_plain]["compiled"] = chk["compiled"]
        rows[i_plain]["seconds"] += chk["seconds"]
    compiles = sum(int(r["compiled"]) for r in rows)
    sampled = bool(checks) or any(r["log_ml_method"] == "bridge" for r in rows)
    n_ens = len(mem)
    post_p, inclusion = inclusion_bayes_factors(mem, prior, [r["log_ml"] for r in rows[:n_ens]])
    for r, p in zip(rows, list(post_p) + [0.0] * (len(rows) - n_ens), strict=True):
        r["post_prob"] = float(p)
    # model-averaged mu: every member's draws weighted by its posterior probability over its number of draws
    xs = np.concatenate(mu_store[:n_ens])
    ws = np.concatenate([np.full(a.size, p / a.size) for a, p in zip(mu_store[:n_ens], post_p, strict=True)])
    q = _weighted_quantiles(xs, ws, [0.025, 0.5, 0.975])
    mu_sum = {"mean": float(np.sum(xs * ws) / ws.sum()), "median": float(q[1]), "ci_low": float(q[0]),
              "ci_high": float(q[2])}
    eff = np.array([m.effect for m in mem])
    if post_p[eff].sum() > 0:
        xc = np.concatenate([a for a, e in zip(mu_store[:n_ens], eff, strict=True) if e])
        wc = np.concatenate([np.full(a.size, p / a.size)
                             for a, p, e in zip(mu_store[:n_ens], post_p, eff, strict=True) if e])
        qc = _weighted_quantiles(xc, wc, [0.025, 0.5, 0.975])
        mu_cond = {"mean": float(np.sum(xc * wc) / wc.sum()), "median": float(qc[1]), "ci_low": float(qc[0]),
                   "ci_high": float(qc[2])}
    else:
        mu_cond = {"mean": float("nan"), "median": float("nan"), "ci_low": float("nan"), "ci_high": float("nan")}
    mix_n = 4000
    mix_draws = rng.choice(xs, size=mix_n, p=ws / ws.sum())
    # the label as a hypothesis
    z_plain = _zones_of_mu(mu_store[i_plain], None, d)
    z_ens = _zones_of_mu(xs, ws, d)
    p_eff = float(prior[eff].sum())
    zones = {"plain": _zone_table(z_plain, _prior_zones(pri, d, 1.0)),
             "ensemble": _zone_table(z_ens, _prior_zones(pri, d, p_eff))}
    lab_plain, lab_ens = _label(z_plain), _label(z_ens)
    for r in rows:
        r["ok"] = bool(r["ok"])
        if r.get("log_ml_exact") is not None and r["log_ml_method"] == "bridge":
            r["log_ml_gap"] = r["log_ml"] - r["log_ml_exact"]
        elif "bridge_check" in r:
            r["log_ml_gap"] = r["bridge_check"]["log_ml"] - r["log_ml_exact"]
            chk = r["bridge_check"]
            if abs(r["log_ml_gap"]) > 4 * chk["log_ml_error"] + 0.01 or not chk["ok"]:
                notes.append(f"bridge-sampling check on {r['name']!r}: log p(y) {chk['log_ml']:.4f} against "
                             f"quadrature {r['log_ml_exact']:.4f} (RE {chk['log_ml_error']:.3f}, ok={chk['ok']}); "
                             "the bridge-sampled selection members may be off by as much")
    settings = {"draws": draws, "tune": tune, "chains": chains, "seed": seed, "target_accept": target_accept,
                "sampler": "pymc", "compilations": compiles,
                "marginal_likelihood": "bridge sampling (normal proposal)" if not exact_where_tractable
                else "quadrature where tractable, bridge sampling (normal proposal) elsewhere"
                + ("; the plain member bridge-sampled as a check" if checks else ""),
                "pytensor_mode": _compile_kwargs().get("mode", "default") if sampled else None}
    res = BMAResult(property=d.prop, higher_is_better=d.hib, thresholds=d.thresholds, k=d.k, members=rows,
                    inclusion=inclusion, mu=mu_sum, mu_conditional=mu_cond, zones=zones, label_plain=lab_plain,
                    label_ensemble=lab_ens, priors=pri, settings=settings, notes=notes, mu_draws=mix_draws,
                    seconds=time.perf_counter() - t0)
    if not res.label_survives:
        notes.append(f"the plain random-effects label {lab_plain['selected']} does not survive bias adjustment "
                     f"(ensemble: {lab_ens['selected']})")
    return res

