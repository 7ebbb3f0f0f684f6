"""The Structured Synthesis Method (SSM) engine.

Evidence models carry, per property, an intensity label on SSM's seven-point
scale and a belief; Dempster's rule combines them and a 0.75 selection rule
reads the result (Santos & Travassos 2013; Santos 2015; del Rey et al.,
arXiv 2505.00816).  Two rule sets: ``rules="ssm2025"`` (the ESEM 2025 paper,
default) and ``rules="ssm2026"`` (the 21-study journal extension).  See
``docs/methods/ssm.md``.

>>> import metaquant as mq
>>> from metaquant import ssm
>>> r = ssm.synthesize(mq.compute_effects(mq.load("ssm2025")), "gpu_power_draw")
>>> r.label_code, round(r.belief, 3)
('IF-WP', 0.962)
>>> r = ssm.synthesize(mq.load("ssm2026"), "inference_latency", rules="ssm2026")
>>> r.intensity, round(r.belief, 4), round(r.conflict_last, 4)
('{P, SP}', 0.9984, 0.3287)
"""

from .belief import (
    BELIEF_SPLITS,
    DISCOUNTS,
    RULES,
    Rules,
    discount_v1,
    get_rules,
    iqr_nearest,
    quantile_nearest,
    read_study_beliefs,
    reliability_v2,
    rules_for,
    split_study_belief,
)
from .dempster import Combination, TotalConflictError, combine, combine_all, simple_support
from .intensity import NOTATION_2026, intensity, read_code, thresholds_for, written_code
from .models import MODEL_COLUMNS, as_effect_table, evidence_models
from .synthesis import EXTRA_KEYS, POLICIES, SSMResult, aggregate, summary_frame, synthesize

__all__ = [
    "BELIEF_SPLITS",
    "DISCOUNTS",
    "EXTRA_KEYS",
    "MODEL_COLUMNS",
    "NOTATION_2026",
    "POLICIES",
    "RULES",
    "Rules",
    "Combination",
    "SSMResult",
    "TotalConflictError",
    "aggregate",
    "as_effect_table",
    "combine",
    "combine_all",
    "discount_v1",
    "evidence_models",
    "get_rules",
    "intensity",
    "iqr_nearest",
    "quantile_nearest",
    "read_code",
    "read_study_beliefs",
    "reliability_v2",
    "rules_for",
    "simple_support",
    "split_study_belief",
    "summary_frame",
    "synthesize",
    "thresholds_for",
    "written_code",
]
