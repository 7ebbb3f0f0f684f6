"""Build ``data/ssm2025.csv`` from the seed paper's replication figures.

The figures are the per-precision groups of ``effects.json`` in the authors'
replication package (santidrj/model-quantization-aggregation at commit
bd6a60aa1df8f87c06683089378576cfec9c5221, Apache-2.0), a copy of which sits
in ``shared/data/ssm2025-replication/`` beside the project checkout.  This
script writes the project's own table (summary form, one row per evidence
model x property) with the study belief, precision, bits, technique, hardware,
number of units and a provenance string on every row.

Run from the repository root::

    python analyses/data/build_ssm2025.py [REPLICATION_DIR]
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

REPO = "santidrj/model-quantization-aggregation@bd6a60aa1df8f87c06683089378576cfec9c5221"

# Study belief B per study: constants of the replication package
# (src/data/papers/entities.py, BELIEF), see docs/methods/ssm.md.
STUDIES = {
    "paulEnergyEfficientRespiratoryAnomaly2022": dict(
        study="S1", belief=0.37333333333333335, model="1D-CNN", task="respiratory anomaly detection (SimBaby)",
        hardware="analytical estimate (QTools); host AMD Threadripper 3960X, 2x NVIDIA RTX 3090",
        technique="qat", baseline="fp64", n_units=None,
    ),
    "sathishVerifiableEnergyEfficient2022": dict(
        study="S2", belief=0.3939814814814815, model="ResNet-18; UNet-small; SUMNet; SaDNN",
        task="medical image classification (ChestX-ray8) and segmentation (MSD)",
        hardware="analytical estimate; host Intel Xeon Silver 4110, NVIDIA V100",
        technique="ptq-static", baseline="fp32", n_units={"accuracy": 2, "dsc": 2, None: 4},
    ),
    "taoExperimentalEnergyConsumption2022": dict(
        study="S3", belief=0.6429166666666667, model="ResNet-18", task="bird-call classification (Xeno-Canto)",
        hardware="STM32H7 Nucleo-144 microcontroller", technique="qat", baseline="fp32", n_units=None,
    ),
    "geensEnergyCostModelling2024": dict(
        study="S4", belief=0.185, model="Llama-2-7B", task="LLM inference (simulation)",
        hardware="accelerator cost model (simulation)", technique="weight-only", baseline="fp32", n_units=None,
    ),
    "gonzalezImpactMLOptimization2024": dict(
        study="S5", belief=0.7361083333333334, model="28 Hugging Face image classifiers",
        task="image classification (ImageNet variants, Food-101)",
        hardware="AMD Ryzen 9 7950X, NVIDIA RTX 4090", technique="ptq-dynamic", baseline="fp32",
        n_units={None: 28},
    ),
    "alizadehLanguageModelsSoftware2025": dict(
        study="S6", belief=0.7129601851851852, model="18 code LLMs (GGUF via Ollama)",
        task="software development tasks (HumanEvalPack)", hardware="2x AMD EPYC 7313, NVIDIA A100 80GB",
        technique="weight-only", baseline="fp16", n_units={None: 18},
    ),
}

UNITS = {
    "accuracy": ("accuracy", "%"),
    "f1_score": ("F1 score", "%"),
    "dsc": ("Dice similarity coefficient", "%"),
    "storage_size": ("model size", "as reported (bits, KB or MB)"),
    "inference_energy_consumption": ("energy per inference", "J"),
    "inference_power_draw": ("mean power", "W"),
    "inference_latency": ("inference time", "as reported (ms, clock cycles, s)"),
    "gpu_energy_consumption": ("GPU energy", "J"),
    "gpu_power_draw": ("mean GPU power", "W"),
    "gpu_utilization": ("GPU utilization", "%"),
    "gpu_memory_utilization": ("GPU memory utilization", "%"),
}


def bits_of(study: str, group: str) -> tuple[int, int, str]:
    """Weight bits, activation bits and the quantized precision label of a group."""
    if study == "S1":  # fixed-point q0.N for weights and activations
        n = int(group.split(".")[1])
        return n, n, f"w{n}a{n} ({group})"
    if study == "S3":  # "w-q0.16, a-fp32"
        w, a = (p.split("-", 1)[1] for p in group.split(", "))
        wb = 32 if w == "fp32" else int(w.split(".")[1])
        ab = 32 if a == "fp32" else int(a.split(".")[1])
        return wb, ab, f"w{wb}a{ab} ({group})"
    if study == "S4":  # "w-int4, a-fp16"
        w, a = (p.split("-", 1)[1] for p in group.split(", "))
        wb, ab = int(w.replace("int", "")), int(a.replace("fp", ""))
        return wb, ab, f"w{wb}a{ab}"
    if study in ("S2", "S5"):
        return 8, 8, "int8 (w8a8)"
    if study == "S6":
        n = int(group.replace("int", ""))
        return n, 16, f"int{n} (w{n}a16)"
    raise ValueError(study)


def main(src: Path) -> None:
    rows = []
    for key, meta in STUDIES.items():
        effects = json.loads((src / key / "effects.json").read_text())
        for group, props in effects.items():
            if group == "overall":
                continue
            wb, ab, qprec = bits_of(meta["study"], group)
            for prop, v in props.items():
                nmap = meta["n_units"]
                n = 1 if nmap is None else nmap.get(prop, nmap.get(None))
                metric, unit = UNITS[prop]
                notes = []
                if nmap is not None:
                    notes.append("n_units assumed from the study's model list (per-unit table not public)")
                if v.get("std") in (None, 0.0) and n == 1:
                    notes.append("single observation")
                rows.append({
                    "study": meta["study"],
                    "comparison": group,
                    "model": meta["model"],
                    "task": meta["task"],
                    "hardware": meta["hardware"],
                    "technique": meta["technique"],
                    "baseline_precision": meta["baseline"],
                    "quant_precision": qprec,
                    "bits": wb,
                    "act_bits": ab,
                    "property": prop,
                    "metric": metric,
                    "unit": unit,
                    "improvement_pct": v["improvement"],
                    "improvement_sd": "" if v.get("std") is None or n == 1 else v["std"],
                    "improvement_iqr": v["iqr"],
                    "n_units": n,
                    "study_belief": meta["belief"],
                    "provenance": f"{REPO} data/processed/{key}/effects.json [{group!r}][{prop!r}]",
                    "notes": "; ".join(notes),
                })
    out = Path(__file__).resolve().parents[2] / "data" / "ssm2025.csv"
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {len(rows)} rows to {out}")


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[3] / "shared" / "data" / "ssm2025-replication"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
