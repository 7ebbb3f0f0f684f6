"""Proportion measures (PLO, PAS, PR) and binomial variances from the evaluation-set size, against metafor.

References: tests/fixtures/metafor_breadth3/proportions.json, made by its make_fixtures.R (metafor's escalc on
metadat's dat.pritz1997, dat.debruin2009 and dat.bcg, on matched-pairs tables, and on the shipped zooq accuracy
rows with their n_eval).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metaquant.classical.rma import rma
from metaquant.errors import DataError, UsageError
from metaquant.evidence.effects import compute_effects, paired_variance, proportion_difference, proportion_effect
from metaquant.spec import FitSpec

FIX = Path(__file__).parent / "fixtures" / "metafor_breadth3"
REF = json.loads((FIX / "proportions.json").read_text())
TOL = 1e-6
#: escalc's two-group measure for each proportion measure (difference of the transformed proportions)
TWO = {"PLO": "OR", "PAS": "AS", "PR": "RD", "PLN": "RR"}


def close(a, b, tol=TOL):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=tol, atol=1e-13)


@pytest.mark.parametrize("case", ["pritz", "debruin", "edges"])
@pytest.mark.parametrize("measure", ["PLO", "PAS", "PR", "PLN"])
def test_single_proportion_matches_escalc(case, measure):
    c = REF[case]
    xi, ni = np.asarray(c["xi"], float), np.asarray(c["ni"], float)
    yi, vi = proportion_effect(xi / ni, ni, measure)
    close(yi, c[measure]["yi"])
    close(vi, c[measure]["vi"])


@pytest.mark.parametrize("case", ["bcg", "zooq"])
@pytest.mark.parametrize("measure", ["PLO", "PAS", "PR", "PLN"])
def test_difference_of_independent_groups_matches_escalc(case, measure):
    c = REF[case]
    nq, nb = np.asarray(c["nq"], float), np.asarray(c["nb"], float)
    yi, vi = proportion_difference(np.asarray(c["xq"]) / nq, np.asarray(c["xb"]) / nb, nq, nb, measure)
    close(yi, c[TWO[measure]]["yi"])
    close(vi, c[TWO[measure]]["vi"])
    # lower is better: the same difference, the other way round
    yl, vl = proportion_difference(np.asarray(c["xq"]) / nq, np.asarray(c["xb"]) / nb, nq, nb, measure,
                                   higher_is_better=False)
    close(yl, -np.asarray(c[TWO[measure]]["yi"]))
    close(vl, c[TWO[measure]]["vi"])


def test_stated_item_correlation_is_the_matched_pairs_variance():
    """PR with r = phi of the paired table of item scores has metafor's MPRD variance (and the same difference)."""
    c = REF["paired"]
    yi, vi = proportion_difference(c["pq"], c["pb"], c["n"], measure="PR", r=np.asarray(c["phi"]))
    close(yi, c["MPRD"]["yi"])
    close(vi, c["MPRD"]["vi"])
    _, v0 = proportion_difference(c["pq"], c["pb"], c["n"], measure="PR")
    assert np.all(v0 > vi)  # positively correlated items: independence overstates the variance
    with pytest.raises(UsageError, match="correlation"):
        paired_variance(1.0, 1.0, 1.5)


def _zooq_rows(**extra) -> pd.DataFrame:
    z = pd.read_csv(FIX / "zooq_accuracy.csv")
    return z.assign(property="accuracy", **extra)


@pytest.mark.parametrize("measure", ["PLO", "PAS", "PR", "ROM"])
def test_effect_table_of_the_shipped_accuracy_rows(measure):
    """The zooq accuracy rows (% with n_eval, no spread) through compute_effects: escalc's two-group values."""
    tab = compute_effects(_zooq_rows(), measure=measure)
    ref = REF["zooq"][TWO["PLN" if measure == "ROM" else measure]]
    close(tab["yi"], ref["yi"])
    close(tab["vi"], ref["vi"])
    assert tab["vi_known"].all()
    assert tab["vi_note"].str.startswith("binomial variance from n_eval").all()
    assert (tab["measure"] == measure).all()


