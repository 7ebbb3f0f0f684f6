"""Build ``data/llmq.csv``: published LLM quantization results, one row per comparison x metric.

Every figure is read from a source file as published, vendored byte for byte under
``analyses/data/sources/<owner>+<repo>/<commit>/<path>`` together with the
repository's licence, so the build is reproducible from a clean checkout::

    python analyses/data/build_llmq.py [OUTPUT_CSV]

One function per source reads its files and returns rows in the *measurements*
form (docs/data-format.md); docs/data-llmq.md documents every decision.  Shared
conventions:

* ``study`` is one source table (a result suite of one repository), ``comparison``
  ``model|configuration[|variant]``, unique within a study and property;
* ``bits`` / ``act_bits`` are the weight and activation bits of the quantized arm
  (16 where that tensor stays in FP16), ``x_kv_bits`` the KV-cache bits;
* ``x_source_repo``, ``x_source_path``, ``x_source_commit`` pin the file every row
  comes from (also joined in ``source``); ``provenance`` names the entry in it;
* spreads are copied only where the source prints them; no row has an invented sd;
* rows sharing one baseline measurement (the same FP16 figure of the same model,
  task and metric in the same source) share ``baseline_group``;
* a quantized figure of exactly zero has no log response ratio; such rows are not
  written and are counted per study in ``EXCLUDED`` (printed by the build).
"""

from __future__ import annotations

import ast
import csv
import re
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES_DIR = ROOT / "analyses" / "data" / "sources"
DEFAULT_OUTPUT = ROOT / "data" / "llmq.csv"

COLUMNS = (
    "study", "comparison", "model", "task", "hardware", "technique", "granularity", "baseline_precision",
    "quant_precision", "bits", "act_bits", "property", "metric", "unit", "higher_is_better", "baseline_mean",
    "baseline_sd", "baseline_n", "quant_mean", "quant_sd", "quant_n", "n_runs", "baseline_group", "confounded",
    "source", "provenance", "notes", "x_kv_bits", "x_group_size", "x_params", "x_family", "x_task_family",
    "x_engine", "x_algorithm", "x_calibration", "x_licence", "x_source_repo", "x_source_path", "x_source_commit",
    "x_first_figure", "x_original_unit", "x_bpw", "x_baseline_sd", "x_quant_sd", "x_batch_size",
)  # fmt: skip

HIGHER_IS_BETTER = {"accuracy": True, "perplexity": False, "storage_size": False, "throughput": True,
                    "inference_latency": False, "peak_memory": False, "gpu_memory_utilization": False}  # fmt: skip

#: Rows not written because the quantized figure is exactly zero (no log ratio), per study.
EXCLUDED: Counter = Counter()


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def fmt(d: Decimal) -> str:
    """Plain decimal string without exponent or trailing zeros."""
    s = f"{d.normalize():f}"
    return s


def percent(fraction) -> str:
    """A fraction (as printed, or a float's shortest repr) times 100, in exact decimal arithmetic."""
    return fmt(Decimal(repr(fraction) if isinstance(fraction, float) else str(fraction)) * 100)


def num(x) -> str:
    """A number as printed: floats by their shortest repr, which is the literal in the source."""
    return fmt(Decimal(repr(x) if isinstance(x, float) else str(x)))


def source_file(repo: str, commit: str, path: str) -> Path:
    return SOURCES_DIR / repo.replace("/", "+") / commit / path


def python_assignments(path: Path) -> dict:
    """Module-level ``NAME = literal`` assignments of a Python result file, read with :mod:`ast`.

    A later assignment to the same name replaces an earlier one, as when Python runs the file.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = ast.literal_eval(node.value)
    return out


def new_row(**kw) -> dict:
    row = dict.fromkeys(COLUMNS, "")
    notes = kw.pop("notes", [])
    row.update(kw)
    row["higher_is_better"] = str(HIGHER_IS_BETTER[row["property"]]).lower()
    row["confounded"] = row["confounded"] or "false"
    row["notes"] = "; ".join(n for n in notes if n)
    row["source"] = f"{row['x_source_repo']}:{row['x_source_path']}@{row['x_source_commit']}"
    return row


def assign_groups(rows: list[dict]) -> None:
    """``baseline_group`` = study|model|task|metric|baseline value: one id per distinct FP16 measurement.

    Keying on the value as well keeps apart two FP16 figures that a source prints differently for the same
    model and task in two files (a rerun), so rows of one group always share their baseline exactly.
    """
    for r in rows:
        if not r["baseline_group"]:
            r["baseline_group"] = "|".join(
                (r["study"], r["model"], r["task"], r["baseline_precision"], r["baseline_mean"])
            )


# --------------------------------------------------------------------------
# thu-nics/qllm-eval (MIT): Li et al. 2024, "Evaluating Quantized Large Language Models", arXiv:2402.18158
# --------------------------------------------------------------------------

QLLM_REPO = "thu-nics/qllm-eval"
QLLM_COMMIT = "6d047af23fed4299241a5bd2fc92f85022248949"
QLLM_LICENCE = "MIT"
_VIS = "qllm_eval/visualization"

#: canonical model name -> (family, nominal parameter count).  The count is the one in the model's name
#: (BLOOM's largest model is named 175B by the source and 176B by its authors: 176e9); Mixtral-8x7B has
#: 46.7e9 parameters in all (12.9e9 active per token).
QLLM_MODELS = {
    "OPT-125M": ("OPT", 125e6), "OPT-1.3B": ("OPT", 1.3e9), "OPT-2.7B": ("OPT", 2.7e9), "OPT-6.7B": ("OPT", 6.7e9),
    "OPT-13B": ("OPT", 13e9), "OPT-30B": ("OPT", 30e9), "OPT-66B": ("OPT", 66e9),
    "Falcon-7B": ("Falcon", 7e9), "Falcon-40B": ("Falcon", 40e9), "Falcon-180B": ("Falcon", 180e9),
    "LLaMA2-7B": ("LLaMA-2", 7e9), "LLaMA2-13B": ("LLaMA-2", 13e9), "LLaMA2-70B": ("LLaMA-2", 70e9),
    "BLOOM-560M": ("BLOOM", 560e6), "BLOOM-1.1B": ("BLOOM", 1.1e9), "BLOOM-1.7B": ("BLOOM", 1.7e9),
    "BLOOM-3B": ("BLOOM", 3e9), "BLOOM-7.1B": ("BLOOM", 7.1e9), "BLOOM-176B": ("BLOOM", 176e9),
    "BLOOMZ-560M": ("BLOOMZ", 560e6), "BLOOMZ-1.1B": ("BLOOMZ", 1.1e9), "BLOOMZ-1.7B": ("BLOOMZ", 1.7e9),
    "BLOOMZ-3B": ("BLOOMZ", 3e9), "BLOOMZ-7.1B": ("BLOOMZ", 7.1e9), "BLOOMZ-176B": ("BLOOMZ", 176e9),
    "ChatGLM3-6B": ("ChatGLM3", 6e9), "ChatGLM3-6B-32k": ("ChatGLM3", 6e9),
    "Mistral-7B": ("Mistral", 7e9), "Mixtral-8x7B": ("Mixtral", 46.7e9),
    "StableLM-Zephyr-3B": ("StableLM", 3e9), "Gemma-2B": ("Gemma", 2e9), "Gemma-7B": ("Gemma", 7e9),
    "Mamba-2.8B": ("Mamba", 2.8e9), "ChatGLM2-6B": ("ChatGLM2", 6e9), "LongChat-7B": ("LongChat", 7e9),
    "LongChat-13B": ("LongChat", 13e9), "Vicuna-7B": ("Vicuna", 7e9), "Vicuna-13B": ("Vicuna", 13e9),
}  # fmt: skip

_QLLM_ALIASES = {
    "opt125m": "OPT-125M", "opt1b3": "OPT-1.3B", "opt2b7": "OPT-2.7B", "opt6b7": "OPT-6.7B", "opt13b": "OPT-13B",
    "opt30b": "OPT-30B", "opt66b": "OPT-66B", "bloom560m": "BLOOM-560M", "bloom1b1": "BLOOM-1.1B",
    "bloom1b7": "BLOOM-1.7B", "bloom3b": "BLOOM-3B", "bloom7b1": "BLOOM-7.1B", "bloom175b": "BLOOM-176B",
    "bloomz560m": "BLOOMZ-560M", "bloomz1b1": "BLOOMZ-1.1B", "bloomz1b7": "BLOOMZ-1.7B", "bloomz3b": "BLOOMZ-3B",
    "bloomz7b1": "BLOOMZ-7.1B", "bloomz175b": "BLOOMZ-176B", "falcon7b": "Falcon-7B", "falcon40b": "Falcon-40B",
    "falcon180b": "Falcon-180B", "llama27b": "LLaMA2-7B", "llama213b": "LLaMA2-13B", "llama270b": "LLaMA2-70B",
    "chatglm36b": "ChatGLM3-6B", "chatglm36b32k": "ChatGLM3-6B-32k", "mistral7b": "Mistral-7B",
    "mixtral8x7b": "Mixtral-8x7B", "stablelmzephyr3b": "StableLM-Zephyr-3B", "gemma2b": "Gemma-2B",
    "gemma7b": "Gemma-7B", "mamba2b8": "Mamba-2.8B", "chatglm26b": "ChatGLM2-6B", "longchat7b": "LongChat-7B",
    "longchat13b": "LongChat-13B", "vicuna7b": "Vicuna-7B", "vicuna13b": "Vicuna-13B",
}  # fmt: skip


def qllm_model(raw: str) -> tuple[str, str, str, float]:
    """Source model name -> (model as named, canonical base, family, params), e.g. ``'falcon_180b_chat'``."""
    name = raw.removeprefix("hf_")
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    tuned = ""
    for suffix in ("instruct", "chat", "it"):
        if key.endswith(suffix) and key[: -len(suffix)] in _QLLM_ALIASES:
            key, tuned = key[: -len(suffix)], suffix
            break
    base = _QLLM_ALIASES[key]
    family, params = QLLM_MODELS[base]
    label = {"instruct": f"{base}-Instruct", "chat": f"{base}-Chat", "it": f"{base}-IT", "": base}[tuned]
    return label, base, family, params


#: configuration label -> (weight bits, activation bits, KV bits, technique, quant_precision)
QLLM_CONFIGS = {
    "W8": (8, 16, 16), "W4": (4, 16, 16), "W3": (3, 16, 16), "W2": (2, 16, 16),
    "W8A8": (8, 8, 16), "W4A8": (4, 8, 16), "W4A4": (4, 4, 16),
    "KV8": (16, 16, 8), "KV4": (16, 16, 4), "KV3": (16, 16, 3), "KV2": (16, 16, 2),
}  # fmt: skip
_QLLM_MODE = {
    "w": ["FP16", "W8", "W4", "W3", "W2"],
    "wa": ["FP16", "W8A8", "W4A8", "W4A4"],
    "kv": ["FP16", "KV8", "KV4", "KV3", "KV2"],
}
#: qllm_eval quantizes by simulation (``pseudo_quantize_tensor``: round to nearest, asymmetric, group size 128
#: for weights, activations and KV cache by default, see docs/data-llmq.md); no spread is reported.
QLLM_ALGORITHM = "RTN (asymmetric, simulated)"


def _qllm_row(study, path, entry, raw_model, task, metric, task_family, engine, cfg, base, quant, *,
              algorithm="RTN", notes=(), percent_of=False, first_figure="") -> dict | None:  # fmt: skip
    model, _, family, params = qllm_model(raw_model)
    w, a, kv = QLLM_CONFIGS[cfg]
    if kv < 16:
        technique = "kv-cache"
    elif a < 16:
        technique = "ptq-dynamic"
    else:
        technique = "weight-only"
    if algorithm == "AWQ":
        model_id = f"{model}|{cfg}|AWQ"
    else:
        model_id = f"{model}|{cfg}"
    b = percent(base) if percent_of else num(base)
    q = percent(quant) if percent_of else num(quant)
    if Decimal(q) == 0:
        EXCLUDED[study] += 1
        return None
    return new_row(
        study=study,
        comparison=model_id,
        model=model,
        task=task,
        hardware="",
        technique=technique,
        granularity="per-group",
        baseline_precision="fp16",
        quant_precision=cfg.lower(),
        bits=str(w),
        act_bits=str(a),
        property="accuracy",
        metric=metric,
        unit="" if metric.startswith("MT-Bench") else "%",
        baseline_mean=b,
        quant_mean=q,
        x_kv_bits=str(kv),
        x_group_size="128",
        x_params=f"{params:.0f}",
        x_family=family,
        x_task_family=task_family,
        x_engine=engine,
        x_algorithm=QLLM_ALGORITHM if algorithm == "RTN" else f"{algorithm} + {QLLM_ALGORITHM}",
        x_licence=QLLM_LICENCE,
        x_source_repo=QLLM_REPO,
        x_source_path=path,
        x_source_commit=QLLM_COMMIT,
        x_first_figure=first_figure,
        x_original_unit="fraction" if percent_of else "",
        provenance=entry,
        notes=list(notes),
    )


def _qllm_series(study, path, name, values, mode, **kw) -> list[dict]:
    """One model's list [FP16, cfg1, cfg2, ...] -> one row per quantized configuration (None: not run)."""
    labels = _QLLM_MODE[mode][: len(values)]
    if len(values) > len(_QLLM_MODE[mode]):
        raise ValueError(f"{path}: {name} has {len(values)} values, more than the {mode} configurations")
    out = []
    for i, cfg in enumerate(labels[1:], start=1):
        if values[i] is None or values[0] is None:
            continue
        row = _qllm_row(study, path, f"{name}[{i}] vs {name}[0] ({cfg} vs FP16)", name, cfg=cfg,
                        base=values[0], quant=values[i], **kw)  # fmt: skip
        if row:
            out.append(row)
    return out


