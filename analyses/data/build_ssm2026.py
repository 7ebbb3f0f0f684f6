"""Build ``data/ssm2026.csv``: the 21-study extension of the SSM quantization synthesis.

Source: the authors' replication package santidrj/model-quantization-aggregation (Apache-2.0), version 2.0 of the
journal extension (Zenodo 10.5281/zenodo.18401926).  Inputs, each pinned to the commit at which its text was read:

* ``data/processed/<paperKey>/effects_by_precision.json`` (one record per quantization method x precision
  configuration) and ``metadata.json`` of the 21 studies in the final synthesis, from the staging copy
  ``shared/data/ssm-extension/`` beside the project checkout (its PROVENANCE.md gives every commit);
* for six studies whose staging copy is older than the final synthesis (it still carries the n0 = 2 sample-size
  discount) the newer version read from the repository index and kept in ``analyses/data/ssm2026_sources/``
  (commits in :data:`REPLACED`);
* ``data/processed/evidence-factory-aggregation-order.txt`` (the 76 evidence models in the order the Evidence Factory
  combined them): the output rows are written in that order, so the SSM engine's default (file) order is the
  authors' aggregation order.

Every number in the output comes from those JSON files as read, except two kinds that the files do not hold and that
are named on each row: the study belief ``B`` and the study id, constants of the replication package's
``src/data/papers/entities.py`` (:data:`STUDIES`, copied from the commit in :data:`ENTITIES`), and the number of
cluster units ``n_units``, recovered from the stored sample-size discount ``alpha_n = round(1 - exp(-n/3), 3)`` as
the smallest whole ``n`` that reproduces it (a lower bound when ``alpha_n`` has saturated at 1.0).

The stored discounts, beliefs and intensities are the reference values of the reproduction; they go to
``tests/fixtures/ssm2026/models.csv``, not into the shipped data, so the engine recomputes them.

Run from the repository root::

    python analyses/data/build_ssm2026.py [STAGING_DIR]
"""

from __future__ import annotations

import csv
import json
import math
import re
import sys
from pathlib import Path

REPO = "santidrj/model-quantization-aggregation"
ROOT = Path(__file__).resolve().parents[2]
SOURCES = Path(__file__).resolve().parent / "ssm2026_sources"
ORDER_FILE = ("data/processed/evidence-factory-aggregation-order.txt", "adc69dc6901e727e1bd3cbb78230a804180430a8")
ENTITIES = ("src/data/papers/entities.py", "10b69416a19c0a1c1e476d7103e62c2c4e1d4a32")
N0 = 3.0
#: JSON metric keys whose name in metaquant's property registry differs.
PROPERTY_NAMES = {"mAP": "map", "mIoU": "miou", "mAP_5": "map_50", "mAP_5_95": "map_50_95"}

# Study id and study belief B (constants ID and BELIEF of each Paper class in src/data/papers/entities.py at
# ENTITIES[1]; the ids follow publication year, ADR 0005).
STUDIES = {
    "ajiCompressingNeuralMachine2020": ("S1", 0.6720820833333333),
    "denkingerImpactMemoryVoltage2020": ("S2", 0.44707958333333336),
    "barnellModelQuantizationSynthetic2021": ("S3", 0.6679141666666667),
    "dubhirBenchmarkingQuantizationLibraries2021": ("S4", 0.6670808333333333),
    "vasquezActivationDensityBased2021": ("S5", 0.3804154166666667),
    "xuMixedPrecisionLowBit2021": ("S6", 0.6720820833333333),
    "zhanFieldProgrammableGate2021": ("S7", 0.6816654166666667),
    "flichEfficientInferenceImageBased2022": ("S8", 0.6595820833333333),
    "paulEnergyEfficientRespiratoryAnomaly2022": ("S9", 0.37333333333333335),
    "sathishVerifiableEnergyEfficient2022": ("S10", 0.3939814814814815),
    "taoExperimentalEnergyConsumption2022": ("S11", 0.6587962962962963),
    "chenImplementingUltralightweightCoinference2023": ("S12", 0.67624875),
    "gonzalezImpactMLOptimization2025": ("S13", 0.7361083333333334),
    "alizadehLanguageModelsSoftware2025": ("S14", 0.7129601851851852),
    "alshammryQYOLOv5mQuantizationbasedApproach2025": ("S15", 0.6833308333333333),
    "deputterPOQThereParetoOptimal2025": ("S16", 0.4541629166666667),
    "guerroujQuantizedObjectDetection2025": ("S17", 0.6720808333333333),
    "khalilEnergyEfficientDeepLearning2025": ("S18", 0.6608320833333333),
    "koliEdgeAIPoweredSystem2025": ("S19", 0.6533320833333334),
    "krastevaImplementingDeepNeural2025": ("S20", 0.6762487500000001),
    "pengEfficientExpirationDate2025": ("S21", 0.6845808333333333),
}

