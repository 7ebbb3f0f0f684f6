"""The shipped ``benchmarks`` dataset: validity, provenance, dependence, confounding, and its
figures checked against the numbers printed in the source tables."""

from __future__ import annotations

import importlib.util
import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metaquant as mq
from metaquant.evidence import schema
from metaquant.evidence.io import USER_COLUMN_PREFIX, dataset_path

REPO = Path(__file__).resolve().parents[1]
BUILDER = REPO / "analyses" / "data" / "build_benchmarks.py"

#: Rows per source table in the extraction (350 in all) and in the shipped table: the LLaMA 3 8B
#: scoreboard repeats one file size per importance matrix; 18 such repeats are kept once.
EXTRACTED = {
    "LLAMACPP_PPL_L3_8B": 90, "LLAMACPP_PPL_L2_70B": 24, "LLAMACPP_README_2023": 30, "INC_LLM_RECIPES": 47,
    "INC_SMOOTHQUANT": 39, "NNCF_MODELZOO": 41, "TFLITE_MODELOPT": 18, "PYTORCH_BERT_DYNQ": 4, "ECOCOMPUTE_NVML": 57,
}  # fmt: skip
SHIPPED = dict(EXTRACTED, LLAMACPP_PPL_L3_8B=72)
N_CONFOUNDED = 33 + 4  # ECOCOMPUTE bitsandbytes INT8 rows (15 RTX 4090D + 18 A800) + TFLite size column


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(dataset_path("benchmarks"), dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return mq.evidence.io.read(dataset_path("benchmarks"), label="benchmarks")


@pytest.fixture(scope="module")
def effects(data) -> pd.DataFrame:
    return mq.compute_effects(data)


def _row(tab: pd.DataFrame, study: str, comparison: str, prop: str) -> pd.Series:
    """One row of the data file or of the effect table (whose ids read ``study|comparison``)."""
    ids = [comparison, f"{study}|{comparison}"]
    hit = tab[(tab["study"] == study) & tab["comparison"].isin(ids) & (tab["property"] == prop)]
    assert len(hit) == 1, (study, comparison, prop)
    return hit.iloc[0]


# --------------------------------------------------------------------------
# the file
# --------------------------------------------------------------------------


def test_columns_are_documented(raw):
    unknown = [c for c in raw.columns if c not in schema.KNOWN_COLUMNS and not c.startswith(USER_COLUMN_PREFIX)]
    assert unknown == []
    assert {"study", "comparison", "property", "baseline_mean", "quant_mean", "baseline_group", "source"} <= set(raw)


def test_validates_and_every_row_has_an_effect(data, effects):
    assert len(data) == sum(SHIPPED.values()) == 332
    assert set(data["form"]) == {"measurements"}
    assert (data["baseline_mean"] > 0).all() and (data["quant_mean"] > 0).all()
    assert len(effects) == len(data) and np.isfinite(effects["yi"]).all()


def test_row_counts_per_source(data):
    assert data.groupby("study").size().to_dict() == SHIPPED


def test_every_extraction_row_is_represented_once(raw):
    rows = [int(x) for cell in raw["x_extract_row"] for x in cell.split(",")]
    assert sorted(rows) == list(range(1, sum(EXTRACTED.values()) + 1))
    per_study = {s: sum(len(c.split(",")) for c in g["x_extract_row"]) for s, g in raw.groupby("study")}
    assert per_study == EXTRACTED


def test_every_row_names_a_source_with_a_commit(raw):
    assert raw["source"].str.contains(r"^[\w.-]+/[\w.-]+:\S+@[0-9a-f]{40}\b", regex=True).all()
    assert (raw["provenance"].str.len() > 0).all()


def test_comparisons_are_unique_within_study_and_property(raw):
    assert not raw.duplicated(["study", "comparison", "property"]).any()


def test_bits_and_activation_bits(data):
    assert set(data["bits"]) <= {1, 2, 3, 4, 5, 6, 7, 8, 16}
    assert set(data["act_bits"].dropna()) <= {1, 8, 16}
    # llama.cpp types: the leading digit of the type name (iq1_S -> 1, q4_K_M -> 4, q8_0 -> 8)
    l3 = data[data["study"] == "LLAMACPP_PPL_L3_8B"]
    lead = l3["quant_precision"].str.extract(r"^i?q(\d)", expand=False).astype(float)
    assert (lead == l3["bits"]).all()


def test_techniques_are_registry_ids(data):
    assert set(data["technique"]) <= set(schema.TECHNIQUES)
    assert set(data["granularity"].dropna()) <= {"per-tensor", "per-channel", "per-block"}


def test_units_are_consistent_within_study_and_property(raw):
    units = raw.groupby(["study", "property"])["unit"].nunique()
    assert (units == 1).all()
    accuracy_like = raw["property"].isin(["accuracy", "f1_score", "map", "miou"])
    assert set(raw.loc[accuracy_like, "unit"]) == {"%"}


# --------------------------------------------------------------------------
# figures against the sources
# --------------------------------------------------------------------------

# crusaderky/llama.cpp@73f6cfa tools/perplexity/README.md, "LLaMA 3 8b Scoreboard" (llama.cpp f364eb6f):
# PPL ± standard error over tokens.  f16: 6.233160 ± 0.037828.
F16 = (6.233160, 0.037828)
SCOREBOARD = {
    "LLaMA 3 8B|q8_0|imatrix None": (6.234284, 0.037878),
    "LLaMA 3 8B|q4_K_M|imatrix WT 10m": (6.382937, 0.039055),
    "LLaMA 3 8B|q2_K|imatrix None": (9.751568, 0.063312),
    "LLaMA 3 8B|iq1_S|imatrix WT 10k": (63.221324, 0.493077),
}


@pytest.mark.parametrize("comparison", sorted(SCOREBOARD))
def test_llamacpp_standard_errors_give_the_ratio_variance(effects, raw, comparison):
    q, se_q = SCOREBOARD[comparison]
    b, se_b = F16
    row = _row(effects, "LLAMACPP_PPL_L3_8B", comparison, "perplexity")
    assert row["vi_known"]
    np.testing.assert_allclose(row["vi"], (se_q / q) ** 2 + (se_b / b) ** 2, rtol=1e-13)
    np.testing.assert_allclose(row["yi"], math.log(b / q), rtol=1e-13)
    assert row["yi"] < 0  # perplexity rises: quantization is worse
    kept = raw[(raw["study"] == "LLAMACPP_PPL_L3_8B") & (raw["comparison"] == comparison)].iloc[0]
    assert (float(kept["x_quant_se"]), float(kept["x_baseline_se"])) == (se_q, se_b)


def test_llamacpp_ratio_variance_for_every_scoreboard_row(effects, raw):
    ppl = raw[(raw["study"] == "LLAMACPP_PPL_L3_8B") & (raw["property"] == "perplexity")]
    assert len(ppl) == 45
    tab = effects[(effects["study"] == "LLAMACPP_PPL_L3_8B") & (effects["property"] == "perplexity")]
    expect = (ppl["x_quant_se"].astype(float) / ppl["quant_mean"].astype(float)) ** 2 + (
        ppl["x_baseline_se"].astype(float) / ppl["baseline_mean"].astype(float)
    ) ** 2
    np.testing.assert_allclose(tab["vi"].to_numpy(), expect.to_numpy(), rtol=1e-13)


def test_inc_recipes_match_the_published_ratios(effects, raw):
    inc = raw[raw["study"] == "INC_LLM_RECIPES"]
    tab = effects[effects["study"] == "INC_LLM_RECIPES"]
    # the source prints quant/FP32 to four decimals
    assert np.abs(np.exp(tab["yi"].to_numpy()) - inc["x_reported_ratio"].astype(float).to_numpy()).max() < 6e-5


def test_llama2_70b_matches_the_published_deltas(effects, raw):
    ppl = raw[(raw["study"] == "LLAMACPP_PPL_L2_70B") & (raw["property"] == "perplexity")]
    tab = effects[(effects["study"] == "LLAMACPP_PPL_L2_70B") & (effects["property"] == "perplexity")]
    # "Delta to fp16" is the relative increase in perplexity, printed to two decimals
    delta = ppl["x_reported_delta_pct"].astype(float).to_numpy()
    assert np.abs(-tab["pct"].to_numpy() - delta).max() < 0.0051


def test_nncf_values_match_the_published_drops(raw):
    nncf = raw[(raw["study"] == "NNCF_MODELZOO") & (raw["x_baseline_derived"] == "false")]
    assert len(nncf) == 25
    for _, r in nncf.iterrows():
        assert Decimal(r["baseline_mean"]) - Decimal(r["quant_mean"]) == Decimal(r["x_reported_drop"])


def test_fractions_are_rescaled_exactly(raw):
    # smooth_quant.md: bloom-560m 0.354 -> 0.3542; TFLite Mobilenet-v1 QAT 0.709 -> 0.70; PyTorch F1 0.9019 -> 0.902
    assert tuple(_row(raw, "INC_SMOOTHQUANT", "bigscience/bloom-560m|SQ INT8", "accuracy")[
        ["baseline_mean", "quant_mean"]]) == ("35.4", "35.42")  # fmt: skip
    assert tuple(_row(raw, "TFLITE_MODELOPT", "Mobilenet-v1-1-224|QAT INT8", "accuracy")[
        ["baseline_mean", "quant_mean"]]) == ("70.9", "70")  # fmt: skip
    f1 = raw[(raw["study"] == "PYTORCH_BERT_DYNQ") & (raw["property"] == "f1_score")].iloc[0]
    assert (f1["baseline_mean"], f1["quant_mean"]) == ("90.19", "90.2")


@pytest.mark.parametrize(
    ("comparison", "prop", "memo_pct"),
    [
        # COMPLETE_DATASET_MEMO.md "Δ Energy" / "Δ vs FP16" columns (energy increase = negative improvement)
        ("RTX 5090|TinyLlama-1.1B|bs 1|NF4", "gpu_energy_consumption", -26.5),
        ("RTX 5090|Qwen2-7B|bs 1|NF4", "gpu_energy_consumption", 11.4),
        ("RTX 4090D|Mistral-7B|bs 1|LLM.int8() threshold 6.0", "gpu_energy_consumption", -30.7),
        ("A800 80GB PCIe|Mistral-7B|bs 4|LLM.int8() threshold 6.0", "gpu_energy_consumption", -147.0),
    ],
)
def test_ecocompute_matches_the_memo(effects, comparison, prop, memo_pct):
    row = _row(effects, "ECOCOMPUTE_NVML", comparison, prop)
    # the memo prints one decimal (RTX) or whole percent (A800), computed from unrounded means
    assert abs(row["pct"] - memo_pct) < (0.1 if abs(memo_pct) < 100 else 0.5)


def test_ecocompute_spreads(data, effects):
    eco = data[data["study"] == "ECOCOMPUTE_NVML"]
    a800 = eco["hardware"].str.contains("A800")
    assert (eco.loc[a800, ["baseline_n", "quant_n"]] == 5).all().all() and eco.loc[a800, "baseline_sd"].isna().all()
    assert (eco.loc[~a800, ["baseline_n", "quant_n"]] == 10).all().all()
    # memo: TinyLlama-1.1B FP16 1,659 ± 18 J/1k, NF4 2,098 ± 32 J/1k, n = 10
    row = _row(effects, "ECOCOMPUTE_NVML", "RTX 5090|TinyLlama-1.1B|bs 1|NF4", "gpu_energy_consumption")
    np.testing.assert_allclose(row["vi"], 32**2 / (10 * 2098**2) + 18**2 / (10 * 1659**2), rtol=1e-13)


# --------------------------------------------------------------------------
# orientation, dependence, confounding
# --------------------------------------------------------------------------


def test_effect_signs_follow_the_raw_direction(effects, data):
    hib = data["higher_is_better"].astype(bool).to_numpy()
    better = np.where(hib, data["quant_mean"] > data["baseline_mean"], data["quant_mean"] < data["baseline_mean"])
    same = (data["quant_mean"] == data["baseline_mean"]).to_numpy()
    assert ((effects["yi"] > 0).to_numpy() == better)[~same].all()
    assert (effects.loc[same, "yi"] == 0).all()
    assert (effects.loc[effects["property"] == "storage_size", "yi"] > 0).all()
    assert _row(effects, "LLAMACPP_PPL_L2_70B", "Llama 2 70B|Q2_K", "perplexity")["yi"] < 0
    eco_int8 = effects[(effects["study"] == "ECOCOMPUTE_NVML") & (effects["technique"] == "ptq-dynamic")]
    assert (eco_int8.loc[eco_int8["property"] == "throughput", "yi"] < 0).all()


def test_rows_in_a_baseline_group_share_the_baseline(data):
    spread = data.groupby(["study", "property", "baseline_group"]).agg(
        means=("baseline_mean", "nunique"), sds=("baseline_sd", lambda s: s.fillna(-1).nunique())
    )
    assert (spread["means"] == 1).all() and (spread["sds"] == 1).all()
    assert all(g.startswith(s + "|") for g, s in zip(data["baseline_group"], data["study"], strict=True))


def test_shared_baselines_share_a_group(data):
    groups = data.groupby("study")["baseline_group"].nunique().to_dict()
    assert groups["LLAMACPP_PPL_L3_8B"] == 1  # one FP16 for the whole scoreboard
    assert groups["LLAMACPP_PPL_L2_70B"] == 1
    assert groups["LLAMACPP_README_2023"] == 4  # 7B, 13B, and 7B timed at 4 and 8 threads
    inc = data[data["study"] == "INC_LLM_RECIPES"]
    assert groups["INC_LLM_RECIPES"] == inc["model"].nunique() == 17  # one FP32 per model
    assert groups["INC_SMOOTHQUANT"] == 37  # 39 rows: two models appear in both tables of the doc
    assert groups["ECOCOMPUTE_NVML"] == 11  # GPU x model x batch size
    assert groups["TFLITE_MODELOPT"] == 4
    sq = data[data["study"] == "INC_SMOOTHQUANT"]
    twice = sq[sq["model"] == "LLaMa-2-7b-hf"]
    assert len(twice) == 2 and twice["baseline_group"].nunique() == 1 and twice["quant_mean"].nunique() == 2


def test_confounded_rows_are_flagged_with_a_reason(data):
    conf = data[data["confounded"].astype(bool)]
    assert len(conf) == N_CONFOUNDED
    assert conf["notes"].str.contains("confounded: ").all()
    eco = data[data["study"] == "ECOCOMPUTE_NVML"]
    assert (eco["confounded"].astype(bool) == (eco["technique"] == "ptq-dynamic")).all()
    tfl = data[data["study"] == "TFLITE_MODELOPT"]
    assert (tfl["confounded"].astype(bool) == (tfl["property"] == "storage_size")).all()
    nncf = data[data["study"] == "NNCF_MODELZOO"]
    derived = nncf["x_baseline_derived"] == "true"
    assert derived.sum() == 16 and not nncf.loc[derived, "confounded"].astype(bool).any()


def test_load_drops_confounded_rows_by_default(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the name must resolve to the shipped dataset, not a path in the working folder
    default = mq.load("benchmarks")
    everything = mq.load("benchmarks", include_confounded=True)
    assert len(everything) == 332 and len(default) == 332 - N_CONFOUNDED
    assert not default.data["confounded"].astype(bool).any()
    assert len(mq.compute_effects(everything)) == 332


# --------------------------------------------------------------------------
# the builder
# --------------------------------------------------------------------------


def _builder():
    spec = importlib.util.spec_from_file_location("build_benchmarks", BUILDER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_builder_reproduces_the_shipped_file(tmp_path):
    mod = _builder()
    if not mod.DEFAULT_INPUT.exists():
        pytest.skip("the extraction table is not beside this checkout")
    out = tmp_path / "benchmarks.csv"
    mod.main(mod.DEFAULT_INPUT, out)
    assert out.read_bytes() == dataset_path("benchmarks").read_bytes()


def test_builder_rejects_figures_that_contradict_the_source(tmp_path):
    mod = _builder()
    header = ("source_id,source_ref,model,task,hardware,property,metric_name,higher_is_better,baseline_precision,"
              "quant_precision,bits,technique,baseline_value,quant_value,spread,n_runs,notes")
    good = ("INC_LLM_RECIPES,ref,EleutherAI/gpt-j-6b,lambada_openai,Xeon,accuracy,acc [percent],True,FP32,"
            "INT8 (W8A8),8,PTQ SmoothQuant (SQ INT8),68.31,68.0,,,reported ratio quant/FP32 = 0.9955")
    src = tmp_path / "extract.csv"
    src.write_text(header + "\n" + good + "\n", encoding="utf-8")
    assert len(mod.build(src)) == 1
    src.write_text(header + "\n" + good.replace("68.0,", "67.0,") + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="reported ratio"):
        mod.build(src)


def test_comparison_ids_are_readable(raw):
    assert raw["comparison"].str.contains(r"\|").all()
    assert not raw["comparison"].str.contains(r"^\s|\s$|\|\|", regex=True).any()
    # each comparison names the model it measures
    assert all(m in c for m, c in zip(raw["model"], raw["comparison"], strict=True))
