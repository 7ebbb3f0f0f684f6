"""The benchmark harness: real quantized models measured on the CPU, rows in the measurement form.

References are computed independently of the code under test: hand-counted F1
scores, byte counts from the network's architecture, an exact synthetic power
meter, and the file contents before and after an append.
"""

import copy
import json
import math
import subprocess
import sys
import types

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

import metaquant as mq  # noqa: E402
from metaquant.bench import (  # noqa: E402
    INSTALL_HINT,
    NO_METER,
    BenchConfig,
    find_rapl,
    get_scheme,
    macro_f1,
    parse_schemes,
    run_bench,
)
from metaquant.bench import accuracy as acc_fn  # noqa: E402
from metaquant.bench import runner as bench_runner  # noqa: E402
from metaquant.bench.quantize import pack_bits, quantize_weight_rtn, unpack_bits  # noqa: E402
from metaquant.cli import main  # noqa: E402
from metaquant.errors import InputError  # noqa: E402
from metaquant.evidence import io  # noqa: E402

VALUE_COLS = ["baseline_mean", "baseline_sd", "quant_mean", "quant_sd"]
ENERGY_PROPS = {"inference_energy_consumption", "inference_power_draw", "gpu_energy_consumption", "gpu_power_draw"}


def _no_meter(*_a, **_k):
    return None, f"{NO_METER}: mocked unreadable"


