"""``metaquant data``: list, show and validate evidence files."""

from __future__ import annotations

import json
import sys

import click
import numpy as np
import pandas as pd

from ..errors import InputError
from ..evidence import io, schema
from ..evidence.effects import MEASURES, compute_effects
from ..progress import plural
from .options import BITS_RANGE, count_option, number_option


@click.group("data")
def data():
    """Shipped datasets and validation of your own files."""


def _repository(source: str) -> str:
    """``owner/repo`` of a ``owner/repo:path@commit`` source reference (the reference itself otherwise)."""
    head = str(source).split(" ", 1)[0]
    return head.split(":", 1)[0] if ":" in head and "@" in head else str(source)


def _summary(name: str, meta: dict) -> dict:
    """Row counts, sources and licences of one shipped dataset."""
    df = io.read(io.dataset_path(name), label=name)
    srcs = sorted(df["source"].dropna().unique()) if "source" in df.columns else list(meta.get("sources", []))
    repos = []
    if "source" in df.columns:
        repo_of = df["source"].fillna("").map(_repository)
        lic = df["x_licence"] if "x_licence" in df.columns else pd.Series("", index=df.index)
        for repo, idx in repo_of.groupby(repo_of).groups.items():
            if not repo:
                continue
            licences = sorted({str(x) for x in lic.loc[idx] if x not in (None, "") and x == x})
            repos.append({"repository": repo, "rows": len(idx), "licence": ", ".join(licences) or "not recorded"})
    return {
        "name": name,
        "title": meta["title"],
        "rows": len(df),
        "studies": int(df["study"].nunique()),
        "properties": sorted(df["property"].unique()),
        "rows_by_property": {k: int(v) for k, v in df["property"].value_counts().sort_index().items()},
        "licences": list(meta.get("licences", [])) or sorted({r["licence"] for r in repos} - {"not recorded"}),
        "repositories": repos,
        "sources": srcs,
    }


@data.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def list_(fmt):
    """List the shipped datasets with their row counts, sources and licences."""
    out = []
    for name, meta in io.dataset_registry().items():
        try:
            out.append(_summary(name, meta))
        except Exception as exc:  # a missing optional file should not hide the others
            out.append({"name": name, "title": meta.get("title", ""), "rows": 0, "studies": 0, "properties": [],
                        "rows_by_property": {}, "licences": [], "repositories": [],
                        "sources": [f"unavailable: {exc}"]})  # fmt: skip
    if fmt == "json":
        click.echo(json.dumps(out, indent=2))
        return
    for d in out:
        click.echo(f"{d['name']}: {plural(d['rows'], 'row')}, {plural(d['studies'], 'study')}, "
                   f"{plural(len(d['properties']), 'property')}")
        click.echo(f"  {d['title']}")
        click.echo("  rows by property: " + ", ".join(f"{k} {v}" for k, v in d["rows_by_property"].items()))
        click.echo(f"  licences: {', '.join(d['licences']) or 'not recorded'}")
        for r in d["repositories"]:
            click.echo(f"  repository: {r['repository']} ({r['rows']} rows; licence {r['licence']})")
        for s in d["sources"][:12]:
            click.echo(f"  source: {s}")
        if len(d["sources"]) > 12:
            click.echo(f"  ... and {len(d['sources']) - 12} more sources (--format json lists them all)")


#: ``data show`` text filters: option -> column (case-insensitive substring match)
_TEXT_FILTERS = {"source": "source", "study": "study", "model": "model", "task": "task", "technique": "technique",
                 "hardware": "hardware"}  # fmt: skip


def _matching_rows(df: pd.DataFrame, name, filters: dict, bits, prop) -> pd.Series:
    """The rows of ``df`` that every given filter of ``data show`` keeps (a one-line error when none does)."""
    keep = pd.Series(True, index=df.index)
    for opt, wanted in filters.items():
        if not wanted:
            continue
        col = _TEXT_FILTERS[opt]
        if col not in df.columns:
            raise InputError(f"--{opt}: the data have no {col!r} column", path=name)
        text = df[col].fillna("").astype(str).str.lower()
        keep &= np.logical_or.reduce([text.str.contains(w.lower(), regex=False) for w in wanted])
    if bits:
        if "bits" not in df.columns:
            raise InputError("--bits: the data have no 'bits' column", path=name)
        keep &= df["bits"].isin(list(bits))
    if prop:
        keep &= df["property"] == schema.get_property(prop).name
    if not keep.any():
        raise InputError("no row matches the filters", path=name, expected="looser --property/--source/... filters")
    return keep


