"""A self-contained HTML report of the three engines on every property, with ``report.json``.

:func:`build_report` runs, for each property, the comparison of SSM, the
Bayesian model and REML (:func:`compare_all`: every engine's fit of every property one
task of :func:`metaquant.workbench.compare.compare_properties`, run in parallel with
``jobs``/``scheduler`` as the sensitivity sweeps are), draws
the forest plot, the posterior over SSM's zones, SSM's final masses, the
effect against bit-width and the contour-enhanced funnel plot
(:mod:`metaquant.present.bias_plots`), and runs the leave-one-study-out,
threshold-scaling and belief-split analyses (:mod:`metaquant.workbench.sensitivity`).
With ``bias=True`` it also fits the bias-adjusted model-averaged ensemble per
property (``compare_property(..., bias=True)``) and shows whether the label
survives bias adjustment, with a model-probability plot.  :func:`write_report`
writes ``report.html`` (figures embedded as base64 PNG, no external resource)
and ``report.json`` (every number shown, and more) into a folder, atomically:
both files are built in a temporary folder beside the target, which is then
renamed into place, so a reader never sees half a report.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .. import __version__, fitting
from ..bayes.checks import posterior_checks
from ..errors import InputError
from ..evidence.effects import for_property
from ..outputs import json_safe, replace_dir
from ..progress import plural
from ..spec import FitSpec, RunSettings
from ..workbench import compare, predict, sensitivity
from . import bias_plots, plots
from .tables import format_table, tidy_long


def _log(log, msg):
    if log is not None:
        log(msg)


# --------------------------------------------------------------------------
# Bayesian regression band on bits
# --------------------------------------------------------------------------


def bayes_bits_band(table: pd.DataFrame, settings: RunSettings | None = None, *,
                    grid: Sequence[float] | None = None) -> dict | None:
    """The Bayesian meta-regression on ``log2(bits)``: its line and 95 % credible band in % (``None`` if none).

    :func:`metaquant.workbench.predict.bits_regression` with the PyMC engine: the posterior
    of ``mu + beta (log2(b) - c)`` on a grid of bit-widths, read by the result
    itself, so the band is the engine's line, not a second computation.
    """
    prop = str(table["property"].iloc[0])
    reg = predict.bits_regression(table, FitSpec(prop), settings or RunSettings(), grid=grid)
    if not reg.get("estimable"):
        return None
    reg["slope_mean"] = reg["slope"]
    return reg


# --------------------------------------------------------------------------
# Building the report
# --------------------------------------------------------------------------


def _png(fig) -> str:
    data = plots.figure_bytes(fig, "png", dpi=100)
    from matplotlib.figure import Figure

    if isinstance(fig, Figure):
        fig.clear()
    return base64.b64encode(data).decode("ascii")


def funnel_figure(table: pd.DataFrame, frequentist: dict | None = None):
    """The contour-enhanced funnel plot of the rows with a known sampling variance, and what it shows.

    The vertical line and its pseudo-confidence funnel are the comparison's REML estimate
    (``frequentist``, when estimable); rows of one study are coloured alike
    (:func:`metaquant.present.bias_plots.funnel_plot`).  Returns ``(None, reason)`` with fewer than two such rows.
    """
    known = table["vi_known"].astype(bool) & (pd.to_numeric(table["vi"], errors="coerce") > 0)
    rows = table[known]
    info = {"k": int(len(rows)), "k_total": int(len(table)), "estimate": None}
    if len(rows) < 2:
        return None, {**info, "reason": f"{len(rows)} row(s) with a known sampling variance; a funnel needs 2"}
    f = frequentist or {}
    est = f.get("estimate") if f.get("estimable") else None
    info.update(estimate=est, estimate_from=f"REML ({f.get('model')}, missing_vi = {f.get('missing_vi')})"
                if est is not None else None)
    prop = str(table["property"].iloc[0])
    fig = bias_plots.funnel_plot(rows["yi"].to_numpy(float), rows["vi"].to_numpy(float),
                                 study=rows["study"].astype(str).tolist(), estimate=est,
                                 title=f"{prop}: funnel plot (k = {len(rows)} of {len(table)} rows)")
    return fig, info


def _posterior_checks(pc) -> dict | None:
    """The Bayesian fit's posterior checks (:func:`metaquant.bayes.checks.posterior_checks`), JSON-ready."""
    return None if pc.objects.get("bayes") is None else json_safe(posterior_checks(pc.objects["bayes"]))


