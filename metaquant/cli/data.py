"""``metaquant data``: list, show and validate evidence files."""

from __future__ import annotations

import json

import click

from .. import io
from ..effects import compute_effects


@click.group("data")
def data():
    """Shipped datasets and validation of your own files."""


@data.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def list_(fmt):
    """List the shipped datasets with their row counts and sources."""
    out = []
    for name, meta in io.dataset_registry().items():
        try:
            df = io.read(io.dataset_path(name), label=name)
            rows, studies, props = len(df), df["study"].nunique(), sorted(df["property"].unique())
            srcs = sorted(df["source"].dropna().unique()) if "source" in df.columns else meta.get("sources", [])
        except Exception as exc:  # a missing optional file should not hide the others
            rows, studies, props, srcs = 0, 0, [], [f"unavailable: {exc}"]
        out.append(
            {
                "name": name,
                "title": meta["title"],
                "rows": rows,
                "studies": studies,
                "properties": props,
                "sources": srcs,
            }
        )
    if fmt == "json":
        click.echo(json.dumps(out, indent=2))
        return
    for d in out:
        click.echo(f"{d['name']}: {d['rows']} rows, {d['studies']} studies, {len(d['properties'])} properties")
        click.echo(f"  {d['title']}")
        click.echo(f"  properties: {', '.join(d['properties'])}")
        for s in d["sources"][:12]:
            click.echo(f"  source: {s}")
        if len(d["sources"]) > 12:
            click.echo(f"  ... and {len(d['sources']) - 12} more sources")


@data.command("show")
@click.argument("name")
@click.option("--effects", is_flag=True, help="Show the computed effect sizes instead of the raw rows.")
@click.option("--property", "prop", default=None, help="Only this property.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
def show(name, effects, prop, fmt):
    """Show a shipped dataset (or a file) as a table."""
    ev = io.load(name, include_confounded=True)
    df = compute_effects(ev) if effects else ev.data
    if prop:
        from ..effects import for_property

        df = for_property(df, prop) if effects else df[df["property"] == prop]
    if fmt == "csv":
        click.echo(df.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(df.to_json(orient="records", indent=2))
    else:
        cols = (
            ["comparison", "property", "yi", "vi", "pct", "bits", "technique"]
            if effects
            else [
                c
                for c in (
                    "study",
                    "comparison",
                    "property",
                    "quant_precision",
                    "bits",
                    "improvement_pct",
                    "baseline_mean",
                    "quant_mean",
                    "study_belief",
                )
                if c in df.columns
            ]
        )
        import pandas as pd

        with pd.option_context("display.width", 200, "display.max_rows", 500, "display.max_colwidth", 40):
            click.echo(df[cols].to_string(index=False))


@data.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--measure", type=click.Choice(["ROM", "SMD", "MD"], case_sensitive=False), default="ROM")
def validate(files, measure):
    """Check evidence files; one line per problem, exit code 2 on the first error."""
    for f in files:
        ev = io.load(f, include_confounded=True)
        tab = compute_effects(ev, measure=measure)
        unknown = int((~tab["vi_known"]).sum())
        click.echo(
            f"{f}: ok, {len(tab)} rows, {tab['study'].nunique()} studies, "
            f"{tab['property'].nunique()} properties ({unknown} rows without a sampling variance)"
        )
