"""``metaquant ssm``: the Structured Synthesis Method, as the ESEM 2025 paper runs it."""

from __future__ import annotations

import json
import math
import sys

import click
import pandas as pd

from .. import io
from ..errors import InputError, MetaquantError
from ..schema import UnknownPropertyError, get_property
from ..ssm import evidence_models, read_study_beliefs, summary_frame, synthesize

_JSON_KEYS = ("property", "label", "label_code", "belief", "plausibility", "uncertainty", "conflict_last",
              "conflict_max", "n_models")
_MODEL_KEYS = ("study", "comparison", "property", "order", "n_units", "pct", "iqr", "discount", "study_belief",
               "belief", "label_code", "label")


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):
        return _clean(v.item())
    return v


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
@click.option("--discount", type=click.Choice(["v1", "v2"]), default="v1", show_default=True,
              help="v1: IQR discount of the paper; v2: sample-size x variability discount of the follow-up.")
@click.option("--study-belief", "study_belief_file", type=click.Path(dir_okay=False), default=None,
              help="CSV with columns study,study_belief (overrides the data's study_belief column).")
@click.option("--models", "show_models", is_flag=True,
              help="List the evidence models with intensity and belief instead of aggregating.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def ssm(data, prop, policy, belief_split, discount, study_belief_file, show_models, fmt):
    """Structured Synthesis Method: intensity, belief, Dempster's rule, 0.75 label selection.

    \b
    metaquant ssm                                   every property of the shipped SSM-2025 data
    metaquant ssm --property gpu_power_draw --format json
    metaquant ssm --models --property accuracy      the evidence models behind one property
    metaquant ssm --data runs.csv --study-belief beliefs.csv
    """
    try:
        ev = io.load(list(data))
        beliefs = read_study_beliefs(study_belief_file) if study_belief_file else None
        if show_models:
            models = evidence_models(ev, discount=discount, belief_split=belief_split, study_belief=beliefs)
            if prop:
                try:
                    name = get_property(prop).name
                except UnknownPropertyError as exc:
                    raise InputError(str(exc)) from None
                models = models[models["property"] == name]
                if models.empty:
                    raise InputError(f"no evidence models for property {name!r}")
            if fmt == "json":
                rows = [{k: _clean(r[k]) for k in _MODEL_KEYS} for r in models.to_dict("records")]
                click.echo(json.dumps(rows, indent=2))
            else:
                click.echo(_table(models[list(_MODEL_KEYS)], {"pct": ".3f", "iqr": ".3f", "discount": ".3f",
                                                              "study_belief": ".3f", "belief": ".3f",
                                                              "n_units": ".0f"}))
            return
        res = synthesize(ev, prop, policy=policy, belief_split=belief_split, discount=discount,
                         study_belief=beliefs)
        results = res if isinstance(res, list) else [res]
        if fmt == "json":
            out = [{k: _clean(r.to_dict()[k]) for k in _JSON_KEYS} for r in results]
            click.echo(json.dumps(out, indent=2))
        else:
            df = summary_frame(results)[list(_JSON_KEYS)]
            click.echo(_table(df, {"belief": ".3f", "plausibility": ".3f", "uncertainty": ".4f",
                                   "conflict_last": ".3f", "conflict_max": ".3f"}))
            click.echo(f"\nselection: {policy}, threshold 0.75; discount {discount}; belief split {belief_split}. "
                       "K (conflict) depends on the aggregation order (file order); the masses do not.")
    except MetaquantError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
