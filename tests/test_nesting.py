""""Rows nested in studies" has one definition (metaquant.evidence.nesting), read by every engine and rule."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from metaquant.classical.bias import bias_input
from metaquant.classical.engine import is_nested
from metaquant.evidence.nesting import nesting
from metaquant.fitting import effect_table, exact_applicable, property_rows
from metaquant.workbench.primary import structure

PKG = Path(__file__).resolve().parents[1] / "metaquant"
#: Ways the rule was once written out by hand, beside the one function.
HAND_WRITTEN = [r"size\(\)\s*>\s*1", r"counts\s*>\s*1", r"len\(studies\)\s*<\s*len\(y\)", r"n_studies\s*<\s*self\.k"]


def test_the_rule_is_written_once():
    hits = [f"{p.relative_to(PKG)}:{i}" for p in PKG.rglob("*.py") if p.name != "nesting.py"
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if any(re.search(pat, line) for pat in HAND_WRITTEN)]
    assert not hits, hits


def test_counts_by_hand():
    n = nesting(pd.DataFrame({"study": ["b", "a", "b", "c", "b"]}))
    assert (n.k, n.n_studies, n.max_rows, n.max_study, n.nested) == (5, 3, 3, "b", True)
    assert not nesting(["x", "y", "z"]).nested
    assert nesting([]).k == 0 and not nesting([]).nested


@pytest.mark.parametrize("data", ["ssm2025", "benchmarks"])
def test_every_reader_agrees_on_the_shipped_data(data):
    table = effect_table(data)
    for prop in sorted(table["property"].unique()):
        rows = property_rows(table, prop)
        want = bool(rows.groupby("study").size().max() > 1)  # the definition, counted independently
        assert is_nested(rows) is want, prop
        assert exact_applicable(rows)[0] is (not want), prop
        assert structure(rows)["nested"] is want, prop
        known = rows[rows["vi_known"].astype(bool)]
        if len(known) >= 2:
            assert bias_input(known).nested is bool(known.groupby("study").size().max() > 1), prop


def test_bias_fits_one_study_as_the_random_effects_model_it_reduces_to():
    rows = pd.DataFrame({"study": ["S"] * 4, "comparison": list("abcd"), "yi": [0.1, 0.2, 0.05, 0.3],
                         "vi": [0.01, 0.02, 0.01, 0.03]})
    inp = bias_input(rows.assign(property="accuracy", vi_known=True))
    assert inp.nested and not inp.multilevel
