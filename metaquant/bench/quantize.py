"""Build the quantized variants of a trained FP32 network (imports torch).

Every builder returns a new module and leaves the FP32 model untouched.  The
int8 schemes use ``torch.ao.quantization`` (eager dynamic quantization and FX
graph-mode static quantization / QAT), whose kernels are fbgemm / x86 /
qnnpack on the CPU.  torch marks that namespace deprecated in favour of the
separate ``torchao`` package; it is still present and working in torch 2.13,
and its deprecation warnings are silenced here (and only here).
"""

from __future__ import annotations

import copy
import io
import platform
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .schemes import Scheme


@contextmanager
def quiet_ao():
    """Silence torch.ao's deprecation warnings (they would repeat once per layer and per call)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization is deprecated.*")
        warnings.filterwarnings("ignore", message=r".*quantized tensor creation functions.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.ao.*")
        warnings.filterwarnings("ignore", message=r".*must run observer before calling calculate_qparams.*")
        warnings.filterwarnings("ignore", message=r".*reduce_range will be deprecated.*")
        yield


def select_engine() -> str:
    """The quantized CPU backend: ``x86`` (fbgemm + onednn) on x86-64, ``qnnpack`` on ARM."""
    engines = list(torch.backends.quantized.supported_engines)
    arm = platform.machine().lower() in ("arm64", "aarch64")
    for e in (("qnnpack",) if arm else ()) + ("x86", "fbgemm", "qnnpack", "onednn"):
        if e in engines:
            return e
    return engines[0] if engines else "none"


# --------------------------------------------------------------------------
# Sizes
# --------------------------------------------------------------------------


def serialized_bytes(state_dict: dict) -> int:
    """Bytes of ``torch.save(state_dict)`` written to an in-memory buffer (the storage size)."""
    buf = io.BytesIO()
    torch.save(state_dict, buf)
    return len(buf.getvalue())


def _tensor_bytes(t: torch.Tensor) -> int:
    n = t.numel() * t.element_size()
    if t.is_quantized and t.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric,
                                          torch.per_channel_affine_float_qparams):
        n += t.q_per_channel_scales().numel() * 8 + t.q_per_channel_zero_points().numel() * 8
    elif t.is_quantized:
        n += 16  # one double scale, one int64 zero point
    return n


def resident_tensor_bytes(model: nn.Module) -> int:
    """Bytes of the tensors in ``model.state_dict()`` (packed int8 weights counted at one byte per weight).

    fbgemm / x86 keep int8 weights in their own packed layout, which adds a few
    int32 column offsets per output channel; this count is the tensors as the
    state_dict unpacks them, which is within that margin.
    """

    def walk(v) -> int:
        if isinstance(v, torch.Tensor):
            return _tensor_bytes(v)
        if isinstance(v, tuple | list):
            return sum(walk(x) for x in v)
        return 0

    with quiet_ao():
        return sum(walk(v) for v in model.state_dict().values())


# --------------------------------------------------------------------------
# Simulated low-bit weight-only quantization
# --------------------------------------------------------------------------


def pack_bits(values: np.ndarray, bits: int) -> np.ndarray:
    """Pack unsigned integers < 2**bits densely, most significant bit first, into uint8.

    The result has ceil(n·bits / 8) bytes (:func:`metaquant.bench.schemes.packed_bytes`).
    """
    v = np.asarray(values, dtype=np.uint16).ravel()
    if v.size and int(v.max()) >= 1 << bits:
        raise ValueError(f"value {int(v.max())} does not fit in {bits} bits")
    bitplanes = ((v[:, None] >> np.arange(bits - 1, -1, -1, dtype=np.uint16)) & 1).astype(np.uint8)
    return np.packbits(bitplanes.ravel())


def unpack_bits(packed: np.ndarray, bits: int, n: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: the first ``n`` ``bits``-bit values as int64."""
    flat = np.unpackbits(np.asarray(packed, dtype=np.uint8))[: n * bits].reshape(n, bits).astype(np.int64)
    return flat @ (1 << np.arange(bits - 1, -1, -1, dtype=np.int64))


def _quantizable(model: nn.Module):
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear | nn.Conv2d):
            yield name, mod


