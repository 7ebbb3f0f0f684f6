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

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from ..errors import InputError

#: Significance levels of the contours (two-sided) and their shades, least to most significant.  The most
#: significant region is the lightest (as metafor's contour-enhanced funnel), so a funnel whose points all lie
#: there -- many precise rows -- is not a solid dark area.
CONTOURS = (0.10, 0.05, 0.01)
_SHADES = ("#bdbdbd", "#d9d9d9", "#f0f0f0")
_CLUSTER_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
                    "#7f7f7f", "#bcbd22")
#: At most this many studies get a colour and a legend entry each; more are drawn in one colour.
MAX_STUDY_COLOURS = 10


def _se_max(sei: np.ndarray) -> float:
    return float(sei.max()) * 1.08 if sei.size else 1.0


def _draw_funnel(ax, estimate: float | None, se_max: float, contours: Sequence[float], xlim: tuple[float, float],
                 centre_label: str = "pooled estimate"):
    se = np.linspace(0.0, se_max, 200)
    lo, hi = xlim
    if contours:
        # significance regions around 0 (Peters et al. 2008): |y| / se beyond z_{1 - a/2}
        levels = sorted(contours, reverse=True)  # 0.10, 0.05, 0.01
        zs = [stats.norm.isf(a / 2) for a in levels]  # 1.645, 1.960, 2.576
        edge = max(abs(lo), abs(hi)) * 1.5 + 1.0
        for j, a in enumerate(levels):
            inner = zs[j] * se
            outer = zs[j + 1] * se if j + 1 < len(zs) else np.full_like(se, edge)
            label = f"{levels[j + 1]:g} < p < {a:g}" if j + 1 < len(levels) else f"p < {a:g}"
            ax.fill_betweenx(se, inner, outer, color=_SHADES[j], lw=0, label=label, zorder=0)
            ax.fill_betweenx(se, -outer, -inner, color=_SHADES[j], lw=0, zorder=0)
    ax.axvline(0, color="0.35", lw=0.8, zorder=1, label="no change (0)")
    if estimate is not None:
        ax.axvline(estimate, color="black", lw=1.2, zorder=2, label=centre_label)
        ax.plot(estimate - 1.959964 * se, se, color="black", lw=0.8, ls="--", zorder=2,
                label="pseudo 95 % CI (centre ± 1.96 SE)")
        ax.plot(estimate + 1.959964 * se, se, color="black", lw=0.8, ls="--", zorder=2)


def _limits(yi, sei, estimate):
    """x limits that hold every point, the centre and 0 (so "no change" is always in view)."""
    pts = np.r_[yi, 0.0] if estimate is None else np.r_[yi, 0.0, estimate]
    span = max(float(np.ptp(pts)), 1.96 * _se_max(sei), 1e-12)
    return float(pts.min() - 0.08 * span), float(pts.max() + 0.08 * span)


def _pct_axis(ax, higher_is_better: bool | None) -> None:
    """Ticks on the log-ratio axis labelled as relative change in % (+ = better); the log scale on top."""
    from matplotlib.ticker import FixedLocator, MaxNLocator

    from ..evidence.effects import RATIO_WORDS_BEYOND, pct_from_log

    lo, hi = ax.get_xlim()
    ticks = [t for t in MaxNLocator(nbins=8, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi) if lo <= t <= hi]
    top = ax.secondary_xaxis("top")
    top.set_xlabel("log ratio (the axis)", fontsize=8)
    top.xaxis.set_major_locator(FixedLocator(ticks))
    top.tick_params(labelsize=7)
    if higher_is_better is None:
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        return

    def fmt(t):
        v = float(pct_from_log(t, higher_is_better))
        if abs(t) < 1e-12:
            return "0 %"
        txt = f"{v:+.3g} %" if abs(v) < 1000 else f"{v:+.0f} %"
        ratio = math.exp(t if higher_is_better else -t)
        return txt if abs(v) <= RATIO_WORDS_BEYOND else f"{txt}\n(×{ratio:.3g})"  # the ratio where the text gives it

    p_lo, p_hi = (float(pct_from_log(x, higher_is_better)) for x in (lo, hi))
    if max(abs(p_lo), abs(p_hi)) <= 60:  # nearly linear here: ticks at round percentages
        from ..evidence.effects import log_from_pct

        pcts = [v for v in MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]).tick_values(p_lo, p_hi) if p_lo <= v <= p_hi]
        pos = [float(log_from_pct(v, higher_is_better)) for v in pcts]
        ax.xaxis.set_major_locator(FixedLocator(pos))
        ax.set_xticklabels([("0 %" if v == 0 else f"{v:+g} %") for v in pcts], fontsize=7)
        return
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.set_xticklabels([fmt(t) for t in ticks], fontsize=7)


