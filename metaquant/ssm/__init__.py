"""The Structured Synthesis Method (SSM) engine.

Evidence models carry, per property, an intensity label on SSM's seven-point
scale and a belief; Dempster's rule combines them and a 0.75 selection rule
reads the result (Santos & Travassos 2013; Santos 2015; del Rey et al.,
arXiv 2505.00816).  See ``docs/methods/ssm.md``.

>>> import metaquant as mq
>>> from metaquant import ssm
>>> r = ssm.synthesize(mq.compute_effects(mq.load("ssm2025")), "gpu_power_draw")
>>> r.label_code, round(r.belief, 3)
('IF-WP', 0.962)
"""

from .belief import (
    BELIEF_SPLITS,
    DISCOUNTS,
    discount_v1,
    iqr_nearest,
    quantile_nearest,
    read_study_beliefs,
    reliability_v2,
    split_study_belief,
)
from .dempster import Combination, TotalConflictError, combine, combine_all, simple_support
from .intensity import intensity, thresholds_for
from .models import MODEL_COLUMNS, as_effect_table, evidence_models
from .synthesis import POLICIES, SSMResult, aggregate, summary_frame, synthesize

__all__ = [
    "BELIEF_SPLITS",
    "DISCOUNTS",
    "MODEL_COLUMNS",
    "POLICIES",
    "Combination",
    "SSMResult",
    "TotalConflictError",
    "aggregate",
    "as_effect_table",
    "combine",
    "combine_all",
    "discount_v1",
    "evidence_models",
    "intensity",
    "iqr_nearest",
    "quantile_nearest",
    "read_study_beliefs",
    "reliability_v2",
    "simple_support",
    "split_study_belief",
    "summary_frame",
    "synthesize",
    "thresholds_for",
]
