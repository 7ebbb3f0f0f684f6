"""Benchmark of loading, validation and effect sizes (run on demand; not a test).

    python benchmarks/bench_io.py                  # 100k and 1M rows, 3 repetitions each
    python benchmarks/bench_io.py --quick          # 10k and 100k rows, 1 repetition
    python benchmarks/bench_io.py --rows 200000 --reps 5 --out bench_io.json

What is measured: a measurement-form CSV (study, property, both means with sd
and n, bits, technique; about 55 bytes a row, so 1 million rows is about
55 MB) is written once per size; then, per repetition, a fresh Python process
runs ``metaquant.load(path)`` and ``metaquant.compute_effects`` on it and
reports its peak resident set size (``resource.getrusage(...).ru_maxrss``, the
whole process: interpreter, numpy, pandas and pyarrow included) and the wall
seconds of the two calls.  A fresh process per repetition keeps one run's
peak from hiding the next.  The baseline RSS of a process that only imports
metaquant is reported beside it, so that the cost of the data itself is the
difference.  Medians over repetitions.

Target: 1 million rows within 1 GB peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
import metaquant as mq
t0 = time.perf_counter()
if sys.argv[1] != "-":
    ev = mq.load(sys.argv[1])
    tab = mq.compute_effects(ev)
    n = len(tab)
else:
    n = 0
wall = time.perf_counter() - t0
print(json.dumps({"rows": n, "wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

PROPS = ("accuracy", "perplexity", "inference_latency", "storage_size", "throughput")
TECH = ("ptq-static", "ptq-dynamic", "qat", "weight-only")


def write_csv(path: Path, rows: int, seed: int = 1) -> int:
    """A measurement-form file of ``rows`` distinct rows; returns its size in bytes."""
    import numpy as np

    rng = np.random.default_rng(seed)
    base = rng.uniform(0.5, 2.0, rows)
    quant = base * rng.uniform(0.8, 1.2, rows)
    sd_b, sd_q = base * rng.uniform(0.001, 0.05, rows), quant * rng.uniform(0.001, 0.05, rows)
    n = rng.integers(3, 30, rows)
    bits = rng.choice([2, 3, 4, 8], rows)
    with path.open("w", encoding="utf-8") as fh:
        fh.write("study,property,baseline_mean,baseline_sd,baseline_n,quant_mean,quant_sd,quant_n,bits,technique\n")
        for i in range(rows):
            fh.write(
                f"S{i // 4},{PROPS[i % 5]},{base[i]:.5f},{sd_b[i]:.4f},{n[i]},{quant[i]:.5f},{sd_q[i]:.4f},{n[i]},"
                f"{bits[i]},{TECH[i % 4]}\n"
            )
    return path.stat().st_size


def run_child(path: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, path], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="*", default=None, help="table sizes (default 100000 1000000)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions per size (default 3)")
    ap.add_argument("--quick", action="store_true", help="10k and 100k rows, one repetition")
    ap.add_argument("--out", type=Path, default=None, help="also write the report as JSON")
    a = ap.parse_args(argv)
    sizes = a.rows or ([10_000, 100_000] if a.quick else [100_000, 1_000_000])
    reps = a.reps or (1 if a.quick else 3)
    report = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "baseline_import_rss_mb": statistics.median(run_child("-")["peak_rss_mb"] for _ in range(reps)),
        "sizes": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for rows in sizes:
            p = Path(tmp) / f"rows{rows}.csv"
            size = write_csv(p, rows)
            runs = [run_child(str(p)) for _ in range(reps)]
            assert all(r["rows"] == rows for r in runs)
            report["sizes"].append(
                {
                    "rows": rows,
                    "csv_mb": round(size / 2**20, 1),
                    "reps": reps,
                    "peak_rss_mb_median": round(statistics.median(r["peak_rss_mb"] for r in runs), 1),
                    "peak_rss_mb_max": round(max(r["peak_rss_mb"] for r in runs), 1),
                    "wall_s_median": round(statistics.median(r["wall_s"] for r in runs), 2),
                }
            )
            print(json.dumps(report["sizes"][-1]), flush=True)
    print(json.dumps(report, indent=2))
    if a.out:
        a.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
