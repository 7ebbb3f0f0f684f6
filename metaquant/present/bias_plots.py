"""Funnel plots: contour-enhanced, coloured by study, and the filled funnel of trim and fill.

As :mod:`metaquant.present.plots`, every function returns a :class:`matplotlib.figure.Figure`
built with the object-oriented interface (any backend, no window) and writes nothing;
:func:`metaquant.present.plots.save_figure` writes one.

The funnel follows metafor's ``funnel(..., level = c(90, 95, 99), refline = 0)``: the
effect (log ratio, + = quantization helps) across, the standard error down (0 at the
top), the regions where a study is significant at 10 %, 5 % and 1 % (two-sided) shaded
(Peters et al. 2008), and the pooled estimate with its pseudo-confidence funnel
:math:`\\hat\\mu \\pm 1.96\\,\\mathrm{SE}`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from ..errors import InputError

#: Significance levels of the contours (two-sided) and their shades, least to most significant.
CONTOURS = (0.10, 0.05, 0.01)
_SHADES = ("#d9d9d9", "#bdbdbd", "#969696")
_CLUSTER_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
                    "#7f7f7f", "#bcbd22")


def _se_max(sei: np.ndarray) -> float:
    return float(sei.max()) * 1.08 if sei.size else 1.0


def _draw_funnel(ax, estimate: float | None, se_max: float, contours: Sequence[float], xlim: tuple[float, float]):
    se = np.linspace(0.0, se_max, 200)
    lo, hi = xlim
    if contours:
        # significance regions around 0 (Peters et al. 2008): |y| / se beyond z_{1 - a/2}
        levels = sorted(contours, reverse=True)  # 0.10, 0.05, 0.01
        zs = [stats.norm.isf(a / 2) for a in levels]  # 1.645, 1.960, 2.576
        edge = max(abs(lo), abs(hi)) * 1.5
        for j, a in enumerate(levels):
            inner = zs[j] * se
            outer = zs[j + 1] * se if j + 1 < len(zs) else np.full_like(se, edge)
            label = f"{levels[j + 1]:g} < p < {a:g}" if j + 1 < len(levels) else f"p < {a:g}"
            ax.fill_betweenx(se, inner, outer, color=_SHADES[j], lw=0, label=label, zorder=0)
            ax.fill_betweenx(se, -outer, -inner, color=_SHADES[j], lw=0, zorder=0)
        ax.axvline(0, color="0.5", lw=0.8, zorder=1)
    if estimate is not None:
        ax.axvline(estimate, color="black", lw=1.0, zorder=2)
        ax.plot(estimate - 1.959964 * se, se, color="black", lw=0.8, ls="--", zorder=2)
        ax.plot(estimate + 1.959964 * se, se, color="black", lw=0.8, ls="--", zorder=2)


def _limits(yi, sei, estimate):
    pts = np.r_[yi, 0.0 if estimate is None else estimate]
    span = max(float(np.ptp(pts)), 1.96 * _se_max(sei), 1e-12)
    return float(pts.min() - 0.15 * span), float(pts.max() + 0.15 * span)


def funnel_plot(
    yi,
    vi,
    *,
    study: Sequence | None = None,
    estimate: float | None = None,
    contours: Sequence[float] = CONTOURS,
    title: str | None = None,
    xlabel: str = "effect size (log ratio; + = quantization helps)",
) -> Figure:
    """Contour-enhanced funnel plot.

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and sampling variances.
    study : sequence, optional
        The study (cluster) of each row; when some study gives several rows the points are
        coloured by study with a legend, since such rows are not independent.
    estimate : float, optional
        Pooled estimate: the vertical line and its pseudo-confidence funnel.
    contours : sequence of float
        Two-sided significance levels of the shaded regions (empty: no contours).
    """
    yi = np.asarray(yi, dtype=float).reshape(-1)
    vi = np.asarray(vi, dtype=float).reshape(-1)
    if yi.size == 0 or yi.size != vi.size or (vi <= 0).any():
        raise InputError("a funnel plot needs effect sizes with positive sampling variances, one each")
    sei = np.sqrt(vi)
    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.add_subplot(1, 1, 1)
    xlim = _limits(yi, sei, estimate)
    _draw_funnel(ax, estimate, _se_max(sei), contours, xlim)
    clustered = study is not None and len(set(map(str, study))) < yi.size
    if clustered:
        labels = np.asarray([str(s) for s in study])
        for j, s in enumerate(dict.fromkeys(labels)):
            m = labels == s
            ax.scatter(yi[m], sei[m], s=28, color=_CLUSTER_COLOURS[j % len(_CLUSTER_COLOURS)],
                       edgecolor="black", linewidths=0.5, zorder=3, label=s)
    else:
        ax.scatter(yi, sei, s=28, color="black", zorder=3, label="studies")
    ax.set_xlim(*xlim)
    ax.set_ylim(_se_max(sei), 0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("standard error")
    ax.set_title(title or f"Funnel plot (k = {yi.size})")
    ax.legend(loc="best", fontsize=7, frameon=True, title="study" if clustered else None)
    return fig


def trimfill_funnel(result, *, contours: Sequence[float] = CONTOURS, title: str | None = None,
                    xlabel: str = "effect size (log ratio; + = quantization helps)") -> Figure:
    """The funnel of a trim-and-fill result: observed studies filled black, filled studies open.

    ``result`` is a :class:`metaquant.classical.bias.TrimfillResult`; the vertical line is the estimate
    with the filled studies, the dotted one the unadjusted estimate.
    """
    yi, vi, filled = np.asarray(result.yi, float), np.asarray(result.vi, float), np.asarray(result.filled, bool)
    sei = np.sqrt(vi)
    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.add_subplot(1, 1, 1)
    xlim = _limits(yi, sei, result.estimate)
    _draw_funnel(ax, result.estimate, _se_max(sei), contours, xlim)
    ax.axvline(result.estimate_unadjusted, color="black", lw=0.8, ls=":", zorder=2)
    ax.scatter(yi[~filled], sei[~filled], s=28, color="black", zorder=3, label="observed")
    if filled.any():
        ax.scatter(yi[filled], sei[filled], s=28, facecolor="white", edgecolor="black", zorder=3,
                   label=f"filled ({int(filled.sum())}, {result.side})")
    ax.set_xlim(*xlim)
    ax.set_ylim(_se_max(sei), 0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("standard error")
    ax.set_title(title or f"Trim and fill ({result.estimator}): {result.k0} studies filled")
    ax.legend(loc="lower right", fontsize=7)
    return fig


#: The components of the ensemble whose inclusion is tested, in the order drawn.
COMPONENTS = ("effect", "heterogeneity", "bias")
_PRIOR_COLOUR, _POST_COLOUR = "#bdbdbd", "#1f77b4"


def _bma_dict(result) -> dict:
    """The JSON-ready dict of a :class:`metaquant.bayes.bma.BMAResult` (or the dict itself)."""
    d = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    members = [m for m in d.get("members") or [] if m.get("in_ensemble", True)]
    if not members or not d.get("inclusion"):
        raise InputError("a model-probability plot needs the members and inclusion Bayes factors of a BMA result "
                         "(metaquant fit --method bma)")
    return {**d, "members": members}


def _paired_bars(ax, names: Sequence[str], prior: Sequence[float], post: Sequence[float], height: float = 0.38):
    """Prior (grey) and posterior (blue) probability of each name as horizontal bars, first name on top."""
    pos = np.arange(len(names))[::-1].astype(float)
    ax.barh(pos + height / 2, prior, height=height, color=_PRIOR_COLOUR, edgecolor="black", linewidth=0.4,
            label="prior")
    ax.barh(pos - height / 2, post, height=height, color=_POST_COLOUR, edgecolor="black", linewidth=0.4,
            label="posterior")
    ax.set_yticks(pos)
    ax.set_yticklabels(names, fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability")
    return pos


def model_probability_plot(result, *, by: str = "both", title: str | None = None) -> Figure:
    """Prior against posterior probabilities of a model-averaged ensemble.

    Parameters
    ----------
    result : BMAResult or dict
        A :class:`metaquant.bayes.bma.BMAResult` or its ``to_dict()`` (as stored in a
        comparison or a report): the members with ``prior_prob`` and ``post_prob``, and
        ``inclusion`` with the effect, heterogeneity and bias inclusion probabilities and Bayes factors.
    by : {"both", "members", "components"}
        ``members``: one pair of bars (prior, posterior) per member of the ensemble;
        ``components``: one pair per component (effect, heterogeneity, bias: the summed
        probability of the members that include it), each labelled with its inclusion Bayes
        factor; ``both``: the two panels side by side.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Two bars per member and/or per component, prior (grey) above posterior (blue).
    """
    if by not in ("both", "members", "components"):
        raise InputError(f"by must be 'both', 'members' or 'components', got {by!r}")
    d = _bma_dict(result)
    members = d["members"]
    panels = ["members", "components"] if by == "both" else [by]
    height = max(3.0, 0.22 * len(members) + 1.2) if "members" in panels else 2.8
    fig = Figure(figsize=(6.4 * len(panels), height))
    for j, panel in enumerate(panels, 1):
        ax = fig.add_subplot(1, len(panels), j)
        if panel == "members":
            _paired_bars(ax, [m["name"] for m in members], [float(m.get("prior_prob") or 0.0) for m in members],
                         [float(m.get("post_prob") or 0.0) for m in members], height=0.4)
            ax.set_title(f"{len(members)} models: prior and posterior probability", fontsize=9)
        else:
            inc = d["inclusion"]
            comps = [c for c in COMPONENTS if c in inc]
            pos = _paired_bars(ax, comps, [float(inc[c]["prior"]) for c in comps],
                               [float(inc[c]["posterior"]) for c in comps])
            for c, y in zip(comps, pos, strict=True):
                bf = inc[c].get("bf")
                txt = "BF n/a" if bf is None or not np.isfinite(bf) else f"BF {bf:.3g}"
                ax.text(1.0, y, f" {txt}", va="center", ha="left", fontsize=8, clip_on=False)
            ax.set_title("inclusion: prior and posterior probability", fontsize=9)
        ax.grid(axis="x", color="0.9", lw=0.6)
        ax.set_axisbelow(True)
    fig.suptitle(title or f"{d.get('property', '')}: Bayesian model averaging", fontsize=10, x=0.02, ha="left")
    fig.legend(*fig.axes[0].get_legend_handles_labels(), loc="upper right", ncol=2, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.25 / height))
    return fig