def qllm_lambada() -> list[dict]:
    """LAMBADA accuracy (%) of 31 base models at FP16, W8, W4, W3, W2 (basic/assets/lambada_w_only.py)."""
    path = f"{_VIS}/basic/assets/lambada_w_only.py"
    values = python_assignments(source_file(QLLM_REPO, QLLM_COMMIT, path))
    out = []
    for name, vals in values.items():
        out += _qllm_series(
            "QLLMEVAL_LAMBADA", path, name, vals, "w", task="LAMBADA", metric="accuracy (OpenCompass)",
            task_family="language modelling", engine="OpenCompass",
            notes=["the file's header reads 'demo data for the plot script'"],
        )  # fmt: skip
    return out


_EMERGENT_TASKS = {
    "arc-c": ("ARC-Challenge", "accuracy (OpenCompass)", "instruction following"),
    "arc-e": ("ARC-Easy", "accuracy (OpenCompass)", "instruction following"),
    "ceval": ("C-Eval", "accuracy (OpenCompass)", "in-context learning"),
    "gsm8k": ("GSM8K", "accuracy (OpenCompass)", "multi-step reasoning"),
    "hellaswag": ("HellaSwag", "accuracy (OpenCompass)", "instruction following"),
    "mmlu": ("MMLU", "accuracy (OpenCompass)", "in-context learning"),
    "mmlu-calib": ("MMLU self-calibration", "self-calibration score (OpenCompass, chance = 50)", "self-calibration"),
    "strategyqa": ("StrategyQA", "accuracy (OpenCompass)", "multi-step reasoning"),
}


def qllm_emergent() -> list[dict]:
    """Emergent-ability suites: tab-separated ``model  FP16  cfg1 ...`` lines, one file per task and mode.

    MMLU files print two figures per cell (``46.69/45.89``); the repository's own plots read the second, which is
    kept as the value, the first in ``x_first_figure`` (the repository does not say what the first one is).
    """
    out = []
    for task_key, (task, metric, family) in _EMERGENT_TASKS.items():
        for mode in ("w", "wa", "kv"):
            path = f"{_VIS}/emergent/emergent/{task_key}_{mode}.txt"
            text = source_file(QLLM_REPO, QLLM_COMMIT, path).read_text(encoding="utf-8")
            for lineno, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                name, *cells = line.rstrip("\n").split("\t")
                vals, firsts = [], []
                for c in cells:
                    c = c.strip()
                    first, _, second = c.rpartition("/")
                    vals.append(second if second else None)
                    firsts.append(first)
                labels = _QLLM_MODE[mode]
                if len(vals) > len(labels):
                    raise ValueError(f"{path}:{lineno}: {len(vals)} cells")
                for i in range(1, len(vals)):
                    if vals[i] is None or vals[0] is None:
                        continue
                    cfg = labels[i]
                    notes = []
                    if firsts[i]:
                        notes.append(
                            f"cell printed '{firsts[i]}/{vals[i]}', FP16 '{firsts[0]}/{vals[0]}'; "
                            "the second figure (read by the repository's plots) is the value"
                        )
                    row = _qllm_row(
                        "QLLMEVAL_EMERGENT", path, f"line {lineno} ({name}), cell {i + 1} ({cfg}) vs cell 1 (FP16)",
                        name, task, metric, family, "OpenCompass", cfg, vals[0], vals[i], notes=notes,
                        first_figure=firsts[i],
                    )  # fmt: skip
                    if row:
                        out.append(row)
    return out


def qllm_mtbench() -> list[dict]:
    """MT-Bench GPT-4 judge scores (1-10) per turn, W-only / W-A / KV-cache (dialogue/assets/mt_bench_*.py)."""
    out = []
    for fname, mode in (("mt_bench_w_only.py", "w"), ("mt_bench_w_a.py", "wa"), ("mt_bench_kv_cache.py", "kv")):
        path = f"{_VIS}/dialogue/assets/{fname}"
        results = python_assignments(source_file(QLLM_REPO, QLLM_COMMIT, path))["results"]
        for name, turns in results.items():
            for t, vals in enumerate(turns, start=1):
                labels = _QLLM_MODE[mode]
                for i in range(1, len(vals)):
                    cfg = labels[i]
                    row = _qllm_row(
                        "QLLMEVAL_MTBENCH", path, f"results['{name}'][{t - 1}][{i}] vs [{t - 1}][0] ({cfg} vs FP16)",
                        name, f"MT-Bench turn {t}", "MT-Bench score (GPT-4 judge, 1-10)", "dialogue", "FastChat",
                        cfg, vals[0], vals[i],
                        notes=["a 1-10 rating filed under accuracy (see docs/data-llmq.md)"],
                    )  # fmt: skip
                    if row:
                        out.append(row)
    return out


