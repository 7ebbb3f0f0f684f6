"""Moderators as formulas (formulaic), checked against metafor's ``rma(mods = ~ ...)`` on dat.bcg.

Fixtures: ``tests/fixtures/formula/`` (``make_fixtures.R``, metafor 3.8-1, threshold 1e-12).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metaquant.classical import rma
from metaquant.errors import InputError
from metaquant.evidence.effects import is_formula, moderator_columns, moderator_levels, moderator_matrix

FIX = Path(__file__).parent / "fixtures" / "formula"


@pytest.fixture(scope="module")
def bcg():
    df = pd.read_csv(FIX / "bcg.csv")
    df["source_file"], df["source_row"] = "bcg.csv", np.arange(1, len(df) + 1)
    return df


REF = json.loads((FIX / "bcg_formula.json").read_text())


@pytest.mark.parametrize("formula", sorted(REF))
def test_formula_design_and_reml_fit_match_metafor(bcg, formula):
    ref = REF[formula]
    X, names = moderator_matrix(bcg, [formula])
    assert len(names) == len(ref["coef_names"]) - 1
    res = rma.rma(bcg["yi"].to_numpy(), bcg["vi"].to_numpy(), mods=X, mod_names=names, method="REML")
    est = [c["estimate"] for c in res.coefficients]
    se = [c["se"] for c in res.coefficients]
    np.testing.assert_allclose(est, ref["beta"], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(se, ref["se"], rtol=1e-6)
    assert res.tau2 == pytest.approx(ref["tau2"], rel=1e-6)
    assert res.QM == pytest.approx(ref["QM"], rel=1e-6)
    assert res.Q == pytest.approx(ref["QE"], rel=1e-8)


def test_formula_names_follow_the_package_style(bcg):
    _, names = moderator_matrix(bcg, ["log2(ablat)*alloc"])
    assert names == ["log2(ablat)", "alloc[random]", "alloc[systematic]", "log2(ablat):alloc[random]",
                     "log2(ablat):alloc[systematic]"]


def test_what_counts_as_a_formula():
    assert not is_formula("bits") and not is_formula("bits:cat")
    assert is_formula("log2(bits)") and is_formula("bits*technique") and is_formula("bits:technique")
    assert moderator_columns("log2(bits)*technique") == ["bits", "technique"]
    assert moderator_columns("bits:cat") == ["bits"]


def test_levels_of_a_combination(bcg):
    levels, names = moderator_levels(bcg, "ablat + alloc")
    assert len(levels) == len(bcg.drop_duplicates(["ablat", "alloc"]))
    assert names[0].startswith("ablat=") and ", alloc=" in names[0]


@pytest.mark.parametrize("formula, needle", [
    ("log2(nope)*alloc", "unknown moderator column 'nope'"),
    ("log2(ablat", "cannot read the moderator formula"),
])
def test_bad_formulas_are_one_line_errors(bcg, formula, needle):
    with pytest.raises(InputError, match=needle.replace("(", r"\(")):
        moderator_matrix(bcg, [formula])


def test_a_missing_moderator_in_a_formula_names_the_row(bcg):
    df = bcg.copy()
    df.loc[3, "ablat"] = np.nan
    with pytest.raises(InputError, match=r"bcg.csv, row 4 \(line 5\), column 'ablat'"):
        moderator_matrix(df, ["log2(ablat)*alloc"])


def test_prediction_at_a_new_setting_matches_metafor_predict(bcg):
    """``design_at`` codes a new setting as the data; the classical read is metafor's ``predict.rma``."""
    from metaquant.workbench.predict import design_at

    ref = json.loads((FIX / "bcg_predict.json").read_text())
    X, names = moderator_matrix(bcg, ["ablat + alloc"])
    res = rma.rma(bcg["yi"].to_numpy(), bcg["vi"].to_numpy(), mods=X, mod_names=names, method="REML")
    x = design_at(bcg, ["ablat + alloc"], ref["at"])
    pr = rma.predict(res, x).to_frame().iloc[0]
    for ours, theirs in (("pred", "pred"), ("se", "se"), ("ci_low", "ci_lb"), ("ci_high", "ci_ub"),
                         ("pi_low", "pi_lb"), ("pi_high", "pi_ub")):
        assert pr[ours] == pytest.approx(ref[theirs], rel=1e-6), ours


def test_prediction_at_a_level_the_data_lack_is_refused(bcg):
    from metaquant.workbench.predict import design_at

    with pytest.raises(InputError, match="'nowhere' is not in the data"):
        design_at(bcg, ["ablat + alloc"], {"ablat": 40, "alloc": "nowhere"})
    with pytest.raises(InputError, match="no column 'params'"):
        design_at(bcg, ["ablat"], {"params": 7e9})
