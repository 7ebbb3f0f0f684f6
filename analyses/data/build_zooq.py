"""Build ``data/zooq.csv``: published quantization results of model zoos outside LLMs, one row per comparison x metric.

Every figure is read from a source file as published, vendored byte for byte under
``analyses/data/sources/<owner>+<repo>/<commit>/<path>`` together with the
repository's licence, so the build is reproducible from a clean checkout and needs no network::

    python analyses/data/build_zooq.py [OUTPUT_CSV]

One function per source reads its files and returns rows in the *measurements* form
(docs/data-format.md); docs/data-zooq.md documents every decision.  The conventions are those of
``build_llmq.py``:

* ``study`` is one source table, ``comparison`` ``model|configuration|device|runtime``, unique
  within a study, task and property;
* ``bits`` / ``act_bits`` are the weight and activation bits of the quantized arm as the source
  names them (``w8a16``: 8-bit integer weights, 16-bit integer activations);
* ``x_source_repo``, ``x_source_path``, ``x_source_commit`` pin the file every row comes from (also
  joined in ``source``); ``provenance`` names the entries and their lines in it;
* no spread is printed by any of these sources and none is invented; where a source states the
  number of evaluation samples behind a proportion (an accuracy), it is kept in ``n_eval``, and so is the size
  of the ImageNet-1K validation split on which torchvision states its accuracies;
* rows sharing one float measurement share ``baseline_group``;
* a figure of exactly zero has no log response ratio; such rows are not written and are counted
  per study in ``EXCLUDED`` (printed by the build).

YAML files are read with PyYAML's composer, so every scalar keeps its text as printed and its line.
"""

from __future__ import annotations

import ast
import csv
import functools
import re
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import yaml

ROOT = Path(__file__).resolve().parents[2]
SOURCES_DIR = ROOT / "analyses" / "data" / "sources"
DEFAULT_OUTPUT = ROOT / "data" / "zooq.csv"

COLUMNS = (
    "study", "comparison", "model", "task", "hardware", "technique", "granularity", "baseline_precision",
    "quant_precision", "bits", "act_bits", "property", "metric", "unit", "higher_is_better", "baseline_mean",
    "baseline_sd", "baseline_n", "quant_mean", "quant_sd", "quant_n", "n_runs", "n_eval", "baseline_group",
    "confounded", "source", "provenance", "notes", "x_model_id", "x_component", "x_params", "x_domain",
    "x_task_family", "x_runtime", "x_engine", "x_compute_unit", "x_baseline_compute_unit", "x_algorithm",
    "x_calibration", "x_settings", "x_n_samples", "x_torch_metric", "x_baseline_memory_min", "x_quant_memory_min",
    "x_original_unit", "x_licence", "x_source_repo", "x_source_path", "x_source_commit",
)  # fmt: skip

#: the registry's direction (metaquant.evidence.schema.PROPERTIES; validation refuses a disagreement)
HIGHER_IS_BETTER = {"accuracy": True, "map": True, "map_50_95": True, "miou": True, "word_error_rate": False,
                    "inference_latency": False, "peak_memory": False, "storage_size": False,
                    "throughput": True, "gpu_memory_utilization": False, "ram_usage": False}  # fmt: skip

#: Rows not written because a figure is exactly zero (no log ratio), per study.
EXCLUDED: Counter = Counter()
#: Entries of a source that give no row, per (study, reason); printed by the build and documented.
SKIPPED: Counter = Counter()


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def fmt(d: Decimal) -> str:
    """Plain decimal string without exponent or trailing zeros."""
    return f"{d.normalize():f}"


def num(text: str) -> str:
    """A number as printed in the source."""
    return fmt(Decimal(text))


def percent(text: str) -> str:
    """A printed fraction times 100, in exact decimal arithmetic."""
    return fmt(Decimal(text) * 100)


def source_file(repo: str, commit: str, path: str) -> Path:
    return SOURCES_DIR / repo.replace("/", "+") / commit / path


#: libyaml's parser where PyYAML was built with it (six times faster); both compose the same nodes and marks
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Scalar(NamedTuple):
    """A YAML scalar as printed (quotes removed) and its 1-based line."""

    text: str
    line: int


def read_yaml(path: Path):
    """A YAML file as nested dicts and lists of :class:`Scalar`; a repeated key keeps the later value, as YAML does."""

    def walk(node):
        if isinstance(node, yaml.MappingNode):
            return {k.value: walk(v) for k, v in node.value}
        if isinstance(node, yaml.SequenceNode):
            return [walk(v) for v in node.value]
        return Scalar(node.value, node.start_mark.line + 1)

    return walk(yaml.compose(path.read_text(encoding="utf-8"), Loader=_LOADER))


def is_null(s: Scalar) -> bool:
    return s.text in ("", "null", "~", "Null", "NULL")


def new_row(**kw) -> dict:
    row = dict.fromkeys(COLUMNS, "")
    notes = kw.pop("notes", [])
    row.update(kw)
    row["higher_is_better"] = str(HIGHER_IS_BETTER[row["property"]]).lower()
    row["confounded"] = row["confounded"] or "false"
    row["notes"] = "; ".join(n for n in notes if n)
    row["source"] = f"{row['x_source_repo']}:{row['x_source_path']}@{row['x_source_commit']}"
    return row


# --------------------------------------------------------------------------
# quic/ai-hub-models (BSD-3-Clause): Qualcomm AI Hub model zoo, perf.yaml / numerics.yaml / info.yaml per model
# --------------------------------------------------------------------------

AIHUB_REPO = "quic/ai-hub-models"
#: v0.46.1 (2026-02-12), the newest release: every model's perf.yaml lists the float and the quantized
#: precisions side by side (profiled in one scorecard run, docs/data-zooq.md), and numerics.yaml exists.
AIHUB_COMMIT = "52c080d245d2d20c634459208ff2548ce10b3c9f"
AIHUB_LICENCE = "BSD-3-Clause"
AIHUB_MODELS = "qai_hub_models/models"

#: runtime key of perf.yaml / numerics.yaml -> (runtime as named in x_runtime)
AIHUB_RUNTIMES = {
    "tflite": "TensorFlow Lite", "qnn_dlc": "QNN (DLC)", "qnn_context_binary": "QNN (context binary)",
    "onnx": "ONNX Runtime", "precompiled_qnn_onnx": "ONNX Runtime (precompiled QNN context)", "genie": "Genie",
}  # fmt: skip


def aihub_models() -> list[str]:
    """Model folders vendored at the pinned commit, in name order."""
    folder = source_file(AIHUB_REPO, AIHUB_COMMIT, AIHUB_MODELS)
    return sorted(p.name for p in folder.iterdir() if (p / "info.yaml").is_file())


@functools.cache
def aihub_info(model_id: str) -> dict:
    """``name``, ``domain``, ``use_case``, parameter count and printed model sizes of one model's info.yaml."""
    path = f"{AIHUB_MODELS}/{model_id}/info.yaml"
    info = read_yaml(source_file(AIHUB_REPO, AIHUB_COMMIT, path))
    details = info.get("technical_details", {})
    counts = {}  # component ('' for the whole model) -> parameter count
    for key, val in details.items():
        k = re.fullmatch(r"Number of parameters(?: \((?P<comp>[^)]+)\))?", key)
        m = re.fullmatch(r"([\d.]+)\s*([KMB])", val.text)
        if k and m:
            scale = {"K": Decimal(10) ** 3, "M": Decimal(10) ** 6, "B": Decimal(10) ** 9}[m.group(2)]
            counts[k.group("comp") or ""] = f"{Decimal(m.group(1)) * scale:.0f}"
    return {"path": path, "name": info["name"].text, "domain": info["domain"].text,
            "use_case": info["use_case"].text, "params": counts.get("", ""), "params_by_component": counts,
            "details": details}  # fmt: skip


