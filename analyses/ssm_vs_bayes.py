"""SSM against Bayesian and frequentist pooling on the seed paper's data.

For every property of the shipped ``ssm2025`` data this script runs the three
engines side by side (:func:`metaquant.workbench.compare.compare`: SSM as the paper;
the Bayesian model in PyMC with 4 chains of 1000 draws after 1000 tuning
steps and a fixed seed; REML on the rows with a known sampling variance) and
three analyses that explain where they part:

* the SSM belief splits (none / equitable / mass-preserving): how much of
  SSM's belief comes from counting one study's dependent models as
  independent sources;
* REML under ``missing_vi = drop`` and ``impute-max``: what the unknown
  variances do to classical pooling;
* leave one study out with all three engines.

Outputs (overwritten on each run)::

    docs/results/ssm_vs_bayes.json     every number
    docs/results/ssm_vs_bayes.csv      one row per property
    docs/results/ssm_vs_bayes.md       the comparison table
    docs/results/belief_splits.csv     SSM per belief split, and its agreement with the Bayesian label
    docs/results/reml_missing_vi.csv, loo.csv
    docs/results/figures/forest_<property>.png, posterior_<property>.png

Run from the repository root (no installation needed; about 7 minutes on two
cores the first time, when PyTensor compiles the models, and 1-2 minutes after)::

    python analyses/ssm_vs_bayes.py [--draws 1000] [--jobs 2]
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
from metaquant import api, scale  # noqa: E402
from metaquant.outputs import atomic_write_text  # noqa: E402
from metaquant.present import plots  # noqa: E402
from metaquant.spec import FitSpec, RunSettings  # noqa: E402
from metaquant.workbench import compare, sensitivity  # noqa: E402

OUT = ROOT / "docs" / "results"
FIG = OUT / "figures"
SEED = compare.DEFAULT_SEED


def _write(name: str, text: str) -> None:
    atomic_write_text(OUT / name, text, overwrite=True)


def main(draws: int = 1000, tune: int = 1000, chains: int = 4, jobs: int = 1) -> dict:
    t0 = time.time()
    tab = mq.compute_effects(mq.load("ssm2025"))
    props = list(dict.fromkeys(tab["property"]))
    FIG.mkdir(parents=True, exist_ok=True)
    results, belief_rows, reml_rows, loo_rows = [], [], [], []
    for p in props:
        t = mq.for_property(tab, p)
        print(f"{p}: comparing ({len(t)} rows)", flush=True)
        pc = compare.compare_property(t, seed=SEED, draws=draws, tune=tune, chains=chains)
        results.append(pc)
        # random-effects, rows independent: shows the nesting
        exact = compare.fit_bayesian(t, FitSpec(str(t["property"].iloc[0]), method="exact"))[0]
        fig = plots.forest_plot(t, reml=pc.frequentist if pc.frequentist.get("estimable") else None, bayes=pc.bayes,
                                exact=exact, ssm_models=pc.objects["ssm"].models)
        plots.save_figure(fig, FIG / f"forest_{p}.png", force=True)
        fig = plots.posterior_plot(pc.objects["bayes"], p, zone_probabilities=pc.bayes.get("zone_probabilities"),
                                   label_code=pc.bayes.get("label_code"))
        plots.save_figure(fig, FIG / f"posterior_{p}.png", force=True)
        bel = sensitivity.belief_policies(t, p)
        for r in bel.rows:
            belief_rows.append({"property": p, "belief_split": r["scenario"], "label_code": r["label_code"],
                                "belief": r["support"], "uncertainty": r["uncertainty"], "changed": r["changed"]})
        for policy in ("drop", "impute-max", "impute-median"):
            d = compare.fit_reml(t, missing_vi=policy)
            reml_rows.append({"property": p, "missing_vi": policy, "k": d.get("k"), "k_total": d.get("k_total"),
                              "pct": d.get("pct"), "pct_ci_low": d.get("pct_ci_low"),
                              "pct_ci_high": d.get("pct_ci_high"), "tau2": d.get("tau2"),
                              "label_code": d.get("label_code"), "estimable": d.get("estimable")})
        print(f"{p}: leave one study out", flush=True)
        loo = sensitivity.leave_one_out(t, p, settings=RunSettings.for_sweep(seed=SEED), jobs=jobs)
        for r in loo.rows:
            loo_rows.append({"property": p, **{k: r[k] for k in ("scenario", "engine", "k", "label_code", "support",
                                                                  "pct", "pct_low", "pct_high", "changed")}})
    comp = compare.Comparison(results, settings={"missing_vi": "drop", "method_bayes": "bayes", "seed": SEED,
                                                 "draws": draws, "tune": tune, "chains": chains})
    bayes_label = {pc.property: pc.bayes.get("label_code") for pc in results}
    for r in belief_rows:  # SSM under each belief split against the (unchanged) Bayesian label
        r["bayes_label_code"] = bayes_label[r["property"]]
        r["agreement_with_bayes"] = scale.classify_labels(r["label_code"], r["bayes_label_code"])
    split_agreement = (pd.DataFrame(belief_rows).groupby("belief_split")["agreement_with_bayes"].value_counts()
                       .unstack(fill_value=0).reindex(columns=list(scale.STATUSES), fill_value=0))
    summary = comp.summary()
    doc = {"settings": comp.settings, "comparison": comp.to_dict(), "belief_splits": belief_rows,
           "belief_split_agreement": {k: {c: int(v) for c, v in row.items()}
                                      for k, row in split_agreement.to_dict("index").items()},
           "reml_missing_vi": reml_rows, "loo": loo_rows, "seconds": round(time.time() - t0, 1)}
    OUT.mkdir(parents=True, exist_ok=True)
    _write("ssm_vs_bayes.json", json.dumps(api.clean(doc), indent=2, ensure_ascii=False) + "\n")
    _write("ssm_vs_bayes.csv", summary.to_csv(index=False))
    _write("belief_splits.csv", pd.DataFrame(belief_rows).to_csv(index=False))
    _write("reml_missing_vi.csv", pd.DataFrame(reml_rows).to_csv(index=False))
    _write("loo.csv", pd.DataFrame(loo_rows).to_csv(index=False))

    def f(v, fmt):
        return "" if v is None or pd.isna(v) else format(v, fmt)

    md = ["| property | SSM (Bel) | Bayes (P) | Bayes pooled % [95% CrI] | REML % [95% CI] (k/rows) | REML label | "
          "agreement | where they part |", "|---|---|---|---|---|---|---|---|"]
    for r in summary.to_dict("records"):
        md.append(
            f"| {r['property']} | {r['ssm_label']} ({f(r['ssm_belief'], '.3f')}) | {r['bayes_label']} "
            f"({f(r['bayes_probability'], '.3f')}) | {f(r['bayes_pct'], '+.1f')} [{f(r['bayes_pct_low'], '+.1f')}, "
            f"{f(r['bayes_pct_high'], '+.1f')}] | "
            + (f"{f(r['reml_pct'], '+.1f')} [{f(r['reml_pct_low'], '+.1f')}, {f(r['reml_pct_high'], '+.1f')}] "
               f"({r['reml_k']}/{r['k_total']})" if r["reml_label"] else f"not estimable (0/{r['k_total']})")
            + f" | {r['reml_label'] or '—'} | {r['agreement']} | {r['reason']} |")
    _write("ssm_vs_bayes.md", "\n".join(md) + "\n")
    print(compare.format_comparison(comp))
    print("\nSSM under each belief split against the Bayesian label (number of properties):")
    print(split_agreement.to_string())
    print(f"done in {time.time() - t0:.0f} s; wrote docs/results/ssm_vs_bayes.* and figures")
    return doc


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=1)
    a = ap.parse_args()
    main(a.draws, a.tune, a.chains, a.jobs)