def qllm_ethics() -> list[dict]:
    """ETHICS accuracy (fraction -> %) on four subsets (trustworthiness/ethics/ethics/<subset>/<mode>_result.py)."""
    out = []
    for subset in ("commonsense", "deontology", "justice", "virtue"):
        for mode in ("w", "wa", "kv"):
            path = f"{_VIS}/trustworthiness/ethics/ethics/{subset}/{mode}_result.py"
            for name, vals in python_assignments(source_file(QLLM_REPO, QLLM_COMMIT, path)).items():
                awq = name.endswith("_AWQ")
                out += _qllm_series_named(
                    "QLLMEVAL_ETHICS", path, name, name.removesuffix("_AWQ"), vals, mode,
                    task=f"ETHICS {subset}", metric="accuracy", task_family="ethics",
                    engine="qllm_eval ETHICS workflow", algorithm="AWQ" if awq else "RTN", percent_of=True,
                    notes=[],
                )  # fmt: skip
    return out


def _qllm_series_named(study, path, entry_name, model_name, values, mode, **kw) -> list[dict]:
    """Like :func:`_qllm_series` for an entry whose name is not the model's (``LLaMA2_7B_AWQ``)."""
    labels = _QLLM_MODE[mode][: len(values)]
    out = []
    for i, cfg in enumerate(labels[1:], start=1):
        if values[i] is None or values[0] is None:
            continue
        row = _qllm_row(study, path, f"{entry_name}[{i}] vs {entry_name}[0] ({cfg} vs FP16)", model_name,
                        cfg=cfg, base=values[0], quant=values[i], **kw)  # fmt: skip
        if row:
            out.append(row)
    return out


def qllm_truthfulqa() -> list[dict]:
    """TruthfulQA MC1 and MC2 (fraction -> %), lm-evaluation-harness (trustworthiness/truthfulqa/results)."""
    out = []
    for metric in ("mc1", "mc2"):
        for mode in ("w", "wa", "kv"):
            path = f"{_VIS}/trustworthiness/truthfulqa/results/{mode}_{metric}_result.py"
            for name, vals in python_assignments(source_file(QLLM_REPO, QLLM_COMMIT, path)).items():
                out += _qllm_series_named(
                    "QLLMEVAL_TRUTHFULQA", path, name, name, vals, mode, task=f"TruthfulQA {metric.upper()}",
                    metric=f"{metric.upper()} accuracy", task_family="truthfulness", engine="lm-evaluation-harness",
                    percent_of=True,
                )  # fmt: skip
    return out


#: long-context result files: (suite, axis) -> labels of the list positions, as the plot scripts label them
_LONG_AXES = {
    ("longeval", "length"): ["4k", "6k", "9k", "11k", "13k", "16k"],
    ("longeval", "pos"): [str(i) for i in range(10)],
    ("litm", "pos"): [str(i) for i in range(7)],
}


def qllm_long() -> list[dict]:
    """LongEval (by context length and by position) and Lost-in-the-middle (by position) retrieval accuracy.

    Each entry is a list of precision lists (the same prefix order as the other suites) over lengths or positions;
    a fraction, rescaled to percent.  The ``wkv`` files (weight and KV quantization together) do not say which
    weight and KV bits their lists are and are not read.  ``longeval/pos`` files assign ``Mistral_7B`` twice; the
    later assignment is read, as Python does.
    """
    out = []
    for (suite, axis), labels in _LONG_AXES.items():
        for mode in ("w", "wa", "kv"):
            path = f"{_VIS}/long/{suite}/{axis}/{mode}_length_result.py"
            for name, lists in python_assignments(source_file(QLLM_REPO, QLLM_COMMIT, path)).items():
                awq = name.endswith("_AWQ")
                cfgs = _QLLM_MODE[mode][: len(lists)]
                base = lists[0]
                for i, cfg in enumerate(cfgs[1:], start=1):
                    for j, (b, q) in enumerate(zip(base, lists[i], strict=True)):
                        what = f"context {labels[j]}" if axis == "length" else f"position {labels[j]}"
                        task = f"{'LongEval' if suite == 'longeval' else 'Lost in the middle'} ({what})"
                        row = _qllm_row(
                            f"QLLMEVAL_LONG_{suite.upper()}", path,
                            f"{name}[{i}][{j}] vs {name}[0][{j}] ({cfg} vs FP16)",
                            name.removesuffix("_AWQ"), task, "retrieval accuracy", "long context", "qllm_eval q_long",
                            cfg, b, q, algorithm="AWQ" if awq else "RTN", percent_of=True,
                        )  # fmt: skip
                        if row:
                            out.append(row)
    return out


_ADV_CONFIGS = ("w8", "w4", "w3", "w8a8", "w4a8", "kv8", "kv4", "kv3")


def qllm_advglue() -> list[dict]:
    """AdvGLUE (OpenCompass) per model and configuration: accuracy before and after the adversarial attack."""
    out = []
    root = source_file(QLLM_REPO, QLLM_COMMIT, f"{_VIS}/trustworthiness/adv_glue/assets")
    for mdir in sorted(p.name for p in root.iterdir() if p.is_dir()):

        def read(cfg, mdir=mdir):
            rel = f"{_VIS}/trustworthiness/adv_glue/assets/{mdir}/{cfg}.csv"
            with source_file(QLLM_REPO, QLLM_COMMIT, rel).open(encoding="utf-8", newline="") as fh:
                rows = list(csv.reader(fh))
            return rel, {(r[0], r[2]): r[4] for r in rows[1:]}

        _, base = read("fp16")
        for cfg in _ADV_CONFIGS:
            path, quant = read(cfg)
            for (ds, metric), q in quant.items():
                if metric not in ("acc_before", "acc_after"):
                    continue
                label = {"acc_before": "clean accuracy", "acc_after": "adversarial accuracy"}[metric]
                row = _qllm_row(
                    "QLLMEVAL_ADVGLUE", path, f"row '{ds},{metric}' vs the same row of fp16.csv", mdir,
                    f"AdvGLUE {ds.removeprefix('adv_')} ({label})", f"{metric} (OpenCompass, %)",
                    "adversarial robustness",
                    "OpenCompass", cfg.upper(), base[(ds, metric)], q,
                )  # fmt: skip
                if row:
                    out.append(row)
    return out


# --------------------------------------------------------------------------
# intel/auto-round (Apache-2.0): docs/acc.md, FP16 vs RTN / GPTQ / AWQ / HQQ / OmniQuant / AutoRound
# --------------------------------------------------------------------------

AR_REPO = "intel/auto-round"
#: docs/acc.md was last changed at this commit and removed from the repository at bc045f93 (2025-09-08).
AR_COMMIT = "1bf1b486b5240d1ae50c2eef7c2d38b027c4e75d"
AR_PATH = "docs/acc.md"
AR_LICENCE = "Apache-2.0"

AR_TASKS = {
    "mmlu": "MMLU", "lamb.": "LAMBADA (openai)", "hella.": "HellaSwag", "wino.": "WinoGrande", "piqa": "PIQA",
    "truth.": "TruthfulQA", "open.": "OpenBookQA", "boolq": "BoolQ", "rte": "RTE", "arc-e": "ARC-Easy",
    "arc-c.": "ARC-Challenge",
    "wikitext2 ppl": "WikiText-2 (GPTQ protocol, seq 2048)", "ptb_new ppl": "PTB-new (GPTQ protocol, seq 2048)",
    "c4_new ppl": "C4-new (GPTQ protocol, seq 2048)", "lm_eval wikitext ppl": "WikiText (lm-eval)",
}  # fmt: skip
AR_FAMILY = {
    "MMLU": "knowledge", "LAMBADA (openai)": "language modelling", "HellaSwag": "commonsense",
    "WinoGrande": "commonsense", "PIQA": "commonsense", "TruthfulQA": "truthfulness", "OpenBookQA": "knowledge",
    "BoolQ": "reading comprehension", "RTE": "natural language inference", "ARC-Easy": "knowledge",
    "ARC-Challenge": "knowledge",
}  # fmt: skip
#: model as printed -> (model, family, nominal parameters)
AR_MODELS = {
    "Mistral-7B": ("Mistral-7B", "Mistral", 7e9), "V2-7B": ("LLaMA-2-7B", "LLaMA-2", 7e9),
    "V2-13B": ("LLaMA-2-13B", "LLaMA-2", 13e9), "V2-70B": ("LLaMA-2-70B", "LLaMA-2", 70e9),
    "V1-7B": ("LLaMA-7B", "LLaMA", 7e9), "V1-13B": ("LLaMA-13B", "LLaMA", 13e9),
    "V1-30B": ("LLaMA-30B", "LLaMA", 30e9), "V1-65B": ("LLaMA-65B", "LLaMA", 65e9),
    "Intel/neural-chat-7b-v3-3": ("neural-chat-7b-v3-3", "Mistral", 7e9),
    "mistralai/Mixtral-8x7B-v0.1": ("Mixtral-8x7B-v0.1", "Mixtral", 46.7e9),
    "microsoft/phi-2": ("phi-2", "Phi", 2.7e9), "mistralai/Mistral-7B": ("Mistral-7B", "Mistral", 7e9),
    "Meta/LLaMA-2-13B": ("LLaMA-2-13B", "LLaMA-2", 13e9), "Meta/LLaMA-2-7B": ("LLaMA-2-7B", "LLaMA-2", 7e9),
}  # fmt: skip
_AR_PILE = "NeelNanda/pile-10k, 512 samples"
AR_METHODS = {  # method as printed -> (algorithm, calibration)
    "RTN": ("RTN", ""), "GPTQ": ("GPTQ", f"{_AR_PILE}, seq 2048"), "GPTQ*": ("GPTQ", f"{_AR_PILE}, seq 2048"),
    "AWQ": ("AWQ", f"{_AR_PILE}, seq 512"), "HQQ": ("HQQ", "none (data-free)"),
    "Omniquant": ("OmniQuant", f"{_AR_PILE}, seq 2048"), "Ours": ("AutoRound", f"{_AR_PILE}, seq 2048"),
}  # fmt: skip