def aihub_precision(prec: str) -> dict:
    """``w8a16_mixed_int16`` -> bits 8, act_bits 16, technique ``mixed``; ``w8a8`` -> 8, 8, ``ptq-static``."""
    m = re.fullmatch(r"w(\d+)a(\d+)(?:_mixed_(\w+))?", prec)
    mixed = m.group(3)
    return {
        "bits": m.group(1), "act_bits": m.group(2), "technique": "mixed" if mixed else "ptq-static",
        "notes": [f"mixed precision: some layers in {mixed}, the rest {prec.split('_mixed')[0]}"] if mixed else [],
    }  # fmt: skip


def _tools(entry: dict) -> dict[str, str]:
    return {k: v.text for k, v in entry.get("tool_versions", {}).items()}


def _engine(runtime: str, tools: dict[str, str]) -> str:
    return AIHUB_RUNTIMES[runtime] + " (" + ", ".join(f"{k} {v}" for k, v in sorted(tools.items())) + ")"


#: perf.yaml metric -> (property, metric, unit)
AIHUB_PERF_METRICS = {
    "inference_time_milliseconds": ("inference_latency", "estimated inference time (AI Hub profile job)", "ms"),
    "estimated_peak_memory_range_mb": ("peak_memory", "inference memory peak, upper end of the estimated range",
                                       "MB"),
}  # fmt: skip


def aihub_perf() -> list[dict]:
    """Float vs quantized inference time and peak memory per model x component x device x runtime (perf.yaml).

    The quantized profile of one component on one device and runtime is compared with the float profile of the
    same component on the same device and runtime; a quantized profile without its float twin gives no row.
    """
    out = []
    for model_id in aihub_models():
        path = f"{AIHUB_MODELS}/{model_id}/perf.yaml"
        f = source_file(AIHUB_REPO, AIHUB_COMMIT, path)
        if not f.is_file():
            continue
        precisions = read_yaml(f)["precisions"]
        if "float" not in precisions:
            continue
        info = aihub_info(model_id)
        float_components = precisions["float"]["components"]
        for prec, pv in precisions.items():
            if prec == "float":
                continue
            p = aihub_precision(prec)
            for comp, cv in pv["components"].items():
                for device, dv in cv.get("performance_metrics", {}).items():
                    for rt, q in dv.items():
                        b = float_components.get(comp, {}).get("performance_metrics", {}).get(device, {}).get(rt)
                        if b is None:
                            SKIPPED[("AIHUB_PERF", "quantized profile without a float profile")] += 1
                            continue
                        out += _aihub_perf_rows(model_id, info, path, prec, p, comp, device, rt, b, q)
    return out


def _aihub_perf_rows(model_id, info, path, prec, p, comp, device, rt, b, q) -> list[dict]:
    bt, qt = _tools(b), _tools(q)
    bcu, qcu = b["primary_compute_unit"].text, q["primary_compute_unit"].text
    notes, confounded = list(p["notes"]), "false"
    if bcu != qcu:
        confounded = "true"
        notes.append(f"primary compute unit changes with the precision: float on {bcu}, {prec} on {qcu}")
    changed = sorted(k for k in set(bt) & set(qt) if bt[k] != qt[k])
    if changed:
        confounded = "true"
        notes.append("tool versions differ: " + "; ".join(f"{k} {bt[k]} (float) vs {qt[k]} ({prec})" for k in changed))
    elif set(bt) != set(qt):
        notes.append(f"float profile lists tools {sorted(bt)}, {prec} profile {sorted(qt)} (shared versions equal)")
    for b_job, q_job in ((b["job_status"].text, q["job_status"].text),):
        if b_job != "Passed" or q_job != "Passed":
            SKIPPED[("AIHUB_PERF", "job not passed")] += 1
            return []
    rows = []
    entry = f"precisions.<precision>.components.{comp}.performance_metrics.{device}.{rt}"
    for key, (prop, metric, unit) in AIHUB_PERF_METRICS.items():
        extra = {}
        if prop == "peak_memory":
            bs, qs = b[key]["max"], q[key]["max"]
            extra = {"x_baseline_memory_min": num(b[key]["min"].text), "x_quant_memory_min": num(q[key]["min"].text)}
            where = f"{entry}.{key}.max: line {qs.line} ({prec}) vs line {bs.line} (float)"
        else:
            bs, qs = b[key], q[key]
            where = f"{entry}.{key}: line {qs.line} ({prec}) vs line {bs.line} (float)"
        if Decimal(bs.text) == 0 or Decimal(qs.text) == 0:
            EXCLUDED["AIHUB_PERF"] += 1
            continue
        rows.append(new_row(
            study="AIHUB_PERF", comparison=f"{model_id}|{comp}|{prec}|{device}|{rt}", model=info["name"],
            task=f"on-device inference of {comp}", hardware=device, technique=p["technique"],
            baseline_precision="float", quant_precision=prec, bits=p["bits"], act_bits=p["act_bits"],
            property=prop, metric=metric, unit=unit, baseline_mean=num(bs.text), quant_mean=num(qs.text),
            baseline_group=f"AIHUB_PERF|{model_id}|{comp}|{device}|{rt}|float", confounded=confounded,
            x_model_id=model_id, x_component=comp, x_params=info["params_by_component"].get(comp, info["params"]),
            x_domain=info["domain"], x_task_family=info["use_case"], x_runtime=AIHUB_RUNTIMES[rt],
            x_engine=_engine(rt, qt),
            x_compute_unit=qcu, x_baseline_compute_unit=bcu, x_algorithm="Qualcomm AI Hub quantize job (AIMET)",
            x_licence=AIHUB_LICENCE, x_source_repo=AIHUB_REPO, x_source_path=path, x_source_commit=AIHUB_COMMIT,
            provenance=where, notes=notes + ["one profile job per arm, no spread"], **extra,
        ))  # fmt: skip
    return rows


#: numerics.yaml (metric_name, metric_unit) -> property; other metrics have no registered property
AIHUB_NUMERICS_PROPERTIES = {
    ("Classification Accuracy", "%"): "accuracy",
    ("Top-1 Masked LM Accuracy", "%"): "accuracy",
    ("Mean Average Precision", "mAP@0.5:0.95"): "map_50_95",
    ("Mean Average Precision", "mAP"): "map",
    ("Mean Intersection Over Union", "mIOU"): "miou",
    ("Word Error Rate", "WER"): "word_error_rate",
}
#: metrics that are a proportion of the evaluated samples, whose sample count goes to ``n_eval``.  The masked-LM
#: accuracies are declared in % but printed as fractions (0.744), so their scale is ambiguous and they get none.
PROPORTIONS = {("Classification Accuracy", "%")}
#: note on the masked-LM rows
_MASKED_LM_NOTE = (
    "metric_unit '%' but the figures read as fractions (float PyTorch 0.744); no n_eval, the sample "
    "count is in x_n_samples"
)


