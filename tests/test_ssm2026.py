"""The 21-study extension of the SSM quantization synthesis (shipped ``ssm2026``, rules ``"ssm2026"``).

References (never recomputed here, only read):
- tests/fixtures/ssm2026/models.csv: for each of the 276 evidence model x property effects, the sample-size and
  variability discounts, discount factor, p-value, belief and intensity stored in the replication package's
  effects_by_precision.json records (santidrj/model-quantization-aggregation, commit per row). The engine recomputes
  them from the shipped inputs (improvement, std, cluster units, study belief).
- tests/fixtures/ssm2026/validated_synthesis.json: the per-effect labels, beliefs, last-step conflicts, largest
  contributors and counts stated in data/processed/validated-synthesis.json @ca0022a8 (the manuscript's numbers):
  its 11 main effects and the 11 other effects of its forest-plot block.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import metaquant as mq
from metaquant.cli.ssm import ssm as ssm_cli
from metaquant.errors import InputError
from metaquant.scale import LABELS
from metaquant.ssm import evidence_models, read_code, rules_for, synthesize, written_code

FIX = Path(__file__).parent / "fixtures" / "ssm2026"
SYNTH = json.loads((FIX / "validated_synthesis.json").read_text())
STATED = {v["property"]: v for blk in ("effects", "other_effects") for v in SYNTH[blk].values()}
# models per study: the sections S1-S21 of the repository's evidence-diagrams-mapping.md (76 links)
MODELS_PER_STUDY = {"S1": 4, "S2": 3, "S3": 2, "S4": 11, "S5": 1, "S6": 17, "S7": 1, "S8": 1, "S9": 5, "S10": 1,
                    "S11": 8, "S12": 1, "S13": 1, "S14": 2, "S15": 2, "S16": 8, "S17": 2, "S18": 1, "S19": 1,
                    "S20": 2, "S21": 2}


@pytest.fixture(scope="module")
def ev():
    return mq.load("ssm2026")


@pytest.fixture(scope="module")
def models(ev):
    return evidence_models(ev, rules="ssm2026")


@pytest.fixture(scope="module")
def results(ev):
    return {r.property: r for r in synthesize(ev, rules="ssm2026")}


# --- the shipped dataset ---------------------------------------------------------------------------------------


def test_dataset_is_registered_and_validates(ev):
    reg = mq.evidence.io.dataset_registry()["ssm2026"]
    assert reg["form"] == "summary" and reg["ssm_rules"] == "ssm2026"
    assert len(ev) == 276 and ev.data["study"].nunique() == 21
    assert set(ev.data["form"]) == {"summary"}


def test_licence_and_citation_ship_with_the_data():
    root = mq.evidence.io.dataset_path("ssm2026").parent / "ssm2026"
    assert "Apache License, Version 2.0" in (root / "LICENSE").read_text()
    cff = (root / "CITATION.cff").read_text()
    assert "10.5281/zenodo.18401926" in cff and "cff-version" in cff


def test_seventy_six_evidence_models_in_aggregation_order():
    raw = pd.read_csv(mq.evidence.io.dataset_path("ssm2026"), dtype={"x_source_commit": str})
    assert "belief" not in raw.columns and "intensity" not in raw.columns  # the engine recomputes them
    em = raw.drop_duplicates(["study", "comparison"])
    assert len(em) == 76
    assert em.groupby("study").size().to_dict() == MODELS_PER_STUDY
    assert em["x_ef_position"].tolist() == list(range(1, 77))  # rows follow evidence-factory-aggregation-order.txt
    assert raw["x_ef_position"].is_monotonic_increasing


def test_provenance_and_metadata_on_every_row():
    raw = pd.read_csv(mq.evidence.io.dataset_path("ssm2026"), dtype=str, keep_default_na=False)
    assert raw["x_source_commit"].str.fullmatch(r"[0-9a-f]{40}").all()
    assert raw["x_metadata_commit"].str.fullmatch(r"[0-9a-f]{40}").all()
    for r in raw.to_dict("records"):
        assert r["provenance"].startswith(f"santidrj/model-quantization-aggregation@{r['x_source_commit']} ")
        assert r["x_source_path"] in r["provenance"]
        assert "study_belief from src/data/papers/entities.py@10b69416" in r["notes"]
    for col in ("technique", "bits", "hardware", "x_framework", "model", "task", "x_measurement_method", "n_runs"):
        assert col in raw.columns
    assert set(raw["technique"]) == {"ptq", "qat", "ptq-retrain"}
    tao = raw[raw["study"] == "S11"].iloc[0]
    assert (tao["n_runs"], tao["x_measurement_method"], tao["x_framework"]) == ("5", "hardware-based", "QKeras")
    # the six files older than the final synthesis are replaced by newer versions, and say so
    assert set(raw.loc[raw["notes"].str.contains("staging copy at c58de0ab"), "study"]) == {
        "S2", "S4", "S9", "S17", "S19", "S20"}


def test_bits_are_read_from_the_canonical_precision():
    raw = pd.read_csv(mq.evidence.io.dataset_path("ssm2026"))
    raw = raw.drop_duplicates(["study", "comparison"]).set_index("comparison")
    assert tuple(raw.loc["qat w-q0.4, a-q0.32", ["bits", "act_bits"]]) == (4, 32)
    assert tuple(raw.loc["ptq a-q12.4", ["bits", "act_bits"]]) == (32, 16)  # activation-only Q12.4, fp32 weights
    assert tuple(raw.loc["qat full-int4", ["bits", "act_bits"]]) == (4, 4)
    assert raw.loc["qat mixed-1.8", "bits"] == pytest.approx(1.8) and math.isnan(raw.loc["qat mixed-1.8", "act_bits"])


# --- per evidence model ---------------------------------------------------------------------------------------


def test_every_item_matches_the_stored_discounts_belief_and_intensity(models):
    ref = pd.read_csv(FIX / "models.csv", comment="#")
    assert len(ref) == len(models) == 276
    got = models.set_index(["comparison", "property"])
    for r in ref.to_dict("records"):
        g = got.loc[(r["comparison"], r["property"])]
        where = f"{r['comparison']} {r['property']}"
        assert g["pct"] == r["improvement"], where
        assert g["label_code"] == read_code(r["intensity"]), where
        assert g["alpha_n"] == pytest.approx(r["sample_size_discount"], abs=1e-12), where
        assert g["alpha_v"] == pytest.approx(r["variability_discount"], abs=1e-12), where
        assert g["discount_factor"] == pytest.approx(r["discount_factor"], abs=1e-12), where
        assert g["p_value"] == pytest.approx(r["p_value"], abs=1e-12), where
        assert g["belief"] == pytest.approx(r["belief"], abs=1e-12), where


@pytest.mark.parametrize(
    ("model", "prop", "code", "a_n", "a_v", "bel"),
    [
        ("S13|ptq w-int8", "accuracy", "NE-WN", 1.0, 0.913, 0.672),  # B 0.7361 x 1 x exp(-0.1 V2), V2 = 0.907
        ("S18|ptq w-int8, a-int8", "ram_usage", "SP", 0.865, 1.0, 0.572),  # n = 6, sd 0: alpha_v = 1
        ("S2|qat w-q0.4, a-q0.32", "accuracy", "WN-IF", 0.283, 1.0, 0.127),  # one unit, n0 = 3 (stale copy: 0.176)
        ("S17|ptq w-int8, a-int8", "map", "SN", 0.632, 1.0, 0.425),  # three devices, n <= 4: alpha_v = 1
    ],
)
def test_named_items(models, model, prop, code, a_n, a_v, bel):
    r = models[(models["comparison"] == model) & (models["property"] == prop)].iloc[0]
    assert (r["label_code"], r["alpha_n"], r["alpha_v"], r["belief"]) == (code, a_n, a_v, bel)
    assert r["intensity"] == written_code(code, "ssm2026")


# --- per property: the stated synthesis -------------------------------------------------------------------------


def test_corpus_counts(results):
    assert SYNTH["corpus"] == {"n_primary_studies": 21, "n_evidence_models": 76}
    assert set(results) == set(STATED)  # 22 effects: the 11 main ones and 11 others


@pytest.mark.parametrize("prop", list(STATED))
def test_stated_label_belief_and_conflict(results, prop):
    e, r = STATED[prop], results[prop]
    assert r.intensity == e["intensity_label"]
    assert r.belief == pytest.approx(e["belief"], abs=1e-12)
    k = r.conflict_last if r.n_models > 1 else 0.0  # the synthesis writes 0.0 where one model leaves no step
    assert k == pytest.approx(e["conflict"], abs=1e-12)
    assert r.n_models == e["n_evidence_models"]
    assert r.n_studies == e["n_primary_studies"]
    assert sorted(r.models["study"].unique(), key=lambda s: int(s[1:])) == e["study_ids"]
    assert r.max_contributor_belief == pytest.approx(e["max_contributor_belief"], abs=1e-12)
    assert r.delta_belief == pytest.approx(e["delta_belief"], abs=1e-12)


def test_final_labels_pinned(results):
    # validated-synthesis.json @ca0022a8, "effects" (main table of the manuscript)
    stated = {"accuracy": "I", "f1_score": "I", "map": "I", "storage_size": "SP", "gpu_utilization": "{I, WP}",
              "gpu_power_draw": "{I, WP}", "gpu_energy_consumption": "SP", "ram_usage": "SP",
              "inference_power_draw": "WP", "inference_energy_consumption": "SP", "inference_latency": "{P, SP}"}
    assert {p: results[p].intensity for p in stated} == stated
    assert results["inference_latency"].label == "positive - strongly positive"
    assert results["accuracy"].label_code == "IF"


def test_aggregation_order_matters_for_conflict_only(ev, results):
    ref = results["accuracy"]
    rev = synthesize(ev, "accuracy", rules="ssm2026", order=list(reversed(ref.models["comparison"])))
    assert rev.belief == pytest.approx(ref.belief, abs=1e-12) and rev.label_code == ref.label_code
    assert abs(rev.conflict_last - STATED["accuracy"]["conflict"]) > 1e-3


def test_first_version_rules_stay_the_default(ev, results):
    v1 = {r.property: r for r in synthesize(ev)}
    assert v1["inference_latency"].rules == "ssm2025" and "intensity" not in v1["inference_latency"].to_dict()
    # the 2025 IQR discount on the 21 studies: latency SP (not {P, SP}), RAM usage PO (not SP)
    assert (v1["inference_latency"].label_code, v1["ram_usage"].label_code) == ("SP", "PO")
    assert results["inference_latency"].to_dict()["intensity"] == "{P, SP}"


# --- notation, rule lookup, CLI ---------------------------------------------------------------------------------


def test_notation_round_trip():
    for code in LABELS:
        assert read_code(written_code(code, "ssm2026")) == code
        assert read_code(code) == code
    assert read_code("weakly negative - indifferent") == "WN-IF" and read_code("WN-I") == "WN-IF"
    with pytest.raises(InputError, match="not an SSM intensity"):
        read_code("{SN, SP}")
    with pytest.raises(InputError, match="unknown SSM rules"):
        synthesize(mq.load("ssm2025"), "accuracy", rules="ssm2027")


def test_rules_for_datasets(tmp_path):
    assert rules_for("ssm2026") == "ssm2026" and rules_for(["ssm2025"]) == "ssm2025"
    assert rules_for(str(tmp_path / "runs.csv")) == "ssm2025"


def _cli(*args):
    return CliRunner().invoke(ssm_cli, list(args), catch_exceptions=False)


def test_cli_picks_the_dataset_rules():
    res = _cli("--data", "ssm2026", "--format", "json")
    assert res.exit_code == 0, res.output
    by = {d["property"]: d for d in json.loads(res.stdout)}
    assert len(by) == 22
    for p, e in STATED.items():
        assert by[p]["intensity"] == e["intensity_label"], p
        assert by[p]["belief"] == pytest.approx(e["belief"], abs=1e-12), p
    old = {d["property"]: d for d in json.loads(_cli("--data", "ssm2026", "--rules", "ssm2025", "--format",
                                                     "json").stdout)}
    assert old["ram_usage"]["label_code"] == "PO" and "intensity" not in old["ram_usage"]
    table = _cli("--data", "ssm2026", "--models", "--property", "ram_usage")
    assert table.exit_code == 0 and "alpha_n" in table.stdout and "rules" not in table.stdout.splitlines()[0]


@pytest.mark.parametrize("effect", list(SYNTH["belief_assignment"]))
def test_other_mass_assignments_of_the_synthesis(ev, effect):
    """The synthesis file's belief_assignment block: B undiscounted, unsplit or split, at full precision."""
    e = SYNTH["belief_assignment"][effect]
    for name, split in (("unsplit", "none"), ("mass_preserving", "mass-preserving"), ("equitable", "equitable")):
        if f"{name}_conflict" not in e:
            continue
        r = synthesize(ev, e["property"], rules="ssm2026", discount="none", belief_split=split, rounding=False)
        assert r.intensity == e[f"{name}_intensity"], name
        assert round(100 * r.belief) == e[f"{name}_belief_percent"], name
        assert r.conflict_last == pytest.approx(e[f"{name}_conflict"], abs=1e-12), name
