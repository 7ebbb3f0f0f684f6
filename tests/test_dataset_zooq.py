"""The shipped ``zooq`` dataset: validity, provenance pinned to vendored source files, dependence,
confounding, and hand-checked rows against the figures printed in each source file."""

from __future__ import annotations

import importlib.util
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import metaquant as mq
from metaquant.errors import DataError
from metaquant.evidence import schema
from metaquant.evidence.io import USER_COLUMN_PREFIX, dataset_path, dataset_registry, read

REPO = Path(__file__).resolve().parents[1]
BUILDER = REPO / "analyses" / "data" / "build_zooq.py"
SOURCES = REPO / "analyses" / "data" / "sources"
AIHUB = "quic/ai-hub-models"
AIHUB_COMMIT = "52c080d245d2d20c634459208ff2548ce10b3c9f"
NNCF = "openvinotoolkit/nncf"
NNCF_COMMIT = "c94fe502426b836aa2dfd8fce5f4fcecc9c1aae8"
TV = "pytorch/vision"
TV_COMMIT = "7af698794eded568735f9519593603c1ec889eba"
OV = "openvinotoolkit/openvino"
OV_COMMIT = "d45251740fe442dcf79203430189760035851f14"
#: the commit at which OpenVINO's LICENSE was read (the data file's commit holds no stored copy of it)
OV_LICENCE_COMMIT = "2964f1f4c81ab4ac0ab03a5d25ab32f93f7a4e90"
OV_DATA = "docs/sphinx_setup/_static/benchmarks_files/OV-2024.3-benchmark-data.csv"
ONNX = "onnx/models"
ONNX_COMMIT = "4c46cd00fbdb7cd30b6c1c17ab54f2e1f4f7b177"
FW = "SYSTRAN/faster-whisper"
#: README editions of the benchmark: faster-whisper@cbbe633, @cda834c, @cce6b53e, v1.1.0
FW_COMMITS = ("0b535499023c20f9ecd68b7f73cff9f39e0bf949", "8321fcb9224c241e95cc014829e42f90c48cccc8",
              "e0c3a9ed34f77db5c6e2e8432bb0d1ccb155e1af", "65882eee9f5cdbeeb2d877f1131d48cf241b327d")  # fmt: skip

#: rows per source table as shipped (docs/data-zooq.md)
SHIPPED = {"AIHUB_PERF": 4438, "AIHUB_NUMERICS": 173, "AIHUB_MODEL_SIZE": 82, "NNCF_PTQ": 102,
           "TORCHVISION_QUANTIZED": 42, "OPENVINO_BENCHMARK": 436, "ONNX_MODELS": 89,
           "FASTER_WHISPER": 20}  # fmt: skip
