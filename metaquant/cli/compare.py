"""``metaquant compare``, ``sensitivity``, ``plot`` and ``report``: the methodologist's workbench.

Thin click commands over :mod:`metaquant.workbench.compare`, :mod:`metaquant.workbench.sensitivity`,
:mod:`metaquant.present.plots` and :mod:`metaquant.present.report`.
"""

from __future__ import annotations

import json
import sys

import click

from .. import api
from ..bayes.priors import PRIOR_SCALE_RANGE
from ..errors import DiagnosticsError, InputError
from ..evidence.effects import for_property
from ..present.tables import FORMATS, format_table
from ..spec import METHODS, FitSpec
from .options import (
    FACTOR_RANGE,
    Number,
    NumberList,
    ScalePriorParam,
    accepted,
    mcmc_options,
    number_option,
    parallel_options,
)

#: REML's policies for rows without a sampling variance ('model' is for the Bayesian engines).
REML_POLICIES = ("drop", "refuse", "impute-max", "impute-median")


def _data_option(f):
    return click.option("--data", "data", multiple=True, default=None,
                        help="Evidence file(s) or shipped dataset name(s); default: ssm2025. Repeat to pool.")(f)


def _bias_option(f):
    return click.option("--bias", is_flag=True,
                        help="Also fit the bias-adjusted Bayesian model-averaged ensemble (fit --method bma, with "
                             "--draws/--tune/--seed, at most 2 chains) and say whether the label survives bias "
                             "adjustment; slow: about a minute per property.")(f)


def _missing_vi_option(f):
    return click.option("--missing-vi", type=click.Choice(REML_POLICIES), default="drop", show_default=True,
                        help="REML: what to do with rows without a sampling variance (the Bayesian engines "
                             "model them).")(f)


def _table(data):
    return api.effect_table(list(data) if data else "ssm2025")


def _rules(data) -> str:
    """The SSM rule set of the data (the 2026 rules for ssm2026, the first version's otherwise)."""
    from ..ssm import rules_for

    return rules_for(list(data) if data else "ssm2025")


def _progress(fmt: str, quiet: bool) -> bool:
    return not quiet and fmt == "table" and sys.stderr.isatty()


# --------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------


@click.command("compare")
@_data_option
@click.option("--property", "prop", default=None, help="One property (default: every property in the data).")
@click.option("--all", "all_", is_flag=True, help="Every property in the data (the default).")
@click.option("--method-bayes", type=click.Choice(["bayes", "exact"]), default="bayes", show_default=True,
              help="Bayesian engine: the PyMC model or the exact quadrature engine.")
@click.option("--fast", is_flag=True, help="Use the exact engine wherever it fits the same model as PyMC.")
@_missing_vi_option
@mcmc_options()
@_bias_option
@number_option("--rho", low=-1, high=1, low_open=True, high_open=True, default=None,
               help="Known sampling covariance for REML and PyMC: errors of one study's rows correlated at RHO.")
@click.option("--shared-baseline", is_flag=True,
              help="Known sampling covariance for REML and PyMC: arms sharing a baseline correlated through it.")
@parallel_options("Local worker processes for the per-property fits (SSM, Bayesian, REML and --bias's ensemble).")
@click.option("--strict", is_flag=True, help="Exit 3 when MCMC diagnostics fail or cannot be computed.")
@click.option("--quiet", is_flag=True, help="No progress messages.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table for people; json, csv, markdown or latex to export.")
def compare(data, prop, all_, method_bayes, fast, missing_vi, run, bias, rho, shared_baseline,
            jobs, scheduler, strict, quiet, fmt):
    """SSM, Bayesian and REML pooling side by side, with their agreement.

    \b
    metaquant compare                                   every property of the shipped data
    metaquant compare --property accuracy --format json
    metaquant compare --fast                            exact engine where it applies
    metaquant compare --property gpu_power_draw --bias  does the label survive bias adjustment?
    metaquant compare --all --jobs 2                    the fits over 2 local processes
    metaquant compare --all --scheduler tcp://host:8786 ... or on a Dask cluster
    """
    from ..workbench import compare as cmp

    if prop and all_:
        raise click.UsageError("give --property P or --all, not both")
    from ..progress import Progress, collect_warnings

    table = _table(data)
    n = 1 if prop else table["property"].nunique()
    with Progress(n, label="compare", quiet=quiet or fmt != "table") as bar, collect_warnings():
        spec = FitSpec(prop or "accuracy", method=method_bayes, rho=rho, shared_baseline=shared_baseline)
        comp = api.compare(table, prop, spec=spec, rules=_rules(data),
                           settings=run, fast=fast,
                           reml_policy=missing_vi, progress=bar.done, bias=bias, jobs=jobs, scheduler=scheduler)
    if fmt == "json":
        click.echo(json.dumps(comp.to_dict(), indent=2))
    elif fmt != "table":
        click.echo(format_table(comp.summary(), fmt), nl=False)
    else:
        click.echo(cmp.format_comparison(comp))
    _strict(strict, [r.property for r in comp if r.bayes.get("ok") is False and r.bayes.get("estimable")]
            + [f"{r.property} (bias-adjusted ensemble)" for r in comp if (r.bias or {}).get("ok") is False])