def quantize_weight_rtn(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric round-to-nearest per-output-channel quantization.

    q = clamp(round(w / s_c), -Q, Q), Q = 2^(bits-1) - 1, s_c = max|w_c| / Q
    (s_c = 1 for an all-zero channel).  Returns the integers q (int16) and the
    scales s (float32, one per output channel).
    """
    Q = (1 << (bits - 1)) - 1
    flat = w.detach().reshape(w.shape[0], -1).to(torch.float32)
    amax = flat.abs().amax(dim=1)
    scale = torch.where(amax > 0, amax / Q, torch.ones_like(amax))
    q = torch.clamp(torch.round(flat / scale[:, None]), -Q, Q).to(torch.int16)
    return q.reshape(w.shape), scale


def simulate_weight_only(model: nn.Module, bits: int) -> tuple[nn.Module, dict]:
    """The FP32 network with every Linear / Conv2d weight replaced by its dequantized RTN value.

    Returns
    -------
    sim : nn.Module
        A copy whose weights are q·s (FP32 arithmetic).
    packed : dict
        The storage form: for each quantized layer ``<name>.weight_packed``
        (uint8, bits per weight of q + Q, see :func:`pack_bits`),
        ``<name>.weight_scale`` (float32 per channel) and ``<name>.weight_shape``;
        every other tensor of the state_dict (biases) as it is.
    """
    Q = (1 << (bits - 1)) - 1
    sim = copy.deepcopy(model).eval()
    packed = {}
    done = set()
    with torch.no_grad():
        for name, mod in _quantizable(sim):
            q, s = quantize_weight_rtn(mod.weight, bits)
            shape = (-1,) + (1,) * (mod.weight.dim() - 1)
            mod.weight.copy_(q.to(torch.float32) * s.reshape(shape))
            key = f"{name}.weight" if name else "weight"
            packed[key + "_packed"] = torch.from_numpy(pack_bits((q + Q).numpy().astype(np.uint16), bits))
            packed[key + "_scale"] = s.clone()
            packed[key + "_shape"] = torch.tensor(list(mod.weight.shape), dtype=torch.int64)
            done.add(key)
    for k, v in sim.state_dict().items():
        if k not in done:
            packed[k] = v.clone()
    return sim, packed


# --------------------------------------------------------------------------
# The variants
# --------------------------------------------------------------------------


@dataclass
class Variant:
    """A model ready to measure.

    Attributes
    ----------
    model : nn.Module
        In eval mode, on ``device``.
    device : str
    input_dtype : torch.dtype
        The dtype the inputs are cast to.
    storage_bytes : int
        Serialized size (:func:`serialized_bytes` of the state_dict, or of the packed form).
    notes : list of str
    """

    model: nn.Module
    device: str
    input_dtype: torch.dtype
    storage_bytes: int
    notes: list[str] = field(default_factory=list)


def _example(X: np.ndarray) -> tuple[torch.Tensor]:
    return (torch.from_numpy(X[:1].copy()),)


def static_qconfig_mapping(engine: str, per_channel: bool):
    """torch's default activation observer for ``engine`` with a per-tensor or per-channel qint8 weight observer."""
    from torch.ao.quantization import (
        MinMaxObserver,
        PerChannelMinMaxObserver,
        QConfig,
        QConfigMapping,
        get_default_qconfig,
    )

    extra = {"quant_min": -127, "quant_max": 127} if engine == "qnnpack" else {}
    if per_channel:
        w = PerChannelMinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_channel_symmetric, **extra)
    else:
        w = MinMaxObserver.with_args(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric, **extra)
    return QConfigMapping().set_global(QConfig(activation=get_default_qconfig(engine).activation, weight=w))


def build_variant(scheme: Scheme, fp32: nn.Module, task, *, device: str, seed: int, engine: str,
                  calib_size: int = 512, qat_epochs: int = 2) -> Variant:
    """Quantize the trained FP32 network ``fp32`` (on the CPU) with ``scheme``.

    Parameters
    ----------
    scheme : Scheme
    fp32 : nn.Module
        The trained network, on the CPU, in eval mode; not modified.
    task : Task
        Calibration uses the first ``calib_size`` *training* images; QAT
        fine-tunes on the training split; the held-out split is never seen.
    device : str
        ``"cpu"`` or ``"cuda"``; int8 schemes accept only ``"cpu"``.
    seed : int
        Seeds the QAT fine-tuning.
    engine : str
        The torch.backends.quantized engine (:func:`select_engine`).
    """
    from . import models

    base = copy.deepcopy(fp32).eval()
    notes: list[str] = []
    if scheme.name in ("fp16", "bf16"):
        dtype = torch.float16 if scheme.name == "fp16" else torch.bfloat16
        m = base.to(device=device, dtype=dtype).eval()
        return Variant(m, device, dtype, serialized_bytes(m.state_dict()), notes)
    if scheme.simulated:
        sim, packed = simulate_weight_only(base, int(scheme.bits))
        notes.append("simulated: FP32 kernels on dequantized weights; storage is the serialized bit-packed form")
        return Variant(sim.to(device), device, torch.float32, serialized_bytes(packed), notes)
    if device != "cpu":
        raise ValueError(f"{scheme.name} runs on the CPU only")
    torch.backends.quantized.engine = engine
    with quiet_ao():
        if scheme.name == "int8-dynamic":
            from torch.ao.quantization import quantize_dynamic

            m = quantize_dynamic(base, {nn.Linear}, dtype=torch.qint8)
            if any(isinstance(x, nn.Conv2d) for x in m.modules()):
                notes.append("dynamic quantization covers nn.Linear only; the convolutions run in FP32")
        elif scheme.name in ("int8-static-tensor", "int8-static-channel"):
            from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

            qmap = static_qconfig_mapping(engine, per_channel=scheme.name.endswith("channel"))
            prepared = prepare_fx(base, qmap, _example(task.X_train))
            calib = torch.from_numpy(task.X_train[:calib_size].copy())
            with torch.no_grad():
                for i in range(0, len(calib), 128):
                    prepared(calib[i : i + 128])
            m = convert_fx(prepared)
            notes.append(f"calibrated on {len(calib)} training images")
        elif scheme.name == "qat-int8":
            from torch.ao.quantization import get_default_qat_qconfig_mapping
            from torch.ao.quantization.quantize_fx import convert_fx, prepare_qat_fx

            prepared = prepare_qat_fx(base.train(), get_default_qat_qconfig_mapping(engine), _example(task.X_train))
            models.train(prepared, task.X_train, task.y_train, epochs=qat_epochs, seed=seed + 1, lr=1e-4)
            m = convert_fx(prepared.eval())
            notes.append(f"QAT fine-tuned the FP32 model for {qat_epochs} extra epochs (Adam, lr 1e-4); part of "
                         "an accuracy change may come from the extra training")
        else:  # pragma: no cover - the registry and this function are kept in step
            raise ValueError(f"no builder for scheme {scheme.name!r}")
        m.eval()
        size = serialized_bytes(m.state_dict())
    return Variant(m, "cpu", torch.float32, size, notes)
