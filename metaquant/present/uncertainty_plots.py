"""Profile plot of tau² (metafor's ``profile(res)``) for an :func:`metaquant.classical.rma.rma` fit."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from ..classical.uncertainty import confint_pl, profile_tau2

__all__ = ["profile_plot"]


def profile_plot(res, *, tau2=None, steps: int = 20, path: str | Path | None = None, ax=None,
                 title: str | None = None):
    """Draw the (restricted) log-likelihood of ``res`` over tau² (metafor ``profile(res)``); save to ``path``.

    The estimate is marked with a dashed vertical line, the maximum with a dotted horizontal line and the
    95 % profile-likelihood cut (:func:`metaquant.classical.uncertainty.confint_pl`) with a dashed one.

    Parameters
    ----------
    res : RMAResult
        An ML or REML fit.
    tau2 : sequence of float, optional
        The grid (default: around the 95 % profile-likelihood interval).
    steps : int
        Points of the default grid.
    path : str or Path, optional
        File to write (format from the suffix).
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    (Figure, DataFrame)
        The figure and the profile (:func:`metaquant.classical.uncertainty.profile_tau2`).
    """
    prof = profile_tau2(res, tau2, steps=steps)
    if ax is None:
        fig = Figure(figsize=(6, 4.5))
        ax = fig.subplots()
    else:
        fig = ax.figure
    ax.plot(prof["tau2"], prof["ll"], "-o", color="0.3", markersize=3)
    ax.axvline(prof.attrs["tau2_hat"], linestyle="--", color="0.5")
    ax.axhline(prof.attrs["ll_max"], linestyle=":", color="0.5")
    ax.axhline(prof.attrs["ll_cut"], linestyle="--", color="0.7")
    ci = confint_pl(res, 95.0).tau2
    ax.set_xlabel(r"$\tau^2$")
    ax.set_ylabel(("Restricted " if res.method == "REML" else "") + "Log-Likelihood")
    ax.set_title(title or f"95% PL CI: [{ci[1]:.4g}, {ci[2]:.4g}]")
    ax.grid(True, color="0.9")
    if path is not None:
        fig.savefig(path, bbox_inches="tight")
    return fig, prof
