"""Classification metrics and run statistics (numpy only)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def accuracy(y_true, y_pred) -> float:
    """Fraction of correct predictions, ``mean(y_true == y_pred)``."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError("y_true and y_pred must be non-empty and of one shape")
    return float(np.mean(y_true == y_pred))


def macro_f1(y_true, y_pred) -> float:
    """Unweighted mean of the per-class F1 scores.

    For each label k in the union of the true and predicted labels,
    F1_k = 2 TP_k / (2 TP_k + FP_k + FN_k); the macro average is their plain
    mean.  This is scikit-learn's ``f1_score(average="macro")``, whose label
    set is the same union (so no class has an empty denominator).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError("y_true and y_pred must be non-empty and of one shape")
    labels = np.union1d(y_true, y_pred)
    f1 = []
    for k in labels:
        tp = np.sum((y_true == k) & (y_pred == k))
        fp = np.sum((y_true != k) & (y_pred == k))
        fn = np.sum((y_true == k) & (y_pred != k))
        f1.append(2.0 * tp / (2.0 * tp + fp + fn))
    return float(np.mean(f1))


def mean_sd_n(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean, sample sd (ddof = 1; NaN for one value) and count of repeated measurements."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        return math.nan, math.nan, 0
    sd = float(np.std(v, ddof=1)) if v.size > 1 else math.nan
    return float(np.mean(v)), sd, int(v.size)