def _strict(strict: bool, failed: list[str]) -> None:
    if strict and failed:
        raise DiagnosticsError(f"MCMC diagnostics failed or could not be computed for {', '.join(failed)}")


# --------------------------------------------------------------------------
# sensitivity
# --------------------------------------------------------------------------


_FACTORS = NumberList(Number(*FACTOR_RANGE))
_MU_SDS = NumberList(Number(*PRIOR_SCALE_RANGE))


@click.command("sensitivity")
@_data_option
@click.option("--property", "prop", required=True, help="Property to analyse.")
@click.option("--by", "by", type=click.Choice(["bits", "technique", "study", "hardware"]), default=None,
              help="Pool per level of this moderator (all three engines) and regress on it.")
@click.option("--loo", is_flag=True, help="Leave one study out (all three engines).")
@click.option("--priors", "priors_", is_flag=True, help="A grid of priors on mu and tau (Bayesian).")
@click.option("--thresholds", "thresholds_", is_flag=True, help="SSM's cut-points scaled x0.5 ... x2.")
@click.option("--belief", is_flag=True, help="SSM under the belief splits none / equitable / mass-preserving.")
@click.option("--factors", type=_FACTORS, default=None,
              help=f"Threshold factors, e.g. '0.5,0.75,1,1.25,1.5,2'. {accepted(_FACTORS)}")
@click.option("--mu-sd", type=_MU_SDS, default=None,
              help=f"Prior sds of mu for --priors, e.g. '0.25,1,4'. {accepted(_MU_SDS)}")
@click.option("--prior-tau", "prior_taus", type=ScalePriorParam(), multiple=True,
              help=f"Priors on tau for --priors (repeatable). {accepted(ScalePriorParam())}")
@click.option("--bayes-engine", type=click.Choice(["auto", "pymc", "exact"]), default="auto", show_default=True,
              help="auto: the exact engine where the rows allow it, PyMC otherwise.")
@_missing_vi_option
@mcmc_options()
@parallel_options("Local worker processes for the fits.")
@click.option("--strict", is_flag=True, help="Exit 3 when MCMC diagnostics fail or cannot be computed.")
@click.option("--quiet", is_flag=True, help="No progress.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table for people; json, csv, markdown or latex to export.")
def sensitivity(data, prop, by, loo, priors_, thresholds_, belief, factors, mu_sd, prior_taus, bayes_engine,
                missing_vi, run, jobs, scheduler, strict, quiet, fmt):
    """How conclusions move: subgroups, leave-one-out, priors, thresholds, belief splits.

    \b
    metaquant sensitivity --property accuracy --by bits
    metaquant sensitivity --property accuracy --loo --jobs 2
    metaquant sensitivity --property gpu_power_draw --priors --format json
    metaquant sensitivity --property inference_latency --thresholds
    metaquant sensitivity --property accuracy --belief
    """
    from ..workbench import sensitivity as sens

    chosen = [n for n, v in (("--by", by), ("--loo", loo), ("--priors", priors_), ("--thresholds", thresholds_),
                             ("--belief", belief)) if v]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --by, --loo, --priors, --thresholds, --belief"
                               + (f" (got {' '.join(chosen)})" if chosen else ""))
    from ..progress import Progress

    table = _table(data)
    bar = Progress(None, label="sensitivity", quiet=quiet or fmt != "table")
    mcmc = dict(settings=run, bayes_engine=bayes_engine,
                missing_vi=missing_vi, jobs=jobs, scheduler=scheduler, rules=_rules(data), progress=bar)
    if by:
        res = sens.by_moderator(table, prop, by, **mcmc)
    elif loo:
        res = sens.leave_one_out(table, prop, **mcmc)
    elif priors_:
        kw = {}
        if mu_sd:
            kw["mu_sds"] = mu_sd
        if prior_taus:
            kw["tau_priors"] = list(prior_taus)
        mcmc.pop("rules")  # the prior grid is Bayesian only
        res = sens.prior_grid(table, prop, **kw, **mcmc)
    elif thresholds_:
        kw = {"factors": factors} if factors else {}
        res = sens.threshold_scaling(table, prop, **kw, **mcmc)
    else:
        res = sens.belief_policies(table, prop, jobs=jobs, scheduler=scheduler, rules=_rules(data), progress=bar)
    bar.close()
    if fmt == "json":
        click.echo(json.dumps(res.to_dict(), indent=2))
    elif fmt != "table":
        click.echo(format_table(res.summary(), fmt), nl=False)
    else:
        click.echo(sens.format_sensitivity(res))
    _strict(strict, sorted({r["scenario"] for r in res.rows if r.get("mcmc_ok") is False}))


