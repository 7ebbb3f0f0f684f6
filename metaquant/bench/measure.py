"""Measuring one model: accuracy, latency, energy, peak memory (imports torch)."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from . import metrics
from .meters import NO_METER
from .quantize import quiet_ao, resident_tensor_bytes


def make_batches(X: np.ndarray, batch_size: int, device: str, dtype: torch.dtype) -> list[torch.Tensor]:
    """Full batches of the held-out images on ``device`` (a single batch when fewer images than ``batch_size``)."""
    bs = min(batch_size, len(X))
    return [torch.from_numpy(X[i : i + bs].copy()).to(device=device, dtype=dtype)
            for i in range(0, len(X) - bs + 1, bs)]


def predict(model, X: np.ndarray, device: str, dtype: torch.dtype, batch_size: int = 512) -> np.ndarray:
    """Arg-max class of every image in ``X``."""
    out = []
    with torch.inference_mode(), quiet_ao():
        for i in range(0, len(X), batch_size):
            x = torch.from_numpy(X[i : i + batch_size].copy()).to(device=device, dtype=dtype)
            out.append(model(x).float().argmax(dim=1).cpu().numpy())
    return np.concatenate(out)


def evaluate(model, task, device: str, dtype: torch.dtype) -> tuple[float, float, int]:
    """Accuracy and macro-F1 (fractions) on the held-out split, and its size."""
    pred = predict(model, task.X_test, device, dtype)
    return metrics.accuracy(task.y_test, pred), metrics.macro_f1(task.y_test, pred), len(task.y_test)


def synchronizer(device: str) -> Callable[[], None]:
    """``torch.cuda.synchronize`` on CUDA (kernels are asynchronous), a no-op on the CPU."""
    if device.startswith("cuda"):
        return torch.cuda.synchronize
    return lambda: None


@dataclass
class Timing:
    """Repeated timed runs of one model.

    Attributes
    ----------
    latency_s : list of float
        Per run, the mean wall time of one batch (seconds).
    batches_per_run : int
    batch_size : int
    energy_j : list of float or None
        Per run, metered energy per batch (J); None when not measured.
    power_w : list of float or None
        Per run, mean power (J / s) over the run; None when not measured.
    energy_note : str
        Why energy is missing (empty when it was measured).
    """

    latency_s: list[float]
    batches_per_run: int
    batch_size: int
    energy_j: list[float] | None
    power_w: list[float] | None
    energy_note: str

    @property
    def throughput(self) -> list[float]:
        """Images per second of each run: batch_size / latency."""
        return [self.batch_size / t for t in self.latency_s]


def time_runs(model, batches: list[torch.Tensor], *, device: str, runs: int, run_seconds: float,
              warmup_seconds: float, meter=None, meter_note: str = NO_METER,
              on_step: Callable[[], None] | None = None) -> Timing:
    """Time ``runs`` runs of k batches each, after a warm-up.

    The warm-up runs batches for ``warmup_seconds`` (at least 3).  A short
    pilot then sets k = max(5, ceil(run_seconds / t_batch)) so that each run
    lasts about ``run_seconds`` (long enough for the energy counters, which
    update every few milliseconds).  Every run synchronizes the device, reads
    the energy counter, runs k batches, synchronizes again and reads the
    counter: latency = Δt / k, energy per batch = ΔE / k, power = ΔE / Δt.
    A run whose counter did not advance (ΔE <= 0) means the meter is too
    coarse for the run length; energy is then reported as not measured rather
    than as zero.
    """
    sync = synchronizer(device)
    nb = len(batches)
    step = on_step or (lambda: None)
    with torch.inference_mode(), quiet_ao():
        sync()
        t_end, i = time.perf_counter() + warmup_seconds, 0
        while i < 3 or time.perf_counter() < t_end:
            model(batches[i % nb])
            i += 1
        sync()
        t0, j = time.perf_counter(), 0
        while j < 3 or time.perf_counter() - t0 < min(0.05, run_seconds / 4):
            model(batches[j % nb])
            j += 1
        sync()
        per_batch = (time.perf_counter() - t0) / j
        k = max(5, math.ceil(run_seconds / max(per_batch, 1e-9)))
        step()
        lat, energy, power = [], [], []
        note = "" if meter is not None else meter_note

        def read():
            if meter is None or note:
                return None
            try:
                return meter.read()
            except Exception as exc:  # a driver error mid-run: energy is lost, the timing is not
                return exc

        for r in range(runs):
            sync()
            e0 = read()
            t0 = time.perf_counter()
            for b in range(k):
                model(batches[(r * k + b) % nb])
            sync()
            t1 = time.perf_counter()
            e1 = read()
            dt = t1 - t0
            lat.append(dt / k)
            if isinstance(e0, Exception) or isinstance(e1, Exception):
                bad = e0 if isinstance(e0, Exception) else e1
                note = f"{NO_METER}: reading {meter.name} failed ({bad.__class__.__name__}: {bad})"
            elif e0 is not None and e1 is not None:
                de = meter.joules(e0, e1)
                if de <= 0:
                    note = (f"{NO_METER} at this run length: {meter.name} did not advance during a "
                            f"{dt * 1e3:.0f} ms run (use longer runs, --run-seconds)")
                energy.append(de / k)
                power.append(de / dt)
            step()
    ok = meter is not None and not note
    return Timing(lat, k, int(batches[0].shape[0]), energy if ok else None, power if ok else None, note)


@contextmanager
def _stderr_fd_silenced():
    """Point file descriptor 2 at /dev/null (the profiler's C++ layer logs there on every start and stop)."""
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError):
        pass
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def cpu_allocator_peak(model, batch: torch.Tensor) -> int | None:
    """Peak of the bytes torch's CPU allocator holds during one forward pass, above the level at its start.

    Read from the allocation and free events of ``torch.profiler`` with
    ``profile_memory=True``: the events are put in time order and the running
    sum's maximum is the peak (activations, quantized copies of inputs,
    kernel workspaces).  None when this torch's profiler does not expose the events.
    """
    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode(), quiet_ao():
        model(batch)
        try:
            with _stderr_fd_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
                model(batch)
            events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
            events.sort(key=lambda e: e.start_ns())
            level = peak = 0
            for e in events:
                level += int(e.nbytes())
                peak = max(peak, level)
        except (AttributeError, RuntimeError):
            return None
    return peak if events else None


CPU_MEMORY_METHOD = ("model tensors (state_dict bytes) + input batch + peak of torch's CPU allocator during one "
                     "forward pass (torch.profiler memory events); Python and the torch runtime not counted")
CUDA_MEMORY_METHOD = ("torch.cuda.max_memory_allocated over one forward pass after reset_peak_memory_stats "
                      "(weights, input and activations on the device)")


def peak_memory(model, batch: torch.Tensor, device: str) -> tuple[float | None, str]:
    """Peak memory of one forward pass of ``batch`` (bytes) and how it was measured."""
    if device.startswith("cuda"):
        with torch.inference_mode(), quiet_ao():
            model(batch)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            model(batch)
            torch.cuda.synchronize()
            return float(torch.cuda.max_memory_allocated()), CUDA_MEMORY_METHOD
    act = cpu_allocator_peak(model, batch)
    if act is None:
        return None, "peak memory not measured: torch.profiler memory events unavailable in this torch"
    return float(resident_tensor_bytes(model) + batch.numel() * batch.element_size() + act), CPU_MEMORY_METHOD
