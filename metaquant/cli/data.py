"""``metaquant data``: list, show and validate evidence files."""

from __future__ import annotations

import json
import sys

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
@click.option("--max-errors", type=click.IntRange(min=1), default=io.MAX_REPORTED, show_default=True,
              help="List at most this many problems per file (all are counted).")  # fmt: skip
def validate(files, measure, max_errors):
    """Check evidence files: every problem on its own line (file, row, column), exit code 2 if any."""
    from ..effects import check

    lines = []
    for f in files:
        problems, tab = check(f, measure=measure, limit=max_errors)
        if problems:
            lines += [str(e) for e in problems.errors]
            if problems.total > 1:
                lines.append(f"{f}: {problems.summary()}")
            continue
        unknown = int((~tab["vi_known"]).sum())
        click.echo(
            f"{f}: ok, {len(tab)} rows, {tab['study'].nunique()} studies, "
            f"{tab['property'].nunique()} properties ({unknown} rows without a sampling variance)"
        )
        for note in _notes(tab):
            click.echo(f"{f}: note: {note}")
    if lines:
        for line in lines:
            click.echo(f"error: {line}", err=True)
        sys.exit(2)


def _notes(tab) -> list[str]:
    """What the engines will do differently with this (valid) file."""
    notes = []
    conf = tab["confounded"].to_numpy(dtype=bool)
    if conf.all():
        notes.append(
            f"all {len(tab)} rows are confounded: fit, compare and ssm leave them out unless --include-confounded"
        )
    elif conf.any():
        notes.append(f"{int(conf.sum())} confounded rows are left out unless --include-confounded")
    if tab["study_belief"].isna().all():
        notes.append(
            "no study_belief column: the SSM engine (metaquant ssm) needs each study's belief B in [0, 1] "
            "(a column study_belief; see docs/data-format.md)"
        )
    elif tab["study_belief"].isna().any():
        studies = ", ".join(sorted(tab.loc[tab["study_belief"].isna(), "study"].astype(str).unique())[:5])
        notes.append(f"study_belief is empty for studies {studies}: the SSM engine needs it for every study")
    return notes
