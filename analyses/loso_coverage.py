"""Does pooled evidence help someone decide?  Leave each source table out, predict its rows.

For every shipped corpus (``llmq``, ``benchmarks``) and property with at least three source tables (studies), each
table is left out in turn; the exact Bayesian engine (random effects, unknown sampling variances modelled by the
residual scale ``sigma_resid``) is fitted on the others and its predictive distribution is read for the held-out rows:

* the 95 % interval of a new study's effect (``theta_new``: between-study spread only), and
* the 95 % interval of a new *row* (normal approximation with variance ``sd(mu)^2 + E[tau^2] + E[sigma_resid^2]``,
  since a held-out row carries its own within-study noise, which the rows without a variance do not state).

Reported per corpus and property: rows, coverage of both intervals (nominal 95 %), and the share of held-out rows
whose SSM label (of the row's own relative improvement) equals the label of the predicted median.  Writes
``docs/results/loso_coverage.csv`` and ``docs/results/loso_coverage.md``.

Run: ``python analyses/loso_coverage.py`` (about a minute).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import pandas as pd

import metaquant as mq
from metaquant import scale
from metaquant.evidence import schema
from metaquant.evidence.effects import pct_from_log
from metaquant.outputs import atomic_write_text
from metaquant.present.tables import format_table
from metaquant.spec import FitSpec

OUT = Path(__file__).resolve().parents[1] / "docs" / "results"
Z = 1.959963984540054


def _e_square(d: dict, name: str) -> float:
    m, s = d.get(f"{name}_mean"), d.get(f"{name}_sd")
    return 0.0 if m is None else float(m) ** 2 + float(s or 0.0) ** 2


def held_out(train: pd.DataFrame, test: pd.DataFrame, prop: str) -> pd.DataFrame:
    """The held-out rows with their predictive intervals and labels."""
    res = mq.fit(train, prop, spec=FitSpec(prop, method="exact"))
    d = res.to_dict()
    hib = bool(schema.get_property(prop).higher_is_better)
    th = schema.get_property(prop).thresholds
    sd_row = math.sqrt(float(d["mu_sd"]) ** 2 + _e_square(d, "tau") + _e_square(d, "sigma_resid"))
    mid = float(d["mu_median"])
    y = test["yi"].to_numpy(float)
    out = pd.DataFrame({
        "yi": y,
        "in_study_pi": (y >= d["pi_low"]) & (y <= d["pi_high"]),
        "in_row_pi": (y >= mid - Z * sd_row) & (y <= mid + Z * sd_row),
    })
    pred_label = scale.label_from_pct(float(pct_from_log(mid, hib)), th)
    out["label_hit"] = [scale.label_from_pct(float(p), th) == pred_label for p in pct_from_log(y, hib)]
    return out


def run(corpus: str) -> list[dict]:
    table = mq.effect_table(corpus)
    rows = []
    for prop, t in table.groupby("property", sort=True):
        studies = sorted(t["study"].unique())
        if len(studies) < 3:
            continue
        parts = []
        for s in studies:
            part = held_out(t[t["study"] != s].reset_index(drop=True), t[t["study"] == s], prop)
            part["study"] = s
            parts.append(part)
        allp = pd.concat(parts, ignore_index=True)
        rows.append({"corpus": corpus, "property": prop, "tables": len(studies), "rows": len(allp),
                     "coverage_new_study_pi": float(allp["in_study_pi"].mean()),
                     "coverage_new_row_pi": float(allp["in_row_pi"].mean()),
                     "label_predicted": float(allp["label_hit"].mean()),
                     "worst_table_row_coverage": float(allp.groupby("study")["in_row_pi"].mean().min())})
    return rows


def main() -> int:
    t0 = time.perf_counter()
    rows = run("llmq") + run("benchmarks")
    df = pd.DataFrame(rows)
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(OUT / "loso_coverage.csv", df.to_csv(index=False, float_format="%.4f"), overwrite=True)
    md = format_table(df, "markdown")
    atomic_write_text(OUT / "loso_coverage.md", md, overwrite=True)
    print(df.to_string(index=False))
    print(f"{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
