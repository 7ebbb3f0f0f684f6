"""Do the seed paper's conclusions hold on the broader benchmark corpus, and where do they break as bits fall?

The seed paper (six studies, 19 evidence models) concludes that quantization weakly harms accuracy,
strongly shrinks storage and improves latency and energy.  This script pools the shipped
``benchmarks`` corpus (published llama.cpp, Intel Neural Compressor, OpenVINO NNCF, TensorFlow
Lite, PyTorch and NVML tables; confounded rows excluded) per property and per nominal bit-width:

* the exact Bayesian random-effects engine within each bit-width (unknown sampling variances get a
  residual scale, so rows without a spread are modelled, not dropped);
* the multilevel Bayesian meta-regression on bit-width as categories (comparisons nested in
  studies), one MCMC fit per property;
* beside them, the seed paper's labels (SSM on ssm2025).

Outputs go to ``docs/results/benchmarks_bitwidth.csv``, ``.json`` and one figure per property.
Run from the repository root: ``python analyses/benchmarks_bitwidth.py [--draws N]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import metaquant as mq  # noqa: E402
from metaquant import api, ssm  # noqa: E402
from metaquant.scale import label_name  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "results"
PROPERTIES = ["accuracy", "perplexity", "storage_size", "inference_latency", "gpu_energy_consumption", "throughput"]
SEED_CLAIM = {
    "accuracy": "weakly negative",
    "perplexity": "(not in the seed paper; a correctness metric like accuracy)",
    "storage_size": "strongly positive",
    "inference_latency": "positive (paper text); SSM rule gives indifferent - weakly positive",
    "gpu_energy_consumption": "strongly positive (paper); SSM rule gives positive - strongly positive",
    "throughput": "(not in the seed paper; the mirror of latency)",
}


def by_bits_exact(table: pd.DataFrame) -> list[dict]:
    rows = []
    for b, sub in sorted(table.groupby("bits"), key=lambda kv: -kv[0]):
        res = api.fit(sub.reset_index(drop=True), str(sub["property"].iloc[0]), method="exact").to_dict()
        rows.append(
            {
                "property": sub["property"].iloc[0],
                "bits": float(b),
                "k": len(sub),
                "n_studies": int(sub["study"].nunique()),
                "k_with_variance": int(sub["vi_known"].sum()),
                "pct_mean": res["pct_mean"],
                "pct_ci_low": res["pct_ci_low"],
                "pct_ci_high": res["pct_ci_high"],
                "label_code": res["label_code"],
                "label_probability": res["label_probability"],
                "raw_median_pct": float(sub["pct"].median()),
            }
        )
    return rows


def regression(table: pd.DataFrame, draws: int, seed: int) -> dict | None:
    if table["bits"].nunique() < 2:
        return None
    t0 = time.perf_counter()
    res = api.fit(table, str(table["property"].iloc[0]), moderators=["bits:cat"], draws=draws, tune=draws, chains=4,
                  seed=seed)
    d = res.to_dict()
    d["predictions"] = res.predictions
    d["wall_seconds"] = time.perf_counter() - t0
    return d


def figure(prop: str, rows: list[dict], path: Path) -> None:
    df = pd.DataFrame(rows).sort_values("bits")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    x = np.arange(len(df))
    ax.errorbar(
        x,
        df["pct_mean"],
        yerr=[df["pct_mean"] - df["pct_ci_low"], df["pct_ci_high"] - df["pct_mean"]],
        fmt="o",
        color="C0",
        capsize=3,
        label="pooled (exact, 95% CrI)",
    )
    ax.scatter(x + 0.12, df["raw_median_pct"], marker="x", color="C3", label="median of raw figures")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(x, [f"{b:g}" for b in df["bits"]])
    ax.set_xlabel("nominal weight bits")
    ax.set_ylabel("relative improvement (%)\n+ = quantization helps")
    for xi, (_, r) in zip(x, df.iterrows(), strict=True):
        ax.annotate(
            f"{r['label_code']}\n{r['label_probability']:.2f}",
            (xi, r["pct_ci_high"]),
            textcoords="offset points",
            xytext=(0, 4),
            ha="center",
            fontsize=7,
        )
    ax.set_title(f"{prop}: benchmarks corpus by bit-width")
    lo = np.nanmin(np.r_[df["pct_ci_low"], df["raw_median_pct"]])
    floor = max(lo, -150) - 10
    ax.set_ylim(floor, None)
    for xi, (_, r) in zip(x, df.iterrows(), strict=True):
        if r["pct_mean"] < floor:  # off the scale: say where it is
            ax.annotate(
                f"{r['pct_mean']:.0f} %\n(off scale)\n{r['label_code']}",
                (xi, floor),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize=7,
                color="C0",
            )
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=20251123)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    table = api.effect_table("benchmarks")
    seed_ssm = {r.property: r for r in ssm.synthesize(mq.compute_effects(mq.load("ssm2025")))}
    all_rows, summary = [], []
    for prop in PROPERTIES:
        sub = table[table["property"] == prop].reset_index(drop=True)
        if sub.empty:
            continue
        rows = by_bits_exact(sub)
        all_rows += rows
        figure(prop, rows, OUT / f"benchmarks_bits_{prop}.png")
        pooled = api.fit(sub, str(sub["property"].iloc[0]), draws=args.draws, tune=args.draws, seed=args.seed).to_dict()
        reg = regression(sub, args.draws, args.seed)
        s = seed_ssm.get(prop)
        summary.append(
            {
                "property": prop,
                "k": len(sub),
                "n_studies": int(sub["study"].nunique()),
                "bits": sorted({float(b) for b in sub["bits"]}),
                "seed_paper": SEED_CLAIM[prop],
                "seed_ssm_label": None if s is None else f"{s.label} ({s.label_code}, Bel {s.belief:.3f})",
                "pooled_all_bits": {
                    k: pooled[k]
                    for k in (
                        "model",
                        "pct_mean",
                        "pct_ci_low",
                        "pct_ci_high",
                        "label_code",
                        "label_probability",
                        "r_hat_max",
                        "ess_bulk_min",
                        "divergences",
                    )
                },
                "pooled_label": label_name(pooled["label_code"]),
                "regression_bits_categorical": None
                if reg is None
                else {
                    k: reg[k]
                    for k in (
                        "model",
                        "coefficients",
                        "predictions",
                        "r_hat_max",
                        "ess_bulk_min",
                        "divergences",
                        "wall_seconds",
                    )
                },
                "by_bits": rows,
            }
        )
        regtxt = (
            "single bit-width: no regression"
            if reg is None
            else f"regression {reg['wall_seconds']:.1f} s, divergences {reg['divergences']}, "
            f"R-hat {reg['r_hat_max']:.3f}"
        )
        print(
            f"{prop}: k={len(sub)}, pooled {pooled['pct_mean']:+.2f} % {pooled['label_code']} "
            f"(p={pooled['label_probability']:.2f}); {regtxt}",
            flush=True,
        )
        for p in [] if reg is None else reg["predictions"]:
            print(
                f"   multilevel at {p['level']:g} bits: {p['pct']:+.2f} % [{p['pct_ci_low']:+.2f}, "
                f"{p['pct_ci_high']:+.2f}] {p['label_code']} p={p['label_probability']:.2f}"
            )
        for r in rows:
            print(
                f"   {r['bits']:>4g} bits k={r['k']:>3}: {r['pct_mean']:+8.2f} % "
                f"[{r['pct_ci_low']:+.2f}, {r['pct_ci_high']:+.2f}] {r['label_code']:<6} p={r['label_probability']:.2f}"
                f"  (raw median {r['raw_median_pct']:+.2f} %)"
            )
    pd.DataFrame(all_rows).to_csv(OUT / "benchmarks_bitwidth.csv", index=False)
    (OUT / "benchmarks_bitwidth.json").write_text(json.dumps(api.clean(summary), indent=2) + "\n")
    print(f"wrote {OUT / 'benchmarks_bitwidth.csv'} and figures")


if __name__ == "__main__":
    main()