@data.command("show")
@click.argument("name")
@click.option("--effects", is_flag=True, help="Show the computed effect sizes instead of the raw rows.")
@click.option("--property", "prop", default=None, help="Only this property.")
@click.option("--source", "sources", multiple=True, help="Only rows whose source contains this text (repeatable: any).")
@click.option("--study", "studies", multiple=True, help="Only rows whose study contains this text (repeatable).")
@click.option("--model", "models", multiple=True, help="Only rows whose model contains this text (repeatable).")
@click.option("--task", "tasks", multiple=True, help="Only rows whose task contains this text (repeatable).")
@click.option("--technique", "techniques", multiple=True, help="Only this technique (substring, repeatable).")
@click.option("--hardware", "hardwares", multiple=True, help="Only rows whose hardware contains this text.")
@number_option("--bits", "bits", multiple=True, low=BITS_RANGE[0], high=BITS_RANGE[1], low_open=True,
               help="Only these weight bit-widths (repeatable).")
@click.option("--include-confounded/--drop-confounded", default=True, show_default=True,
              help="Keep rows flagged as confounded.")  # fmt: skip
@click.option("--columns", default=None, help="Comma-separated columns to print (table and csv formats).")
@count_option("--limit", high=None, default=None, help="Print at most this many rows.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table")
def show(name, effects, prop, sources, studies, models, tasks, techniques, hardwares, bits, include_confounded,
         columns, limit, fmt):  # fmt: skip
    """Show a shipped dataset (or a file), filtered, as a table."""
    ev = io.load(name, include_confounded=include_confounded)
    df = ev.data
    keep = _matching_rows(df, name, {"source": sources, "study": studies, "model": models, "task": tasks,
                                     "technique": techniques, "hardware": hardwares}, bits, prop)
    if effects:
        sub = io.Evidence(df[keep].reset_index(drop=True), ev.sources)
        df = compute_effects(sub)
    else:
        df = df[keep].reset_index(drop=True)
    if limit is not None:
        df = df.head(limit)
    if columns:
        cols = [c.strip() for c in columns.split(",") if c.strip()]
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise InputError(f"unknown column {missing[0]!r}", path=name, expected=", ".join(df.columns))
    elif effects:
        cols = ["comparison", "property", "yi", "vi", "pct", "bits", "technique"]
    else:
        cols = [
            c
            for c in (
                "study",
                "comparison",
                "property",
                "task",
                "quant_precision",
                "bits",
                "improvement_pct",
                "baseline_mean",
                "quant_mean",
                "study_belief",
            )  # fmt: skip
            if c in df.columns
        ]
    if fmt == "csv":
        if not (columns or effects):  # evidence that `data validate` and `--data` read back: no bookkeeping
            cols = [c for c in df.columns if c in schema.KNOWN_COLUMNS or c.startswith(io.USER_COLUMN_PREFIX)]
        elif not columns:
            cols = list(df.columns)
        click.echo(df[cols].to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(df.to_json(orient="records", indent=2))
    else:
        with pd.option_context("display.width", 200, "display.max_rows", 500, "display.max_colwidth", 40):
            click.echo(df[cols].to_string(index=False))


@data.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--measure", type=click.Choice(MEASURES, case_sensitive=False), default="ROM", show_default=True,
              help="Effect size the rows must allow (SMD/MD need sd and n on both arms; PLO/PAS/PR an n_eval for "
                   "accuracy, precision and recall).")
@count_option("--max-errors", high=None, default=io.MAX_REPORTED, show_default=True,
              help="List at most this many problems per file (all are counted).")  # fmt: skip
def validate(files, measure, max_errors):
    """Check evidence files: every problem on its own line (file, row, column), exit code 2 if any."""
    from ..evidence.effects import check

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
            f"{f}: ok, {plural(len(tab), 'row')}, {plural(tab['study'].nunique(), 'study')}, "
            f"{plural(tab['property'].nunique(), 'property')} ({plural(unknown, 'row')} without a sampling variance)"
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
        n = int(conf.sum())
        notes.append(f"{plural(n, 'confounded row')} {'is' if n == 1 else 'are'} left out unless --include-confounded")
    if tab["study_belief"].isna().all():
        notes.append(
            "no study_belief column: the SSM engine (metaquant ssm) needs each study's belief B in [0, 1] "
            "(a column study_belief; see docs/data-format.md)"
        )
    elif tab["study_belief"].isna().any():
        studies = ", ".join(sorted(tab.loc[tab["study_belief"].isna(), "study"].astype(str).unique())[:5])
        notes.append(f"study_belief is empty for studies {studies}: the SSM engine needs it for every study")
    return notes


