"""``metaquant ssm``: the Structured Synthesis Method, with the ESEM 2025 paper's or the extension's rules."""

from __future__ import annotations

import json
import sys

import click
import pandas as pd

from ..errors import InputError, MetaquantError
from ..evidence import io
from ..evidence.schema import UnknownPropertyError, get_property
from ..outputs import json_safe
from ..present.tables import FORMATS, format_table
from ..ssm import EXTRA_KEYS, RULES, evidence_models, read_study_beliefs, rules_for, summary_frame, synthesize

_JSON_KEYS = ("property", "label", "label_code", "belief", "plausibility", "uncertainty", "conflict_last",
              "conflict_max", "n_models")
_MODEL_KEYS = ("study", "comparison", "property", "order", "n_units", "pct", "iqr", "discount", "study_belief",
               "belief", "label_code", "label")
#: Extra evidence-model columns shown under rules other than ssm2025.
_MODEL_KEYS_2026 = ("sd", "alpha_n", "alpha_v", "discount_factor", "p_value", "intensity")


def _table(df: pd.DataFrame, floats: dict[str, str]) -> str:
    def fmt_with(spec: str):
        return lambda x: format(x, spec)

    fmt = {c: fmt_with(spec) for c, spec in floats.items() if c in df.columns}
    with pd.option_context("display.width", 250, "display.max_rows", 1000, "display.max_colwidth", 40):
        return df.to_string(index=False, formatters=fmt, na_rep="-")


@click.command("ssm")
@click.option("--data", "data", multiple=True, default=("ssm2025",), show_default=True,
              help="Shipped dataset name or CSV/Parquet file; repeat to combine files.")
@click.option("--property", "prop", default=None, help="One property (default: every property in the data).")
@click.option("--policy", type=click.Choice(["ef", "santos"]), default="ef", show_default=True,
              help="Label selection: Evidence Factory-compatible or Santos (2015) rule, both at 0.75.")
@click.option("--belief-split", type=click.Choice(["none", "equitable", "mass-preserving"]), default="none",
              show_default=True, help="Share of a study's belief among its N evidence models of one property.")
@click.option("--rules", type=click.Choice(list(RULES)), default=None,
              help="SSM rule set: ssm2025 (the ESEM paper) or ssm2026 (the 21-study extension). "
                   "Default: the shipped dataset's own (ssm2026 for --data ssm2026), else ssm2025.")
@click.option("--discount", type=click.Choice(["v1", "v2"]), default=None,
              help="v1: IQR discount of the paper; v2: sample-size x variability discount of the extension. "
                   "Default: the rules' (v1 for ssm2025, v2 for ssm2026).")
@click.option("--study-belief", "study_belief_file", type=click.Path(dir_okay=False), default=None,
              help="CSV with columns study,study_belief (overrides the data's study_belief column).")
@click.option("--models", "show_models", is_flag=True,
              help="List the evidence models with intensity and belief instead of aggregating.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table for people; json, csv, markdown or latex to export.")
def ssm(data, prop, policy, rules, belief_split, discount, study_belief_file, show_models, fmt):
    """Structured Synthesis Method: intensity, belief, Dempster's rule, 0.75 label selection.

    \b
    metaquant ssm                                   every property of the shipped SSM-2025 data
    metaquant ssm --property gpu_power_draw --format json
    metaquant ssm --models --property accuracy      the evidence models behind one property
    metaquant ssm --data ssm2026                    the 21-study extension, with its own rules
    metaquant ssm --data runs.csv --study-belief beliefs.csv
    """
    try:
        ev = io.load(list(data))
        rules = rules or rules_for(list(data))
        discount = discount or RULES[rules].discount
        beliefs = read_study_beliefs(study_belief_file) if study_belief_file else None
        if show_models:
            models = evidence_models(ev, discount=discount, belief_split=belief_split, study_belief=beliefs,
                                     rules=rules)
            keys = list(_MODEL_KEYS) + (list(_MODEL_KEYS_2026) if rules != "ssm2025" else [])
            if prop:
                try:
                    name = get_property(prop).name
                except UnknownPropertyError as exc:
                    raise InputError(str(exc)) from None
                models = models[models["property"] == name]
                if models.empty:
                    raise InputError(f"no evidence models for property {name!r}")
            if fmt == "json":
                rows = [{k: r[k] for k in keys} for r in models.to_dict("records")]
                click.echo(json.dumps(json_safe(rows), indent=2))
            elif fmt != "table":
                click.echo(format_table(models[keys].reset_index(drop=True), fmt))
            else:
                click.echo(_table(models[keys], {"pct": ".3f", "iqr": ".3f", "discount": ".3f", "sd": ".3f",
                                                 "study_belief": ".3f", "belief": ".3f", "n_units": ".0f",
                                                 "alpha_n": ".3f", "alpha_v": ".3f", "discount_factor": ".3f",
                                                 "p_value": ".3f"}))
            return
        res = synthesize(ev, prop, policy=policy, belief_split=belief_split, discount=discount,
                         study_belief=beliefs, rules=rules)
        results = res if isinstance(res, list) else [res]
        keys = list(_JSON_KEYS) + ([k for k in EXTRA_KEYS if k != "rules"] if rules != "ssm2025" else [])
        if fmt == "json":
            out = [{k: r.to_dict()[k] for k in keys} for r in results]
            click.echo(json.dumps(json_safe(out), indent=2))
        elif fmt != "table":
            click.echo(format_table(summary_frame(results)[keys], fmt))
        else:
            df = summary_frame(results)[keys]
            click.echo(_table(df, {"belief": ".3f", "plausibility": ".3f", "uncertainty": ".4f",
                                   "conflict_last": ".3f", "conflict_max": ".3f", "max_contributor_belief": ".3f",
                                   "delta_belief": ".3f"}))
            click.echo(f"\nrules {rules}; selection: {policy}, threshold 0.75; discount {discount}; "
                       f"belief split {belief_split}. "
                       "K (conflict) depends on the aggregation order (file order); the masses do not.")
    except MetaquantError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
