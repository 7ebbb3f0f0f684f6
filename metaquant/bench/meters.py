"""Hardware descriptions and energy meters (no torch import).

Energy is read from the counters the hardware keeps, never estimated:

* NVIDIA GPUs: NVML's ``nvmlDeviceGetTotalEnergyConsumption`` (millijoules
  since the driver was loaded; Volta and later), through ``pynvml`` from the
  ``nvidia-ml-py`` package.
* CPUs: Linux powercap RAPL package counters
  ``/sys/class/powercap/intel-rapl:<n>/energy_uj`` (Intel, and AMD Zen under
  the same driver), summed over packages, with wrap-around at
  ``max_energy_range_uj``.  Many systems make them readable by root only.

When no counter can be read the harness reports the energy and power
properties as *not measured*, with the reason; it never writes a zero or an
estimate in their place.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

NO_METER = "no energy meter readable"


# --------------------------------------------------------------------------
# Hardware strings
# --------------------------------------------------------------------------


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (``model name``; ``Hardware``/``Model`` on ARM), else platform."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for key in ("model name", "Hardware", "Model", "cpu model"):
        m = re.search(rf"^{key}\s*:\s*(.+)$", text, flags=re.MULTILINE)
        if m and m.group(1).strip():
            return m.group(1).strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_hardware(threads: int, engine: str) -> str:
    """E.g. ``"AMD EPYC (x86_64, 2 logical CPUs; torch threads 1; quantized engine x86)"``."""
    return (f"{cpu_name()} ({platform.machine()}, {os.cpu_count()} logical CPUs; torch threads {threads}; "
            f"quantized engine {engine})")


def gpu_hardware(name: str, total_bytes: int, cuda_version: str | None, host: str) -> str:
    """E.g. ``"NVIDIA H100 80GB HBM3 (79.1 GiB, CUDA 12.8); host AMD EPYC 9654"``."""
    return f"{name} ({total_bytes / 2**30:.1f} GiB, CUDA {cuda_version}); host {host}"


# --------------------------------------------------------------------------
# Energy meters
# --------------------------------------------------------------------------


@dataclass
class RaplMeter:
    """Sum of the RAPL package counters.

    Attributes
    ----------
    domains : list of (Path, int)
        ``energy_uj`` file and ``max_energy_range_uj`` of each package.
    """

    domains: list[tuple[Path, int]]
    name: str = "RAPL package energy (/sys/class/powercap)"
    energy_property: str = "inference_energy_consumption"
    power_property: str = "inference_power_draw"
    scope: str = ("whole CPU package(s), every process included (idle and other load too), DRAM and "
                  "the rest of the system excluded")

    def read(self) -> tuple[int, ...]:
        return tuple(int(p.read_text().strip()) for p, _ in self.domains)

    def joules(self, a: tuple[int, ...], b: tuple[int, ...]) -> float:
        """Energy between two readings; a counter that wrapped adds its range."""
        total = 0
        for (_, rng), x0, x1 in zip(self.domains, a, b, strict=True):
            total += x1 - x0 if x1 >= x0 else x1 + rng - x0
        return total / 1e6


def find_rapl(root: str | Path = "/sys/class/powercap") -> tuple[RaplMeter | None, str]:
    """The RAPL meter if its counters can be read, else None and why."""
    root = Path(root)
    dirs = sorted(p for p in root.glob("intel-rapl:*") if re.fullmatch(r"intel-rapl:\d+", p.name))
    if not dirs:
        return None, f"{NO_METER}: no RAPL package domains under {root}"
    domains = []
    for d in dirs:
        try:
            int((d / "energy_uj").read_text().strip())
            rng = int((d / "max_energy_range_uj").read_text().strip())
        except PermissionError:
            return None, f"{NO_METER}: {d / 'energy_uj'} is not readable (root only on this system)"
        except (OSError, ValueError) as exc:
            return None, f"{NO_METER}: cannot read {d / 'energy_uj'} ({exc.__class__.__name__})"
        domains.append((d / "energy_uj", rng))
    return RaplMeter(domains), ""


@dataclass
class NvmlMeter:
    """NVML total-energy counter of one GPU (millijoules)."""

    handle: object
    nvml: object
    name: str = "NVML nvmlDeviceGetTotalEnergyConsumption"
    energy_property: str = "gpu_energy_consumption"
    power_property: str = "gpu_power_draw"
    scope: str = "the whole GPU board, every process on it included"

    def read(self) -> int:
        return int(self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))

    def joules(self, a: int, b: int) -> float:
        return (b - a) / 1e3


def find_nvml(index: int, uuid: str | None = None, pci_bus_id: str | None = None) -> tuple[NvmlMeter | None, str]:
    """The NVML meter of the GPU torch calls ``cuda:index``, else None and why.

    The GPU is found by UUID, then PCI bus id, and only then by index (NVML
    ignores ``CUDA_VISIBLE_DEVICES``, so its indices can differ from torch's).
    """
    try:
        import pynvml
    except ImportError:
        return None, f"{NO_METER}: pynvml is not installed (pip install nvidia-ml-py)"
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError and driver-load failures
        return None, f"{NO_METER}: NVML did not initialise ({exc})"
    handle = None
    for how, arg in (("uuid", uuid), ("pci", pci_bus_id), ("index", index)):
        if arg is None:
            continue
        try:
            if how == "uuid":
                handle = pynvml.nvmlDeviceGetHandleByUUID(arg if arg.startswith("GPU-") else "GPU-" + arg)
            elif how == "pci":
                handle = pynvml.nvmlDeviceGetHandleByPciBusId(arg)
            else:
                handle = pynvml.nvmlDeviceGetHandleByIndex(arg)
            break
        except Exception:  # try the next way of naming the GPU
            continue
    if handle is None:
        return None, f"{NO_METER}: NVML cannot find GPU {index}"
    meter = NvmlMeter(handle, pynvml)
    try:
        meter.read()
    except Exception as exc:  # NVMLError_NotSupported on pre-Volta GPUs
        return None, f"{NO_METER}: NVML total energy is not supported on this GPU ({exc})"
    return meter, ""
