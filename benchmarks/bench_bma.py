"""Benchmark of the bias-adjusted ensemble ``metaquant.bayes.bma.fit_bma`` (run on demand; not a test).

    python benchmarks/bench_bma.py                       # ssm2025 accuracy, default settings
    python benchmarks/bench_bma.py --property inference_latency --draws 1000 --tune 500
    python benchmarks/bench_bma.py --out bench_bma.json  # also keep the report

What is measured (wall and CPU seconds of one process, PyMC's NUTS, chains run one after
the other on one core):

* the whole ensemble (default 24 members: effect x heterogeneity x {none, three selection
  models, PET, PEESE}), *cold* (first call in the process: six model builds and NUTS
  compilations included; PyTensor's on-disk C cache as it is) and *warm* (a second call:
  the compiled models are reused), with ``marginal_likelihood="bridge"`` (every member by
  PyMC + bridge sampling); then *exact* (warm, ``marginal_likelihood="exact"``: the 12
  tractable members by quadrature, the 12 selection members by PyMC + bridge sampling);
* per member: sampling + bridge sampling + quadrature seconds, whether the member compiled a
  model, R-hat, bulk ESS, divergences, bridge-sampling error and, where tractable, the gap
  between bridge sampling and quadrature;
* the machine's load average before and after (the machine is shared; a loaded machine makes
  every number larger).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import metaquant as mq  # noqa: E402
from metaquant.bayes import bma  # noqa: E402


def _run(table, **kw) -> dict:
    c0, t0 = time.process_time(), time.perf_counter()
    res = bma.fit_bma(table, **kw)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    members = [{k: m.get(k) for k in ("name", "seconds", "compiled", "r_hat_max", "ess_bulk_min", "divergences",
                                      "log_ml", "log_ml_error", "log_ml_exact", "log_ml_gap", "post_prob")}
               for m in res.members]
    return {"wall_s": wall, "cpu_s": cpu, "n_members": len(res.members), "ok": res.ok,
            "diagnostics": res.diagnostics, "inclusion": res.inclusion, "label_plain": res.label_plain,
            "label_ensemble": res.label_ensemble, "members": members}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--property", default="accuracy")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--no-warm", action="store_true", help="skip the second (warm) call")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    table = mq.for_property(mq.compute_effects(mq.load("ssm2025")), a.property)
    kw = {"draws": a.draws, "tune": a.tune, "chains": a.chains}
    report = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "load_before": os.getloadavg()}, "property": a.property, "settings": kw}
    report["cold"] = _run(table, **kw)
    if not a.no_warm:
        report["warm"] = _run(table, **kw)
        report["exact"] = _run(table, marginal_likelihood="exact", **kw)
    report["machine"]["load_after"] = os.getloadavg()
    for which in ("cold", "warm", "exact"):
        if which in report:
            r = report[which]
            print(f"{which}: {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU, {r['n_members']} members, "
                  f"{r['wall_s'] / r['n_members']:.2f} s per member, ok={r['ok']}")
    print("per member (warm)" if "warm" in report else "per member (cold)")
    for m in report.get("warm", report["cold"])["members"]:
        gap = m["log_ml_gap"]
        print(f"  {m['name']:<48} {m['seconds']:6.2f} s  ESS {m['ess_bulk_min'] or float('nan'):7.0f}  "
              f"div {m['divergences']:3d}  RE {m['log_ml_error']:.3f}  "
              + (f"gap {gap:+.4f}" if gap is not None else ""))
    if a.out:
        Path(a.out).write_text(json.dumps(mq.outputs.json_safe(report), indent=1))


if __name__ == "__main__":
    main()
