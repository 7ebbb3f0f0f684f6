"""rma_mv `~ inner | outer` structures CS, HCS, DIAG, ID, AR, HAR and rma_mv without random effects, vs metafor.

Fixtures: tests/fixtures/metafor_structures/make_fixtures.R (``structures.json``; metafor version in ``meta``):
dat.berkey1998 (``~ outcome | trial``, CS/HCS/DIAG/ID and GLS) and dat.ishak2007 in long format (``~ time | study``,
AR/HAR), REML and ML, every optimum interior.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metaquant.classical.rma_mv import rma_mv
from metaquant.errors import InputError

FIX = Path(__file__).parent / "fixtures" / "metafor_structures"
FX = json.loads((FIX / "structures.json").read_text())
TERMS = {"berkey1998": ("outcome", "trial"), "ishak2007_long": ("time", "study")}
CASES = [n for n, c in FX.items() if n != "meta" and c["struct"] != "none"]


def _data(name: str):
    d = pd.read_csv(FIX / f"{name}.csv")
    V = np.loadtxt(FIX / f"{name.removesuffix('_long')}_V.csv", delimiter=",")
    return d, V


def _fit(name: str, **kw):
    c = FX[name]
    d, V = _data(c["data"])
    inner, outer = TERMS[c["data"]]
    r = rma_mv(d["yi"], V, random=f"~ {inner} | {outer}", data=d, mods=np.array(c["X"]), mod_names=c["colnames"],
               intercept=False, method=c["method"], struct=c["struct"], profile=False, **kw)
    return r, c


@pytest.mark.parametrize("name", CASES)
def test_structure_matches_metafor(name):
    """logLik, tau², rho, coefficients, SEs and fit statistics as metafor.

    Where metafor's nlminb reported convergence only at rel.tol 1e-10 (``rel_tol`` in the fixture: berkey HCS REML,
    CS ML and DIAG REML; every ishak AR/HAR fit) its optimum is flat to that tolerance, so our logLik must be at least
    metafor's (to 1e-12 relative) and the parameters agree to 2e-5 (measured at most 8.7e-6, HAR ML tau²); at
    rel.tol 1e-12 they agree to 1e-6.
    """
    r, c = _fit(name)
    assert r.converged and r.struct == c["struct"] and not r.warnings
    tol = 1e-6 if c["rel_tol"] <= 1e-12 else 2e-5
    ll = r.fitstats["ll"]
    assert ll >= c["ll"] - 1e-12 * abs(c["ll"])
    np.testing.assert_allclose(ll, c["ll"], rtol=1e-9)
    np.testing.assert_allclose(r.tau2, np.atleast_1d(c["tau2"]), rtol=tol)
    if c["struct"] in ("DIAG", "ID"):
        assert r.rho.size == 0
    else:
        np.testing.assert_allclose(r.rho, np.atleast_1d(c["rho"]), rtol=tol)
    np.testing.assert_allclose(r.beta, c["beta"], rtol=tol)
    np.testing.assert_allclose([x["se"] for x in r.coefficients], c["se"], rtol=5 * tol)
    assert r.fitstats["parms"] == c["parms"]
    for key, mine in [("AIC", "AIC"), ("BIC", "BIC"), ("AICc", "AICc"), ("dev", "deviance")]:
        np.testing.assert_allclose(r.fitstats[mine], c[key], rtol=1e-9)
    np.testing.assert_allclose(r.QE, c["QE"], rtol=1e-9)
    if c["struct"] in ("HCS", "DIAG", "HAR"):
        assert r.tau2_names == [str(v) for v in c["g_levels"]]


def test_ar_levels_in_numeric_order():
    """AR lags are distances of the levels in numeric order: relabelling time 4 as 10 leaves the fit unchanged,
    while a string order ('1', '10', '2', '3') would move the last level next to the first."""
    c = FX["ishak_AR_REML"]
    d, V = _data("ishak2007_long")
    d["time"] = d["time"].replace({4: 10})
    r = rma_mv(d["yi"], V, random="~ time | study", data=d, mods=np.array(c["X"]), intercept=False, struct="AR",
               profile=False)
    np.testing.assert_allclose(r.fitstats["ll"], c["ll"], rtol=1e-9)
    h, _ = _fit("ishak_HAR_REML")
    assert h.tau2_names == ["1", "2", "3", "4"]


def test_sigma_stays_valid_and_prints():
    """Every fitted Sigma is positive definite (log variances, tanh correlations) and printed as metafor's tau/rho."""
    from metaquant.classical.structures import sigma_of

    for name in CASES:
        r, c = _fit(name)
        q = len(c["g_levels"])
        nv = r.tau2.size
        theta = np.r_[np.log(r.tau2), np.arctanh(r.rho)]
        S = sigma_of(theta, c["struct"], q)
        assert np.min(np.linalg.eigvalsh(S)) > 0
        np.testing.assert_allclose(np.diag(S), np.broadcast_to(r.tau2, (q,)) if nv == 1 else r.tau2)
    r, c = _fit("berkey_CS_REML")
    assert f"rho.1      {c['rho']:8.4f}" in str(r)


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_gls_without_random_effects(method):
    """rma.mv(yi, V, mods) with no random term: GLS with M = V; logLik, deviance, QE, QM, beta as metafor."""
    c = FX[f"berkey_GLS_{method}"]
    d, V = _data("berkey1998")
    r = rma_mv(d["yi"], V, data=d, mods=np.array(c["X"]), intercept=False, method=method)
    np.testing.assert_allclose(r.beta, c["beta"], rtol=1e-9)
    np.testing.assert_allclose([x["se"] for x in r.coefficients], c["se"], rtol=1e-9)
    for key, mine in [("ll", "ll"), ("dev", "deviance"), ("AIC", "AIC"), ("BIC", "BIC"), ("AICc", "AICc")]:
        np.testing.assert_allclose(r.fitstats[mine], c[key], rtol=1e-9)
    np.testing.assert_allclose([r.QE, r.QM], [c["QE"], c["QM"]], rtol=1e-9)
    assert r.sigma2.size == 0 and r.fitstats["parms"] == c["parms"]


def test_unknown_struct_is_named():
    d, V = _data("berkey1998")
    with pytest.raises(InputError, match="struct 'CAR' is not available"):
        rma_mv(d["yi"], V, random="~ outcome | trial", data=d, struct="CAR")
