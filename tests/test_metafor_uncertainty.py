"""Profile-likelihood CI of tau², profile(), cumul() and permutest() of rma fits, against metafor.

References: tests/fixtures/metafor_breadth3/uncertainty.json, made by its make_fixtures.R (metadat's dat.bcg,
dat.hackshaw1998, dat.raudenbush1985 and the logit differences of the shipped zooq accuracy rows).
Profile bounds: metafor's uniroot at tol 1e-12 against brentq here; compared at 1e-6 relative (the task allows
1e-4 for root-found bounds).  Exact permutation p-values are ratios of counts and must agree to 1e-9; random
ones use another generator than R's and agree within Monte Carlo error (4 standard errors of a share of 1000).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metaquant.classical.rma import rma
from metaquant.classical.uncertainty import confint_pl, cumul, permutest, profile_tau2

FIX = Path(__file__).parent / "fixtures" / "metafor_breadth3"
REF = json.loads((FIX / "uncertainty.json").read_text())


@functools.cache
def data(name: str) -> pd.DataFrame:
    if name == "zooq":
        z = pd.read_csv(FIX / "zooq_accuracy.csv")
        r = json.loads((FIX / "proportions.json").read_text())["zooq"]["OR"]
        return pd.DataFrame({"yi": r["yi"], "vi": r["vi"], "baseline": z["baseline_mean"]})
    return pd.read_csv(FIX / {"bcg": "bcg.csv", "hackshaw": "hackshaw1998.csv",
                              "raudenbush": "raudenbush1985.csv"}[name])


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=tol, atol=1e-10)


def _fit(c, d=None, X=None):
    d = data(c["data"]) if d is None else d
    X = np.array(c["X"], float) if X is None else X
    return rma(d["yi"].to_numpy(), d["vi"].to_numpy(), mods=X, intercept=False, method=c["method"],
               test=c.get("test", "z"), level=c.get("level", 95))


@pytest.mark.parametrize("i", range(len(REF["pl"])))
def test_profile_likelihood_ci_matches_confint_pl(i):
    c = REF["pl"][i]
    res = _fit(c)
    close(res.tau2, c["tau2"], 1e-5)
    ci = confint_pl(res)
    close(ci.tau2[1:], c["ci_tau2"][1:])
    close(ci.tau[1:], c["ci_tau"][1:])
    close(ci.I2[1:], c["ci_I2"][1:])
    close(ci.H2[1:], c["ci_H2"][1:])
    prof = profile_tau2(res, c["profile_tau2"])
    close(prof["ll"], c["profile_ll"], 1e-8)


@pytest.mark.parametrize("i", range(len(REF["cumul"])))
def test_cumulative_meta_analysis_matches_cumul(i):
    c = REF["cumul"][i]
    d = data(c["data"])
    res = rma(d["yi"].to_numpy(), d["vi"].to_numpy(), method=c["method"], test=c["test"])
    out = cumul(res, order=d[c["order"]])
    assert list(out["k"]) == list(range(1, len(d) + 1))
    for col in ("estimate", "se", "stat", "pval", "ci_low", "ci_high", "Q", "tau2", "I2", "H2"):
        ref = np.array(c[col], dtype=float)
        ok = np.isfinite(ref)  # metafor leaves Q_p, I2, H2 of the one-row step NA
        close(out[col].to_numpy()[ok], ref[ok], 1e-5 if col in ("tau2", "I2", "H2") else 1e-6)
    ok = np.isfinite(np.array(c["Q_p"], dtype=float))
    close(out["Q_p"].to_numpy()[ok], np.array(c["Q_p"], dtype=float)[ok])


def _perm_fit(c):
    """The fit as metafor made it: intercept added, the moderators as ``mods`` (so QM leaves the intercept out)."""
    X = np.array(c["X"], float)
    return rma(np.array(c["yi"]), np.array(c["vi"]), mods=X[:, 1:] if X.shape[1] > 1 else None,
               method=c["method"], test=c["test"])


@pytest.mark.parametrize("i", range(len(REF["perm_exact"])))
def test_exact_permutation_p_values_match_permutest(i):
    c = REF["perm_exact"][i]
    res = _perm_fit(c)
    pt = permutest(res, exact=True)
    assert pt.exact
    close(pt.pval, np.atleast_1d(c["pval"]), 1e-9)
    close(pt.QM_p, c["QMp"], 1e-9)


@pytest.mark.parametrize("i", range(len(REF["perm_random"])))
def test_random_permutation_p_values_within_monte_carlo_error(i):
    c = REF["perm_random"][i]
    res = _perm_fit(c)
    pt = permutest(res, iter=c["iter"], seed=7)
    assert not pt.exact and pt.iterations == c["iter"]
    ref = np.atleast_1d(np.asarray(c["pval"], float))
    se = np.sqrt(np.maximum(ref * (1 - ref), 0.002) / c["iter"])
    assert np.all(np.abs(pt.pval - ref) <= 4 * se + 1e-3), (pt.pval, ref)
    again = permutest(res, iter=50, seed=7).pval.tolist()
    assert permutest(res, iter=50, seed=7).pval.tolist() == again  # seeded: reproducible


def test_refusals():
    d = data("bcg")
    fe = rma(d["yi"].to_numpy(), d["vi"].to_numpy(), method="DL")
    with pytest.raises(ValueError, match="ML or REML"):
        confint_pl(fe)
    reg = rma(d["yi"].to_numpy(), d["vi"].to_numpy(), mods=d["ablat"].to_numpy(), method="REML")
    with pytest.raises(ValueError, match="without moderators"):
        cumul(reg)
    with pytest.raises(ValueError, match="order has 3 values"):
        cumul(fe, order=[1, 2, 3])
    hk = data("hackshaw")
    with pytest.raises(ValueError, match="exact test needs"):  # 2^37 sign vectors
        permutest(rma(hk["yi"].to_numpy(), hk["vi"].to_numpy(), method="DL"), exact=True)


def test_profile_plot_draws_the_profile(tmp_path):
    from metaquant.present.uncertainty_plots import profile_plot

    c = REF["pl"][0]
    res = _fit(c)
    fig, prof = profile_plot(res, path=tmp_path / "profile.png")
    assert (tmp_path / "profile.png").stat().st_size > 0
    assert prof["ll"].max() <= prof.attrs["ll_max"] + 1e-12
    assert prof["tau2"].min() <= confint_pl(res).tau2[1] and prof["tau2"].max() >= confint_pl(res).tau2[2]