def property_section(
    table: pd.DataFrame,
    *,
    fast: bool = False,
    missing_vi: str = "drop",
    settings: RunSettings | None = None,
    sweep_settings: RunSettings | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    log: Callable[[str], None] | None = None,
    rules: str = "ssm2025",
    bias: bool = False,
    comparison: compare.PropertyComparison | None = None,
) -> tuple[dict, dict[str, str]]:
    """Numbers and figures (base64 PNG) for one property (``rules``: the SSM rule set of the data).

    ``settings`` runs the main fits (``RunSettings()``, the defaults of every command, unless given; under
    ``fast`` the sweep settings), ``sweep_settings`` the sensitivity sweeps (:meth:`RunSettings.for_sweep`
    unless given): :func:`main_settings`.  ``bias``: also the bias-adjusted ensemble
    (:func:`metaquant.workbench.compare.compare_property` with ``bias=True``, the main fit's MCMC sizes), its
    label survival and model-probability plot.  ``comparison``: that comparison already made with these
    settings (:func:`compare_all`), else it is made here.
    """
    prop = str(table["property"].iloc[0])
    main, sweep = main_settings(settings, sweep_settings, fast=fast)
    pc = comparison or compare_all([table], fast=fast, missing_vi=missing_vi, settings=main, jobs=jobs,
                                   scheduler=scheduler, log=log, rules=rules, bias=bias)[0]
    figs: dict[str, str] = {}
    exact = None
    if pc.bayes.get("engine") != "exact":
        exact = compare.fit_bayesian(table, FitSpec(prop, method="exact"))[0]
    ssm_obj = pc.objects.get("ssm")
    figs["forest"] = _png(plots.forest_plot(
        table, reml=pc.frequentist if pc.frequentist.get("estimable") else None,
        bayes=pc.bayes if pc.bayes.get("engine") != "exact" else None,
        exact=pc.bayes if pc.bayes.get("engine") == "exact" else exact,
        ssm_models=None if ssm_obj is None else ssm_obj.models))
    notes = []
    if pc.objects.get("bayes") is not None:
        try:
            figs["posterior"] = _png(plots.posterior_plot(pc.objects["bayes"], prop,
                                                          zone_probabilities=pc.bayes.get("zone_probabilities"),
                                                          label_code=pc.bayes.get("label_code")))
        except InputError as exc:
            notes.append(f"no posterior plot: {exc}")
    if ssm_obj is not None:
        figs["masses"] = _png(plots.masses_plot(ssm_obj))
    funnel_fig, funnel = funnel_figure(table, pc.frequentist)
    if funnel_fig is not None:
        figs["funnel"] = _png(funnel_fig)
    else:
        notes.append(f"no funnel plot: {funnel['reason']}")
    if pc.bma is not None and pc.bma.get("estimable") is not False:
        figs["model_probabilities"] = _png(bias_plots.model_probability_plot(pc.bma))
    bits_reg = None
    if table["bits"].notna().sum() >= 2 and table["bits"].nunique() >= 2:
        bits_reg = predict.bits_regression(table, FitSpec(prop, method="reml", variance_policy=missing_vi))
        figs["bits"] = _png(plots.bits_plot(table, predictions=bits_reg if bits_reg.get("estimable") else None,
                                            missing_vi=missing_vi))
    _log(log, f"{prop}: leave-one-study-out and thresholds")
    kw = dict(missing_vi=missing_vi, settings=sweep, jobs=jobs, scheduler=scheduler)
    loo = sensitivity.leave_one_out(table, prop, rules=rules, **kw)
    bayes_fit = (pc.bayes, pc.objects.get("bayes"))
    thr = sensitivity.threshold_scaling(table, prop, bayes_fit=bayes_fit, rules=rules, **kw)
    bel = sensitivity.belief_policies(table, prop, rules=rules)
    numbers = {
        "comparison": pc.to_dict(),
        "exact_random_effects": exact,
        "posterior_checks": _posterior_checks(pc),
        "bits_regression": None if bits_reg is None else {k: v for k, v in bits_reg.items()
                                                           if k not in ("grid_bits", "pct", "pct_ci_low",
                                                                        "pct_ci_high")},
        "funnel": funnel,
        "sensitivity": {"loo": loo.to_dict(), "thresholds": thr.to_dict(), "belief": bel.to_dict()},
        "evidence_models": [] if ssm_obj is None else json_safe(
            ssm_obj.models[["study", "comparison", "pct", "iqr", "discount", "belief", "label_code"]]
            .to_dict("records")),
        "figures": sorted(figs),
        "notes": notes,
    }
    return json_safe(numbers), figs


