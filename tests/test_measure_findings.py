"""A fit on an effect measure other than the log ratio states its estimate in its own unit, never a % or an SSM label.

SSM's labels and the % headline are defined on relative change (the log response ratio, ROM).  A standardized
mean difference, a mean difference, a log odds ratio, an arcsine or a raw proportion difference is not one, so
``exp(estimate) - 1`` would be a number with no meaning: the rule lives in ``results.withhold`` and every
presenter reads it.
"""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

import metaquant as mq
from metaquant.cli import main
from metaquant.results import MEASURE_NAMES, not_ratio_reason


def _arms() -> pd.DataFrame:
    """Five studies of latency with spreads and run counts on both arms (SMD and MD are defined)."""
    rows = []
    for i, (b, q, sb, sq) in enumerate([(10, 8, 1.0, 1.1), (12, 9.5, 1.5, 1.2), (9, 8.2, 0.8, 0.9),
                                         (11, 7.9, 1.2, 1.0), (10.5, 9.9, 1.1, 1.3)]):
        rows.append({"study": f"S{i}", "comparison": f"S{i}-c", "property": "inference_latency",
                     "baseline_mean": b, "quant_mean": q, "baseline_sd": sb, "quant_sd": sq,
                     "baseline_n": 10, "quant_n": 10, "bits": 8})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("measure", ["SMD", "MD"])
@pytest.mark.parametrize("method", ["reml", "dl"])
def test_classical_fit_on_a_difference_states_no_pct_and_no_label(measure, method):
    res = mq.fit(_arms(), "inference_latency", method=method, measure=measure)
    d = res.to_dict()
    assert d["measure"] == measure
    assert d["pct"] is None and d["pct_ci_low"] is None and d["label_code"] is None
    assert MEASURE_NAMES[measure] in d["withheld_reason"]
    assert d["estimate"] is not None  # the estimate on its own scale stays


def test_the_same_rows_as_log_ratios_keep_their_pct_and_label():
    d = mq.fit(_arms(), "inference_latency", method="reml").to_dict()
    assert d["measure"] == "ROM"
    assert d["pct"] is not None and d["label_code"] is not None and not d.get("withheld_reason")


def test_bayesian_fit_on_smd_states_no_pct_label_or_zones():
    d = mq.fit(_arms(), "inference_latency", method="bayes", measure="SMD").to_dict()
    assert d["pct"] is None and d["label_code"] is None and d["zone_probabilities"] is None
    assert "standardized mean difference (SMD)" in d["withheld_reason"]
    assert d["mu_mean"] is not None


def test_proportion_measure_on_shipped_data_prints_its_unit_not_a_relative_improvement():
    out = CliRunner().invoke(main, ["fit", "--data", "zooq", "--property", "accuracy", "--measure", "PLO",
                                    "--missing-vi", "drop", "--method", "bayes"])
    assert out.exit_code == 0, out.output
    assert "pooled log odds ratio mu" in out.output
    assert "relative improvement" not in out.output and "SSM label" not in out.output
    assert "not the log response ratio (ROM)" in out.output


def test_reason_reads_as_english():
    assert not_ratio_reason("ROM") is None and not_ratio_reason(None) is None
    assert not_ratio_reason("PAS").startswith("the effect is an arcsine")
    assert not_ratio_reason("mixed").startswith("the effect is a mix of effect measures")


@pytest.mark.parametrize("measure", ["PLO", "PAS", "PR", "SMD", "MD", "ROM"])
def test_data_validate_accepts_every_measure_fit_accepts(measure, tmp_path):
    f = tmp_path / "runs.csv"
    _arms().to_csv(f, index=False)
    out = CliRunner().invoke(main, ["data", "validate", "--measure", measure, str(f)])
    assert out.exit_code == 0, out.output
    assert "ok, 5 rows" in out.output