# effects_by_precision.json: commit of the version used.  Staging files (shared/data/ssm-extension, PROVENANCE.md);
# REPLACED ones were re-read from the repository index because the staging copy predates the final synthesis.
EFFECTS_COMMIT = {
    "ajiCompressingNeuralMachine2020": "b038c52a3f3bde6615f517e70d0c966e2631cd75",
    "alizadehLanguageModelsSoftware2025": "8d92f1b6eb276563081eff4c6d9a14748d11479c",
    "alshammryQYOLOv5mQuantizationbasedApproach2025": "a560eab59f978e8ea5d10035e8ec134abaeda775",
    "barnellModelQuantizationSynthetic2021": "c5776974d333de48e6ff13bceb1b2ca416e6c3bc",
    "chenImplementingUltralightweightCoinference2023": "a560eab59f978e8ea5d10035e8ec134abaeda775",
    "deputterPOQThereParetoOptimal2025": "a560eab59f978e8ea5d10035e8ec134abaeda775",
    "flichEfficientInferenceImageBased2022": "c5776974d333de48e6ff13bceb1b2ca416e6c3bc",
    "gonzalezImpactMLOptimization2025": "a560eab59f978e8ea5d10035e8ec134abaeda775",
    "khalilEnergyEfficientDeepLearning2025": "8d92f1b6eb276563081eff4c6d9a14748d11479c",
    "pengEfficientExpirationDate2025": "a560eab59f978e8ea5d10035e8ec134abaeda775",
    "sathishVerifiableEnergyEfficient2022": "c5776974d333de48e6ff13bceb1b2ca416e6c3bc",
    "taoExperimentalEnergyConsumption2022": "a560eab59f978e8ea5d10035e8ec134abaeda775",
    "vasquezActivationDensityBased2021": "a560eab59f978e8ea5d10035e8ec134abaeda775",
    "xuMixedPrecisionLowBit2021": "c5776974d333de48e6ff13bceb1b2ca416e6c3bc",
    "zhanFieldProgrammableGate2021": "a560eab59f978e8ea5d10035e8ec134abaeda775",
}
REPLACED = {
    "denkingerImpactMemoryVoltage2020": "ee3b7764d4df5925b646e1ad4c3031540e868b35",
    "dubhirBenchmarkingQuantizationLibraries2021": "ee3b7764d4df5925b646e1ad4c3031540e868b35",
    "koliEdgeAIPoweredSystem2025": "ee3b7764d4df5925b646e1ad4c3031540e868b35",
    "paulEnergyEfficientRespiratoryAnomaly2022": "ee3b7764d4df5925b646e1ad4c3031540e868b35",
    "guerroujQuantizedObjectDetection2025": "c19182e0ab355ff85be7ef752019b53d2fdd38ff",
    "krastevaImplementingDeepNeural2025": "fcc214c019f05ea0a2c2828406e5dbdc131a8101",
}
EFFECTS_COMMIT.update(REPLACED)
NOT_PROVEN_NEWEST = {  # newest version located, consistent with the final rules, but later versions may exist
    "alizadehLanguageModelsSoftware2025", "barnellModelQuantizationSynthetic2021",
    "flichEfficientInferenceImageBased2022", "khalilEnergyEfficientDeepLearning2025",
    "sathishVerifiableEnergyEfficient2022", "xuMixedPrecisionLowBit2021", "krastevaImplementingDeepNeural2025",
}  # fmt: skip

