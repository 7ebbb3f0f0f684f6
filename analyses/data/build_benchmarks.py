"""Build ``data/benchmarks.csv`` from published quantization benchmark tables.

The input is the extraction table ``quant_external.csv`` kept with the project's
research notes (``shared/research/`` beside the checkout): 350 baseline-vs-quantized
figures copied verbatim from nine source tables (llama.cpp, Intel Neural Compressor,
OpenVINO NNCF, TensorFlow Lite, a PyTorch tutorial and an NVML energy study), each
with its source reference.  This script writes the project's own table in the
*measurements* form (docs/data-format.md), one row per comparison x property:

* ``study`` is the source table, ``comparison`` a readable id unique within the
  study and property, ``source`` the repository, file and commit;
* properties are mapped onto the registry (GPU-side NVML energy and power go to
  ``gpu_energy_consumption`` and ``gpu_power_draw``; mAP and mIoU to ``map`` and
  ``miou``); accuracy-like values given as fractions are rescaled to percent with
  exact decimal arithmetic, so every accuracy-like property is in % throughout;
* ``technique`` is one of the registry ids (``ptq-static``, ``ptq-dynamic``,
  ``weight-only``, ``qat``, ``binarization``, ``other``), the algorithm itself in
  ``x_algorithm``; ``bits`` is the nominal weight bit-width (llama.cpp types: the
  leading digit; NNCF's mixed INT8/INT4 models: 4) and ``x_bpw`` the effective
  bits per weight where the source gives or implies it;
* rows sharing one baseline measurement share ``baseline_group``;
* llama.cpp's standard errors over tokens are stored verbatim (``x_baseline_se``,
  ``x_quant_se``) and as sd = 2·SE with a nominal n = 4, so that the log response
  ratio's variance sd²/(n·mean²) equals SE²/mean² bit for bit (scaling by a power
  of two is exact in binary floating point);
* comparisons that change something besides the precision are flagged
  ``confounded`` with the reason in ``notes``.

Only two kinds of figure are not copied verbatim: the 16 NNCF baselines that the
source gives only as "quantized + drop" (summed exactly, ``x_baseline_derived``)
and the unit rescaling above.  The 18 llama.cpp model-size rows that repeat a file
size for several importance matrices of one quantization type are kept once.

Run from the repository root::

    python analyses/data/build_benchmarks.py [EXTRACTION_CSV] [OUTPUT_CSV]
"""

from __future__ import annotations

import csv
import math
import re
import sys
from collections import OrderedDict
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_INPUT = ROOT.parent / "shared" / "research" / "quant_external.csv"
DEFAULT_OUTPUT = ROOT / "data" / "benchmarks.csv"

#: Study order in the output (the order of docs/data-benchmarks.md).
STUDIES = (
    "LLAMACPP_PPL_L3_8B",
    "LLAMACPP_PPL_L2_70B",
    "LLAMACPP_README_2023",
    "INC_LLM_RECIPES",
    "INC_SMOOTHQUANT",
    "NNCF_MODELZOO",
    "TFLITE_MODELOPT",
    "PYTORCH_BERT_DYNQ",
    "ECOCOMPUTE_NVML",
)

#: The reference written to ``source``; every one names a commit.  The extraction's
#: reference for the 2023 llama.cpp README table named no commit; the table was found
#: verbatim in a stored fork of the repository at the commit given here.
SOURCES = {
    "LLAMACPP_PPL_L3_8B": "crusaderky/llama.cpp:tools/perplexity/README.md@73f6cfa30454317a3aa13e482beb4e5fff3deaa6 "
    "(fork of ggml-org/llama.cpp; 'LLaMA 3 8b Scoreboard', llama.cpp revision f364eb6f)",
    "LLAMACPP_PPL_L2_70B": "ggerganov/llama.cpp:examples/perplexity/README.md@0a21ad6e3f457f81ad6af43b95856bf7064a9ef9 "
    "('Llama 2 70B Scorechart')",
    "LLAMACPP_README_2023": "PabloGSJ/llama.cpp_TFG2024:README.md@35ad5531bec791abbc5fd73061f09d74fdbfe227 "
    "(fork carrying ggerganov/llama.cpp's README section 'Quantization', table marked '(outdated)')",
    "INC_LLM_RECIPES": "intel/neural-compressor:docs/source/llm_recipes.md@9d27743705af66a66aafae7fb1d19e2ffad6b2a2",
    "INC_SMOOTHQUANT": "intel/neural-compressor:docs/source/smooth_quant.md@9d27743705af66a66aafae7fb1d19e2ffad6b2a2",
    "NNCF_MODELZOO": "openvinotoolkit/nncf:docs/ModelZoo.md@edb4ed3cae4833efc911e0a6a8abd5f717c63537",
    "TFLITE_MODELOPT": "tensorflow/tensorflow:tensorflow/lite/g3doc/performance/model_optimization.md"
    "@12d0626fdcab874214eb6755f6469133eda4725f",
    "PYTORCH_BERT_DYNQ": "pytorch/tutorials:intermediate_source/dynamic_quantization_bert_tutorial.rst"
    "@0310be69c9e2adc6aad448a361c482ba8cb1a70a",
    "ECOCOMPUTE_NVML": "hongping-zh/ecocompute-dynamic-eval:metadata/COMPLETE_DATASET_MEMO.md"
    "@06bbcdd03739dd746cf35867ecf5993022b8319e",
}

