"""How rows sit in studies: the one definition of "rows nested in studies" every engine and rule reads.

A property's rows are *nested* when some study gives more than one row: the
multilevel model (comparisons within studies) is then the model of the data,
and the two-level random-effects model is what it reduces to otherwise.  The
classical engine's choice of ``rma.mv``, the Bayesian ``model="auto"``, the
exact engine's reach, the primary-estimate rule and the bias methods' centre
all read :func:`nesting`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Nesting:
    """Rows per study of one property.

    Attributes
    ----------
    k : int
        Rows.
    n_studies : int
    max_rows : int
        The most rows one study gives (0 without rows).
    max_study : str or None
        That study (the first such in the rows' order).
    """

    k: int
    n_studies: int
    max_rows: int
    max_study: str | None

    @property
    def nested(self) -> bool:
        """Some study gives more than one row."""
        return self.max_rows > 1


def nesting(rows, level: str = "study") -> Nesting:
    """The :class:`Nesting` of an effect table (its ``level`` column) or of an array of study labels.

    >>> nesting(["a", "a", "b"]).nested, nesting(["a", "b"]).nested
    (True, False)
    >>> nesting(pd.DataFrame({"study": ["s1", "s2", "s2"]}))
    Nesting(k=3, n_studies=2, max_rows=2, max_study='s2')
    """
    if isinstance(rows, pd.DataFrame):
        labels = rows[level] if level in rows.columns else pd.Series(np.arange(len(rows)))
    else:
        labels = pd.Series(np.asarray(rows).ravel())
    counts = labels.astype(str).value_counts(sort=False)
    if counts.empty:
        return Nesting(0, 0, 0, None)
    return Nesting(k=int(len(labels)), n_studies=int(counts.size), max_rows=int(counts.max()),
                   max_study=str(counts.idxmax()))


__all__ = ["Nesting", "nesting"]