METADATA_COMMIT = {
    "ajiCompressingNeuralMachine2020": "5a0e092d90c922877c8f43649cd3d1a354276b8b",
    "alizadehLanguageModelsSoftware2025": "5a0e092d90c922877c8f43649cd3d1a354276b8b",
    "alshammryQYOLOv5mQuantizationbasedApproach2025": "5a0e092d90c922877c8f43649cd3d1a354276b8b",
    "barnellModelQuantizationSynthetic2021": "a560eab59f978e8ea5d10035e8ec134abaeda775",
    "chenImplementingUltralightweightCoinference2023": "5a0e092d90c922877c8f43649cd3d1a354276b8b",
    "denkingerImpactMemoryVoltage2020": "5a0e092d90c922877c8f43649cd3d1a354276b8b",
    "deputterPOQThereParetoOptimal2025": "5a0e092d90c922877c8f43649cd3d1a354276b8b",
    "dubhirBenchmarkingQuantizationLibraries2021": "fcc214c019f05ea0a2c2828406e5dbdc131a8101",
    "flichEfficientInferenceImageBased2022": "a560eab59f978e8ea5d10035e8ec134abaeda775",
    "gonzalezImpactMLOptimization2025": "a560eab59f978e8ea5d10035e8ec134abaeda775",
    "guerroujQuantizedObjectDetection2025": "5a0e092d90c922877c8f43649cd3d1a354276b8b",
    "khalilEnergyEfficientDeepLearning2025": "fcc214c019f05ea0a2c2828406e5dbdc131a8101",
    "koliEdgeAIPoweredSystem2025": "fcc214c019f05ea0a2c2828406e5dbdc131a8101",
    "krastevaImplementingDeepNeural2025": "5a0e092d90c922877c8f43649cd3d1a354276b8b",
    "paulEnergyEfficientRespiratoryAnomaly2022": "5a0e092d90c922877c8f43649cd3d1a354276b8b",
    "pengEfficientExpirationDate2025": "ee3b7764d4df5925b646e1ad4c3031540e868b35",
    "sathishVerifiableEnergyEfficient2022": "a560eab59f978e8ea5d10035e8ec134abaeda775",
    "taoExperimentalEnergyConsumption2022": "fcc214c019f05ea0a2c2828406e5dbdc131a8101",
    "vasquezActivationDensityBased2021": "5a0e092d90c922877c8f43649cd3d1a354276b8b",
    "xuMixedPrecisionLowBit2021": "ee3b7764d4df5925b646e1ad4c3031540e868b35",
    "zhanFieldProgrammableGate2021": "a560eab59f978e8ea5d10035e8ec134abaeda775",
}

# Evidence-model labels of evidence-factory-aggregation-order.txt use the Evidence Factory's earlier precision names;
# each study's label -> (method or None, precision_configuration) of its JSON record.  Studies with a single record
# need none.  Tao's fp16/int8 are its 16- and 8-bit fixed-point encodings (q0.16, q0.8); Denkinger's fxp_W_A the
# entities.py renaming; the rest are read as written.
_WA = {"w8a8": "w-int8, a-int8", "w4a4": "w-int4, a-int4", "w2a2": "w-int2, a-int2", "w16a16": "w-fp16, a-fp16"}
_TAO = {"fp32": "fp32", "fp16": "q0.16", "int8": "q0.8", "q0.16": "q0.16"}
LABELS = {
    "S1": lambda q: (None, "w-log" + q.removesuffix("-bit")),
    "S2": lambda q: (None, {"fxp_8_16": "w-q0.8, a-q0.16", "fxp_4_32": "w-q0.4, a-q0.32",
                            "fxp_4_8": "w-q0.4, a-q0.8"}[q]),
    "S3": lambda q: (None, {"FP16": "w-fp16, a-fp16", "INT8": "w-int8, a-int8"}[q]),
    "S4": lambda q: (None, {"w-int8": "w-int8", "wa-int8": "w-int8, a-int8"}.get(q, "a-" + q)),
    "S6": lambda q: tuple(q.split(" ", 1)),
    "S9": lambda q: (None, "w-q0.{n}, a-q0.{n}".format(n=q.removesuffix("-bit"))),
    "S11": lambda q: (None, "w-{}, a-{}".format(*(_TAO[x] for x in re.fullmatch(r"weights (\S+) - activations (\S+)",
                                                                                q).groups()))),
    "S14": lambda q: (None, "w-int" + q.removesuffix("bit")),
    "S15": lambda q: (q.split()[1].lower(), _WA[q.split()[0]]),
    "S16": lambda q: (None, _WA.get(q, q)),
    "S17": lambda q: (None, {"fp16": "w-fp16, a-fp16", "int8": "w-int8, a-int8"}[q]),
    "S20": lambda q: (None, {"full model int8": "full-int8", "w8a8": "w-int8, a-int8"}[q]),
    "S21": lambda q: (None, _WA[q]),
}  # fmt: skip

_NORM = re.compile(r"[^a-z0-9]")


def _norm(title: str) -> str:
    return _NORM.sub("", title.lower())