_AR_CELL = re.compile(r"<t([dh])([^>]*)>(.*?)(?=<t[dh][\s>]|</t[dh]>|</tr>|<tr[\s>]|$)", re.S)
_AR_SECTION = re.compile(r"^#+ (?:(\d+)\. )?(.*?)$\s*<table", re.M)
_AR_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")


def _ar_tables(text: str):
    """(heading, cells) per table; cells are (text, attributes) with tags and ``<! ... -->`` comments removed."""
    text = re.sub(r"<!.*?-->", "", text, flags=re.S)
    for m in _AR_SECTION.finditer(text):
        body = text[m.end() : text.index("</table>", m.end())]
        cells = [(re.sub(r"<[^>]*>", "", c[2]).strip(), c[1]) for c in _AR_CELL.findall(body)]
        heading = m.group(2).strip()
        yield (
            (f"section {m.group(1)} ({heading.split(' at ')[-1].rstrip('.')})" if m.group(1) else f"'{heading}'"),
            cells,
        )


def _ar_rows(cells):
    """Header, then (model, method, values) rows: a cell with ``rowspan`` starts a model, another text cell a method."""
    header, rows, model = [], [], None
    for text, attrs in cells:
        if "rowspan" in attrs:
            model = text
        elif model is None:
            header.append(text)
        elif _AR_NUMBER.match(text) or text == "-":
            rows[-1][2].append(text)
        else:
            rows.append((model, text, []))
    return [h for h in header if h], rows


def autoround_acc() -> list[dict]:
    """All five tables of docs/acc.md; the printed averages are not rows (they are means of the rows)."""
    path = source_file(AR_REPO, AR_COMMIT, AR_PATH)
    out = []
    for heading, cells in _ar_tables(path.read_text(encoding="utf-8")):
        cfg = re.search(r"W(\d)G(-?\d+)", heading)
        wbits, group = cfg.group(1), cfg.group(2)
        header, rows = _ar_rows(cells)
        printed = {h.lower(): h for h in header}
        cols = [h.lower() for h in header if h.lower() not in ("model", "method", "acc avg.", "avg.")]
        avg_first = "acc avg." in printed
        baselines = {}
        for model_raw, method, vals in rows:
            if method in ("FP16", "BF16"):
                baselines[model_raw] = (method, vals)
        for model_raw, method, vals in rows:
            if method in ("FP16", "BF16"):
                continue
            base_prec, base_vals = baselines[model_raw]
            model, family, params = AR_MODELS[model_raw]
            name, _, variant = method.partition(" ")
            algorithm, calibration = AR_METHODS[name]
            if model_raw == "V2-70B" and name == "Omniquant":
                calibration = "NeelNanda/pile-10k, 128 samples, seq 2048"
            offset = len(vals) - len(cols)  # tables 1-4 print the average last, the other tables first
            qv = vals[1:] if avg_first else vals[: len(cols)]
            bv = base_vals[1:] if avg_first else base_vals[: len(cols)]
            if offset != 1:
                raise ValueError(
                    f"{AR_PATH} '{heading}' {model_raw} {method}: {len(vals)} values for {len(cols)} columns"
                )
            for col, b, q in zip(cols, bv, qv, strict=True):
                if b == "-" or q == "-":
                    continue
                task = AR_TASKS[col]
                prop = "perplexity" if col.endswith("ppl") else "accuracy"
                notes = []
                if name == "GPTQ*":
                    notes.append("GPTQ*: seed or data preprocessing adjusted (non-positive-definite Hessian)")
                if variant:
                    notes.append(f"AutoRound setting: {variant}")
                if Decimal(q) == 0:
                    EXCLUDED["AUTOROUND_ACC"] += 1
                    continue
                out.append(new_row(
                    study="AUTOROUND_ACC", comparison=f"{model}|W{wbits}G{group}|{method}", model=model, task=task,
                    hardware="", technique="weight-only", granularity="per-channel" if group == "-1" else "per-group",
                    baseline_precision=base_prec.lower(), quant_precision=f"w{wbits}g{group}", bits=wbits,
                    act_bits="16",
                    property=prop, metric="perplexity" if prop == "perplexity" else "accuracy (lm-eval, 0-shot)",
                    unit="" if prop == "perplexity" else "%", baseline_mean=num(b), quant_mean=num(q),
                    x_kv_bits="16", x_group_size=group, x_params=f"{params:.0f}", x_family=family,
                    x_task_family="language modelling" if prop == "perplexity" else AR_FAMILY[task],
                    x_engine="lm-evaluation-harness 008fc2a (QDQ fake-quantized models)", x_algorithm=algorithm,
                    x_calibration=calibration, x_licence=AR_LICENCE, x_source_repo=AR_REPO, x_source_path=AR_PATH,
                    x_source_commit=AR_COMMIT,
                    provenance=f"{heading}, row {model_raw} / {method}, column '{printed[col]}'",
                    notes=notes,
                ))  # fmt: skip
    return out


# --------------------------------------------------------------------------
# ggml-org/llama.cpp (MIT): tools/quantize/README.md, Llama-3.1-8B size and llama-bench throughput per type
# --------------------------------------------------------------------------

LC_REPO = "ggml-org/llama.cpp"
LC_COMMIT = "f4a71e707e2c0e041fb43be5a32659f364fc712d"
LC_PATH = "tools/quantize/README.md"
LC_LICENCE = "MIT"
_LC_ROW = re.compile(
    r"^\|\s*(\w+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+) ±([\d.]+)\s*\|\s*([\d.]+) ±([\d.]+)\s*\|$"
)


def _lc_family(qtype: str) -> str:
    q = qtype.lower()
    if q.startswith("iq"):
        return "llama.cpp i-quant"
    return "llama.cpp k-quant" if "_k" in q else "llama.cpp legacy block quant"


def llamacpp_quantize() -> list[dict]:
    """The 'meta-llama/Llama-3.1-8B' table: size (GiB), pp512 and tg128 tokens/s with their ± for 23 types vs F16.

    The ± is llama-bench's standard deviation over repetitions; the README does not give the repetition count,
    so it is kept verbatim in ``x_baseline_sd``/``x_quant_sd`` and ``baseline_sd``/``quant_sd`` stay empty.  The
    table prints Q4_K_S twice with identical figures; it is kept once.
    """
    text = source_file(LC_REPO, LC_COMMIT, LC_PATH).read_text(encoding="utf-8")
    table = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = _LC_ROW.match(line.strip())
        if m:
            if m.group(1) in table:
                if table[m.group(1)][1:] != m.groups()[1:]:
                    raise ValueError(f"{LC_PATH}:{lineno}: {m.group(1)} printed twice with different figures")
                continue
            table[m.group(1)] = (lineno, *m.groups()[1:])
    base = table.pop("F16")
    out = []
    for qtype, (lineno, bpw, size, pp, pp_sd, tg, tg_sd) in table.items():
        bits = re.match(r"I?Q(\d)", qtype).group(1)
        common = dict(
            study="LLAMACPP_QUANTIZE_L31_8B",
            comparison=f"Llama-3.1-8B|{qtype}",
            model="Llama-3.1-8B",
            technique="weight-only",
            granularity="per-block",
            baseline_precision="f16",
            quant_precision=qtype.lower(),
            bits=bits,
            act_bits="",
            x_kv_bits="",
            x_params="8000000000",
            x_family="Llama-3.1",
            x_engine="llama.cpp",
            x_algorithm=_lc_family(qtype),
            x_licence=LC_LICENCE,
            x_source_repo=LC_REPO,
            x_source_path=LC_PATH,
            x_source_commit=LC_COMMIT,
            x_bpw=bpw,
        )
        same = (
            [f"{qtype}'s figures equal IQ4_NL's in every column but bits/weight and size"] if qtype == "Q4_K_S" else []
        )
        out.append(new_row(
            **common, task="model file", property="storage_size", metric="model size", unit="GiB",
            baseline_mean=base[2], quant_mean=size, x_task_family="model size", baseline_group="",
            provenance=f"table 'meta-llama/Llama-3.1-8B', line {lineno} ({qtype}) vs line {base[0]} (F16), column "
            "'size (GiB)'", notes=[],
        ))  # fmt: skip
        for task, col, b, bsd, q, qsd in (
            ("prompt processing, 512 tokens (pp512)", "prompt processing t/s @ 512", base[3], base[4], pp, pp_sd),
            ("text generation, 128 tokens (tg128)", "text generation t/s @ 128", base[5], base[6], tg, tg_sd),
        ):
            out.append(new_row(
                **common, task=task, property="throughput", metric="tokens per second (llama-bench)", unit="tokens/s",
                baseline_mean=b, quant_mean=q, x_baseline_sd=bsd, x_quant_sd=qsd, x_task_family="inference speed",
                provenance=f"table 'meta-llama/Llama-3.1-8B', line {lineno} ({qtype}) vs line {base[0]} (F16), "
                f"column '{col}'",
                notes=["± (llama-bench sd over repetitions, count not stated) in x_baseline_sd, x_quant_sd; "
                       "hardware and threads not stated", *same],
            ))  # fmt: skip
    return out


# --------------------------------------------------------------------------
# pytorch/ao (BSD-3-Clause): torchao/quantization/README.md and the AWQ and GPTQ READMEs
# --------------------------------------------------------------------------

