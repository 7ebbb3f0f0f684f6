"""``run_bench``: train, quantize, measure, and turn the measurements into evidence rows."""

from __future__ import annotations

import copy
import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..evidence import schema
from . import data, records
from ._torch import require_torch
from .meters import NO_METER, cpu_hardware, find_nvml, find_rapl, gpu_hardware
from .metrics import mean_sd_n
from .schemes import Scheme, parse_schemes

#: progress(label, completed, total): called at the start (0), after each step, and at the end (total).
Progress = Callable[[str, int, int], None]


@dataclass
class BenchConfig:
    """What ``metaquant bench`` runs.

    Attributes
    ----------
    device : {"auto", "cuda", "cpu"}
        ``auto`` takes CUDA when torch sees a GPU.
    model : str
        ``mlp-synth`` (default), ``cnn-synth``, ``mlp-digits``, ``cnn-digits``.
    schemes : str, list of str or None
        Comma list, ``all``, ``default`` or None (the default set, see
        :func:`metaquant.bench.schemes.default_schemes`).
    runs : int or None
        Timed runs per variant (the n of latency, throughput, energy, power);
        default 10, or 3 with ``quick``.
    study : str or None
        Study id of the rows; default ``bench-<hostname>-<YYYYMMDD>``.
    seed : int
        Seeds the task, the initial weights, the training order and QAT.
    quick : bool
        Short runs (``runs`` 3, 0.2 s per run, 0.1 s warm-up, 1 QAT epoch) for a smoke test.
    batch_size : int
        Images per timed batch.
    run_seconds, warmup_seconds : float or None
        Length of a timed run and of the warm-up (default 1.0 s and 0.5 s).
    threads : int
        ``torch.set_num_threads`` while measuring; 0 keeps torch's default (one
        thread per core).  The default, 1, gives single-stream latencies that
        stay stable on a shared or loaded machine, where several OpenMP threads
        can wait on a busy core for a whole scheduler slice per operation.
    """

    device: str = "auto"
    model: str = "mlp-synth"
    schemes: str | Sequence[str] | None = None
    runs: int | None = None
    study: str | None = None
    seed: int = 0
    quick: bool = False
    batch_size: int = 256
    run_seconds: float | None = None
    warmup_seconds: float | None = None
    threads: int = 1

    def resolved(self) -> dict:
        """Runs, run length, warm-up and QAT epochs after applying ``quick``."""
        return {
            "runs": self.runs if self.runs is not None else (3 if self.quick else 10),
            "run_seconds": self.run_seconds if self.run_seconds is not None else (0.2 if self.quick else 1.0),
            "warmup_seconds": self.warmup_seconds if self.warmup_seconds is not None else (0.1 if self.quick else 0.5),
            "qat_epochs": 1 if self.quick else 2,
        }


