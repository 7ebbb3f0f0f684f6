"""Time each interactive Bayesian command as a fresh process, next to a plain-PyMC yardstick.

``python benchmarks/bench_commands.py [--repeat 3] [--commands fit,fit_cold,...] [--vs GITREF]``

Every command of the table below runs as its own process (``python -c "from metaquant.cli import main;
main()" ARGS``), ``--repeat`` times; each repetition runs the yardstick (``benchmarks/yardstick_pymc.py``, the
same model as ``fit --property accuracy`` written in plain PyMC) and every command back to back, so that all of
them see the same load.  Printed per command: the median wall seconds, the ratio of that median to the
yardstick's median, and the largest peak RSS of the process (``os.wait4``).  The warm commands run once,
untimed, before the repetitions (PyTensor's C and Numba disk caches filled); ``fit_cold`` gets an empty
``PYTENSOR_FLAGS=base_compiledir`` (C and Numba caches) on every run, as a fresh install would.

``--vs GITREF`` checks ``GITREF`` out into a temporary ``git worktree`` and times the same commands from it
(``PYTHONPATH`` put first) in the same repetitions: before/after on the same machine state.  ``--vs PATH``
uses an existing checkout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "fit": ["fit", "--property", "accuracy", "--quiet"],
    "fit_cold": ["fit", "--property", "accuracy", "--quiet"],
    "predict": ["predict", "--data", "benchmarks", "--property", "accuracy", "--bits", "8"],
    "compare": ["compare", "--all", "--quiet"],
    "report": ["report", "--out", "{tmp}/report"],
    "bma": ["fit", "--property", "accuracy", "--method", "bma", "--quiet"],
    "sens_bits": ["sensitivity", "--property", "accuracy", "--by", "bits", "--quiet"],
    "sens_loo": ["sensitivity", "--property", "accuracy", "--loo", "--quiet"],
}
TARGETS = {"fit": 5, "fit_cold": 12, "predict": 5, "compare": 30, "report": 60, "bma": 20, "sens_bits": 20,
           "sens_loo": 20}
LAUNCH = "import sys; from metaquant.cli import main; sys.argv[0] = 'metaquant'; main()"


def run(argv: list[str], env: dict, cwd: Path) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MB) and exit status of one process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.stderr.close()
    rc = os.waitstatus_to_exitcode(status)
    if rc not in (0, 3):
        print(f"  ! {' '.join(argv[-6:])} exited {rc}: {err.strip().splitlines()[-1:]}", file=sys.stderr)
    return wall, usage.ru_maxrss / 1024.0, rc


def command_argv(name: str, tmp: Path) -> list[str]:
    return [sys.executable, "-c", LAUNCH] + [a.format(tmp=tmp) for a in COMMANDS[name]]


def env_for(checkout: Path | None, cold: bool, tmp: Path) -> dict:
    env = dict(os.environ, MPLBACKEND="Agg")
    if checkout is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(checkout), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if cold:
        env["PYTENSOR_FLAGS"] = f"base_compiledir={tempfile.mkdtemp(dir=tmp, prefix='pt-')}"
    return env


def checkout_of(ref: str, tmp: Path) -> Path:
    if Path(ref).is_dir():
        return Path(ref).resolve()
    dest = tmp / "vs"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(dest), ref], check=True,
                   capture_output=True)
    return dest


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--commands", default=",".join(COMMANDS), help="comma-separated: " + ", ".join(COMMANDS))
    ap.add_argument("--no-warmup", dest="warmup", action="store_false",
                    help="fill the caches with one untimed `fit` only, not one run of every command")
    ap.add_argument("--vs", default=None, help="a git ref (checked out into a temporary worktree) or a checkout")
    args = ap.parse_args(argv)
    names = [c for c in args.commands.split(",") if c]
    unknown = set(names) - set(COMMANDS)
    if unknown:
        ap.error(f"unknown command(s): {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="mq-bench-") as t:
        tmp = Path(t)
        variants = {"this": ROOT}
        if args.vs:
            variants["vs"] = checkout_of(args.vs, tmp)
        try:
            # fill the warm caches (PyTensor's C and Numba caches) once per checkout and command (untimed)
            for co in variants.values():
                for name in (names if args.warmup else ["fit"]):
                    if name != "fit_cold":
                        run(command_argv(name, tmp), env_for(co, False, tmp), tmp)
                        subprocess.run(["rm", "-rf", str(tmp / "report")], check=True)
            times: dict[tuple[str, str], list[tuple[float, float]]] = {}
            yard = [sys.executable, str(ROOT / "benchmarks" / "yardstick_pymc.py")]
            for rep in range(args.repeat):
                w, rss, _ = run(yard, env_for(None, False, tmp), tmp)
                times.setdefault(("yardstick", ""), []).append((w, rss))
                print(f"rep {rep + 1}: yardstick {w:.1f} s", flush=True)
                for name in names:
                    for v, co in variants.items():
                        out = tmp / "report"
                        if out.exists():
                            subprocess.run(["rm", "-rf", str(out)], check=True)
                        w, rss, _ = run(command_argv(name, tmp), env_for(co, name == "fit_cold", tmp), tmp)
                        times.setdefault((name, v), []).append((w, rss))
                        print(f"rep {rep + 1}: {name:<10} {v:<5} {w:6.1f} s  {rss:5.0f} MB", flush=True)
        finally:
            if args.vs and not Path(args.vs).is_dir():
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(variants["vs"])],
                               capture_output=True)
    ystick = statistics.median(w for w, _ in times[("yardstick", "")])
    load = os.getloadavg()
    print(f"\nmedians of {args.repeat}; yardstick {ystick:.1f} s; load average {load[0]:.1f} {load[1]:.1f} "
          f"{load[2]:.1f}; {os.cpu_count()} CPUs")
    head = "| command | target (s) | " + " | ".join(f"{v} (s) | {v} / yardstick | {v} peak RSS (MB)"
                                                   for v in variants) + " |"
    print(head)
    print("|" + " --- |" * (2 + 3 * len(variants)))
    for name in names:
        cells = []
        for v in variants:
            ws = [w for w, _ in times[(name, v)]]
            rss = max(r for _, r in times[(name, v)])
            med = statistics.median(ws)
            cells.append(f"{med:.1f} | {med / ystick:.2f} | {rss:.0f}")
        print(f"| `{' '.join(COMMANDS[name]).replace('{tmp}/', '')}`{' (cold)' if name == 'fit_cold' else ''} | "
              f"{TARGETS[name]} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
