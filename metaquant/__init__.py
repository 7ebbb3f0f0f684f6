"""metaquant: evidence synthesis on deep-learning model quantization.

The public face, in the order data flows (see ``docs/api.md``)::

    load / validate  ->  compute_effects / effect_table  ->  fit / fit_all / synthesize (SSM)
                     ->  compare.compare / sensitivity.run ->  results (to_dict, to_frame)

>>> import metaquant as mq
>>> res = mq.fit("ssm2025", "storage_size", method="reml", variance_policy="drop")
>>> res.engine, res.label_code
('frequentist', 'SP')

A fit is specified by a :class:`FitSpec` (what) and :class:`RunSettings` (how);
every result follows the protocol of :mod:`metaquant.results`.  Errors are the
package's own: :class:`InputError` (and :class:`DataError`) for bad data,
located by file, row and column, :class:`UsageError` for a wrong argument.
"""

# _home first: caches that work when HOME does not, set before ArviZ or PyTensor load
from . import _home, api  # noqa: F401
from .api import effect_table, fit, fit_all, primary_estimate, synthesize
from .classical.engine import ClassicalResult
from .errors import ConvergenceWarning, DataError, DiagnosticsError, InputError, MetaquantError, UsageError
from .evidence.effects import compute_effects, for_property, log_from_pct, pct_from_log
from .evidence.io import Evidence, load, validate
from .fitting import NotPooled
from .results import EngineResult
from .spec import DEFAULT_SEED, FitSpec, RunSettings
from .workbench import compare, sensitivity

__version__ = "0.1.0"

_LAZY = {"BayesResult": "metaquant.bayes", "ExactResult": "metaquant.bayes", "SSMResult": "metaquant.ssm"}


def __getattr__(name):  # the Bayesian result lives beside PyMC's imports: load it on first use
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BayesResult", "ClassicalResult", "ConvergenceWarning", "DEFAULT_SEED", "DataError", "DiagnosticsError",
    "EngineResult", "Evidence", "ExactResult", "FitSpec", "InputError", "MetaquantError", "NotPooled", "RunSettings",
    "SSMResult", "UsageError", "__version__", "api", "compare", "compute_effects", "effect_table", "fit", "fit_all",
    "for_property", "load", "log_from_pct", "pct_from_log", "primary_estimate", "sensitivity", "synthesize",
    "validate",
]