@dataclass
class VariantMeasurement:
    """Everything measured for one model variant (the FP32 baseline or a scheme) on one device.

    Fractions for accuracy and F1, bytes for sizes, seconds for latency,
    images/s for throughput, joules per batch and watts for energy and power;
    lists hold one value per timed run.  ``None`` means not measured (with the
    reason in ``energy_note`` / ``memory_method``), never zero.
    """

    scheme: str
    device: str
    hardware: str
    accuracy: float
    f1: float
    n_eval: int
    storage_bytes: int
    latency_s: list[float] | None = None
    throughput: list[float] | None = None
    batch_size: int | None = None
    batches_per_run: int | None = None
    peak_memory_bytes: float | None = None
    memory_method: str = ""
    energy_j: list[float] | None = None
    power_w: list[float] | None = None
    energy_property: str | None = None
    power_property: str | None = None
    energy_method: str = ""
    energy_note: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class BenchResult:
    """The measurements of one ``metaquant bench`` run and their evidence rows.

    Attributes
    ----------
    study, model, task : str
    device : str
        The device asked for after ``auto`` was resolved.
    config : BenchConfig
    baselines : dict
        Device -> FP32 :class:`VariantMeasurement`.
    variants : list of VariantMeasurement
        One per scheme that ran.
    skipped : list of (str, str)
        Schemes that could not run here, with the reason.
    provenance : str
        Versions, seed, start time (the ``provenance`` column).
    seconds : float
        Wall time of the whole run.
    study_explicit : bool
        Whether the study id was given (a default id is made unique on writing).
    started : str
        UTC start time (ISO 8601); part of the ``baseline_group`` id, so that two
        runs filed under one study never share a baseline.
    schemes : dict
        Name -> :class:`~metaquant.bench.schemes.Scheme` of the schemes asked for.
    """

    study: str
    model: str
    task: str
    device: str
    config: BenchConfig
    baselines: dict[str, VariantMeasurement]
    variants: list[VariantMeasurement]
    skipped: list[tuple[str, str]]
    provenance: str
    seconds: float
    study_explicit: bool = False
    started: str = ""
    schemes: dict[str, Scheme] = field(default_factory=dict)

    # ------------------------------------------------------------------ rows
    def _common_fields(self, v: VariantMeasurement, s: Scheme, bs: int | None) -> dict:
        """The columns shared by every row of one variant."""
        return {
            "study": self.study,
            "comparison": f"{self.model}|{s.name}|{v.device}",
            "model": self.model,
            "task": self.task,
            "hardware": v.hardware,
            "technique": s.technique,
            "granularity": s.granularity,
            "baseline_precision": "fp32",
            "quant_precision": s.quant_precision,
            "bits": float(s.bits),
            "act_bits": float(s.act_bits),
            "baseline_group": f"{self.study}|{self.model}|fp32|{v.device}|{self.started}",
            "provenance": self.provenance,
            "x_batch_size": bs,
        }

    def _comparison_rows(self, v: VariantMeasurement, include_unmeasured: bool) -> list[dict]:
        b = self.baselines[v.device]
        s = self.schemes[v.scheme]
        bs = v.batch_size or b.batch_size
        common = self._common_fields(v, s, bs)
        scheme_note = "; ".join([s.description] + v.notes)
        out = []
        add = partial(_add_row, out, common, scheme_note, include_unmeasured)
        _quality_rows(add, b, v, s)
        if s.simulated:
            return out
        runs = f"{len(v.latency_s)} timed runs of {v.batches_per_run} batches after warm-up; mean and sd over runs"
        _speed_rows(add, b, v, bs, runs)
        _energy_rows(add, b, v, bs, runs)
        return out

    def rows(self, include_unmeasured: bool = False) -> list[dict]:
        """Evidence rows, one per scheme x property.

        Parameters
        ----------
        include_unmeasured : bool
            Also list the properties that could not be measured (energy and
            power without a readable meter), with empty values and the reason
            in ``notes``.  Such rows are for display: metaquant's measurement
            form needs both means, so they are never written to a file.
        """
        return [r for v in self.variants for r in self._comparison_rows(v, include_unmeasured)]

    def to_frame(self, include_unmeasured: bool = False) -> pd.DataFrame:
        """:meth:`rows` as a DataFrame in :data:`metaquant.bench.records.COLUMNS` order (NaN = empty)."""
        rows = self.rows(include_unmeasured)
        return pd.DataFrame(rows, columns=list(records.COLUMNS)) if rows else pd.DataFrame(
            columns=list(records.COLUMNS))

    def unmeasured(self) -> list[dict]:
        """Scheme, property and reason of every property that was not measured."""
        return [{"scheme": r["comparison"].split("|")[1], "device": r["comparison"].split("|")[2],
                 "property": r["property"], "reason": r["notes"].removeprefix("not measured: ")}
                for r in self.rows(include_unmeasured=True) if r["notes"].startswith("not measured")]

    def summary(self) -> pd.DataFrame:
        """One line per scheme x measured property: baseline, quantized, unit, relative improvement (%; + = better)."""
        out = []
        for r in self.rows():
            out.append({"scheme": r["comparison"].split("|")[1], "device": r["comparison"].split("|")[2],
                        "property": r["property"], "unit": r["unit"], "baseline": r["baseline_mean"],
                        "baseline_sd": r["baseline_sd"], "quantized": r["quant_mean"], "quantized_sd": r["quant_sd"],
                        "n": r["quant_n"],
                        "change_pct": records.relative_improvement(r["baseline_mean"], r["quant_mean"],
                                                                   r["property"])})
        return pd.DataFrame(out)

    def to_dict(self) -> dict:
        """Plain-Python form for ``--format json`` (NaN becomes None)."""

        def clean(x):
            if isinstance(x, float) and math.isnan(x):
                return None
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, list | tuple):
                return [clean(v) for v in x]
            if isinstance(x, np.generic):
                return clean(x.item())
            return x

        return clean({
            "study": self.study, "model": self.model, "task": self.task, "device": self.device,
            "config": asdict(self.config) | {"schemes": list(self.schemes)} | self.config.resolved(),
            "hardware": {d: b.hardware for d, b in self.baselines.items()},
            "provenance": self.provenance, "seconds": self.seconds,
            "baselines": {d: asdict(b) for d, b in self.baselines.items()},
            "variants": [asdict(v) for v in self.variants],
            "summary": self.summary().to_dict("records"),
            "unmeasured": self.unmeasured(), "skipped": [{"scheme": s, "reason": r} for s, r in self.skipped],
        })

    # ----------------------------------------------------------------- write
    def write(self, path: str | Path) -> Path:
        """Append the measured rows to the CSV file ``path`` (see :func:`metaquant.bench.records.write_rows`).

        A default study id that the file already holds gets a suffix
        (``-2``, ``-3``, ...) so that every run stays its own study; an
        explicit ``--study`` that already holds one of these comparisons is refused.
        """
        have = records.existing_studies(path)
        mine = {r["comparison"] for r in self.rows()}
        if self.study in have and have[self.study] & mine:
            if self.study_explicit:
                clash = sorted(have[self.study] & mine)[0]
                raise InputError(f"study {self.study!r} already holds comparison {clash!r}; nothing was written",
                                 path=path, expected="another --study id")
            base, k = self.study, 2
            while f"{base}-{k}" in have:
                k += 1
            self.study = f"{base}-{k}"
        return records.write_rows(self.rows(), path)


