"""metafor's ``.level``: a confidence level to alpha, shared by the classical estimators that print intervals.

A module of its own so that ``rma`` and ``rma_ls`` both read it without importing each other (``rma.predict``
dispatches to ``rma_ls``).
"""

from __future__ import annotations

import math


def level_alpha(level: float) -> float:
    """A confidence level given in percent or as a fraction, to alpha.

    >>> level_alpha(95), level_alpha(0.9), level_alpha(0.05)
    (0.05, 0.09999999999999998, 0.05)
    """
    level = float(level)
    if not math.isfinite(level) or level < 0 or level >= 100:
        raise ValueError(f"level must be in [0, 100) (percent) or (0, 1) (fraction), got {level!r}")
    if level == 0:
        return 1.0
    if level >= 1:
        return (100.0 - level) / 100.0
    return 1.0 - level if level > 0.5 else level


__all__ = ["level_alpha"]