# --------------------------------------------------------------------------
# plot
# --------------------------------------------------------------------------


def _out_options(f):
    f = click.option("--force", is_flag=True, help="Overwrite an existing file.")(f)
    f = click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
                     help="Output file, .png or .svg.")(f)
    f = click.option("--property", "prop", required=True, help="Property to plot.")(f)
    return _data_option(f)


def _check_out(out: str, force: bool, data=()) -> None:
    """Refuse a bad extension, an existing file or an unwritable place before any fitting."""
    from pathlib import Path

    from ..outputs import check_writable_target
    from ..present.plots import FORMATS

    p = Path(out)
    if p.suffix.lower().lstrip(".") not in FORMATS:
        raise InputError(f"cannot write a figure as {p.suffix or 'a file without extension'!r}", path=out,
                         expected=".png or .svg")
    check_writable_target(p, force=force, inputs=list(data))


@click.group("plot")
def plot():
    """Figures: forest, funnel and caterpillar plots, posterior with SSM zones, SSM masses, effect against bits
    (PNG or SVG)."""


@plot.command("forest")
@_out_options
@click.option("--method", "methods", multiple=True, type=click.Choice(("primary", "all") + METHODS,
                                                                      case_sensitive=False),
              help="The pooled estimate(s) to draw (repeatable): 'primary' (the default: the property's primary "
                   "estimate, docs/results.md), a method (bayes, exact, reml, ...) or 'all' (primary, REML and "
                   "the exact random-effects model).")
@click.option("--fast", is_flag=True, help="The exact engine where it fits the same model as the PyMC one.")
@_missing_vi_option
@mcmc_options()
def plot_forest(data, prop, out, force, methods, fast, missing_vi, run):
    """Evidence rows by study with a weights column, the pooled diamond(s) with prediction intervals and the
    heterogeneity line; each diamond's numbers are printed."""
    from ..present import plots

    _check_out(out, force, data)
    t = for_property(_table(data), prop)
    name = str(t["property"].iloc[0])
    run = run
    drawn = _forest_estimates(t, name, methods or ("primary",), fast, missing_vi, run)
    if not drawn:
        raise InputError(f"{name}: none of the estimates asked for can be pooled",
                         expected="another --method, or --missing-vi impute-max for REML")
    weights = plots.pooled_weights(t, drawn[0][1])
    pooled = []
    for label, d in drawn:
        sm = plots.pooled_summary(d, label, higher_is_better=bool(d.get("higher_is_better", True)))
        pooled.append(sm)
        click.echo(f"{label}: {d.get('pct', d.get('pct_median')):+.2f} % [{d['pct_ci_low']:+.2f}, "
                   f"{d['pct_ci_high']:+.2f}]" + (f"; {sm['het']}" if sm.get("het") else ""))
    click.echo(f"weights: {drawn[0][0]}")
    fig = plots.forest_plot(t, pooled=pooled, weights=weights)
    click.echo(f"wrote {plots.save_figure(fig, out, force=force)}")