def _ms(latency_s):
    m, sd, n = mean_sd_n([1e3 * t for t in latency_s])
    return m, sd, n


def _add_row(out: list[dict], common: dict, scheme_note: str, include_unmeasured: bool,
             prop, metric, unit, bstat, qstat, method) -> None:
    """Append the row of one property to ``out`` (a row with an unusable value only with ``include_unmeasured``)."""
    bm, bsd, bn = bstat
    qm, qsd, qn = qstat
    row = dict(common, property=prop, metric=metric, unit=unit,
               higher_is_better=schema.get_property(prop).higher_is_better)
    if bm is None or qm is None or not (bm > 0 and qm > 0):
        if not include_unmeasured:
            return
        why = method if (bm is None or qm is None) else f"a value of {min(bm, qm):g} cannot enter a ratio"
        row.update(baseline_mean=math.nan, baseline_sd=math.nan, baseline_n=math.nan, quant_mean=math.nan,
                   quant_sd=math.nan, quant_n=math.nan, notes=f"not measured: {why}")
    else:
        row.update(baseline_mean=bm, baseline_sd=bsd, baseline_n=bn, quant_mean=qm, quant_sd=qsd,
                   quant_n=qn, notes=f"{method}. Scheme: {scheme_note}")
    out.append(row)


def _one(x):
    return (x, math.nan, 1)  # a single measurement: no spread


def _quality_rows(add, b: VariantMeasurement, v: VariantMeasurement, s: Scheme) -> None:
    """Accuracy, macro-F1 and storage size (measured for every scheme, simulated ones included)."""
    ev = f"held-out split of {v.n_eval} images, one evaluation (n = 1, no spread)"
    add("accuracy", "top-1 accuracy", "%", _one(100 * b.accuracy), _one(100 * v.accuracy), "accuracy on the " + ev)
    add("f1_score", "macro-F1", "%", _one(100 * b.f1), _one(100 * v.f1), "macro-F1 on the " + ev)
    add("storage_size", "serialized state_dict size", "bytes", _one(float(b.storage_bytes)),
        _one(float(v.storage_bytes)),
        "bytes of torch.save(state_dict) to an in-memory buffer" + (" (bit-packed form)" if s.simulated else ""))


