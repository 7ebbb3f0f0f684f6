"""Column definitions and the property registry.

Every property metaquant knows has a *metric class* (``correctness`` or
``resource``), a direction (``higher_is_better``) and, through its class, the
cut-points of the Structured Synthesis Method (SSM) intensity scale.  The
registry is the single place where these facts live; effect sizes, engines and
reports read them from here.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..errors import InputError

CORRECTNESS = "correctness"
RESOURCE = "resource"

#: SSM cut-points in percent (I, W, WM, M, SM, S), upper bounds inclusive.
#: Resource metrics use the ``EffectIntensity`` table of the seed paper's
#: replication code, correctness metrics the ``CorrectnessIntensity`` table.
DEFAULT_THRESHOLDS: dict[str, tuple[float, ...]] = {
    RESOURCE: (2.0, 10.0, 20.0, 30.0, 40.0, 50.0),
    CORRECTNESS: (2.0, 5.0, 10.0, 15.0, 20.0, 25.0),
}


@dataclass(frozen=True)
class Property:
    """One measurable property of a quantized model.

    Attributes
    ----------
    name : str
        Canonical snake-case name, as used in data files.
    metric_class : {"correctness", "resource"}
        Selects the SSM threshold table.
    higher_is_better : bool
        Raw-scale direction; effect sizes are oriented so that positive
        always means "quantization improves this property".
    description : str
        One line for listings.
    """

    name: str
    metric_class: str
    higher_is_better: bool
    description: str

    @property
    def thresholds(self) -> tuple[float, ...]:
        return DEFAULT_THRESHOLDS[self.metric_class]


_P = Property
PROPERTIES: dict[str, Property] = {
    p.name: p
    for p in [
        _P("accuracy", CORRECTNESS, True, "task accuracy (top-1, pass@1, ...)"),
        _P("f1_score", CORRECTNESS, True, "F1 score"),
        _P("dsc", CORRECTNESS, True, "Dice similarity coefficient (segmentation)"),
        _P("map", CORRECTNESS, True, "mean average precision (detection)"),
        _P("miou", CORRECTNESS, True, "mean intersection over union (segmentation)"),
        _P("perplexity", CORRECTNESS, False, "language-model perplexity"),
        _P("word_error_rate", CORRECTNESS, False, "speech-recognition word error rate"),
        _P("bleu", CORRECTNESS, True, "BLEU score (machine translation)"),
        _P("precision", CORRECTNESS, True, "precision, positive predictive value (detection, classification)"),
        _P("recall", CORRECTNESS, True, "recall, sensitivity (detection, classification)"),
        _P("map_50", CORRECTNESS, True, "mean average precision at IoU 0.5 (detection)"),
        _P("map_50_95", CORRECTNESS, True, "mean average precision over IoU 0.5:0.95 (detection)"),
        _P("storage_size", RESOURCE, False, "serialized model size"),
        _P("inference_latency", RESOURCE, False, "time per inference or per token"),
        _P("throughput", RESOURCE, True, "inferences or tokens per second"),
        _P("inference_energy_consumption", RESOURCE, False, "energy per inference (system)"),
        _P("inference_power_draw", RESOURCE, False, "mean power while inferring (system)"),
        _P("gpu_energy_consumption", RESOURCE, False, "GPU energy per workload"),
        _P("gpu_power_draw", RESOURCE, False, "mean GPU power"),
        _P("gpu_utilization", RESOURCE, False, "GPU utilization"),
        _P("gpu_memory_utilization", RESOURCE, False, "GPU memory used"),
        _P("peak_memory", RESOURCE, False, "peak host or device memory"),
        _P("ram_usage", RESOURCE, False, "RAM used during inference"),
        _P("ram_energy_consumption", RESOURCE, False, "energy drawn by the memory (RAM)"),
    ]
}

#: Accepted aliases (lower-case) for property names found in the wild.
ALIASES: dict[str, str] = {
    "f1": "f1_score",
    "latency": "inference_latency",
    "energy": "inference_energy_consumption",
    "power": "inference_power_draw",
    "size": "storage_size",
    "model_size": "storage_size",
    "ppl": "perplexity",
    "gpu_memory": "gpu_memory_utilization",
    "wer": "word_error_rate",
    "map_5": "map_50",
    "map_5_95": "map_50_95",
}


class UnknownPropertyError(InputError, KeyError):
    """Raised for a property name that is not in the registry (with a did-you-mean)."""

    def __init__(self, name: str):
        self.name = name
        self.suggestion = suggest_property(name)
        msg = f"unknown property {name!r}"
        if self.suggestion:
            msg += f" (did you mean {self.suggestion!r}?)"
        super().__init__(msg, expected="one of " + ", ".join(sorted(PROPERTIES)))

    __str__ = InputError.__str__


def suggest_property(name: str) -> str | None:
    """Closest registered property name, for a did-you-mean hint."""
    hits = difflib.get_close_matches(str(name).lower(), list(PROPERTIES) + list(ALIASES), n=1, cutoff=0.6)
    if not hits:
        return None
    return ALIASES.get(hits[0], hits[0])


def get_property(name: str) -> Property:
    """Look up a property by name or alias.

    Raises
    ------
    UnknownPropertyError
        With a did-you-mean suggestion.
    """
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    try:
        return PROPERTIES[key]
    except KeyError:
        raise UnknownPropertyError(name) from None


# --------------------------------------------------------------------------
# Column sets of the three input forms (see docs/data-format.md)
# --------------------------------------------------------------------------

#: Identification columns every measurement or summary row must carry.
ID_COLUMNS = ("study", "property")

#: Descriptive columns (strings); optional unless listed in REQUIRED_*.
DESCRIPTIVE_COLUMNS = (
    "comparison",
    "model",
    "task",
    "hardware",
    "technique",
    "granularity",
    "baseline_precision",
    "quant_precision",
    "metric",
    "unit",
    "source",
    "provenance",
    "notes",
    "baseline_group",
)

#: Numeric moderator columns.
NUMERIC_MODERATORS = ("bits", "act_bits")

MEASUREMENT_VALUE_COLUMNS = (
    "baseline_mean",
    "baseline_sd",
    "baseline_n",
    "quant_mean",
    "quant_sd",
    "quant_n",
)
SUMMARY_VALUE_COLUMNS = ("improvement_pct", "improvement_sd", "improvement_iqr", "n_units")
EFFECT_VALUE_COLUMNS = ("yi", "vi")

#: Other recognised columns.
EXTRA_COLUMNS = ("higher_is_better", "study_belief", "confounded", "n_runs", "n_eval")

REQUIRED = {
    "measurements": ("study", "property", "baseline_mean", "quant_mean"),
    "summary": ("study", "property", "improvement_pct"),
    "effects": ("study", "property", "yi", "vi"),
}

KNOWN_COLUMNS = frozenset(
    ID_COLUMNS
    + DESCRIPTIVE_COLUMNS
    + NUMERIC_MODERATORS
    + MEASUREMENT_VALUE_COLUMNS
    + SUMMARY_VALUE_COLUMNS
    + EFFECT_VALUE_COLUMNS
    + EXTRA_COLUMNS
)

# --------------------------------------------------------------------------
# Safe numeric ranges (see docs/data-format.md, "Bad input")
# --------------------------------------------------------------------------
# Every engine squares effects and inverts variances; these bounds keep those
# operations (and exp(yi) for the % scale) far from float64 overflow and
# underflow, while leaving room for any real measurement.  They are refusals,
# not clipping: a value outside is an error naming file, row and column.

#: Largest |yi| on the log-ratio scale (ROM, summary rows, given effects):
#: e^50 is a 5e21-fold change, beyond any physical ratio; exp(yi) stays finite.
MAX_ABS_LOG_EFFECT = 50.0
#: Largest |yi| for raw-unit measures (MD, SMD).
MAX_ABS_RAW_EFFECT = 1e12
#: Smallest and largest sampling variance.  Below 1e-30 a variance is smaller
#: than the squared rounding error of float64 means (relative 1e-16), so it
#: cannot come from real data; 1/vi and its square stay finite inside the range.
MIN_VI = 1e-30
MAX_VI = 1e12
#: Non-zero magnitudes of raw values (means, spreads, percentages): between
#: these, squares and ratios of two values cannot overflow or underflow.
MIN_ABS_VALUE = 1e-100
MAX_ABS_VALUE = 1e100


#: Known quantization techniques (free text is allowed; these are normalised).
TECHNIQUES = (
    "ptq-static",
    "ptq-dynamic",
    "ptq-weight-only",
    "qat",
    "weight-only",
    "fp16",
    "bf16",
    "mixed",
    "binarization",
    "other",
)