AO_REPO = "pytorch/ao"
#: the last commit whose quantization README still carries its benchmark tables (removed 2026-01-30)
AO_COMMIT = "9e5059e2ca18bab1fef25384c2ac652492264081"
AO_LICENCE = "BSD-3-Clause"
AO_MAIN = "torchao/quantization/README.md"
AO_AWQ = "torchao/prototype/awq/README.md"
AO_GPTQ = "torchao/quantization/GPTQ/README.md"

#: (file, heading or first words of the table's introduction) -> hardware, as the README states it
AO_HARDWARE = {
    "CUDA backend |  NVIDIA-A100-80GB GPU": "NVIDIA A100 80GB",
    "XPU backend": "Intel GPU (XPU backend; device not stated)",
    "CUDA backend | NVIDIA-H100 GPU": "NVIDIA H100",
    "XPU backend | Intel-Max1100": "Intel Data Center GPU Max 1100",
    "Int8DynamicActivationIntxWeightConfig Quantization": "Apple M1 Mac Pro CPU (8 performance + 2 efficiency cores, "
    "32 GB)",
    "Codebook Quantization": "NVIDIA RTX A6000",
    "AWQ speed": "NVIDIA A100 80GB SXM4",
}  # fmt: skip
AO_COLUMNS = {  # printed column -> (property, task, metric, unit, task_family)
    "wikitext-perplexity": ("perplexity", "WikiText (lm_eval)", "word perplexity", "", "language modelling"),
    "Perplexity": ("perplexity", "WikiText (lm_eval)", "perplexity", "", "language modelling"),
    "Tokens/Second": ("throughput", "decode, batch size 1", "tokens per second", "tokens/s", "inference speed"),
    "Tokens/sec": ("throughput", "decode, batch size 1", "tokens per second", "tokens/s", "inference speed"),
    "Peak Memory (GB)": ("peak_memory", "decode, batch size 1", "peak memory", "GB", "memory"),
    "Peak Mem (GB)": ("peak_memory", "decode, batch size 1", "peak memory", "GB", "memory"),
    "Model Size (GB)": ("storage_size", "model weights", "model size", "GB", "model size"),
    "Truthful QA MC2": ("accuracy", "TruthfulQA MC2", "MC2 accuracy (lm_eval)", "%", "truthfulness"),
    "WinoGrande": ("accuracy", "WinoGrande", "accuracy (lm_eval)", "%", "commonsense"),
    "ARC challenge": ("accuracy", "ARC-Challenge", "accuracy (lm_eval)", "%", "knowledge"),
}  # fmt: skip
AO_MODELS = {  # as printed -> (model, family, nominal parameters)
    "Llama-2-7B": ("Llama-2-7B", "LLaMA-2", 7e9), "Llama-2-7b-chat-hf": ("Llama-2-7B-Chat", "LLaMA-2", 7e9),
    "Llama-3-8B": ("Llama-3-8B", "Llama-3", 8e9), "Meta-Llama-3-8B": ("Llama-3-8B", "Llama-3", 8e9),
    "Llama-3-8B-Instruct": ("Llama-3-8B-Instruct", "Llama-3", 8e9), "Llama-3.1-8B": ("Llama-3.1-8B", "Llama-3.1", 8e9),
    "Llama-3-8.1B": ("Llama-3.1-8B", "Llama-3.1", 8e9),
}  # fmt: skip


def ao_technique(label: str) -> dict:
    """A torchao technique label -> technique, bits, act_bits, group size, algorithm (and confounding)."""
    t = label.lower()
    out = dict(technique="weight-only", act_bits="16", group="", algorithm=label, confounded="false", notes=[])
    if m := re.match(r"int8_dynamic_activation_intx_weight-(\d)-(\d+)-", t):
        out.update(technique="ptq-dynamic", bits=m.group(1), act_bits="8", group=m.group(2))
    elif t.startswith(("int8dq", "float8dq")):
        out.update(technique="ptq-dynamic", bits="8", act_bits="8")
    elif t.startswith("w4a8"):
        out.update(technique="ptq-dynamic", bits="4", act_bits="8", group="128" if "g128" in t else "")
    elif t.startswith(("int8wo", "float8wo")):
        out.update(bits="8")
    elif t == "fp6":
        out.update(bits="6")
    elif m := re.match(r"(?:uintx|codebook)-(\d)-(\d+)", t):
        out.update(bits=m.group(1), group=m.group(2))
    elif t.startswith("autoquant"):
        note = "autoquant picks per layer among no quantization, int8 dynamic, int8 weight-only and int4 HQQ"
        out.update(technique="mixed", bits="4", notes=[note + "; bits is the lowest"])
    elif m := re.search(r"int4wo-(\d+)", t):
        out.update(bits="4", group=m.group(1))
    elif "int4" in t or "uint4" in t:
        out.update(bits="4")
    else:
        raise ValueError(f"unknown torchao technique {label!r}")
    out["algorithm"] = next(
        (
            a
            for k, a in (
                ("autoquant", "autoquant"),
                ("awq", "AWQ"),
                ("gptq", "GPTQ"),
                ("hqq", "HQQ"),
                ("codebook", "codebook"),
                ("w4a8", "Marlin QQQ"),
            )
            if k in t
        ),
        "RTN",
    )
    if "sparse" in t:
        out.update(confounded="true", notes=["2:4 sparsity together with int4: not a precision-only change"])
    return out


def _md_tables(text: str):
    """(context, header, rows, first line number) of every pipe table; context = last heading or paragraph."""
    lines = text.splitlines()
    i, context = 0, ""
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("#"):
            context = line.lstrip("#").strip()
        elif line.startswith("|") and i + 1 < len(lines) and set(lines[i + 1].replace("|", "").strip()) <= set("-: "):
            header = [c.strip() for c in line.strip("|").split("|")]
            rows, j = [], i + 2
            while j < len(lines) and lines[j].strip().startswith("|"):
                rows.append((j + 1, [c.strip() for c in lines[j].strip().strip("|").split("|")]))
                j += 1
            yield context, header, rows, i + 1
            i = j
            continue
        i += 1


#: short hardware tag appended to torchao comparison ids (one model and technique is benchmarked on several devices)
AO_TAG = {
    "NVIDIA A100 80GB": "A100",
    "Intel GPU (XPU backend; device not stated)": "XPU",
    "NVIDIA H100": "H100",
    "Intel Data Center GPU Max 1100": "Max1100",
    "NVIDIA RTX A6000": "A6000",
    "NVIDIA A100 80GB SXM4": "A100",
}
AO_TAG = {**AO_TAG, AO_HARDWARE["Int8DynamicActivationIntxWeightConfig Quantization"]: "M1"}  # fmt: skip


def _ao_rows(path, heading, header, rows, hardware, study, seen, group_size_note=None):
    out, model_raw, base = [], None, None
    tag = AO_TAG.get(hardware, "")
    for lineno, cells in rows:
        cells = cells + [""] * (len(header) - len(cells))
        if cells[0]:
            model_raw = cells[0]
        label = cells[1]
        if label.lower().startswith(("base", "bfloat16", "bf16", "float16")):
            base = (lineno, label, cells)
            continue
        model, family, params = AO_MODELS[model_raw]
        tech = ao_technique(label)
        group = tech["group"] or (group_size_note or "")
        for k, col in enumerate(header[2:], start=2):
            if col not in AO_COLUMNS:
                continue
            b, q = base[2][k], cells[k]
            if b in ("", "NA") or q in ("", "NA"):
                continue
            prop, task, metric, unit, tfam = AO_COLUMNS[col]
            key = (model, label, col, b, q)
            if key in seen:
                continue  # the same figure reprinted in a later table of the same README
            seen.add(key)
            frac = prop == "accuracy"
            base_prec = re.sub(r"^base \((.*)\)$", r"\1", base[1].lower())
            out.append(new_row(
                study=study, comparison=f"{model}|{label}" + (f"|{tag}" if tag else ""), model=model, task=task,
                hardware=hardware,
                technique=tech["technique"], granularity="per-group" if group else "", baseline_precision=base_prec,
                quant_precision=label.lower(), bits=tech["bits"], act_bits=tech["act_bits"], property=prop,
                metric=metric, unit=unit, baseline_mean=percent(b) if frac else num(b),
                quant_mean=percent(q) if frac else num(q), confounded=tech["confounded"], x_kv_bits="16",
                x_group_size=group, x_params=f"{params:.0f}", x_family=family, x_task_family=tfam,
                x_engine="torchao (torch.compile)", x_algorithm=tech["algorithm"], x_licence=AO_LICENCE,
                x_source_repo=AO_REPO, x_source_path=path, x_source_commit=AO_COMMIT,
                x_original_unit="fraction" if frac else "",
                provenance=f"table '{heading}', line {lineno} ({label}) vs line {base[0]} ({base[1]}), column '{col}'",
                notes=tech["notes"] + ([] if hardware else ["hardware not stated for this table"]),
            ))  # fmt: skip
    return out