def _point_style(n: int) -> dict:
    """Marker size and transparency so that a few points are clear and hundreds still read."""
    if n <= 40:
        return {"s": 26, "alpha": 0.95, "linewidths": 0.5}
    return {"s": max(5.0, 26 * math.sqrt(40 / n)), "alpha": max(0.35, math.sqrt(40 / n)), "linewidths": 0.2}


def _finish(fig, ax, sei, title, xlabel, higher_is_better):
    ax.set_ylim(_se_max(sei), 0)
    ax.set_xlabel(xlabel if higher_is_better is None
                  else "relative change, % (+ = quantization helps; the axis is the log ratio)")
    ax.set_ylabel("standard error")
    _pct_axis(ax, higher_is_better)
    ax.set_title(title, fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7, frameon=False,
              borderaxespad=0.0)
    fig.subplots_adjust(left=0.1, right=0.72, top=0.86, bottom=0.16)


def funnel_plot(
    yi,
    vi,
    *,
    study: Sequence | None = None,
    estimate: float | None = None,
    contours: Sequence[float] = CONTOURS,
    title: str | None = None,
    xlabel: str = "effect size (log ratio; + = quantization helps)",
    higher_is_better: bool | None = None,
    centre_label: str = "pooled estimate",
) -> Figure:
    """Contour-enhanced funnel plot.

    Parameters
    ----------
    yi, vi : array_like
        Effect sizes and sampling variances.
    study : sequence, optional
        The study (cluster) of each row; when some study gives several rows the points are
        coloured by study with a legend (up to :data:`MAX_STUDY_COLOURS` studies), since such
        rows are not independent.
    estimate : float, optional
        Pooled estimate: the vertical line and its pseudo-confidence funnel.
    contours : sequence of float
        Two-sided significance levels of the shaded regions (empty: no contours).
    higher_is_better : bool, optional
        The property's direction: the x ticks are then labelled as relative change in %
        (the axis stays the log ratio, shown on top); without it they are log ratios.
    centre_label : str
        Legend entry of the estimate's line (e.g. which model it comes from).

    The x axis always holds 0 (no change); the legend sits outside the data, to the right.
    """
    yi = np.asarray(yi, dtype=float).reshape(-1)
    vi = np.asarray(vi, dtype=float).reshape(-1)
    if yi.size == 0 or yi.size != vi.size or (vi <= 0).any():
        raise InputError("a funnel plot needs effect sizes with positive sampling variances, one each")
    sei = np.sqrt(vi)
    fig = Figure(figsize=(8.4, 4.8))
    ax = fig.add_subplot(1, 1, 1)
    xlim = _limits(yi, sei, estimate)
    _draw_funnel(ax, estimate, _se_max(sei), contours, xlim, centre_label)
    style = _point_style(yi.size)
    labels = None if study is None else np.asarray([str(s) for s in study])
    clustered = labels is not None and len(set(labels)) < yi.size
    if clustered and len(set(labels)) <= MAX_STUDY_COLOURS:
        for j, s in enumerate(dict.fromkeys(labels)):
            m = labels == s
            ax.scatter(yi[m], sei[m], color=_CLUSTER_COLOURS[j % len(_CLUSTER_COLOURS)], edgecolor="black",
                       zorder=3, label=f"study {s}", **style)
    else:
        what = f"rows ({yi.size}, {len(set(labels))} studies)" if clustered else f"studies ({yi.size})"
        ax.scatter(yi, sei, color="#1f3b73", edgecolor="white", zorder=3, label=what, **style)
    ax.set_xlim(*xlim)
    _finish(fig, ax, sei, title or f"Funnel plot (k = {yi.size})", xlabel, higher_is_better)
    return fig