def compare_all(tables: Sequence[pd.DataFrame], *, fast: bool = False, missing_vi: str = "drop",
                settings: RunSettings | None = None, jobs: int = 1, scheduler: str | None = None,
                log: Callable[[str], None] | None = None, rules: str = "ssm2025",
                bias: bool = False) -> list[compare.PropertyComparison]:
    """The report's comparisons of every property (the main fits of :func:`property_section`), at once.

    Every engine's fit of every property is one task of :func:`metaquant.workbench.compare.compare_properties`,
    run one after another or, with ``jobs``/``scheduler``, in parallel; the results are the same either way.
    ``settings`` are the main fits' (:func:`main_settings`); ``log`` is told when each property is compared.
    """
    how = (f" over {plural(jobs, 'process', 'processes')}" if jobs > 1 and not scheduler else
           f" on the Dask scheduler at {scheduler}" if scheduler else "")
    _log(log, f"comparing engines on {plural(len(tables), 'property', 'properties')}"
         + (" and fitting the bias-adjusted ensembles" if bias else "") + how)
    return compare.compare_properties(tables, jobs=jobs, scheduler=scheduler,
                                      progress=None if log is None else (lambda p: log(f"{p}: engines compared")),
                                      fast=fast, reml_policy=missing_vi, settings=settings, rules=rules, bias=bias)


def main_settings(settings: RunSettings | None = None, sweep_settings: RunSettings | None = None, *,
                  fast: bool = False) -> tuple[RunSettings, RunSettings]:
    """The report's main-fit and sweep settings: ``settings`` (default ``RunSettings()``) and
    ``sweep_settings`` (default :meth:`RunSettings.for_sweep` with the main seed); under ``fast`` the main
    fits run with the sweep settings too."""
    settings = settings or RunSettings()
    sweep = sweep_settings or RunSettings.for_sweep(seed=settings.seed, sampler=settings.sampler,
                                                    force_mcmc=settings.force_mcmc)
    return (sweep if fast else settings), sweep


def build_report(
    data: Any = "ssm2025",
    *,
    properties: Sequence[str] | None = None,
    fast: bool = False,
    missing_vi: str = "drop",
    settings: RunSettings | None = None,
    sweep_settings: RunSettings | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    log: Callable[[str], None] | None = None,
    bias: bool = False,
) -> tuple[str, dict]:
    """Compute everything and render the page.

    Parameters
    ----------
    data : dataset name, path(s) or effect table
    properties : sequence of str, optional
        Default: every property in the data.
    fast : bool
        The exact engine wherever it fits the same model as PyMC, and the sweep settings
        (:meth:`RunSettings.for_sweep`) for the other main fits.
    missing_vi : str
        As :func:`metaquant.workbench.compare.compare_property`.
    settings, sweep_settings : RunSettings, optional
        The main fits' MCMC settings (``RunSettings()``, the defaults of every command) and the sensitivity
        sweeps' (:meth:`RunSettings.for_sweep`); both are named in the page's settings table.
    jobs, scheduler
        Parallel execution of the comparisons' fits (:func:`compare_all`) and of the sensitivity fits
        (:func:`metaquant.workbench.sensitivity.run_tasks`): ``N`` local processes or a Dask scheduler's
        address; the same numbers as one after another.
    bias : bool
        Also fit the bias-adjusted Bayesian model-averaged ensemble per property (``metaquant fit
        --method bma`` with the main fit's MCMC sizes, at most 2 chains): the page gains the
        label-survival table and a model-probability plot per property.  Slow (about a minute
        per property).  The funnel plot is always drawn.

    Returns
    -------
    (str, dict)
        The HTML page and the JSON document.
    """
    if isinstance(data, pd.DataFrame) and "yi" in data.columns:
        table, source = data, "effect table"
    else:
        table, source = fitting.effect_table(data), data
    props = list(properties) if properties else list(dict.fromkeys(table["property"]))
    from ..ssm import rules_for

    rules = rules_for(None if isinstance(data, pd.DataFrame) else data)
    main, sweep = main_settings(settings, sweep_settings, fast=fast)
    tables = [for_property(table, p) for p in props]
    comparisons = compare_all(tables, fast=fast, missing_vi=missing_vi, settings=main, jobs=jobs,
                              scheduler=scheduler, log=log, rules=rules, bias=bias)
    sections, figures = {}, {}
    for t, pc in zip(tables, comparisons, strict=True):
        name = str(t["property"].iloc[0])
        sections[name], figures[name] = property_section(t, fast=fast, missing_vi=missing_vi, settings=main,
                                                         sweep_settings=sweep, jobs=jobs, scheduler=scheduler,
                                                         log=log, rules=rules, bias=bias, comparison=pc)
    doc = {
        "metaquant_version": __version__,
        "generated": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "data": source if isinstance(source, str) else [str(x) for x in source] if isinstance(source, list) else
        str(source),
        "settings": {"fast": fast, "bias": bias, "missing_vi": missing_vi, "ssm_rules": rules, "seed": main.seed,
                     "draws": main.draws, "tune": main.tune, "chains": main.chains,
                     "sweep": [sweep.draws, sweep.tune, sweep.chains],
                     "main_fits": main.describe(), "sweep_fits": sweep.describe()},
        "comparison": [sections[p]["comparison"] for p in sections],
        "properties": sections,
    }
    doc = json_safe(doc)
    return render_html(doc, figures), doc