def _forest_estimates(t, name: str, methods, fast: bool, missing_vi: str, run) -> list[tuple[str, dict]]:
    """The pooled estimates ``plot forest --method`` draws: (label naming the model, the fit's dict), the primary
    one marked; estimates that cannot be pooled are said on stderr and left out."""
    from .. import fitting
    from ..present.plots import model_name
    from ..workbench.primary import is_primary, primary_spec

    prim = primary_spec(t, name)[0]
    wanted = []
    for m in methods:
        m = m.lower()
        if m == "all":
            wanted += [prim, FitSpec(name, method="reml", variance_policy=missing_vi), FitSpec(name, method="exact")]
        elif m == "primary":
            wanted.append(prim)
        else:
            spec = FitSpec(name, method=m)
            wanted.append(spec.replace(variance_policy=missing_vi) if spec.engine == "frequentist" else spec)
    out, seen = [], set()
    for spec in wanted:
        if fast:
            spec = fitting.fast_spec(t, spec)[0]
        if spec in seen:
            continue
        seen.add(spec)
        res = fitting.fit_or_reason(t, spec, run)
        d = res.to_dict()
        if d.get("estimable") is False or not getattr(res, "ok", True) and res.engine == "frequentist":
            click.echo(f"not drawn: {model_name(d)}: {d.get('reason', 'the fit failed')}", err=True)
            continue
        label = f"{model_name(d)}, k = {d.get('k')}" + (" (primary)" if is_primary(spec, t) else "")
        out.append((label, d))
    return out


@plot.command("funnel")
@_out_options
@click.option("--trimfill", is_flag=True, help="Draw trim and fill's filled studies (open red circles).")
@click.option("--method", type=click.Choice(["reml", "ml", "dl", "pm", "fe"], case_sensitive=False), default="reml",
              show_default=True, help="Estimator of the centre (multilevel with REML or ML where rows are nested).")
def plot_funnel(data, prop, out, force, trimfill, method):
    """Contour-enhanced funnel around the centre of the property's fit, ticks in % change (log-ratio axis).

    Rows with a known sampling variance are drawn; the centre is the multilevel estimate where rows are nested in
    studies (the model of ``metaquant fit``), else the random-effects one.
    """
    from ..present import bias_plots, plots

    _check_out(out, force, data)
    t = for_property(_table(data), prop)
    fig = bias_plots.bias_funnel(t, method=method.upper(), trimfill=trimfill)
    click.echo(f"wrote {plots.save_figure(fig, out, force=force)}")


@plot.command("posterior")
@_out_options
@click.option("--method-bayes", type=click.Choice(["bayes", "exact"]), default="bayes", show_default=True)
@click.option("--fast", is_flag=True, help="The exact engine where it fits the same model as PyMC.")
@_missing_vi_option
@mcmc_options()
def plot_posterior(data, prop, out, force, method_bayes, fast, missing_vi, run):
    """Posterior density of the pooled effect (in %) over SSM's 13 zones with their probabilities."""
    from ..present import plots
    from ..workbench import compare as cmp

    _check_out(out, force, data)
    t = for_property(_table(data), prop)
    d, res = cmp.fit_bayesian(t, FitSpec(str(t["property"].iloc[0]), method=method_bayes),
                              run, fast=fast)
    if res is None:
        raise InputError(f"{prop}: {d.get('reason')}")
    fig = plots.posterior_plot(res, str(t["property"].iloc[0]), zone_probabilities=d.get("zone_probabilities"),
                               label_code=d.get("label_code"))
    click.echo(f"wrote {plots.save_figure(fig, out, force=force)}")


@plot.command("masses")
@_out_options
@click.option("--belief-split", type=click.Choice(["none", "equitable", "mass-preserving"]), default="none",
              show_default=True)
def plot_masses(data, prop, out, force, belief_split):
    """SSM's final mass function as bars, the selected label highlighted."""
    from ..present import plots
    from ..workbench import compare as cmp

    _check_out(out, force, data)
    t = for_property(_table(data), prop)
    d, res = cmp.ssm_entry(t, belief_split=belief_split)
    if res is None:
        raise InputError(f"{prop}: {d.get('reason')}")
    click.echo(f"wrote {plots.save_figure(plots.masses_plot(res), out, force=force)}")