#: figures of exactly 0 (no log ratio), not written: AI Hub peak memory printed as 0 MB, numerics 0.0
ZERO_EXCLUDED = {"AIHUB_PERF": 74, "AIHUB_NUMERICS": 3}
#: AI Hub perf pairs whose primary compute unit changes with the precision (15 latency + 15 memory rows);
#: the BERT numerics row whose float ONNX figure (0.028) misses the PyTorch float figure (0.744); the two OpenVINO
#: efficientdet-d0 rows (Core Ultra 7 165H CPU-only, line 111, and NPU-only, line 115) that print the same figures;
#: onnx/models: EfficientNet-Lite4's two top-1 rows (the README names another fp32 reference, 77.70 %), and the
#: accuracy and size rows of LResNet100E-IR-int8 and BiDAF-int8 (opset 11, against float models of opset 8 and 9)
N_CONFOUNDED = 30 + 1 + 2 + 2 + 4
#: accuracy rows with an evaluation-set size: AI Hub classification accuracies, torchvision acc@1 and acc@5, the
#: top-1 / top-5 rows of the four onnx/models READMEs that state the ImageNet (ILSVRC2012) validation split
N_EVAL_ROWS = 86 + 28 + 14


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(dataset_path("zooq"), dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return read(dataset_path("zooq"), label="zooq")


def _row(raw: pd.DataFrame, study: str, comparison: str, prop: str) -> pd.Series:
    hit = raw[(raw["study"] == study) & (raw["comparison"] == comparison) & (raw["property"] == prop)]
    assert len(hit) == 1, (study, comparison, prop, len(hit))
    return hit.iloc[0]


# --------------------------------------------------------------------------
# the file
# --------------------------------------------------------------------------


def test_registered_with_licences():
    meta = dataset_registry()["zooq"]
    assert meta["file"] == "zooq.csv" and meta["builder"] == "analyses/data/build_zooq.py"
    assert meta["form"] == "measurements" and set(meta["licences"]) == {"BSD-3-Clause", "Apache-2.0", "MIT"}
    for repo, commit in ((AIHUB, AIHUB_COMMIT), (NNCF, NNCF_COMMIT), (TV, TV_COMMIT), (OV, OV_COMMIT),
                         (ONNX, ONNX_COMMIT), *((FW, c) for c in FW_COMMITS)):  # fmt: skip
        assert any(s.startswith(f"{repo}@{commit} ") for s in meta["sources"]), repo


def test_columns_are_documented(raw):
    unknown = [c for c in raw.columns if c not in schema.KNOWN_COLUMNS and not c.startswith(USER_COLUMN_PREFIX)]
    assert unknown == []
    assert {"n_eval", "baseline_group", "x_runtime", "x_compute_unit", "x_params", "x_task_family"} <= set(raw.columns)


def test_validates_and_every_row_has_an_effect(data):
    assert len(data) == sum(SHIPPED.values()) == 5382
    assert data.groupby("study").size().to_dict() == SHIPPED
    assert set(data["form"]) == {"measurements"}
    assert (data["baseline_mean"] > 0).all() and (data["quant_mean"] > 0).all()
    eff = mq.compute_effects(data)
    assert len(eff) == len(data) and np.isfinite(eff["yi"]).all()
    # no source prints a spread; the only known variances are the binomial ones of accuracies with n_eval
    has_n = data["n_eval"].notna().to_numpy()
    assert (eff["vi_known"].to_numpy() == has_n).all() and has_n.sum() == N_EVAL_ROWS
    assert eff.loc[has_n, "vi_note"].str.startswith("binomial variance from n_eval").all()
    assert data[["baseline_sd", "quant_sd", "baseline_n", "quant_n"]].isna().all().all()


def test_directions_come_from_the_registry(raw):
    for prop, hib in raw.groupby("property")["higher_is_better"].unique().items():
        assert list(hib) == [str(schema.PROPERTIES[prop].higher_is_better).lower()]


def test_load_drops_the_confounded_rows(raw):
    assert (raw["confounded"] == "true").sum() == N_CONFOUNDED
    kept = mq.load("zooq")
    assert len(kept) == len(raw) - N_CONFOUNDED and not kept.data["confounded"].any()


def test_builder_reproduces_the_shipped_file_from_the_vendored_sources(tmp_path):
    spec = importlib.util.spec_from_file_location("build_zooq", BUILDER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "zooq.csv"
    mod.main(out)
    assert out.read_bytes() == dataset_path("zooq").read_bytes()
    assert {k: v for k, v in mod.EXCLUDED.items() if v} == ZERO_EXCLUDED
    assert mod.SKIPPED[("AIHUB_PERF", "quantized profile without a float profile")] == 803
    assert mod.SKIPPED[("NNCF_PTQ", "metric_value null (no reference accuracy)")] == 10
    # OV-2024.3-benchmark-data.csv: 34 rows in tokens/sec (four LLM blocks, lines 472-512); 18 FPS rows with an
    # empty Throughput-INT8 and a float figure, 2 with INT8 only, 1 with neither (yolo_v8n, line 463)
    ov = {why: n for (study, why), n in mod.SKIPPED.items() if study == "OPENVINO_BENCHMARK"}
    assert ov == {"LLM row (tokens/sec), not ingested": 34, "throughput: no INT8 figure": 18,
                  "throughput: INT8 figure without an FP32 or FP16 figure": 2, "throughput: no figure": 1,
                  "inference_latency: INT8 figure without an FP32 or FP16 figure": 364}  # fmt: skip
    # onnx/models: the top-1 / top-5 error columns of MNIST (1) and ShuffleNet-v2 (2 x 2); the float rows printing a
    # figure that the quantized row leaves empty (ResNet50-qdq and MobileNet v2-1.0-qdq top-5; LResNet100E-IR's
    # CFP-FF, CFP-FP and AgeDB-30)
    onnx = {why: n for (study, why), n in mod.SKIPPED.items() if study == "ONNX_MODELS"}
    assert onnx == {"error-rate column (no registered property)": 5, "float figure without a quantized figure": 5}


# --------------------------------------------------------------------------
# provenance
# --------------------------------------------------------------------------


def test_every_row_is_pinned_to_a_vendored_file_with_its_licence(raw):
    assert (raw["source"] == raw["x_source_repo"] + ":" + raw["x_source_path"] + "@" + raw["x_source_commit"]).all()
    assert raw["x_source_commit"].str.fullmatch(r"[0-9a-f]{40}").all()
    assert (raw["provenance"] != "").all()
    for (repo, commit, path), _ in raw.groupby(["x_source_repo", "x_source_commit", "x_source_path"]):
        assert (SOURCES / repo.replace("/", "+") / commit / path).is_file(), path
    # each repository's licence is vendored beside its files, at the commit it was read at
    for repo, commit in ((AIHUB, AIHUB_COMMIT), (NNCF, NNCF_COMMIT), (TV, TV_COMMIT), (OV, OV_LICENCE_COMMIT),
                         (ONNX, ONNX_COMMIT), *((FW, c) for c in FW_COMMITS)):  # fmt: skip
        assert (SOURCES / repo.replace("/", "+") / commit / "LICENSE").is_file(), repo
    assert (SOURCES / "pytorch+vision" / TV_COMMIT / "LICENSE").read_text().startswith("BSD 3-Clause License")
    assert "Apache License" in (SOURCES / "openvinotoolkit+openvino" / OV_LICENCE_COMMIT / "LICENSE").read_text()
    lic = raw.groupby("x_source_repo")["x_licence"].unique().map(list).to_dict()
    assert "Apache License" in (SOURCES / "onnx+models" / ONNX_COMMIT / "LICENSE").read_text()
    for c in FW_COMMITS:
        assert (SOURCES / "SYSTRAN+faster-whisper" / c / "LICENSE").read_text().startswith("MIT License")
    assert lic == {AIHUB: ["BSD-3-Clause"], NNCF: ["Apache-2.0"], TV: ["BSD-3-Clause"], OV: ["Apache-2.0"],
                   ONNX: ["Apache-2.0"], FW: ["MIT"]}  # fmt: skip
    assert set(raw["x_source_commit"]) == {AIHUB_COMMIT, NNCF_COMMIT, TV_COMMIT, OV_COMMIT, ONNX_COMMIT, *FW_COMMITS}


# --------------------------------------------------------------------------
# dependence and coding
# --------------------------------------------------------------------------


def test_a_baseline_group_shares_one_baseline(data):
    g = data.groupby(["baseline_group", "property"])
    assert (g["baseline_mean"].nunique() == 1).all() and (g["study"].nunique() == 1).all()
    # one float profile of MobileNet-v2 on the Galaxy S25 (QNN) is the baseline of w8a8, w8a16 and w8a16_mixed_int16
    grp = data[(data["baseline_group"] == "AIHUB_PERF|mobilenet_v2|MobileNet-v2|Samsung Galaxy S25|qnn_dlc|float")]
    assert sorted(grp.loc[grp["property"] == "inference_latency", "quant_precision"]) == [
        "w8a16", "w8a16_mixed_int16", "w8a8"]  # fmt: skip
    # NNCF: efficientnet_b0 and efficientnet_b0_BC print the same FP32 figure 0.77698: one group
    eff = data[(data["study"] == "NNCF_PTQ") & (data["x_model_id"] == "efficientnet_b0")]
    assert eff["baseline_group"].nunique() == 1 and len(eff) == 4 + 2


def test_comparison_ids_are_unique_within_study_task_and_property(raw):
    assert not raw.duplicated(["study", "comparison", "task", "property", "metric"]).any()


def test_bits_technique_and_n_eval(data):
    ov = data["study"] == "OPENVINO_BENCHMARK"
    # OpenVINO names the precision INT8 and does not say whether activations are quantized: act_bits unknown
    assert set(data.loc[ov, "quant_precision"]) == {"int8"} and (data.loc[ov, "bits"] == 8).all()
    assert data.loc[ov, "act_bits"].isna().all() and data.loc[ov, "technique"].isna().all()
    # onnx/models: act_bits 8 only where the README's quantization instructions say static (arcface) or dynamic
    # (BiDAF) post-training quantization; the other READMEs link a 'ptq' folder and leave it unstated
    onnx = data["study"] == "ONNX_MODELS"
    assert set(data.loc[onnx, "quant_precision"]) == {"int8", "int8-qdq"} and (data.loc[onnx, "bits"] == 8).all()
    stated = onnx & data["technique"].notna()
    assert dict(data.loc[stated].groupby("technique")["x_model_id"].unique().map(list)) == {
        "ptq-dynamic": ["bidirectional_attention_flow"], "ptq-static": ["arcface"]}  # fmt: skip
    assert (data.loc[stated, "act_bits"] == 8).all() and data.loc[onnx & ~stated, "act_bits"].isna().all()
    # faster-whisper names CTranslate2's int8 compute type; whether activations are quantized is not stated
    fw = data["study"] == "FASTER_WHISPER"
    assert set(data.loc[fw, "quant_precision"]) == {"int8"} and data.loc[fw, "act_bits"].isna().all()
    assert set(data.loc[fw, "baseline_precision"]) == {"fp16", "fp32"} and data.loc[fw, "technique"].isna().all()
    assert data.loc[~ov & ~onnx & ~fw, "act_bits"].notna().all()
    data = data[~ov & ~onnx & ~fw]
    assert set(zip(data["quant_precision"], data["bits"], data["act_bits"], strict=True)) == {
        ("w8a8", 8, 8), ("w8a16", 8, 16), ("w16a16", 16, 16), ("w8a16_mixed_int16", 8, 16),
        ("w8a16_mixed_fp16", 8, 16), ("w8a8_mixed_int16", 8, 8), ("int8", 8, 8),
    }  # fmt: skip
    mixed = data["quant_precision"].str.contains("mixed")
    tv = data["study"] == "TORCHVISION_QUANTIZED"
    assert set(data.loc[mixed, "technique"]) == {"mixed"} and set(data.loc[~mixed & ~tv, "technique"]) == {"ptq-static"}
    # torchvision: '_docs' of the MobileNet entries say Quantization Aware Training, the rest Post Training Quantization
    assert set(data.loc[tv & (data["technique"] == "qat"), "x_model_id"]) == {"mobilenet_v2", "mobilenet_v3_large"}
    assert set(data.loc[tv, "technique"]) == {"qat", "ptq-static"}


def test_n_eval_rows(data):
    # n_eval only on classification accuracies: AI Hub's 1000 or 100 ImageNet samples, the 50,000 ImageNet-1K
    # validation images of torchvision's acc@1 / acc@5 and of the onnx/models READMEs that state that split
    has_n = data["n_eval"].notna()
    metrics = ["Classification Accuracy", "acc@1", "acc@5", "top-1 accuracy", "top-5 accuracy"]
    assert set(data.loc[has_n, "metric"]) == set(metrics)
    assert set(data.loc[has_n, "n_eval"]) == {1000, 100, 50000}
    onnx_top = (data["study"] == "ONNX_MODELS") & data["metric"].isin(metrics)
    assert set(data.loc[onnx_top & has_n, "x_model_id"]) == {"mobilenet", "resnet", "squeezenet", "vgg"}
    # NNCF's top-1 accuracies state no evaluation-set size
    expected = data["metric"].isin(metrics[:3]) | (
        onnx_top & data["x_model_id"].isin(["mobilenet", "resnet", "squeezenet", "vgg"])
    )
    assert (has_n == expected).all() and has_n.sum() == N_EVAL_ROWS


def test_n_eval_is_validated_as_a_count(tmp_path):
    f = tmp_path / "runs.csv"
    f.write_text("study,property,baseline_mean,quant_mean,n_eval\nA,accuracy,70,69,1000\nB,accuracy,70,69,0.5\n")
    with pytest.raises(DataError, match=r"row 2 \(line 3\), column 'n_eval': evaluation sample count 0.5"):
        mq.load(f)


# --------------------------------------------------------------------------
# hand-checked rows: figures read from the vendored files (path under the pinned commit, line numbers)
# --------------------------------------------------------------------------

_MN = "mobilenet_v2|MobileNet-v2"
#: (comparison, property, float figure, quantized figure): qai_hub_models/models/<model>/perf.yaml
PERF_CHECKS = [
    # mobilenet_v2/perf.yaml: float QCS8550 (Proxy) qnn_dlc lines 189 (0.897 ms) / 192 (max 2 MB); w8a16 lines 534/537
    (f"{_MN}|w8a16|QCS8550 (Proxy)|qnn_dlc", "inference_latency", "0.897", "0.799"),
    (f"{_MN}|w8a16|QCS8550 (Proxy)|qnn_dlc", "peak_memory", "2", "2"),
    # float Samsung Galaxy S25 qnn_dlc lines 357 (0.444) / 360 (31); w8a16 lines 604 (0.375) / 607 (28)
    (f"{_MN}|w8a16|Samsung Galaxy S25|qnn_dlc", "inference_latency", "0.444", "0.375"),
    (f"{_MN}|w8a16|Samsung Galaxy S25|qnn_dlc", "peak_memory", "31", "28"),
    # w8a16_mixed_int16 lines 711 (0.863) / 714 (12) and 767 (0.41) / 770 (29)
    (f"{_MN}|w8a16_mixed_int16|QCS8550 (Proxy)|qnn_dlc", "inference_latency", "0.897", "0.863"),
    (f"{_MN}|w8a16_mixed_int16|QCS8550 (Proxy)|qnn_dlc", "peak_memory", "2", "12"),
    (f"{_MN}|w8a16_mixed_int16|Samsung Galaxy S25|qnn_dlc", "inference_latency", "0.444", "0.41"),
    (f"{_MN}|w8a16_mixed_int16|Samsung Galaxy S25|qnn_dlc", "peak_memory", "31", "29"),
    # float QCS8550 tflite lines 175 (0.898) / 178 (2); w8a8 tflite lines 977 (0.408) / 980 (1)
    (f"{_MN}|w8a8|QCS8550 (Proxy)|tflite", "inference_latency", "0.898", "0.408"),
    (f"{_MN}|w8a8|QCS8550 (Proxy)|tflite", "peak_memory", "2", "1"),
    # w8a8 QCS8550 qnn_dlc lines 991 (0.46) / 994 (1)
    (f"{_MN}|w8a8|QCS8550 (Proxy)|qnn_dlc", "inference_latency", "0.897", "0.46"),
    (f"{_MN}|w8a8|QCS8550 (Proxy)|qnn_dlc", "peak_memory", "2", "1"),
    # float S25 tflite lines 343 (0.451) / 346 (40); w8a8 lines 1117 (0.214) / 1120 (28)
    (f"{_MN}|w8a8|Samsung Galaxy S25|tflite", "inference_latency", "0.451", "0.214"),
    (f"{_MN}|w8a8|Samsung Galaxy S25|tflite", "peak_memory", "40", "28"),
    # w8a8 S25 qnn_dlc lines 1131 (0.223) / 1134 (32)
    (f"{_MN}|w8a8|Samsung Galaxy S25|qnn_dlc", "inference_latency", "0.444", "0.223"),
    (f"{_MN}|w8a8|Samsung Galaxy S25|qnn_dlc", "peak_memory", "31", "32"),
    # zipformer/perf.yaml: float ZipformerEncoder Dragonwing IQ-9075 EVK qnn_context_binary lines 142 (10.155) /
    # 145 (7); w16a16 lines 1082 (17.93) / 1085 (3)
    ("zipformer|ZipformerEncoder|w16a16|Dragonwing IQ-9075 EVK|qnn_context_binary", "inference_latency", "10.155",
     "17.93"),
    ("zipformer|ZipformerEncoder|w16a16|Dragonwing IQ-9075 EVK|qnn_context_binary", "peak_memory", "7", "3"),
    # mediapipe_hand_gesture/perf.yaml, Samsung Galaxy S24 tflite: PalmDetector float 301 (0.536) / 304 (58),
    # w8a8 1485 (0.226) / 1488 (45); HandLandmarkDetector 696 (0.353) / 699 (49), 1836 (0.154) / 1839 (43);
    # CannedGestureClassifier 1091 (0.067) / 1094 (25), 2191 (0.073) / 2194 (25)
    ("mediapipe_hand_gesture|PalmDetector|w8a8|Samsung Galaxy S24|tflite", "inference_latency", "0.536", "0.226"),
    ("mediapipe_hand_gesture|PalmDetector|w8a8|Samsung Galaxy S24|tflite", "peak_memory", "58", "45"),
    ("mediapipe_hand_gesture|HandLandmarkDetector|w8a8|Samsung Galaxy S24|tflite", "inference_latency", "0.353",
     "0.154"),
    ("mediapipe_hand_gesture|HandLandmarkDetector|w8a8|Samsung Galaxy S24|tflite", "peak_memory", "49", "43"),
    ("mediapipe_hand_gesture|CannedGestureClassifier|w8a8|Samsung Galaxy S24|tflite", "inference_latency", "0.067",
     "0.073"),
    ("mediapipe_hand_gesture|CannedGestureClassifier|w8a8|Samsung Galaxy S24|tflite", "peak_memory", "25", "25"),
    # detectron2_detection/perf.yaml, Detectron2ROIHead SA8295P ADP tflite: float 349 (1221.27) / 352 (1587) on CPU
    # (line 353), w8a8 1808 (374.253) / 1811 (735) on NPU (line 1812): confounded
    ("detectron2_detection|Detectron2ROIHead|w8a8|SA8295P ADP|tflite", "inference_latency", "1221.27", "374.253"),
    ("detectron2_detection|Detectron2ROIHead|w8a8|SA8295P ADP|tflite", "peak_memory", "1587", "735"),
]  # fmt: skip


@pytest.mark.parametrize(("comparison", "prop", "base", "quant"), PERF_CHECKS)
def test_aihub_perf(raw, comparison, prop, base, quant):
    r = _row(raw, "AIHUB_PERF", comparison, prop)
    assert (r["baseline_mean"], r["quant_mean"]) == (base, quant)
    assert r["unit"] == {"inference_latency": "ms", "peak_memory": "MB"}[prop]
    assert r["x_source_path"] == f"qai_hub_models/models/{comparison.split('|')[0]}/perf.yaml"
    assert r["confounded"] == ("true" if comparison.startswith("detectron2") else "false")


def test_aihub_perf_coding(raw):
    r = _row(raw, "AIHUB_PERF", f"{_MN}|w8a8|Samsung Galaxy S25|tflite", "peak_memory")
    # estimated_peak_memory_range_mb min: float line 345 (0), w8a8 line 1119 (0)
    assert (r["x_baseline_memory_min"], r["x_quant_memory_min"]) == ("0", "0")
    assert r["x_runtime"] == "TensorFlow Lite" and r["x_compute_unit"] == "NPU" and r["x_params"] == "3490000"
    assert r["x_task_family"] == "Image Classification"  # mobilenet_v2/info.yaml line 7
    r = _row(raw, "AIHUB_PERF", "detectron2_detection|Detectron2ROIHead|w8a8|SA8295P ADP|tflite", "inference_latency")
    assert (r["x_baseline_compute_unit"], r["x_compute_unit"]) == ("CPU", "NPU")
    # mediapipe_hand_gesture/info.yaml line 29: Number of parameters (PalmDetector): 1.76M
    assert _row(raw, "AIHUB_PERF", "mediapipe_hand_gesture|PalmDetector|w8a8|Samsung Galaxy S24|tflite",
                "peak_memory")["x_params"] == "1760000"  # fmt: skip
    # albert_base_v2_hf/perf.yaml, Snapdragon X Elite CRD qnn_dlc: latency 22.358 (421) vs 13.997 (570);
    # peak memory printed max 0 on both arms (424, 573): no ratio, not written
    c = "albert_base_v2_hf|Albert-Base-V2-Hf|w8a16|Snapdragon X Elite CRD|qnn_dlc"
    r = _row(raw, "AIHUB_PERF", c, "inference_latency")
    assert (r["baseline_mean"], r["quant_mean"]) == ("22.358", "13.997")
    assert raw[(raw["comparison"] == c) & (raw["property"] == "peak_memory")].empty


#: (model id, precision, device, runtime, float, quantized, n): qai_hub_models/models/<model>/numerics.yaml
NUMERICS_CHECKS = [
    # mobilenet_v2/numerics.yaml, Classification Accuracy (%), num_partial_samples 1000 (line 12), Galaxy S25:
    # float tflite 72.3 (21), qnn_dlc 72.4 (23); w8a16_mixed_int16 qnn_dlc 72.2 (18); w8a16 qnn_dlc 70.3 (28);
    # w8a8 tflite 70.6 (31), qnn_dlc 70.7 (33)
    ("mobilenet_v2", "w8a16_mixed_int16", "qnn_dlc", "accuracy", "72.4", "72.2", "1000"),
    ("mobilenet_v2", "w8a16", "qnn_dlc", "accuracy", "72.4", "70.3", "1000"),
    ("mobilenet_v2", "w8a8", "tflite", "accuracy", "72.3", "70.6", "1000"),
    ("mobilenet_v2", "w8a8", "qnn_dlc", "accuracy", "72.4", "70.7", "1000"),
    # yolov7/numerics.yaml, mAP@0.5:0.95, 300 samples: w8a8 tflite 35.2 (18), qnn_dlc 35.0 (20), onnx 35.0 (22);
    # float 39.6 (25, 27, 29); w8a16 qnn_dlc 39.3 (32), onnx 39.3 (34)
    ("yolov7", "w8a8", "tflite", "map_50_95", "39.6", "35.2", ""),
    ("yolov7", "w8a8", "qnn_dlc", "map_50_95", "39.6", "35", ""),
    ("yolov7", "w8a8", "onnx", "map_50_95", "39.6", "35", ""),
    ("yolov7", "w8a16", "qnn_dlc", "map_50_95", "39.6", "39.3", ""),
    ("yolov7", "w8a16", "onnx", "map_50_95", "39.6", "39.3", ""),
    # deeplabv3_plus_mobilenet/numerics.yaml, mIOU, 400 samples: w8a8 tflite 68.4 (18), qnn_dlc 68.3 (20);
    # w8a16 qnn_dlc 68.4 (23); float 69.4 (26, 28)
    ("deeplabv3_plus_mobilenet", "w8a8", "tflite", "miou", "69.4", "68.4", ""),
    ("deeplabv3_plus_mobilenet", "w8a8", "qnn_dlc", "miou", "69.4", "68.3", ""),
    ("deeplabv3_plus_mobilenet", "w8a16", "qnn_dlc", "miou", "69.4", "68.4", ""),
    # resnet50/numerics.yaml, Classification Accuracy, 1000 samples: w8a8 75.9 (18), 75.9 (20), 75.8 (22);
    # float 75.7 (25, 27, 29)
    ("resnet50", "w8a8", "tflite", "accuracy", "75.7", "75.9", "1000"),
    ("resnet50", "w8a8", "qnn_dlc", "accuracy", "75.7", "75.9", "1000"),
    ("resnet50", "w8a8", "onnx", "accuracy", "75.7", "75.8", "1000"),
    # hrnet_pose/numerics.yaml, Mean Average Precision (unit mAP), 1000 samples: w8a8 tflite 80.4 (18),
    # qnn_dlc 80.6 (20); w8a16 qnn_dlc 80.8 (23), onnx 80.8 (25); float tflite 81.3 (28), qnn_dlc 81.2 (30),
    # onnx 81.2 (32)
    ("hrnet_pose", "w8a8", "tflite", "map", "81.3", "80.4", ""),
    ("hrnet_pose", "w8a8", "qnn_dlc", "map", "81.2", "80.6", ""),
    ("hrnet_pose", "w8a16", "qnn_dlc", "map", "81.2", "80.8", ""),
    ("hrnet_pose", "w8a16", "onnx", "map", "81.2", "80.8", ""),
    # bert_base_uncased_hf/numerics.yaml, Top-1 Masked LM Accuracy (unit '%', figures fractions), 250 samples:
    # w8a16 qnn_dlc 0.556 (18), onnx 0.744 (20); float qnn_dlc 0.744 (25), onnx 0.028 (27); PyTorch 0.744 (13)
    ("bert_base_uncased_hf", "w8a16", "qnn_dlc", "accuracy", "0.744", "0.556", ""),
    ("bert_base_uncased_hf", "w8a16", "onnx", "accuracy", "0.028", "0.744", ""),
]  # fmt: skip


@pytest.mark.parametrize(("model", "prec", "rt", "prop", "base", "quant", "n_eval"), NUMERICS_CHECKS)
def test_aihub_numerics(raw, model, prec, rt, prop, base, quant, n_eval):
    r = _row(raw, "AIHUB_NUMERICS", f"{model}|{prec}|Samsung Galaxy S25|{rt}", prop)
    assert (r["baseline_mean"], r["quant_mean"], r["n_eval"]) == (base, quant, n_eval)
    assert r["x_source_path"] == f"qai_hub_models/models/{model}/numerics.yaml"
    assert r["confounded"] == ("true" if (model, rt) == ("bert_base_uncased_hf", "onnx") else "false")


#: (comparison, float, quantized, unit): qai_hub_models/models/<model>/info.yaml technical_details
SIZE_CHECKS = [
    ("mobilenet_v2|MobileNet-v2|w8a16", "13.3", "4.39", "MB"),  # lines 33, 34
    ("convnext_base|ConvNext-Base|w8a16", "338", "88.7", "MB"),  # lines 31, 32
    ("convnext_tiny|ConvNext-Tiny|w8a16", "109", "28.9", "MB"),  # lines 31, 32
    ("ddcolor|DDColor|w8a8", "215", "54.8", "MB"),  # lines 24, 25
    ("ddrnet23_slim|DDRNet23-Slim|w8a8", "21.7", "6.11", "MB"),  # lines 29, 30
    ("deeplabv3_plus_mobilenet|DeepLabV3-Plus-MobileNet|w8a16", "22.2", "6.67", "MB"),  # lines 27, 28
    ("densenet121|DenseNet-121|w8a16", "30.5", "8.72", "MB"),  # lines 32, 33
    ("densenet121|DenseNet-121|w8a8", "30.5", "8.3", "MB"),  # lines 32, 34 ('8.30 MB')
    ("efficientformer|EfficientFormer|w8a16", "46.9", "12.2", "MB"),  # lines 33, 34
    ("efficientnet_b0|EfficientNet-B0|w8a16", "20.1", "6.99", "MB"),  # lines 32, 33
    ("efficientnet_b4|EfficientNet-B4|w8a16", "73.6", "24", "MB"),  # lines 33, 34 ('24.0 MB')
    ("efficientnet_v2_s|EfficientNet-V2-s|w8a16", "81.7", "27.2", "MB"),  # lines 34, 35
    ("eyegaze|EyeGaze|w8a16", "9.6", "3.3", "MB"),  # lines 28 ('9.6MB'), 29
    ("face_attrib_net|Facial-Attribute-Detection|w8a8", "46.3", "12.3", "MB"),  # lines 25, 26
    ("face_det_lite|Lightweight-Face-Detection|w8a16", "3.37", "1.09", "MB"),  # lines 27, 29
    ("facemap_3dmm|Facial-Landmark-Detection|w8a8", "20.7", "5.27", "MB"),  # lines 26, 27
    ("yolov7|Yolo-v7|w8a8", "23.8", "6.23", "MB"),  # lines 31, 32
    ("yolov7|Yolo-v7|w8a16", "23.8", "6.66", "MB"),  # lines 31, 33
    ("resnet50|ResNet50|w8a8", "97.4", "25.1", "MB"),  # lines 32, 33
    ("mediapipe_hand_gesture|PalmDetector|w8a8", "6.75", "2.05", "MB"),  # lines 35, 30
    ("mediapipe_hand_gesture|HandLandmarkDetector|w8a8", "10.4", "3.12", "MB"),  # lines 36, 32
    ("mediapipe_hand_gesture|CannedGestureClassifier|w8a8", "577", "180", "KB"),  # lines 37, 34
]


@pytest.mark.parametrize(("comparison", "base", "quant", "unit"), SIZE_CHECKS)
def test_aihub_model_size(raw, comparison, base, quant, unit):
    r = _row(raw, "AIHUB_MODEL_SIZE", comparison, "storage_size")
    assert (r["baseline_mean"], r["quant_mean"], r["unit"]) == (base, quant, unit)
    assert r["x_source_path"] == f"qai_hub_models/models/{comparison.split('|')[0]}/info.yaml"


def test_aihub_model_size_units_never_mixed(raw):
    # face_det_lite/info.yaml line 28: 'Model size (w8a8): 965 KB' against 3.37 MB (line 27): not compared
    assert raw[raw["comparison"] == "face_det_lite|Lightweight-Face-Detection|w8a8"].empty


#: (reported name, backend, FP32, INT8) as printed in tests/post_training/data/ptq_reference_data.yaml
NNCF_CHECKS = [
    # torchvision/resnet18: FP32 line 30 (0.6978); OV 32, ONNX 34, TORCH 36, CUDA_TORCH 38, FX_TORCH 40,
    # CUDA_FX_TORCH 42, OV_QUANTIZER_NNCF 44, OV_QUANTIZER_AO 46
    ("torchvision/resnet18", "OV", "69.78", "69.48"),
    ("torchvision/resnet18", "ONNX", "69.78", "69.48"),
    ("torchvision/resnet18", "TORCH", "69.78", "69.152"),
    ("torchvision/resnet18", "CUDA_TORCH", "69.78", "69.152"),
    ("torchvision/resnet18", "FX_TORCH", "69.78", "69.46"),
    ("torchvision/resnet18", "CUDA_FX_TORCH", "69.78", "69.46"),
    ("torchvision/resnet18", "OV_QUANTIZER_NNCF", "69.78", "69.46"),
    ("torchvision/resnet18", "OV_QUANTIZER_AO", "69.78", "69.59"),
    # torchvision/vit_b_16: FP32 line 62 (0.8107); OV 64 (0.80948), FX_TORCH 66, CUDA_FX_TORCH 68,
    # OV_QUANTIZER_NNCF 70 (0.80922), OV_QUANTIZER_AO 72 (0.2475)
    ("torchvision/vit_b_16", "OV", "81.07", "80.948"),
    ("torchvision/vit_b_16", "FX_TORCH", "81.07", "80.922"),
    ("torchvision/vit_b_16", "CUDA_FX_TORCH", "81.07", "80.922"),
    ("torchvision/vit_b_16", "OV_QUANTIZER_NNCF", "81.07", "80.922"),
    ("torchvision/vit_b_16", "OV_QUANTIZER_AO", "81.07", "24.75"),
    # timm/dla34: FP32 line 118 (0.74628); CUDA_TORCH 116, ONNX 120, OV 122, TORCH 124
    ("timm/dla34", "CUDA_TORCH", "74.628", "74.272"),
    ("timm/dla34", "ONNX", "74.628", "74.564"),
    ("timm/dla34", "OV", "74.628", "74.532"),
    ("timm/dla34", "TORCH", "74.628", "74.256"),
    # timm/mobilenetv3_small_050: FP32 line 200 (0.57906); CUDA_TORCH 198, ONNX 202, OV 204, TORCH 206
    ("timm/mobilenetv3_small_050", "CUDA_TORCH", "57.906", "42.88"),
    ("timm/mobilenetv3_small_050", "ONNX", "57.906", "42.22"),
    ("timm/mobilenetv3_small_050", "OV", "57.906", "42.16"),
    ("timm/mobilenetv3_small_050", "TORCH", "57.906", "42.88"),
    # timm/efficientnet_b0_BC: FP32 line 136 (0.77698); ONNX 138 (0.77132), OV 140 (0.77166)
    ("timm/efficientnet_b0_BC", "ONNX", "77.698", "77.132"),
    ("timm/efficientnet_b0_BC", "OV", "77.698", "77.166"),
    # timm/swin_base_patch4_window7_224: FP32 line 234 (0.85274), OV 236 (0.83566); _no_sq: FP32 238,
    # CUDA_TORCH 240 (0.85142), ONNX 242 (0.85212), TORCH 244 (0.85178)
    ("timm/swin_base_patch4_window7_224", "OV", "85.274", "83.566"),
    ("timm/swin_base_patch4_window7_224_no_sq", "CUDA_TORCH", "85.274", "85.142"),
    ("timm/swin_base_patch4_window7_224_no_sq", "ONNX", "85.274", "85.212"),
    ("timm/swin_base_patch4_window7_224_no_sq", "TORCH", "85.274", "85.178"),
]


@pytest.mark.parametrize(("name", "backend", "base", "quant"), NNCF_CHECKS)
def test_nncf_ptq(raw, name, backend, base, quant):
    r = _row(raw, "NNCF_PTQ", f"{name}|INT8|{backend}", "accuracy")
    assert (r["baseline_mean"], r["quant_mean"], r["x_original_unit"]) == (base, quant, "fraction")
    assert (r["bits"], r["act_bits"], r["n_eval"]) == ("8", "8", "")


def test_nncf_settings_and_nulls(raw):
    # model_scope.py line 88-92: torchvision/resnet18 with "subset_size": 2
    r = _row(raw, "NNCF_PTQ", "torchvision/resnet18|INT8|OV", "accuracy")
    assert r["x_calibration"] == "subset_size 2" and r["model"] == "torchvision/resnet18"
    # hf/bert-base-uncased prints metric_value: null for every backend (lines 2-12): no row
    assert not raw["comparison"].str.startswith("hf/").any()
    # swin with and without SmoothQuant print the same FP32 figure (lines 234, 238): one baseline group
    swin = raw[(raw["study"] == "NNCF_PTQ") & (raw["x_model_id"] == "swin_base_patch4_window7_224")]
    assert swin["baseline_group"].nunique() == 1 and len(swin) == 4


#: (model id, weights member, metric, float, quantized) as printed in the vendored torchvision files at TV_COMMIT:
#: the quantized entry in torchvision/models/quantization/<file>.py, the float entry it names as 'unquantized' in
#: torchvision/models/<file>.py (line numbers: quantized / float)
TV_CHECKS = [
    # googlenet.py: GoogLeNet_QuantizedWeights.IMAGENET1K_FBGEMM_V1 lines 122, 123, 127; GoogLeNet_Weights V1 289,
    # 290, 294
    ("googlenet", "IMAGENET1K_FBGEMM_V1", "acc@1", "69.778", "69.826"),
    ("googlenet", "IMAGENET1K_FBGEMM_V1", "acc@5", "89.530", "89.404"),
    ("googlenet", "IMAGENET1K_FBGEMM_V1", "_file_size", "49.731", "12.618"),
    # inception.py: lines 182, 183, 187; Inception_V3_Weights V1 421, 422, 426
    ("inception_v3", "IMAGENET1K_FBGEMM_V1", "acc@1", "77.294", "77.176"),
    ("inception_v3", "IMAGENET1K_FBGEMM_V1", "acc@5", "93.450", "93.354"),
    ("inception_v3", "IMAGENET1K_FBGEMM_V1", "_file_size", "103.903", "23.146"),
    # mobilenetv2.py (QAT, qnnpack): lines 79, 80, 84; MobileNet_V2_Weights V1 193, 194, 198
    ("mobilenet_v2", "IMAGENET1K_QNNPACK_V1", "acc@1", "71.878", "71.658"),
    ("mobilenet_v2", "IMAGENET1K_QNNPACK_V1", "acc@5", "90.286", "90.150"),
    ("mobilenet_v2", "IMAGENET1K_QNNPACK_V1", "_file_size", "13.555", "3.423"),
    # mobilenetv3.py (QAT, qnnpack): lines 174, 175, 179; MobileNet_V3_Large_Weights V1 306, 307, 311
    ("mobilenet_v3_large", "IMAGENET1K_QNNPACK_V1", "acc@1", "74.042", "73.004"),
    ("mobilenet_v3_large", "IMAGENET1K_QNNPACK_V1", "acc@5", "91.340", "90.858"),
    ("mobilenet_v3_large", "IMAGENET1K_QNNPACK_V1", "_file_size", "21.114", "21.554"),
    # resnet.py: ResNet18 lines 174, 175, 179 vs 322, 323, 327
    ("resnet18", "IMAGENET1K_FBGEMM_V1", "acc@1", "69.758", "69.494"),
    ("resnet18", "IMAGENET1K_FBGEMM_V1", "acc@5", "89.078", "88.882"),
    ("resnet18", "IMAGENET1K_FBGEMM_V1", "_file_size", "44.661", "11.238"),
    # ResNet50 V1 lines 195, 196, 200 vs ResNet50_Weights.IMAGENET1K_V1 366, 367, 371
    ("resnet50", "IMAGENET1K_FBGEMM_V1", "acc@1", "76.130", "75.920"),
    ("resnet50", "IMAGENET1K_FBGEMM_V1", "acc@5", "92.862", "92.814"),
    ("resnet50", "IMAGENET1K_FBGEMM_V1", "_file_size", "97.781", "24.759"),
    # ResNet50 V2 lines 212, 213, 217 vs ResNet50_Weights.IMAGENET1K_V2 384, 385, 389
    ("resnet50", "IMAGENET1K_FBGEMM_V2", "acc@1", "80.858", "80.282"),
    ("resnet50", "IMAGENET1K_FBGEMM_V2", "acc@5", "95.434", "94.976"),
    ("resnet50", "IMAGENET1K_FBGEMM_V2", "_file_size", "97.79", "24.953"),
    # ResNeXt101_32X8D V1 lines 233, 234, 238 vs 538, 539, 543; V2 250, 251, 255 vs 556, 557, 561
    ("resnext101_32x8d", "IMAGENET1K_FBGEMM_V1", "acc@1", "79.312", "78.986"),
    ("resnext101_32x8d", "IMAGENET1K_FBGEMM_V1", "acc@5", "94.526", "94.480"),
    ("resnext101_32x8d", "IMAGENET1K_FBGEMM_V1", "_file_size", "339.586", "86.034"),
    ("resnext101_32x8d", "IMAGENET1K_FBGEMM_V2", "acc@1", "82.834", "82.574"),
    ("resnext101_32x8d", "IMAGENET1K_FBGEMM_V2", "acc@5", "96.228", "96.132"),
    ("resnext101_32x8d", "IMAGENET1K_FBGEMM_V2", "_file_size", "339.673", "86.645"),
    # ResNeXt101_64X4D lines 272, 273, 277 vs 581, 582, 586
    ("resnext101_64x4d", "IMAGENET1K_FBGEMM_V1", "acc@1", "83.246", "82.898"),
    ("resnext101_64x4d", "IMAGENET1K_FBGEMM_V1", "acc@5", "96.454", "96.326"),
    ("resnext101_64x4d", "IMAGENET1K_FBGEMM_V1", "_file_size", "319.318", "81.556"),
    # shufflenetv2.py: x0.5 lines 138, 139, 143 vs 203, 204, 208; x1.0 159, 160, 164 vs 225, 226, 230;
    # x1.5 181, 182, 186 vs 247, 248, 252; x2.0 203, 204, 208 vs 272, 273, 277
    ("shufflenet_v2_x0_5", "IMAGENET1K_FBGEMM_V1", "acc@1", "60.552", "57.972"),
    ("shufflenet_v2_x0_5", "IMAGENET1K_FBGEMM_V1", "acc@5", "81.746", "79.780"),
    ("shufflenet_v2_x0_5", "IMAGENET1K_FBGEMM_V1", "_file_size", "5.282", "1.501"),
    ("shufflenet_v2_x1_0", "IMAGENET1K_FBGEMM_V1", "acc@1", "69.362", "68.360"),
    ("shufflenet_v2_x1_0", "IMAGENET1K_FBGEMM_V1", "acc@5", "88.316", "87.582"),
    ("shufflenet_v2_x1_0", "IMAGENET1K_FBGEMM_V1", "_file_size", "8.791", "2.334"),
    ("shufflenet_v2_x1_5", "IMAGENET1K_FBGEMM_V1", "acc@1", "72.996", "72.052"),
    ("shufflenet_v2_x1_5", "IMAGENET1K_FBGEMM_V1", "acc@5", "91.086", "90.700"),
    ("shufflenet_v2_x1_5", "IMAGENET1K_FBGEMM_V1", "_file_size", "13.557", "3.672"),
    ("shufflenet_v2_x2_0", "IMAGENET1K_FBGEMM_V1", "acc@1", "76.230", "75.354"),
    ("shufflenet_v2_x2_0", "IMAGENET1K_FBGEMM_V1", "acc@5", "93.006", "92.488"),
    ("shufflenet_v2_x2_0", "IMAGENET1K_FBGEMM_V1", "_file_size", "28.433", "7.467"),
]


#: model id -> the file of torchvision/models/quantization/ holding its quantized weights
TV_FILE = {"googlenet": "googlenet", "inception_v3": "inception", "mobilenet_v2": "mobilenetv2",
           "mobilenet_v3_large": "mobilenetv3", "resnet18": "resnet", "resnet50": "resnet",
           "resnext101_32x8d": "resnet", "resnext101_64x4d": "resnet", "shufflenet_v2_x0_5": "shufflenetv2",
           "shufflenet_v2_x1_0": "shufflenetv2", "shufflenet_v2_x1_5": "shufflenetv2",
           "shufflenet_v2_x2_0": "shufflenetv2"}  # fmt: skip


@pytest.mark.parametrize(("model", "member", "metric", "base", "quant"), TV_CHECKS)
def test_torchvision_quantized(raw, model, member, metric, base, quant):
    prop = "storage_size" if metric == "_file_size" else "accuracy"
    rows = raw[(raw["study"] == "TORCHVISION_QUANTIZED") & (raw["comparison"] == f"{model}|{member}")
               & (raw["metric"] == metric)]  # fmt: skip
    assert len(rows) == 1
    r = rows.iloc[0]
    assert r["property"] == prop and Decimal(r["baseline_mean"]) == Decimal(base)
    assert Decimal(r["quant_mean"]) == Decimal(quant)
    assert (r["unit"], r["n_eval"]) == (("MB", "") if prop == "storage_size" else ("%", "50000"))
    assert r["x_source_path"] == f"torchvision/models/quantization/{TV_FILE[model]}.py"
    assert (r["bits"], r["act_bits"], r["baseline_precision"], r["quant_precision"]) == ("8", "8", "fp32", "int8")
    assert r["technique"] == ("qat" if "QNNPACK" in member else "ptq-static")


def test_torchvision_coding(raw):
    tv = raw[raw["study"] == "TORCHVISION_QUANTIZED"]
    # 14 quantized weights (one comparison each) with acc@1, acc@5 and a file size; each float weights' figure is
    # the baseline of one row, and no float weights are named by two quantized ones
    assert len(tv) == 42 and tv["comparison"].nunique() == 14 and tv["baseline_group"].nunique() == 42
    r = tv[(tv["comparison"] == "resnet50|IMAGENET1K_FBGEMM_V2") & (tv["metric"] == "acc@1")].iloc[0]
    assert r["baseline_group"] == "TORCHVISION_QUANTIZED|ResNet50_Weights.IMAGENET1K_V2|acc@1"
    # resnet.py line 155: the quantized ResNets' _COMMON_META names the fbgemm backend; ResNet50 num_params line 208
    assert r["x_settings"].startswith("backend fbgemm; recipe ") and r["x_params"] == "25557032"
    assert r["task"] == "ImageNet-1K validation (top-1)"


#: (model, platform, property, float precision, float, INT8, line) as printed in OV-2024.3-benchmark-data.csv
OV_CHECKS = [
    ("bert-base-cased", "Intel® Atom® X6425E CPU-only", "throughput", "fp32", "2.02", "3.26", 3),
    ("bert-base-cased", "Intel® Core™ i9-13900K CPU-only", "throughput", "fp32", "67.84", "170.19", 15),
    ("bert-base-cased", "Intel® Xeon® Platinum 8580 CPU-only", "throughput", "fp32", "570.04", "4715.55", 22),
    ("bert-base-cased", "Intel® Arc™ A770M dGPU", "throughput", "fp16", "624.16", "711.34", 27),
    ("bert-base-cased", "Intel® Core™ Ultra 7 processor 165H NPU-only", "throughput", "fp16", "66.02", "81.73", 29),
    ("bert-base-cased", "Intel® Core™ Ultra 7 processor 165H CPU+iGPU", "throughput", "fp32", "48.42", "138.11", 43),
    ("bert-large-uncased-whole-word-masking-squad-0001", "Intel® Core™ Ultra 7 processor 165H iGPU-only",
     "throughput", "fp16", "14.02", "21.19", 79),
    ("efficientdet-d0", "Intel® Xeon® Platinum 8580 CPU-only", "throughput", "fp32", "1113.69", "1648.95", 108),
    ("efficientdet-d0", "Intel® Core™ Ultra 7 processor 165H CPU-only", "throughput", "fp16", "34.74", "38.03", 111),
    ("efficientdet-d0", "Intel® Core™ Ultra 7 processor 165H NPU-only", "throughput", "fp16", "34.74", "38.03", 115),
    ("mask_rcnn_resnet50_atrous_coco", "Intel® Atom® X6425E CPU-only", "throughput", "fp32", "0.02", "0.04", 132),
    ("mask_rcnn_resnet50_atrous_coco", "Intel® Arc™ A770M dGPU", "throughput", "fp16", "18.49", "28.22", 156),
    ("mobilenet-v2", "Intel® Core™ i9-13900K CPU-only", "throughput", "fp32", "2048.84", "4268.14", 186),
    ("mobilenet-v2", "Intel® Xeon® Platinum 8580 CPU-only", "throughput", "fp32", "16310.7", "41393.18", 193),
    ("mobilenet-v2", "Intel® Core™ Ultra 7 processor 165H iGPU-only", "throughput", "fp16", "1321.41", "1435.15",
     207),
    ("resnet-50", "Intel® Atom® X6425E CPU-only", "throughput", "fp32", "8.15", "19.86", 217),
    ("resnet-50", "Intel® Xeon® Platinum 8580 CPU-only", "throughput", "fp32", "2013.94", "22488.98", 236),
    ("resnet-50", "Intel® Core™ Ultra 7 processor 165H NPU-only", "throughput", "fp16", "384.38", "779.54", 243),
    ("ssd-resnet34-1200", "Intel® Arc™ A770M dGPU", "throughput", "fp16", "82.83", "154.96", 283),
    ("ssd_mobilenet_v1_coco", "Intel® Core™ Ultra 7 processor 165H CPU-only", "throughput", "fp32", "173.77",
     "532.96", 323),
    ("unet-camvid-onnx-0001", "Intel® Core™ Ultra 7 processor 165H iGPU-only", "throughput", "fp16", "19.65", "33.4",
     377),
    ("yolo_v3_tiny", "Intel® Xeon® Platinum 8580 CPU-only", "throughput", "fp32", "2514.85", "14774.31", 406),
    ("yolo_v8n", "Intel® Core™ Ultra 7 processor 165H NPU-only", "throughput", "fp16", "131.43", "128.65", 456),
    ("yolo_v8n", "Intel® Core™ Ultra 7 processor 165H CPU+iGPU", "throughput", "fp32", "105.2", "237.05", 470),
    # the Stable Diffusion block prints generation time in seconds: Latency_int8 vs Latency_FP16
    ("stable-diffusion-v2-1", "Intel® Core™ i9-13900K CPU-only", "inference_latency", "fp16", "39.89", "41.19", 515),
    ("stable-diffusion-v2-1", "Intel® Xeon® Platinum 8580 CPU-only", "inference_latency", "fp16", "3.66", "3.47", 518),
    ("stable-diffusion-v2-1", "Intel® Arc™ A770M dGPU", "inference_latency", "fp16", "2.72", "2.87", 520),
    ("stable-diffusion-v2-1", "Intel® Core™ Ultra 7 processor 165H iGPU-only", "inference_latency", "fp16", "12.41",
     "12.98", 523),
]  # fmt: skip


@pytest.mark.parametrize(("model", "platform", "prop", "prec", "base", "quant", "line"), OV_CHECKS)
def test_openvino_benchmark(raw, model, platform, prop, prec, base, quant, line):
    r = _row(raw, "OPENVINO_BENCHMARK", f"{model}|int8|{platform}|OV-2024.3.0", prop)
    assert (r["baseline_precision"], r["baseline_mean"], r["quant_mean"]) == (prec, base, quant)
    assert r["provenance"].startswith(f"line {line}: ") and r["x_source_path"] == OV_DATA
    assert r["unit"] == {"throughput": "FPS", "inference_latency": "s"}[prop]
    assert r["higher_is_better"] == ("true" if prop == "throughput" else "false")
    assert r["confounded"] == ("true" if model == "efficientdet-d0" and "165H" in platform else "false")


def test_openvino_rows_not_written(raw):
    ov = raw[raw["study"] == "OPENVINO_BENCHMARK"]
    # the LLM blocks (tokens/sec) are not ingested
    assert not ov["model"].isin(["chatglm2-6b", "falcon-7b-instruct", "llama-2-7b-chat", "mistral-7b-v0.1"]).any()
    # no INT8 throughput: resnet-50 on the Core Ultra 7 165H iGPU (line 250), yolo_v3_tiny on the Arc A770M (411);
    # INT8 without a float figure: ssd_mobilenet_v1_coco on the Core Ultra 7 165H iGPU (334)
    for model, platform in (("resnet-50", "Intel® Core™ Ultra 7 processor 165H iGPU-only"),
                            ("yolo_v3_tiny", "Intel® Arc™ A770M dGPU"),
                            ("ssd_mobilenet_v1_coco", "Intel® Core™ Ultra 7 processor 165H iGPU-only")):  # fmt: skip
        assert ov[ov["comparison"] == f"{model}|int8|{platform}|OV-2024.3.0"].empty
    # the vision and NLP blocks print an INT8 latency only: no latency row outside Stable Diffusion
    assert set(ov.loc[ov["property"] == "inference_latency", "model"]) == {"stable-diffusion-v2-1"}
    assert (ov["property"] == "throughput").sum() == 427
    assert dict(ov.groupby("baseline_precision").size()) == {"fp16": 115, "fp32": 321}
    assert set(ov["x_compute_unit"]) == {"CPU", "iGPU", "NPU", "dGPU", "CPU+iGPU"}


def test_openvino_file_as_vendored():
    """The vendored CSV read directly (not through the builder): CRLF lines, 25 columns, and no FPS row printing
    both an FP32 and an FP16 throughput (so the FP32-else-FP16 rule never chooses between two printed figures)."""
    import csv
    import io

    data = (SOURCES / "openvinotoolkit+openvino" / OV_COMMIT / OV_DATA).read_bytes()
    assert data.count(b"\r\n") == data.count(b"\n") == 523 and not data.endswith(b"\n")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert len(rows) == 524 and {len(r) for r in rows} == {25}
    assert rows[0][4:7] == ["Throughput-INT8", "Throughput-FP16", "Throughput-FP32"] and rows[0][14] == "Latency_int8"
    fps = [r for r in rows if r[15] == "FPS" and r[0] != "begin_rec"]
    # 448 FPS rows: the 427 written plus the 18 + 2 + 1 without an INT8 / float pair
    assert len(fps) == 448 and not any(r[5] and r[6] for r in fps)
    # a stray line follows the Apache-2.0 text in the LICENSE read at OV_LICENCE_COMMIT; kept byte for byte
    lic = (SOURCES / "openvinotoolkit+openvino" / OV_LICENCE_COMMIT / "LICENSE").read_text()
    assert lic.endswith("   This is test editing for checking trigger of PR.\n")


def test_torchvision_common_meta_is_expanded(raw):
    tv = raw[raw["study"] == "TORCHVISION_QUANTIZED"]
    # quantization/resnet.py: ResNeXt101_64X4D overrides the common recipe (line 268); ShuffleNetV2 x1.5 and x2.0
    # override it too (shufflenetv2.py lines 176, 198); ResNet18 keeps _COMMON_META's (line 156)
    recipe = tv.groupby("x_model_id")["x_settings"].first()
    assert recipe["resnext101_64x4d"].endswith("recipe https://github.com/pytorch/vision/pull/5935")
    assert recipe["shufflenet_v2_x2_0"].endswith("recipe https://github.com/pytorch/vision/pull/5906")
    assert recipe["resnet18"].endswith("references/classification#post-training-quantized-models")
    qat = "https://github.com/pytorch/vision/tree/main/references/classification#qat-mobilenetv2"
    assert recipe["mobilenet_v2"] == f"backend qnnpack; recipe {qat}"


#: (README folder under validated/, quantized row, metric, float, quantized, quantized line, float line) as printed
#: in the vendored onnx/models READMEs at ONNX_COMMIT
ONNX_CHECKS = [
    ("vision/classification/alexnet", "AlexNet-int8", "top-1 accuracy", "54.80", "54.68", 13, 12),
    ("vision/classification/alexnet", "AlexNet-qdq", "top-5 accuracy", "78.23", "78.22", 14, 12),
    ("vision/classification/caffenet", "CaffeNet-int8", "top-5 accuracy", "79.52", "79.52", 13, 12),
    ("vision/classification/densenet-121", "DenseNet-121-12-int8", "top-1 accuracy", "60.96", "60.20", 13, 12),
    ("vision/classification/inception_and_googlenet/googlenet", "GoogleNet-qdq", "top-5 accuracy", "88.34", "88.31",
     14, 12),
    ("vision/classification/inception_and_googlenet/inception_v1", "Inception-1-int8", "top-1 accuracy", "67.23",
     "67.24", 13, 12),
    ("vision/classification/mobilenet", "MobileNet v2-1.0-int8", "top-1 accuracy", "69.48", "68.30", 21, 20),
    ("vision/classification/mobilenet", "MobileNet v2-1.0-qdq", "top-1 accuracy", "69.48", "67.40", 22, 20),
    ("vision/classification/resnet", "ResNet50-int8", "top-1 accuracy", "74.97", "74.77", 36, 35),
    ("vision/classification/resnet", "ResNet50-int8", "top-5 accuracy", "92.33", "92.32", 36, 35),
    ("vision/classification/resnet", "ResNet50-qdq", "model download size", "97.8", "24.6", 37, 35),
    ("vision/classification/squeezenet", "SqueezeNet 1.0-qdq", "top-1 accuracy", "56.85", "56.54", 25, 23),
    ("vision/classification/vgg", "VGG 16-int8", "top-1 accuracy", "72.38", "72.32", 29, 28),
    ("vision/classification/vgg", "VGG 16-qdq", "top-5 accuracy", "91.00", "91.02", 30, 28),
    ("vision/classification/vgg", "VGG 16-int8", "model download size", "527.8", "132.0", 29, 28),
    ("vision/classification/zfnet-512", "ZFNet-512-int8", "top-1 accuracy", "55.97", "55.84", 13, 12),
    ("vision/classification/shufflenet", "ShuffleNet-v2-int8", "model download size", "8.79", "2.28", 33, 32),
    ("vision/classification/mnist", "MNIST-12-int8", "model download size", "26", "11", 15, 14),
    ("vision/classification/efficientnet-lite4", "EfficientNet-Lite4-int8", "top-1 accuracy", "80.4", "77.56", 16,
     15),
    ("vision/object_detection_segmentation/faster-rcnn", "Faster R-CNN R-50-FPN-int8", "COCO box mAP@[0.5:0.95]",
     "0.3437", "0.3409", 14, 13),
    ("vision/object_detection_segmentation/mask-rcnn", "Mask R-CNN R-50-FPN-qdq", "COCO box mAP@[0.5:0.95]",
     "0.3372", "0.3328", 15, 13),
    ("vision/object_detection_segmentation/ssd", "SSD-int8", "COCO box mAP@[0.5:0.95]", "0.1898", "0.1892", 14, 13),
    ("vision/object_detection_segmentation/yolov3", "YOLOv3-12-int8", "COCO box mAP@[0.5:0.95]", "0.2874", "0.2693",
     14, 13),
    ("vision/object_detection_segmentation/ssd-mobilenetv1", "SSD-MobilenetV1-12-qdq", "mAP", "0.2303", "0.2297", 20,
     18),
    ("vision/object_detection_segmentation/duc", "ResNet101_DUC_HDC-12-int8", "mIoU", "81.92", "81.62", 18, 17),
    ("vision/object_detection_segmentation/fcn", "FCN ResNet-50-int8", "mean IoU", "65.0", "64.7", 17, 16),
    ("vision/body_analysis/arcface", "LResNet100E-IR-int8", "LFW accuracy", "99.77", "99.80", 17, 16),
    ("text/machine_comprehension/bert-squad", "BERT-Squad-int8", "exact match (EM), SQuAD v1.1", "80.67171",
     "80.43519", 18, 17),
    ("text/machine_comprehension/bidirectional_attention_flow", "BiDAF-int8", "exact match (EM), SQuAD v1.1", "68.1",
     "65.93", 13, 12),
]  # fmt: skip
#: the rows flagged as confounded among the checks: the float row is not the reference of the quantized model
ONNX_CONFOUNDED = {"EfficientNet-Lite4-int8", "LResNet100E-IR-int8", "BiDAF-int8"}


@pytest.mark.parametrize(("folder", "name", "metric", "base", "quant", "qline", "bline"), ONNX_CHECKS)
def test_onnx_models(raw, folder, name, metric, base, quant, qline, bline):
    model_id = folder.rpartition("/")[2]
    rows = raw[(raw["study"] == "ONNX_MODELS") & (raw["comparison"] == f"{model_id}|{name}")
               & (raw["metric"] == metric)]  # fmt: skip
    assert len(rows) == 1
    r = rows.iloc[0]
    assert Decimal(r["baseline_mean"]) == Decimal(base) and Decimal(r["quant_mean"]) == Decimal(quant)
    assert r["x_source_path"] == f"validated/{folder}/README.md" and r["x_source_commit"] == ONNX_COMMIT
    assert r["provenance"].startswith(f"line {qline}: {name} ") and f" vs line {bline}: " in r["provenance"]
    assert r["quant_precision"] == ("int8-qdq" if name.endswith("-qdq") else "int8")
    assert r["confounded"] == ("true" if name in ONNX_CONFOUNDED else "false")
    assert r["n_eval"] == ("50000" if model_id in {"mobilenet", "resnet", "squeezenet", "vgg"}
                           and metric.startswith("top-") else "")  # fmt: skip


def test_onnx_models_readmes_as_vendored():
    """Figures read straight from the vendored README text (not through the builder): the ResNet50 rows, the
    EfficientNet-Lite4 note naming another fp32 reference, and the arcface float model's opset."""
    root = SOURCES / "onnx+models" / ONNX_COMMIT / "validated" / "vision"
    resnet = (root / "classification" / "resnet" / "README.md").read_text().splitlines()
    assert (
        resnet[34].startswith("|ResNet50-fp32| [97.8 MB](model/resnet50-v1-12.onnx)")
        and "|74.97 |92.33 |" in resnet[34]
    )
    assert resnet[35].startswith("|ResNet50-int8| [24.6 MB]") and resnet[35].endswith("|74.77 |92.32 |")
    eff = (root / "classification" / "efficientnet-lite4" / "README.md").read_text()
    inc = "[Intel® Neural Compressor](https://github.com/intel/neural-compressor)"
    assert f"The fp32 Top-1 accuracy got by {inc} is 77.70%" in eff
    arc = (root / "body_analysis" / "arcface" / "README.md").read_text().splitlines()
    assert "(model/arcfaceresnet100-8.onnx)" in arc[15] and "(model/arcfaceresnet100-11-int8.onnx)" in arc[16]


def test_onnx_models_coding(raw):
    o = raw[raw["study"] == "ONNX_MODELS"]
    assert dict(o["property"].value_counts()) == {"storage_size": 39, "accuracy": 38, "map_50_95": 7, "miou": 3,
                                                  "map": 2}  # fmt: skip
    # one storage row per quantized model (39), each against the float model of its table; the int8 and qdq rows of
    # one table share the float figure's baseline_group
    assert o.loc[o["property"] == "storage_size", "comparison"].nunique() == 39
    g = o[o["x_model_id"] == "resnet"].groupby("baseline_group")["comparison"].nunique()
    assert g.to_dict() == {"ONNX_MODELS|resnet|ResNet50-fp32|size": 2,
                           "ONNX_MODELS|resnet|ResNet50-fp32|top-1 accuracy": 2,
                           "ONNX_MODELS|resnet|ResNet50-fp32|top-5 accuracy": 1}  # fmt: skip
    # the only other confounded rows: the EfficientNet-Lite4 sizes are not (their float figure is the table's)
    eff = o[o["x_model_id"] == "efficientnet-lite4"]
    assert dict(zip(eff["metric"], eff["confounded"], strict=False)) == {"top-1 accuracy": "true",
                                                                        "model download size": "false"}  # fmt: skip
    assert set(o["x_task_family"]) == {"Image Classification", "Object Detection", "Semantic Segmentation",
                                       "Face Recognition", "Question Answering"}  # fmt: skip


#: (README commit, model, device, implementation, metric, float, int8, int8 line, float line) as printed in the
#: vendored faster-whisper README at that commit (times in seconds: 3m24s = 204)
FW_CHECKS = [
    ("0b535499", "Small", "CPU", "faster-whisper", "time to transcribe 13 minutes of audio", "204", "157", 32, 31),
    ("0b535499", "Small", "CPU", "faster-whisper", "max. memory", "2182", "1466", 32, 31),
    ("8321fcb9", "Medium", "GPU", "faster-whisper", "time to transcribe 13 minutes of audio", "42", "41", 21, 20),
    ("8321fcb9", "Medium", "GPU", "faster-whisper", "max. GPU memory", "3283", "1939", 21, 20),
    ("8321fcb9", "Medium", "GPU", "faster-whisper", "max. CPU memory", "1722", "2159", 21, 20),
    ("8321fcb9", "Small", "CPU", "faster-whisper", "time to transcribe 13 minutes of audio", "173", "121", 33, 32),
    ("8321fcb9", "Small", "CPU", "faster-whisper", "max. memory", "1482", "1008", 33, 32),
    ("e0c3a9ed", "Large-v2", "GPU", "faster-whisper", "time to transcribe 13 minutes of audio", "54", "59", 25, 24),
    ("e0c3a9ed", "Large-v2", "GPU", "faster-whisper", "max. GPU memory", "4755", "3091", 25, 24),
    ("e0c3a9ed", "Large-v2", "GPU", "faster-whisper", "max. CPU memory", "3244", "3117", 25, 24),
    ("e0c3a9ed", "Small", "CPU", "faster-whisper", "time to transcribe 13 minutes of audio", "164", "124", 37, 36),
    ("e0c3a9ed", "Small", "CPU", "faster-whisper", "max. memory", "1675", "995", 37, 36),
    ("65882eee", "Large-v2", "GPU", "faster-whisper", "time to transcribe 13 minutes of audio", "63", "59", 29, 27),
    ("65882eee", "Large-v2", "GPU", "faster-whisper", "VRAM usage", "4525", "2926", 29, 27),
    ("65882eee", "Large-v2", "GPU", "faster-whisper (`batch_size=8`)", "time to transcribe 13 minutes of audio", "17",
     "16", 30, 28),
    ("65882eee", "Large-v2", "GPU", "faster-whisper (`batch_size=8`)", "VRAM usage", "6090", "4500", 30, 28),
    ("65882eee", "Small", "CPU", "faster-whisper", "time to transcribe 13 minutes of audio", "157", "102", 51, 49),
    ("65882eee", "Small", "CPU", "faster-whisper", "RAM usage", "2257", "1477", 51, 49),
    ("65882eee", "Small", "CPU", "faster-whisper (`batch_size=8`)", "time to transcribe 13 minutes of audio", "66",
     "51", 52, 50),
    ("65882eee", "Small", "CPU", "faster-whisper (`batch_size=8`)", "RAM usage", "4230", "3608", 52, 50),
]  # fmt: skip
FW_PROPERTY = {"time to transcribe 13 minutes of audio": "inference_latency", "max. memory": "peak_memory",
               "max. GPU memory": "peak_memory", "max. CPU memory": "peak_memory",
               "VRAM usage": "gpu_memory_utilization", "RAM usage": "ram_usage"}  # fmt: skip


@pytest.mark.parametrize(("commit", "model", "device", "impl", "metric", "base", "quant", "qline", "bline"),
                         FW_CHECKS)  # fmt: skip
def test_faster_whisper(raw, commit, model, device, impl, metric, base, quant, qline, bline):
    rows = raw[(raw["study"] == "FASTER_WHISPER") & (raw["metric"] == metric)
               & (raw["comparison"] == f"{commit}|Whisper {model}|{device}|{impl}|int8")]  # fmt: skip
    assert len(rows) == 1
    r = rows.iloc[0]
    assert (r["baseline_mean"], r["quant_mean"], r["property"]) == (base, quant, FW_PROPERTY[metric])
    assert r["x_source_commit"].startswith(commit) and r["x_source_path"] == "README.md"
    assert r["provenance"].startswith(f"line {qline}: {impl} int8 ") and f" vs line {bline}: " in r["provenance"]
    assert r["baseline_precision"] == {"GPU": "fp16", "CPU": "fp32"}[device]
    assert r["unit"] == ("s" if metric.startswith("time") else "MB")


def test_faster_whisper_readmes_as_vendored():
    """The int8 and float rows read straight from the vendored README of the newest commit: the times as printed,
    and the other implementations' rows (openai/whisper, whisper.cpp, transformers) giving no row."""
    lines = (SOURCES / "SYSTRAN+faster-whisper" / FW_COMMITS[-1] / "README.md").read_text().splitlines()
    assert lines[26] == "| faster-whisper | fp16 | 5 | 1m03s | 4525MB |"
    assert lines[28] == "| faster-whisper | int8 | 5 | 59s | 2926MB |"
    assert lines[50] == "| faster-whisper | int8 | 5 | 1m42s | 1477MB |"


def test_faster_whisper_coding(raw):
    fw = raw[raw["study"] == "FASTER_WHISPER"]
    assert not fw["model"].str.contains("openai|cpp|transformers").any()
    assert dict(fw["property"].value_counts()) == {"inference_latency": 9, "peak_memory": 7,
                                                   "gpu_memory_utilization": 2, "ram_usage": 2}  # fmt: skip
    # each float row is the baseline of one int8 row per metric: no two editions share a figure's group
    assert fw["baseline_group"].nunique() == 20 and fw["comparison"].nunique() == 9
    assert set(fw["x_source_commit"]) == set(FW_COMMITS)
    assert set(fw["hardware"]) == {
        "8 threads on a Intel(R) Xeon(R) Gold 6226R",
        "CUDA 11.7.1 on a NVIDIA Tesla V100S",
        "CUDA 12.4 on a NVIDIA RTX 3070 Ti 8GB",
        "8 threads on an Intel Core i7-12700K",
    }


# --------------------------------------------------------------------------
# the data list command

# --------------------------------------------------------------------------


def test_data_list_shows_the_dataset(raw):
    from click.testing import CliRunner

    from metaquant.cli import main

    res = CliRunner().invoke(main, ["data", "list", "--format", "json"])
    assert res.exit_code == 0
    d = {x["name"]: x for x in json.loads(res.output)}["zooq"]
    assert d["rows"] == len(raw) == 5382 and d["studies"] == len(SHIPPED)
    assert d["rows_by_property"] == raw["property"].value_counts().sort_index().to_dict()
    repos = {r["repository"]: (r["rows"], r["licence"]) for r in d["repositories"]}
    assert repos == {AIHUB: (4693, "BSD-3-Clause"), NNCF: (102, "Apache-2.0"), TV: (42, "BSD-3-Clause"),
                     OV: (436, "Apache-2.0"), ONNX: (89, "Apache-2.0"),
                     FW: (20, "MIT")}  # fmt: skip
