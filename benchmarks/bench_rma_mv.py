"""Benchmark of the multilevel REML fit (``metaquant.classical.rma_mv.rma_mv``) against metafor's ``rma.mv``
(on demand).

    python benchmarks/bench_rma_mv.py            # full run, prints JSON
    python benchmarks/bench_rma_mv.py --quick    # fewer repetitions and sizes
    python benchmarks/bench_rma_mv.py --no-r     # without Rscript

What is measured (wall seconds, medians over repetitions, in the same run):

1. The whole benchmarks corpus (295 rows, 9 source tables; ``tests/fixtures/metafor_mv/bench_all.csv``),
   ``random = study/es``, one moderator (bits): ours without and with the profile-likelihood
   intervals of the variance components, metafor ``rma.mv`` (default control) without and with
   ``confint``, timed inside R (``system.time``, so R's start-up is excluded).
2. Cost against k and the number of clusters: simulated three-level data with ``n_clusters``
   clusters of ``k / n_clusters`` rows each, for k in 50..1000 and 5..50 clusters, fit only.

The ratio is metafor's median over ours (> 1: ours is faster).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from metaquant.classical.rma_mv import rma_mv  # noqa: E402

R_TIMER = r"""
suppressMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); reps <- as.integer(args[2]); withci <- args[3] == "1"; mods <- args[4] == "1"
d$es <- seq_len(nrow(d))
f <- function() {
  r <- if (mods) rma.mv(yi, vi, mods = ~ bits, random = ~ 1 | study/es, data = d)
       else rma.mv(yi, vi, random = ~ 1 | study/es, data = d)
  if (withci) invisible(confint(r))
  r
}
f()
t <- sapply(seq_len(reps), function(i) system.time(f())[["elapsed"]])
cat(median(t), "\n")
"""


def _median_time(fn, reps: int) -> float:
    fn()  # warm-up (imports, caches)
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def _r_time(csv: Path, reps: int, withci: bool, mods: bool) -> float | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_TIMER)
        script = fh.name
    out = subprocess.run(
        ["Rscript", script, str(csv), str(reps), "1" if withci else "0", "1" if mods else "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return float(out.stdout.split()[-1])
    except (IndexError, ValueError):
        return None


def _simulate(k: int, n_clusters: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    study = np.repeat(np.arange(n_clusters), int(np.ceil(k / n_clusters)))[:k]
    vi = rng.uniform(0.005, 0.05, k)
    yi = 0.1 + rng.normal(0, 0.2, n_clusters)[study] + rng.normal(0, 0.1, k) + rng.normal(0, np.sqrt(vi))
    return pd.DataFrame({"study": study, "yi": yi, "vi": vi, "bits": rng.choice([2, 4, 8], k)})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--out")
    a = ap.parse_args()
    reps = 3 if a.quick else 7
    report: dict = {"python": platform.python_version(), "machine": platform.machine(), "reps": reps}
    corpus = ROOT / "tests" / "fixtures" / "metafor_mv" / "bench_all.csv"
    d = pd.read_csv(corpus)
    d["es"] = np.arange(len(d))
    mods = d[["bits"]].to_numpy(float)
    section = {"k": len(d), "clusters": int(d["study"].nunique())}
    for ci in (False, True):
        ours = _median_time(
            lambda ci=ci: rma_mv(d["yi"], d["vi"], random="study/es", data=d, mods=mods, profile=ci), reps
        )
        theirs = None if a.no_r else _r_time(corpus, reps, ci, True)
        key = "fit_and_ci" if ci else "fit"
        section[key] = {"metaquant_s": ours, "metafor_s": theirs, "ratio": None if theirs is None else theirs / ours}
    report["benchmarks_corpus"] = section
    sizes = (
        [(50, 5), (200, 10), (500, 25)] if a.quick else [(50, 5), (100, 10), (200, 10), (300, 9), (500, 25), (1000, 50)]
    )
    scaling = []
    for k, n in sizes:
        sim = _simulate(k, n)
        ours = _median_time(
            lambda sim=sim: rma_mv(sim["yi"], sim["vi"], random=[sim["study"], np.arange(len(sim))], profile=False),
            reps,
        )
        theirs = None
        if not a.no_r:
            with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as fh:
                sim.to_csv(fh.name, index=False)
                theirs = _r_time(Path(fh.name), reps, False, False)
        scaling.append(
            {
                "k": k,
                "clusters": n,
                "metaquant_s": ours,
                "metafor_s": theirs,
                "ratio": None if theirs is None else theirs / ours,
            }
        )
    report["scaling"] = scaling
    text = json.dumps(report, indent=2)
    print(text)
    if a.out:
        Path(a.out).write_text(text)


if __name__ == "__main__":
    main()
