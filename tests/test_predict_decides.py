"""``predict`` conditions on what a practitioner knows, survives unknown covariates and reports its calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
from click.testing import CliRunner

from metaquant import api
from metaquant.classical import rma
from metaquant.cli import main as cli
from metaquant.workbench.predict import loso_calibration


def _table(seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(5):
        for j in range(6):
            bits = (4.0, 8.0)[j % 2]
            rows.append({"study": f"S{s}", "property": "accuracy", "bits": bits,
                         "act_bits": np.nan if (s == 0 and j < 2) else (8.0 if j % 3 else 16.0),
                         "technique": None if j == 5 else ("gptq", "awq")[s % 2],
                         "yi": -0.02 * (8 - bits) + rng.normal(0, 0.01), "vi": 1e-4})
    return api.effect_table(pd.DataFrame(rows))


def _predict(at):
    spec, settings = api.split_options("accuracy", method="reml", variance_policy="drop")
    return api.predict(_table(), spec, at, settings).to_dict()


def test_a_row_without_act_bits_is_left_out_with_a_count():
    d = _predict({"bits": 8, "act_bits": 8})
    assert "2 rows of 30 lack act_bits and were left out" in d["notes"]
    assert d["k"] == 28
    assert d["learned_from"] == {"S1": 6, "S2": 6, "S3": 6, "S4": 6, "S0": 4}


def test_an_unsaid_technique_is_an_unknown_level():
    d = _predict({"bits": 4, "technique": "gptq"})
    assert "5 rows of 30 do not say technique: level 'unknown'" in d["notes"]
    assert d["k"] == 30 and d["pct_pi_low"] < d["pct"] < d["pct_pi_high"]


def test_calibration_matches_a_hand_loop():
    t = _table()
    t = t[t["property"] == "accuracy"].reset_index(drop=True)
    c = loso_calibration(t, ("bits",), "accuracy")
    hits = []
    for s in sorted(t["study"].unique()):
        tr, te = t[t.study != s], t[t.study == s]
        f = rma.rma(tr.yi.to_numpy(), tr.vi.to_numpy(), method="REML", mods=np.log2(tr.bits.to_numpy())[:, None])
        p = rma.predict(f, np.log2(te.bits.to_numpy())[:, None]).to_frame()
        hits += list((te.yi.to_numpy() >= p.pi_low.to_numpy()) & (te.yi.to_numpy() <= p.pi_high.to_numpy()))
    assert c["sources"] == 5 and c["predicted"] == 30
    assert c["coverage"] == np.mean(hits)
    assert c["median_width_pp"] > 0


def test_zooq_w8a8_runs_and_prints_its_calibration():
    res = CliRunner().invoke(cli, ["predict", "--data", "zooq", "--property", "accuracy", "--bits", "8",
                                   "--act-bits", "8", "--method", "reml", "--missing-vi", "drop"])
    assert res.exit_code == 0, res.output
    assert "learned from: AIHUB_NUMERICS 86" in res.output
    assert "calibration of location-scale REML, log τ² ~ act_bits:cat, one source left out at a time" in res.output
