"""``metaquant bench``: measure quantized models on this machine and write evidence rows."""

from __future__ import annotations

import json
import math
import sys
import time

import click

from ..bench import records
from ..bench._torch import INSTALL_HINT, TorchMissingError, require_torch
from ..bench.data import MODELS
from ..bench.schemes import ALL_NAMES, get_scheme
from ..progress import plural
from .options import MAX_JOBS, count_option, number_option, seed_option


class _Progress:
    """A click progress bar per scheme on a terminal; one line per finished scheme otherwise."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.label = None
        self.bar = None
        self.pos = 0
        self.t0 = time.perf_counter()

    def _close(self):
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None

    def __call__(self, label: str, done: int, total: int) -> None:
        if self.quiet:
            return
        if label != self.label:
            self._close()
            self.label, self.pos, self.t0 = label, 0, time.perf_counter()
            if self.tty:
                self.bar = click.progressbar(length=max(total, 1), label=f"{label:<28}", file=sys.stderr,
                                             show_eta=False)
                self.bar.__enter__()
        if self.bar is not None:
            self.bar.length = max(total, 1)
            self.bar.update(done - self.pos)
            self.pos = done
            if done >= total:
                self._close()
        elif done >= total and total > 0 and not self.tty:
            click.echo(f"bench: {label} done ({time.perf_counter() - self.t0:.1f} s)", err=True)

    def close(self):
        self._close()


def _num(v, unit: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if unit == "bytes":
        return f"{v:,.0f}"
    return f"{v:.4g}"


def _print_table(res) -> None:
    click.echo(f"study {res.study}: {res.model} on {res.task}")
    for dev, hw in {d: b.hardware for d, b in res.baselines.items()}.items():
        click.echo(f"  {dev}: {hw}")
    summ = res.summary()
    if len(summ):
        click.echo(f"\n{'scheme':<21}{'device':<7}{'property':<30}{'fp32':>14}{'quantized':>14}  {'unit':<9}"
                   f"{'change %':>9}")
        for r in summ.to_dict("records"):
            bsd = "" if math.isnan(r["baseline_sd"]) else f" ±{_num(r['baseline_sd'])}"
            click.echo(f"{r['scheme']:<21}{r['device']:<7}{r['property']:<30}{_num(r['baseline'], r['unit']):>14}"
                       f"{_num(r['quantized'], r['unit']):>14}  {r['unit']:<9}{r['change_pct']:>+9.2f}"
                       + (f"   (n={int(r['n'])}, fp32 sd{bsd})" if r["n"] > 1 else ""))
        click.echo("change %: relative improvement (+ = quantization better); accuracy and F1 are single evaluations")
    reasons: dict[str, set[str]] = {}
    for u in res.unmeasured():
        reasons.setdefault(u["reason"], set()).add(u["property"])
    for why, props in reasons.items():
        click.echo(f"not measured: {', '.join(sorted(props))} ({why})")
    for name, why in res.skipped:
        click.echo(f"skipped {name}: {why}")


@click.command("bench")
@click.option("--device", type=click.Choice(["auto", "cuda", "cpu"]), default="auto", show_default=True,
              help="Where to run; auto takes CUDA when torch sees a GPU (int8 schemes always run on the CPU).")
@click.option("--model", type=click.Choice(list(MODELS)), default="mlp-synth", show_default=True,
              help="Network and task (the *-digits ones need scikit-learn).")
@click.option("--schemes", default=None, metavar="LIST",
              help="Comma list of schemes, 'all' or 'default' (see --list-schemes).")
@count_option("--runs", high=1000, default=None,
              help="Timed runs per variant [default: 10; 3 with --quick].")
@click.option("--study", default=None, help="Study id of the rows [default: bench-<hostname>-<YYYYMMDD>].")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Append the rows to this CSV measurements file (created when absent).")
@click.option("--quick", is_flag=True, help="Short runs (3 x 0.2 s per variant): a smoke test in well under a minute.")
@seed_option("--seed", default=0, show_default=True, help="Seeds the task, the weights and training.")
@count_option("--batch-size", high=65536, default=256, show_default=True, help="Images per timed batch.")
@count_option("--threads", low=0, high=MAX_JOBS, default=1, show_default=True,
              help="CPU threads while measuring (0 = torch's default, one per core).")
@number_option("--run-seconds", low=0.01, high=3600, default=None,
               help="Length of one timed run [default: 1.0; 0.2 with --quick].")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--list-schemes", is_flag=True, help="List the schemes and exit.")
def bench(device, model, schemes, runs, study, out, quick, seed, batch_size, threads, run_seconds, quiet, fmt,
          list_schemes):
    """Measure quantized variants of a small model here and emit evidence rows.

    \b
    metaquant bench --quick                      CPU smoke test, results on screen
    metaquant bench --out runs.csv               append rows to runs.csv
    metaquant fit --data runs.csv --property inference_latency
    """
    if list_schemes:
        for name in ALL_NAMES:
            s = get_scheme(name)
            click.echo(f"{s.name:<21}{s.technique:<16}{s.description}")
        click.echo("w2-sim .. w8-sim: any bit-width from 2 to 8")
        return
    try:
        require_torch()
    except TorchMissingError:
        click.echo(INSTALL_HINT, err=True)
        sys.exit(2)
    from ..bench.runner import BenchConfig, run_bench

    if out:
        records.check_target(out)
    cfg = BenchConfig(device=device, model=model, schemes=schemes, runs=runs, study=study, seed=seed, quick=quick,
                      batch_size=batch_size, threads=threads, run_seconds=run_seconds)
    progress = _Progress(quiet)
    try:
        res = run_bench(cfg, progress=progress)
    finally:
        progress.close()
    written = None
    if out:
        written = str(res.write(out))
    if fmt == "json":
        d = res.to_dict()
        d["written"] = written
        d["rows_written"] = len(res.rows()) if written else 0
        click.echo(json.dumps(d, indent=2))
    else:
        _print_table(res)
    if written:
        click.echo(f"wrote {plural(len(res.rows()), 'row')} to {written} (study {res.study})", err=True)
    elif not quiet:
        click.echo("not saved: add --out FILE to append these rows to a measurements file", err=True)