# --------------------------------------------------------------------------
# data import: result files of other tools -> evidence rows
# --------------------------------------------------------------------------


@data.group("import")
def import_():
    """Turn other tools' result files (a baseline and a quantized run) into evidence rows."""


def _import_options(func):
    """Options shared by the importers: what the files do not say, and where to write."""
    opts = [
        click.option("--out", required=True, type=click.Path(dir_okay=False), help="The CSV file to write."),
        click.option("--force", is_flag=True, help="Replace --out if it exists (never an input file)."),
        click.option("--study", default=None, help="Study name of the rows (default: from the model and the tool)."),
        number_option("--bits", "bits", low=BITS_RANGE[0], high=BITS_RANGE[1], low_open=True, default=None,
                      help="Weight bits of the quantized model, where the files do not say."),
        number_option("--act-bits", "act_bits", low=BITS_RANGE[0], high=BITS_RANGE[1], low_open=True, default=None,
                      help="Activation bits of the quantized model."),
        click.option("--technique", default=None, help="Quantization technique (ptq-static, weight-only, ...)."),
        click.option("--hardware", default=None, help="Hardware the runs used (e.g. 'NVIDIA H100')."),
    ]  # fmt: skip
    for opt in reversed(opts):
        func = opt(func)
    return func


def _write_import(rows, out, force, inputs) -> None:
    """Validate the rows as a file would be, then write them atomically (never over an input, --force to replace)."""
    from ..outputs import atomic_write_bytes

    io.validate(rows, out)
    atomic_write_bytes(out, rows.to_csv(index=False).encode("utf-8"), overwrite=force, inputs=list(inputs))
    props = ", ".join(f"{k} {v}" for k, v in rows["property"].value_counts().sort_index().items())
    spread = int(rows.get("baseline_sd", pd.Series(np.nan, index=rows.index)).notna().sum())
    click.echo(f"wrote {out}: {plural(len(rows), 'row')} ({props}); {spread} with a spread")


def _setting(study, bits, act_bits, technique, hardware, task=None):
    from ..evidence.importers import Setting

    return Setting(study=study, bits=bits, act_bits=act_bits, technique=technique, hardware=hardware, task=task)


@import_.command("lm-eval")
@click.argument("baseline", type=click.Path())
@click.argument("quantized", type=click.Path())
@_import_options
@click.option("--map", "maps", multiple=True, metavar="METRIC=PROPERTY",
              help="Import a metric the importer does not know, as this property (repeatable).")  # fmt: skip
def import_lm_eval(baseline, quantized, out, force, study, bits, act_bits, technique, hardware, maps):
    """lm-evaluation-harness 0.4 results files (results_*.json): one row per task x metric in both."""
    from ..evidence.importers import read_lm_eval
    from ..outputs import check_writable_target

    check_writable_target(out, force=force, inputs=[baseline, quantized])
    mapping = {}
    for m in maps:
        if "=" not in m:
            raise click.BadParameter(f"{m!r} is not METRIC=PROPERTY", param_hint="'--map'")
        k, v = m.split("=", 1)
        mapping[k.strip()] = v.strip()
    rows = read_lm_eval(baseline, quantized, _setting(study, bits, act_bits, technique, hardware), metric_map=mapping)
    _write_import(rows, out, force, [baseline, quantized])


@import_.command("llama-perplexity")
@click.argument("baseline", type=click.Path())
@click.argument("quantized", type=click.Path())
@_import_options
@click.option("--task", default=None, help="The text the perplexity was measured on (e.g. wikitext-2).")
def import_llama_perplexity(baseline, quantized, out, force, study, bits, act_bits, technique, hardware, task):
    """llama.cpp llama-perplexity outputs ('Final estimate: PPL = X +/- Y'): one perplexity row."""
    from ..evidence.importers import read_llama_perplexity
    from ..outputs import check_writable_target

    check_writable_target(out, force=force, inputs=[baseline, quantized])
    rows = read_llama_perplexity(baseline, quantized, _setting(study, bits, act_bits, technique, hardware, task))
    _write_import(rows, out, force, [baseline, quantized])