def parse_order_line(line: str) -> tuple[str, str]:
    """(title, qualifier) of one aggregation-order line; the qualifier is '' for single-model studies."""
    m = re.fullmatch(r'Evidence based on the paper "(?P<body>.+?)"(?: \((?P<outer>.+) evidence\))?', line.strip())
    if not m:
        raise ValueError(f"unrecognised aggregation-order line: {line!r}")
    body, qual = m.group("body"), m.group("outer") or ""
    inner = re.fullmatch(r"(?P<title>.+) \((?P<q>.+) evidence\)", body)
    if inner:
        body, qual = inner.group("title"), inner.group("q")
    return body, qual


def n_from_alpha(alpha_n: float) -> tuple[int, bool]:
    """Smallest whole n with round(1 - exp(-n/3), 3) == alpha_n, and whether alpha_n has saturated."""
    for n in range(1, 200):
        if round(1 - math.exp(-n / N0), 3) == alpha_n:
            return n, round(1 - math.exp(-(n + 1) / N0), 3) == alpha_n
    raise ValueError(f"sample-size discount {alpha_n} is not of the form round(1 - exp(-n/3), 3)")


def _join(xs) -> str:
    if xs is None:
        return ""
    if isinstance(xs, str):
        return xs
    return "; ".join(str(x) for x in xs)


def _hardware(meta: dict) -> str:
    out = []
    for h in meta.get("hardware") or []:
        dev = h.get("device", {})
        head = dev.get("model") or dev.get("board") or dev.get("GPU") or dev.get("CPU") or "device"
        rest = [f"{k} {v}" for k, v in dev.items() if v and v != head and k not in ("model",)]
        out.append(head + (f" ({', '.join(rest)})" if rest else ""))
    return "; ".join(out) or "not reported"


def _side_bits(token: str) -> float | None:
    """Bits of one side of a canonical precision token (int8, fp16, q0.16, q12.4, log2)."""
    if m := re.fullmatch(r"(?:int|fp|log)(\d+)", token):
        return float(m.group(1))
    if m := re.fullmatch(r"q(\d+)\.(\d+)", token):  # fixed point Qm.n: m integer + n fractional bits
        return float(int(m.group(1)) + int(m.group(2)))
    return None