# --------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1280px;color:#222;
line-height:1.45;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}h3{font-size:1.05em}
table{border-collapse:collapse;font-size:.8em;margin:.6em 0}th,td{border:1px solid #ddd;padding:.2em .35em;
text-align:left;vertical-align:top;white-space:nowrap}th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.same{background:#e5f5e0}.adjacent{background:#fff7bc}.conflicting{background:#fdd0a2}.changed{color:#b30000;
font-weight:600}img{max-width:100%;height:auto;display:block;margin:.5em 0}.note{color:#555;font-size:.85em}
figure{margin:1em 0}figcaption{font-size:.85em;color:#444}nav a{margin-right:.8em;display:inline-block}
.scroll{overflow-x:auto}#comparison th,#comparison td{white-space:normal;overflow-wrap:break-word}
#comparison td.nw{white-space:nowrap}
"""

_CHECK_JS = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images-total', String(imgs.length));
  document.body.setAttribute('data-images-loaded', String(ok));
  document.body.setAttribute('data-images-ok', ok === imgs.length ? 'yes' : 'no');
});
"""


def _e(x) -> str:
    return html.escape("" if x is None else str(x))


def _n(v, f=".2f") -> str:
    return "" if v is None else format(v, f)


def _iv(lo, hi, f="+.1f") -> str:
    return "" if lo is None or hi is None else f"[{format(lo, f)}, {format(hi, f)}]"


#: Columns of the comparison table that never wrap (numbers and intervals).
_NUMERIC_COMPARISON = frozenset({2, 3, 5, 6, 7, 10, 11, 12})


def _comparison_table(rows: list[dict]) -> str:
    head = ("property", "SSM label", "Bel", "models", "Bayes label", "P", "pooled % (median)", "95% CrI", "engine",
            "REML label", "REML %", "95% CI", "k / rows", "agreement")
    out = ["<div class='scroll'><table id='comparison'><thead><tr>" + "".join(f"<th>{h}</th>" for h in head)
           + "</tr></thead><tbody>"]
    for r in rows:
        s, b, f, a = r["ssm"], r["bayes"], r["frequentist"], r["agreement"]
        cells = [
            f"<a href='#{_e(r['property'])}'>{_e(r['property'])}</a>", _e(s.get("label_code") or "n/a"),
            _n(s.get("belief"), ".3f"), _e(s.get("n_models")), _bayes_label(b) + _mcmc_mark(b),
            _n(b.get("label_probability"), ".3f"), _n(b.get("pct", b.get("pct_mean")), "+.2f") + _mcmc_mark(b),
            _iv(b.get("pct_ci_low"), b.get("pct_ci_high")), _e(b.get("engine")),
            _e(f.get("label_code") or "not estimable"), _n(f.get("pct"), "+.2f"),
            _iv(f.get("pct_ci_low"), f.get("pct_ci_high")), f"{_e(f.get('k'))} / {_e(f.get('k_total'))}",
            f"<span class='{_e(a['status'])}'>{_e(a['status'])}</span>",
        ]
        # the comparison table wraps its words to fit the page; numbers and intervals stay on one line
        out.append("<tr>" + "".join(f"<td class='nw'>{c}</td>" if k in _NUMERIC_COMPARISON else f"<td>{c}</td>"
                                    for k, c in enumerate(cells)) + "</tr>")
    out.append("</tbody></table></div>")
    parts = [f"<li><a href='#{_e(r['property'])}'>{_e(r['property'])}</a>: {_e(r['agreement']['reason'])}</li>"
             for r in rows if r["agreement"].get("reason")]
    if parts:
        out.append("<h3>Where they part</h3><ul id='reasons'>" + "".join(parts) + "</ul>")
    return "".join(out)


#: What each report setting means, for the header table.
_SETTING_NAMES = {
    "fast": "exact engine wherever it is the same model as PyMC",
    "bias": "bias-adjusted model-averaged ensemble (BMA)",
    "missing_vi": "REML: rows without a sampling variance",
    "ssm_rules": "SSM rule set (discounts, belief)",
    "seed": "random seed",
    "draws": "MCMC draws per chain (main fits)",
    "tune": "MCMC tuning steps per chain (main fits)",
    "chains": "MCMC chains (main fits)",
    "sweep": "sensitivity sweeps: draws, tune, chains",
    "main_fits": "main fits",
    "sweep_fits": "sweep fits",
}


def _settings_table(doc: dict) -> str:
    """The header: version, data, time and every setting as a two-column table."""
    rows = [("metaquant version", doc["metaquant_version"]), ("data", doc["data"]), ("generated", doc["generated"])]
    for key, value in doc["settings"].items():
        shown = ", ".join(str(v) for v in value) if isinstance(value, list | tuple) else value
        rows.append((_SETTING_NAMES.get(key, key), shown))
    body = "".join(f"<tr><th scope='row'>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table id='settings'><thead><tr><th>setting</th><th>value</th></tr></thead><tbody>{body}</tbody></table>"


def _bayes_label(b: dict) -> str:
    if b.get("estimable") is False:
        return "not estimable"
    return _e(b.get("label_code") or "no label")


def _mcmc_mark(b: dict) -> str:
    """The visible mark of failed MCMC diagnostics beside a Bayesian number."""
    if b.get("ok") is False and b.get("estimable") is not False:
        return f" <span class='changed' title='MCMC diagnostics failed'>{compare.MCMC_MARK}</span>"
    return ""


def _sens_table(res: dict) -> str:
    rows = res.get("rows") or []
    if not rows:
        return "<p class='note'>No scenario (a single study).</p>"
    head = ("scenario", "engine", "k", "label", "support (Bel or P)", "pooled %", "interval", "note")
    out = ["<div class='scroll'><table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"]
    for r in rows:
        cls = " class='changed'" if r.get("changed") else ""
        cells = [_e(r["scenario"]), _e(r["engine"]), _e(r.get("k")), f"<span{cls}>{_e(r.get('label_code') or '-')}"
                 "</span>", _n(r.get("support"), ".3f"), _n(r.get("pct"), "+.2f"),
                 _iv(r.get("pct_low"), r.get("pct_high")),
                 "<span class='changed'>changed</span>" if r.get("changed") else _e(r.get("note"))]
        # the comparison table wraps its words to fit the page; numbers and intervals stay on one line
        out.append("<tr>" + "".join(f"<td class='nw'>{c}</td>" if k in _NUMERIC_COMPARISON else f"<td>{c}</td>"
                                    for k, c in enumerate(cells)) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _diagnostics(sec: dict) -> str:
    c = sec["comparison"]
    s, b, f = c["ssm"], c["bayes"], c["frequentist"]
    items = _check_items(sec)
    if s.get("label_code"):
        items.append(f"SSM: {plural(s.get('n_models'), 'evidence model')} from {plural(s.get('n_studies'), 'study')}; "
                     f"last-step conflict "
                     f"K = {_n(s.get('conflict_last'), '.3f') or 'NA'}, largest K = "
                     f"{_n(s.get('conflict_max'), '.3f') or 'NA'}; uncertainty m(Θ) = {_n(s.get('uncertainty'), '.4f')}"
                     f"; plausibility of the label {_n(s.get('plausibility'), '.3f')}.")
    else:
        items.append(f"SSM: {_e(s.get('reason'))}")
    if b.get("estimable") is not False:
        diag = (f"R-hat max {_n(b.get('r_hat_max'), '.3f')}, bulk ESS min {_n(b.get('ess_bulk_min'), '.0f')}, "
                f"divergences {_e(b.get('divergences'))}{_mcmc_mark(b)}" if b.get("r_hat_max") is not None else
                "no MCMC (quadrature)")
        items.append(f"Bayes ({_e(b.get('engine'))}, {_e(b.get('model'))} model, k = {_e(b.get('k'))}): "
                     f"tau mean {_n(b.get('tau_mean'), '.4f')}; prediction interval "
                     f"{_iv(b.get('pct_pi_low'), b.get('pct_pi_high'))} %; {diag}.")
        for w in (b.get("warnings") or []) + (b.get("notes") or []):
            items.append(f"Bayes note: {_e(w)}")
    else:
        items.append(f"Bayes: {_e(b.get('reason'))}")
    if f.get("estimable"):
        items.append(f"REML (k = {f.get('k')} of {f.get('k_total')} rows, missing_vi = {_e(f.get('missing_vi'))}): "
                     f"tau² {_n(f.get('tau2'), '.5f')}, I² {_n(f.get('I2'), '.1f')} %, Q {_n(f.get('Q'), '.2f')} "
                     f"(p {_n(f.get('Q_p'), '.3g')}); prediction interval "
                     f"{_iv(f.get('pct_pi_low'), f.get('pct_pi_high'))} %.")
        for w in (f.get("notes") or []) + (f.get("warnings") or []):
            items.append(f"REML note: {_e(w)}")
    else:
        items.append(f"REML: {_e(f.get('reason'))}")
    return "<ul>" + "".join(f"<li>{x}</li>" for x in items) + "</ul>"


def _check_items(sec: dict) -> list[str]:
    """The posterior checks (predictive check, PSIS-LOO with Pareto k, flagged rows) and the numbers of the exact
    random-effects diamond of the forest plot, as list items."""
    items = []
    ch = sec.get("posterior_checks") or {}
    ppc, loo = ch.get("ppc"), ch.get("loo")
    if ppc:
        pv = ppc["p_values"]
        items.append(f"Bayes posterior predictive check: {ppc['outside']} of {ppc['n']} rows outside their 95% "
                     f"predictive interval (expected {ppc['expected_outside']:.1f}); p-values of min "
                     f"{pv['min']:.2f}, max {pv['max']:.2f}, sd {pv['sd']:.2f}.")
    if loo:
        items.append(f"Bayes PSIS-LOO: elpd_loo {loo['elpd_loo']:.2f} (se {loo['se']:.2f}), p_loo {loo['p_loo']:.2f}; "
                     f"Pareto k: {loo['k_good']} good, {loo['k_ok']} ok, {loo['k_bad']} bad, "
                     f"{loo['k_very_bad']} very bad.")
    elif ch.get("reason"):
        items.append(f"Bayes checks: {_e(ch['reason'])}.")
    ex = sec.get("exact_random_effects")
    if ex and ex.get("estimable") is not False:
        items.append(f"Forest diamond {_e(plots.model_name(ex))} (k = {ex.get('k')}): {_n(ex.get('pct'), '+.2f')} % "
                     f"{_iv(ex.get('pct_ci_low'), ex.get('pct_ci_high'), '+.2f')}; not the primary estimate when rows "
                     "are nested in studies.")
    return items


def _primary_line(c: dict) -> str:
    """The first line of a property's section: its primary estimate and what the other columns assume."""
    p = c.get("primary")
    if not p:
        return ""
    where = {"bayes": "the Bayes column", "frequentist": "the REML column"}.get(p.get("column"), "in no column here")
    others = "".join(f"<li>{_e(t)}</li>" for t in (p.get("others") or {}).values())
    return (f"<p class='primary'><strong>Primary estimate: {_e(p['name'])}</strong> ({where}; {_e(p['reason'])})."
            "</p>" + (f"<ul class='note'>{others}</ul>" if others else ""))


_CAPTIONS = {
    "forest": "Evidence models by study (squares with 95% intervals where the sampling variance is known, open "
              "circles where it is not); diamonds: pooled effect per engine with its 95% interval (REML on the rows "
              "with a known variance; Bayes: the PyMC model; Bayesian random-effects (exact): by quadrature, "
              "rows of one study treated as independent), the thin line below each diamond its 95% prediction "
              "interval; right margin: each model's SSM label and belief.",
    "posterior": "Posterior density of the pooled relative improvement; shaded bands are SSM's 13 zones with their "
                 "posterior probabilities; the outlined band is the selected label.",
    "masses": "SSM's final mass function after Dempster's rule; dark: the selected label, light: focal elements "
              "inside it (they add up to its belief).",
    "funnel": "Contour-enhanced funnel plot of the rows with a known sampling variance: log ratio (+ = "
              "quantization helps) across, standard error down; grey regions: a row alone is significant at 10 %, "
              "5 %, 1 % (two-sided); solid line and dashed funnel: the REML estimate and its 95 % pseudo-confidence "
              "region; rows of one study share a colour. With a handful of rows asymmetry is hard to read.",
    "model_probabilities": "The bias-adjusted ensemble: prior (grey) and posterior (blue) probability of each "
                           "model (left) and of the effect, heterogeneity and bias components with their inclusion "
                           "Bayes factors (right).",
    "bits": "Relative improvement against the weight bit-width (log scale); filled points have a known variance and "
            "enter the REML meta-regression on log2(bits), drawn with its 95% confidence band.",
}


def _bias_table(rows: list[dict]) -> str:
    """The label-survival table of the summary (properties fitted with the bias-adjusted ensemble)."""
    rows = [r for r in rows if r.get("bias_adjustment") is not None]
    if not rows:
        return ""
    head = ("property", "plain RE label", "P", "bias-adjusted label", "P", "model-averaged %", "95% CrI",
            "BF effect", "BF heterogeneity", "BF bias", "label")
    out = ["<h2 id='bias-adjustment'>Bias adjustment</h2>",
           "<p>The Bayesian model-averaged ensemble (effect present/absent × heterogeneity present/absent × no bias, "
           "step-function selection on p-values, PET or PEESE; RoBMA-PSMA) on the rows with a sampling variance "
           "(REML's missing_vi policy). <em>plain RE</em>: its random-effects model without bias; the label "
           "<em>survives</em> when the model-averaged label is the same. BF: inclusion Bayes factors (posterior "
           "over prior odds).</p>",
           "<div class='scroll'><table id='bias'><thead><tr>" + "".join(f"<th>{h}</th>" for h in head)
           + "</tr></thead><tbody>"]
    for r in rows:
        b = r["bias_adjustment"]
        link = f"<a href='#{_e(r['property'])}'>{_e(r['property'])}</a>"
        if not b.get("estimable"):
            cells = [link, f"not estimable: {_e(b.get('reason'))}"] + [""] * (len(head) - 2)
        else:
            mark = _mcmc_mark({"ok": b.get("ok")})
            cls = "same" if b["survives"] else "conflicting"
            cells = [link, _e(b.get("plain_selected")), _n(b.get("plain_probability"), ".3f"),
                     _e(b.get("selected")) + mark, _n(b.get("probability"), ".3f"), _n(b.get("pct"), "+.2f") + mark,
                     _iv(b.get("pct_ci_low"), b.get("pct_ci_high")), _n(b.get("effect_bf"), ".3g"),
                     _n(b.get("heterogeneity_bf"), ".3g"), _n(b.get("bias_bf"), ".3g"),
                     f"<span class='{cls}'>{_e(b['verdict'])}</span>"]
        # the comparison table wraps its words to fit the page; numbers and intervals stay on one line
        out.append("<tr>" + "".join(f"<td class='nw'>{c}</td>" if k in _NUMERIC_COMPARISON else f"<td>{c}</td>"
                                    for k, c in enumerate(cells)) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _figure(p: str, name: str, figures: dict[str, dict[str, str]]) -> str:
    if name not in figures.get(p, {}):
        return ""
    return (f"<figure><img alt='{_e(p)} {name.replace('_', ' ')} plot' src='data:image/png;base64,"
            f"{figures[p][name]}'><figcaption>{_e(_CAPTIONS[name])}</figcaption></figure>")


def _bias_section(p: str, sec: dict, figures: dict[str, dict[str, str]]) -> str:
    """The bias-adjusted ensemble of one property: the verdict, its notes and the model-probability plot."""
    c = sec["comparison"]
    b = c.get("bias_adjustment")
    if b is None:
        return ""
    out = ["<h3>Bias adjustment (Bayesian model averaging)</h3>"]
    if not b.get("estimable"):
        return "".join(out) + f"<p class='note'>Not estimable: {_e(b.get('reason'))}.</p>"
    out.append(f"<p>Plain random-effects label {_e(b['plain_selected'])} (P {_n(b.get('plain_probability'), '.3f')});"
               f" bias-adjusted ({_e(b.get('n_models'))} models, k = {_e(b.get('k'))}) {_e(b['selected'])} "
               f"(P {_n(b.get('probability'), '.3f')}), model-averaged {_n(b.get('pct'), '+.2f')} % "
               f"{_iv(b.get('pct_ci_low'), b.get('pct_ci_high'))}: the label <strong>{_e(b['verdict'])}</strong> "
               f"bias adjustment. Inclusion BF: effect {_n(b.get('effect_bf'), '.3g')}, heterogeneity "
               f"{_n(b.get('heterogeneity_bf'), '.3g')}, bias {_n(b.get('bias_bf'), '.3g')}."
               f"{_mcmc_mark({'ok': b.get('ok')})}</p>")
    notes = (c.get("bma") or {}).get("notes") or []
    if notes:
        out.append("<ul>" + "".join(f"<li class='note'>{_e(n)}</li>" for n in notes) + "</ul>")
    out.append(_figure(p, "model_probabilities", figures))
    return "".join(out)


def render_html(doc: dict, figures: dict[str, dict[str, str]]) -> str:
    """The HTML page of a report document and its base64 PNG figures."""
    props = list(doc["properties"])
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             "<meta name='viewport' content='width=device-width, initial-scale=1'>",
             "<title>metaquant report: SSM, Bayesian and REML synthesis</title>",
             f"<style>{_CSS}</style></head><body>",
             "<h1>SSM, Bayesian and frequentist synthesis side by side</h1>",
             _settings_table(doc),
             "<p class='note'>Every number is in <code>report.json</code> beside this page; "
             "<code>report.csv</code> holds them as one tidy long table.</p>",
             "<nav>" + "".join(f"<a href='#{_e(p)}'>{_e(p)}</a>" for p in props) + "</nav>",
             "<h2 id='summary'>Comparison</h2>",
             "<p>Labels on SSM's 13-label scale. SSM: the label selected after Dempster's rule with its belief Bel. "
             "Bayes: the label read off the posterior's zone probabilities with the same 0.75 rule, with its "
             "posterior probability P. REML: the label of the point estimate, pooled from the rows with a known "
             "sampling variance only. <em>same</em>: identical labels; <em>adjacent</em>: the labels overlap or are "
             "neighbours; <em>conflicting</em>: further apart.</p>",
             _comparison_table(doc["comparison"]), _bias_table(doc["comparison"])]
    for p in props:
        sec = doc["properties"][p]
        c = sec["comparison"]
        parts.append(f"<h2 id='{_e(p)}'>{_e(p)}</h2>")
        parts.append(_primary_line(c))
        a = c["agreement"]
        parts.append(f"<p>Agreement: <span class='{_e(a['status'])}'>{_e(a['status'])}</span>"
                     + (f" — {_e(a['reason'])}" if a.get("reason") else "") + "</p>")
        parts += [_figure(p, name, figures) for name in ("forest", "posterior", "masses", "bits")]
        reg = sec.get("bits_regression")
        if reg:
            if reg.get("estimable"):
                parts.append(f"<p>REML meta-regression on log2(bits) (k = {reg['k']}): slope "
                             f"{reg['slope']:+.4f} per doubling of the bit-width, 95% CI "
                             f"{_iv(reg['slope_ci_low'], reg['slope_ci_high'], '+.4f')}, p = {reg['slope_p']:.3g}.</p>")
            else:
                parts.append(f"<p class='note'>No REML slope on bits: {_e(reg.get('reason'))}.</p>")
        parts.append("<h3>Small-study effects</h3>" + (_figure(p, "funnel", figures) or
                     f"<p class='note'>No funnel plot: {_e((sec.get('funnel') or {}).get('reason'))}.</p>"))
        parts.append(_bias_section(p, sec, figures))
        parts.append("<h3>Diagnostics</h3>" + _diagnostics(sec))
        sens = sec["sensitivity"]
        for key, title in (("loo", "Leave one study out"), ("thresholds", "SSM cut-points scaled ×0.5 … ×2"),
                           ("belief", "SSM belief splits")):
            r = sens[key]
            parts.append(f"<h3>{title}</h3>")
            ch = r.get("changes") or []
            parts.append(f"<p>{len(ch)} label change{'s' if len(ch) != 1 else ''}"
                         + (": " + "; ".join(_e(x) for x in ch) if ch else "") + ".</p>")
            parts.append(_sens_table(r))
    parts.append(f"<script>{_CHECK_JS}</script></body></html>")
    return "\n".join(parts)


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


#: The files a report folder holds (a folder of these alone, written before manifests, may be replaced).
REPORT_FILES = ("report.html", "report.json", "report.csv")


def write_report(out: str | Path, data: Any = "ssm2025", *, force: bool = False, **kw) -> Path:
    """Build the report and write ``report.html``, ``report.json`` and ``report.csv`` into ``out`` atomically.

    ``report.csv`` holds every number of ``report.json`` as one tidy long table (path, key, value).

    ``out`` is checked and claimed before any work (:func:`metaquant.outputs.replace_dir`:
    a run at the same time into the same folder is refused); the folder is
    assembled as a temporary sibling and renamed into place.  An existing
    ``out`` that is not empty is refused unless ``force`` (then it is
    replaced as a whole, after the new report is complete), and even then
    when it holds anything metaquant did not write there (its manifest,
    ``.metaquant-manifest.json``, lists what it wrote) or one of the input
    files of ``data``.

    Returns
    -------
    pathlib.Path
        ``out``.
    """

    def build(tmp: Path) -> None:
        page, doc = build_report(data, **kw)
        (tmp / "report.html").write_text(page, encoding="utf-8")
        (tmp / "report.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / "report.csv").write_text(format_table(tidy_long(doc), "csv"), encoding="utf-8")

    return replace_dir(out, build, force=force, inputs=data, known=REPORT_FILES)


__all__ = ["bayes_bits_band", "build_report", "compare_all", "property_section", "render_html", "write_report"]
