"""Helpers shared by the workbench tests (compare, sensitivity, plots, report)."""

import pandas as pd
import pytest

import metaquant as mq


def effects_from_rows(rows, tmp_path, name="evidence.csv"):
    """Effect table of hand-made summary rows, read through the CSV loader."""
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return mq.compute_effects(mq.load(str(path)))


def bayes_ready():
    """The Bayesian engine, or skip where this build lacks it."""
    b = pytest.importorskip("metaquant.bayes")
    if not hasattr(b, "fit_exact"):
        pytest.skip("Bayesian engine not present in this build")
    return b


def warn_and_double(x: int) -> int:
    """A task for worker processes (importable there, and light to import): warns, then returns ``2 * x``."""
    import warnings

    warnings.warn(f"task {x} warned", UserWarning, stacklevel=1)
    return 2 * x