def torchao_readmes() -> list[dict]:
    """Benchmark tables of the torchao quantization README (per backend) and its AWQ and GPTQ READMEs."""
    out, seen = [], set()
    text = source_file(AO_REPO, AO_COMMIT, AO_MAIN).read_text(encoding="utf-8")
    for heading, header, rows, _ in _md_tables(text):
        if header[:2] != ["Model", "Technique"]:
            continue
        out += _ao_rows(AO_MAIN, heading, header, rows, AO_HARDWARE.get(heading, ""), "TORCHAO_README", seen)
    text = source_file(AO_REPO, AO_COMMIT, AO_AWQ).read_text(encoding="utf-8")
    for k, (_, header, rows, _) in enumerate(_md_tables(text)):
        heading = "AWQ speed" if k == 0 else "AWQ accuracy"
        out += _ao_rows(AO_AWQ, heading, header, rows, AO_HARDWARE.get(heading, ""), "TORCHAO_AWQ", set(),
                        group_size_note="64" if k == 0 else "128")  # fmt: skip
    # GPTQ README: one table with techniques as rows and models as columns (WikiText perplexity)
    text = source_file(AO_REPO, AO_COMMIT, AO_GPTQ).read_text(encoding="utf-8")
    ((heading, header, rows, _),) = list(_md_tables(text))
    base = next(r for r in rows if r[1][0] == "bf16")
    for lineno, cells in rows:
        if cells[0] == "bf16":
            continue
        tech = ao_technique(cells[0])
        for k, model_raw in enumerate(header[1:], start=1):
            model, family, params = AO_MODELS[model_raw]
            gptq = cells[0].startswith("gptq")
            out.append(new_row(
                study="TORCHAO_GPTQ", comparison=f"{model}|{cells[0]}", model=model, task="WikiText (lm_eval)",
                hardware="", technique="weight-only", granularity="per-group", baseline_precision="bf16",
                quant_precision=cells[0], bits="4", act_bits="16", property="perplexity", metric="word perplexity",
                unit="", baseline_mean=num(base[1][k]), quant_mean=num(cells[k]), x_kv_bits="16",
                x_group_size=tech["group"], x_params=f"{params:.0f}", x_family=family,
                x_task_family="language modelling", x_engine="torchao", x_algorithm="GPTQ" if gptq else "RTN",
                x_calibration="10 samples from lm_eval" if gptq else "", x_licence=AO_LICENCE, x_source_repo=AO_REPO,
                x_source_path=AO_GPTQ, x_source_commit=AO_COMMIT,
                provenance=f"table 'Results', line {lineno} ({cells[0]}) vs line {base[0]} (bf16), "
                f"column '{model_raw}'",
                notes=["hardware not stated"],
            ))  # fmt: skip
    return out


# --------------------------------------------------------------------------
# huggingface/optimum-benchmark (Apache-2.0): examples/running-llamas full_report.csv artifacts
# --------------------------------------------------------------------------

OB_REPO = "huggingface/optimum-benchmark"
OB_LICENCE = "Apache-2.0"
#: (commit, path): the fp16 / bnb / GPTQ sweep of Llama-2-7B, and the later fp16 vs GPTQ (ExLlama v1/v2) reports;
#: the Llama-65b report of that commit has no fp16 run, so it yields no comparison.
OB_FILES = (
    ("71a60178d4d68186fc6010380c811f7fff4d92eb", "examples/running-llamas/artifacts/A100-80GB/full_report.csv"),
    ("52ea94da1bca265d96c693ca0e9f7f43170ad0e3", "examples/running-llamas/artifacts/Llama-7b/full_report.csv"),
    ("52ea94da1bca265d96c693ca0e9f7f43170ad0e3", "examples/running-llamas/artifacts/Llama-13b/full_report.csv"),
)
OB_METRICS = {  # column -> (property, task stem, metric, unit)
    "forward.latency(s)": ("inference_latency", "prefill (one forward pass)", "latency", "s"),
    "forward.peak_memory(MB)": ("peak_memory", "prefill (one forward pass)", "peak GPU memory", "MB"),
    "generate.throughput(tokens/s)": ("throughput", "generate", "tokens per second", "tokens/s"),
    "decode.throughput(tokens/s)": ("throughput", "decode", "tokens per second", "tokens/s"),
    "generate.peak_memory(MB)": ("peak_memory", "generate", "peak GPU memory", "MB"),
}


def _ob_config(row: dict) -> str:
    name = row["experiment_name"]
    return name.split("-batch_size")[0]


def optimum_benchmark() -> list[dict]:
    """fp16 vs bitsandbytes 4-bit and GPTQ rows of optimum-benchmark's Llama reports, per batch size and metric."""
    out = []
    for commit, path in OB_FILES:
        with source_file(OB_REPO, commit, path).open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        for r, line in zip(rows, range(2, len(rows) + 2), strict=True):
            r["_line"] = line
        base = {r["benchmark.input_shapes.batch_size"]: r for r in rows if _ob_config(r) == "fp16"}
        for r in rows:
            cfg = _ob_config(r)
            if "gptq" not in cfg and "bnb" not in cfg:
                continue  # fp16 and its attention variants (BetterTransformer, FlashAttention-2) are not quantized
            bs = r["benchmark.input_shapes.batch_size"]
            b = base[bs]
            model_b = b["model"].split("/")[-1]
            size = re.search(r"(\d+)[bB]", model_b).group(1)
            model = f"Llama-2-{size}B"
            notes, confounded = [], "false"
            if "bnb" in cfg:
                algorithm, tech = "bitsandbytes 4-bit (load_in_4bit, compute fp16)", "weight-only"
                notes.append("bnb_4bit_quant_type not set: transformers' default (fp4) applies")
            else:
                ver = r.get("backend.quantization_config.exllama_config.version", "")
                algorithm, tech = "GPTQ" + (f" (ExLlama v{ver} kernels)" if ver else ""), "weight-only"
                notes.append(f"pre-quantized checkpoint {r['model']}")
                if "Llama-2" not in r["model"]:
                    confounded = "true"
                    notes.append(f"the GPTQ checkpoint {r['model']} quantizes LLaMA (v1), the fp16 arm is {b['model']} "
                                 "(Llama 2): the model changes with the precision")  # fmt: skip
            seq, new = r["benchmark.input_shapes.sequence_length"], r["benchmark.new_tokens"]
            gpus = ast.literal_eval(r["environment.gpus"])
            hardware = f"{gpus[0]}, {r['environment.cpu'].strip()}"
            for col, (prop, stem, metric, unit) in OB_METRICS.items():
                if col not in r or not r[col] or not b.get(col):
                    continue
                task = f"{stem}, batch {bs}, prompt {seq} tokens" + ("" if stem.startswith("prefill") else
                                                                      f", {new} new tokens")  # fmt: skip
                out.append(new_row(
                    study="OPTIMUM_BENCHMARK_LLAMA", comparison=f"{model}|{cfg}|{path.split('/')[-2]}", model=model,
                    task=task, hardware=hardware, technique=tech, granularity="", baseline_precision="fp16",
                    quant_precision=cfg, bits="4", act_bits="16", property=prop, metric=metric, unit=unit,
                    baseline_mean=num(b[col]), quant_mean=num(r[col]), confounded=confounded, x_kv_bits="16",
                    x_params=f"{float(size) * 1e9:.0f}", x_family="LLaMA-2",
                    x_task_family="inference speed" if prop != "peak_memory" else "memory",
                    x_engine=f"optimum-benchmark (PyTorch {r['backend.version']})",
                    x_algorithm=algorithm, x_licence=OB_LICENCE, x_source_repo=OB_REPO, x_source_path=path,
                    x_source_commit=commit, x_batch_size=bs,
                    provenance=f"line {r['_line']} ({r['experiment_name']}) vs line {b['_line']} "
                    f"({b['experiment_name']}), column '{col}'",
                    notes=notes + [f"benchmark duration {r['benchmark.duration']} s after {r['benchmark.warmup_runs']} "
                                   "warm-up runs; one value, no spread"],
                ))  # fmt: skip
    return out


# --------------------------------------------------------------------------
# premAI-io/benchmarks (MIT): README.md, tokens/s (mean ± sd over 10 repetitions) and GPU memory by engine
# --------------------------------------------------------------------------

PREM_REPO = "premAI-io/benchmarks"
PREM_COMMIT = "16338c31085de5718fd5bc803d8153a795d494f3"
PREM_PATH = "README.md"
PREM_LICENCE = "MIT"
PREM_REPS = 10  # the README's command: ./benchmark.sh --repetitions 10 --max_tokens 512 ...
#: (engine, precision) -> (technique, activation bits, algorithm); from the engines' READMEs in the same repository
PREM_METHODS = {
    ("transformers (pytorch)", "int8"): ("ptq-dynamic", "8", "bitsandbytes LLM.int8()"),
    ("transformers (pytorch)", "int4"): ("weight-only", "16", "bitsandbytes 4-bit"),
    ("ctranslate", "int8"): ("ptq-dynamic", "8", "CTranslate2 int8"),
    ("PyTorch Lightning", "int8"): ("other", "", "Lit-GPT int8 (method not stated)"),
    ("Nvidia TensorRT-LLM", "int8"): ("weight-only", "16", "TensorRT-LLM int8 weights, fp16 activations"),
    ("Nvidia TensorRT-LLM", "int4"): ("weight-only", "16", "TensorRT-LLM int4 weights, fp16 activations"),
    ("vllm", "int4"): ("weight-only", "16", "AWQ (TheBloke AWQ checkpoint)"),
}
PREM_MODELS = {"Mistral 7B v0.1 Instruct": ("Mistral-7B-Instruct-v0.1", "Mistral"), "Llama 2 7B Chat":
               ("Llama-2-7B-Chat", "LLaMA-2")}  # fmt: skip