def _speed_rows(add, b: VariantMeasurement, v: VariantMeasurement, bs, runs: str) -> None:
    """Latency, throughput and peak memory."""
    add("inference_latency", f"latency per batch of {bs}", "ms", _ms(b.latency_s), _ms(v.latency_s),
        f"wall time per batch (time.perf_counter; device synchronized around each run); {runs}")
    add("throughput", f"images per second (batch {bs})", "images/s", mean_sd_n(b.throughput),
        mean_sd_n(v.throughput), f"batch size / latency of each run; {runs}")
    add("peak_memory", "peak memory of one forward pass", "bytes",
        _one(b.peak_memory_bytes) if b.peak_memory_bytes is not None else (None, None, None),
        _one(v.peak_memory_bytes) if v.peak_memory_bytes is not None else (None, None, None),
        v.memory_method or b.memory_method)


def _energy_rows(add, b: VariantMeasurement, v: VariantMeasurement, bs, runs: str) -> None:
    """Energy per batch and mean power (with the reason when no meter could be read)."""
    eprop = v.energy_property or b.energy_property or (
        "gpu_energy_consumption" if v.device.startswith("cuda") else "inference_energy_consumption")
    pprop = v.power_property or b.power_property or (
        "gpu_power_draw" if v.device.startswith("cuda") else "inference_power_draw")
    measured = v.energy_j is not None and b.energy_j is not None
    missing = (None, None, None)
    why = v.energy_note or b.energy_note or NO_METER
    add(eprop, f"energy per batch of {bs}", "J", mean_sd_n(b.energy_j) if measured else missing,
        mean_sd_n(v.energy_j) if measured else missing,
        f"{v.energy_method}: counter difference over each run / batches in the run; {runs}" if measured else why)
    add(pprop, "mean power while inferring", "W", mean_sd_n(b.power_w) if measured else missing,
        mean_sd_n(v.power_w) if measured else missing,
        f"{v.energy_method}: counter difference / wall time of each run; {runs}" if measured else why)


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------


def _resolve_device(torch, device: str) -> str:
    device = (device or "auto").lower()
    if device not in ("auto", "cpu", "cuda"):
        raise InputError(f"unknown device {device!r}", column="--device", expected="auto, cuda or cpu")
    has_cuda = bool(torch.cuda.is_available())
    if device == "auto":
        return "cuda" if has_cuda else "cpu"
    if device == "cuda" and not has_cuda:
        build = torch.version.cuda or "none (a CPU-only build)"
        raise InputError(f"CUDA was asked for but torch.cuda.is_available() is False (torch {torch.__version__}, "
                         f"CUDA {build})", column="--device", expected="--device cpu, or a CUDA build of torch")
    return device


def _cpu_bf16_native(torch) -> bool:
    fns = [getattr(torch.cpu, n, None) for n in ("_is_avx512_bf16_supported", "_is_amx_tile_supported",
                                                  "_is_arm_sve_bf16_supported")]
    for fn in fns:
        try:
            if fn is not None and fn():
                return True
        except Exception:  # private helpers: absent or failing means "not known to be native"
            continue
    return False


def _provenance(torch, config: BenchConfig, started: datetime) -> str:
    from .. import __version__
    try:
        import pynvml  # noqa: F401

        nvml = "; nvidia-ml-py present"
    except ImportError:
        nvml = ""
    return (f"metaquant bench {__version__} (torch {torch.__version__}, numpy {np.__version__}, "
            f"python {platform.python_version()}, {platform.system()} {platform.release()}{nvml}); "
            f"seed {config.seed}; {'quick; ' if config.quick else ''}started {started:%Y-%m-%dT%H:%M:%SZ}")


def _check_sizes(config: BenchConfig, rc: dict) -> None:
    if rc["runs"] < 1:
        raise InputError(f"runs must be at least 1, not {rc['runs']}", column="--runs")
    if config.batch_size < 1:
        raise InputError(f"batch size must be at least 1, not {config.batch_size}", column="--batch-size")


