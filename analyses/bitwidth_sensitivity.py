"""How the conclusions change with the bit-width and with SSM's cut-points.

For every property of the shipped ``ssm2025`` data with at least two
bit-widths this script pools per weight bit-width with SSM, the Bayesian
model and REML and fits the meta-regression of the log ratio on
``log2(bits)`` (REML on the rows with a known variance, the Bayesian PyMC
model on every row); for every property it reads SSM, the Bayesian posterior
and REML's point estimate with SSM's cut-points scaled ×0.5, ×0.75, ×1,
×1.25, ×1.5 and ×2.

Outputs (overwritten on each run)::

    docs/results/bitwidth.json          every number
    docs/results/bitwidth_levels.csv    one row per property × bit-width × engine
    docs/results/bitwidth_slopes.csv    the slopes on log2(bits), REML and Bayes
    docs/results/thresholds.csv         one row per property × factor × engine
    docs/results/figures/bits_<property>.png

Run from the repository root (no installation needed; about 25 minutes on
two cores the first time, when PyTensor compiles the models, 2-3 minutes after)::

    python analyses/bitwidth_sensitivity.py [--draws 500] [--jobs 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

import metaquant as mq  # noqa: E402
from metaquant import api  # noqa: E402
from metaquant.outputs import atomic_write_text  # noqa: E402
from metaquant.present import plots, report  # noqa: E402
from metaquant.spec import RunSettings  # noqa: E402
from metaquant.workbench import compare, sensitivity  # noqa: E402

OUT = ROOT / "docs" / "results"
FIG = OUT / "figures"
SEED = compare.DEFAULT_SEED


def _write(name: str, text: str) -> None:
    atomic_write_text(OUT / name, text, overwrite=True)


def main(draws: int = 500, tune: int = 500, chains: int = 2, jobs: int = 1) -> dict:
    t0 = time.time()
    tab = mq.compute_effects(mq.load("ssm2025"))
    FIG.mkdir(parents=True, exist_ok=True)
    level_rows, slope_rows, thr_rows, by_docs, thr_docs = [], [], [], {}, {}
    run = RunSettings(draws=draws, tune=tune, chains=chains, seed=SEED)
    kw = dict(settings=run, jobs=jobs)
    for p in dict.fromkeys(tab["property"]):
        t = mq.for_property(tab, p)
        if t["bits"].nunique() >= 2:
            print(f"{p}: by bits", flush=True)
            res = sensitivity.by_moderator(t, p, "bits", **kw)
            by_docs[p] = res.to_dict()
            for r in res.rows:
                level_rows.append({"property": p, "bits": r["scenario"].split("=")[1], "rows": r.get("rows"),
                                   **{k: r[k] for k in ("engine", "k", "label_code", "support", "pct", "pct_low",
                                                        "pct_high", "changed", "note")}})
            s = res.regression.get("slope") or {}
            reml, bay = s.get("reml") or {}, s.get("bayes") or {}
            slope_rows.append({
                "property": p, "reml_k": res.regression["reml"].get("k"), "reml_slope": reml.get("estimate"),
                "reml_ci_low": reml.get("ci_low"), "reml_ci_high": reml.get("ci_high"), "reml_p": reml.get("p"),
                "reml_note": res.regression["reml"].get("reason"), "bayes_k": res.regression["bayes"].get("k"),
                "bayes_slope": bay.get("mean"), "bayes_ci_low": bay.get("ci_low"),
                "bayes_ci_high": bay.get("ci_high"), "bayes_note": res.regression["bayes"].get("reason")})
            band = report.bayes_bits_band(t, run)
            plots.save_figure(plots.bits_plot(t, bayes_band=band), FIG / f"bits_{p}.png", force=True)
        print(f"{p}: thresholds", flush=True)
        thr = sensitivity.threshold_scaling(t, p, **kw)
        thr_docs[p] = thr.to_dict()
        for r in thr.rows:
            thr_rows.append({"property": p, **{k: r[k] for k in ("factor", "engine", "label_code", "support", "pct",
                                                                  "changed")}})
    doc = {"settings": {"seed": SEED, "draws": draws, "tune": tune, "chains": chains}, "by_bits": by_docs,
           "slopes": slope_rows, "thresholds": thr_docs, "seconds": round(time.time() - t0, 1)}
    OUT.mkdir(parents=True, exist_ok=True)
    _write("bitwidth.json", json.dumps(api.clean(doc), indent=2, ensure_ascii=False) + "\n")
    _write("bitwidth_levels.csv", pd.DataFrame(level_rows).to_csv(index=False))
    _write("bitwidth_slopes.csv", pd.DataFrame(slope_rows).to_csv(index=False))
    _write("thresholds.csv", pd.DataFrame(thr_rows).to_csv(index=False))
    with pd.option_context("display.width", 200):
        print(pd.DataFrame(slope_rows)[["property", "reml_k", "reml_slope", "reml_ci_low", "reml_ci_high",
                                        "bayes_slope", "bayes_ci_low", "bayes_ci_high"]].to_string(index=False))
        wide = pd.DataFrame(thr_rows).pivot_table(index=["property", "engine"], columns="factor",
                                                  values="label_code", aggfunc="first")
        print(wide.to_string())
    print(f"done in {time.time() - t0:.0f} s; wrote docs/results/bitwidth*.{{json,csv}}, thresholds.csv, figures")
    return doc


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--tune", type=int, default=500)
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=1)
    a = ap.parse_args()
    main(a.draws, a.tune, a.chains, a.jobs)
