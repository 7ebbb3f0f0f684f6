"""Benchmark of the bias-adjusted ensemble ``metaquant.bayes.bma.fit_bma`` (run on demand; not a test).

    python benchmarks/bench_bma.py                           # ssm2025 accuracy, 3 repetitions
    python benchmarks/bench_bma.py --before /path/to/older/checkout --out bench_bma.json
    python benchmarks/bench_bma.py --property inference_latency --repeat 5

Every fit runs in a fresh Python process (imports excluded from the timing), as ``metaquant fit
--method bma`` does: model builds and NUTS compilations are included; PyTensor's on-disk C and
Numba caches are as they are.  The configurations of one repetition run back to back, so they
see the same load; the report gives the median over the repetitions of wall and CPU seconds.

* ``exact`` -- the default, ``fit_bma(table)``: every member of the default ensemble by quadrature (or in
  closed form; the 9 selection members with an effect or heterogeneity on the Laplace-centred grid of
  ``metaquant.bayes.gridquad``); a member beyond the grid would be sampled by PyMC NUTS + bridge sampling,
  and the plain member then bridge-sampled as well (the live check of bridge sampling against quadrature);
* ``bridge`` -- ``fit_bma(table, marginal_likelihood="bridge")``: every member by PyMC + bridge
  sampling, the 14 tractable ones also by quadrature (their gaps are reported);
* ``before`` -- with ``--before PATH``: ``fit_bma(table)`` of the metaquant checkout at PATH (an
  older version), timed in the same run.

``--cold`` gives every fit an empty PyTensor cache (the one-time cost of a fresh install), and a
configuration suffixed ``:C`` compiles with PyTensor's C backend instead of Numba.

Per member: seconds (median over repetitions), how its marginal likelihood was computed, whether
it compiled a model, bulk ESS, divergences, bridge-sampling error and, where available, the gap
between bridge sampling and quadrature.  The repetitions use the same seed; the report says
whether they gave identical marginal likelihoods and model-averaged estimates.  PyMC chains run
one after the other on one core (``cores=1``, the default).
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("name", "seconds", "log_ml_method", "compiled", "r_hat_max", "ess_bulk_min", "divergences", "log_ml",
        "log_ml_error", "log_ml_exact", "log_ml_gap", "post_prob", "bridge_check")


def _child(root: str, prop: str, config: str) -> None:
    """One fit in this process; prints a JSON line."""
    sys.path.insert(0, root)
    import pymc  # noqa: F401  (import outside the timing)

    import metaquant as mq
    from metaquant.bayes import bma

    table = mq.for_property(mq.compute_effects(mq.load("ssm2025")), prop)
    table = table[table["vi_known"]].reset_index(drop=True)  # the ensemble's policy on the road: drop
    config, _, backend = config.partition(":")
    if backend:  # e.g. "exact:C": PyTensor's C backend instead of Numba
        bma.PYTENSOR_MODE = backend
    kw = {"marginal_likelihood": "bridge"} if config == "bridge" else {}
    load = os.getloadavg()[0]
    c0, t0 = time.process_time(), time.perf_counter()
    res = bma.fit_bma(table, **kw)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    out = {"config": config, "root": root, "wall_s": wall, "cpu_s": cpu, "load_before": load,
           "load_after": os.getloadavg()[0], "n_members": len(res.members), "ok": res.ok,
           "settings": res.settings, "diagnostics": res.diagnostics, "inclusion": res.inclusion, "mu": res.mu,
           "label_plain": res.label_plain, "label_ensemble": res.label_ensemble,
           "members": [{k: m.get(k) for k in KEYS} for m in res.members]}
    print("BENCH " + json.dumps(mq.outputs.json_safe(out)))


def _run(root: str, prop: str, config: str, cold: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--child", root, "--property", prop, "--config", config]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if cold:  # an empty PyTensor cache (C and Numba): what a fresh install pays once
        env["PYTENSOR_FLAGS"] = f"base_compiledir={tempfile.mkdtemp(prefix='bench_bma_')}"
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"{config} failed:\n{p.stderr[-3000:]}")
    return json.loads(line[6:])


def _same(runs: list[dict]) -> bool:
    """Whether the repetitions gave identical marginal likelihoods and model-averaged mu."""
    ref = runs[0]
    return all([m["log_ml"] for m in r["members"]] == [m["log_ml"] for m in ref["members"]]
               and r["mu"] == ref["mu"] for r in runs[1:])


def _summary(runs: list[dict]) -> dict:
    med = statistics.median
    names = [m["name"] for m in runs[0]["members"]]
    per = []
    for i, name in enumerate(names):
        ms = [r["members"][i] for r in runs]
        m0 = ms[0]
        per.append({"name": name, "seconds": med(m["seconds"] for m in ms), "method": m0["log_ml_method"],
                    "compiled": m0["compiled"], "ess_bulk_min": m0["ess_bulk_min"], "divergences": m0["divergences"],
                    "log_ml_error": (m0["bridge_check"] or {}).get("log_ml_error", m0["log_ml_error"]),
                    "log_ml_gap": m0["log_ml_gap"], "bridge_check": m0["bridge_check"] is not None})
    by = {}
    for p in per:
        key = "mcmc" if p["method"] == "bridge" else "quadrature" if p["method"] == "quadrature" else p["method"]
        key += " + bridge check" if p["bridge_check"] else ""
        by.setdefault(key, []).append(p["seconds"])
    return {"wall_s": med(r["wall_s"] for r in runs), "cpu_s": med(r["cpu_s"] for r in runs),
            "wall_runs": [r["wall_s"] for r in runs], "cpu_runs": [r["cpu_s"] for r in runs],
            "n_members": runs[0]["n_members"], "ok": [r["ok"] for r in runs], "reproducible": _same(runs),
            "bridge_re_max": runs[0]["diagnostics"]["bridge_re_max"],
            "bridge_vs_exact_max": runs[0]["diagnostics"]["bridge_vs_exact_max"],
            "compilations": runs[0]["settings"].get("compilations"),
            "inclusion_bf": {k: v["bf"] for k, v in runs[0]["inclusion"].items()}, "mu": runs[0]["mu"],
            "label_plain": runs[0]["label_plain"]["selected"], "label_ensemble": runs[0]["label_ensemble"]["selected"],
            "per_kind": {k: {"n": len(v), "seconds_total": sum(v), "seconds_each_median": med(v)}
                         for k, v in by.items()},
            "members": per}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--property", default="accuracy")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--configs", default="exact,bridge",
                    help="comma-separated: exact, bridge; a suffix :C uses PyTensor's C backend (exact:C)")
    ap.add_argument("--cold", action="store_true", help="every fit with an empty PyTensor cache")
    ap.add_argument("--before", default=None, help="an older metaquant checkout, timed in the same run")
    ap.add_argument("--out", default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--config", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        _child(a.child, a.property, a.config)
        return
    plan = [(str(ROOT), c) for c in a.configs.split(",")]
    if a.before:
        plan.insert(0, (str(Path(a.before).resolve()), "before"))
    report = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                          "load_start": os.getloadavg()}, "property": a.property, "repeat": a.repeat, "runs": {}}
    for rep in range(a.repeat):
        for root, config in plan:
            r = _run(root, a.property, config, a.cold)
            report["runs"].setdefault(config, []).append(r)
            print(f"[{rep + 1}/{a.repeat}] {config:<7} {r['wall_s']:6.1f} s wall {r['cpu_s']:6.1f} s CPU  "
                  f"load {r['load_before']:.2f}-{r['load_after']:.2f}", flush=True)
    report["machine"]["load_end"] = os.getloadavg()
    report["summary"] = {c: _summary(rs) for c, rs in report["runs"].items()}
    for c, s in report["summary"].items():
        print(f"\n{c}: median {s['wall_s']:.1f} s wall, {s['cpu_s']:.1f} s CPU over {a.repeat} "
              f"(wall {', '.join(f'{w:.1f}' for w in s['wall_runs'])}); {s['n_members']} members, "
              f"{s['wall_s'] / s['n_members']:.2f} s per member; compilations {s['compilations']}; "
              f"reproducible {s['reproducible']}; ok {s['ok']}")
        print(f"  bridge RE max {s['bridge_re_max']:.4f}, |bridge - quadrature| max {s['bridge_vs_exact_max']:.4f}; "
              f"BF {', '.join(f'{k} {v:.3f}' for k, v in s['inclusion_bf'].items())}; "
              f"labels {s['label_plain']} -> {s['label_ensemble']}")
        for k, v in s["per_kind"].items():
            print(f"  {k:<28} {v['n']:2d} members, {v['seconds_total']:6.1f} s, "
                  f"median {v['seconds_each_median']:.2f} s")
        for m in s["members"]:
            gap = m["log_ml_gap"]
            print(f"    {m['name']:<46} {m['seconds']:6.2f} s  {m['method']:<11} "
                  f"{'compiled ' if m['compiled'] else '         '}"
                  f"ESS {m['ess_bulk_min'] if m['ess_bulk_min'] is not None else float('nan'):6.0f}  "
                  f"div {m['divergences']}  RE {m['log_ml_error']:.4f}" + (f"  gap {gap:+.4f}" if gap is not None
                                                                          else ""))
    if a.out:
        Path(a.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
