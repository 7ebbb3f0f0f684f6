"""Baujat plot (Baujat et al. 2002) and caterpillar plot of classical fits, with matplotlib.

The Baujat coordinates are metafor's (:func:`metaquant.classical.influence.baujat`): each study's squared Pearson
residual (its contribution to heterogeneity) against its influence on the pooled result.  The caterpillar plot draws
each row's best linear unbiased prediction (:func:`metaquant.classical.blup.blup`) with its prediction interval,
sorted, on the % scale.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..classical.blup import blup
from ..classical.influence import baujat
from ..evidence.effects import pct_from_log

__all__ = ["baujat_plot", "caterpillar_plot"]


def baujat_plot(res, *, labels=None, path: str | Path | None = None, ax=None, title: str | None = None):
    """Draw the Baujat plot of ``res``; save it to ``path`` if given.

    Parameters
    ----------
    res : RMAResult
    labels : sequence of str, optional
        One label per study (default: 1..k).
    path : str or Path, optional
        File to write (format from the suffix).
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    (Figure, DataFrame)
        The figure and the plotted coordinates.
    """
    pts = baujat(res)
    if labels is None:
        labels = [str(i) for i in pts.index]
    if len(labels) != len(pts):
        raise ValueError(f"labels has {len(labels)} entries but the model has {len(pts)} studies")
    if ax is None:
        fig = Figure(figsize=(6, 5))
        ax = fig.subplots()
    else:
        fig = ax.figure
    ax.scatter(pts["x"], pts["y"], s=12, color="0.3")
    for (x, y), lab in zip(pts[["x", "y"]].to_numpy(), labels, strict=True):
        ax.annotate(str(lab), (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points")
    fixed = res.method in ("FE", "EE")
    what = "Overall" if res.int_only else "Residual"
    ax.set_xlabel(f"Contribution to {what} Heterogeneity" if fixed else "Squared Pearson Residual")
    ax.set_ylabel("Influence on Overall Result" if res.int_only else "Influence on Fitted Value")
    ax.grid(True, color="0.9")
    if title:
        ax.set_title(title)
    if path is not None:
        fig.savefig(path, bbox_inches="tight")
    return fig, pts


def caterpillar_plot(res, *, higher_is_better: bool, labels=None, path: str | Path | None = None, ax=None,
                     title: str | None = None):
    """Draw each row's BLUP with its prediction interval, sorted, on the % scale; save it to ``path`` if given.

    The points are :func:`metaquant.classical.blup.blup` of ``res`` (per study for an ``rma`` fit, per comparison
    for an ``rma_mv`` fit: each row's true effect), carried to % by
    :func:`metaquant.evidence.effects.pct_from_log` (monotone, so the interval's ends carry over).  The pooled
    estimate of an intercept-only model is the vertical line, its confidence interval the shaded band.

    Parameters
    ----------
    res : RMAResult or RMAMVResult
    higher_is_better : bool
        The property's direction (+ % = quantization helps).
    labels : sequence of str, optional
        One label per row (default: 1..k).
    path : str or Path, optional
        File to write (format from the suffix).
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    (Figure, DataFrame)
        The figure and the plotted rows, from the top of the plot down: ``label, pred, pi_low, pi_high`` (log
        ratio, as ``blup``) and ``pct, pct_low, pct_high``; the frame's index is the row of ``blup``.
    """
    b = blup(res)
    if labels is None:
        labels = [str(i) for i in b.index]
    labels = [str(x) for x in labels]
    if len(labels) != len(b):
        raise ValueError(f"labels has {len(labels)} entries but the model has {len(b)} rows")
    pts = b[["pred", "pi_low", "pi_high"]].assign(label=labels)
    for col, src in (("pct", "pred"), ("pct_low", "pi_low"), ("pct_high", "pi_high")):
        pts[col] = pct_from_log(pts[src].to_numpy(float), higher_is_better)
    pts = pts.sort_values("pred", ascending=False, kind="stable")[
        ["label", "pred", "pi_low", "pi_high", "pct", "pct_low", "pct_high"]]
    k = len(pts)
    if ax is None:
        fig = Figure(figsize=(7, max(3.0, 1.2 + 0.22 * k)))
        ax = fig.subplots()
    else:
        fig = ax.figure
    y = np.arange(k)[::-1].astype(float)
    ax.hlines(y, pts["pct_low"], pts["pct_high"], color="0.45", lw=1.2)
    ax.scatter(pts["pct"], y, s=18, color="black", zorder=3)
    ax.axvline(0.0, color="0.6", ls=":", lw=1)
    if res.int_only:
        c = res.coefficients[0]
        est, lo, hi = (float(pct_from_log(c[key], higher_is_better)) for key in ("estimate", "ci_low", "ci_high"))
        ax.axvspan(lo, hi, color="#1f77b4", alpha=0.15, lw=0)
        ax.axvline(est, color="#1f77b4", lw=1.5,
                   label=f"pooled {est:+.2f} %, {res.level:g} % CI [{lo:+.2f}, {hi:+.2f}]")
        ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.set_yticks(y)
    ax.set_yticklabels(pts["label"], fontsize=7 if k > 20 else 8)
    for t in ax.get_yticklabels():
        t.set_parse_math(False)
    ax.set_ylim(-0.8, k - 0.2)
    ax.set_xlabel(f"predicted true effect (BLUP), % change (+ = quantization helps); bars: {res.level:g} % "
                  "prediction intervals")
    ax.grid(True, axis="x", color="0.9")
    if title:
        ax.set_title(title, fontsize=10)
    if path is not None:
        fig.savefig(path, bbox_inches="tight")
    return fig, pd.DataFrame(pts)
