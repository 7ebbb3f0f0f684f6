"""predict() on cluster-robust fits (CR1, and CR2 with clubSandwich's Satterthwaite df), named new moderator values
and ``intercept=False``, against metafor 3.8-1 + clubSandwich 0.5.8 (tests/fixtures/metafor_breadth2/
robust_predict.json, made by its make_fixtures.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metaquant.classical.rma import rma
from metaquant.classical.rma_mv import rma_mv
from metaquant.classical.robust import predict_robust, robust
from metaquant.errors import InputError

FIX = Path(__file__).parent / "fixtures" / "metafor_breadth2"
MV_FIX = Path(__file__).parent / "fixtures" / "metafor_mv"
CASES = json.loads((FIX / "robust_predict.json").read_text())
DATA = {"curtis": (FIX / "curtis1998.csv", "paper"), "kalaian": (FIX / "kalaian1996.csv", "study"),
        "ssm2025": (MV_FIX / "ssm2025_accuracy.csv", "study")}


def _fit(name):
    fx = CASES[name]
    path, cluster = DATA[name]
    d = pd.read_csv(path)
    X = np.array(fx["X"], dtype=float)[:, 1:]
    names = list(fx["colnames"])
    if name == "kalaian":
        res = rma_mv(d["yi"].to_numpy(), d["vi"].to_numpy(), random=["study", "id"], data=d, mods=X,
                     mod_names=names[1:], method="REML", profile=False)
    else:
        res = rma(d["yi"].to_numpy(), d["vi"].to_numpy(), mods=X, mod_names=names[1:], method="REML")
    return res, d[cluster].to_numpy()


def _check(got: pd.DataFrame, ref: dict):
    for ours, theirs in [("pred", "pred"), ("se", "se"), ("ci_low", "ci_lb"), ("ci_high", "ci_ub"),
                         ("pi_low", "pi_lb"), ("pi_high", "pi_ub")]:
        np.testing.assert_allclose(got[ours], ref[theirs], rtol=1e-6, atol=1e-10, err_msg=ours)


@pytest.mark.parametrize("name", ["curtis", "kalaian", "ssm2025"])
@pytest.mark.parametrize("kind", ["cr1", "cr2"])
def test_robust_predictions_match_metafor(name, kind):
    fx = CASES[name]
    res, cl = _fit(name)
    rob = robust(res, cl, clubSandwich=kind == "cr2")
    new = np.array(fx["newmods"], dtype=float)
    _check(predict_robust(rob, new), fx[kind])
    named = {fx["colnames"][1]: new}  # the moderator by its name
    _check(predict_robust(rob, named), fx[kind])
    _check(predict_robust(rob, pd.DataFrame(named), intercept=False), fx[f"{kind}_noint"])


def test_named_newmods_must_name_the_model_moderators():
    res, cl = _fit("curtis")
    rob = robust(res, cl)
    with pytest.raises(InputError, match="not a moderator"):
        predict_robust(rob, {"year": [1.0]})


def test_predict_dispatches_on_a_robust_result():
    from metaquant.classical.rma import predict

    fx = CASES["ssm2025"]
    res, cl = _fit("ssm2025")
    pr = predict(robust(res, cl, clubSandwich=True), np.array(fx["newmods"], dtype=float)).to_frame()
    _check(pr, fx["cr2"])