def _aihub_float_check(metric: dict, base: Scalar) -> tuple[str, list[str]]:
    """``confounded`` when the on-device float figure misses the PyTorch float figure on the same samples by more
    than the repository's own ``metric_fp_vs_device_enablement_threshold``: the baseline then measures a failed
    float deployment, not the float model.  The masked-LM figures are fractions under a % unit and threshold, so
    their threshold is divided by 100.
    """
    torch, thr = (
        Decimal(metric["partial_torch_metric"].text),
        Decimal(metric["metric_fp_vs_device_enablement_threshold"].text),
    )
    if metric["metric_name"].text == "Top-1 Masked LM Accuracy":
        thr /= 100
    gap = abs(Decimal(base.text) - torch)
    if gap > thr:
        return "true", [
            f"the float figure on this device and runtime ({num(base.text)}) misses the PyTorch float "
            f"figure ({num(torch)}) by more than the repository's enablement threshold ({num(str(thr))})"
        ]
    return "false", []


def aihub_numerics() -> list[dict]:
    """On-device float vs quantized quality on the first ``num_partial_samples`` of a dataset (numerics.yaml).

    The quantized figure on one device and runtime is compared with the float figure on the same device and
    runtime; ``partial_torch_metric`` (the float PyTorch model on the same samples) is kept in ``x_torch_metric``.
    """
    out = []
    for model_id in aihub_models():
        path = f"{AIHUB_MODELS}/{model_id}/numerics.yaml"
        f = source_file(AIHUB_REPO, AIHUB_COMMIT, path)
        if not f.is_file():
            continue
        info = aihub_info(model_id)
        for k, m in enumerate(read_yaml(f)["metrics"]):
            name, unit = m["metric_name"].text, m["metric_unit"].text
            prop = AIHUB_NUMERICS_PROPERTIES.get((name, unit))
            n = m["num_partial_samples"]
            for device, dv in m.get("device_metric", {}).items():
                base = dv.get("float", {})
                for prec, pv in dv.items():
                    if prec == "float":
                        continue
                    for rt, q in pv.items():
                        if rt not in base:
                            SKIPPED[("AIHUB_NUMERICS", "quantized figure without a float figure")] += 1
                            continue
                        if prop is None:
                            SKIPPED[("AIHUB_NUMERICS", f"metric without a registered property: {name}")] += 1
                            continue
                        b, qv = base[rt]["partial_metric"], q["partial_metric"]
                        if Decimal(b.text) == 0 or Decimal(qv.text) == 0:
                            EXCLUDED["AIHUB_NUMERICS"] += 1
                            continue
                        p = aihub_precision(prec)
                        confounded, notes = _aihub_float_check(m, b)
                        out.append(new_row(
                            study="AIHUB_NUMERICS", comparison=f"{model_id}|{prec}|{device}|{rt}", model=info["name"],
                            task=f"{m['dataset_name'].text} ({m['dataset_split_description'].text}, first "
                            f"{n.text} samples)", hardware=device, technique=p["technique"],
                            baseline_precision="float", quant_precision=prec, bits=p["bits"], act_bits=p["act_bits"],
                            property=prop, metric=name, unit=unit, baseline_mean=num(b.text),
                            quant_mean=num(qv.text), n_eval=n.text if (name, unit) in PROPORTIONS else "",
                            baseline_group=f"AIHUB_NUMERICS|{model_id}|{k}|{device}|{rt}|float",
                            x_model_id=model_id, x_params=info["params"], x_domain=info["domain"],
                            x_task_family=info["use_case"], x_runtime=AIHUB_RUNTIMES[rt],
                            x_engine=AIHUB_RUNTIMES[rt], x_algorithm="Qualcomm AI Hub quantize job (AIMET)",
                            x_n_samples=n.text, x_torch_metric=num(m["partial_torch_metric"].text),
                            x_licence=AIHUB_LICENCE, x_source_repo=AIHUB_REPO, x_source_path=path,
                            x_source_commit=AIHUB_COMMIT,
                            provenance=f"metrics[{k}].device_metric.{device}.{prec}.{rt}.partial_metric "
                            f"(line {qv.line}) vs metrics[{k}].device_metric.{device}.float.{rt}.partial_metric "
                            f"(line {b.line})",
                            confounded=confounded,
                            notes=p["notes"] + ["both arms on the same samples (paired); one evaluation each"]
                            + ([_MASKED_LM_NOTE] if name == "Top-1 Masked LM Accuracy" else []) + notes,
                        ))  # fmt: skip
    return out


_SIZE_KEY = re.compile(r"Model size(?: \((?P<comp>[^)]+)\))? \((?P<prec>float|w\d+a\d+(?:_mixed_\w+)?)\)")
_SIZE_VALUE = re.compile(r"(?P<approx>~)?(?P<v>[\d.]+) ?(?P<u>KB|MB|GB)")


def aihub_model_size() -> list[dict]:
    """Model size of the float vs the quantized asset, as printed in info.yaml ``technical_details``.

    Only sizes printed with the same unit on both arms are compared (a KB vs MB pair would need the
    repository's unit convention, which it does not state); sizes printed without a precision give no row.
    """
    out = []
    for model_id in aihub_models():
        info = aihub_info(model_id)
        sizes = {}
        for key, val in info["details"].items():
            m = _SIZE_KEY.fullmatch(key)
            if key.startswith("Model size") and not m:
                SKIPPED[("AIHUB_MODEL_SIZE", "size printed without a precision")] += 1
                continue
            if m:
                sizes[(m.group("comp") or "", m.group("prec"))] = (key, val)
        for (comp, prec), (key, val) in sizes.items():
            if prec == "float":
                continue
            if (comp, "float") not in sizes:
                SKIPPED[("AIHUB_MODEL_SIZE", "quantized size without a float size")] += 1
                continue
            bkey, bval = sizes[(comp, "float")]
            bm, qm = _SIZE_VALUE.fullmatch(bval.text), _SIZE_VALUE.fullmatch(val.text)
            if bm.group("approx") or qm.group("approx"):
                SKIPPED[("AIHUB_MODEL_SIZE", "size printed as approximate (~)")] += 1
                continue
            if bm.group("u") != qm.group("u"):
                SKIPPED[("AIHUB_MODEL_SIZE", "float and quantized sizes printed in different units")] += 1
                continue
            p = aihub_precision(prec)
            out.append(new_row(
                study="AIHUB_MODEL_SIZE", comparison=f"{model_id}|{comp or info['name']}|{prec}", model=info["name"],
                task=f"model asset{f' ({comp})' if comp else ''}", hardware="", technique=p["technique"],
                baseline_precision="float", quant_precision=prec, bits=p["bits"], act_bits=p["act_bits"],
                property="storage_size", metric="model size", unit=bm.group("u"), baseline_mean=num(bm.group("v")),
                quant_mean=num(qm.group("v")), baseline_group=f"AIHUB_MODEL_SIZE|{model_id}|{comp}|float",
                x_model_id=model_id, x_component=comp,
                x_params=info["params_by_component"].get(comp, info["params"]), x_domain=info["domain"],
                x_task_family=info["use_case"], x_algorithm="Qualcomm AI Hub quantize job (AIMET)",
                x_licence=AIHUB_LICENCE, x_source_repo=AIHUB_REPO, x_source_path=info["path"],
                x_source_commit=AIHUB_COMMIT,
                provenance=f"technical_details['{key}'] (line {val.line}) vs technical_details['{bkey}'] "
                f"(line {bval.line})",
                notes=p["notes"] + ["sizes as printed (rounded to 3 significant figures)"],
            ))  # fmt: skip
    return out


# --------------------------------------------------------------------------
# openvinotoolkit/nncf (Apache-2.0): post-training quantization conformance suite, reference accuracies
# --------------------------------------------------------------------------

