"""The Structured Synthesis Method as the fitting road sees it (:class:`metaquant.fitting.Engine`).

``FitSpec(method="ssm")`` pools one property's rows with :func:`metaquant.ssm.synthesize`: evidence models
(intensity and belief), Dempster's rule and the 0.75 label selection.  SSM reads measurements and study beliefs,
never a sampling variance, so no variance policy applies (``policies["accepts"]`` is empty).
"""

from __future__ import annotations

from ..errors import UsageError
from ..spec import ENGINE_POLICIES
from .belief import DEFAULT_RULES


class SSMEngine:
    """SSM on the fitting road: ``check(spec)`` before any work, ``fit(rows, spec, settings)`` -> ``SSMResult``."""

    name = "ssm"
    policies = ENGINE_POLICIES["ssm"]

    def check(self, spec) -> None:
        """SSM takes no moderators, no known sampling covariance and no classical option."""
        for given, what in ((spec.moderators, "moderators"),
                            (spec.scale_moderators, "scale moderators (--scale-moderator)"),
                            (spec.known_cov, "a known sampling covariance"),
                            (spec.robust, "cluster-robust inference"), (spec.wald, "Wald tests")):
            if given:
                raise UsageError(f"the SSM engine takes no {what}",
                                 expected="method='bayes' or a classical method, e.g. 'reml'")

    def fit(self, rows, spec, settings):
        """:func:`metaquant.ssm.synthesize` of the property's rows with the spec's SSM options."""
        from .synthesis import synthesize

        custom = spec.thresholds is not None or spec.threshold_scale is not None
        return synthesize(rows, spec.property, policy=spec.selection, belief_split=spec.belief_split,
                          discount=spec.discount, rules=spec.rules or DEFAULT_RULES,
                          thresholds=spec.cut_points() if custom else None)


ENGINES = {"ssm": SSMEngine()}

__all__ = ["ENGINES", "SSMEngine"]
