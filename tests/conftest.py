import os

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def write_csv(tmp_path):
    """Write a CSV from a header and rows; returns its path."""

    def _write(text: str, name: str = "evidence.csv"):
        p = tmp_path / name
        p.write_text(text.strip() + "\n", encoding="utf-8")
        return p

    return _write


@pytest.fixture(scope="module")
def tab():
    """The effect table of the shipped ssm2025 data."""
    import metaquant as mq

    return mq.compute_effects(mq.load("ssm2025"))