NNCF_REPO = "openvinotoolkit/nncf"
#: the last commit that changed ptq_reference_data.yaml (2026-03-23), with model_scope.py as of the same commit
NNCF_COMMIT = "c94fe502426b836aa2dfd8fce5f4fcecc9c1aae8"
NNCF_LICENCE = "Apache-2.0"
NNCF_DATA = "tests/post_training/data/ptq_reference_data.yaml"
NNCF_SCOPE = "tests/post_training/model_scope.py"

#: backend key -> how the INT8 model was produced (model_scope.py / pipelines/base.py at the same commit)
NNCF_BACKENDS = {
    "OV": "nncf.quantize on the OpenVINO model",
    "ONNX": "nncf.quantize on the ONNX model",
    "TORCH": "nncf.quantize on the PyTorch model",
    "CUDA_TORCH": "nncf.quantize on the PyTorch model (CUDA)",
    "FX_TORCH": "nncf.quantize on the torch.fx model",
    "CUDA_FX_TORCH": "nncf.quantize on the torch.fx model (CUDA)",
    "OV_QUANTIZER_NNCF": "torch.ao quantize_pt2e with OpenVINOQuantizer, NNCF algorithms",
    "OV_QUANTIZER_AO": "torch.ao quantize_pt2e with OpenVINOQuantizer, torch.ao algorithms",
    "OPTIMUM": "optimum-intel",
}


def nncf_scope() -> dict[str, dict]:
    """``reported_name`` -> {model_id, compression_params (source text), line} from the QUANTIZATION_MODELS list."""
    path = source_file(NNCF_REPO, NNCF_COMMIT, NNCF_SCOPE)
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    out = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "QUANTIZATION_MODELS"
                                                     for t in node.targets)):  # fmt: skip
            continue
        for entry in node.value.elts:
            d = {k.value: v for k, v in zip(entry.keys, entry.values, strict=True)}
            params = d.get("compression_params")
            out[d["reported_name"].value] = {
                "model_id": d["model_id"].value,
                "params": ast.get_source_segment(text, params) if params is not None else "",
                "line": entry.lineno,
            }
    return out


def nncf_ptq() -> list[dict]:
    """INT8 (NNCF post-training quantization) vs FP32 ImageNet top-1 accuracy per model and backend."""
    data = read_yaml(source_file(NNCF_REPO, NNCF_COMMIT, NNCF_DATA))
    scope = nncf_scope()
    entries: dict[str, dict[str, tuple[Scalar, str]]] = {}
    for key, val in data.items():
        name, _, backend = key.rpartition("_backend_")
        entries.setdefault(name, {})[backend] = (val["metric_value"], key)
    out = []
    for name, backends in entries.items():
        fp32 = backends.get("FP32")
        for backend, (val, key) in backends.items():
            if backend == "FP32":
                continue
            if is_null(val) or fp32 is None or is_null(fp32[0]):
                SKIPPED[("NNCF_PTQ", "metric_value null (no reference accuracy)")] += 1
                continue
            meta = scope[name]
            zoo, _, _ = name.partition("/")
            settings = re.sub(r"\s+", " ", meta["params"])
            subset = re.search(r'"subset_size": (\d+)', settings)
            b, q = fp32[0], val
            if Decimal(b.text) == 0 or Decimal(q.text) == 0:
                EXCLUDED["NNCF_PTQ"] += 1
                continue
            out.append(new_row(
                study="NNCF_PTQ", comparison=f"{name}|INT8|{backend}", model=f"{zoo}/{meta['model_id']}",
                task="ImageNet validation (top-1)", hardware="", technique="ptq-static", granularity="",
                baseline_precision="fp32", quant_precision="int8", bits="8", act_bits="8", property="accuracy",
                metric="top-1 accuracy", unit="%", baseline_mean=percent(b.text), quant_mean=percent(q.text),
                baseline_group=f"NNCF_PTQ|{zoo}/{meta['model_id']}|fp32|{num(b.text)}", x_model_id=meta["model_id"],
                x_domain="Computer Vision", x_task_family="Image Classification", x_runtime="OpenVINO",
                x_engine=f"NNCF conformance suite ({backend} backend)", x_algorithm=NNCF_BACKENDS[backend],
                x_calibration=f"subset_size {subset.group(1)}" if subset else "subset_size not set (NNCF default)",
                x_settings=settings, x_original_unit="fraction", x_licence=NNCF_LICENCE, x_source_repo=NNCF_REPO,
                x_source_path=NNCF_DATA, x_source_commit=NNCF_COMMIT,
                provenance=f"{key}.metric_value (line {q.line}) vs {fp32[1]}.metric_value (line {b.line}); settings "
                f"{NNCF_SCOPE} line {meta['line']}",
                notes=["reference accuracy of the conformance suite; one evaluation each, no spread"],
            ))  # fmt: skip
    return out


# --------------------------------------------------------------------------
# pytorch/vision (BSD-3-Clause): the quantized ImageNet weights and the float weights they were made from
# --------------------------------------------------------------------------

TV_REPO = "pytorch/vision"
#: the v0.21.0 release: the files as shipped in the torchvision 0.21.0 wheel, whose torchvision/version.py names
#: this commit (git_version); docs/data-zooq.md
TV_COMMIT = "7af698794eded568735f9519593603c1ec889eba"
TV_LICENCE = "BSD-3-Clause"
TV_MODELS = "torchvision/models"
#: model files holding quantized weights (under quantization/) and the float weights they name as ``unquantized``
TV_FILES = ("googlenet", "inception", "mobilenetv2", "mobilenetv3", "resnet", "shufflenetv2")
#: images in the ImageNet-1K (ILSVRC2012) validation split on which torchvision's ``acc@1`` / ``acc@5`` are measured
#: (docs/data-zooq.md); the file names the dataset (``ImageNet-1K``), not its size
IMAGENET_VAL_IMAGES = "50000"
#: how the quantized weights were made, from each entry's ``_docs`` text
TV_TECHNIQUES = {"Post Training Quantization": "ptq-static", "Quantization Aware Training": "qat"}


def _tv_meta(node: ast.Dict, text: str, module_dicts: dict[str, ast.Dict]) -> dict:
    """A ``meta={...}`` literal as nested dicts of :class:`Scalar` (source text, or a string's value; its line).

    ``**NAME`` entries are expanded from the module-level dict of that name, in order, so that a later key wins as
    it does in Python.
    """
    out: dict = {}
    for key, val in zip(node.keys, node.values, strict=True):
        if key is None:
            out.update(_tv_meta(module_dicts[val.id], text, module_dicts))
        elif isinstance(val, ast.Dict):
            out[key.value] = _tv_meta(val, text, module_dicts)
        elif isinstance(val, ast.Constant) and isinstance(val.value, str):
            out[key.value] = Scalar(val.value, val.lineno)
        else:
            out[key.value] = Scalar(ast.get_source_segment(text, val), val.lineno)
    return out


@functools.cache
def tv_weights(path: str) -> dict[str, dict]:
    """``<WeightsEnum class>.<member>`` -> ``meta`` of every ``Weights(...)`` in one vendored model file.

    The file is parsed with ``ast`` (no code from it is run).
    """
    text = source_file(TV_REPO, TV_COMMIT, path).read_text(encoding="utf-8")
    tree = ast.parse(text)
    module_dicts = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                    and isinstance(node.value, ast.Dict) for t in node.targets if isinstance(t, ast.Name)}  # fmt: skip
    out = {}
    for cls in tree.body:
        if not (isinstance(cls, ast.ClassDef) and any(getattr(b, "id", "") == "WeightsEnum" for b in cls.bases)):
            continue
        for stmt in cls.body:
            if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call) and \
                    getattr(stmt.value.func, "id", "") == "Weights":  # fmt: skip
                meta = next(k.value for k in stmt.value.keywords if k.arg == "meta")
                out[f"{cls.name}.{stmt.targets[0].id}"] = _tv_meta(meta, text, module_dicts)
    return out