@pytest.fixture(scope="module")
def quick():
    """One quick CPU bench of the default schemes plus QAT and 2-bit, with every energy meter unreadable."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(bench_runner, "find_rapl", _no_meter)
        mp.setattr(bench_runner, "find_nvml", _no_meter)
        return run_bench(BenchConfig(device="cpu", quick=True, schemes="default,qat-int8,w2-sim", study="t-quick"))


# --------------------------------------------------------------------------
# The quick bench: rows, validation, pooling
# --------------------------------------------------------------------------


def test_quick_bench_rows_pass_validation_and_pool(quick, tmp_path):
    assert quick.skipped == []
    names = [v.scheme for v in quick.variants]
    assert {"int8-dynamic", "int8-static-tensor", "int8-static-channel", "qat-int8", "w4-sim", "w2-sim"} <= set(names)
    out = quick.write(tmp_path / "runs.csv")
    df = io.read(out)
    assert set(df["form"]) == {"measurements"} and len(df) == len(quick.rows())
    tab = mq.compute_effects(mq.load(out))
    assert len(tab) == len(df) and np.isfinite(tab["yi"]).all()
    lat = mq.for_property(tab, "inference_latency")
    assert lat["vi_known"].all() and (lat["vi"] > 0).all()  # 3 runs per arm give a sampling variance
    # every timed scheme has the six measured properties; simulated ones only accuracy, F1 and storage
    per = df.groupby("comparison")["property"].apply(set).to_dict()
    timed = {"accuracy", "f1_score", "storage_size", "inference_latency", "throughput", "peak_memory"}
    assert per["mlp-synth|int8-dynamic|cpu"] == timed
    assert per["mlp-synth|w4-sim|cpu"] == {"accuracy", "f1_score", "storage_size"}
    assert df["hardware"].str.contains("quantized engine").all()
    assert df["provenance"].str.contains(f"torch {torch.__version__}", regex=False).all()
    assert df["provenance"].str.contains(f"metaquant bench {mq.__version__}", regex=False).all()
    assert (df.loc[df["property"] == "accuracy", "quant_n"] == 1).all()
    assert df.loc[df["property"] == "accuracy", "quant_sd"].isna().all()  # single evaluation: no spread


def test_accuracy_is_that_of_the_trained_model_and_2bit_hurts(quick):
    base = quick.baselines["cpu"]
    assert 0.85 < base.accuracy < 0.97  # the synthetic task leaves room for quantization to show
    by = {v.scheme: v for v in quick.variants}
    for s in ("int8-dynamic", "int8-static-tensor", "int8-static-channel", "w4-sim"):
        assert abs(by[s].accuracy - base.accuracy) < 0.02
    assert by["w2-sim"].accuracy < base.accuracy - 0.01


def test_int8_storage_is_smaller_than_fp32_and_bits_order_sizes(quick):
    base = quick.baselines["cpu"].storage_bytes
    n_params = 256 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10  # mlp-synth: 16x16 inputs
    assert 4 * n_params < base < 4 * n_params * 1.05  # fp32 = 4 bytes per parameter + pickle framing
    by = {v.scheme: v.storage_bytes for v in quick.variants}
    for s in ("int8-dynamic", "int8-static-tensor", "int8-static-channel", "qat-int8"):
        assert n_params < by[s] < 0.3 * base
    weights = n_params - (256 + 256 + 10)
    assert math.ceil(weights * 4 / 8) < by["w4-sim"] < by["int8-dynamic"]
    assert math.ceil(weights * 2 / 8) < by["w2-sim"] < by["w4-sim"]


def test_cpu_peak_memory_matches_the_architecture(quick):
    # fp32 forward of a 256-image batch: resident weights + the input + two live 256x256 activations
    # (a Linear output and the ReLU output made from it), 4 bytes each.
    n_params = 256 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10
    bs = 256
    expected = 4 * n_params + 4 * bs * 256 + 2 * 4 * bs * 256
    assert quick.baselines["cpu"].peak_memory_bytes == expected
    assert "torch.profiler" in quick.baselines["cpu"].memory_method


def test_energy_is_empty_not_zero_without_a_meter(quick, tmp_path):
    full = quick.to_frame(include_unmeasured=True)
    energy = full[full["property"].isin(ENERGY_PROPS)]
    assert set(energy["property"]) == {"inference_energy_consumption", "inference_power_draw"}
    assert energy[VALUE_COLS].isna().all().all()
    assert energy["notes"].str.contains(NO_METER).all()
    # never written: the measurement form needs both means; nothing is written as zero either
    out = quick.write(tmp_path / "e.csv")
    raw = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert not raw["property"].isin(ENERGY_PROPS).any()
    vals = raw[["baseline_mean", "quant_mean"]].astype(float)
    assert (vals > 0).all().all()
    assert {u["property"] for u in quick.unmeasured()} == {"inference_energy_consumption", "inference_power_draw"}


class _ConstantPower:
    """A meter whose counter grows at exactly 12.5 W of wall time (joules = 12.5 · perf_counter)."""

    name = "synthetic 12.5 W meter"
    energy_property = "inference_energy_consumption"
    power_property = "inference_power_draw"
    scope = "test"

    def read(self):
        import time

        return time.perf_counter()

    def joules(self, a, b):
        return 12.5 * (b - a)


def test_energy_and_power_arithmetic_with_an_exact_meter(monkeypatch):
    monkeypatch.setattr(bench_runner, "find_rapl", lambda *a, **k: (_ConstantPower(), ""))
    res = run_bench(BenchConfig(device="cpu", quick=True, schemes="int8-dynamic", runs=2, run_seconds=0.05,
                                study="t-energy"))
    df = res.to_frame()
    # the counter is read just outside the timed window, which adds microseconds to a 50 ms run
    power = df[df["property"] == "inference_power_draw"].iloc[0]
    assert power["baseline_mean"] == pytest.approx(12.5, rel=2e-3)
    assert power["quant_mean"] == pytest.approx(12.5, rel=2e-3) and power["quant_n"] == 2
    v = res.variants[0]
    for e, t in zip(v.energy_j, v.latency_s, strict=True):  # energy per batch = power x latency per batch
        assert e == pytest.approx(12.5 * t, rel=2e-3)
    energy = df[df["property"] == "inference_energy_consumption"].iloc[0]
    assert energy["quant_mean"] == pytest.approx(np.mean(v.energy_j)) and energy["unit"] == "J"


class _StuckMeter(_ConstantPower):
    """A counter that never advances (a meter coarser than the run)."""

    def read(self):
        return 5.0


class _FailingMeter(_ConstantPower):
    def read(self):
        raise OSError("driver went away")


@pytest.mark.parametrize("meter, why", [(_StuckMeter(), "did not advance"), (_FailingMeter(), "driver went away")])
def test_a_meter_that_cannot_measure_gives_no_energy_rows(monkeypatch, meter, why):
    monkeypatch.setattr(bench_runner, "find_rapl", lambda *a, **k: (meter, ""))
    res = run_bench(BenchConfig(device="cpu", quick=True, schemes="int8-dynamic", runs=2, run_seconds=0.05,
                                study="t-stuck"))
    assert res.variants[0].energy_j is None and res.baselines["cpu"].energy_j is None
    assert not res.to_frame()["property"].isin(ENERGY_PROPS).any()
    un = res.unmeasured()
    assert {u["property"] for u in un} == {"inference_energy_consumption", "inference_power_draw"}
    assert all(why in u["reason"] and NO_METER in u["reason"] for u in un)
    assert len(res.variants[0].latency_s) == 2  # the timing itself is kept


# --------------------------------------------------------------------------
# Writing: append, refuse, never clobber
# --------------------------------------------------------------------------


def test_appending_keeps_old_rows_and_makes_default_study_unique(quick, tmp_path):
    p = tmp_path / "pool.csv"
    quick.write(p)
    before = p.read_text(encoding="utf-8").splitlines()
    # a second run with a default study id on the same day: kept as its own study
    again = copy.copy(quick)
    again.study, again.study_explicit = "t-quick", False
    again.write(p)
    after = p.read_text(encoding="utf-8").splitlines()
    assert after[: len(before)] == before  # old rows untouched, byte for byte
    df = io.read(p)
    assert len(df) == 2 * len(quick.rows())
    assert sorted(df["study"].unique()) == ["t-quick", "t-quick-2"]


def test_appending_to_a_users_own_measurements_file_keeps_its_rows_and_columns(quick, tmp_path):
    p = tmp_path / "mine.csv"
    own = ("study,property,baseline_mean,quant_mean,source\n"
           "paper-A,inference_latency,12.5,7.25,\"Table 3, p. 7\"\n")
    p.write_text(own, encoding="utf-8")
    quick.write(p)
    raw = pd.read_csv(p, dtype=str, keep_default_na=False)
    assert list(raw.columns[:5]) == ["study", "property", "baseline_mean", "quant_mean", "source"]
    assert raw.iloc[0][["study", "baseline_mean", "quant_mean", "source"]].tolist() == [
        "paper-A", "12.5", "7.25", "Table 3, p. 7"]
    assert (raw.iloc[1:]["source"] == "").all() and len(raw) == 1 + len(quick.rows())
    assert len(mq.compute_effects(mq.load(p))) == len(raw)


def test_explicit_study_clash_and_foreign_files_are_refused(quick, tmp_path):
    p = tmp_path / "pool.csv"
    quick.write(p)
    text = p.read_text(encoding="utf-8")
    again = copy.copy(quick)
    again.study, again.study_explicit = "t-quick", True
    with pytest.raises(InputError, match="already holds comparison"):
        again.write(p)
    assert p.read_text(encoding="utf-8") == text
    foreign = tmp_path / "notes.csv"
    foreign.write_text("name,score\nalice,3\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a metaquant measurements file"):
        quick.write(foreign)
    assert foreign.read_text(encoding="utf-8") == "name,score\nalice,3\n"
    assert [f.name for f in tmp_path.iterdir() if f.name.startswith(".")] == []  # no temporary file left


# --------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------


def test_cli_without_torch_prints_one_line_and_exits_2(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # "import torch" now raises ImportError
    res = CliRunner().invoke(main, ["bench", "--quick"])
    assert res.exit_code == 2
    assert res.stderr.strip() == INSTALL_HINT and "\n" not in res.stderr.strip()
    assert 'pip install "metaquant[bench]"' in INSTALL_HINT and "CUDA" in INSTALL_HINT


def test_package_and_cli_import_without_torch():
    code = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "import metaquant, metaquant.bench, metaquant.cli.bench\n"
        "from metaquant.cli import main\n"
        "print('bench' in main.commands, metaquant.bench.torch_available())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True False"


def test_cli_quick_run_appends_and_reports(tmp_path):
    out = tmp_path / "cli.csv"
    args = ["bench", "--device", "cpu", "--quick", "--schemes", "int8-dynamic", "--runs", "2", "--run-seconds",
            "0.05", "--study", "t-cli", "--out", str(out)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "bench: int8-dynamic [cpu] done" in res.stderr  # progress line (not a terminal)
    assert f"to {out}" in res.stderr and "inference_latency" in res.stdout
    n = len(io.read(out))
    res = CliRunner().invoke(main, args[:-4] + ["--out", str(out), "--quiet", "--format", "json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["rows_written"] == n and d["study"].startswith("bench-") and "done" not in res.stderr
    assert len(io.read(out)) == 2 * n


def test_cli_refuses_a_foreign_out_file_before_measuring(tmp_path):
    p = tmp_path / "mine.csv"
    p.write_text("x,y\n1,2\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["bench", "--quick", "--out", str(p)])
    assert res.exit_code == 2 and "not a metaquant measurements file" in res.stderr
    assert p.read_text(encoding="utf-8") == "x,y\n1,2\n"


def test_cuda_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    res = CliRunner().invoke(main, ["bench", "--device", "cuda", "--quick"])
    assert res.exit_code == 2 and "torch.cuda.is_available() is False" in res.stderr


# --------------------------------------------------------------------------
# Pieces with exact references
# --------------------------------------------------------------------------


def test_accuracy_and_macro_f1_against_hand_counts():
    y, p = [0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0]
    assert acc_fn(y, p) == pytest.approx(4 / 6)
    # class 0: TP 1, FP 1, FN 1 -> 2/4; class 1: TP 2, FP 1 -> 4/5; class 2: TP 1, FN 1 -> 2/3
    assert macro_f1(y, p) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    # a label only predicted counts with F1 = 0 (scikit-learn's label set: union of true and predicted)
    assert macro_f1([0, 0], [0, 1]) == pytest.approx((2 / 3 + 0) / 2)


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 8])
def test_bit_packing_round_trips_at_the_stated_size(bits):
    rng = np.random.default_rng(bits)
    v = rng.integers(0, 1 << bits, size=1001)
    packed = pack_bits(v, bits)
    assert packed.dtype == np.uint8 and packed.size == math.ceil(1001 * bits / 8)
    assert np.array_equal(unpack_bits(packed, bits, 1001), v)


def test_rtn_weight_quantization_error_is_at_most_half_a_step():
    w = torch.randn(7, 13, generator=torch.Generator().manual_seed(1))
    q, s = quantize_weight_rtn(w, 4)
    assert q.abs().max() <= 7
    err = (w - q.float() * s[:, None]).abs()
    assert (err <= s[:, None] / 2 + 1e-7).all()
    assert torch.allclose(w.abs().amax(1), 7 * s)


def test_scheme_parsing():
    names = [s.name for s in parse_schemes("all", "cpu", bf16=False)]
    assert names[:3] == ["fp16", "bf16", "int8-dynamic"] and "w2-sim" in names
    assert [s.name for s in parse_schemes(None, "cpu", bf16=False)] == [
        "int8-dynamic", "int8-static-tensor", "int8-static-channel", "w4-sim"]
    assert parse_schemes(None, "cuda", bf16=True)[0].name == "fp16"
    assert get_scheme("w5-sim").bits == 5 and get_scheme("int8-dynamic").run_device("cuda") == "cpu"
    for bad in ("int3", "w9-sim", ""):
        with pytest.raises(InputError):
            parse_schemes(bad, "cpu", bf16=False)


def test_rapl_reader_sums_packages_and_handles_wraparound(tmp_path, monkeypatch):
    assert find_rapl(tmp_path)[0] is None and NO_METER in find_rapl(tmp_path)[1]
    for i, (e, rng) in enumerate([(1000, 10**6), (999_990, 10**6)]):
        d = tmp_path / f"intel-rapl:{i}"
        d.mkdir()
        (d / "energy_uj").write_text(f"{e}\n")
        (d / "max_energy_range_uj").write_text(f"{rng}\n")
    (tmp_path / "intel-rapl:0:0").mkdir()  # a sub-domain (core): inside package 0, not added again
    meter, why = find_rapl(tmp_path)
    assert why == "" and len(meter.domains) == 2
    a = meter.read()
    (tmp_path / "intel-rapl:0" / "energy_uj").write_text("3000\n")  # +2000 uJ
    (tmp_path / "intel-rapl:1" / "energy_uj").write_text("20\n")  # wrapped: +10 + 20 uJ
    assert meter.joules(a, meter.read()) == pytest.approx(2030e-6)
    real = type(tmp_path).read_text

    def deny(self, *a, **k):
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied")
        return real(self, *a, **k)

    monkeypatch.setattr(type(tmp_path), "read_text", deny)
    meter, why = find_rapl(tmp_path)
    assert meter is None and "not readable" in why


def test_cnn_on_8x8_digits_path(monkeypatch):
    """The *-digits models with a stand-in for scikit-learn's loader (sklearn is not a dependency)."""
    rng = np.random.default_rng(3)
    target = np.repeat(np.arange(10), 40)
    images = rng.uniform(0, 4, size=(400, 8, 8)) + target[:, None, None]  # class shifts the intensity
    fake = types.ModuleType("sklearn.datasets")
    fake.load_digits = lambda: types.SimpleNamespace(images=images, target=target)
    monkeypatch.setitem(sys.modules, "sklearn", types.ModuleType("sklearn"))
    monkeypatch.setitem(sys.modules, "sklearn.datasets", fake)
    monkeypatch.setattr(bench_runner, "find_rapl", _no_meter)
    res = run_bench(BenchConfig(device="cpu", model="cnn-digits", quick=True, runs=1, run_seconds=0.05,
                                schemes="int8-dynamic,int8-static-channel", study="t-cnn"))
    assert res.skipped == [] and res.baselines["cpu"].n_eval == 120  # 30 % of 40 per class
    by = {v.scheme: v for v in res.variants}
    assert any("convolutions run in FP32" in n for n in by["int8-dynamic"].notes)
    assert by["int8-static-channel"].storage_bytes < 0.4 * res.baselines["cpu"].storage_bytes
    io.validate(res.to_frame().astype(object), "cnn")
