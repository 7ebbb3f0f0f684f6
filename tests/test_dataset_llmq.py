"""The shipped ``llmq`` dataset: validity, provenance pinned to vendored source files, dependence,
confounding, and hand-checked rows against the figures printed in each source file."""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metaquant as mq
from metaquant.evidence import schema
from metaquant.evidence.io import USER_COLUMN_PREFIX, dataset_path, dataset_registry

REPO = Path(__file__).resolve().parents[1]
BUILDER = REPO / "analyses" / "data" / "build_llmq.py"
SOURCES = REPO / "analyses" / "data" / "sources"

#: rows per source table as shipped (docs/data-llmq.md)
SHIPPED = {
    "QLLMEVAL_LAMBADA": 114, "QLLMEVAL_EMERGENT": 762, "QLLMEVAL_MTBENCH": 228, "QLLMEVAL_ETHICS": 300,
    "QLLMEVAL_TRUTHFULQA": 176, "QLLMEVAL_ADVGLUE": 864, "QLLMEVAL_LONG_LONGEVAL": 1092, "QLLMEVAL_LONG_LITM": 474,
    "AUTOROUND_ACC": 1922, "LLAMACPP_QUANTIZE_L31_8B": 66,
    "TORCHAO_README": 116, "TORCHAO_AWQ": 28, "TORCHAO_GPTQ": 4, "OPTIMUM_BENCHMARK_LLAMA": 170,
    "PREMAI_BENCHMARKS": 60, "TRTMO_PTQ_PERF": 18, "TRTMO_WINDOWS_MMLU": 5,
    "PICOVOICE_COMPRESSION": 162,
}  # fmt: skip
#: quantized figures of exactly 0 (no log ratio), not written: LAMBADA 2, emergent 1, LongEval 460, auto-round 12
ZERO_EXCLUDED = {"QLLMEVAL_LAMBADA": 2, "QLLMEVAL_EMERGENT": 1, "QLLMEVAL_LONG_LONGEVAL": 460, "AUTOROUND_ACC": 12}
#: torchao int4 + 2:4 sparsity; optimum-benchmark LLaMA-1 GPTQ checkpoints vs Llama 2 fp16; TensorRT Model Optimizer's
#: Llama 3.1 70B rows (BF16 on two GPUs, TP2, against quantized engines on one)
N_CONFOUNDED = 3 + 130 + 9


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(dataset_path("llmq"), dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return mq.evidence.io.read(dataset_path("llmq"), label="llmq")


@pytest.fixture(scope="module")
def effects(data) -> pd.DataFrame:
    return mq.compute_effects(data)


def _row(raw: pd.DataFrame, study: str, comparison: str, task: str, prop: str) -> pd.Series:
    hit = raw[(raw["study"] == study) & (raw["comparison"] == comparison) & (raw["task"] == task)
              & (raw["property"] == prop)]  # fmt: skip
    assert len(hit) == 1, (study, comparison, task, prop, len(hit))
    return hit.iloc[0]


def _values(row: pd.Series) -> tuple[float, float]:
    return float(row["baseline_mean"]), float(row["quant_mean"])


# --------------------------------------------------------------------------
# the file
# --------------------------------------------------------------------------


def test_registered_with_licences():
    meta = dataset_registry()["llmq"]
    assert meta["file"] == "llmq.csv" and meta["builder"] == "analyses/data/build_llmq.py"
    assert set(meta["licences"]) == {"MIT", "Apache-2.0", "BSD-3-Clause"}


def test_columns_are_documented(raw):
    unknown = [c for c in raw.columns if c not in schema.KNOWN_COLUMNS and not c.startswith(USER_COLUMN_PREFIX)]
    assert unknown == []
    need = {"baseline_group", "source", "x_kv_bits", "x_group_size", "x_params", "x_task_family", "x_engine",
            "x_source_repo", "x_source_path", "x_source_commit", "x_licence"}  # fmt: skip
    assert need <= set(raw.columns)


def test_validates_and_every_row_has_an_effect(data, effects):
    assert len(data) == sum(SHIPPED.values()) == 6561
    assert set(data["form"]) == {"measurements"}
    assert (data["baseline_mean"] > 0).all() and (data["quant_mean"] > 0).all()
    assert len(effects) == len(data) and np.isfinite(effects["yi"]).all()
    # only premAI's tokens/s rows print a spread with its repetition count
    assert int(effects["vi_known"].sum()) == 30
    assert set(effects.loc[effects["vi_known"], "study"]) == {"PREMAI_BENCHMARKS"}


def test_row_counts_per_source(data):
    assert data.groupby("study").size().to_dict() == SHIPPED


def test_load_drops_the_confounded_rows(raw, data):
    assert (raw["confounded"] == "true").sum() == N_CONFOUNDED == int(data["confounded"].sum())
    assert len(data) == len(raw)
    kept = mq.load("llmq")
    assert len(kept) == len(raw) - N_CONFOUNDED and not kept.data["confounded"].any()


def test_builder_reproduces_the_shipped_file_from_the_vendored_sources(tmp_path):
    spec = importlib.util.spec_from_file_location("build_llmq", BUILDER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "llmq.csv"
    mod.main(out)
    assert out.read_bytes() == dataset_path("llmq").read_bytes()
    assert {k: v for k, v in mod.EXCLUDED.items() if v} == ZERO_EXCLUDED


# --------------------------------------------------------------------------
# provenance
# --------------------------------------------------------------------------


def test_every_row_is_pinned_to_a_vendored_file_with_its_licence(raw):
    assert (raw["source"] == raw["x_source_repo"] + ":" + raw["x_source_path"] + "@" + raw["x_source_commit"]).all()
    assert raw["x_source_commit"].str.fullmatch(r"[0-9a-f]{40}").all()
    assert (raw["provenance"] != "").all() and (raw["x_licence"] != "").all()
    for (repo, commit, path), _ in raw.groupby(["x_source_repo", "x_source_commit", "x_source_path"]):
        folder = SOURCES / repo.replace("/", "+")
        f = folder / commit / path
        assert f.is_file() or f.is_dir(), f
        assert any(folder.glob("*/LICENSE")), folder


def test_source_licences(raw):
    lic = raw.groupby("x_source_repo")["x_licence"].unique().map(list).to_dict()
    assert lic == {
        "thu-nics/qllm-eval": ["MIT"], "intel/auto-round": ["Apache-2.0"], "ggml-org/llama.cpp": ["MIT"],
        "pytorch/ao": ["BSD-3-Clause"], "huggingface/optimum-benchmark": ["Apache-2.0"],
        "premAI-io/benchmarks": ["MIT"], "NVIDIA/TensorRT-Model-Optimizer": ["Apache-2.0"],
        "Picovoice/llm-compression-benchmark": ["Apache-2.0"],
    }  # fmt: skip


# --------------------------------------------------------------------------
# dependence and coding
# --------------------------------------------------------------------------


def test_a_baseline_group_shares_one_baseline(data):
    g = data.groupby(["baseline_group", "property"])
    assert (g["baseline_mean"].nunique() == 1).all()
    assert (g["study"].nunique() == 1).all()
    assert (g["baseline_sd"].nunique(dropna=False) == 1).all()
    # an FP16 figure printed differently in two files of one source is two groups (MT-Bench Gemma-7B-IT turn 2)
    gem = data[(data["model"] == "Gemma-7B-IT") & (data["task"] == "MT-Bench turn 2")]
    assert sorted(gem.groupby("baseline_group")["baseline_mean"].first()) == [3.61, 3.62]


def test_comparison_ids_are_unique_within_study_task_and_property(raw):
    assert not raw.duplicated(["study", "comparison", "task", "property", "metric"]).any()


def test_bits_and_kv_bits(data):
    q = data[data["study"].str.startswith("QLLMEVAL")]
    kv = q[q["technique"] == "kv-cache"]
    assert (kv["bits"] == 16).all() and (kv["act_bits"] == 16).all()
    assert set(kv["x_kv_bits"].astype(int)) == {8, 4, 3, 2}
    wa = q[q["technique"] == "ptq-dynamic"]
    assert set(zip(wa["bits"], wa["act_bits"], strict=True)) == {(8, 8), (4, 8), (4, 4)}
    assert (q["x_group_size"] == "128").all()
    ar = data[data["study"] == "AUTOROUND_ACC"]
    assert set(ar["x_group_size"]) == {"-1", "128", "32"}
    assert set(ar.loc[ar["x_group_size"] == "-1", "granularity"]) == {"per-channel"}
    assert set(ar["x_algorithm"]) == {"RTN", "GPTQ", "AWQ", "HQQ", "OmniQuant", "AutoRound"}
    params = pd.to_numeric(data["x_params"])
    assert params.between(1.2e8, 1.8e11).all()


# --------------------------------------------------------------------------
# hand-checked rows, with the figures as printed in the source files
# --------------------------------------------------------------------------


def test_qllm_eval_lambada(raw):
    # lambada_w_only.py: OPT_66B = [73.43, 73.45, 72.95,  8.11,  0.04]; LlaMA2_70B = [78.96, 78.89, 77.88, 76.46, 16.96]
    assert _values(_row(raw, "QLLMEVAL_LAMBADA", "OPT-66B|W3", "LAMBADA", "accuracy")) == (73.43, 8.11)
    assert _values(_row(raw, "QLLMEVAL_LAMBADA", "LLaMA2-70B|W2", "LAMBADA", "accuracy")) == (78.96, 16.96)
    # OPT_2B7 and LlaMA2_7B print 0.00 at W2: no log ratio, not written
    assert raw[raw["comparison"].isin(["OPT-2.7B|W2", "LLaMA2-7B|W2"]) & (raw["task"] == "LAMBADA")].empty


def test_qllm_eval_emergent(raw):
    # mmlu_w.txt: LLaMA2-7B  46.69/45.89  46.92/45.98  45.45/44.91 ...; the second figure is the value
    r = _row(raw, "QLLMEVAL_EMERGENT", "LLaMA2-7B|W4", "MMLU", "accuracy")
    assert _values(r) == (45.89, 44.91) and r["x_first_figure"] == "45.45"
    # gsm8k_w.txt: Mixtral-8x7B  71.11  70.96  69.52  51.71  0.68
    assert _values(_row(raw, "QLLMEVAL_EMERGENT", "Mixtral-8x7B|W3", "GSM8K", "accuracy")) == (71.11, 51.71)
    # strategyqa_wa.txt: LLaMA2-7B  64.37  64.59  61.4  2.23
    assert _values(_row(raw, "QLLMEVAL_EMERGENT", "LLaMA2-7B|W4A4", "StrategyQA", "accuracy")) == (64.37, 2.23)
    # hellaswag_kv.txt: Falcon-180B-chat  82.22  82.21  82.4  81.59  76.98
    r = _row(raw, "QLLMEVAL_EMERGENT", "Falcon-180B-Chat|KV2", "HellaSwag", "accuracy")
    assert _values(r) == (82.22, 76.98) and r["x_kv_bits"] == "2" and r["bits"] == "16"


def test_qllm_eval_mtbench(raw):
    # mt_bench_w_only.py: 'llama-2_70b_chat' : [[6.26, 6.49, 5.91, 5.86], [5.99, 5.83, 5.55, 5.12]]
    r = _row(raw, "QLLMEVAL_MTBENCH", "LLaMA2-70B-Chat|W4", "MT-Bench turn 1", "accuracy")
    assert _values(r) == (6.26, 5.91)
    # mt_bench_kv_cache.py: 'mixtral_8x7b_instruct' : [[7.89, 7.62, 6.97, 6.26], [6.55, 6.94, 6.34, 4.96]]
    r = _row(raw, "QLLMEVAL_MTBENCH", "Mixtral-8x7B-Instruct|KV3", "MT-Bench turn 2", "accuracy")
    assert _values(r) == (6.55, 4.96)


def test_qllm_eval_ethics_and_truthfulqa_fractions_in_percent(raw):
    # ethics/commonsense/w_result.py: Falcon_40B = [0.007207207207207207, ..., 0.23191763191763193]
    r = _row(raw, "QLLMEVAL_ETHICS", "Falcon-40B|W3", "ETHICS commonsense", "accuracy")
    assert (r["baseline_mean"], r["quant_mean"]) == ("0.7207207207207207", "23.191763191763193")
    # ... LLaMA2_7B_AWQ = [0.425997425997426, 0.425997425997426, 0.39510939510939513, 0.4936936936936937]
    r = _row(raw, "QLLMEVAL_ETHICS", "LLaMA2-7B|W4|AWQ", "ETHICS commonsense", "accuracy")
    assert (r["baseline_mean"], r["quant_mean"]) == ("42.5997425997426", "39.510939510939513")
    assert r["x_algorithm"].startswith("AWQ")
    # truthfulqa/results/w_mc1_result.py: Mistral_7B = [0.5177478580171359, ..., 0.27050183598531213]
    r = _row(raw, "QLLMEVAL_TRUTHFULQA", "Mistral-7B|W2", "TruthfulQA MC1", "accuracy")
    assert (r["baseline_mean"], r["quant_mean"]) == ("51.77478580171359", "27.050183598531213")


def test_qllm_eval_long_context(raw):
    # longeval/length/w_length_result.py: Mistral_7B = [[0.998, ..., 0.948], [...], [0.996, ..., 0.922], ...]
    r = _row(raw, "QLLMEVAL_LONG_LONGEVAL", "Mistral-7B|W4", "LongEval (context 16k)", "accuracy")
    assert _values(r) == (94.8, 92.2)
    # ... Vicuna_7B_AWQ = [[0.996, ...], [0.996, ...], [0.998, ...], [0.974, ...], [0.0, ...]]
    r = _row(raw, "QLLMEVAL_LONG_LONGEVAL", "Vicuna-7B|W3|AWQ", "LongEval (context 4k)", "accuracy")
    assert _values(r) == (99.6, 97.4) and r["x_algorithm"].startswith("AWQ")
    # the W2 lists are all 0.0: not written
    assert raw[(raw["study"] == "QLLMEVAL_LONG_LONGEVAL") & (raw["quant_precision"] == "w2")].empty
    # litm/pos/w_length_result.py: LLaMA2_70B = [[0.5789077212806026, ...], ..., [0.5043314500941619, ...]]
    r = _row(raw, "QLLMEVAL_LONG_LITM", "LLaMA2-70B|W3", "Lost in the middle (position 0)", "accuracy")
    assert (r["baseline_mean"], r["quant_mean"]) == ("57.89077212806026", "50.43314500941619")


def test_qllm_eval_advglue(raw):
    # hf_llama2_13b_chat/fp16.csv: adv_sst2 acc_after 45.80, acc_before 61.83; w4a8.csv: 49.62, 56.49
    c = "LLaMA2-13B-Chat|W4A8"
    assert _values(_row(raw, "QLLMEVAL_ADVGLUE", c, "AdvGLUE sst2 (adversarial accuracy)", "accuracy")) == (45.8, 49.62)
    assert _values(_row(raw, "QLLMEVAL_ADVGLUE", c, "AdvGLUE sst2 (clean accuracy)", "accuracy")) == (61.83, 56.49)


def test_autoround(raw):
    # section 1 (W4G-1), Mistral-7B: FP16 61.35 75.68 ...; RTN 55.92 66.10 ...; HQQ 52.65 ... 46.33 (ARC-c)
    assert _values(_row(raw, "AUTOROUND_ACC", "Mistral-7B|W4G-1|RTN", "MMLU", "accuracy")) == (61.35, 55.92)
    assert _values(_row(raw, "AUTOROUND_ACC", "Mistral-7B|W4G-1|RTN", "LAMBADA (openai)", "accuracy")) == (75.68, 66.1)
    r = _row(raw, "AUTOROUND_ACC", "Mistral-7B|W4G-1|HQQ", "ARC-Challenge", "accuracy")
    assert _values(r) == (50.34, 46.33) and r["x_calibration"] == "none (data-free)"
    # 'Other data W4G128', Intel/neural-chat-7b-v3-3: FP16 MMLU 61.13, wikitext2 ppl 6.00; Ours 60.56, 6.21
    c = "neural-chat-7b-v3-3|W4G128|Ours"
    assert _values(_row(raw, "AUTOROUND_ACC", c, "MMLU", "accuracy")) == (61.13, 60.56)
    r = _row(raw, "AUTOROUND_ACC", c, "WikiText-2 (GPTQ protocol, seq 2048)", "perplexity")
    assert _values(r) == (6.0, 6.21) and r["x_algorithm"] == "AutoRound"


def test_llamacpp_quantize(raw):
    # |   Q4_K_M   |      4.8944 |       4.58 |               821.81 ±21.44 |               71.93 ±1.52 |
    # |    F16     |     16.0005 |      14.96 |                923.49 ±0.53 |               29.17 ±0.04 |
    c = "Llama-3.1-8B|Q4_K_M"
    assert _values(_row(raw, "LLAMACPP_QUANTIZE_L31_8B", c, "model file", "storage_size")) == (14.96, 4.58)
    r = _row(raw, "LLAMACPP_QUANTIZE_L31_8B", c, "text generation, 128 tokens (tg128)", "throughput")
    assert _values(r) == (29.17, 71.93) and (r["x_baseline_sd"], r["x_quant_sd"]) == ("0.04", "1.52")
    assert r["baseline_sd"] == "" and r["x_bpw"] == "4.8944"
    r = _row(raw, "LLAMACPP_QUANTIZE_L31_8B", c, "prompt processing, 512 tokens (pp512)", "throughput")
    assert _values(r) == (923.49, 821.81) and r["x_quant_sd"] == "21.44"
    # Q4_K_S is printed twice with the same figures: one row per property
    assert (raw["comparison"] == "Llama-3.1-8B|Q4_K_S").sum() == 3


def test_torchao(raw):
    # A100: Llama-3-8B Base 7.441 ... int4wo-64-GPTQ 7.921
    r = _row(raw, "TORCHAO_README", "Llama-3-8B|int4wo-64-GPTQ|A100", "WikiText (lm_eval)", "perplexity")
    assert _values(r) == (7.441, 7.921) and r["hardware"] == "NVIDIA A100 80GB" and r["x_group_size"] == "64"
    # H100: Llama-3.1-8B Base 126.90 tokens/s, float8dq (Per Row) 154.63
    r = _row(raw, "TORCHAO_README", "Llama-3.1-8B|float8dq (Per Row)|H100", "decode, batch size 1", "throughput")
    assert _values(r) == (126.9, 154.63) and (r["bits"], r["act_bits"]) == ("8", "8")
    # Codebook (A6000): Llama-3.1-8B Base 7.713, codebook-4-64 10.095
    r = _row(raw, "TORCHAO_README", "Llama-3.1-8B|codebook-4-64|A6000", "WikiText (lm_eval)", "perplexity")
    assert _values(r) == (7.713, 10.095) and r["hardware"] == "NVIDIA RTX A6000"
    sparse = raw[raw["comparison"] == "Llama-3-8B|int4wo-64-sparse-marlin"]
    assert len(sparse) == 3 and (sparse["confounded"] == "true").all()
    # AWQ README: Llama-3-8B-Instruct bfloat16 ARC challenge 0.567, awq-uint4 0.577 (fractions -> %)
    r = _row(raw, "TORCHAO_AWQ", "Llama-3-8B-Instruct|awq-uint4", "ARC-Challenge", "accuracy")
    assert _values(r) == (56.7, 57.7) and r["x_algorithm"] == "AWQ"
    # GPTQ README: bf16 12.245, gptq-int4wo-64 12.523 (Llama-2-7b-chat-hf)
    r = _row(raw, "TORCHAO_GPTQ", "Llama-2-7B-Chat|gptq-int4wo-64", "WikiText (lm_eval)", "perplexity")
    assert _values(r) == (12.245, 12.523) and r["x_calibration"] == "10 samples from lm_eval"


def test_optimum_benchmark(raw):
    # A100-80GB/full_report.csv lines 3 (fp16, batch 16) and 6 (bnb, batch 16): generate.throughput 316 and 217
    t = "generate, batch 16, prompt 512 tokens, 1000 new tokens"
    r = _row(raw, "OPTIMUM_BENCHMARK_LLAMA", "Llama-2-7B|bnb|A100-80GB", t, "throughput")
    assert _values(r) == (316.0, 217.0) and r["confounded"] == "false"
    assert _values(_row(raw, "OPTIMUM_BENCHMARK_LLAMA", "Llama-2-7B|gptq|A100-80GB", t, "throughput")) == (316, 246)
    # Llama-7b/full_report.csv: fp16 decode 38.7 tokens/s at batch 1, fp16+gptq+exllamav2 35.2 (a LLaMA-1 checkpoint)
    r = _row(raw, "OPTIMUM_BENCHMARK_LLAMA", "Llama-2-7B|fp16+gptq+exllamav2|Llama-7b",
             "decode, batch 1, prompt 256 tokens, 512 new tokens", "throughput")  # fmt: skip
    assert _values(r) == (38.7, 35.2) and r["confounded"] == "true"


def test_premai(raw, effects):
    # Mistral 7B table: transformers (pytorch) float16 37.05 ± 0.49, int4 19.58 ± 0.38, over 10 repetitions
    t = "generation, 512 tokens, batch size 1"
    r = _row(raw, "PREMAI_BENCHMARKS", "Mistral-7B-Instruct-v0.1|transformers (pytorch)|int4", t, "throughput")
    assert _values(r) == (37.05, 19.58) and (r["x_baseline_sd"], r["x_quant_sd"]) == ("0.49", "0.38")
    assert float(r["quant_sd"]) == pytest.approx(0.38 * math.sqrt(10 / 9), rel=1e-15)
    assert r["baseline_n"] == r["quant_n"] == "10"
    e = effects[effects["comparison"] == "PREMAI_BENCHMARKS|Mistral-7B-Instruct-v0.1|transformers (pytorch)|int4"]
    e = e[e["property"] == "throughput"].iloc[0]
    vi = (0.38**2 * 10 / 9) / (10 * 19.58**2) + (0.49**2 * 10 / 9) / (10 * 37.05**2)
    assert e["yi"] == pytest.approx(math.log(19.58 / 37.05), rel=1e-12) and e["vi"] == pytest.approx(vi, rel=1e-12)
    # Llama 2 table: Nvidia TensorRT-LLM float16 '191.00 ± 4.60', int4 '358.49 ± 2.38'
    r = _row(raw, "PREMAI_BENCHMARKS", "Llama-2-7B-Chat|Nvidia TensorRT-LLM|int4", t, "throughput")
    assert _values(r) == (191.0, 358.49) and r["x_baseline_sd"] == "4.60"
    # engines without a float16 run of their own (AutoAWQ, llama.cpp, exllamav2, ctransformers) give no row
    assert not raw["comparison"].str.contains(r"\|(?:AutoAWQ|llama\.cpp|exllamav2|ctransformers)\|").any()


TRTMO = "NVIDIA/TensorRT-Model-Optimizer"
TRTMO_COMMIT = "1ef1d72a1b6e8e64926453f3fa16a36be868ae35"
#: examples/benchmark.md section 1.1 (H200), as printed: (model, batch, method, BF16 tokens/s, quantized, line)
TRTMO_PERF_CHECKS = [
    ("Llama-3.1-8B", "1", "FP8", "173.80", "245.03", 23),
    ("Llama-3.1-8B", "1", "INT4 AWQ", "173.80", "231.75", 23),
    ("Llama-3.1-8B", "1", "W4A8 AWQ", "173.80", "239.70", 23),
    ("Llama-3.1-8B", "8", "FP8", "803.11", "1,051.17", 24),
    ("Llama-3.1-8B", "8", "INT4 AWQ", "803.11", "599.72", 24),
    ("Llama-3.1-8B", "8", "W4A8 AWQ", "803.11", "801.72", 24),
    ("Llama-3.1-8B", "64", "FP8", "1,679.74", "2,190.93", 25),
    ("Llama-3.1-8B", "64", "INT4 AWQ", "1,679.74", "1,392.78", 25),
    ("Llama-3.1-8B", "64", "W4A8 AWQ", "1,679.74", "1,930.86", 25),
    ("Llama-3.1-70B", "1", "FP8", "45.81", "43.46", 26),
    ("Llama-3.1-70B", "1", "INT4 AWQ", "45.81", "44.10", 26),
    ("Llama-3.1-70B", "1", "W4A8 AWQ", "45.81", "46.31", 26),
    ("Llama-3.1-70B", "8", "FP8", "182.61", "182.07", 27),
    ("Llama-3.1-70B", "8", "INT4 AWQ", "182.61", "93.98", 27),
    ("Llama-3.1-70B", "8", "W4A8 AWQ", "182.61", "140.02", 27),
    ("Llama-3.1-70B", "64", "FP8", "401.50", "420.64", 28),
    ("Llama-3.1-70B", "64", "INT4 AWQ", "401.50", "176.68", 28),
    ("Llama-3.1-70B", "64", "W4A8 AWQ", "401.50", "345.43", 28),
]
#: bits and activation bits per method: INT4 AWQ is weight-only (llm_ptq/README.md line 452), W4A8 AWQ adds FP8
#: activations (line 454); the files do not say whether FP8 quantizes activations
TRTMO_BITS = {"FP8": (8, None), "INT4 AWQ": (4, 16), "W4A8 AWQ": (4, 8)}


@pytest.mark.parametrize(("model", "batch", "method", "base", "quant", "line"), TRTMO_PERF_CHECKS)
def test_trtmo_ptq_perf(data, raw, model, batch, method, base, quant, line):
    t = f"generation, input 2048 / output 128 tokens, batch size {batch}"
    r = _row(raw, "TRTMO_PTQ_PERF", f"{model}|{method}|batch {batch}", t, "throughput")
    assert _values(r) == (float(base.replace(",", "")), float(quant.replace(",", "")))
    assert r["provenance"].startswith(f"table '1.1 Performance', line {line} ")
    assert (r["hardware"], r["unit"], r["baseline_precision"], r["x_batch_size"]) == ("NVIDIA H200", "tokens/s",
                                                                                       "bf16", batch)  # fmt: skip
    assert (r["x_source_path"], r["x_source_commit"]) == ("examples/benchmark.md", TRTMO_COMMIT)
    # BF16 runs the 70B model on two GPUs (TP2), every quantized engine on one (TP1)
    assert r["confounded"] == ("true" if model.endswith("70B") else "false")
    d = data[(data["study"] == "TRTMO_PTQ_PERF") & (data["comparison"] == f"{model}|{method}|batch {batch}")].iloc[0]
    bits, act = TRTMO_BITS[method]
    assert d["bits"] == bits and (pd.isna(d["act_bits"]) if act is None else d["act_bits"] == act)


#: examples/windows/Benchmark.md section 1.2 (RTX 4090): (model, ONNX FP16, ONNX INT4, line) as printed
TRTMO_MMLU_CHECKS = [
    ("Llama-3.1-8B-Instruct", "68.45", "66.1", 37),
    ("Phi-3.5-mini-Instruct", "68.9", "65.7", 38),
    ("Mistral-7B-Instruct-v0.3", "61.76", "60.73", 39),
    ("Llama-3.2-3B-Instruct", "60.8", "57.71", 40),
    ("Gemma-2B-IT", "37.01", "37.2", 41),
]


@pytest.mark.parametrize(("model", "base", "quant", "line"), TRTMO_MMLU_CHECKS)
def test_trtmo_windows_mmlu(raw, model, base, quant, line):
    r = _row(raw, "TRTMO_WINDOWS_MMLU", f"{model}|onnx int4 awq", "MMLU (5-shot)", "accuracy")
    assert _values(r) == (float(base), float(quant)) and r["unit"] == "%" and r["confounded"] == "false"
    assert r["provenance"].startswith(f"table '1.2 Accuracy Comparison', line {line} ")
    assert r["x_source_path"] == "examples/windows/Benchmark.md" and r["bits"] == "4"


def test_trtmo_files_as_vendored():
    """Read straight from the vendored files (not through the builder): the H200 table's first lines and the
    format notes that the bits coding cites; the MMLU-loss and speedup columns, ratios without both figures,
    give no row."""
    root = SOURCES / "NVIDIA+TensorRT-Model-Optimizer" / TRTMO_COMMIT / "examples"
    bench = (root / "benchmark.md").read_text().splitlines()
    assert "BF16 (8B:TP1, 70B:TP2)" in bench[19] and bench[22].startswith("| Llama3.1-8B | 1 | 173.80 | | 245.03 |")
    assert bench[38] == "| Llama3.1-8B (instruct) | 1.50% | 5.66% | 6.00% |"
    ptq = (root / "llm_ptq" / "README.md").read_text().splitlines()
    assert "is an INT4 weight only quantization" in ptq[451] and "uses FP8 for activation" in ptq[453]
    assert (SOURCES / "NVIDIA+TensorRT-Model-Optimizer" / TRTMO_COMMIT / "LICENSE").is_file()


PV_COMMIT = "c648df350fe90c808ba71115f773609ca3f1f010"
#: Picovoice README.md results as printed: (section task, model, size, method, original, quantized, bits, row line,
#: original's line); lines are those of the rows' <tr>
PV_CHECKS = [
    ("MMLU", "Gemma-2B", "3.1", "GPTQ", "40.21", "39.07", "4", 248, 212),
    ("MMLU", "Gemma-2B", "2.6", "picoLLM", "40.21", "41.12", "2", 258, 212),
    ("MMLU", "Gemma-7B", "5.2", "GPTQ", "64.48", "25.58", "2", 273, 216),
    ("MMLU", "LLaMA-2-7B", "3.9", "GPTQ", "46.38", "45.26", "4", 278, 224),
    ("MMLU", "LLaMA-2-7B", "3.9", "picoLLM", "46.38", "44.99", "4", 278, 224),
    ("MMLU", "Llama-3-8B", "4.0", "picoLLM", "64.88", "61.26", "2", 303, 220),
    ("MMLU", "Mistral-7B-v0.1", "3.3", "GPTQ", "62.41", "23.73", "3", 313, 228),
    ("MMLU", "Phi-2", "1.5", "picoLLM", "56.04", "52.24", "3", 328, 232),
    ("ARC-Easy", "Gemma-7B", "7.2", "GPTQ", "75.51", "76.52", "4", None, None),
    ("ARC-Easy", "Mistral-7B-v0.1", "4.2", "picoLLM", "80.56", "73.95", "4", None, None),
    ("ARC-Easy", "Phi-2", "1.2", "GPTQ", "75.25", "22.10", "2", None, None),
    ("ARC-Easy", "Llama-3-8B", "4.9", "picoLLM", "75.80", "77.02", "3", None, None),
    ("ARC-Challenge", "Gemma-2B", "2.9", "GPTQ", "30.38", "23.55", "3", None, None),
    ("ARC-Challenge", "Gemma-7B", "5.2", "picoLLM", "64.93", "72.61", "2", None, None),
    ("ARC-Challenge", "LLaMA-2-7B", "2.3", "GPTQ", "37.03", "21.16", "2", None, None),
    ("ARC-Challenge", "Mistral-7B-v0.1", "4.2", "GPTQ", "67.49", "64.42", "4", None, None),
    ("C4 validation (128 snippets)", "Gemma-2B", "2.6", "GPTQ", "16.79", "8377.74", "2", None, None),
    ("C4 validation (128 snippets)", "Gemma-7B", "5.2", "GPTQ", "14.67", "33370970.40", "2", None, None),
    ("C4 validation (128 snippets)", "LLaMA-2-7B", "3.1", "picoLLM", "8.40", "8.86", "3", None, None),
    ("C4 validation (128 snippets)", "Mistral-7B-v0.1", "4.2", "GPTQ", "10.50", "10.43", "4", None, None),
    ("C4 validation (128 snippets)", "Phi-2", "1.8", "picoLLM", "17.38", "17.76", "4", 740, 649),
    ("model size", "Llama-3-8B", "5.7", "GPTQ", "16.1", "5.7", "4", None, None),
    ("model size", "Phi-2", "1.2", "GPTQ", "5.6", "1.2", "2", None, None),
]


@pytest.mark.parametrize(("task", "model", "size", "method", "base", "quant", "bits", "line", "bline"), PV_CHECKS)
def test_picovoice(raw, task, model, size, method, base, quant, bits, line, bline):
    prop = {"model size": "storage_size", "C4 validation (128 snippets)": "perplexity"}.get(task, "accuracy")
    r = _row(raw, "PICOVOICE_COMPRESSION", f"{model}|{method}|{size}G", task, prop)
    assert _values(r) == (float(base), float(quant)) and r["bits"] == bits
    assert (r["x_source_path"], r["x_source_commit"]) == ("README.md", PV_COMMIT)
    assert r["technique"] == ("weight-only" if method == "GPTQ" else "mixed")
    assert r["x_group_size"] == ("128" if method == "GPTQ" else "")
    if line is not None:
        assert f", line {line} (" in r["provenance"] and f" vs line {bline} (" in r["provenance"]


def test_picovoice_coding(raw):
    pv = raw[raw["study"] == "PICOVOICE_COMPRESSION"]
    assert dict(pv["property"].value_counts()) == {"accuracy": 108, "perplexity": 36, "storage_size": 18}
    # one original-model figure per model and task is the baseline of its six quantized rows (two for sizes)
    assert pv["baseline_group"].nunique() == 30
    assert (pv[pv["property"] != "storage_size"].groupby("baseline_group").size() == 6).all()
    # per model the three sizes, largest first, are the 4-, 3- and 2-bit settings
    gemma = pv[(pv["model"] == "Gemma-7B") & (pv["task"] == "MMLU")]
    assert dict(zip(gemma["quant_precision"], gemma["bits"], strict=True)) == {
        "GPTQ 7.2G": "4", "picoLLM 7.2G": "4", "GPTQ 6.2G": "3", "picoLLM 6.2G": "3", "GPTQ 5.2G": "2",
        "picoLLM 5.2G": "2"}  # fmt: skip


def test_no_quantized_figure_is_zero(raw):
    assert (pd.to_numeric(raw["quant_mean"]) > 0).all()
    assert not any(re.fullmatch(r"0(\.0*)?", v) for v in raw["quant_mean"])


# --------------------------------------------------------------------------
# the data list / data show commands
# --------------------------------------------------------------------------


def _cli(*args):
    from click.testing import CliRunner

    from metaquant.cli import main

    return CliRunner().invoke(main, list(args))


def test_data_list_shows_rows_repositories_and_licences(raw):
    import json

    res = _cli("data", "list", "--format", "json")
    assert res.exit_code == 0
    d = {x["name"]: x for x in json.loads(res.output)}["llmq"]
    assert d["rows"] == len(raw) and d["studies"] == len(SHIPPED)
    assert d["rows_by_property"] == raw["property"].value_counts().sort_index().to_dict()
    repos = {r["repository"]: (r["rows"], r["licence"]) for r in d["repositories"]}
    assert repos["thu-nics/qllm-eval"] == ((raw["x_source_repo"] == "thu-nics/qllm-eval").sum(), "MIT")
    assert repos["pytorch/ao"][1] == "BSD-3-Clause" and sum(n for n, _ in repos.values()) == len(raw)
    text = _cli("data", "list").output
    assert "repository: intel/auto-round (1922 rows; licence Apache-2.0)" in text


def test_data_show_filters(raw):
    import json

    res = _cli("data", "show", "llmq", "--property", "accuracy", "--source", "auto-round", "--model", "LLaMA-2-7B",
               "--bits", "2", "--task", "MMLU", "--format", "json")  # fmt: skip
    assert res.exit_code == 0
    rows = json.loads(res.output)
    want = raw[(raw["study"] == "AUTOROUND_ACC") & (raw["model"] == "LLaMA-2-7B") & (raw["bits"] == "2")
               & (raw["task"] == "MMLU")]  # fmt: skip
    assert len(rows) == len(want) == 8 and {r["baseline_mean"] for r in rows} == {42.69}
    res = _cli("data", "show", "llmq", "--study", "PREMAI", "--effects", "--property", "throughput", "--format", "csv",
               "--columns", "comparison,yi,vi")  # fmt: skip
    assert res.exit_code == 0 and res.output.splitlines()[0] == "comparison,yi,vi"
    assert len(res.output.splitlines()) == 1 + 30
    res = _cli("data", "show", "llmq", "--source", "no-such-repository")
    assert res.exit_code == 2 and "no row matches the filters" in res.output
    res = _cli("data", "show", "llmq", "--drop-confounded", "--study", "OPTIMUM", "--format", "json")
    assert len(json.loads(res.output)) == 170 - 130