def _tv_float(name: str) -> tuple[str, dict]:
    """The float weights ``<class>.<member>`` named by a quantized entry: (vendored path, meta)."""
    for f in TV_FILES:
        path = f"{TV_MODELS}/{f}.py"
        if name in tv_weights(path):
            return path, tv_weights(path)[name]
    raise KeyError(name)


def torchvision_quantized() -> list[dict]:
    """INT8 torchvision weights vs the float weights they were made from: ImageNet-1K acc@1, acc@5, file size."""
    out = []
    for f in TV_FILES:
        path = f"{TV_MODELS}/quantization/{f}.py"
        for name, q in tv_weights(path).items():
            cls, _, member = name.partition(".")
            model_id = cls.removesuffix("_QuantizedWeights").lower()
            bname = q["unquantized"].text
            bpath, b = _tv_float(bname)
            docs = " ".join(q["_docs"].text.split())
            technique = next(t for k, t in TV_TECHNIQUES.items() if k in docs)
            backend = q["backend"].text
            common = dict(
                study="TORCHVISION_QUANTIZED", comparison=f"{model_id}|{member}", model=f"torchvision/{model_id}",
                hardware="", technique=technique, baseline_precision="fp32", quant_precision="int8", bits="8",
                act_bits="8", x_model_id=model_id,
                x_params=q["num_params"].text, x_domain="Computer Vision", x_task_family="Image Classification",
                x_runtime="PyTorch", x_engine=f"PyTorch eager mode quantization ({backend} backend)",
                x_algorithm=docs, x_settings=f"backend {backend}; recipe {q['recipe'].text}",
                x_licence=TV_LICENCE, x_source_repo=TV_REPO, x_source_path=path, x_source_commit=TV_COMMIT,
            )  # fmt: skip
            for key, top in (("acc@1", "top-1"), ("acc@5", "top-5")):
                bs, qs = b["_metrics"]["ImageNet-1K"][key], q["_metrics"]["ImageNet-1K"][key]
                out.append(new_row(
                    **common, task=f"ImageNet-1K validation ({top})", property="accuracy", metric=key, unit="%",
                    baseline_mean=num(bs.text), quant_mean=num(qs.text), n_eval=IMAGENET_VAL_IMAGES,
                    baseline_group=f"TORCHVISION_QUANTIZED|{bname}|{key}",
                    provenance=f"{name} meta['_metrics']['ImageNet-1K']['{key}'] (line {qs.line}) vs {bname} "
                    f"(unquantized, {bpath} line {bs.line})",
                    notes=["both arms on the ImageNet-1K validation images (n_eval, paired)"],
                ))  # fmt: skip
            bs, qs = b["_file_size"], q["_file_size"]
            out.append(new_row(
                **common, task="weights file", property="storage_size", metric="_file_size", unit="MB",
                baseline_mean=num(bs.text), quant_mean=num(qs.text),
                baseline_group=f"TORCHVISION_QUANTIZED|{bname}|_file_size",
                provenance=f"{name} meta['_file_size'] (line {qs.line}) vs {bname} (unquantized, {bpath} line "
                f"{bs.line})",
                notes=["the file prints the size without a unit; torchvision's documentation tables head it MB"],
            ))  # fmt: skip
    return out


# --------------------------------------------------------------------------
# openvinotoolkit/openvino (Apache-2.0): performance benchmark data of the 2024.3 release
# --------------------------------------------------------------------------

OV_REPO = "openvinotoolkit/openvino"
#: the one commit at which the file of the 2024.3 release figures was read (docs/data-zooq.md)
OV_COMMIT = "d45251740fe442dcf79203430189760035851f14"
OV_LICENCE = "Apache-2.0"
OV_DATA = "docs/sphinx_setup/_static/benchmarks_files/OV-2024.3-benchmark-data.csv"
#: platform-name suffix -> the device the benchmark ran on
OV_DEVICES = {"CPU-only": "CPU", "iGPU-only": "iGPU", "NPU-only": "NPU", "dGPU": "dGPU", "CPU+iGPU": "CPU+iGPU"}
#: UOM_T of the blocks whose throughput is ingested -> unit; tokens/sec blocks are LLMs and are not ingested
OV_THROUGHPUT_UNITS = {"FPS": "FPS"}
#: UOM_L -> latency unit; "Generation time, sec." is the image generation time of the Stable Diffusion block
OV_LATENCY_UNITS = {"msec.": "ms", "Generation time, sec.": "s"}


def openvino_benchmark() -> list[dict]:
    """INT8 vs float throughput (and latency where both precisions print one) per model x platform.

    The float arm is FP32 where the row prints one, else FP16 (GPU and NPU rows print FP16 only).  Blocks in
    tokens/sec are LLMs and give no row; a row lacking the INT8 or every float figure gives none.
    """
    path = source_file(OV_REPO, OV_COMMIT, OV_DATA)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        lines = [(reader.line_num, dict(zip(header, r, strict=True))) for r in reader]
    entries = [(ln, r) for ln, r in lines if r["Network model"] not in ("begin_rec", "end_rec")]
    figures = ("Throughput-INT8", "Throughput-FP16", "Throughput-FP32", "Latency_int8")
    seen: dict[tuple, list[tuple[int, str]]] = {}
    for ln, r in entries:
        if any(r[k] for k in figures):
            seen.setdefault((r["Network model"], *(r[k] for k in figures)), []).append((ln, r["Platform name"]))
    out = []
    for ln, r in entries:
        model, platform = r["Network model"], r["Platform name"].strip()
        if r["UOM_T"] not in OV_THROUGHPUT_UNITS and r["UOM_L"] != "Generation time, sec.":
            SKIPPED[("OPENVINO_BENCHMARK", f"LLM row ({r['UOM_T']}), not ingested")] += 1
            continue
        device = next(d for suffix, d in OV_DEVICES.items() if platform.endswith(suffix))
        twins = [f"line {t} ({p})" for t, p in seen.get((model, *(r[k] for k in figures)), []) if t != ln]
        confounded = "true" if twins else "false"
        notes = [f"every figure identical to {', '.join(twins)} of the same model" if twins else ""]
        common = dict(
            study="OPENVINO_BENCHMARK", comparison=f"{model}|int8|{platform}|{r['Release']}", model=model,
            hardware=platform, quant_precision="int8", bits="8", confounded=confounded,
            x_model_id=model, x_runtime="OpenVINO", x_engine=f"OpenVINO {r['Release'].removeprefix('OV-')}",
            x_compute_unit=device, x_baseline_compute_unit=device, x_settings=f"IE-Type {r['IE-Type']}",
            x_licence=OV_LICENCE, x_source_repo=OV_REPO, x_source_path=OV_DATA, x_source_commit=OV_COMMIT,
        )  # fmt: skip
        pairs = []
        if r["UOM_T"] in OV_THROUGHPUT_UNITS:
            pairs.append(("throughput", "throughput", OV_THROUGHPUT_UNITS[r["UOM_T"]], "Throughput-INT8",
                          ("Throughput-FP32", "Throughput-FP16")))  # fmt: skip
        pairs.append(("inference_latency", "latency" if r["UOM_L"] == "msec." else "image generation time",
                      OV_LATENCY_UNITS[r["UOM_L"]], "Latency_int8", ("Latency_FP32", "Latency_FP16")))  # fmt: skip
        for prop, metric, unit, qkey, bkeys in pairs:
            bkey = next((k for k in bkeys if r[k]), None)
            if not r[qkey] or bkey is None:
                if r[qkey] or any(r[k] for k in bkeys):
                    why = "no INT8 figure" if not r[qkey] else "INT8 figure without an FP32 or FP16 figure"
                    SKIPPED[("OPENVINO_BENCHMARK", f"{prop}: {why}")] += 1
                elif prop == "throughput":  # a latency column left empty on both arms is the usual case
                    SKIPPED[("OPENVINO_BENCHMARK", f"{prop}: no figure")] += 1
                continue
            if Decimal(r[bkey]) == 0 or Decimal(r[qkey]) == 0:
                EXCLUDED["OPENVINO_BENCHMARK"] += 1
                continue
            prec = bkey.rpartition("FP")[2]
            out.append(new_row(
                **common, task=f"{'throughput' if prop == 'throughput' else 'latency'}, batch size 1",
                property=prop, metric=metric, unit=unit, baseline_precision=f"fp{prec}",
                baseline_mean=num(r[bkey]), quant_mean=num(r[qkey]),
                baseline_group=f"OPENVINO_BENCHMARK|{model}|{platform}|fp{prec}",
                provenance=f"line {ln}: {qkey} {r[qkey]} vs {bkey} {r[bkey]}",
                notes=notes + ["one benchmark figure per arm, no spread",
                               "INT8 as the file names it; whether activations are quantized is not stated"],
            ))  # fmt: skip
    return out


