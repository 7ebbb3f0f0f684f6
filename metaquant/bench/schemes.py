"""The quantization schemes the harness knows (metadata only; no torch import).

Each scheme is compared with the FP32 model on the device it runs on.  The
torch.ao int8 kernels (fbgemm / x86 / qnnpack) exist only for the CPU, so on a
GPU machine the int8 schemes run on the host CPU against a CPU FP32 baseline,
and their rows carry the CPU's hardware string.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import InputError


@dataclass(frozen=True)
class Scheme:
    """One quantized variant of the FP32 model.

    Attributes
    ----------
    name : str
        ``--schemes`` value.
    technique : str
        ``technique`` column (the names of ``metaquant.evidence.schema.TECHNIQUES``).
    granularity : str
        ``granularity`` column (``per-tensor``, ``per-channel`` or ``n/a``).
    quant_precision : str
        ``quant_precision`` column.
    bits, act_bits : float
        Weight and activation bits (numeric moderators).
    devices : tuple of str
        Devices it can run on (``"cpu"``, ``"cuda"``).
    simulated : bool
        True when the arithmetic is FP32 on dequantized weights: only accuracy,
        F1 and the packed storage size are measured, never speed, memory or energy.
    description : str
        One line: what torch does.
    """

    name: str
    technique: str
    granularity: str
    quant_precision: str
    bits: float
    act_bits: float
    devices: tuple[str, ...]
    simulated: bool
    description: str

    def run_device(self, main_device: str) -> str:
        """Where this scheme runs when the harness targets ``main_device``."""
        return main_device if main_device in self.devices else self.devices[0]


_FIXED: dict[str, Scheme] = {
    s.name: s
    for s in [
        Scheme("fp16", "fp16", "n/a", "fp16", 16, 16, ("cuda", "cpu"), False,
               "weights and activations cast to float16 (model.half())"),
        Scheme("bf16", "bf16", "n/a", "bf16", 16, 16, ("cuda", "cpu"), False,
               "weights and activations cast to bfloat16"),
        Scheme("int8-dynamic", "ptq-dynamic", "per-tensor", "int8 dynamic (w8a8, activations quantized per batch)",
               8, 8, ("cpu",), False,
               "torch.ao.quantization.quantize_dynamic on nn.Linear: qint8 weights (per-tensor), activations "
               "quantized on the fly per batch; convolutions stay FP32"),
        Scheme("int8-static-tensor", "ptq-static", "per-tensor", "int8 static (w8a8)", 8, 8, ("cpu",), False,
               "torch.ao FX post-training static quantization: qint8 symmetric per-tensor weights "
               "(MinMaxObserver), quint8 activations (HistogramObserver) calibrated on training data"),
        Scheme("int8-static-channel", "ptq-static", "per-channel", "int8 static (w8a8)", 8, 8, ("cpu",), False,
               "torch.ao FX post-training static quantization: qint8 symmetric per-channel weights "
               "(PerChannelMinMaxObserver), quint8 activations (HistogramObserver) calibrated on training data"),
        Scheme("qat-int8", "qat", "per-channel", "int8 QAT (w8a8)", 8, 8, ("cpu",), False,
               "torch.ao FX quantization-aware training: the FP32 model fine-tuned with fake quantization "
               "(torch's default QAT qconfig for the backend), then converted to int8 kernels"),
    ]
}

_SIM = re.compile(r"^w([2-8])-sim$")

#: Order in which ``all`` lists the schemes.
ALL_NAMES = ("fp16", "bf16", "int8-dynamic", "int8-static-tensor", "int8-static-channel", "qat-int8",
             "w8-sim", "w4-sim", "w3-sim", "w2-sim")


def simulated_scheme(bits: int) -> Scheme:
    """``w{bits}-sim``: round-to-nearest symmetric per-channel weight quantization, simulated.

    Every Linear / Conv2d weight row (output channel) c is mapped to integers
    q = clamp(round(w / s_c), -Q, Q) with Q = 2^(bits-1) - 1 and
    s_c = max|w_c| / Q, and replaced by q·s_c; biases and activations stay FP32.
    The network then runs FP32 kernels, so speed, memory and energy are not
    those of a low-bit kernel and are not reported.  The storage size is the
    serialized size of the packed form (``bits`` bits per weight, an FP32 scale
    per channel), see :func:`metaquant.bench.quantize.packed_state_dict`.
    """
    if not 2 <= bits <= 8:
        raise InputError(f"simulated weight quantization supports 2 to 8 bits, not {bits}")
    return Scheme(f"w{bits}-sim", "ptq-weight-only", "per-channel", f"int{bits} weight-only (simulated, a32)",
                  bits, 32, ("cpu", "cuda"), True,
                  f"simulated {bits}-bit weight-only quantization (round-to-nearest, symmetric, per output "
                  "channel) evaluated with FP32 kernels; storage counted from the bit-packed weights")


def get_scheme(name: str) -> Scheme:
    """The scheme called ``name`` (``w2-sim`` .. ``w8-sim`` included)."""
    key = name.strip().lower()
    if key in _FIXED:
        return _FIXED[key]
    m = _SIM.match(key)
    if m:
        return simulated_scheme(int(m.group(1)))
    raise InputError(f"unknown quantization scheme {name!r}", column="--schemes",
                     expected="a comma-separated list of " + ", ".join(ALL_NAMES) + " (or 'all', 'default')")


def default_schemes(device: str, *, bf16: bool) -> list[str]:
    """Schemes run when ``--schemes`` is not given.

    CPU: bf16 (when the CPU has native bf16 instructions), int8 dynamic, int8
    static per-tensor and per-channel, 4-bit simulated weight-only.  CUDA: fp16,
    bf16 (when the GPU supports it) and the same int8 / simulated schemes (the
    int8 ones on the host CPU).
    """
    out = ["fp16"] if device == "cuda" else []
    if bf16:
        out.append("bf16")
    return out + ["int8-dynamic", "int8-static-tensor", "int8-static-channel", "w4-sim"]


def parse_schemes(text: str | list[str] | tuple[str, ...] | None, device: str, *, bf16: bool) -> list[Scheme]:
    """Schemes from a ``--schemes`` value: a comma list, ``all``, ``default`` or None (the default set)."""
    if text is None:
        names = default_schemes(device, bf16=bf16)
    else:
        items = text.split(",") if isinstance(text, str) else list(text)
        names = []
        for item in (i.strip() for i in items):
            if not item:
                continue
            if item.lower() == "all":
                names.extend(ALL_NAMES)
            elif item.lower() == "default":
                names.extend(default_schemes(device, bf16=bf16))
            else:
                names.append(item)
    out, seen = [], set()
    for n in names:
        s = get_scheme(n)
        if s.name not in seen:
            seen.add(s.name)
            out.append(s)
    if not out:
        raise InputError("no quantization scheme selected", column="--schemes", expected="at least one scheme")
    return out


def packed_bytes(numel: int, bits: int) -> int:
    """Bytes holding ``numel`` values of ``bits`` bits each, packed densely: ceil(numel·bits / 8)."""
    return math.ceil(numel * bits / 8)