def trimfill_funnel(result, *, contours: Sequence[float] = CONTOURS, title: str | None = None,
                    xlabel: str = "effect size (log ratio; + = quantization helps)",
                    higher_is_better: bool | None = None) -> Figure:
    """The funnel of a trim-and-fill result: observed studies filled, filled studies open.

    ``result`` is a :class:`metaquant.classical.bias.TrimfillResult`; the vertical line is the estimate
    with the filled studies, the dotted one the unadjusted estimate.
    """
    yi, vi, filled = np.asarray(result.yi, float), np.asarray(result.vi, float), np.asarray(result.filled, bool)
    sei = np.sqrt(vi)
    fig = Figure(figsize=(8.4, 4.8))
    ax = fig.add_subplot(1, 1, 1)
    xlim = _limits(yi, sei, result.estimate)
    xlim = (min(xlim[0], result.estimate_unadjusted), max(xlim[1], result.estimate_unadjusted))
    _draw_funnel(ax, result.estimate, _se_max(sei), contours, xlim, "estimate with the filled studies")
    ax.axvline(result.estimate_unadjusted, color="black", lw=0.9, ls=":", zorder=2, label="unadjusted estimate")
    style = _point_style(yi.size)
    ax.scatter(yi[~filled], sei[~filled], color="#1f3b73", edgecolor="white", zorder=3,
               label=f"observed ({int((~filled).sum())})", **style)
    if filled.any():
        ax.scatter(yi[filled], sei[filled], facecolor="white", edgecolor="#d62728", zorder=4,
                   label=f"filled ({int(filled.sum())}, {result.side})", **{**style, "alpha": 1.0, "linewidths": 1.0})
    ax.set_xlim(*xlim)
    _finish(fig, ax, sei, title or f"Trim and fill ({result.estimator}): {result.k0} studies filled", xlabel,
            higher_is_better)
    return fig


def bias_funnel(table, *, method: str = "REML", trimfill: bool = False, title: str | None = None) -> Figure:
    """The funnel of one property's effect table around the centre of its fit's model family.

    The centre is :func:`metaquant.classical.bias.centre`: the multilevel estimate where rows are
    nested in studies, else the random-effects one, on the rows with a known sampling variance.
    With ``trimfill`` the funnel of trim and fill (run as ``metaquant bias`` runs it: on one row per
    study where rows are nested) with its filled studies open.
    """
    from ..classical import bias as mb

    inp = mb.bias_input(table)
    hib = inp.higher_is_better
    cen, fit = mb.centre(inp, method)
    prop = inp.property or ""
    if trimfill:
        yi, vi, per = inp.yi, inp.vi, "rows"
        if cen["model"].startswith("multilevel"):
            s2w = float(fit.sigma2[-1]) if len(fit.sigma2) > 1 else 0.0
            yi, vi, _ = mb.aggregate(inp.yi, inp.vi, inp.study, sigma2_within=s2w)
            per = "one row per study"
        tf = mb.trimfill(yi, vi, method=method, prop=inp.property)
        return trimfill_funnel(tf, higher_is_better=hib, title=title or (
            f"{prop}: trim and fill ({tf.estimator}, {per}): {tf.k0} filled"))
    label = f"centre: {cen['model'].split(' (')[0]} {cen['method']}, {cen['estimate']:+.3g}"
    if hib is not None:
        from ..evidence.effects import pct_from_log

        label += f" ({float(pct_from_log(cen['estimate'], hib)):+.2f} %)"
    return funnel_plot(inp.yi, inp.vi, study=inp.study, estimate=cen["estimate"], higher_is_better=hib,
                       centre_label=label, title=title or f"{prop}: funnel plot (k = {inp.k} rows, "
                       f"{inp.n_studies} stud{'y' if inp.n_studies == 1 else 'ies'})")


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