#: Extraction property names -> registry names (ECOCOMPUTE measures the GPU through NVML).
PROPERTY = {
    "accuracy": "accuracy",
    "f1": "f1_score",
    "perplexity": "perplexity",
    "storage_size": "storage_size",
    "latency": "inference_latency",
    "throughput": "throughput",
    "energy": "gpu_energy_consumption",
    "power": "gpu_power_draw",
}
HIGHER_IS_BETTER = {
    "accuracy": True, "f1_score": True, "map": True, "miou": True, "perplexity": False, "storage_size": False,
    "inference_latency": False, "throughput": True, "gpu_energy_consumption": False, "gpu_power_draw": False,
}  # fmt: skip

COLUMNS = (
    "study", "comparison", "model", "task", "hardware", "technique", "granularity", "baseline_precision",
    "quant_precision", "bits", "act_bits", "property", "metric", "unit", "higher_is_better", "baseline_mean",
    "baseline_sd", "baseline_n", "quant_mean", "quant_sd", "quant_n", "n_runs", "baseline_group", "confounded",
    "source", "provenance", "notes", "x_extract_row", "x_algorithm", "x_framework", "x_bpw", "x_batch_size",
    "x_threads", "x_imatrix", "x_baseline_se", "x_quant_se", "x_delta_ppl", "x_delta_ppl_se", "x_kld", "x_kld_se",
    "x_baseline_derived", "x_reported_ratio", "x_reported_delta_pct", "x_reported_drop", "x_original_unit",
)  # fmt: skip

SE_NOTE = (
    "spread: standard errors over tokens from one evaluation pass (verbatim in x_baseline_se, x_quant_se), "
    "stored as sd = 2*SE with nominal n = 4 so that sd^2/n = SE^2; the arms are evaluated on the same tokens, so "
    "the independent-arms variance overstates the uncertainty of the ratio (paired dPPL SE in x_delta_ppl_se)"
)


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------


def fmt(d: Decimal) -> str:
    """Plain decimal string without exponent or trailing zeros (``Decimal('70.0')`` -> ``'70'``)."""
    return f"{d.normalize():f}"


def percent(fraction: str) -> str:
    """A fraction given as a decimal string, times 100, exactly."""
    return fmt(Decimal(fraction) * 100)


