"""Outlier flags (|rstudent| > 3 or Cook's distance > qchisq(0.5, p)) and the estimate without the flagged rows,
against metafor 3.8-1 (tests/fixtures/metafor_breadth2/outliers.json, made by its make_fixtures.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metaquant.classical.outliers import outliers
from metaquant.classical.rma import rma
from metaquant.classical.rma_mv import rma_mv

FIX = Path(__file__).parent / "fixtures" / "metafor_breadth2"
MV_FIX = Path(__file__).parent / "fixtures" / "metafor_mv"
CASES = json.loads((FIX / "outliers.json").read_text())
DATA = {"pritz": FIX / "pritz1997.csv", "colditz": FIX / "colditz1994.csv", "curtis": FIX / "curtis1998.csv",
        "ssm2025": MV_FIX / "ssm2025_accuracy.csv", "ppl_mv": MV_FIX / "bench_perplexity.csv"}


def _fit(name):
    fx = CASES[name]
    d = pd.read_csv(DATA[name])
    X = np.array(fx["X"], dtype=float).reshape(len(d), -1)
    names = list(np.atleast_1d(fx["colnames"]))
    if fx["model"] == "rma":
        return rma(d["yi"].to_numpy(), d["vi"].to_numpy(), mods=X, mod_names=names, intercept=False, method="REML")
    d["es"] = np.arange(1, len(d) + 1)
    return rma_mv(d["yi"].to_numpy(), d["vi"].to_numpy(), random=["study", "es"], data=d, mods=X,
                  mod_names=names, intercept=False, method="REML", profile=False)


# The 67 deleted rma.mv fits of the benchmarks rows: metafor's nlminb (rel.tol 1e-10; 1e-12 does not converge)
# stops early in a flat direction of the likelihood -- without row 14 its logLik is -57.67727546834, ours
# -57.67727546833 -- so the deleted residuals agree to 5e-5 there and the Cook's distances (differences of nearly
# equal coefficients, all below 1e-3 against a cut of 0.45) to 5e-8 absolute; the rma fits and the refit match to
# 1e-6.
_RTOL = {"ppl_mv": 1e-4}
_ATOL_COOK = {"ppl_mv": 1e-7}


@pytest.mark.parametrize("name", ["pritz", "colditz", "curtis", "ssm2025", "ppl_mv"])
def test_flags_and_refit_match_metafor(name):
    fx = CASES[name]
    rtol = _RTOL.get(name, 1e-6)
    out = outliers(_fit(name))
    ref = np.array([np.nan if v is None else v for v in fx["rstudent"]])
    ok = np.isfinite(ref)  # metafor 3.8-1 gives NA where the deleted fit exists (see docs/methods §14)
    assert ok.sum() >= len(ref) - 2
    np.testing.assert_allclose(out.table["rstudent"][ok], ref[ok], rtol=rtol, atol=1e-9)
    cref = np.array([np.nan if v is None else v for v in fx["cook_d"]])
    np.testing.assert_allclose(out.table["cook_d"][ok], cref[ok], rtol=rtol, atol=_ATOL_COOK.get(name, 1e-9))
    assert out.flagged == list(np.atleast_1d(fx["flagged"]).astype(int))
    if out.flagged:
        np.testing.assert_allclose(out.beta_without, fx["beta_without"], rtol=1e-6)
        pct = 100 * (np.atleast_1d(fx["beta_without"])[0] - np.atleast_1d(fx["beta"])[0]) / abs(
            np.atleast_1d(fx["beta"])[0])
        assert out.change_pct == pytest.approx(pct, rel=1e-6)
        assert f"{pct:+.1f}%" in out.note()
    else:
        assert out.note() is None and out.estimate_without is None


def test_cook_cut_is_the_chi2_median():
    out = outliers(_fit("colditz"))
    assert out.cook_cut == pytest.approx(1.386294361, rel=1e-9)  # qchisq(0.5, 2)


def test_fit_says_which_rows_are_flagged_and_how_far_the_estimate_moves():
    from metaquant.fitting import fit_table
    from metaquant.spec import FitSpec, RunSettings

    t = pd.read_csv(MV_FIX / "ssm2025_accuracy.csv").assign(vi_known=True)
    t["comparison"] = t["comparison"].astype(str)
    t["model"] = t["model"].astype(str)
    res = fit_table(t, FitSpec("accuracy", method="reml", model="random-effects"), RunSettings(profile=False))
    fx = CASES["ssm2025"]
    pct = 100 * (np.atleast_1d(fx["beta_without"])[0] - np.atleast_1d(fx["beta"])[0]) / abs(
        np.atleast_1d(fx["beta"])[0])
    notes = [n for n in res.notes if "outlying" in n]
    assert len(notes) == 1
    assert t["comparison"][5] in notes[0] and f"({pct:+.1f}%)" in notes[0]


def test_a_fit_too_large_for_the_check_says_so(monkeypatch):
    from metaquant.classical import outliers as mod
    from metaquant.fitting import fit_table
    from metaquant.spec import FitSpec, RunSettings

    monkeypatch.setitem(mod.MAX_ROWS, "rma", 10)
    t = pd.read_csv(MV_FIX / "ssm2025_accuracy.csv").assign(vi_known=True)
    res = fit_table(t, FitSpec("accuracy", method="reml", model="random-effects"), RunSettings(profile=False))
    assert any(n.startswith("outlier check not run: 17 rows") for n in res.notes)
    assert not any("outlying" in n for n in res.notes)
