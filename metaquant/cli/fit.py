"""``metaquant fit``: pool one property (or all) with a Bayesian or classical engine.

The command parses its options into a :class:`~metaquant.spec.FitSpec` and
:class:`~metaquant.spec.RunSettings`, checks ``--out`` before any work, calls
:func:`metaquant.api.fit_all` and prints what the results hold.
"""

from __future__ import annotations

import contextlib
import json
import sys

import click

from .. import api
from ..bayes.priors import PRIOR_SCALE_RANGE
from ..errors import DiagnosticsError, InputError
from ..present.tables import FORMATS, format_table
from ..spec import METHODS, MODELS, VARIANCE_POLICIES
from .options import FACTOR_RANGE, ScalePriorParam, accepted, mcmc_options, number_option, parallel_options
from .show import print_checks, print_result, summary_frame


@click.command("fit")
@click.option("--data", "data", multiple=True, default=None,
              help="Evidence file(s) or shipped dataset name(s); default: ssm2025. Repeat to pool several.")
@click.option("--property", "prop", default=None, help="Property to pool, e.g. accuracy, storage_size.")
@click.option("--all", "all_", is_flag=True, help="Fit every property in the data; say why one cannot be pooled.")
@click.option("--method", type=click.Choice(METHODS, case_sensitive=False), default=None,
              help="Default: the primary estimate of the property (docs/results.md: the Bayesian model where "
                   "variances are unknown or studies few, REML otherwise; multilevel where rows are nested).")
@click.option("--test", type=click.Choice(["z", "knha", "t"]), default="z", show_default=True,
              help="Classical methods: z, Knapp-Hartung or t.")
@click.option("--moderator", "moderators", multiple=True,
              help="Moderator column (repeatable; bits enter as log2, COL:cat as categories) or a formula, "
                   "e.g. 'log2(bits)*technique'.")
@click.option("--scale-moderator", "scale_moderators", multiple=True,
              help="REML/ML: a moderator of the between-study variance (repeatable; coded as --moderator): a "
                   "location-scale model, log tau² linear in them (metafor's rma(scale = ~ ...)).")
@click.option("--wald", "wald", multiple=True,
              help="Classical methods: Wald test that the named moderator terms do not matter, e.g. "
                   "--wald technique or --wald 'bits, technique' (one joint test per option; metafor's anova(btt=)).")
@click.option("--robust", type=click.Choice(["cr1", "cr2"]), default=None,
              help="Classical methods: cluster-robust inference by study (cr2: clubSandwich's CR2 + Satterthwaite).")
@number_option("--rho", low=-1, high=1, low_open=True, high_open=True, default=None,
               help="Known sampling covariance: errors of one study's rows correlated at RHO (metafor's vcalc); "
                    "REML/ML multilevel and the PyMC model.")
@click.option("--shared-baseline", is_flag=True,
              help="Known sampling covariance: arms sharing a baseline (baseline_group) correlated through it.")
@click.option("--measure", type=click.Choice(["ROM", "SMD", "MD", "PLO", "PAS", "PR"], case_sensitive=False),
              default="ROM", show_default=True,
              help="Effect size for measurement rows; PLO, PAS, PR (logit, arcsine, raw proportion with a binomial "
                   "variance from n_eval) for accuracy, precision, recall.")
@click.option("--missing-vi", "variance_policy", type=click.Choice(VARIANCE_POLICIES), default=None,
              help="Rows without a sampling variance: refuse, drop, impute-max, impute-median, or model them with a "
              "residual scale (Bayesian engines only). Default: classical methods refuse, the Bayesian engines "
              "model them.")
@click.option("--include-confounded", is_flag=True, help="Keep rows flagged as confounded.")
@click.option("--model", type=click.Choice(MODELS), default="auto", show_default=True)
@number_option("--prior-mu-sd", low=PRIOR_SCALE_RANGE[0], high=PRIOR_SCALE_RANGE[1], default=None,
               help="mu ~ N(0, S) on the log-ratio scale.")
@click.option("--prior-tau", type=ScalePriorParam(), default=None,
              help=f"Prior of the between-study sd tau. {accepted(ScalePriorParam())}")
@mcmc_options()
@parallel_options("--method bma: local worker processes for the ensemble's member fits (the other methods fit "
                  "one model and do not use it).", "--method bma only: the ensemble's member fits are sent there.")
@click.option("--sampler", type=click.Choice(["pymc", "nutpie", "numpyro"]), default="pymc", show_default=True)
@number_option("--threshold-scale", low=FACTOR_RANGE[0], high=FACTOR_RANGE[1], default=None,
               help="Multiply SSM's cut-points by this factor.")
@number_option("--min-probability", low=0, high=1, low_open=True, default=0.75, show_default=True,
               help="Bayesian engines: state a label only when its zones hold this posterior probability.")
@click.option("--prior", "prior", is_flag=True, help="PyMC: also draw from the prior (InferenceData 'prior' group).")
@click.option("--out", "out", type=click.Path(), default=None,
              help="Folder for InferenceData (NetCDF) and a JSON summary per property, written atomically.")
