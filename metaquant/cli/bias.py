"""``metaquant bias``: small-study effects and publication bias of one property, with what each test assumes."""

from __future__ import annotations

import json

import click

from .options import Number, NumberList, accepted
from .show import num, pval

_STEP_HELP = "Step-function selection model cut-points (one-sided p-values), comma-separated."


_STEPS = NumberList(Number(0, 1, low_open=True))


def _ci(d: dict, lo: str = "ci_low", hi: str = "ci_high") -> str:
    return f"[{num(d.get(lo))}, {num(d.get(hi))}]"


def _pct(v) -> str:
    return "NA" if v is None else f"{v:+.2f} %"


def _effect(d: dict, est: str = "estimate", lo: str = "ci_low", hi: str = "ci_high") -> str:
    """An estimate and its interval on the log scale, then as a relative change in % (+ = better)."""
    text = f"{num(d.get(est))} {_ci(d, lo, hi)}"
    if d.get(f"pct_{est}") is not None:
        text += f" = {_pct(d.get(f'pct_{est}'))} [{_pct(d.get(f'pct_{lo}'))}, {_pct(d.get(f'pct_{hi}'))}]"
    return text


def _unidentified(d: dict) -> str:
    return f"not identified here: {d.get('reason')}"


def _notes(res: dict) -> None:
    for n in res.get("notes", []):
        click.echo(f"  note: {n}")


def _section_printer(assumptions: dict):
    """``section(title, key)``: a blank line, the title, and what the test assumes the first time ``key`` comes up."""
    seen = set()

    def section(title: str, key: str) -> None:
        click.echo("")
        click.echo(title)
        if key not in seen:
            seen.add(key)
            click.echo(click.wrap_text(assumptions[key], initial_indent="  assumes: ", subsequent_indent="    "))

    return section


def _limit(x: dict) -> str:
    if x.get("identified", True):
        return f"limit estimate {_effect(x, 'limit_estimate', 'limit_ci_low', 'limit_ci_high')}"
    return f"limit estimate {_unidentified(x)}"


def _print_regtest(r: dict, section) -> None:
    if "regtest" in r or "regtest_lm" in r:
        section("Egger's regression test (predictor: standard error)", "regtest")
        multi = r.get("regtest", {}).get("model") == "rma.mv"
        for key, what in (("regtest", "multilevel (rma.mv)" if multi else "mixed-effects (rma)"),
                          ("regtest_lm", "weighted regression (lm" + (", one row per study)" if multi else ")"))):
            if key in r:
                x = r[key]
                stat = "z" if x["test"] == "z" else "t"
                df = f", df = {x['df']}" if x.get("df") is not None else ""
                click.echo(f"  {what}: {stat} = {num(x['stat'])}{df}, p {pval(x['pval'])}; {_limit(x)}")
        _notes(r.get("regtest") or r["regtest_lm"])


def _print_ranktest(r: dict, section) -> None:
    if "ranktest" in r:
        x = r["ranktest"]
        section("Rank correlation test (Begg & Mazumdar)", "ranktest")
        click.echo(f"  Kendall's tau = {num(x['tau'])}, p {pval(x['pval'])} "
                   f"({'exact' if x['exact'] else 'normal approximation'})")
        _notes(x)


def _print_fsn(r: dict, section) -> None:
    fs = [k for k in ("fsn_rosenthal", "fsn_orwin", "fsn_rosenberg") if k in r]
    if fs:
        section("Fail-safe N", "fsn")
        for k in fs:
            x = r[k]
            extra = (f" (target {num(x['target'])}, mean effect {num(x['meanes'])})" if x["type"] == "Orwin"
                     else f" (p of the observed studies {pval(x['pval'])})")
            value = "not defined" if x["fsnum"] is None else f"{x['fsnum']:g}"
            click.echo(f"  {x['type']}: {value}{extra}")
            if x["fsnum"] is None:  # undefined or infinite: the first note says which and why
                click.echo(f"  note: {x['notes'][0]}")


def _print_trimfill(r: dict, section) -> None:
    if "trimfill" in r:
        x = r["trimfill"]
        section(f"Trim and fill (estimator {x['estimator']}, {x['method']})", "trimfill")
        click.echo(f"  {x['k0']} studies estimated missing on the {x['side']} side (SE {num(x['se_k0'])})")
        filled = _effect(x) if x.get("identified", True) else _unidentified(x)
        click.echo(f"  estimate {_effect(x, 'estimate_unadjusted', 'ci_low_unadjusted', 'ci_high_unadjusted')}")
        click.echo(f"  with the filled studies {filled}")
        _notes(x)


def _print_pet_peese(r: dict, section) -> None:
    if "pet_peese" in r:
        x = r["pet_peese"]
        multi = x["pet"].get("model") == "rma.mv"
        section("PET-PEESE (" + ("multilevel, rma.mv" if multi else "weighted least squares") + ")", "pet_peese")
        for name in ("pet", "peese"):
            y = x[name]
            if y.get("identified", True):
                click.echo(f"  {name.upper()} {_effect(y, 'limit_estimate', 'limit_ci_low', 'limit_ci_high')} "
                           f"(p {pval(y['limit_pval'])})")
            else:
                click.echo(f"  {name.upper()} {_unidentified(y)}")
        if x.get("identified", True):
            click.echo(f"  conditional estimate ({x['chosen']}): {_effect(x)}")
        else:
            click.echo(f"  conditional estimate {_unidentified(x)}")
        click.echo(f"  rule: {x['rule']}")


