"""BLUPs, random effects and residuals (metaquant.classical.blup, metaquant.classical.residuals) against metafor.

Fixtures: tests/fixtures/metafor_breadth/make_fixtures.R (metafor's blup, ranef, fitted, residuals, rstandard,
rstudent; metafor version in each JSON's ``meta``).
"""

from __future__ import annotations

import numpy as np
import pytest
from breadth_cases import MV, UNI, data, fit, fixture

from metaquant.classical import residuals as R
from metaquant.classical.blup import blup, ranef
from metaquant.errors import InputError

RTOL = 1e-6
# bench_perplexity's likelihood is flat in sigma² (see tests/test_rma_mv.py): metafor's optimum is 1e-5 relative
LOOSE = {"mv_bench_perplexity": 1e-5}


def _close(a, b, rtol):
    # where the study-level sigma² is 0 here and ~1e-9 in metafor (bench_perplexity), its effects are 0 vs ~1e-8 and
    # their SEs 0 vs 3e-5 (prediction bounds 0 vs 6e-5)
    atol = 1e-4 if rtol > RTOL else 1e-12
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", UNI)
@pytest.mark.parametrize("what", ["blup", "ranef"])
def test_rma_blup_and_ranef(name, what):
    fx, r = fixture(name), fit(name)
    got = (blup if what == "blup" else ranef)(r)
    ref = fx[what]
    for col, key in (("pred", "pred"), ("se", "se"), ("pi_low", "pi.lb"), ("pi_high", "pi.ub")):
        _close(got[col], ref[key], RTOL)


@pytest.mark.parametrize("name", MV)
def test_rma_mv_ranef_per_level(name):
    fx, r = fixture(name), fit(name)
    got = ranef(r, data=data(name))
    assert len(got) == len(fx["ranef"])
    rtol = LOOSE.get(name, RTOL)
    for frame, ref in zip(got.values(), fx["ranef"].values(), strict=True):
        f = frame.loc[ref["names"]]
        _close(f["pred"], ref["pred"], rtol)
        _close(f["se"], ref["se"], rtol)
        _close(f["pi_low"], ref["pi_lb"], rtol)
        _close(f["pi_high"], ref["pi_ub"], rtol)


@pytest.mark.parametrize("name", MV)
def test_rma_mv_blup_is_fitted_plus_random_effects(name):
    """Each row's BLUP is its fitted value plus its random effects (metafor: fitted(res) + ranef(res) summed)."""
    fx, r = fixture(name), fit(name)
    b = blup(r)
    u = ranef(r, data=data(name))
    d = data(name)
    total = np.array(fx["fitted"], float)
    for level, frame in u.items():
        if " | " in level:
            inner, outer = level.split(" | ")
            keys = [f"{a} | {b_}" for a, b_ in zip(d[inner].astype(str), d[outer].astype(str), strict=True)]
        else:
            cols = level.split("/")
            keys = ["/".join(str(d[c].iloc[i]) for c in cols) for i in range(len(d))]
        total = total + frame.loc[keys, "pred"].to_numpy()
    _close(b["pred"], total, LOOSE.get(name, RTOL))
    assert np.all(b["se"] > 0) and np.all(b["pi_low"] < b["pred"])


@pytest.mark.parametrize("name", UNI + MV)
def test_fitted_residuals_rstandard(name):
    fx, r = fixture(name), fit(name)
    rtol = LOOSE.get(name, RTOL)
    _close(R.fitted(r), fx["fitted"], rtol)
    _close(R.residuals(r), fx["resid"], rtol)
    _close(R.residuals(r, "pearson"), fx["pearson"], rtol)
    s = R.rstandard(r)
    for col in ("resid", "se", "z"):
        _close(s[col], fx["rstandard"][col], rtol)


@pytest.mark.parametrize("name", [*UNI, "mv_crede"])
def test_rstudent(name):
    fx, r = fixture(name), fit(name)
    t = R.rstudent(r)
    # metafor 3.8 reports NA for some rows (2 of 17 in ssm2025_accuracy; in crede2010 the rows alone in their
    # study) where the refit without the row exists; those rows are compared nowhere (not yet explained)
    ref = {col: np.array(fx["rstudent"][col], float) for col in ("resid", "se", "z")}
    ok = ~np.isnan(ref["z"])
    assert ok.sum() >= 17 - 2 if name.startswith("uni_ssm") else ok.sum() >= 30
    for col in ("resid", "se", "z"):
        _close(t[col].to_numpy()[ok], ref[col][ok], RTOL)


def test_rstudent_bench_perplexity():
    """66 of 67 rows to 1e-5; row 57's deleted refit lands elsewhere on a flat likelihood (0.7% apart in z)."""
    fx, r = fixture("mv_bench_perplexity"), fit("mv_bench_perplexity")
    t = R.rstudent(r)
    keep = np.arange(r.k) != 56
    _close(t["z"].to_numpy()[keep], np.array(fx["rstudent"]["z"], float)[keep], 1e-5)


def test_clear_errors():
    with pytest.raises(InputError, match="unknown residual type"):
        R.residuals(fit("uni_bangertdrowns"), "cholesky")
    with pytest.raises(InputError, match="not available"):
        R.rstudent(fit("mv_vanhouwelingen_un"))