# --------------------------------------------------------------------------
# onnx/models (Apache-2.0): the INT8 / QDQ rows of the validated models' README tables
# --------------------------------------------------------------------------

ONNX_REPO = "onnx/models"
#: the last commit that changed the validated/ folder (2023-12-21); the newest commit (b1eeaa1a, 2025-06-27) adds a
#: deprecation notice and leaves every file read here unchanged (docs/data-zooq.md)
ONNX_COMMIT = "4c46cd00fbdb7cd30b6c1c17ab54f2e1f4f7b177"
ONNX_LICENCE = "Apache-2.0"
#: model folder under validated/ -> (x_domain, x_task_family); every folder whose README table prints an INT8 or QDQ
#: model with a figure (emotion_ferplus and ultraface print none and are not vendored)
ONNX_FOLDERS = {
    **{f"vision/classification/{m}": ("Computer Vision", "Image Classification") for m in (
        "alexnet", "caffenet", "densenet-121", "efficientnet-lite4", "inception_and_googlenet/googlenet",
        "inception_and_googlenet/inception_v1", "mnist", "mobilenet", "resnet", "shufflenet", "squeezenet", "vgg",
        "zfnet-512")},
    **{f"vision/object_detection_segmentation/{m}": ("Computer Vision", "Object Detection") for m in (
        "faster-rcnn", "mask-rcnn", "ssd-mobilenetv1", "ssd", "yolov3")},
    **{f"vision/object_detection_segmentation/{m}": ("Computer Vision", "Semantic Segmentation") for m in (
        "duc", "fcn")},
    "vision/body_analysis/arcface": ("Computer Vision", "Face Recognition"),
    **{f"text/machine_comprehension/{m}": ("Natural Language Processing", "Question Answering") for m in (
        "bert-squad", "bidirectional_attention_flow")},
}  # fmt: skip
#: figure column header (stripped) -> (property, metric, unit); the 'Accuracy' columns print 'mAP of x' (COCO box
#: mAP@[0.5:0.95], as each of those READMEs states), 'EM of x in SQuAD v1.1' or, for BERT-Squad, the bare EM figure
ONNX_COLUMNS = {
    "Top-1 accuracy (%)": ("accuracy", "top-1 accuracy", "%"),
    "Top-5 accuracy (%)": ("accuracy", "top-5 accuracy", "%"),
    "LFW * accuracy (%)": ("accuracy", "LFW accuracy", "%"),
    "CFP-FF * accuracy (%)": ("accuracy", "CFP-FF accuracy", "%"),
    "CFP-FP * accuracy (%)": ("accuracy", "CFP-FP accuracy", "%"),
    "AgeDB-30 * accuracy (%)": ("accuracy", "AgeDB-30 accuracy", "%"),
    "[mIOU](#metric) (%)": ("miou", "mIoU", "%"),
    "Mean IoU": ("miou", "mean IoU", "%"),
    "mAP": ("map", "mAP", "fraction"),
    "Accuracy": None,  # by the printed form, ONNX_ACCURACY_FORMS
}
ONNX_ACCURACY_FORMS = (
    (re.compile(r"mAP of ([\d.]+)"), ("map_50_95", "COCO box mAP@[0.5:0.95]", "fraction")),
    (re.compile(r"EM of ([\d.]+) in SQuAD v1\.1"), ("accuracy", "exact match (EM), SQuAD v1.1", "%")),
    (re.compile(r"([\d.]+)"), ("accuracy", "exact match (EM), SQuAD v1.1", "%")),
)
#: columns printing error rates, which have no registered property
ONNX_ERROR_COLUMNS = {"TOP-1 ERROR", "Top-1 error", "Top-5 error"}
#: the sentence by which a README states that its accuracies are on the ImageNet (ILSVRC2012) validation split, of
#: IMAGENET_VAL_IMAGES images; classification READMEs without it name ILSVRC only as the training data
ONNX_IMAGENET_VAL = "Dataset used for train and validation: [ImageNet (ILSVRC2012)]"
_ONNX_DOWNLOAD = re.compile(r"\[(?P<v>[\d.]+) ?(?P<u>kB|MB)\]\(model/(?P<file>[^)]+\.onnx)\)")
_ONNX_INC_FP32 = re.compile(r"The fp32 Top-1 accuracy got by \[Intel® Neural Compressor\]\([^)]*\) is ([\d.]+)%")
_ONNX_INSTRUCTIONS = re.compile(r"View the \[instructions\]\(https://github\.com/intel/neural-compressor/blob/master/"
                                r"examples/(?P<path>[^)]+)\)")  # fmt: skip