def _enter_measuring_mode(torch, config: BenchConfig, device: str):
    """Set the thread count and (CUDA) turn TF32 off; return what to restore: (threads, TF32 flags or None)."""
    threads_before = torch.get_num_threads()
    if config.threads < 0:
        raise InputError(f"threads must be 0 (torch's default) or more, not {config.threads}", column="--threads")
    if config.threads:
        torch.set_num_threads(int(config.threads))
    tf32 = None
    if device == "cuda":  # FP32 must mean FP32: no TF32 tensor-core shortcuts in the baseline
        tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return threads_before, tf32


def _hardware_and_meters(torch, device: str, engine) -> tuple[dict, dict]:
    """Device -> hardware description, and device -> (energy meter or None, note)."""
    threads = torch.get_num_threads()
    host = cpu_hardware(threads, engine)
    hardware = {"cpu": host}
    meters = {}
    rapl, rapl_note = find_rapl()
    meters["cpu"] = (rapl, rapl_note)
    if device == "cuda":
        idx = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(idx)
        hardware["cuda"] = gpu_hardware(torch.cuda.get_device_name(idx), props.total_memory,
                                        torch.version.cuda, host)
        uuid = str(getattr(props, "uuid", "")) or None
        pci = None
        if all(hasattr(props, a) for a in ("pci_domain_id", "pci_bus_id", "pci_device_id")):
            pci = f"{props.pci_domain_id:08x}:{props.pci_bus_id:02x}:{props.pci_device_id:02x}.0"
        meters["cuda"] = find_nvml(idx, uuid, pci)
    return hardware, meters


def _run_devices(schemes: list[Scheme], device: str) -> list[str]:
    """The devices the schemes run on, in first-use order."""
    run_devices = []
    for s in schemes:
        d = s.run_device(device)
        if d not in run_devices:
            run_devices.append(d)
    return run_devices


def _measure_variant(measure, report: Progress, task, config: BenchConfig, rc: dict, hardware: dict, meters: dict,
                     label: str, name: str, var, simulated: bool) -> VariantMeasurement:
    t0 = time.perf_counter()
    total = 1 + (0 if simulated else rc["runs"] + 2)
    done = [0]

    def step():
        done[0] += 1
        report(label, done[0], total)

    acc, f1, n = measure.evaluate(var.model, task, var.device, var.input_dtype)
    step()
    m = VariantMeasurement(name, var.device, hardware[var.device], acc, f1, n, var.storage_bytes,
                           notes=list(var.notes))
    if not simulated:
        batches = measure.make_batches(task.X_test, config.batch_size, var.device, var.input_dtype)
        meter, note = meters[var.device]
        tm = measure.time_runs(var.model, batches, device=var.device, runs=rc["runs"],
                               run_seconds=rc["run_seconds"], warmup_seconds=rc["warmup_seconds"],
                               meter=meter, meter_note=note, on_step=step)
        m.latency_s, m.throughput = tm.latency_s, tm.throughput
        m.batch_size, m.batches_per_run = tm.batch_size, tm.batches_per_run
        m.energy_j, m.power_w, m.energy_note = tm.energy_j, tm.power_w, tm.energy_note
        if meter is not None:
            m.energy_property, m.power_property = meter.energy_property, meter.power_property
            m.energy_method = f"{meter.name} ({meter.scope})"
        m.peak_memory_bytes, m.memory_method = measure.peak_memory(var.model, batches[0], var.device)
        step()
    m.seconds = time.perf_counter() - t0
    return m


def _measure_baselines(torch, quantize, fp32, run_devices: list[str], report: Progress,
                       measure_variant) -> dict[str, VariantMeasurement]:
    """The FP32 model measured on every device a scheme runs on."""
    baselines = {}
    for d in run_devices:
        label = f"fp32 [{d}]"
        report(label, 0, 1)
        var = quantize.Variant(copy.deepcopy(fp32).to(d).eval(), d, torch.float32,
                               quantize.serialized_bytes(fp32.state_dict()))
        baselines[d] = measure_variant(label, "fp32", var, simulated=False)
    return baselines


