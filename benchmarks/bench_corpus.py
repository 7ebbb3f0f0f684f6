"""Speed and memory of the engines on the large corpus (run on demand: ``python benchmarks/bench_corpus.py``).

For ``llmq`` accuracy (thousands of rows, nested in source tables) the Bayesian multilevel meta-regression on
``log2(bits)`` and the technique (default sampler, 4 chains x 1000 draws) and, for the rows with a known sampling
variance, the classical multilevel REML fit; each at growing subsets of the rows (k), in a fresh process so that the
peak resident memory is the fit's own.  Medians of ``--repeat`` runs; ``--quick`` for fewer draws.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import metaquant as mq
from metaquant.spec import FitSpec, RunSettings
from metaquant.fitting import fit_table
data, prop, k, method, draws = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
t = mq.for_property(mq.effect_table(data), prop)
t = t.sample(n=min(k, len(t)), random_state=1).reset_index(drop=True) if k < len(t) else t
mods = ("bits", "technique") if method == "bayes" else ("bits",)
spec = FitSpec(prop, method=method, moderators=mods, variance_policy=None if method == "bayes" else "drop")
t0 = time.perf_counter()
res = fit_table(t, spec, RunSettings(draws=draws, tune=draws, chains=4, profile=False))
dt = time.perf_counter() - t0
d = res.to_dict()
print(json.dumps({"k": len(t), "studies": int(t["study"].nunique()), "seconds": dt, "ok": bool(res.ok),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "model": d.get("model")}))
"""


def run_one(data: str, prop: str, k: int, method: str, draws: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, data, prop, str(k), method, str(draws)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="4 x 300 draws and fewer sizes")
    args = ap.parse_args()
    draws = 300 if args.quick else 1000
    cases = [("llmq", "accuracy", k, "bayes") for k in ((500, 5904) if args.quick else (500, 2000, 5904))]
    cases += [("benchmarks", "perplexity", 67, "reml"), ("llmq", "throughput", 119, "reml")]
    rows = []
    for data, prop, k, method in cases:
        runs = [run_one(data, prop, k, method, draws) for _ in range(args.repeat)]
        rows.append({"data": data, "property": prop, "method": method, "k": runs[0]["k"],
                     "studies": runs[0]["studies"], "model": runs[0]["model"],
                     "median_seconds": statistics.median(r["seconds"] for r in runs),
                     "peak_rss_mb": max(r["rss_mb"] for r in runs), "ok": all(r["ok"] for r in runs)})
        print(json.dumps(rows[-1]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
