"""The benchmark harness: measure real quantized models and emit evidence rows.

``metaquant bench`` trains a small seeded network on a task that needs no
download, quantizes it with several schemes (fp16 / bf16, int8 dynamic,
int8 static per-tensor and per-channel, QAT, simulated low-bit weight-only),
measures accuracy, F1, storage, latency, throughput, peak memory and, where a
meter is readable, energy and power, and writes rows in metaquant's
measurement form, so that a user's own runs join the pool::

    from metaquant.bench import BenchConfig, run_bench
    res = run_bench(BenchConfig(device="cpu", quick=True))
    res.write("my-runs.csv")          # append; then: metaquant fit --data my-runs.csv ...

PyTorch is an optional extra (``pip install "metaquant[bench]"``).  This
package imports without it; :func:`run_bench` raises
:class:`TorchMissingError` when it is missing.  See ``docs/bench-harness.md``.
"""

from ._torch import INSTALL_HINT, TorchMissingError, require_torch, torch_available
from .data import Task, digits, load_task, synth_blobs
from .meters import NO_METER, cpu_hardware, find_nvml, find_rapl
from .metrics import accuracy, macro_f1, mean_sd_n
from .records import COLUMNS, default_study_id, write_rows
from .runner import BenchConfig, BenchResult, VariantMeasurement, run_bench
from .schemes import ALL_NAMES, Scheme, default_schemes, get_scheme, parse_schemes

__all__ = [
    "ALL_NAMES", "BenchConfig", "BenchResult", "COLUMNS", "INSTALL_HINT", "NO_METER", "Scheme", "Task",
    "TorchMissingError", "VariantMeasurement", "accuracy", "cpu_hardware", "default_schemes", "default_study_id",
    "digits", "find_nvml", "find_rapl", "get_scheme", "load_task", "macro_f1", "mean_sd_n", "parse_schemes",
    "require_torch", "run_bench", "synth_blobs", "torch_available", "write_rows",
]
