"""``metaquant predict``: the effect expected at a setting (bits, technique, model size, task), with its intervals."""

from __future__ import annotations

import json

import click

from .. import api
from ..spec import METHODS, VARIANCE_POLICIES
from .options import BITS_RANGE, PARAMS_RANGE, mcmc_options, number_option, parallel_options
from .show import num, pct

#: Shortcut flags and the data column each sets.
SHORTCUTS = {"bits": "bits", "act_bits": "act_bits", "kv_bits": "kv_bits", "technique": "technique",
             "params": "params", "task": "task", "hardware": "hardware", "granularity": "granularity",
             "model_family": "model_family", "task_family": "task_family", "hardware_class": "hardware_class",
             "runtime": "runtime"}


def _settings(at_pairs, shortcuts) -> dict:
    at = {SHORTCUTS[k]: v for k, v in shortcuts.items() if v is not None}
    for pair in at_pairs:
        col, sep, val = pair.partition("=")
        if not sep or not col.strip():
            raise click.UsageError(f"--at takes COLUMN=VALUE, got {pair!r}")
        at[col.strip()] = val.strip()
    if not at:
        raise click.UsageError("give the setting to predict at, e.g. --bits 4 --technique gptq")
    return at


@click.command("predict")
@click.option("--data", "data", multiple=True, default=None, help="Evidence file(s) or dataset name(s).")
@click.option("--property", "prop", required=True, help="Property, e.g. accuracy.")
@number_option("--bits", low=BITS_RANGE[0], high=BITS_RANGE[1], low_open=True, default=None,
               help="Weight bit-width.")
@number_option("--act-bits", low=BITS_RANGE[0], high=BITS_RANGE[1], low_open=True, default=None,
               help="Activation bit-width.")
@number_option("--kv-bits", low=BITS_RANGE[0], high=BITS_RANGE[1], low_open=True, default=None,
               help="KV-cache bit-width.")
@click.option("--technique", default=None, help="Quantization technique, e.g. gptq.")
@number_option("--params", low=PARAMS_RANGE[0], high=PARAMS_RANGE[1], low_open=True, default=None,
               help="Parameter count, e.g. 7e9 (enters as log10).")
@click.option("--task", default=None, help="Task.")
@click.option("--hardware", default=None, help="Hardware.")
@click.option("--granularity", default=None, help="Quantization granularity, e.g. per-channel.")
@click.option("--model-family", default=None, help="Model family, e.g. Llama-2.")
@click.option("--task-family", default=None, help="Task family.")
@click.option("--hardware-class", default=None, help="Hardware class (compute unit).")
@click.option("--runtime", default=None, help="Runtime, e.g. 'ONNX Runtime'.")
@click.option("--at", "at_pairs", multiple=True, help="Any other setting as COLUMN=VALUE (repeatable).")
@click.option("--moderator", "moderators", multiple=True,
              help="The regression's moderators (default: one per setting; bits as log2, params as log10).")
@click.option("--scale-moderator", "scale_moderators", multiple=True,
              help="REML/ML: a moderator of the between-study variance (repeatable; coded as --moderator). Default "
                   "with REML/ML: the moderators themselves (a location-scale model).")
@click.option("--homoscedastic", is_flag=True, help="REML/ML: one between-study variance for every row.")
@click.option("--method", type=click.Choice(METHODS, case_sensitive=False), default="bayes", show_default=True)
@click.option("--missing-vi", "variance_policy", type=click.Choice(VARIANCE_POLICIES), default=None)
@mcmc_options()
@parallel_options("Local worker processes for the calibration's per-source fits.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def predict(data, prop, bits, act_bits, kv_bits, technique, params, task, hardware, granularity, model_family,
            task_family, hardware_class, runtime, at_pairs, moderators, scale_moderators, homoscedastic, method,
            variance_policy, run, jobs, scheduler, fmt):
    """The expected effect at a setting, its confidence/credible and prediction intervals, and the SSM label.

    Rows that lack a numeric setting are left out (counted); a categorical one they do not say takes the level
    "unknown".  It names the rows it learned from and its own calibration: the leave-one-source-out coverage and
    median width of its 95 % prediction intervals on the pooled rows, and on the held-out rows at the setting asked
    (the number to read for that setting).  With REML/ML the between-study variance depends on the settings
    (a location-scale model) unless --homoscedastic.

    \b
    metaquant predict --data benchmarks --property perplexity --bits 4 --method reml --missing-vi drop
    metaquant predict --data benchmarks --property accuracy --bits 4 --technique gptq --params 7e9
    """
    at = _settings(at_pairs, {"bits": bits, "act_bits": act_bits, "kv_bits": kv_bits, "technique": technique,
                              "params": params, "task": task, "hardware": hardware, "granularity": granularity,
                              "model_family": model_family, "task_family": task_family,
                              "hardware_class": hardware_class, "runtime": runtime})
    spec, settings = api.split_options(prop, method=method.lower(), moderators=tuple(moderators),
                                       scale_moderators=tuple(scale_moderators), variance_policy=variance_policy,
                                       settings=run, jobs=jobs, scheduler=scheduler)
    table = api.effect_table(list(data) or "ssm2025", measure=spec.measure)
    # a shortcut names the schema's column, or the user column x_NAME where the data carry that instead
    at = {api.covariate_column(table, k): v for k, v in at.items()}
    d = api.predict(table, spec, at, settings, homoscedastic=homoscedastic).to_dict()
    if fmt == "json":
        click.echo(json.dumps(d, indent=2))
        return
    where = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in d["at"].items())
    model = f"{d['model']}, " if d.get("model") else ""
    click.echo(f"{d['property']} at {where} ({d['engine']}, {model}moderators {', '.join(d['moderators'])}, "
               f"k={d['k']})")
    click.echo("  learned from: " + ", ".join(f"{s} {n}" for s, n in d["learned_from"].items()))
    for note in d["notes"]:
        click.echo(f"  note: {note}")
    for caution in d["cautions"]:
        click.echo(f"  caution: {caution}")
    interval = "CI" if d["engine"] == "frequentist" else "CrI"
    click.echo(f"  expected effect: {pct(d['pct'])} % (log ratio {num(d['pred'])}), 95% {interval} "
               f"[{pct(d['pct_ci_low'])}, {pct(d['pct_ci_high'])}] %")
    click.echo(f"  a new study (prediction interval): [{pct(d['pct_pi_low'])}, {pct(d['pct_pi_high'])}] %")
    if d["label_probability"] is None:
        click.echo(f"  SSM label of the expected effect: {d['label']} ({d['label_code']})")
    else:
        click.echo(f"  SSM label of a new study's effect: {d['label']}"
                   + (f" ({d['label_code']})" if d["label_code"] else "")
                   + f", probability {num(d['label_probability'], 3)}")
    if d["calibration_line"]:
        click.echo(f"  {d['calibration_line']}")
    if d["calibration_at_line"]:
        click.echo(f"    {d['calibration_at_line']}")


__all__ = ["predict"]
