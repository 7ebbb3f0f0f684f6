"""``metaquant fit``: pool one property (or all) with a Bayesian or classical engine."""

from __future__ import annotations

import json
import sys

import click

from .. import api
from ..effects import MISSING_VI_POLICIES, for_property
from ..errors import DiagnosticsError, InputError
from ..scale import LABELS, label_name

DEFAULT_SEED = 20251123


def _f(v, fmt="{:.4f}"):
    return "NA" if v is None else fmt.format(v)


def _lev(v):
    return f"{v:g}" if isinstance(v, float) else str(v)


def _print_frequentist(d: dict) -> None:
    kind = "equal-effects" if d["method"].upper() in ("FE", "EE") else "random-effects"
    kind += " meta-regression" if len(d.get("coefficients") or []) > 1 else " model"
    click.echo(
        f"{d['property']}: {d['method'].upper()} {kind}, test={d['test']}, k={d['k']}"
        + (f" of {d['k_total']}" if d.get("k_total", d["k"]) != d["k"] else "")
    )
    for note in d.get("notes", []) + d.get("warnings", []):
        click.echo(f"  note: {note}")
    if len(d.get("coefficients") or []) > 1:
        click.echo(f"  {'coefficient':<24}{'estimate':>10}{'se':>10}{'ci_low':>10}{'ci_high':>10}")
        for c in d["coefficients"]:
            click.echo(
                f"  {c['name']:<24}{_f(c['estimate']):>10}{_f(c['se']):>10}{_f(c['ci_low']):>10}{_f(c['ci_high']):>10}"
            )
        if d.get("QM") is not None:
            qm = f"QM {_f(d['QM'], '{:.3f}')} (df {d.get('QM_df')}, p {_f(d.get('QM_p'), '{:.4g}')})"
            click.echo(f"  test of moderators {qm}")
        for p in d.get("predictions") or []:
            click.echo(
                f"  at {p['moderator']} = {_lev(p['level'])} (k={p['k']}): {_f(p['pct'], '{:+.2f}')} % "
                f"[{_f(p['pct_ci_low'], '{:+.2f}')}, {_f(p['pct_ci_high'], '{:+.2f}')}] %, label {p['label_code']}"
            )
    else:
        click.echo(
            f"  pooled log ratio {_f(d['estimate'])} (se {_f(d['se'])}), 95% CI [{_f(d['ci_low'])}, {_f(d['ci_high'])}]"
        )
        click.echo(
            f"  relative improvement {_f(d['pct'], '{:+.2f}')} %, CI [{_f(d['pct_ci_low'], '{:+.2f}')}, "
            f"{_f(d['pct_ci_high'], '{:+.2f}')}] %; prediction interval [{_f(d['pct_pi_low'], '{:+.2f}')}, "
            f"{_f(d['pct_pi_high'], '{:+.2f}')}] %"
        )
        click.echo(f"  SSM label of the point estimate: {d['label']} ({d['label_code']})")
    click.echo(
        f"  {'residual ' if len(d.get('coefficients') or []) > 1 else ''}tau² {_f(d['tau2'])}, "
        f"I² {_f(d['I2'], '{:.2f}')} %, H² {_f(d['H2'], '{:.2f}')}, "
        f"Q {_f(d['Q'], '{:.3f}')} (p {_f(d['Q_p'], '{:.4g}')})"
    )


