"""metaquant: evidence synthesis on deep-learning model quantization.

Data flows one way: :func:`metaquant.io.load` -> :func:`metaquant.effects.compute_effects`
-> engines (``metaquant.ssm``, ``metaquant.bayes``, ``metaquant.frequentist``)
-> ``metaquant.compare`` / ``metaquant.sensitivity`` -> reports and the CLI.
"""

from . import api
from .effects import compute_effects, for_property, log_from_pct, pct_from_log
from .io import Evidence, load

__version__ = "0.1.0"
__all__ = ["api", "Evidence", "load", "compute_effects", "for_property", "pct_from_log", "log_from_pct", "__version__"]