def premai_benchmarks() -> list[dict]:
    """Within-engine comparisons of the README's two tables per model: int8/int4 vs float16, float16 vs float32.

    The README prints ``mean ± np.std`` (common/utils.py: population sd, ddof = 0) of tokens/s over 10 repetitions;
    ``baseline_sd``/``quant_sd`` hold the sample sd, ± x sqrt(10/9), the printed ± is kept in ``x_*_sd``.  Engines
    without a float16 (or float32) run of their own give no row: comparing across engines would change the engine
    together with the precision.
    """
    text = source_file(PREM_REPO, PREM_COMMIT, PREM_PATH).read_text(encoding="utf-8")
    out, model, prop = [], None, None
    scale = Decimal(PREM_REPS) / Decimal(PREM_REPS - 1)
    for heading, header, rows, first in _md_tables(text):
        if header[0] != "Engine" or "float16" not in header:
            continue
        model, family = PREM_MODELS[heading]
        prior = text.splitlines()[first - 3]
        prop = "gpu_memory_utilization" if "Memory" in prior else "throughput"
        for lineno, cells in rows:
            engine = re.sub(r"\[(.*?)\]\(.*?\)", r"\1", cells[0])
            vals = dict(zip(header[1:], cells[1:], strict=True))
            for qprec, bprec in (("float16", "float32"), ("int8", "float16"), ("int4", "float16")):
                b, q = vals.get(bprec, ""), vals.get(qprec, "")
                if b in ("", "-") or q in ("", "-"):
                    continue
                (bm, _, bsd), (qm, _, qsd) = (x.partition(" ± ") for x in (b, q))
                if qprec == "float16":
                    tech, act, algo = "fp16", "16", "float16 cast"
                else:
                    tech, act, algo = PREM_METHODS[(engine, qprec)]
                spread = dict(baseline_sd="", baseline_n="", quant_sd="", quant_n="")
                if bsd and qsd:
                    spread = dict(
                        baseline_sd=repr(float(Decimal(bsd) * scale.sqrt())), baseline_n=str(PREM_REPS),
                        quant_sd=repr(float(Decimal(qsd) * scale.sqrt())), quant_n=str(PREM_REPS),
                    )  # fmt: skip
                out.append(new_row(
                    study="PREMAI_BENCHMARKS", comparison=f"{model}|{engine}|{qprec}", model=model,
                    task="generation, 512 tokens, batch size 1", hardware="NVIDIA A100 80GB (CUDA 12.1)",
                    technique=tech, granularity="", baseline_precision=bprec, quant_precision=qprec,
                    bits={"float16": "16", "int8": "8", "int4": "4"}[qprec], act_bits=act, property=prop,
                    metric="tokens per second" if prop == "throughput" else "GPU memory consumption",
                    unit="tokens/s" if prop == "throughput" else "MB", baseline_mean=num(bm), quant_mean=num(qm),
                    n_runs=str(PREM_REPS) if prop == "throughput" else "", x_kv_bits="", x_params="7000000000",
                    x_family=family, x_task_family="inference speed" if prop == "throughput" else "memory",
                    x_engine=engine, x_algorithm=algo, x_licence=PREM_LICENCE, x_source_repo=PREM_REPO,
                    x_source_path=PREM_PATH, x_source_commit=PREM_COMMIT, x_baseline_sd=bsd, x_quant_sd=qsd,
                    provenance=f"table '{heading}' ({'GPU memory' if prop != 'throughput' else 'tokens/s'}), line "
                    f"{lineno} ({engine}), columns {bprec} and {qprec}",
                    notes=(["printed ± is np.std (ddof 0) over 10 repetitions; sd = ± x sqrt(10/9)"]
                           if spread["baseline_sd"] else []) + ["data updated 30 April 2024"],
                    **spread,
                ))  # fmt: skip
    return out


# --------------------------------------------------------------------------
# NVIDIA/TensorRT-Model-Optimizer (Apache-2.0): examples/benchmark.md and examples/windows/Benchmark.md
# --------------------------------------------------------------------------

TRTMO_REPO = "NVIDIA/TensorRT-Model-Optimizer"
#: the last commit that changed both benchmark files (2025-09-02; "typos, formatting"); the newest commit (5a4242fa,
#: 2025-12-05) prints the same figures (docs/data-llmq.md)
TRTMO_COMMIT = "1ef1d72a1b6e8e64926453f3fa16a36be868ae35"
TRTMO_LICENCE = "Apache-2.0"
TRTMO_PTQ = "examples/benchmark.md"
TRTMO_WINDOWS = "examples/windows/Benchmark.md"
#: the README whose format notes (lines 452, 454) say what INT4 AWQ and W4A8 AWQ quantize
TRTMO_FORMATS = "examples/llm_ptq/README.md"
#: method as the table's group header names it -> (bits, act_bits, technique, note)
TRTMO_METHODS = {
    "FP8": ("8", "", "", "FP8 as the table names it; whether activations are FP8 is not stated in these files"),
    "INT4 AWQ": ("4", "16", "weight-only", f"INT4 weight-only ({TRTMO_FORMATS} line 452)"),
    "W4A8 AWQ": ("4", "8", "", f"INT4 AWQ weights with FP8 activations ({TRTMO_FORMATS} line 454)"),
}
#: model as printed -> (model, family, nominal parameters: from the name; Phi-3.5-mini's 3.8B from its model card)
TRTMO_MODELS = {
    "Llama3.1-8B": ("Llama-3.1-8B", "LLaMA-3.1", 8e9), "Llama3.1-70B": ("Llama-3.1-70B", "LLaMA-3.1", 70e9),
    "Llama3.1-8B-Instruct": ("Llama-3.1-8B-Instruct", "LLaMA-3.1", 8e9),
    "Phi3.5-mini-Instruct": ("Phi-3.5-mini-Instruct", "Phi-3.5", 3.8e9),
    "Mistral-7B-Instruct-v0.3": ("Mistral-7B-Instruct-v0.3", "Mistral", 7e9),
    "Llama3.2-3B-Instruct": ("Llama-3.2-3B-Instruct", "LLaMA-3.2", 3e9), "Gemma-2b-it": ("Gemma-2B-IT", "Gemma", 2e9),
}  # fmt: skip


def trtmo_ptq_perf() -> list[dict]:
    """Tokens/s of FP8, INT4 AWQ and W4A8 AWQ engines vs BF16 on an H200 (benchmark.md section 1.1).

    The table's first line names each method and its tensor parallelism; each method's ``Tokens/sec`` column is
    compared with the BF16 column of the same model and batch size.  The ``Speedup`` columns are ratios normalised
    to the GPU count and give no row.  The 70B BF16 engine runs on two GPUs (TP2) and the quantized ones on one, so
    those rows compare a two-GPU deployment with a one-GPU one: confounded.
    """
    text = source_file(TRTMO_REPO, TRTMO_COMMIT, TRTMO_PTQ).read_text(encoding="utf-8")
    ((heading, header, rows, first),) = [t for t in _md_tables(text) if "Tokens/sec" in t[2][0][1]]
    groups = {k: re.fullmatch(r"(.+?) \((.+)\)", c).groups() for k, c in enumerate(header) if c}
    (bk,) = [k for k, (m, _) in groups.items() if m == "BF16"]
    base_tp = groups[bk][1]
    out, model_raw = [], None
    for lineno, cells in rows[1:]:
        model_raw = cells[0] or model_raw
        model, family, params = TRTMO_MODELS[model_raw]
        size = model_raw.rpartition("-")[2]
        btp = re.search(rf"{size}:(TP\d+)", base_tp).group(1)
        batch = cells[1]
        for k, (method, qtp) in groups.items():
            if k == bk:
                continue
            bits, act, tech, note = TRTMO_METHODS[method]
            confounded = "true" if btp != qtp else "false"
            out.append(new_row(
                study="TRTMO_PTQ_PERF", comparison=f"{model}|{method}|batch {batch}", model=model,
                task=f"generation, input 2048 / output 128 tokens, batch size {batch}", hardware="NVIDIA H200",
                technique=tech, baseline_precision="bf16", quant_precision=method.lower(), bits=bits, act_bits=act,
                property="throughput", metric="tokens/sec (trtllm-bench)", unit="tokens/s",
                baseline_mean=num(cells[bk].replace(",", "")), quant_mean=num(cells[k].replace(",", "")),
                confounded=confounded, x_kv_bits="", x_params=f"{params:.0f}", x_family=family,
                x_task_family="inference speed", x_engine="TensorRT-LLM v0.15 (trtllm-bench)",
                x_algorithm=f"Model Optimizer v0.21.1 {method}", x_batch_size=batch, x_licence=TRTMO_LICENCE,
                x_source_repo=TRTMO_REPO, x_source_path=TRTMO_PTQ, x_source_commit=TRTMO_COMMIT,
                provenance=f"table '{heading}', line {lineno} ({model_raw}, batch {batch}): '{header[k]}' Tokens/sec "
                f"{cells[k]} vs '{header[bk]}' {cells[bk]}",
                notes=[note, "one benchmark figure per arm, no spread",
                       f"BF16 on {btp}, {method} on {qtp}: the tokens/s compare deployments on different GPU counts"
                       if confounded == "true" else f"both engines on {qtp}"],
            ))  # fmt: skip
    return out