def _print_selmodels(r: dict, section) -> None:
    for key, title in (("selmodel_step", "Step-function selection model (Vevea & Hedges 1995)"),
                       ("selmodel_beta", "Beta selection model (Citkowicz & Vevea 2017)")):
        if key not in r:
            continue
        x = r[key]
        section(title, "selmodel")
        if x.get("ptable"):
            click.echo("  p-values per interval: " + ", ".join(f"{p['interval']}: {p['k']}" for p in x["ptable"]))
        if not x["fitted"] or not x.get("identified", True):
            click.echo(f"  adjusted estimate {_unidentified(x)}")
            _notes({"notes": [n for n in x.get("notes", []) if n != x.get("reason")]})
            continue
        click.echo(f"  adjusted estimate {_effect(x)} (unadjusted ML {num(x['estimate_unadjusted'])}"
                   f" = {_pct(x.get('pct_estimate_unadjusted'))}), tau² {num(x['tau2'])}")
        click.echo("  selection weights: " + ", ".join(num(v) for v in x["delta"]))
        click.echo(f"  LRT against no selection: chi²(df = {x['LRT_df']}) = {num(x['LRT'])}, p {pval(x['LRT_pval'])}")
        _notes(x)


def _print_report(d: dict) -> None:
    from .. import api

    click.echo(f"{d['property']}: small-study effects and publication bias (k = {d['k']} rows, "
               f"{d['n_studies']} stud{'y' if d['n_studies'] == 1 else 'ies'})")
    c = d.get("centre")
    if c:
        click.echo(f"  centre ({c['model']}, {c['method']}): {_effect(c)}")
    click.echo("  an adjusted estimate the data do not identify is reported as such (docs/methods/bias.md)")
    for note in d["notes"]:
        click.echo(f"  note: {note}")
    r = d["results"]
    section = _section_printer(api.bias_assumptions())
    for part in (_print_regtest, _print_ranktest, _print_fsn, _print_trimfill, _print_pet_peese, _print_selmodels):
        part(r, section)
    if d["skipped"]:
        click.echo("")
        for k, why in d["skipped"].items():
            click.echo(f"not run: {k}: {why}")


@click.command("bias")
@click.option("--data", "data", multiple=True, default=None, help="Evidence file(s) or dataset name(s).")
@click.option("--property", "prop", required=True, help="Property, e.g. perplexity.")
@click.option("--method", type=click.Choice(["fe", "dl", "reml", "ml", "pm"], case_sensitive=False), default="reml",
              show_default=True, help="tau² estimator of the regression test and trim and fill.")
@click.option("--estimator", type=click.Choice(["L0", "R0"], case_sensitive=False), default="L0", show_default=True,
              help="Trim-and-fill estimator of the number of missing studies.")
@click.option("--side", type=click.Choice(["auto", "left", "right"]), default="auto", show_default=True,
              help="Side of the funnel where studies are missing (auto: from Egger's slope).")
@click.option("--steps", type=_STEPS, default="0.025", show_default=True, help=f"{_STEP_HELP} {accepted(_STEPS)}")
@click.option("--alternative", type=click.Choice(["greater", "less", "two.sided"]), default="greater",
              show_default=True, help="Direction of the p-values the selection models act on.")
@click.option("--funnel", "funnel", type=click.Path(dir_okay=False), default=None,
              help="Also write the contour-enhanced funnel plot (.png or .svg).")
@click.option("--force", is_flag=True, help="Overwrite an existing --funnel file.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def bias(data, prop, method, estimator, side, steps, alternative, funnel, force, fmt):
    """Funnel asymmetry tests, trim and fill, PET-PEESE, fail-safe N and selection models for one property.

    Rows without a known sampling variance are left out (and counted).  Every test is
    printed with what it assumes; with a handful of studies none of them has much power,
    and a non-significant test is no evidence that there is no bias.

    \b
    metaquant bias --data benchmarks --property perplexity
    metaquant bias --data llmq --property throughput --steps 0.025,0.5 --funnel funnel.png
    """
    from .. import api

    if funnel:  # checked before any work: an unwritable place, an input file, an existing file without --force
        from ..outputs import check_writable_target

        check_writable_target(funnel, force=force, inputs=list(data))
    table = api.property_table(list(data) or "ssm2025", prop)
    rep = api.bias(table, method=method.upper(), estimator=estimator.upper(), side=None if side == "auto" else side,
                   steps=tuple(steps), alternative=alternative)
    if funnel:
        from ..present.bias_plots import bias_funnel
        from ..present.plots import save_figure

        save_figure(bias_funnel(table, method=method.upper()), funnel, force=force)
    d = rep.to_dict()
    prim = api.primary_summary(api.FitSpec(str(table["property"].iloc[0])), table, chosen=False)
    d["primary_estimate"] = {"name": prim["name"], "reason": prim["reason"]}
    why = prim["reason"]
    if fmt == "json":
        click.echo(json.dumps(d, indent=2))
        return
    click.echo(f"primary estimate: {d['primary_estimate']['name']} ({why}); the tests below use the rows with a "
               "known sampling variance")
    _print_report(d)
    if funnel:
        click.echo(f"\nwrote {funnel}")