def parse_spread(text: str) -> dict[str, str]:
    """``'baseline_se=0.037828; quant_se=0.037878'`` -> ``{'baseline_se': '0.037828', ...}`` (empty values dropped)."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, _, val = part.partition("=")
        if val.strip():
            out[key.strip()] = val.strip()
    return out


def bpw_from_sizes(quant_size: str, f16_size: str) -> str:
    """Effective bits per weight from file sizes: 16·q/b, two decimals."""
    return f"{16 * float(quant_size) / float(f16_size):.2f}"


def llamacpp_family(qtype: str) -> str:
    q = qtype.lower()
    if q.startswith("iq"):
        return "llama.cpp i-quant"
    if "_k" in q:
        return "llama.cpp k-quant"
    return "llama.cpp legacy block quant"


def new_row(raw: dict, **kw) -> dict:
    """An output row with the columns every source shares filled from the extraction row."""
    prop = kw.pop("property")
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        study=raw["source_id"],
        model=raw["model"],
        task=raw["task"],
        property=prop,
        higher_is_better=str(HIGHER_IS_BETTER[prop]).lower(),
        baseline_precision=raw["baseline_precision"].lower(),
        quant_precision=raw["quant_precision"],
        bits=raw["bits"],
        baseline_mean=raw["baseline_value"],
        quant_mean=raw["quant_value"],
        confounded="false",
        source=SOURCES[raw["source_id"]],
        x_extract_row=raw["_row"],
    )
    notes = kw.pop("notes", [])
    row.update(kw)
    row["notes"] = "; ".join(n for n in notes if n)
    return row


def check_direction(raw: dict, prop: str) -> None:
    if (raw["higher_is_better"] == "True") != HIGHER_IS_BETTER[prop]:
        raise ValueError(f"extraction row {raw['_row']}: higher_is_better disagrees with the registry for {prop}")


# --------------------------------------------------------------------------
# one function per source table
# --------------------------------------------------------------------------

_L3_TECH = re.compile(r"GGUF (\S+); imatrix=(.+)$")
_L3_NOTE = re.compile(r"paired dPPL vs FP16 = ([\d.]+) ±\s+([\d.]+); mean KLD = ([\d.]+) ±\s+([\d.]+)")


def llamacpp_l3(rows: list[dict]) -> list[dict]:
    """LLaMA 3 8B scoreboard: perplexity with SEs (45 rows) and file size once per quant type (27 rows)."""
    out, sizes = [], OrderedDict()
    hardware = "NVIDIA RTX 4090 (CUDA backend), AMD Epyc 7742"
    group = "LLAMACPP_PPL_L3_8B|LLaMA 3 8B|f16"
    for r in rows:
        qtype, imatrix = _L3_TECH.search(r["technique"]).groups()
        if r["property"] == "storage_size":
            sizes.setdefault(qtype, []).append((r, imatrix))
            continue
        check_direction(r, "perplexity")
        sp = parse_spread(r["spread"])
        m = _L3_NOTE.search(r["notes"])
        base = dict(
            technique="weight-only", granularity="per-block", act_bits="", x_algorithm=llamacpp_family(qtype),
            x_framework="llama.cpp (CUDA backend)", x_imatrix=imatrix, baseline_group=group,
        )
        out.append(new_row(
            r, property="perplexity", comparison=f"LLaMA 3 8B|{qtype}|imatrix {imatrix}", hardware=hardware,
            task="WikiText-2 test perplexity", metric="perplexity (PPL)", unit="",
            baseline_sd=fmt(2 * Decimal(sp["baseline_se"])), baseline_n="4",
            quant_sd=fmt(2 * Decimal(sp["quant_se"])), quant_n="4", n_runs="1",
            x_baseline_se=sp["baseline_se"], x_quant_se=sp["quant_se"],
            x_delta_ppl=m.group(1), x_delta_ppl_se=m.group(2), x_kld=m.group(3), x_kld_se=m.group(4),
            provenance=f"'LLaMA 3 8b Scoreboard' row '{qtype} | {imatrix}', column PPL (f16 row for the baseline)",
            notes=[SE_NOTE, "mean KLD vs FP16 logits in x_kld"], **base,
        ))
        out[-1]["_qtype"] = qtype
    for qtype, items in sizes.items():
        r = items[0][0]
        check_direction(r, "storage_size")
        if len({(i[0]["baseline_value"], i[0]["quant_value"]) for i in items}) != 1:
            raise ValueError(f"LLaMA 3 8B {qtype}: file sizes differ between importance matrices")
        variants = ", ".join(i[1] for i in items)
        notes = ["file size in GiB as printed"]
        if len(items) > 1:
            notes.append(f"one file size for {len(items)} importance-matrix variants ({variants}): kept once")
        out.append(new_row(
            r, property="storage_size", comparison=f"LLaMA 3 8B|{qtype}", hardware="", task="model file",
            metric="model size", unit="GiB", technique="weight-only", granularity="per-block",
            x_algorithm=llamacpp_family(qtype), x_framework="llama.cpp (GGUF)", x_imatrix=variants,
            baseline_group=group, x_extract_row=",".join(i[0]["_row"] for i in items),
            provenance=f"'LLaMA 3 8b Scoreboard' column 'Model size [GiB]', rows '{qtype}' (f16 row for the baseline)",
            notes=notes,
        ))
        out[-1]["_qtype"] = qtype
    bpw = {q: bpw_from_sizes(items[0][0]["quant_value"], items[0][0]["baseline_value"]) for q, items in sizes.items()}
    for row in out:
        row["x_bpw"] = bpw[row.pop("_qtype")]
    return out


def llamacpp_l2(rows: list[dict]) -> list[dict]:
    """Llama 2 70B scorechart: perplexity and file size per quant type, no spread."""
    out = []
    size = {r["quant_precision"]: r for r in rows if r["property"] == "storage_size"}
    group = "LLAMACPP_PPL_L2_70B|Llama 2 70B|fp16"
    for r in rows:
        qtype = r["quant_precision"]
        prop = PROPERTY[r["property"]]
        check_direction(r, prop)
        common = dict(
            comparison=f"Llama 2 70B|{qtype}", technique="weight-only", granularity="per-block",
            x_algorithm=llamacpp_family(qtype), x_framework="llama.cpp (GGUF)", baseline_group=group, hardware="",
            x_bpw=bpw_from_sizes(size[qtype]["quant_value"], size[qtype]["baseline_value"]),
        )
        if prop == "perplexity":
            delta = re.search(r"delta to fp16 = ([\d.]+)%", r["notes"]).group(1)
            out.append(new_row(
                r, property=prop, task="WikiText-2 perplexity", metric="perplexity (PPL)", unit="",
                x_reported_delta_pct=delta, provenance=f"'Llama 2 70B Scorechart' row '{qtype}', column Perplexity",
                notes=[f"source's 'Delta to fp16' = {delta}%", "hardware not stated"], **common,
            ))
        else:
            out.append(new_row(
                r, property=prop, task="model file", metric="model size", unit="GiB",
                provenance=f"'Llama 2 70B Scorechart' row '{qtype}', column 'Model size (GiB)'", **common,
            ))
    return out


def llamacpp_readme(rows: list[dict]) -> list[dict]:
    """The 2023 README table: perplexity, file size and ms/token at 4 and 8 threads (7B only) for LLaMA 7B/13B."""
    out = []
    for r in rows:
        qtype, model = r["quant_precision"], r["model"]
        prop = PROPERTY[r["property"]]
        check_direction(r, prop)
        bpw = re.search(r"bits/weight=([\d.]+)", r["notes"]).group(1)
        common = dict(
            technique="weight-only", granularity="per-block", x_algorithm=llamacpp_family(qtype),
            x_framework="llama.cpp (ggml, CPU)", x_bpw=bpw,
        )
        notes = ["table marked '(outdated)' by the maintainers", f"bits/weight {bpw} as printed"]
        row_name = {"perplexity": "perplexity", "storage_size": "file size"}.get(prop)
        if prop == "inference_latency":
            threads = re.search(r"\((\d)th", r["metric_name"]).group(1)
            out.append(new_row(
                r, property=prop, comparison=f"{model}|{qtype}|{threads} threads", task="token generation",
                hardware="Apple MacBook M1 Pro, 32 GB RAM (CPU)", metric="time per token", unit="ms/token",
                x_threads=threads, baseline_group=f"LLAMACPP_README_2023|{model}|f16|{threads} threads",
                provenance=f"README 'Quantization' table, row '{model[-3:].strip()} | ms/tok @ {threads}th', "
                f"columns F16 and {qtype}",
                notes=notes + ["README: time per token measured on a MacBook M1 Pro 32GB RAM"], **common,
            ))
            continue
        if prop == "storage_size":
            notes.append("printed as e.g. '13.0G'; GB or GiB not stated")
            if model == "LLaMA 13B" and qtype == "Q8_0":
                notes.append("printed '13G'")
        out.append(new_row(
            r, property=prop, comparison=f"{model}|{qtype}", hardware="",
            task="WikiText-2 test, context 512" if prop == "perplexity" else "model file",
            metric="perplexity (PPL)" if prop == "perplexity" else "file size",
            unit="" if prop == "perplexity" else "G (as printed)", baseline_group=f"LLAMACPP_README_2023|{model}|f16",
            provenance=f"README 'Quantization' table, row '{model[-3:].strip()} | {row_name}', columns F16 and {qtype}",
            notes=notes, **common,
        ))
    return out


_INC_TECH = {
    "PTQ SmoothQuant (SQ INT8)": ("SQ INT8", "ptq-static", "8", "SmoothQuant"),
    "PTQ weight-only RTN-style (WOQ INT8)": ("WOQ INT8", "weight-only", "", "RTN"),
    "PTQ weight-only GPTQ (WOQ INT4 GPTQ)": ("WOQ INT4 GPTQ", "weight-only", "", "GPTQ"),
    "PTQ weight-only AutoRound (WOQ INT4 AutoRound)": ("WOQ INT4 AutoRound", "weight-only", "", "AutoRound"),
}


def inc_recipes(rows: list[dict]) -> list[dict]:
    """Intel Neural Compressor LLM recipes: lambada_openai accuracy (%) FP32 vs SQ INT8 / WOQ INT8 / WOQ INT4."""
    out = []
    for r in rows:
        check_direction(r, "accuracy")
        label, technique, act_bits, algo = _INC_TECH[r["technique"]]
        ratio = re.search(r"ratio quant/FP32 = ([\d.]+)", r["notes"]).group(1)
        if abs(float(r["quant_value"]) / float(r["baseline_value"]) - float(ratio)) > 6e-5:
            raise ValueError(f"extraction row {r['_row']}: values disagree with the reported ratio {ratio}")
        out.append(new_row(
            r, property="accuracy", comparison=f"{r['model']}|{label}",
            hardware="4th Gen Intel Xeon Scalable (Sapphire Rapids)", technique=technique, act_bits=act_bits,
            metric="lambada_openai accuracy", unit="%", x_algorithm=algo,
            x_framework="Intel Neural Compressor with PyTorch / IPEX / Intel Extension for Transformers",
            baseline_group=f"INC_LLM_RECIPES|{r['model']}|fp32", x_reported_ratio=ratio,
            provenance=f"LLM recipes accuracy table, row '{r['model']}', columns FP32 and {label}",
            notes=[f"source's ratio quant/FP32 = {ratio}",
                   "recipes published as meeting a 1% accuracy-loss target (selected results)"],
        ))
    return out


def inc_smoothquant(rows: list[dict]) -> list[dict]:
    """Intel Neural Compressor SmoothQuant validated models: last-token lambada accuracy, fractions -> %."""
    out = []
    for r in rows:
        check_direction(r, "accuracy")
        model = r["model"].rstrip("*")
        table2 = "table 2 of doc" in r["notes"]
        cfg = re.search(r"notes column: ([^;]+)", r["notes"]).group(1)
        notes = [f"source notes: {cfg}", "fractions rescaled to percent (x100, exact)",
                 "doc lists only models that achieved a <1% accuracy drop (selected results)"]
        if r["model"].endswith("*"):
            notes.append("(*) all add ops kept in FP32 during quantization")
        comparison = f"{model}|SQ INT8"
        if table2:
            comparison += "|IPEX optimize_transformers"
            notes.append("second table of the doc: same FP32 baseline, quantized with IPEX optimize_transformers "
                         "at model initialisation; kept beside the first-table row of this model")
        out.append(new_row(
            r, property="accuracy", model=model, comparison=comparison, hardware="Intel Xeon CPU (not specified)",
            task="lambada_openai", technique="ptq-static", act_bits="8", metric="last-token accuracy", unit="%",
            baseline_mean=percent(r["baseline_value"]), quant_mean=percent(r["quant_value"]),
            x_algorithm="SmoothQuant", x_framework="Intel Neural Compressor 2.1 with IPEX 2.0/2.1",
            baseline_group=f"INC_SMOOTHQUANT|{model}|fp32", x_original_unit="fraction",
            provenance=f"'Validated Models' {'second' if table2 else 'first'} table, row '{r['model']}'",
            notes=notes,
        ))
    return out


def nncf(rows: list[dict]) -> list[dict]:
    """OpenVINO NNCF model zoo: accuracy / F1 / mAP / mIoU (%), QAT INT8, mixed INT8/INT4, binarization, PTQ."""
    out = []
    for r in rows:
        metric = r["metric_name"].split(" [")[0]
        prop = {"mAP": "map", "mIoU": "miou"}.get(metric, PROPERTY[r["property"]])
        check_direction(r, prop)
        section = re.search(r"section ([^;]+)", r["notes"]).group(1)
        framework = section.split()[0]
        tech = r["technique"]
        granularity = act_bits = bpw = ""
        bits = r["bits"]
        notes = []
        if tech.startswith("QAT-style binarization"):
            technique, act_bits = "binarization", "1"
            algo = tech.split("Binarization: ")[1]
            label = "binary " + algo.split()[0]
        elif tech.startswith("QAT: Mixed"):
            technique, bits = "qat", "4"
            shares = re.findall(r"([\d.]+)% INT(\d)", tech)
            bpw = fmt(sum(Decimal(p) / 100 * int(b) for p, b in shares))
            algo, label = "HAWQ mixed precision " + tech.split(": ", 1)[1], "mixed INT8/INT4"
            notes.append("mixed INT8/INT4: bits = 4 (lowest width); x_bpw = share-weighted mean of 8 and 4, "
                         "reading the reported shares as shares of the weights")
        elif tech.startswith("QAT"):
            technique, act_bits, algo = "qat", "8", tech.split(": ", 1)[1]
            label = "INT8"
            if "[per-tensor weights]" in tech:
                granularity, label = "per-tensor", "INT8 per-tensor"
            elif "[per-channel weights]" in tech:
                granularity, label = "per-channel", "INT8 per-channel"
            algo = algo.split(" [")[0]
        else:  # NNCF post-training quantization (ONNX section)
            technique, act_bits, algo, label = "ptq-static", "8", "NNCF post-training quantization", "INT8 PTQ"
        derived = "baseline DERIVED" in r["notes"]
        drop = re.search(r"(?:reported drop = |\(\S+ \+ )(-?[\d.]+)", r["notes"]).group(1)
        if derived:
            if Decimal(r["quant_value"]) + Decimal(drop) != Decimal(r["baseline_value"]):
                raise ValueError(f"extraction row {r['_row']}: derived baseline is not quant + drop")
            notes.append(f"baseline derived as quantized + reported drop ({r['quant_value']} + {drop}): "
                         "the section has no FP32 row; not copied verbatim")
        elif Decimal(r["baseline_value"]) - Decimal(r["quant_value"]) != Decimal(drop):
            raise ValueError(f"extraction row {r['_row']}: values disagree with the reported drop {drop}")
        notes.append("model zoo of validated compression results (selected results)")
        out.append(new_row(
            r, property=prop, comparison=f"{framework}|{r['model']}|{r['task']}|{label}", hardware="",
            technique=technique, granularity=granularity, act_bits=act_bits, bits=bits, metric=metric, unit="%",
            x_algorithm=algo, x_framework=f"NNCF ({framework})", x_bpw=bpw, x_reported_drop=drop,
            x_baseline_derived="true" if derived else "false",
            baseline_group=f"NNCF_MODELZOO|{section}|{r['model']}|{r['task']}",
            provenance=f"section '{section}', row '{r['model']}' ({r['task']}), algorithm '{tech}'",
            notes=notes,
        ))
    return out


def tflite(rows: list[dict]) -> list[dict]:
    """TensorFlow Lite model optimization table: top-1 accuracy (fraction -> %), latency (ms), size (MB)."""
    out = []
    for r in rows:
        prop = PROPERTY[r["property"]]
        check_direction(r, prop)
        model, tech = r["model"], r["technique"]
        kw: dict = {"x_framework": "TensorFlow Lite", "baseline_group": f"TFLITE_MODELOPT|{model}|fp32"}
        notes = []
        if prop == "storage_size":
            kw.update(comparison=f"{model}|optimized INT8 (PTQ or QAT)", technique="other",
                      x_algorithm="TFLite INT8 conversion (post-training or quantization-aware)", confounded="true",
                      metric="model size", unit="MB", hardware="", task="model file",
                      provenance=f"Table 1, row '{model}', columns 'Size (Original)' and 'Size (Optimized)'")
            notes.append("confounded: the single 'Size (Optimized)' column does not say whether the post-training "
                         "or the quantization-aware model was measured")
        else:
            if tech.startswith("PTQ"):
                kw.update(comparison=f"{model}|PTQ hybrid INT8", technique="ptq-dynamic", act_bits="8",
                          x_algorithm="TFLite post-training (hybrid) quantization: INT8 weights, activations "
                          "quantized at run time by hybrid kernels")
                col = "Post Training Quantized"
            else:
                kw.update(comparison=f"{model}|QAT INT8", technique="qat", act_bits="8",
                          x_algorithm="quantization-aware training (tf.contrib.quantize), fully integer model")
                col = "Quantization Aware Training"
            if prop == "accuracy":
                kw.update(metric="top-1 accuracy", unit="%", hardware="", task="ImageNet",
                          baseline_mean=percent(r["baseline_value"]), quant_mean=percent(r["quant_value"]),
                          x_original_unit="fraction")
                notes.append("fractions rescaled to percent (x100, exact)")
                what = "Top-1 Accuracy"
            else:
                kw.update(metric="latency per inference", unit="ms", hardware="Google Pixel 2, single big core",
                          task="inference")
                what = "Latency"
            kw["provenance"] = f"Table 1, row '{model}', columns '{what} (Original)' and '{what} ({col})'"
        out.append(new_row(r, property=prop, notes=notes, **kw))
    return out


def pytorch_bert(rows: list[dict]) -> list[dict]:
    """PyTorch dynamic-quantization BERT tutorial: F1 (fraction -> %), size (MB), total eval time (s)."""
    out = []
    model = "bert-base-uncased (fine-tuned on MRPC)"
    base = dict(model=model, technique="ptq-dynamic", act_bits="8", x_framework="PyTorch (CPU)",
                x_algorithm="torch.quantization.quantize_dynamic on nn.Linear (INT8 weights, dynamic INT8 activations)")
    for r in rows:
        prop = PROPERTY[r["property"]]
        check_direction(r, prop)
        notes = [r["notes"]] if r["notes"] else []
        if prop == "f1_score":
            out.append(new_row(
                r, property=prop, comparison=f"{model}|dynamic INT8", hardware="MacBook Pro (CPU)",
                task="GLUE MRPC dev (408 examples)", metric="F1", unit="%", x_original_unit="fraction",
                baseline_mean=percent(r["baseline_value"]), quant_mean=percent(r["quant_value"]),
                baseline_group=f"PYTORCH_BERT_DYNQ|{model}|fp32", provenance="tutorial results: F1 of FP32 and INT8",
                notes=notes + ["fractions rescaled to percent (x100, exact)"], **base,
            ))
        elif prop == "storage_size":
            out.append(new_row(
                r, property=prop, comparison=f"{model}|dynamic INT8", hardware="", task="model file",
                metric="model size", unit="MB", baseline_group=f"PYTORCH_BERT_DYNQ|{model}|fp32",
                provenance="tutorial results: size of the FP32 and INT8 models", notes=notes, **base,
            ))
        else:
            threads = re.search(r"(\d) thread", r["hardware"]).group(1)
            unit = "thread" if threads == "1" else "threads"
            out.append(new_row(
                r, property=prop, comparison=f"{model}|dynamic INT8|{threads} {unit}", hardware=r["hardware"],
                task="MRPC dev evaluation (408 examples)", metric="total evaluation time", unit="s",
                x_threads=threads, baseline_group=f"PYTORCH_BERT_DYNQ|{model}|fp32|{threads} {unit}",
                provenance=f"tutorial results: evaluation time of FP32 and INT8 with {threads} {unit}",
                notes=notes, **base,
            ))
    return out


_ECO_TECH = {
    "NF4": ("NF4", "weight-only", "16", "bitsandbytes NF4 (load_in_4bit, fp16 compute)"),
    "INT8 (std)": ("LLM.int8() threshold 6.0", "ptq-dynamic", "8", None),
    "INT8 Default": ("LLM.int8() threshold 6.0", "ptq-dynamic", "8", None),
    "INT8 (pure)": ("INT8 threshold 0", "ptq-dynamic", "8", None),
    "INT8 Pure": ("INT8 threshold 0", "ptq-dynamic", "8", None),
}
_ECO_UNITS = {
    "throughput": ("decode throughput", "tokens/s"),
    "gpu_power_draw": ("mean GPU power (NVML)", "W"),
    "gpu_energy_consumption": ("GPU energy per 1k generated tokens (NVML)", "J/1k tokens"),
}
_ECO_CONFOUNDED = (
    "confounded: bitsandbytes' INT8 path runs 2-4x slower than FP16 (throughput 24-50% of FP16), so energy, power "
    "and throughput reflect that implementation's kernels, not INT8 arithmetic as such"
)


def ecocompute(rows: list[dict]) -> list[dict]:
    """NVML study: decode throughput, mean GPU power and GPU energy per 1k tokens, FP16 vs bitsandbytes NF4/INT8."""
    out = []
    for r in rows:
        prop = PROPERTY[r["property"]]
        check_direction(r, prop)
        gpu, _, software = r["hardware"].partition(", ")
        bs = "1"
        if software.startswith("batch size"):
            bs, software = software.split()[-1], "PyTorch 2.x, CUDA 12.x, bitsandbytes (versions not stated)"
        label, technique, act_bits, algo = _ECO_TECH[r["quant_precision"]]
        sp = parse_spread(r["spread"])
        n = str(int(float(r["n_runs"])))
        metric, unit = _ECO_UNITS[prop]
        notes = ["self-published single-author study, not peer reviewed"]
        if sp:
            notes.append("spread read as an SD over runs: the memo's CV column equals +-/mean")
        else:
            notes.append(f"no spread reported (n = {n} runs)")
        if "quant_sd" not in sp and "baseline_sd" in sp:
            notes.append("the quantized arm's value is printed without a spread")
        confounded = technique == "ptq-dynamic"
        if confounded:
            notes.insert(0, _ECO_CONFOUNDED)
        elif prop != "gpu_power_draw":
            notes.append("NF4 also decodes slower than FP16 here (dequantization overhead); kept as the technique's "
                         "cost in its reference implementation")
        gpu_short = gpu.split(" (")[0]
        tokens = "128" if gpu.startswith("A800") else "256"
        out.append(new_row(
            r, property=prop, comparison=f"{gpu_short}|{r['model']}|bs {bs}|{label}", hardware=f"NVIDIA {gpu}",
            task=f"greedy generation of {tokens} new tokens from one fixed prompt", technique=technique,
            act_bits=act_bits, metric=metric, unit=unit,
            baseline_sd=sp.get("baseline_sd", ""), baseline_n=n, quant_sd=sp.get("quant_sd", ""), quant_n=n,
            n_runs=n, x_batch_size=bs, x_framework=f"Hugging Face transformers, {software}",
            x_algorithm=algo or r["technique"], confounded=str(confounded).lower(),
            baseline_group=f"ECOCOMPUTE_NVML|{gpu_short}|{r['model']}|bs {bs}|fp16",
            provenance=f"results table of the {gpu_short} section, rows '{r['model']}' FP16 and "
            f"'{r['quant_precision']}'" + (f", batch size {bs}" if gpu.startswith("A800") else ""),
            notes=notes,
        ))
    return out


BUILDERS = {
    "LLAMACPP_PPL_L3_8B": llamacpp_l3,
    "LLAMACPP_PPL_L2_70B": llamacpp_l2,
    "LLAMACPP_README_2023": llamacpp_readme,
    "INC_LLM_RECIPES": inc_recipes,
    "INC_SMOOTHQUANT": inc_smoothquant,
    "NNCF_MODELZOO": nncf,
    "TFLITE_MODELOPT": tflite,
    "PYTORCH_BERT_DYNQ": pytorch_bert,
    "ECOCOMPUTE_NVML": ecocompute,
}


def build(src: Path) -> list[dict]:
    """All output rows, in study order and, within a study, in extraction order."""
    with src.open(newline="", encoding="utf-8") as fh:
        raw = list(csv.DictReader(fh))
    by_study: dict[str, list[dict]] = {s: [] for s in STUDIES}
    for i, r in enumerate(raw, start=1):
        if r["source_id"] not in by_study:
            raise ValueError(f"extraction row {i}: unknown source {r['source_id']!r}")
        r["_row"] = str(i)
        by_study[r["source_id"]].append(r)
    rows = [row for s in STUDIES for row in BUILDERS[s](by_study[s])]
    seen = set()
    for row in rows:
        key = (row["study"], row["comparison"], row["property"])
        if key in seen:
            raise ValueError(f"comparison id {key} is not unique")
        seen.add(key)
        for side in ("baseline", "quant"):
            if not float(row[f"{side}_mean"]) > 0 or not math.isfinite(float(row[f"{side}_mean"])):
                raise ValueError(f"{key}: {side} value is not positive")
    return rows


def main(src: Path = DEFAULT_INPUT, out: Path = DEFAULT_OUTPUT) -> None:
    rows = build(src)
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {len(rows)} rows to {out}")


if __name__ == "__main__":
    args = [Path(a) for a in sys.argv[1:3]]
    main(*args)