def md_tables(text: str) -> list[list[tuple[int, list[str]]]]:
    """The pipe tables of a Markdown text: per table, its rows as (1-based line, stripped cells), header first.

    The separator line (``|---|:---|``) is dropped; a row's leading and trailing pipes are not cells.
    """
    tables, cur = [], []
    for ln, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s.startswith("|"):
            cells = [c.strip() for c in s.strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                cur.append((ln, cells))
        elif cur:
            tables.append(cur)
            cur = []
    if cur:
        tables.append(cur)
    return tables


def _onnx_entry(cells: list[str], header: list[str], ln: int) -> dict | None:
    """One table row: name, line, ONNX version, opset, model file and size, figures by column header."""
    m = _ONNX_DOWNLOAD.search(cells[1]) if len(cells) > 1 else None
    if m is None:
        return None
    cols = dict(zip(header, cells, strict=False))
    version = next(v for k, v in cols.items() if k.replace(" ", "").lower() == "onnxversion")
    opset = next(v for k, v in cols.items() if k.replace(" ", "").lower() == "opsetversion")
    return {"name": cells[0], "line": ln, "file": m.group("file"), "size": m.group("v"), "size_unit": m.group("u"),
            "onnx": version, "opset": int(opset), "cols": cols}  # fmt: skip


def _onnx_figure(header: str, text: str) -> tuple[str, tuple[str, str, str]] | None:
    """(number as printed, (property, metric, unit)) of one figure cell; None for an empty cell."""
    if not text:
        return None
    spec = ONNX_COLUMNS[header]
    if spec is not None:
        return num(text.removesuffix("%")), spec
    for pat, spec in ONNX_ACCURACY_FORMS:
        m = pat.fullmatch(text)
        if m:
            return num(m.group(1)), spec
    raise ValueError(f"unread figure {text!r} in column {header!r}")


def onnx_models() -> list[dict]:
    """INT8 (QOperator) and QDQ models of onnx/models' validated READMEs vs the float model of the same table.

    In each README table holding a ``*-int8.onnx`` or ``*-qdq.onnx`` model, the float baseline is the float row
    with the highest opset (the one at the quantized models' opset, from which the READMEs say they were made);
    every figure column with a registered property gives a row where both arms print a figure, and the model files'
    download sizes give a ``storage_size`` row.
    """
    out = []
    for folder, (domain, family) in ONNX_FOLDERS.items():
        path = f"validated/{folder}/README.md"
        text = source_file(ONNX_REPO, ONNX_COMMIT, path).read_text(encoding="utf-8")
        inst = _ONNX_INSTRUCTIONS.search(text)
        inst_path = inst.group("path") if inst else ""
        technique = next((t for k, t in (("ptq_static", "ptq-static"), ("ptq_dynamic", "ptq-dynamic"))
                          if f"/{k}/" in inst_path), "")  # fmt: skip
        inc_fp32 = _ONNX_INC_FP32.search(text)
        n_eval = IMAGENET_VAL_IMAGES if ONNX_IMAGENET_VAL in text else ""
        model_id = folder.rpartition("/")[2]
        for table in md_tables(text):
            header = table[0][1]
            entries = [e for ln, cells in table[1:] if (e := _onnx_entry(cells, header, ln))]
            quant = [e for e in entries if e["file"].endswith(("-int8.onnx", "-qdq.onnx"))]
            if not quant:
                continue
            floats = [e for e in entries if e not in quant and any(
                e["cols"].get(h) for h in header if h in ONNX_COLUMNS or h in ONNX_ERROR_COLUMNS)]  # fmt: skip
            top = max(e["opset"] for e in floats)
            (base,) = [e for e in floats if e["opset"] == top]
            int8_opset = min(e["opset"] for e in quant)
            for q in quant:
                out += _onnx_rows(folder, path, model_id, domain, family, header, base, q, technique, inst_path,
                                  inc_fp32, n_eval, int8_opset)  # fmt: skip
    return out


def _onnx_rows(
    folder, path, model_id, domain, family, header, base, q, technique, inst_path, inc_fp32, n_eval, int8_opset
) -> list[dict]:
    fmt_ = "qdq" if q["file"].endswith("-qdq.onnx") else "int8"
    model = re.sub(r"-fp32$", "", base["name"])
    notes = ["one evaluation per arm, no spread"]
    if not technique:
        notes.append("INT8 as the README names it; static or dynamic quantization of activations is not stated")
    confounded = "false"
    if base["opset"] < int8_opset:
        confounded = "true"
        notes.append(
            f"the table prints no float model at the quantized model's opset: float opset {base['opset']} "
            f"(ONNX {base['onnx']}), {fmt_} opset {q['opset']} (ONNX {q['onnx']})"
        )
    elif base["opset"] != q["opset"]:
        notes.append(f"float model opset {base['opset']}, {fmt_} model opset {q['opset']}")
    common = dict(
        study="ONNX_MODELS", comparison=f"{model_id}|{q['name']}", model=model, hardware="", technique=technique,
        baseline_precision="fp32", quant_precision="int8" if fmt_ == "int8" else "int8-qdq", bits="8",
        act_bits="8" if technique else "",
        x_model_id=model_id, x_domain=domain, x_task_family=family, x_runtime="ONNX Runtime",
        x_engine=f"ONNX {q['onnx']}, opset {q['opset']} ({'QDQ' if fmt_ == 'qdq' else 'QOperator'} format)",
        x_algorithm="Intel Neural Compressor post-training quantization, ONNX Runtime backend",
        x_settings=f"instructions: neural-compressor examples/{inst_path}" if inst_path else "",
        x_licence=ONNX_LICENCE, x_source_repo=ONNX_REPO, x_source_path=path, x_source_commit=ONNX_COMMIT,
    )  # fmt: skip
    rows = []
    for h in header:
        if h in ONNX_ERROR_COLUMNS:
            if q["cols"].get(h):
                SKIPPED[("ONNX_MODELS", "error-rate column (no registered property)")] += 1
            continue
        if h not in ONNX_COLUMNS:
            continue
        qf, bf = _onnx_figure(h, q["cols"].get(h, "")), _onnx_figure(h, base["cols"].get(h, ""))
        if qf is None or bf is None:
            if qf is not None:
                SKIPPED[("ONNX_MODELS", "quantized figure without a float figure")] += 1
            elif bf is not None:
                SKIPPED[("ONNX_MODELS", "float figure without a quantized figure")] += 1
            continue
        (qv, (prop, metric, unit)), (bv, _) = qf, bf
        if Decimal(qv) == 0 or Decimal(bv) == 0:
            EXCLUDED["ONNX_MODELS"] += 1
            continue
        row_conf, row_notes = confounded, list(notes)
        if inc_fp32 and metric == "top-1 accuracy":
            row_conf = "true"
            row_notes.append(
                f"the README states the fp32 top-1 accuracy measured with Intel Neural Compressor, the "
                f"reference of its int8 comparison, as {inc_fp32.group(1)} %, not the table's {bv}"
            )
        rows.append(new_row(
            **common, task=metric, property=prop,
            metric=metric, unit=unit, baseline_mean=bv, quant_mean=qv,
            n_eval=n_eval if prop == "accuracy" and unit == "%" and metric.startswith("top-") else "",
            baseline_group=f"ONNX_MODELS|{model_id}|{base['name']}|{metric}", confounded=row_conf,
            provenance=f"line {q['line']}: {q['name']} '{h}' {q['cols'][h]} vs line {base['line']}: {base['name']} "
            f"{base['cols'][h]}",
            notes=row_notes,
        ))  # fmt: skip
    if q["size_unit"] == base["size_unit"]:
        rows.append(new_row(
            **common, task="ONNX model file", property="storage_size", metric="model download size",
            unit=q["size_unit"], baseline_mean=num(base["size"]), quant_mean=num(q["size"]),
            baseline_group=f"ONNX_MODELS|{model_id}|{base['name']}|size", confounded=confounded,
            provenance=f"line {q['line']}: {q['name']} [{q['size']} {q['size_unit']}](model/{q['file']}) vs line "
            f"{base['line']}: {base['name']} (model/{base['file']})",
            notes=notes,
        ))  # fmt: skip
    else:
        SKIPPED[("ONNX_MODELS", "sizes printed in different units")] += 1
    return rows


# --------------------------------------------------------------------------
# SYSTRAN/faster-whisper (MIT): the README benchmark tables, one edition per set of published figures
# --------------------------------------------------------------------------

FW_REPO = "SYSTRAN/faster-whisper"
FW_LICENCE = "MIT"
FW_PATH = "README.md"
#: the commit that last showed each edition of the benchmark figures (docs/data-zooq.md): faster-whisper@cbbe633 (CPU
#: int8 only), @cda834c (medium on a V100S, small on a Xeon Gold 6226R), @cce6b53e (large-v2 on the V100S, same CPU),
#: v1.1.0 (large-v2 on an RTX 3070 Ti, small on a Core i7-12700K; the newest commit)
FW_COMMITS = (
    "0b535499023c20f9ecd68b7f73cff9f39e0bf949",
    "8321fcb9224c241e95cc014829e42f90c48cccc8",
    "e0c3a9ed34f77db5c6e2e8432bb0d1ccb155e1af",
    "65882eee9f5cdbeeb2d877f1131d48cf241b327d",
)
#: column header -> (property, metric, unit, compute unit); Max. = peak, Usage = memory used
FW_COLUMNS = {
    "Time": ("inference_latency", "time to transcribe 13 minutes of audio", "s", ""),
    "Max. GPU memory": ("peak_memory", "max. GPU memory", "MB", "GPU"),
    "Max. CPU memory": ("peak_memory", "max. CPU memory", "MB", "CPU"),
    "Max. memory": ("peak_memory", "max. memory", "MB", "CPU"),
    "VRAM Usage": ("gpu_memory_utilization", "VRAM usage", "MB", "GPU"),
    "RAM Usage": ("ram_usage", "RAM usage", "MB", "CPU"),
}
#: the float precision each quantized row is compared with: fp16 on GPU, fp32 on CPU, as the tables print them
FW_FLOAT = {"GPU": "fp16", "CPU": "fp32"}
_FW_TIME = re.compile(r"(?:(\d+)m)?(\d+)s")
_FW_HEADING = re.compile(r"### (?P<model>.+) model on (?P<device>GPU|CPU)")
_FW_VERSION = re.compile(r"\* \[?faster-whisper(?:\]\([^)]*\))?@\[(?P<v>[^\]]+)\]")


def _fw_seconds(text: str) -> str:
    """``2m44s`` -> ``164``; ``59s`` -> ``59``."""
    m = _FW_TIME.fullmatch(text)
    return str(int(m.group(1) or 0) * 60 + int(m.group(2)))


def faster_whisper() -> list[dict]:
    """faster-whisper int8 vs fp16 (GPU) or fp32 (CPU) time and memory, per README edition, table and batch size.

    Each ``### <model> model on <GPU|CPU>`` table's ``faster-whisper`` int8 row is compared with the float row of
    the same implementation label (``faster-whisper`` or ``faster-whisper (`batch_size=8`)``); the other
    implementations (openai/whisper, whisper.cpp, transformers) give no row.
    """
    out = []
    for commit in FW_COMMITS:
        text = source_file(FW_REPO, commit, FW_PATH).read_text(encoding="utf-8")
        lines = text.splitlines()
        version = _FW_VERSION.search(text).group("v")
        for table in md_tables(text):
            first = table[0][0]
            heading = next((_FW_HEADING.fullmatch(lines[i].strip()) for i in range(first - 2, -1, -1)
                            if lines[i].startswith("#")), None)  # fmt: skip
            if heading is None:
                continue
            hw = next(lines[i].strip("*").strip() for i in range(table[-1][0], len(lines))
                      if lines[i].startswith("*Executed") or lines[i].startswith("*GPU Benchmarks"))  # fmt: skip
            header = table[0][1]
            rows = [(ln, dict(zip(header, cells, strict=True))) for ln, cells in table[1:]]
            fw = [(ln, r) for ln, r in rows if r["Implementation"].startswith("faster-whisper")]
            device = heading.group("device")
            for ln, q in fw:
                if q["Precision"] != "int8":
                    continue
                base = [(bl, b) for bl, b in fw if b["Implementation"] == q["Implementation"]
                        and b["Precision"] == FW_FLOAT[device]]  # fmt: skip
                if not base:
                    SKIPPED[("FASTER_WHISPER", "int8 row without a float row of the same implementation")] += 1
                    continue
                ((bl, b),) = base
                out += _fw_rows(commit, version, heading, hw, header, ln, q, bl, b)
    return out


def _fw_rows(commit, version, heading, hw, header, ln, q, bl, b) -> list[dict]:
    device = heading.group("device")
    model = f"Whisper {heading.group('model')}"
    impl = q["Implementation"]
    batch = re.search(r"batch_size=(\d+)", impl)
    rows = []
    for h in header:
        if h not in FW_COLUMNS:
            if h not in ("Implementation", "Precision", "Beam size"):
                SKIPPED[("FASTER_WHISPER", f"column without a registered property: {h}")] += 1
            continue
        prop, metric, unit, cu = FW_COLUMNS[h]
        if h == "Time":
            bv, qv = _fw_seconds(b[h]), _fw_seconds(q[h])
        else:
            bv, qv = num(b[h].removesuffix("MB")), num(q[h].removesuffix("MB"))
        rows.append(new_row(
            study="FASTER_WHISPER", comparison=f"{commit[:8]}|{model}|{device}|{impl}|int8", model=model,
            task=f"transcribe 13 minutes of audio, beam size {q['Beam size']}"
            + (f", batch size {batch.group(1)}" if batch else ""),
            hardware=re.sub(r"^(GPU Benchmarks are )?Executed with ", "", hw).rstrip("."), technique="",
            baseline_precision=FW_FLOAT[device], quant_precision="int8", bits="8", act_bits="",
            property=prop, metric=metric, unit=unit, baseline_mean=bv, quant_mean=qv,
            baseline_group=f"FASTER_WHISPER|{commit[:8]}|{model}|{device}|{impl}|{h}",
            x_model_id=heading.group("model"), x_domain="Audio", x_task_family="Speech Recognition",
            x_runtime="CTranslate2", x_engine=f"faster-whisper@{version}", x_compute_unit=cu or device,
            x_baseline_compute_unit=cu or device, x_original_unit="m:s" if h == "Time" else "",
            x_settings=f"beam size {q['Beam size']}" + (f"; batch_size {batch.group(1)}" if batch else ""),
            x_licence=FW_LICENCE, x_source_repo=FW_REPO, x_source_path=FW_PATH, x_source_commit=commit,
            provenance=f"line {ln}: {impl} int8 {h} {q[h]} vs line {bl}: {impl} {FW_FLOAT[device]} {b[h]}",
            notes=["one benchmark run per arm, no spread",
                   "int8 as the README names CTranslate2's compute type; activations are not stated"],
        ))  # fmt: skip
    return rows


# --------------------------------------------------------------------------


SOURCES = (
    aihub_perf,
    aihub_numerics,
    aihub_model_size,
    nncf_ptq,
    torchvision_quantized,
    openvino_benchmark,
    onnx_models,
    faster_whisper,
)


def build() -> list[dict]:
    aihub_info.cache_clear()
    tv_weights.cache_clear()
    EXCLUDED.clear()
    SKIPPED.clear()
    rows = []
    for fn in SOURCES:
        rows += fn()
    return rows


def main(out: Path = DEFAULT_OUTPUT) -> None:
    rows = build()
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {len(rows)} rows to {out}")
    for study, n in sorted(Counter(r["study"] for r in rows).items()):
        print(f"  {study}: {n} rows ({EXCLUDED[study]} with a zero figure not written)")
    for (study, why), n in sorted(SKIPPED.items()):
        print(f"  {study}: {n} entries skipped: {why}")


if __name__ == "__main__":
    main(*[Path(a) for a in sys.argv[1:2]])