def _print_bayes(d: dict) -> None:
    model = d.get("model")
    click.echo(
        f"{d.get('property', '')}: Bayesian {model} model ({d['method']}), k={d['k']}, studies={d.get('n_studies')}"
    )
    click.echo(
        f"  pooled log ratio mu {_f(d['mu_mean'])} (sd {_f(d['mu_sd'])}), 95% CrI [{_f(d['mu_ci_low'])}, "
        f"{_f(d['mu_ci_high'])}]"
    )
    click.echo(
        f"  relative improvement {_f(d['pct_mean'], '{:+.2f}')} %, 95% CrI [{_f(d['pct_ci_low'], '{:+.2f}')}, "
        f"{_f(d['pct_ci_high'], '{:+.2f}')}] %"
    )
    if d.get("pct_pi_low") is not None:
        click.echo(f"  new study (prediction) [{_f(d['pct_pi_low'], '{:+.2f}')}, {_f(d['pct_pi_high'], '{:+.2f}')}] %")
    taus = [k for k in ("tau", "tau_study", "tau_within", "sigma_resid") if d.get(f"{k}_mean") is not None]
    click.echo("  " + ", ".join(f"{k} {_f(d[f'{k}_mean'])} (sd {_f(d.get(f'{k}_sd'))})" for k in taus))
    if d.get("reference"):
        click.echo(f"  ({d['reference']})")
    for c in d.get("coefficients") or []:
        click.echo(f"  {c['name']:<24} {_f(c['mean'])} (sd {_f(c['sd'])}) [{_f(c['ci_low'])}, {_f(c['ci_high'])}]")
    for p in d.get("predictions") or []:
        click.echo(
            f"  at {p['moderator']} = {_lev(p['level'])} (k={p['k']}): {_f(p['pct'], '{:+.2f}')} % "
            f"[{_f(p['pct_ci_low'], '{:+.2f}')}, {_f(p['pct_ci_high'], '{:+.2f}')}] %, label {p['label_code']} "
            f"(p {_f(p['label_probability'], '{:.2f}')})"
        )
    click.echo(
        f"  SSM label{' at the reference' if d.get('reference') else ''}: {d['label']} ({d['label_code']}), "
        f"posterior probability {_f(d['label_probability'], '{:.3f}')}"
    )
    zp = d.get("zone_probabilities") or {}
    shown = [f"{z} {zp[z]:.3f}" for z in LABELS if zp.get(z, 0) >= 0.0005]
    click.echo("  zones: " + ", ".join(shown))
    if d.get("r_hat_max") is not None:
        click.echo(
            f"  diagnostics: R-hat max {_f(d['r_hat_max'], '{:.3f}')}, bulk ESS min "
            f"{_f(d['ess_bulk_min'], '{:.0f}')}, divergences {d['divergences']}, seed {d.get('seed')}"
        )
    for w in d.get("warnings") or []:
        click.echo(click.style(f"  WARNING: {w}", fg="red", bold=True), err=False)