def bits_of(config: str, baseline: str) -> tuple[float | None, float | None]:
    """Weight and activation bits of a canonical precision configuration (ADR 0002 nomenclature)."""
    base = _side_bits(baseline.removeprefix("full-"))
    if config.startswith("full-"):
        b = _side_bits(config.removeprefix("full-"))
        return b, b
    if m := re.fullmatch(r"mixed-([\d.]+)", config):  # average bit width (ADR 0003)
        return float(m.group(1)), None
    if config == "mixed":
        return None, None
    parts = dict(p.split("-", 1) for p in config.split(", "))
    w = _side_bits(parts["w"]) if "w" in parts else base
    a = _side_bits(parts["a"]) if "a" in parts else base
    return w, a


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def main(staging: Path) -> None:
    order_lines = [ln for ln in (staging / "evidence-factory-aggregation-order.txt").read_text().splitlines()
                   if ln.strip()]
    records, metas = {}, {}
    for key in STUDIES:
        src = SOURCES if key in REPLACED else staging
        records[key] = json.loads((src / key / "effects_by_precision.json").read_text(encoding="utf-8"))
        metas[key] = json.loads((staging / key / "metadata.json").read_text(encoding="utf-8"))
    by_title = {_norm(m["title"]): k for k, m in metas.items()}
    placed: list[tuple[int, str, str, dict, str]] = []
    seen = set()
    for pos, line in enumerate(order_lines, start=1):
        title, qual = parse_order_line(line)
        key = by_title.get(_norm(title))
        if key is None:
            raise ValueError(f"aggregation-order line {pos}: no study with title {title!r}")
        sid = STUDIES[key][0]
        recs = records[key]
        if len(recs) == 1:
            rec = recs[0]
        else:
            method, config = LABELS[sid](qual)
            hits = [r for r in recs if r["precision_configuration"] == config
                    and (method is None or r["quantization_method"] == method)]
            if len(hits) != 1:
                raise ValueError(f"aggregation-order line {pos} ({sid} {qual!r}) matches {len(hits)} records")
            rec = hits[0]
        ident = (key, rec["quantization_method"], rec["precision_configuration"])
        if ident in seen:
            raise ValueError(f"aggregation-order line {pos} repeats {ident}")
        seen.add(ident)
        placed.append((pos, key, sid, rec, line.strip()))
    n_records = sum(len(r) for r in records.values())
    if len(placed) != n_records:
        raise ValueError(f"the aggregation order lists {len(placed)} evidence models, the files hold {n_records}")

    rows, refs = [], []
    for pos, key, sid, rec, line in placed:
        meta = metas[key]
        qs = meta.get("quantization_schema", {})
        em = meta.get("energy_measurement", {}) or {}
        baseline = qs.get("baseline_precision_configuration", "")
        method, config = rec["quantization_method"], rec["precision_configuration"]
        w, a = bits_of(config, baseline)
        commit = EFFECTS_COMMIT[key]
        path = f"data/processed/{key}/effects_by_precision.json"
        for prop, v in rec.items():
            if not isinstance(v, dict):
                continue
            if v.get("improvement") is None:  # e.g. S16 mIoU records whose fields are all null
                continue
            n, saturated = n_from_alpha(v["sample_size_discount"])
            notes = []
            if key in REPLACED:
                notes.append(f"effects file read at {commit[:8]} (the staging copy at c58de0ab is older than "
                             "the final synthesis)")
            if key in NOT_PROVEN_NEWEST:
                notes.append("newest effects version located, consistent with the final rules; not proven newest")
            notes.append(f"n_units = cluster units recovered from sample_size_discount {v['sample_size_discount']}"
                         + (" (saturated: a lower bound)" if saturated else ""))
            if v["std"] is None:
                notes.append("single cluster unit: no spread")
            if w is None and a is None:
                notes.append("bit widths not stated (mixed precision)")
            notes.append(f"study id and study_belief from {ENTITIES[0]}@{ENTITIES[1][:8]}")
            rows.append({
                "study": sid,
                "comparison": f"{method} {config}",
                "model": _join(meta.get("models")),
                "task": _join(meta.get("datasets")),
                "hardware": _hardware(meta),
                "technique": method,
                "baseline_precision": baseline,
                "quant_precision": config,
                "bits": _fmt(w),
                "act_bits": _fmt(a),
                "property": PROPERTY_NAMES.get(prop, prop),
                "metric": prop,
                "improvement_pct": v["improvement"],
                "improvement_sd": "" if v["std"] is None else v["std"],
                "improvement_iqr": v["iqr"],
                "n_units": n,
                "study_belief": STUDIES[key][1],
                "n_runs": em.get("repetitions", ""),
                "provenance": f"{REPO}@{commit} {path} [{method!r}, {config!r}][{prop!r}]",
                "notes": "; ".join(notes),
                "x_paper_key": key,
                "x_title": meta.get("title", ""),
                "x_study_type": meta.get("study_type", ""),
                "x_domain": meta.get("domain", ""),
                "x_data_quality": meta.get("data_quality", ""),
                "x_framework": _join(qs.get("frameworks")),
                "x_formats": _join(qs.get("formats")),
                "x_quantization_techniques": _join(qs.get("quantization_techniques")),
                "x_measurement_method": _join(em.get("measurement_method")),
                "x_measurement_tools": _join(em.get("software_tools")),
                "x_ef_position": pos,
                "x_ef_label": line.removeprefix("Evidence based on the paper "),
                "x_source_repo": REPO,
                "x_source_path": path,
                "x_source_commit": commit,
                "x_metadata_commit": METADATA_COMMIT[key],
            })
            refs.append({
                "study": sid, "comparison": f"{sid}|{method} {config}",
                "property": PROPERTY_NAMES.get(prop, prop), "ef_position": pos,
                "improvement": v["improvement"], "std": "" if v["std"] is None else v["std"], "iqr": v["iqr"],
                "sample_size_discount": v["sample_size_discount"], "variability_discount": v["variability_discount"],
                "discount_factor": v["discount_factor"], "p_value": v["p_value"], "belief": v["belief"],
                "intensity": v["intensity"], "source": f"{REPO}@{commit} {path}",
            })  # fmt: skip
    out = ROOT / "data" / "ssm2026.csv"
    with out.open("w", newline="", encoding="utf-8") as fh:
        wr = csv.DictWriter(fh, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)
    fx = ROOT / "tests" / "fixtures" / "ssm2026" / "models.csv"
    fx.parent.mkdir(parents=True, exist_ok=True)
    with fx.open("w", newline="", encoding="utf-8") as fh:
        fh.write("# Stored values of every evidence model x property of the 21 studies (effects_by_precision.json\n"
                 "# records as published, commit per row); written by analyses/data/build_ssm2026.py.\n")
        wr = csv.DictWriter(fh, fieldnames=list(refs[0]))
        wr.writeheader()
        wr.writerows(refs)
    print(f"wrote {len(rows)} rows ({len(placed)} evidence models, {len(STUDIES)} studies) to {out}")


if __name__ == "__main__":
    default = ROOT.parent / "shared" / "data" / "ssm-extension"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
