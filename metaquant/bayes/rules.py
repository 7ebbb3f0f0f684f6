"""What the Bayesian engines can fit: the one place of their rules.

:class:`~metaquant.bayes.engine.PyMCEngine`, :class:`~metaquant.bayes.engine.ExactEngine` and
:class:`~metaquant.bayes.engine.BMAEngine` call :func:`check` from their ``check(spec)`` (the fitting road, before
any work); :func:`metaquant.bayes.fit` calls it too for a direct call, so the same specification is refused with
the same :class:`~metaquant.errors.UsageError` however it arrives.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import UsageError

#: Engines fitting the normal-normal random-effects model with independent sampling errors and no moderators.
PLAIN_ONLY = ("exact", "bma")


def check(engine: str, *, moderators: Sequence[str] = (), model: str = "auto", rho: float | None = None,
          shared_baseline: bool = False, robust: str | None = None, wald: Sequence[str] = (),
          scale_moderators: Sequence[str] = ()) -> None:
    """Raise a :class:`UsageError` for what the Bayesian ``engine`` (``bayes``, ``exact``, ``bma``) cannot fit."""
    if scale_moderators:
        raise UsageError(f"scale moderators (--scale-moderator) are fitted by the classical location-scale model, "
                         f"not the {engine} engine", expected="method='reml' or 'ml'")
    if robust is not None:
        raise UsageError("cluster-robust inference is for the classical engine",
                         expected="a classical method, e.g. method='reml'")
    if wald:
        raise UsageError("Wald tests are for the classical engine", expected="a classical method, e.g. 'reml'")
    if engine in PLAIN_ONLY:
        if moderators:
            raise UsageError(f"the {engine} engine fits models without moderators",
                             expected="method='bayes' for meta-regression")
        if rho is not None or shared_baseline:
            raise UsageError(f"the {engine} engine takes independent sampling errors",
                             expected="method='bayes' or 'reml' for a known sampling covariance")
        if model == "multilevel":
            raise UsageError(f"the {engine} engine fits the random-effects model, not the multilevel one",
                             expected="method='bayes' for model='multilevel'")
    elif rho is not None and rho < 0:
        raise UsageError(f"the Bayesian model takes rho >= 0, got {rho:g}",
                         expected="a non-negative correlation, or method='reml'")


def check_spec(spec) -> None:
    """:func:`check` of a :class:`~metaquant.spec.FitSpec`."""
    check(spec.engine, moderators=spec.moderators, model=spec.model, rho=spec.rho,
          shared_baseline=spec.shared_baseline, robust=spec.robust, wald=spec.wald,
          scale_moderators=spec.scale_moderators)


__all__ = ["PLAIN_ONLY", "check", "check_spec"]
