"""Reproduction of the SSM synthesis of del Rey et al. (ESEM 2025, arXiv 2505.00816).

References:
- tests/fixtures/ssm_paper_models.csv: intensity, discount and belief of each of the 93 evidence model x property
  effects as stored in the replication package's effects.json (source noted in the file). Beliefs are recomputed
  here from study_belief, pct and pct_iqr of the shipped data, never read.
- The per-property table of research/ssm.md §8 (labels against the Evidence Factory "Proposed theory" page and the
  abstract; Bel, n and masses recomputed there with the Evidence Factory-compatible algorithm), and its worked
  example (GPU power draw, §4).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import metaquant as mq
from metaquant.scale import FRAME, belief
from metaquant.ssm import combine_all, evidence_models, simple_support, synthesize

FIXTURE = Path(__file__).parent / "fixtures" / "ssm_paper_models.csv"


@pytest.fixture(scope="module")
def table():
    return mq.compute_effects(mq.load("ssm2025"))


@pytest.fixture(scope="module")
def models(table):
    return evidence_models(table)


@pytest.fixture(scope="module")
def results(table):
    return {r.property: r for r in synthesize(table)}


def test_shipped_data_carries_no_belief_column():
    raw = pd.read_csv(mq.evidence.io.dataset_path("ssm2025"))
    assert "belief" not in raw.columns and "study_belief" in raw.columns


def test_nineteen_evidence_models(models):
    assert models["comparison"].nunique() == 19
    assert len(models) == 93
    assert models.groupby("study")["comparison"].nunique().to_dict() == {"S1": 5, "S2": 1, "S3": 8, "S4": 2,
                                                                         "S5": 1, "S6": 2}


def test_intensity_and_belief_of_every_model_match_the_replication_package(models):
    exp = pd.read_csv(FIXTURE, comment="#")
    assert len(exp) == 93
    got = models.set_index(["comparison", "property"])
    for r in exp.to_dict("records"):
        g = got.loc[(r["model_id"], r["property"])]
        where = f"{r['model_id']} {r['property']}"
        assert g["pct"] == pytest.approx(r["ri_pct"], abs=5e-4), where
        assert g["label_code"] == r["intensity_code"], where
        assert g["discount"] == pytest.approx(r["discount"], abs=1e-9), where
        assert g["belief"] == pytest.approx(r["belief"], abs=1e-9), where


@pytest.mark.parametrize(
    ("model", "prop", "pct", "code", "bel"),
    [
        ("S1|q0.16", "accuracy", -0.618, "IF", 0.373),
        ("S6|int4", "accuracy", 0.485, "IF", 0.031),
        ("S5|int8", "inference_power_draw", 7.522, "IF-WP", 0.458),
        ("S5|int8", "accuracy", -13.792, "NE-WN", 0.665),
        ("S3|w-q0.8, a-q0.16", "f1_score", -13.905, "NE-WN", 0.643),
    ],
)
def test_named_models(models, model, prop, pct, code, bel):
    r = models[(models["comparison"] == model) & (models["property"] == prop)].iloc[0]
    assert r["pct"] == pytest.approx(pct, abs=1e-9)
    assert r["label_code"] == code
    assert r["belief"] == pytest.approx(bel, abs=1e-12)


# research/ssm.md §8: property -> (n_models, label, Bel to 3 dp, main final masses to the digits given there)
SECTION_8 = {
    "accuracy": (17, "WN", 0.886, {"WN": 0.886, "IF": 0.112}),
    "f1_score": (8, "IF", 0.825, {"IF": 0.825, "NE": 0.069, "WN": 0.060}),
    "dsc": (1, "IF", 0.394, {"IF": 0.394, "Θ": 0.606}),
    "storage_size": (17, "SP", 1.000, {"SP": 0.9999}),
    "inference_energy_consumption": (17, "WP", 0.675, {"WP": 0.675, "PO": 0.181, "SP": 0.132}),
    "inference_power_draw": (9, "WP", 0.921, {"WP": 0.921, "PO": 0.057}),
    "inference_latency": (13, "IF-WP", 0.980, {"IF": 0.688, "WP": 0.260, "IF-WP": 0.032}),
    "gpu_energy_consumption": (3, "PO-SP", 0.949, {"SP": 0.434, "PO": 0.396, "PO-SP": 0.119}),
    "gpu_power_draw": (3, "IF-WP", 0.962, {"WP": 0.701, "IF-WP": 0.261}),
    "gpu_utilization": (3, "IF", 0.736, {"IF": 0.736, "IF-WP": 0.236}),
    "gpu_memory_utilization": (2, "PO-SP", 0.705, {"PO": 0.476, "PO-SP": 0.229, "WP-PO": 0.199}),
}


@pytest.mark.parametrize("prop", list(SECTION_8))
def test_per_property_table(results, prop):
    n, code, bel, masses = SECTION_8[prop]
    r = results[prop]
    assert r.n_models == n
    assert r.label_code == code
    assert round(r.belief, 3) == pytest.approx(bel, abs=1e-12)
    d = r.to_dict()["masses"]
    for focal, v in masses.items():
        digits = len(str(v).split(".")[1])
        assert d[focal] == pytest.approx(v, abs=0.5 * 10**-digits + 1e-12), focal


def test_every_property_is_reported(results):
    assert set(results) == set(SECTION_8)


def test_santos_rule_gives_the_same_labels_here(table, results):
    for r in synthesize(table, policy="santos"):
        assert r.label_code == results[r.property].label_code, r.property


def test_labels_agree_with_the_published_theory(results):
    # Evidence Factory "Proposed theory" (synthesis 243422) and the abstract
    assert results["storage_size"].label == "strongly positive"
    assert results["inference_power_draw"].label == "weakly positive"
    assert results["gpu_power_draw"].label == "indifferent - weakly positive"
    assert results["inference_latency"].label == "indifferent - weakly positive"
    assert results["accuracy"].label == "weakly negative"


def test_gpu_energy_differs_from_the_published_label(results):
    """The paper says 'strongly positive'; the rule gives PO-SP (Bel 0.949), since Bel(SP) alone is 0.434."""
    r = results["gpu_energy_consumption"]
    assert r.label_code == "PO-SP" and r.label_code != "SP"
    assert r.belief == pytest.approx(0.949, abs=5e-4)
    assert belief(r.masses, frozenset({"SP"})) == pytest.approx(0.434, abs=5e-4)


def test_gpu_memory_cannot_be_indifferent(results, models):
    """The brief's 'indifferent' for GPU memory cannot come from S6's +46 % and +23 %; GPU utilization is IF."""
    r = results["gpu_memory_utilization"]
    assert r.label_code == "PO-SP" and r.label_code != "IF"
    pcts = models[models["property"] == "gpu_memory_utilization"]["pct"].tolist()
    assert pcts == pytest.approx([46.27, 22.959], abs=1e-9)
    assert results["gpu_utilization"].label_code == "IF"


def test_worked_example_gpu_power_draw(models, results):
    sub = models[models["property"] == "gpu_power_draw"]
    assert list(zip(sub["comparison"], sub["label_code"], sub["belief"], strict=True)) == [
        ("S5|int8", "WP", 0.701), ("S6|int4", "IF-WP", 0.652), ("S6|int8", "IF-WP", 0.636)]
    wp, ifwp = frozenset({"WP"}), frozenset({"IF", "WP"})
    step1 = combine_all([simple_support(wp, 0.701), simple_support(ifwp, 0.652)])
    assert step1.conflicts == (0.0,)
    assert step1.masses[wp] == pytest.approx(0.701, abs=5e-5)
    assert step1.masses[ifwp] == pytest.approx(0.1949, abs=5e-5)
    assert step1.masses[FRAME] == pytest.approx(0.1041, abs=5e-5)
    r = results["gpu_power_draw"]
    assert r.conflicts == (0.0, 0.0)
    assert r.masses[wp] == pytest.approx(0.701, abs=5e-5)
    assert r.masses[ifwp] == pytest.approx(0.2611, abs=5e-5)
    assert r.uncertainty == pytest.approx(0.0379, abs=5e-5)
    assert r.belief == pytest.approx(0.962, abs=5e-4)
    assert r.masses[wp] < 0.75 * r.belief  # so the pair is kept


def test_conflicts_in_file_order(results):
    # research/ssm.md §8: last-step K with file order (S1 -> S6, precisions as in the file)
    assert results["accuracy"].conflict_last == pytest.approx(0.40, abs=0.005)
    assert results["inference_energy_consumption"].conflict_last == pytest.approx(0.67, abs=0.005)
    assert results["inference_latency"].conflict_last == pytest.approx(0.60, abs=0.005)
    assert results["gpu_energy_consumption"].conflict_last == pytest.approx(0.50, abs=0.005)
    for p in ("f1_score", "storage_size", "inference_power_draw", "gpu_power_draw", "gpu_utilization",
              "gpu_memory_utilization"):
        assert round(results[p].conflict_last, 2) <= 0.11, p  # "the others <= 0.11" (2 dp)
    for p in ("accuracy", "f1_score", "storage_size", "inference_energy_consumption", "inference_power_draw",
              "inference_latency", "gpu_energy_consumption"):
        assert 0.50 <= results[p].conflict_max <= 0.71 + 0.005, p
    assert results["dsc"].n_models == 1 and results["dsc"].to_dict()["conflict_last"] is None


def test_order_changes_conflict_not_masses(table, results):
    ref = results["gpu_energy_consumption"]
    r = synthesize(table, "gpu_energy_consumption", order=["S5|int8", "S6|int8", "S6|int4"])
    assert r.conflict_last == pytest.approx(0.0, abs=1e-12)
    assert ref.conflict_last == pytest.approx(0.718 * 0.699, abs=1e-12)
    assert r.label_code == ref.label_code and r.belief == pytest.approx(ref.belief, abs=1e-12)
    for k in ref.masses:
        assert r.masses[k] == pytest.approx(ref.masses[k], abs=1e-12)
    rev = synthesize(table, "accuracy", order=list(reversed(results["accuracy"].models["comparison"])))
    assert rev.conflict_last != pytest.approx(results["accuracy"].conflict_last, abs=1e-3)
    assert rev.belief == pytest.approx(results["accuracy"].belief, abs=1e-12)


def test_to_dict_and_summary(results):
    d = results["gpu_power_draw"].to_dict()
    assert list(d) == ["property", "label", "label_code", "belief", "plausibility", "uncertainty", "conflict_last",
                       "conflict_max", "n_models", "masses"]
    assert d["label_code"] == "IF-WP" and d["n_models"] == 3
    assert sum(d["masses"].values()) == pytest.approx(1.0, abs=1e-12)
    s = results["gpu_power_draw"].summary()
    assert s.shape[0] == 1 and s.loc[0, "label_code"] == "IF-WP"
    t = results["gpu_power_draw"].trace()
    assert t["comparison"].tolist() == ["S5|int8", "S6|int4", "S6|int8"]
    mt = results["gpu_power_draw"].mass_table()
    assert mt["mass"].sum() == pytest.approx(1.0, abs=1e-12)
    assert mt.set_index("focal").loc["IF-WP", "belief"] == pytest.approx(0.962, abs=5e-4)
