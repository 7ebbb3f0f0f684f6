"""Baujat plot (Baujat et al. 2002) of an :func:`metaquant.classical.rma.rma` fit, with matplotlib.

The coordinates are metafor's (:func:`metaquant.classical.influence.baujat`): each study's squared Pearson
residual (its contribution to heterogeneity) against its influence on the pooled result.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from ..classical.influence import baujat

__all__ = ["baujat_plot"]


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
