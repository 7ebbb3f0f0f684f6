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

``python analyses/loso_coverage.py --predict`` measures instead the calibration ``metaquant predict`` prints
(:func:`metaquant.workbench.predict.loso_calibration`) at the settings of docs/results.md, before and after the
location-scale default: the homoscedastic REML model (one tau²) against the location-scale REML model whose scale
moderators are predict's default (:func:`~metaquant.workbench.predict.default_scale_moderators`), overall and on
the held-out rows at the setting.  Writes ``docs/results/predict_calibration.csv`` and ``.md`` (a few seconds).

``python analyses/loso_coverage.py --conditioned`` measures the same calibration on the rows *of* each setting
(rows filtered to it) with the covariates a practitioner knows as moderators (model and task family, runtime, ...:
:data:`CONDITIONED_CASES`), one tau² per fit.  Writes ``docs/results/predict_conditioned.csv`` and ``.md``.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
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


#: The settings of docs/results.md's calibration table: (corpus, property, setting).
PREDICT_CASES = (
    ("benchmarks", "accuracy", {"bits": 8}),
    ("benchmarks", "accuracy", {"bits": 8, "act_bits": 8}),
    ("zooq", "accuracy", {"bits": 8, "act_bits": 8}),
    ("llmq", "accuracy", {"bits": 4}),
    ("llmq", "accuracy", {"bits": 4, "act_bits": 16}),
    ("llmq", "accuracy", {"bits": 4, "technique": "weight-only"}),
)


#: docs/results.md's first calibration table: (label, corpus, property, rows kept, what the practitioner knows).
CONDITIONED_CASES = (
    ("llmq, 8-bit weights (W8A8/W8A16)", "llmq", "accuracy", {"bits": 8},
     ("act_bits", "model_family", "task_family")),
    ("llmq, 4-bit weights", "llmq", "accuracy", {"bits": 4}, ("act_bits", "model_family", "task_family")),
    ("llmq, all bit-widths", "llmq", "accuracy", {},
     ("bits", "act_bits", "kv_bits", "technique", "model_family", "task_family", "params")),
    ("benchmarks, 8 bits", "benchmarks", "accuracy", {}, ("bits",)),
    ("benchmarks, W8A8 (rows with act_bits)", "benchmarks", "accuracy", {}, ("bits", "act_bits")),
    ("zooq, 8-bit weights (W8A8/W8A16)", "zooq", "accuracy", {"bits": 8}, ("act_bits", "runtime", "task_family")),
)


def conditioned_calibration() -> pd.DataFrame:
    """Leave-one-source-out calibration on the rows of each setting, conditioned on what a practitioner knows."""
    from metaquant.fitting import property_rows
    from metaquant.workbench.predict import covariate_column, default_moderators, loso_calibration, prepare_rows

    out = []
    for label, corpus, prop, keep, knows in CONDITIONED_CASES:
        table = mq.effect_table(corpus)
        rows = property_rows(table, prop)
        for k, v in keep.items():
            col = covariate_column(rows, k)
            rows = rows[pd.to_numeric(rows[col], errors="coerce") == v]
        at = {covariate_column(rows, k): None for k in knows}
        mods = default_moderators({c: None for c in at})
        rows, mods, _, _ = prepare_rows(rows.reset_index(drop=True), {}, mods)
        c = loso_calibration(rows, mods, prop)
        out.append({"data, setting": label, "moderators": ", ".join(mods), "rows": c["rows"],
                    "predicted": c["predicted"], "coverage_pct": _pct(c["coverage"]),
                    "median_width_pp": None if c["median_width_pp"] is None else round(c["median_width_pp"], 1)})
    return pd.DataFrame(out)


def _pct(x) -> float | None:
    return None if x is None else round(100 * float(x), 1)


def predict_calibration() -> pd.DataFrame:
    """What ``metaquant predict`` prints as its calibration, with one tau² and with the location-scale default."""
    from metaquant.fitting import property_rows
    from metaquant.workbench.predict import (
        at_setting,
        covariate_column,
        default_moderators,
        default_scale_moderators,
        loso_calibration,
        prepare_rows,
    )

    out = []
    for corpus, prop, asked in PREDICT_CASES:
        table = mq.effect_table(corpus)
        at = {covariate_column(table, k): v for k, v in asked.items()}
        rows, mods, _, _ = prepare_rows(property_rows(table, prop), at, default_moderators(at))
        here = rows[at_setting(rows, at)]["yi"].to_numpy(dtype=float)
        hib = bool(schema.get_property(prop).higher_is_better)
        lo, hi = (float(pct_from_log(q, hib)) for q in np.percentile(here, [2.5, 97.5]))
        spread = {"sd_log_ratio_at_setting": round(float(np.std(here, ddof=1)), 3),
                  "middle_95pct_of_rows_pp": round(abs(hi - lo), 1),
                  "min_pct_at_setting": round(float(np.min(pct_from_log(here, hib))), 1),
                  "max_pct_at_setting": round(float(np.max(pct_from_log(here, hib))), 1)}
        for model, zmods in (("one tau²", ()), ("location-scale", default_scale_moderators(rows, mods, at))):
            c = loso_calibration(rows, mods, prop, scale_moderators=zmods, at=at)
            a = c["at"]
            out.append({"corpus": corpus, "property": prop,
                        "setting": ", ".join(f"{k}={v}" for k, v in asked.items()), "model": model,
                        "moderators": " + ".join(mods), "scale": " + ".join(zmods) or "1", "sources": c["sources"],
                        "rows": c["rows"], "predicted": c["predicted"], "coverage_pct": _pct(c["coverage"]),
                        "median_width_pp": round(c["median_width_pp"], 1), "rows_at_setting": a["predicted"],
                        "coverage_at_setting_pct": _pct(a["coverage"]),
                        "median_width_at_setting_pp": None if a["median_width_pp"] is None
                        else round(a["median_width_pp"], 1), **spread})
    return pd.DataFrame(out)


def main() -> int:
    t0 = time.perf_counter()
    if "--conditioned" in sys.argv[1:]:
        df = conditioned_calibration()
        OUT.mkdir(parents=True, exist_ok=True)
        atomic_write_text(OUT / "predict_conditioned.csv", df.to_csv(index=False), overwrite=True)
        atomic_write_text(OUT / "predict_conditioned.md", format_table(df, "markdown"), overwrite=True)
        print(df.to_string(index=False))
        print(f"{time.perf_counter() - t0:.1f} s")
        return 0
    if "--predict" in sys.argv[1:]:
        df = predict_calibration()
        OUT.mkdir(parents=True, exist_ok=True)
        atomic_write_text(OUT / "predict_calibration.csv", df.to_csv(index=False), overwrite=True)
        atomic_write_text(OUT / "predict_calibration.md", format_table(df, "markdown"), overwrite=True)
        print(df.to_string(index=False))
        print(f"{time.perf_counter() - t0:.1f} s")
        return 0
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