@plot.command("caterpillar")
@_out_options
@_missing_vi_option
def plot_caterpillar(data, prop, out, force, missing_vi):
    """Each row's BLUP (REML) with its prediction interval, sorted, on the % scale, with the pooled estimate.

    The REML fit of ``metaquant fit --method reml``: comparisons nested in studies where a study gives several rows
    (one point per comparison), else the random-effects model (one point per study).
    """
    from ..present import influence_plots, plots
    from ..workbench import compare as cmp

    _check_out(out, force, data)
    t = for_property(_table(data), prop)
    name = str(t["property"].iloc[0])
    d, res = cmp.classical_entry(t, FitSpec(name, method="reml", variance_policy=missing_vi))
    if d.get("estimable") is False or res is None or getattr(res, "rma", None) is None:
        raise InputError(f"{name}: {d.get('reason') or 'no REML fit'}")
    rows = res.rows
    one = res.n_studies == 1
    labels = (rows["study"].astype(str).tolist() if rows["study"].is_unique else
              [plots.row_label(c, s) if one else f"{s}: {plots.row_label(c, s)}"
               for s, c in zip(rows["study"], rows["comparison"], strict=True)])
    study = f"study {rows['study'].iloc[0]}" if one else f"{res.n_studies} studies"
    fig, _ = influence_plots.caterpillar_plot(
        res.rma, higher_is_better=res.higher_is_better, labels=labels,
        title=f"{name}: REML BLUPs ({res.model}, k = {res.rma.k} rows, {study})")
    click.echo(f"wrote {plots.save_figure(fig, out, force=force)}")


@plot.command("bits")
@_out_options
@_missing_vi_option
@click.option("--bayes", "with_bayes", is_flag=True, help="Add the Bayesian meta-regression band (PyMC).")
@mcmc_options()
def plot_bits(data, prop, out, force, missing_vi, with_bayes, run):
    """The effect against the weight bit-width with the REML (and Bayesian) regression on log2(bits)."""
    from ..present import plots, report
    from ..workbench.predict import bits_regression

    _check_out(out, force, data)
    t = for_property(_table(data), prop)
    name = str(t["property"].iloc[0])
    reml = bits_regression(t, FitSpec(name, method="reml", variance_policy=missing_vi))
    band = report.bayes_bits_band(t, run) \
        if with_bayes else None
    fig = plots.bits_plot(t, predictions=reml if reml.get("estimable") else None, regression=reml,
                          missing_vi=missing_vi, bayes_band=band)
    click.echo(f"wrote {plots.save_figure(fig, out, force=force)}")


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------


@click.command("report")
@_data_option
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--force", is_flag=True, help="Replace an earlier report in --out (never files metaquant did not write).")
@click.option("--fast", is_flag=True, help="Exact engine where it applies and the sweep settings (RunSettings.sweep: "
                                           "1000 draws, 500 tuning steps, 2 chains) elsewhere.")
@click.option("--property", "props", multiple=True, help="Only these properties (repeatable; default all).")
@_missing_vi_option
@mcmc_options()
@parallel_options("Local worker processes for the comparison and sensitivity fits.")
@_bias_option
@click.option("--strict", is_flag=True, help="Exit 3 when MCMC diagnostics fail or cannot be computed.")
@click.option("--quiet", is_flag=True, help="No progress messages.")
def report(data, out, force, fast, props, missing_vi, run, jobs, scheduler, bias, strict,
           quiet):
    """One self-contained HTML page plus report.json: comparison, plots, funnel, diagnostics, sensitivity.

    \b
    metaquant report --out report/
    metaquant report --out report/ --fast --bias      with the bias-adjusted ensemble and label survival
    """
    from ..present import report as rep

    log = None if quiet else (lambda msg: click.echo(msg, err=True))
    path = rep.write_report(out, list(data) if data else "ssm2025", force=force, fast=fast,
                            properties=list(props) or None, missing_vi=missing_vi,
                            settings=run, jobs=jobs,
                            scheduler=scheduler, log=log, bias=bias)
    click.echo(f"wrote {path / 'report.html'}, {path / 'report.json'} and {path / 'report.csv'}")
    doc = json.loads((path / "report.json").read_text(encoding="utf-8"))
    _strict(strict, [c["property"] for c in doc.get("comparison", [])
                     if c["bayes"].get("ok") is False and c["bayes"].get("estimable")]
            + [f"{c['property']} (bias-adjusted ensemble)" for c in doc.get("comparison", [])
               if (c.get("bias_adjustment") or {}).get("ok") is False])


__all__ = ["compare", "plot", "report", "sensitivity"]
