"""Reproduce the seed paper's SSM results table from the shipped evidence models.

del Rey et al. (ESEM 2025, arXiv 2505.00816) aggregate 19 evidence models from
six studies with the Structured Synthesis Method.  This script runs
``metaquant.ssm`` on the shipped ``ssm2025`` data (the replication package's
figures) and writes, per property, the number of evidence models, the selected
label and its belief, the plausibility, the uncertainty m(Θ), the conflict K of
the last pairwise step and the largest K, the main final masses, and the
conclusion the paper states in words (the Evidence Factory's "proposed theory"
and the abstract), with whether they agree.

Outputs (overwritten on each run)::

    docs/results/ssm_table.csv, ssm_table.json, ssm_table.md
    docs/results/figures/ssm_masses_<property>.png

Run from the repository root (no installation needed)::

    python analyses/ssm_table.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

import metaquant as mq  # noqa: E402
from metaquant import api, ssm  # noqa: E402
from metaquant.outputs import atomic_write_text  # noqa: E402
from metaquant.present import plots  # noqa: E402

OUT = ROOT / "docs" / "results"
FIG = OUT / "figures"

#: What the paper states per property, in its own words, and the label code it implies.
#: Sources: the Evidence Factory synthesis page's "Proposed theory"
#: (evidencefactory.lens-ese.cos.ufrj.br/synthesis/editor/243422) and the paper's abstract
#: (arXiv 2505.00816v1); see docs/methods/ssm.md.
PUBLISHED = {
    "accuracy": ("weakly negative effects on accuracy (proposed theory; abstract: correctness weakly negative)",
                 "WN"),
    "storage_size": ("strongly positive effects on storage size", "SP"),
    "gpu_energy_consumption": ("strongly positive effects on GPU energy consumption", "SP"),
    "inference_power_draw": ("inference power draw is weakly positively affected", "WP"),
    "gpu_power_draw": ("{indiferent - weakly positive} effects for GPU power draw", "IF-WP"),
    "inference_latency": ("{indiferent - weakly positive} effects for inference latency", "IF-WP"),
    "f1_score": ("indifferent effect on F1 score (paper summary)", "IF"),
}


def main() -> pd.DataFrame:
    tab = mq.compute_effects(mq.load("ssm2025"))
    results = ssm.synthesize(tab)
    FIG.mkdir(parents=True, exist_ok=True)
    rows = []
    for r in results:
        d = api.clean(r.to_dict())
        top = sorted(d["masses"].items(), key=lambda kv: -kv[1])[:3]
        pub = PUBLISHED.get(r.property)
        models = r.models
        rows.append({
            "property": r.property,
            "n_models": r.n_models,
            "n_studies": int(models["study"].nunique()),
            "label_code": r.label_code,
            "label": r.label,
            "belief": round(r.belief, 4),
            "belief_pct": int(round(100 * r.belief)),
            "plausibility": round(r.plausibility, 4),
            "uncertainty": round(r.uncertainty, 6),
            "conflict_last": None if d["conflict_last"] is None else round(d["conflict_last"], 4),
            "conflict_max": None if d["conflict_max"] is None else round(d["conflict_max"], 4),
            "main_masses": ", ".join(f"{k} {v:.3f}" for k, v in top),
            "published": pub[0] if pub else "",
            "published_code": pub[1] if pub else "",
            "agrees": "" if not pub else ("yes" if pub[1] == r.label_code else "no"),
        })
        plots.save_figure(plots.masses_plot(r), FIG / f"ssm_masses_{r.property}.png", force=True)
    df = pd.DataFrame(rows)
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / "ssm_table.csv", df.to_csv(index=False), overwrite=True)
    atomic_write_text(OUT / "ssm_table.json", json.dumps(api.clean(rows), indent=2, ensure_ascii=False) + "\n",
                      overwrite=True)
    cols = ["property", "n_models", "label_code", "belief", "conflict_last", "conflict_max", "main_masses",
            "published_code", "agrees"]
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        md.append("| " + " | ".join("" if r[c] is None else str(r[c]) for c in cols) + " |")
    atomic_write_text(OUT / "ssm_table.md", "\n".join(md) + "\n", overwrite=True)
    return df


if __name__ == "__main__":
    with pd.option_context("display.width", 200, "display.max_colwidth", 40):
        print(main()[["property", "n_models", "label_code", "belief", "conflict_last", "published_code", "agrees"]]
              .to_string(index=False))
    print(f"wrote {OUT.relative_to(ROOT)}/ssm_table.{{csv,json,md}} and figures/ssm_masses_*.png")