@click.option("--force", is_flag=True, help="Replace what metaquant wrote in an existing --out folder (nothing else).")
@click.option("--strict", is_flag=True, help="Exit 3 when a diagnostic fails or cannot be computed.")
@click.option("--check", "check", is_flag=True,
              help="Bayesian fits: also a posterior predictive check and the PSIS-LOO summary (Pareto k).")
@click.option("--quiet", is_flag=True, help="No progress.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table for people; json, csv, markdown or latex to export.")
def fit(data, prop, all_, out, force, strict, check, quiet, fmt, include_confounded, **options):
    """Pool the effect of quantization on a property.

    With no flag but --property it fits the property's primary estimate on the
    shipped SSM-2025 data (the Bayesian hierarchical model there) and prints
    the pooled effect, its credible interval, the SSM label with its posterior
    probability and the diagnostics.
    """
    if not prop and not all_:
        raise click.UsageError("give --property P or --all")
    chosen = options["method"] is not None
    options["method"] = (options["method"] or "bayes").lower()  # the placeholder of the primary estimate's spec
    options["moderators"] = tuple(options["moderators"])
    options["scale_moderators"] = tuple(options["scale_moderators"])
    options["wald"] = tuple(options["wald"])
    bar = not quiet and sys.stderr.isatty() and fmt == "table"
    spec, run = api.split_options(prop or "accuracy", settings=options.pop("run"), progress=bar, **options)
    from ..outputs import output_dir
    from ..progress import Progress, collect_warnings

    source = list(data) or "ssm2025"
    claim = output_dir(out, force=force, inputs=list(data), known=_known_names()) if out else contextlib.nullcontext()
    with claim as outdir, \
            collect_warnings() as caught:
        table = api.effect_table(source, measure=spec.measure, include_confounded=include_confounded)
        method = {} if chosen else {"method": api.PRIMARY}  # no --method: each property's primary estimate
        if all_:
            with Progress(None, label="fit", quiet=quiet or fmt != "table") as bar:
                results = api.fit_all(table, spec=spec, settings=run, progress=lambda name, res: bar.done(name),
                                      **method)
        else:
            results = {spec.property: api.fit(table, spec=spec, settings=run, **method)}
        said = {p: api.primary_statement(spec.replace(property=p), table,
                                         chosen=spec.replace(property=p) if chosen else None) for p in results}
        dicts = {p: _with_primary(r.to_dict(), said[p], table, spec.replace(property=p), chosen)
                 for p, r in results.items()}
        checks = {p: api.posterior_checks(r) for p, r in results.items()} if check else {}
        for p, c in checks.items():
            dicts[p]["checks"] = c
        if outdir is not None:
            _write(outdir, results, dicts, force)
    _say_warnings(caught, quiet or fmt != "table")
    if fmt == "json":
        click.echo(json.dumps(list(dicts.values()) if all_ else next(iter(dicts.values())), indent=2))
    elif fmt != "table":
        frame = summary_frame(results.values()) if all_ else next(iter(results.values())).to_frame()
        click.echo(format_table(frame, fmt), nl=False)
    else:
        for p, r in results.items():
            for line in said[p]:
                click.echo(line)
            print_result(r)
            if p in checks:
                print_checks(checks[p])
        if out:
            click.echo(f"wrote {out}")
    if all_ and all(getattr(r, "reason", None) for r in results.values()):
        raise InputError("no property could be pooled (see the reasons above)")
    failed = [p for p, r in results.items() if not r.ok and not getattr(r, "reason", None)]
    if strict and failed:
        raise DiagnosticsError(f"diagnostics failed or could not be computed for {', '.join(failed)} "
                               "(see the warnings)")


def _with_primary(d: dict, said: list[str], table, spec, chosen: bool) -> dict:
    """A result's dict with the primary estimate named (``primary_estimate``: name, reason, is_primary)."""
    if d.get("estimable") is False:
        return d
    d["primary_estimate"] = {**api.primary_summary(spec, table, chosen), "statement": said[0]}
    return d


def _say_warnings(caught, quiet: bool) -> None:
    """Warnings raised during the fits, once each and in words (diagnostics are in the results already)."""
    if quiet:
        return
    for sentence in caught.sentences():
        if not sentence.lower().startswith("convergence warning"):
            click.echo(f"warning: {sentence}", err=True)


def _known_names() -> set[str]:
    """What ``fit --out`` writes for the shipped properties (recognised in a folder written before manifests)."""
    from ..evidence.schema import PROPERTIES

    return {f"{p}.{ext}" for p in PROPERTIES for ext in ("json", "nc")}


def _write(outdir, results, dicts, force) -> None:
    """Every result file assembled in a temporary folder that takes the place of ``outdir`` at once."""
    from ..outputs import publish

    def build(tmp):
        for p, r in results.items():
            idata = getattr(r, "idata", None)
            if idata is not None:
                idata.to_netcdf(str(tmp / f"{p}.nc"))
            (tmp / f"{p}.json").write_text(json.dumps(dicts[p], indent=2) + "\n", encoding="utf-8")

    publish(outdir, build)


__all__ = ["fit"]
