"""Priors of the Bayesian engine, on the log-ratio scale.

Every effect in metaquant is an oriented log response ratio ``y = ln(q/b)``
(or ``ln(b/q)`` for lower-is-better properties), so a value of 1 is a
e ≈ 2.7-fold change and 0.1 is about a 10 % change.  The defaults are weakly
informative on that scale:

* pooled effect ``mu ~ Normal(0, 1)``: 95 % prior mass within a factor
  e^1.96 ≈ 7 of no change, wide enough for a 4-fold storage saving
  (ln 4 = 1.39) yet excluding the absurd;
* heterogeneity ``tau ~ HalfNormal(0.5)`` (for the multilevel model the same
  prior on ``tau_study`` and ``tau_within``): a between-study spread of
  effects whose 95 % prior bound is 0.98, i.e. true effects that differ
  by up to a factor of about 2.7 across studies, and half the mass below 0.34;
* residual scale of rows without a sampling variance
  ``sigma_resid ~ HalfNormal(0.25)``: the run-to-run noise of a single
  measurement; 95 % of its prior mass is below 0.49 (a 1.6-fold change);
* meta-regression slopes ``beta ~ Normal(0, 1)`` per unit of the moderator
  (one doubling of the bit-width for ``log2(bits)``).

The strings accepted by :func:`parse_scale_prior` are ``"halfnormal:S"`` and
``"halfcauchy:S"`` (the scale S in [0.001, 1000], :data:`PRIOR_SCALE_RANGE`, as is the sd of
``mu``); Röver (2020, JSS 93(6), §2.4) discusses
both families for the heterogeneity of a normal-normal hierarchical model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from ..errors import InputError

SCALE_FAMILIES = ("halfnormal", "halfcauchy")
#: Accepted prior standard deviations and scales (``mu_sd``, ``beta_sd``, the ``S`` of a scale prior), on the
#: log-ratio scale.  Beyond them the exact engine's grids, which span 1e-13 to 3e6 prior scales, and the
#: squared scales leave float64 (a division by zero at 1e-200, an overflow at 1e200, an empty grid at
#: 1e300); within them a prior runs from a near point mass (0.001, a 0.1 % change) to flat over any
#: physical ratio (1000).
PRIOR_SCALE_RANGE = (1e-3, 1e3)


class PriorSpecError(InputError, ValueError):
    """A prior specification that cannot be read (a ``ValueError`` and an ``InputError``)."""


@dataclass(frozen=True)
class ScalePrior:
    """Prior of a standard deviation (``tau``, ``tau_study``, ``tau_within``, ``sigma_resid``).

    Attributes
    ----------
    family : {"halfnormal", "halfcauchy"}
        ``halfnormal``: p(x) = 2/(s√(2π)) exp(-x²/(2s²)); ``halfcauchy``:
        p(x) = 2/(π s (1 + x²/s²)), both for x ≥ 0.
    scale : float
        The scale s > 0 (log-ratio units).
    """

    family: str = "halfnormal"
    scale: float = 0.5

    def __post_init__(self):
        fam = str(self.family).strip().lower().replace("-", "").replace("_", "")
        if fam not in SCALE_FAMILIES:
            raise PriorSpecError(f"unknown prior family {self.family!r}", expected=" or ".join(SCALE_FAMILIES))
        sc = _positive_float(self.scale, "prior scale")
        object.__setattr__(self, "family", fam)
        object.__setattr__(self, "scale", sc)

    def __str__(self) -> str:
        return f"{self.family}:{self.scale:g}"

    def describe(self) -> str:
        """``HalfNormal(0.5)`` style text."""
        name = {"halfnormal": "HalfNormal", "halfcauchy": "HalfCauchy"}[self.family]
        return f"{name}({self.scale:g})"

    # scipy-free closed forms, used by the exact engine -------------------
    def logpdf(self, x):
        """Log density at ``x >= 0`` (numpy arrays)."""
        import numpy as np

        x = np.asarray(x, dtype=float)
        z = x / self.scale
        if self.family == "halfnormal":
            return 0.5 * math.log(2.0 / math.pi) - math.log(self.scale) - 0.5 * z * z
        return math.log(2.0 / math.pi) - math.log(self.scale) - np.log1p(z * z)

    def cdf(self, x):
        """Distribution function."""
        import numpy as np
        from scipy import special

        z = np.asarray(x, dtype=float) / self.scale
        if self.family == "halfnormal":
            return special.erf(z / math.sqrt(2.0))
        return 2.0 / math.pi * np.arctan(z)

    def ppf(self, u):
        """Quantile function (``u`` in [0, 1]; ``u = 1`` gives ``inf``)."""
        import numpy as np
        from scipy import special

        u = np.asarray(u, dtype=float)
        if self.family == "halfnormal":
            return self.scale * math.sqrt(2.0) * special.erfinv(u)
        with np.errstate(over="ignore"):
            out = self.scale * np.tan(0.5 * math.pi * u)
        return np.where(u >= 1.0, np.inf, out)


def _positive_float(value, what: str) -> float:
    lo, hi = PRIOR_SCALE_RANGE
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise PriorSpecError(f"{what} must be a positive number, got {value!r}") from None
    if not math.isfinite(x) or x <= 0:
        raise PriorSpecError(f"{what} must be a positive finite number, got {value!r}")
    if not lo <= x <= hi:
        raise PriorSpecError(f"{what} {x:g} is outside the accepted range", expected=f"{lo:g} <= {what} <= {hi:g}")
    return x


def parse_scale_prior(spec: str | ScalePrior, *, option: str = "prior") -> ScalePrior:
    """Read ``"halfnormal:S"`` or ``"halfcauchy:S"`` (case-insensitive, S > 0).

    Raises
    ------
    PriorSpecError
        (a ``ValueError``) naming the option and the accepted forms.
    """
    if isinstance(spec, ScalePrior):
        return spec
    text = str(spec).strip()
    fam, sep, sc = text.partition(":")
    fam = fam.strip().lower().replace("-", "").replace("_", "")
    if not sep or fam not in SCALE_FAMILIES or not sc.strip():
        raise PriorSpecError(
            f"cannot read {option}={text!r}",
            expected="'halfnormal:S' or 'halfcauchy:S' with a scale S > 0, e.g. 'halfnormal:0.5'",
        )
    try:
        scale = float(sc)
    except ValueError:
        raise PriorSpecError(f"cannot read the scale in {option}={text!r}",
                             expected="a positive number after ':'") from None
    if not math.isfinite(scale) or scale <= 0:
        raise PriorSpecError(f"the scale in {option}={text!r} must be positive and finite", expected="S > 0")
    lo, hi = PRIOR_SCALE_RANGE
    if not lo <= scale <= hi:
        raise PriorSpecError(f"the scale in {option}={text!r} is outside the accepted range",
                             expected=f"{lo:g} <= S <= {hi:g}")
    return ScalePrior(fam, scale)


@dataclass(frozen=True)
class Priors:
    """All priors of a fit (log-ratio scale).

    Attributes
    ----------
    mu_mean, mu_sd : float
        ``mu ~ Normal(mu_mean, mu_sd)``; with moderators this is the prior of
        the intercept ``b0``.
    tau : ScalePrior
        Heterogeneity of the random-effects model, and of ``tau_study`` in the
        multilevel model.
    tau_within : ScalePrior or None
        Prior of ``tau_within`` (multilevel model); ``None`` means the same as ``tau``.
    sigma_resid : ScalePrior
        Residual scale of rows whose sampling variance is unknown.
    beta_sd : float
        ``beta_j ~ Normal(0, beta_sd)`` for each moderator column.
    """

    mu_mean: float = 0.0
    mu_sd: float = 1.0
    tau: ScalePrior = field(default_factory=lambda: ScalePrior("halfnormal", 0.5))
    tau_within: ScalePrior | None = None
    sigma_resid: ScalePrior = field(default_factory=lambda: ScalePrior("halfnormal", 0.25))
    beta_sd: float = 1.0

    def __post_init__(self):
        try:
            mean = float(self.mu_mean)
        except (TypeError, ValueError):
            raise PriorSpecError(f"prior mean of mu must be a number, got {self.mu_mean!r}") from None
        if not math.isfinite(mean):
            raise PriorSpecError(f"prior mean of mu must be finite, got {self.mu_mean!r}")
        object.__setattr__(self, "mu_mean", mean)
        object.__setattr__(self, "mu_sd", _positive_float(self.mu_sd, "prior_mu_sd"))
        object.__setattr__(self, "beta_sd", _positive_float(self.beta_sd, "prior_beta_sd"))
        for name in ("tau", "tau_within", "sigma_resid"):
            v = getattr(self, name)
            if v is None and name == "tau_within":
                continue
            if not isinstance(v, ScalePrior):
                object.__setattr__(self, name, parse_scale_prior(v, option=f"prior_{name}"))

    @property
    def tau_within_prior(self) -> ScalePrior:
        """The prior used for ``tau_within`` (``tau`` unless set)."""
        return self.tau_within if self.tau_within is not None else self.tau

    @classmethod
    def from_options(
        cls,
        prior_mu_sd: float | None = None,
        prior_tau: str | ScalePrior | None = None,
        *,
        prior_mu_mean: float | None = None,
        prior_tau_within: str | ScalePrior | None = None,
        prior_sigma: str | ScalePrior | None = None,
        prior_beta_sd: float | None = None,
        base: Priors | None = None,
    ) -> Priors:
        """Defaults (or ``base``) with the given options replaced; ``None`` keeps a field.

        >>> Priors.from_options(prior_mu_sd=2, prior_tau="halfcauchy:0.3").describe()["tau"]
        'HalfCauchy(0.3)'
        """
        p = base if base is not None else cls()
        kw: dict = {}
        if prior_mu_sd is not None:
            kw["mu_sd"] = _positive_float(prior_mu_sd, "prior_mu_sd")
        if prior_mu_mean is not None:
            kw["mu_mean"] = prior_mu_mean
        if prior_tau is not None:
            kw["tau"] = parse_scale_prior(prior_tau, option="prior_tau")
        if prior_tau_within is not None:
            kw["tau_within"] = parse_scale_prior(prior_tau_within, option="prior_tau_within")
        if prior_sigma is not None:
            kw["sigma_resid"] = parse_scale_prior(prior_sigma, option="prior_sigma")
        if prior_beta_sd is not None:
            kw["beta_sd"] = _positive_float(prior_beta_sd, "prior_beta_sd")
        return replace(p, **kw)

    def describe(self) -> dict[str, str]:
        """Human-readable priors, e.g. ``{"mu": "Normal(0, 1)", "tau": "HalfNormal(0.5)", ...}``."""
        return {
            "mu": f"Normal({self.mu_mean:g}, {self.mu_sd:g})",
            "tau": self.tau.describe(),
            "tau_within": self.tau_within_prior.describe(),
            "sigma_resid": self.sigma_resid.describe(),
            "beta": f"Normal(0, {self.beta_sd:g})",
        }

    def to_dict(self) -> dict:
        """JSON-ready dictionary (numbers and the readable form)."""
        d = asdict(self)
        d["tau_within"] = asdict(self.tau_within_prior)
        d["text"] = self.describe()
        return d


def as_priors(priors: Priors | dict | None = None, **options) -> Priors:
    """A :class:`Priors` from ``None``, a ``Priors`` or a dict of fields, then ``options`` applied.

    ``options`` are the keywords of :meth:`Priors.from_options` (``prior_mu_sd``,
    ``prior_tau``, ...); ``None`` values are ignored.
    """
    if priors is None:
        base = Priors()
    elif isinstance(priors, Priors):
        base = priors
    elif isinstance(priors, dict):
        fields = {k: v for k, v in priors.items() if k != "text"}
        for key in ("tau", "tau_within", "sigma_resid"):
            if isinstance(fields.get(key), dict):
                fields[key] = ScalePrior(**fields[key])
        try:
            base = Priors(**fields)
        except TypeError as exc:
            raise PriorSpecError(f"unknown prior field: {exc}") from None
    else:
        raise PriorSpecError(f"priors must be a Priors object or a dict, got {type(priors).__name__}")
    return Priors.from_options(base=base, **options)