def _measure_schemes(quantize, schemes: list[Scheme], fp32, task, device: str, config: BenchConfig, rc: dict, engine,
                     cpu_bf16: bool, report: Progress, measure_variant):
    """Build and measure every scheme: (measurements, [(scheme, reason)] of those that failed)."""
    variants, skipped = [], []
    for s in schemes:
        d = s.run_device(device)
        label = f"{s.name} [{d}]"
        report(label, 0, 1)
        try:
            var = quantize.build_variant(s, fp32, task, device=d, seed=config.seed, engine=engine,
                                         qat_epochs=rc["qat_epochs"])
            if d == "cpu" and s.name == "bf16" and not cpu_bf16:
                var.notes.append("this CPU has no native bf16 instructions: bf16 arithmetic is emulated")
            if d == "cpu" and s.name == "fp16":
                var.notes.append("fp16 on a CPU runs largely emulated kernels")
            variants.append(measure_variant(label, s.name, var, simulated=s.simulated))
        except Exception as exc:  # one scheme failing (an unsupported backend op) must not lose the others
            skipped.append((s.name, f"{exc.__class__.__name__}: {exc}".strip()))
            report(label, 1, 1)
    return variants, skipped


def run_bench(config: BenchConfig | None = None, progress: Progress | None = None) -> BenchResult:
    """Train the FP32 model, quantize it with every scheme, and measure each variant.

    Parameters
    ----------
    config : BenchConfig
    progress : callable, optional
        ``progress(label, completed, total)`` for a progress display.

    Returns
    -------
    BenchResult
        ``.rows()`` are evidence rows in metaquant's measurement form;
        ``.write(path)`` appends them to a CSV file.

    Notes
    -----
    Per variant: accuracy and macro-F1 on the held-out split (one
    evaluation); storage = bytes of ``torch.save(state_dict)``; latency and
    throughput over ``runs`` timed runs (:func:`metaquant.bench.measure.time_runs`);
    peak memory of one forward pass (:func:`metaquant.bench.measure.peak_memory`);
    energy and power from NVML (CUDA) or RAPL (CPU) when readable.  Each
    scheme is compared with the FP32 model *on the device it ran on*.
    """
    config = config or BenchConfig()
    torch = require_torch()
    from . import measure, models, quantize

    t_start = time.perf_counter()
    started = datetime.now(UTC)
    rc = config.resolved()
    _check_sizes(config, rc)
    device = _resolve_device(torch, config.device)
    spec = models.get_model_spec(config.model)
    cuda_bf16 = device == "cuda" and bool(torch.cuda.is_bf16_supported())
    cpu_bf16 = _cpu_bf16_native(torch)
    schemes = parse_schemes(config.schemes, device, bf16=cuda_bf16 if device == "cuda" else cpu_bf16)
    task = data.load_task(spec.task, config.seed)
    engine = quantize.select_engine()
    report = progress or (lambda label, done, total: None)

    threads_before, tf32 = _enter_measuring_mode(torch, config, device)
    try:
        report(f"train {spec.name}", 0, 1)
        fp32, _ = models.trained_model(spec, task, config.seed)
        report(f"train {spec.name}", 1, 1)
        hardware, meters = _hardware_and_meters(torch, device, engine)
        measure_variant = partial(_measure_variant, measure, report, task, config, rc, hardware, meters)
        baselines = _measure_baselines(torch, quantize, fp32, _run_devices(schemes, device), report, measure_variant)
        variants, skipped = _measure_schemes(quantize, schemes, fp32, task, device, config, rc, engine, cpu_bf16,
                                             report, measure_variant)
    finally:
        torch.set_num_threads(threads_before)
        if tf32 is not None:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32

    study = config.study or records.default_study_id()
    return BenchResult(
        study=study, model=spec.name, task=task.description, device=device, config=config, baselines=baselines,
        variants=variants, skipped=skipped, provenance=_provenance(torch, config, started),
        seconds=time.perf_counter() - t_start, study_explicit=config.study is not None,
        started=f"{started:%Y-%m-%dT%H:%M:%SZ}", schemes={s.name: s for s in schemes},
    )