@click.command("fit")
@click.option(
    "--data",
    "data",
    multiple=True,
    default=None,
    help="Evidence file(s) or shipped dataset name(s); default: ssm2025. Repeat to pool several.",
)
@click.option("--property", "prop", default=None, help="Property to pool, e.g. accuracy, storage_size.")
@click.option("--all", "all_", is_flag=True, help="Fit every property in the data.")
@click.option("--method", type=click.Choice(api.METHODS, case_sensitive=False), default="bayes", show_default=True)
@click.option(
    "--test",
    type=click.Choice(["z", "knha"]),
    default="z",
    show_default=True,
    help="Classical methods: z or Knapp-Hartung.",
)
@click.option("--moderator", "moderators", multiple=True, help="Moderator column (repeatable); bits enter as log2.")
@click.option(
    "--measure",
    type=click.Choice(["ROM", "SMD", "MD"], case_sensitive=False),
    default="ROM",
    show_default=True,
    help="Effect size for measurement rows.",
)
@click.option(
    "--missing-vi",
    type=click.Choice(MISSING_VI_POLICIES + ("model",)),
    default=None,
    help="Rows without a sampling variance: classical methods refuse by default (or drop, impute-max, "
    "impute-median); the exact and Bayesian engines model them with a residual scale ('model').",
)
@click.option("--include-confounded", is_flag=True, help="Keep rows flagged as confounded.")
@click.option("--model", type=click.Choice(["auto", "random-effects", "multilevel"]), default="auto", show_default=True)
@click.option("--prior-mu-sd", type=float, default=None, help="mu ~ N(0, S) on the log-ratio scale.")
@click.option("--prior-tau", default=None, help="halfnormal:S or halfcauchy:S.")
@click.option("--draws", type=int, default=1000, show_default=True)
@click.option("--tune", type=int, default=1000, show_default=True)
@click.option("--chains", type=int, default=4, show_default=True)
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True)
@click.option("--sampler", type=click.Choice(["pymc", "nutpie", "numpyro"]), default="pymc", show_default=True)
@click.option("--threshold-scale", type=float, default=None, help="Multiply SSM's cut-points by this factor.")
@click.option(
    "--out",
    "out",
    type=click.Path(),
    default=None,
    help="Folder for InferenceData (NetCDF) and a JSON summary, written atomically.",
)
@click.option("--force", is_flag=True, help="Allow --out into an existing non-empty folder.")
@click.option("--strict", is_flag=True, help="Exit 3 when MCMC diagnostics fail.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def fit(
    data,
    prop,
    all_,
    method,
    test,
    moderators,
    measure,
    missing_vi,
    include_confounded,
    model,
    prior_mu_sd,
    prior_tau,
    draws,
    tune,
    chains,
    seed,
    sampler,
    threshold_scale,
    out,
    force,
    strict,
    quiet,
    fmt,
):
    """Pool the effect of quantization on a property.

    With no flag but --property it runs the Bayesian hierarchical model on the
    shipped SSM-2025 data and prints the pooled effect, its credible interval,
    the SSM label with its posterior probability and the MCMC diagnostics.
    """
    method = method.lower()
    if not prop and not all_:
        raise click.UsageError("give --property P or --all")
    table = api.effect_table(list(data) or "ssm2025", measure=measure, include_confounded=include_confounded)
    props = sorted(table["property"].unique()) if all_ else [prop]
    tables = {p: for_property(table, p) for p in props}
    outdir = None
    if out:
        from ..outputs import new_output_dir

        outdir = new_output_dir(out, force=force)

    def thresholds_for(p):
        if threshold_scale is None:
            return None
        from ..scale import scale_thresholds
        from ..schema import get_property

        return scale_thresholds(get_property(p).thresholds, threshold_scale)

    results, objects = [], {}
    if method in api.FREQUENTIST_METHODS:
        for p, t in tables.items():
            results.append(
                api.fit_frequentist(
                    t,
                    method=method,
                    test=test,
                    moderators=moderators,
                    missing_vi=missing_vi,
                    thresholds=thresholds_for(p),
                )
            )
    else:
        from ..bayes import Priors

        try:
            priors = Priors.from_options(prior_mu_sd=prior_mu_sd, prior_tau=prior_tau)
        except ValueError as exc:
            raise InputError(str(exc)) from None
        progress = not quiet and sys.stderr.isatty() and fmt == "table"
        for p, t in tables.items():
            if method == "bayes" and len(tables) > 1 and not quiet:
                click.echo(f"sampling {p} ...", err=True)
            res = api.fit_bayes(
                t,
                method=method,
                moderators=moderators,
                thresholds=thresholds_for(p),
                priors=priors,
                **(
                    {"missing_vi": missing_vi}
                    if method == "exact"
                    else dict(
                        model=model,
                        draws=draws,
                        tune=tune,
                        chains=chains,
                        seed=seed,
                        sampler=sampler,
                        progressbar=progress,
                    )
                ),
            )
            d = res.to_dict()
            d["property"] = p
            if getattr(res, "predictions", None):
                d["predictions"] = res.predictions
            results.append(d)
            objects[p] = res
    results = [api.clean(r) for r in results]
    if outdir is not None:
        from ..outputs import atomic_write_text

        for p, r in zip(props, results, strict=True):
            if p in objects and getattr(objects[p], "idata", None) is not None:
                objects[p].idata.to_netcdf(str(outdir / f".{p}.nc.tmp"))
                (outdir / f".{p}.nc.tmp").replace(outdir / f"{p}.nc")
            atomic_write_text(outdir / f"{p}.json", json.dumps(r, indent=2) + "\n", overwrite=force)
    if fmt == "json":
        click.echo(json.dumps(results if all_ else results[0], indent=2))
    else:
        for r in results:
            (_print_frequentist if method in api.FREQUENTIST_METHODS else _print_bayes)(r)
        if outdir is not None:
            click.echo(f"wrote {outdir}")
    failed = [
        r["property"]
        for r in results
        if r.get("warnings")
        and r.get("r_hat_max") is not None
        and any("R-hat" in w or "ESS" in w or "diverg" in w for w in r["warnings"])
    ]
    if strict and failed:
        raise DiagnosticsError(f"MCMC diagnostics failed for {', '.join(failed)} (see warnings)")


__all__ = ["fit", "label_name"]