def trtmo_windows_mmlu() -> list[dict]:
    """MMLU 5-shot of ONNX INT4 (AWQ, ModelOpt-Windows) vs ONNX FP16 models on an RTX 4090 (Windows section 1.2).

    Section 1.1 prints only ratios (memory saving, speedup) and gives no row.
    """
    text = source_file(TRTMO_REPO, TRTMO_COMMIT, TRTMO_WINDOWS).read_text(encoding="utf-8")
    ((heading, header, rows, _),) = [t for t in _md_tables(text) if "**ONNX INT4**" in t[1]]
    bk, qk = header.index("**ONNX FP16**"), header.index("**ONNX INT4**")
    out = []
    for lineno, cells in rows:
        model_raw = re.fullmatch(r"\[(.+?)\]\(.+\)", cells[0]).group(1)
        model, family, params = TRTMO_MODELS[model_raw]
        out.append(new_row(
            study="TRTMO_WINDOWS_MMLU", comparison=f"{model}|onnx int4 awq", model=model, task="MMLU (5-shot)",
            hardware="NVIDIA GeForce RTX 4090 (Windows, DirectML)", technique="", baseline_precision="fp16",
            quant_precision="int4 awq", bits="4", act_bits="", property="accuracy", metric="MMLU 5-shot score",
            unit="%", baseline_mean=num(cells[bk]), quant_mean=num(cells[qk]), x_kv_bits="", x_params=f"{params:.0f}",
            x_family=family, x_task_family="knowledge", x_engine="onnxruntime-genai-directml 0.4",
            x_algorithm="AWQ (nvidia-modelopt v0.19.0, Windows)", x_licence=TRTMO_LICENCE, x_source_repo=TRTMO_REPO,
            x_source_path=TRTMO_WINDOWS, x_source_commit=TRTMO_COMMIT,
            provenance=f"table '{heading}', line {lineno} ({model_raw}): ONNX INT4 {cells[qk]} vs ONNX FP16 "
            f"{cells[bk]}",
            notes=["INT4 AWQ model made by quantizing the FP16 ONNX model; activation precision not stated",
                   "one evaluation per arm, no spread"],
        ))  # fmt: skip
    return out


# --------------------------------------------------------------------------
# Picovoice/llm-compression-benchmark (Apache-2.0): README.md results, GPTQ and picoLLM vs the original models
# --------------------------------------------------------------------------

PV_REPO = "Picovoice/llm-compression-benchmark"
#: the repository's initial commit (2024-05-28), the only one that changed README.md; the newest commit (b75592c7,
#: 2026-04-08) prints the same README (docs/data-llmq.md)
PV_COMMIT = "c648df350fe90c808ba71115f773609ca3f1f010"
PV_PATH = "README.md"
PV_LICENCE = "Apache-2.0"
#: results section heading -> (property, task, metric, unit, task family)
PV_SECTIONS = {
    "MMLU": ("accuracy", "MMLU", "MMLU score", "%", "knowledge"),
    "ARC Easy": ("accuracy", "ARC-Easy", "ARC Easy score", "%", "knowledge"),
    "ARC Challenge": ("accuracy", "ARC-Challenge", "ARC Challenge score", "%", "knowledge"),
    "Perplexity": ("perplexity", "C4 validation (128 snippets)", "perplexity", "", "language modelling"),
}
#: model as printed -> (model, family, nominal parameters: from the name; Phi-2's 2.7B from its model card)
PV_MODELS = {
    "Gemma-2b": ("Gemma-2B", "Gemma", 2e9), "Gemma-7b": ("Gemma-7B", "Gemma", 7e9),
    "Llama-2-7b": ("LLaMA-2-7B", "LLaMA-2", 7e9), "Llama-3-8b": ("Llama-3-8B", "Llama-3", 8e9),
    "Mistral-7b-v0.1": ("Mistral-7B-v0.1", "Mistral", 7e9), "Phi-2": ("Phi-2", "Phi", 2.7e9),
}  # fmt: skip
#: GPTQ bits of a model's quantized sizes, largest first: the README quantizes at 4, 3 and 2 bits
PV_BITS = ("4", "3", "2")
_PV_TABLE = re.compile(r"<table>(.*?)</table>", re.S)
_PV_ROW = re.compile(r"<tr>(.*?)</tr>", re.S)
_PV_CELL = re.compile(r"<td>(?:<strong>)?(.*?)(?:</strong>)?</td>", re.S)
_PV_MODEL = re.compile(r"(?P<name>\S+) (?P<size>[\d.]+)G")


def _pv_tables(text: str) -> dict[str, list[list[tuple[int, list[str]]]]]:
    """Per ``### <section>`` after ``## Results``: its HTML tables as rows of (1-based line of ``<tr>``, cells)."""
    results = text.index("\n## Results")
    heads = [(m.start(), m.group(1)) for m in re.finditer(r"^### (.+)$", text, re.M) if m.start() > results]
    out = {}
    for k, (start, name) in enumerate(heads):
        end = heads[k + 1][0] if k + 1 < len(heads) else len(text)
        out[name] = [
            [(text.count("\n", 0, t.start(1) + r.start()) + 1, _PV_CELL.findall(r.group(1)))
             for r in _PV_ROW.finditer(t.group(1))]
            for t in _PV_TABLE.finditer(text, start, end)
        ]  # fmt: skip
    return out


def picovoice_compression() -> list[dict]:
    """GPTQ and picoLLM at three model sizes vs the original model: MMLU, ARC-Easy, ARC-Challenge, perplexity, size.

    Each section prints the original models' figure in a first table and the quantized models' (one row per model
    size, a GPTQ and a picoLLM column) in a second.  GPTQ ran at 4, 3 and 2 bits and picoLLM was given the GPTQ
    model's size as its target, so a model's three sizes, largest first, are its 4-, 3- and 2-bit settings.  The
    GPTQ model's size against the original's gives a ``storage_size`` row (picoLLM's size is that target by
    construction and gives none).
    """
    text = source_file(PV_REPO, PV_COMMIT, PV_PATH).read_text(encoding="utf-8")
    out = []
    for section, (base_t, quant_t) in _pv_tables(text).items():
        prop, task, metric, unit, tfam = PV_SECTIONS[section]
        assert base_t[0][1] == ["Model", section] and quant_t[0][1] == ["Model", "GPTQ", "picoLLM"]
        base = {}
        for ln, (cell, val) in base_t[1:]:
            m = _PV_MODEL.fullmatch(cell)
            base[m.group("name")] = (ln, m.group("size"), val)
        sizes: dict[str, list[str]] = {}
        for _, (cell, *_) in quant_t[1:]:
            m = _PV_MODEL.fullmatch(cell)
            sizes.setdefault(m.group("name"), []).append(m.group("size"))
        for ln, (cell, gptq, pico) in quant_t[1:]:
            m = _PV_MODEL.fullmatch(cell)
            name, size = m.group("name"), m.group("size")
            order = sorted(sizes[name], key=Decimal, reverse=True)
            bits = PV_BITS[order.index(size)]
            model, family, params = PV_MODELS[name]
            bln, bsize, bval = base[name]
            for method, val in (("GPTQ", gptq), ("picoLLM", pico)):
                gp = method == "GPTQ"
                common = dict(
                    study="PICOVOICE_COMPRESSION", comparison=f"{model}|{method}|{size}G", model=model, hardware="",
                    technique="weight-only" if gp else "mixed", granularity="per-group" if gp else "",
                    baseline_precision="full-precision", quant_precision=f"{method} {size}G", bits=bits,
                    act_bits="16" if gp else "", x_kv_bits="", x_group_size="128" if gp else "",
                    x_params=f"{params:.0f}", x_family=family, x_engine="llm-compression-benchmark",
                    x_algorithm="GPTQ (AutoGPTQ; group size 128, damp 0.1, activation reordering)" if gp
                    else "picoLLM Compression (bits allocated within and across weights to a target size)",
                    x_calibration="128 C4 train snippets", x_licence=PV_LICENCE, x_source_repo=PV_REPO,
                    x_source_path=PV_PATH, x_source_commit=PV_COMMIT,
                )  # fmt: skip
                notes = [
                    f"{bits}-bit setting: the model's sizes {', '.join(o + 'G' for o in order)} are its 4-, 3- and "
                    "2-bit GPTQ runs, largest first" + ("" if gp else "; picoLLM is given the GPTQ size as target"),
                    "one evaluation per arm, no spread",
                ]
                out.append(new_row(
                    **common, task=task, property=prop, metric=metric, unit=unit, baseline_mean=num(bval),
                    quant_mean=num(val), x_task_family=tfam,
                    provenance=f"section '{section}', line {ln} ({cell}, {method}) vs line {bln} ({name} {bsize}G)",
                    notes=notes,
                ))  # fmt: skip
                if gp and section == "MMLU":
                    out.append(new_row(
                        **common, task="model size", property="storage_size", metric="model size", unit="GB",
                        baseline_mean=num(bsize), quant_mean=num(size), x_task_family="model size",
                        provenance=f"section '{section}', line {ln} ('{cell}') vs line {bln} ('{name} {bsize}G')",
                        notes=notes[:1] + ["sizes as printed in the model column ('G')"],
                    ))  # fmt: skip
    return out


# --------------------------------------------------------------------------


SOURCES = (
    qllm_lambada,
    qllm_emergent,
    qllm_mtbench,
    qllm_ethics,
    qllm_truthfulqa,
    qllm_advglue,
    qllm_long,
    autoround_acc,
    llamacpp_quantize,
    torchao_readmes,
    optimum_benchmark,
    premai_benchmarks,
    trtmo_ptq_perf,
    trtmo_windows_mmlu,
    picovoice_compression,
)


def build() -> list[dict]:
    EXCLUDED.clear()
    rows = []
    for fn in SOURCES:
        rows += fn()
    assign_groups(rows)
    return rows


def main(out: Path = DEFAULT_OUTPUT) -> None:
    rows = build()
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(COLUMNS), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {len(rows)} rows to {out}")
    for study, n in sorted(Counter(r["study"] for r in rows).items()):
        print(f"  {study}: {n} rows ({EXCLUDED[study]} with a zero quantized figure not written)")


if __name__ == "__main__":
    main(*[Path(a) for a in sys.argv[1:2]])