def test_fractions_give_the_same_effects_as_percentages():
    z = _zooq_rows()
    pct = compute_effects(z, measure="PLO")
    frac = compute_effects(z.assign(baseline_mean=z.baseline_mean / 100, quant_mean=z.quant_mean / 100,
                                    unit="fraction"), measure="PLO")
    close(frac["yi"], pct["yi"])
    close(frac["vi"], pct["vi"])
    nounit = compute_effects(z.assign(unit=None), measure="PLO")  # values above 1: a percentage
    close(nounit["yi"], pct["yi"])


def test_pooled_logit_difference_matches_metafor():
    """rma(REML) on the PLO differences of the zooq rows, as metafor fits escalc's OR."""
    tab = compute_effects(_zooq_rows(), measure="PLO")
    res = rma(tab["yi"].to_numpy(), tab["vi"].to_numpy(), method="REML")
    ref = REF["zooq"]["PLO_rma"]
    close(res.beta, ref["beta"])
    close(res.se, ref["se"])
    close(res.tau2, ref["tau2"], 1e-5)


def test_item_correlation_lowers_the_binomial_variance():
    tab0 = compute_effects(_zooq_rows(), measure="PLO")
    tab5 = compute_effects(_zooq_rows(), measure="PLO", item_correlation=0.5)
    ref = REF["zooq"]
    vq = 1 / (np.asarray(ref["xq"]) * (1 - np.asarray(ref["xq"]) / ref["nq"]))
    vb = 1 / (np.asarray(ref["xb"]) * (1 - np.asarray(ref["xb"]) / ref["nb"]))
    close(tab0["vi"] - tab5["vi"], np.sqrt(vq * vb))  # 2 r sqrt(vq vb) with r = 1/2


def test_ambiguous_and_bad_scales_are_refused():
    z = _zooq_rows().head(3)
    amb = z.assign(baseline_mean=0.8, quant_mean=0.7, unit=None)
    with pytest.raises(DataError, match="ambiguous"):
        compute_effects(amb, measure="PLO")
    with pytest.raises(DataError, match="ambiguous"):  # also for the ROM binomial variance
        compute_effects(amb, measure="ROM")
    with pytest.raises(DataError, match="outside its range"):
        compute_effects(z.assign(quant_mean=0.7, baseline_mean=1.2, unit="fraction"), measure="PLO")
    with pytest.raises(DataError, match="not a proportion's unit"):
        compute_effects(z.assign(unit="ms"), measure="PLO")


def test_rows_without_n_eval_have_unknown_variance_and_other_properties_keep_rom():
    z = _zooq_rows().head(2).assign(n_eval=np.nan)
    lat = pd.DataFrame({"study": ["L"], "property": ["inference_latency"], "baseline_mean": [20.0],
                        "quant_mean": [10.0], "unit": ["ms"]})
    tab = compute_effects(pd.concat([z, lat], ignore_index=True), measure="PLO")
    assert not tab["vi_known"].any()
    assert tab["vi_note"].iloc[0].startswith("no evaluation-set size")
    assert list(tab["measure"]) == ["PLO", "PLO", "ROM"]
    close(tab["yi"].iloc[2], np.log(2.0))
    with pytest.raises(UsageError, match="for proportions"):
        FitSpec("inference_latency", method="reml", measure="PLO")
    assert FitSpec("accuracy", method="reml", measure="pas").measure == "PAS"


def test_a_classical_fit_says_its_variances_are_binomial():
    import metaquant as mq

    res = mq.fit(_zooq_rows().head(12), spec=FitSpec("accuracy", method="reml", measure="PLO",
                                                     model="random-effects"))
    assert any("binomial sampling variance" in n and "overstated" in n for n in res.notes)
