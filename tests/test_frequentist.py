"""Tests of metaquant.classical.rma against R's metafor (fixtures made by tests/fixtures/metafor/make_fixtures.R).

The tests need no R: every reference number (and the yi/vi it was computed from) is stored in
the JSON fixtures together with the metafor version and R call that produced it.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.meta_analysis import combine_effects

from metaquant.classical import rma as fq
from metaquant.classical.rma import RMAResult, predict, rma, rma_batch

FIXDIR = Path(__file__).parent / "fixtures" / "metafor"
RTOL = 1e-6
ATOL = 1e-8


def _load(name: str) -> dict:
    return json.loads((FIXDIR / f"{name}.json").read_text())


FIXTURES = {p.stem: json.loads(p.read_text()) for p in sorted(FIXDIR.glob("*.json")) if p.stem != "published"}
PUB = _load("published")

CASES = [
    pytest.param(name, i, id=f"{name}-{f['method']}-{f['test']}")
    for name, fx in FIXTURES.items()
    for i, f in enumerate(fx["fits"])
]


@functools.cache
def _fit_case(name: str, idx: int) -> RMAResult:
    fx = FIXTURES[name]
    return _fit(fx, fx["fits"][idx])


def _fit(fx: dict, f: dict) -> RMAResult:
    return rma(
        fx["yi"],
        fx["vi"],
        method=f["method"],
        test=f["test"],
        mods=fx["mods"],
        mod_names=fx["mod_names"],
        intercept=fx["intercept"],
        level=f["level"],
    )


def _close(actual, expected, what: str, rtol: float = RTOL, atol: float = ATOL) -> None:
    a = np.atleast_1d(np.asarray(actual, dtype=float))
    e = np.atleast_1d(np.asarray([np.nan if x is None else x for x in np.atleast_1d(expected)], dtype=float))
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def _coef(res: RMAResult, key: str) -> list[float]:
    return [c[key] for c in res.coefficients]


# ------------------------------------------------------------------------------------------
# fixture sanity: the fixtures really are metafor output and carry their provenance
# ------------------------------------------------------------------------------------------
def test_fixture_provenance():
    assert len(FIXTURES) >= 10
    for name, fx in FIXTURES.items():
        for key in ("metafor_version", "R_version", "date", "data_call", "generator"):
            assert fx[key], (name, key)
        assert len(fx["yi"]) == len(fx["vi"]) >= 1
        for f in fx["fits"]:
            assert "rma(" in f["call"]
            assert "error" not in f["tight"], (name, f["method"], f["test"], f["tight"].get("error"))


# ------------------------------------------------------------------------------------------
# every estimator x test x dataset against metafor converged tightly (rtol 1e-6)
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, idx", CASES)
def test_matches_metafor(name, idx):
    fx = FIXTURES[name]
    f = fx["fits"][idx]
    ref = f["tight"]
    res = _fit_case(name, idx)

    assert res.k == ref["k"] and res.p == ref["p"]
    ref_names = ref["coef_names"] if isinstance(ref["coef_names"], list) else [ref["coef_names"]]
    assert res.coef_names == ref_names
    _close(res.beta, ref["beta"], "beta")
    _close(_coef(res, "se"), ref["se"], "se")
    _close(_coef(res, "stat"), ref["zval"], "zval/tval")
    _close(_coef(res, "p"), ref["pval"], "pval")
    _close(_coef(res, "ci_low"), ref["ci_lb"], "ci_lb")
    _close(_coef(res, "ci_high"), ref["ci_ub"], "ci_ub")
    assert res.estimate == res.beta[0] and res.ci_low == res.coefficients[0]["ci_low"]
    _close(res.tau2, ref["tau2"], "tau2")
    _close(res.se_tau2, ref["se_tau2"], "se_tau2")
    _close(res.I2, ref["I2"], "I2")
    _close(res.H2, ref["H2"], "H2")
    _close(res.Q, ref["QE"], "QE")
    _close(res.Q_p, ref["QEp"], "QEp")
    _close(res.QM, ref["QM"], "QM")
    _close(res.QM_p, ref["QMp"], "QMp")
    assert res.QM_df == ref["QMdf"][0]
    if res.test == "knha":
        assert res.df == ref["ddf"] == res.QM_ddf == ref["QMdf"][1]
        _close(res.s2w, ref["s2w"], "s2w")
    else:
        assert res.df is None and ref["ddf"] is None
    if res.k > res.p:
        _close(res.vt, ref["vt"], "vt")

    # Q-profile CI (confint.rma.uni)
    if "confint" in ref:
        ci = ref["confint"]
        _close(res.tau2_ci, ci["tau2"][1:], "tau2 Q-profile CI")
        _close(res.I2_ci, ci["I2"][1:], "I2 Q-profile CI")
        _close(res.H2_ci, ci["H2"][1:], "H2 Q-profile CI")
    else:
        assert res.tau2_ci is None and res.I2_ci is None

    # predict.rma without newmods: pooled effect (intercept-only) or fitted values
    pr = predict(res)
    pref = ref["predict"]
    _close(pr.pred, pref["pred"], "predict pred")
    _close(pr.se, pref["se"], "predict se")
    _close(pr.ci_low, pref["ci_lb"], "predict ci_lb")
    _close(pr.ci_high, pref["ci_ub"], "predict ci_ub")
    if res.is_fixed:  # metafor gives no PI for FE/EE models
        assert pref["pi_lb"] == [] and np.all(np.isnan(pr.pi_low))
        assert res.pi_low is None
    else:
        _close(pr.pi_low, pref["pi_lb"], "predict pi_lb")
        _close(pr.pi_high, pref["pi_ub"], "predict pi_ub")
        if res.int_only:
            _close([res.pi_low, res.pi_high], [pref["pi_lb"], pref["pi_ub"]], "result PI")

    if "predict_newmods" in ref:
        pn = ref["predict_newmods"]
        got = predict(res, np.asarray(pn["newmods"], dtype=float))
        for key in ("pred", "se", "ci_lb", "ci_ub") + (() if res.is_fixed else ("pi_lb", "pi_ub")):
            attr = key.replace("_lb", "_low").replace("_ub", "_high")
            _close(getattr(got, attr), pn[key], f"predict(newmods) {key}")


@pytest.mark.parametrize("name, idx", CASES)
def test_tau2_within_metafor_default_tolerance(name, idx):
    """Against metafor with its *default* control, tau² and the Q-profile bounds can only differ by
    metafor's own stopping tolerance (uniroot tol = eps^0.25 = 1.2e-4 absolute for PM and the
    Q-profile; Fisher scoring threshold 1e-5 for ML/REML/EB)."""
    fx = FIXTURES[name]
    f = fx["fits"][idx]
    ref = f["default"]
    res = _fit_case(name, idx)
    tol = np.finfo(float).eps ** 0.25
    assert abs(res.tau2 - ref["tau2"]) <= tol
    if "confint" in ref:
        assert np.all(np.abs(np.asarray(res.tau2_ci) - np.asarray(ref["confint"]["tau2"][1:])) <= tol)
    if f["method"] in ("FE", "DL", "HS", "HE", "SJ"):  # closed form: identical up to rounding
        _close(res.beta, ref["beta"], "beta (closed-form estimator)", rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------------------------
# published values (JSS 2010 printout, metafor tests, statsmodels' metafor references)
# ------------------------------------------------------------------------------------------
def _printed(actual, printed, decimals: int, what: str) -> None:
    """``actual`` rounds to the printed value (half a unit in the last printed place, plus slack
    for printed values that were themselves rounded from a less precise run)."""
    tol = 0.5 * 10.0 ** (-decimals) + 1e-12
    a = np.atleast_1d(np.asarray(actual, dtype=float))
    p = np.atleast_1d(np.asarray(printed, dtype=float))
    assert np.all(np.abs(a - p) <= tol), f"{what}: {a} vs printed {p}"


def _dec(x: float) -> int:
    s = repr(float(x))
    return len(s.split(".")[1]) if "." in s and "e" not in s else 0


def _printed_auto(actual, printed, what: str, decimals: int | None = None) -> None:
    """Compare at the printed number of decimals (or fewer, ``decimals``, where documented)."""
    for a, p in zip(np.atleast_1d(actual), np.atleast_1d(printed), strict=True):
        _printed(a, p, max(_dec(p), 1) if decimals is None else decimals, what)


BCG = FIXTURES["bcg"]


def test_published_bcg_reml_jss():
    pub = PUB["bcg"]["REML"]
    res = rma(BCG["yi"], BCG["vi"])  # default REML, z
    for key, val in [
        ("estimate", res.estimate),
        ("se", res.se),
        ("zval", res.zval),
        ("ci_lb", res.ci_low),
        ("ci_ub", res.ci_high),
        ("tau2", res.tau2),
        ("se_tau2", res.se_tau2),
        ("tau", res.tau),
        ("I2_percent", res.I2),
        ("H2", res.H2),
        ("Q", res.Q),
    ]:
        _printed_auto(val, pub[key], f"REML {key}")
    assert res.Q_df == pub["Q_df"]
    ci = pub["confint"]
    _printed_auto(res.tau2_ci, ci["tau2"][1:], "tau2 CI")
    _printed_auto(np.sqrt(res.tau2_ci), ci["tau"][1:], "tau CI")
    # The printed I² and H² Q-profile bounds carry the error of metafor's default uniroot tolerance
    # (1.2e-4 on tau²): the lower tau² bound is 0.119695 there and 0.119718 when converged (metafor
    # with control=list(tol=1e-12) agrees with us, see the bcg fixture), which moves the printed
    # I² bound 81.9177 -> 81.9206 and H² 5.5303 -> 5.5311.  So these are checked at 2 decimals.
    _printed_auto(res.I2_ci, ci["I2_percent"][1:], "I2 CI", decimals=2)
    _printed_auto(res.H2_ci, ci["H2"][1:], "H2 CI", decimals=2)
    _printed_auto(res.I2, ci["I2_percent"][0], "I2")
    _printed_auto(res.H2, ci["H2"][0], "H2")
    pe = pub["predict_exp"]
    pr = predict(res)
    _printed(
        np.exp([pr.pred[0], pr.ci_low[0], pr.ci_high[0], pr.pi_low[0], pr.pi_high[0]]),
        [pe["pred"], pe["ci_lb"], pe["ci_ub"], pe["cr_lb"], pe["cr_ub"]],
        2,
        "predict(transf=exp)",
    )


def test_published_bcg_dl_and_ee():
    dl = PUB["bcg"]["DL"]
    res = rma(BCG["yi"], BCG["vi"], method="DL")
    _printed_auto(
        [res.estimate, res.ci_low, res.ci_high, res.zval, res.tau2, res.I2, res.H2],
        [dl["estimate"], dl["ci_lb"], dl["ci_ub"], dl["zval"], dl["tau2"], dl["I2_percent"], dl["H2"]],
        "DL",
    )
    _printed_auto(res.tau2_ci, dl["confint"]["tau2"][1:], "DL tau2 CI")
    _printed_auto(res.I2_ci, dl["confint"]["I2_percent"][1:], "DL I2 CI", decimals=2)  # see the REML test
    _printed_auto(res.H2_ci, dl["confint"]["H2"][1:], "DL H2 CI", decimals=2)
    _printed_auto(np.exp([res.estimate, res.ci_low, res.ci_high]), dl["exp_pred"], "DL exp")
    ee = PUB["bcg"]["EE_FE"]
    for m in ("EE", "FE"):
        res = rma(BCG["yi"], BCG["vi"], method=m)
        _printed_auto(
            [res.estimate, res.ci_low, res.ci_high, res.zval, res.Q],
            [ee["estimate"], ee["ci_lb"], ee["ci_ub"], ee["zval"], ee["Q"]],
            m,
        )
        _printed_auto(np.exp([res.estimate, res.ci_low, res.ci_high]), ee["exp_pred"], f"{m} exp")


def _bcg_log_or():
    raw = PUB["bcg_raw_counts"]
    cols = raw["columns"]
    a, b, c, d = (
        np.array([r[cols.index(n)] for r in raw["rows"]], dtype=float) for n in ("tpos", "tneg", "cpos", "cneg")
    )
    assert np.all(np.array([a, b, c, d]) > 0)  # no continuity correction needed
    return np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d, raw


def test_published_bcg_log_or():
    yi, vi, _ = _bcg_log_or()
    res = rma(yi, vi, method="DL")
    p = PUB["bcg"]["log_OR_DL"]
    _printed_auto(
        [res.estimate, res.ci_low, res.ci_high, res.tau2, res.I2],
        [p["estimate"], p["ci_lb"], p["ci_ub"], p["tau2"], p["I2_percent"]],
        "log OR DL",
    )
    res = rma(yi, vi, method="EE")
    p = PUB["bcg"]["log_OR_EE"]
    _printed_auto([res.estimate, res.ci_low, res.ci_high, res.Q], [p["estimate"], p["ci_lb"], p["ci_ub"], p["Q"]], "EE")


def _bcg_moderator(name: str) -> np.ndarray:
    _, _, raw = _bcg_log_or()
    cols = raw["columns"]
    return np.array([r[cols.index(name)] for r in raw["rows"]])


def test_published_bcg_metaregression():
    ablat = _bcg_moderator("ablat").astype(float)
    year = _bcg_moderator("year").astype(float)
    res = rma(BCG["yi"], BCG["vi"], mods=np.column_stack([ablat, year]), mod_names=["ablat", "year"])
    p = PUB["bcg"]["metareg_ablat_year_REML"]
    for c in res.coefficients:
        # The intercept (-3.5455, SE 29) is extremely sensitive to tau²: metafor's default Fisher
        # scoring stops at tau² = 0.1107874 (converged: 0.1107847), giving -3.54551 instead of the
        # converged -3.54535 that metafor reports with control=list(threshold=1e-12); 3 decimals.
        _printed_auto(
            [c["estimate"], c["se"]], p["coef"][c["name"]], c["name"], decimals=3 if c["name"] == "intrcpt" else None
        )
    _printed_auto([res.tau2, res.se_tau2, res.Q], [p["tau2"], p["se_tau2"], p["QE"]], "ablat+year")
    # QM likewise: 12.20425 with metafor's default threshold, 12.20449 converged (both metafor)
    _printed_auto(res.QM, p["QM"], "ablat+year QM", decimals=3)
    assert (res.Q_df, res.QM_df) == (p["QE_df"], p["QM_df"])
    pe = p["predict_exp_year1970"]
    nm = np.column_stack([pe["ablat"], np.full(len(pe["ablat"]), 1970.0)])
    pr = predict(res, nm)
    _printed_auto(np.exp(pr.pred), pe["pred"], "pred")
    _printed_auto(np.exp(pr.ci_low), pe["ci_lb"], "ci_lb")
    _printed_auto(np.exp(pr.ci_high), pe["ci_ub"], "ci_ub")


def test_published_bcg_alloc_knha_and_factor():
    alloc = _bcg_moderator("alloc")
    ablat = _bcg_moderator("ablat").astype(float)
    dummies = np.column_stack([(alloc == "random"), (alloc == "systematic")]).astype(float)
    res = rma(
        BCG["yi"],
        BCG["vi"],
        mods=np.column_stack([dummies, ablat]),
        test="knha",
        mod_names=["alloc_random", "alloc_systematic", "ablat"],
    )
    p = PUB["bcg"]["metareg_alloc_ablat_REML_knha"]
    for c in res.coefficients:
        _printed_auto([c["estimate"], c["se"]], p["coef"][c["name"]], c["name"])
    _printed_auto([res.tau2, res.se_tau2, res.Q, res.QM], [p["tau2"], p["se_tau2"], p["QE"], p["F"]], "alloc+ablat")
    assert [res.QM_df, res.QM_ddf] == p["F_df"] and res.Q_df == p["QE_df"]

    # factor(alloc) alone, reference level "random" (JSS p.19)
    dummies = np.column_stack([(alloc == "alternate"), (alloc == "systematic")]).astype(float)
    res = rma(BCG["yi"], BCG["vi"], mods=dummies, mod_names=["alternate", "systematic"])
    p = PUB["bcg"]["metareg_alloc_factor_REML"]
    _printed_auto(
        [c["estimate"] for c in res.coefficients],
        [p["coef"]["intrcpt(random)"][0], p["coef"]["alternate"][0], p["coef"]["systematic"][0]],
        "est",
    )
    _printed_auto(
        [c["se"] for c in res.coefficients],
        [p["coef"]["intrcpt(random)"][1], p["coef"]["alternate"][1], p["coef"]["systematic"][1]],
        "se",
    )
    _printed_auto(res.QM, p["QM"], "QM")


def test_published_ml_ablat_tau2():
    """JSS p.34: ML fits with and without ablat (tau² and QE)."""
    p = PUB["bcg"]["ML_LRT_ablat"]
    ablat = _bcg_moderator("ablat").astype(float)
    full = rma(BCG["yi"], BCG["vi"], method="ML", mods=ablat)
    red = rma(BCG["yi"], BCG["vi"], method="ML")
    _printed_auto(
        [full.tau2, full.Q, red.tau2, red.Q],
        [p["full"]["tau2"], p["full"]["QE"], p["reduced"]["tau2"], p["reduced"]["QE"]],
        "ML",
    )


def test_kacker_interlab_statsmodels_metafor_refs():
    """Full-precision metafor values shipped with statsmodels (results_meta.py)."""
    kk = PUB["kacker2004_interlab"]
    y, v = kk["y"], kk["v"]
    dl = rma(y, v, method="DL")
    r = kk["DL_metafor"]
    _close(
        [dl.estimate, dl.se, dl.ci_low, dl.ci_high, dl.tau2, dl.se_tau2, dl.Q, dl.I2, dl.H2],
        [r["b"], r["se"], r["ci_lb"], r["ci_ub"], r["tau2"], r["se_tau2"], r["QE"], r["I2"], r["H2"]],
        "DL",
    )
    kh = rma(y, v, method="DL", test="knha")
    r = kk["DL_knha_metafor"]
    _close([kh.estimate, kh.se, kh.ci_low, kh.ci_high], [r["b"], r["se"], r["ci_lb"], r["ci_ub"]], "DL knha")
    fe = rma(y, v, method="FE")
    r = kk["FE_metafor"]
    _close([fe.estimate, fe.se, fe.ci_low, fe.ci_high], [r["b"], r["se"], r["ci_lb"], r["ci_ub"]], "FE")
    # PM reference was run with uniroot tol = 1e-9 (absolute in tau²), hence the looser tolerance
    pm = rma(y, v, method="PM")
    r = kk["PM_metafor"]
    _close(
        [pm.estimate, pm.se, pm.ci_low, pm.ci_high, pm.tau2, pm.Q, pm.Q_p, pm.I2, pm.H2],
        [r["b"], r["se"], r["ci_lb"], r["ci_ub"], r["tau2"], r["QE"], r["QEp"], r["I2"], r["H2"]],
        "PM",
        rtol=1e-8,
        atol=1e-8,
    )
    # Kacker (2004) Table 1, Paule-Mandel tau (4 decimals).  (Kacker's DL value, 0.5359, is not
    # metafor's DL, 0.5367, so it is not used.)
    _printed_auto(math.sqrt(pm.tau2), kk["Kacker_table1_tau"]["PM"], "Kacker PM tau")


def test_fine1993_meta_package_dl_hk():
    """R package meta (metabin, DL, Hartung-Knapp) via statsmodels' references: same formulas as metafor."""
    r = PUB["fine1993_metabin_OR_DL_HK"]
    a, n1, c, n2 = (np.asarray(r[k], dtype=float) for k in ("event_e", "n_e", "event_c", "n_c"))
    b, d = n1 - a, n2 - c
    assert np.all(np.array([a, b, c, d]) > 0)
    yi, vi = np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d
    fe = rma(yi, vi, method="FE")
    _close([fe.estimate, fe.se, fe.Q, fe.Q_p], [r["TE_fixed"], r["seTE_fixed"], r["Q"], r["pval_Q"]], "FE")
    hk = rma(yi, vi, method="DL", test="knha")
    _close(
        [hk.estimate, hk.se, hk.ci_low, hk.ci_high, hk.tau2, hk.I2 / 100],
        [r["TE_random"], r["seTE_random_HK"], r["lower_random"], r["upper_random"], r["tau2"], r["I2_fraction"]],
        "DL + HK",
    )
    assert hk.Q_df == r["df_Q"]


# ------------------------------------------------------------------------------------------
# cross-checks with statsmodels and internal consistency
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["bcg", "normand1999", "hackshaw1998", "hine1989", "bcg_k2"])
def test_statsmodels_cross_check(name):
    fx = FIXTURES[name]
    yi, vi = np.asarray(fx["yi"]), np.asarray(fx["vi"])
    # DL through statsmodels (intercept-only path) == general P-matrix formula (moderator path)
    X = np.ones((len(yi), 1))
    ymc = yi - yi.mean()
    pr = fq._Projection(X, 1 / vi)
    general = (pr.quad(ymc) - (len(yi) - 1)) / pr.tr()
    assert fq._tau2_dl(ymc, vi, X) == pytest.approx(general, rel=1e-12, abs=1e-14)
    # Knapp-Hartung variance == statsmodels' var_hksj_re for the same tau²
    res = rma(yi, vi, method="DL", test="knha")
    with np.errstate(invalid="ignore"):
        sm = combine_effects(yi, vi, method_re="dl")
    if sm.tau2 >= 0:
        assert res.se == pytest.approx(math.sqrt(sm.var_hksj_re), rel=1e-12)
        assert res.estimate == pytest.approx(sm.mean_effect_re, rel=1e-12, abs=1e-14)


def test_projection_traces_match_explicit_matrices():
    rng = np.random.default_rng(1)
    k, p = 9, 3
    X = np.column_stack([np.ones(k), rng.normal(size=(k, p - 1))])
    w = rng.uniform(0.5, 4, size=k)
    a, b, y = rng.uniform(0.1, 2, size=k), rng.uniform(0.1, 2, size=k), rng.normal(size=k)
    W = np.diag(w)
    P = W - W @ X @ np.linalg.inv(X.T @ W @ X) @ X.T @ W
    pr = fq._Projection(X, w)
    np.testing.assert_allclose(pr.quad(y), y @ P @ y, rtol=1e-12)
    np.testing.assert_allclose(pr.py(y), P @ y, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(pr.tr(), np.trace(P), rtol=1e-12)
    np.testing.assert_allclose(pr.tr(a), np.trace(P @ np.diag(a)), rtol=1e-12)
    np.testing.assert_allclose(pr.tr2(), np.sum(P * P), rtol=1e-12)
    np.testing.assert_allclose(pr.tr2(a, a), np.trace(P @ np.diag(a) @ P @ np.diag(a)), rtol=1e-12)
    np.testing.assert_allclose(pr.tr2(1.0, b), np.sum((P @ np.diag(b)) * P), rtol=1e-12)
    np.testing.assert_allclose(pr.inv(), np.linalg.inv(X.T @ W @ X), rtol=1e-10)
    np.testing.assert_allclose(pr.logdet(), np.linalg.slogdet(X.T @ W @ X)[1], rtol=1e-12)


def test_ee_equals_fe_and_method_case_insensitive():
    a = rma(BCG["yi"], BCG["vi"], method="EE").to_dict()
    b = rma(BCG["yi"], BCG["vi"], method="fe").to_dict()
    a.pop("method"), b.pop("method")
    assert a == b
    assert rma(BCG["yi"], BCG["vi"], method="reml").tau2 == rma(BCG["yi"], BCG["vi"]).tau2


def test_hksj_alias_and_level_fraction():
    a = rma(BCG["yi"], BCG["vi"], test="hksj")
    assert a.test == "knha"
    assert rma(BCG["yi"], BCG["vi"], level=0.9).ci_low == rma(BCG["yi"], BCG["vi"], level=90).ci_low


@pytest.mark.parametrize("method", ["FE", "EE", "DL", "HE", "HS", "SJ"])
@pytest.mark.parametrize("test", ["z", "knha"])
def test_batch_equals_rma(method, test):
    rng = np.random.default_rng(7)
    n, k = 25, 8
    vi = rng.uniform(0.01, 0.3, size=(n, k))
    yi = rng.normal(0.3, 0.25, size=(n, k)) + rng.normal(0, np.sqrt(vi))
    yi[0] = 0.2  # all equal outcomes: tau² = 0 for every estimator, Q = 0
    out = rma_batch(yi, vi, method=method, test=test)
    for i in range(n):
        r = rma(yi[i], vi[i], method=method, test=test)
        exp = [r.estimate, r.se, r.stat, r.pval, r.ci_low, r.ci_high, r.tau2, r.Q, r.Q_p, r.I2, r.H2]
        got = [
            out[key][i]
            for key in ("estimate", "se", "stat", "pval", "ci_low", "ci_high", "tau2", "Q", "Q_p", "I2", "H2")
        ]
        _close(got, exp, f"row {i}", rtol=1e-10, atol=1e-12)
        if method in ("FE", "EE"):
            assert np.isnan(out["pi_low"][i])
        else:
            _close([out["pi_low"][i], out["pi_high"][i]], [r.pi_low, r.pi_high], "PI", rtol=1e-10, atol=1e-12)


def test_batch_rejects_iterative():
    with pytest.raises(ValueError, match="rma_batch supports"):
        rma_batch(np.zeros((2, 3)), np.ones((2, 3)), method="REML")


# ------------------------------------------------------------------------------------------
# k = 1, small k, output formats
# ------------------------------------------------------------------------------------------
def test_single_study():
    fx = FIXTURES["bcg_k1"]
    refs = {f["method"]: f["tight"] for f in fx["fits"]}
    fe = rma(fx["yi"], fx["vi"], method="FE")
    assert fe.warnings == [] and fe.tau2 == 0
    _close([fe.estimate, fe.se, fe.ci_low], [refs["FE"]["beta"], refs["FE"]["se"], refs["FE"]["ci_lb"]], "k=1 FE")
    for m in ("DL", "REML", "ML", "PM", "HS", "SJ", "EB", "HE"):
        r = rma(fx["yi"], fx["vi"], method=m)
        assert r.tau2 == 0.0 and r.se_tau2 is None and r.tau2_ci is None
        assert "tau² is not identifiable with a single study" in r.warnings
        _close([r.estimate, r.se, r.Q, r.I2, r.H2], [refs[m]["beta"], refs[m]["se"], 0, 0, 1], m)
        assert r.Q_p == 1.0
    r = rma(fx["yi"], fx["vi"], method="REML", test="knha")
    assert r.test == "z" and any("knha" in w for w in r.warnings)


def test_to_dict_is_json_and_has_keys():
    ablat = _bcg_moderator("ablat").astype(float)
    for res in (
        rma(BCG["yi"], BCG["vi"]),
        rma(BCG["yi"], BCG["vi"], mods=ablat, mod_names=["ablat"], test="knha"),
        rma(BCG["yi"][:1], BCG["vi"][:1], method="FE"),
    ):
        d = res.to_dict()
        s = json.dumps(d, allow_nan=False)
        assert json.loads(s) == d
        for key in (
            "method",
            "test",
            "k",
            "estimate",
            "se",
            "ci_low",
            "ci_high",
            "tau2",
            "I2",
            "H2",
            "Q",
            "Q_p",
            "pi_low",
            "pi_high",
            "coefficients",
        ):
            assert key in d
        assert d["estimate"] == res.estimate and d["coefficients"][0]["name"] == "intrcpt"
    fe = rma(BCG["yi"], BCG["vi"], method="FE").to_dict()
    assert fe["se_tau2"] is None and fe["tau2_ci"] is None and fe["pi_low"] is None


def test_dataframe_mods_give_names():
    ablat = _bcg_moderator("ablat").astype(float)
    year = _bcg_moderator("year").astype(float)
    res = rma(BCG["yi"], BCG["vi"], mods=pd.DataFrame({"ablat": ablat, "year": year}))
    assert res.coef_names == ["intrcpt", "ablat", "year"]
    assert rma(BCG["yi"], BCG["vi"], mods=ablat, mod_names="ablat").coef_names == ["intrcpt", "ablat"]


def test_summary_frame_and_str():
    ablat = _bcg_moderator("ablat").astype(float)
    res = rma(BCG["yi"], BCG["vi"], mods=ablat, mod_names=["ablat"])
    df = res.summary()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["estimate", "se", "stat", "p", "ci_low", "ci_high"]
    assert list(df.index) == ["intrcpt", "ablat"]
    assert df.loc["ablat", "estimate"] == res.beta[1]
    text = str(rma(BCG["yi"], BCG["vi"]))
    for piece in (
        "Random-Effects Model (k = 13; tau^2 estimator: REML)",
        "0.3132 (SE = 0.1664)",
        "92.22%",
        "Q(df = 12) = 152.2330, p-val < .0001",
        "-0.7145",
        "-3.9744",
        "-1.0669",
        "-0.3622",
    ):
        assert piece in text, piece
    text = str(rma(BCG["yi"], BCG["vi"], mods=ablat, mod_names=["ablat"], test="knha"))
    assert "Mixed-Effects Model" in text and "F(df1 = 1, df2 = 11)" in text and "ablat" in text


def test_predict_shapes_and_errors():
    ablat = _bcg_moderator("ablat").astype(float)
    year = _bcg_moderator("year").astype(float)
    one = rma(BCG["yi"], BCG["vi"], mods=ablat)
    assert predict(one, [10, 20, 30]).pred.shape == (3,)
    assert predict(one).pred.shape == (13,)
    two = rma(BCG["yi"], BCG["vi"], mods=np.column_stack([ablat, year]))
    single = predict(two, [30, 1970])
    both = predict(two, [[30, 1970], [40, 1970]])
    assert single.pred.shape == (1,) and both.pred[0] == single.pred[0]
    assert set(both.to_frame().columns) == {"pred", "se", "ci_low", "ci_high", "pi_low", "pi_high"}
    json.dumps(both.to_dict(), allow_nan=False)
    with pytest.raises(ValueError, match="newmods must have 2"):
        predict(two, [[1, 2, 3]])
    with pytest.raises(ValueError, match="without moderators"):
        predict(rma(BCG["yi"], BCG["vi"]), [1.0])


# ------------------------------------------------------------------------------------------
# error cases
# ------------------------------------------------------------------------------------------
Y3, V3 = [0.1, 0.3, 0.2], [0.01, 0.02, 0.03]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(yi=Y3, vi=[0.01, 0.0, 0.03]), "vi must be > 0"),
        (dict(yi=Y3, vi=[0.01, -1.0, 0.03]), "vi must be > 0"),
        (dict(yi=Y3, vi=[0.01, np.nan, 0.03]), "vi contains non-finite"),
        (dict(yi=[0.1, np.inf, 0.2], vi=V3), "yi contains non-finite"),
        (dict(yi=[], vi=[]), "at least one study"),
        (dict(yi=Y3, vi=V3[:2]), "same length"),
        (dict(yi=[[0.1, 0.2]], vi=[[0.1, 0.2]]), "must be 1-D"),
        (dict(yi=Y3, vi=V3, method="XYZ"), "unknown method"),
        (dict(yi=Y3, vi=V3, test="t"), "unknown test"),
        (dict(yi=Y3, vi=V3, level=120), "level must be"),
        (dict(yi=Y3, vi=V3, mods=[1.0, 2.0, 3.0, 4.0]), "rows"),
        (dict(yi=Y3, vi=V3, mods=[[1.0, 2.0], [2.0, 4.0], [3.0, 6.5]], method="REML"), "too few studies"),
        (dict(yi=Y3[:2], vi=V3[:2], mods=[1.0, 2.0], method="DL"), "too few studies"),
        (dict(yi=Y3[:2], vi=V3[:2], mods=[[1.0, 2.0], [2.0, 4.0]], method="FE"), "too few studies"),
        (dict(yi=Y3[:2], vi=V3[:2], mods=[1.0, 2.0], method="FE", test="knha"), "knha"),
        (dict(yi=Y3, vi=V3, mods=[[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]], method="FE"), "full column rank"),
        (dict(yi=Y3, vi=V3, mods=[1.0, 1.0, 1.0], method="FE"), "full column rank"),
        (dict(yi=Y3, vi=V3, mods=[1.0, 2.0, np.nan]), "mods contains non-finite"),
        (dict(yi=Y3, vi=V3, mods=[1.0, 2.0, 3.0], mod_names=["a", "b"]), "mod_names has 2"),
        (dict(yi=Y3, vi=V3, mods=[["a"], ["b"], ["c"]]), "numeric"),
    ],
)
def test_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        rma(**kwargs)


def test_boundary_solution_is_exact_zero():
    """Fisher scoring starts at HE > 0 and walks to the boundary; metafor stops at ~1e-13 (tight
    control) or ~1e-7 (default); the solution is 0 and is reported as exactly 0."""
    fx = FIXTURES["boundary_k6"]
    ref = {(f["method"], f["test"]): f["tight"] for f in fx["fits"]}
    for m in ("REML", "ML"):
        assert 0 <= ref[(m, "z")]["tau2"] < 1e-10
        res = rma(fx["yi"], fx["vi"], method=m)
        assert res.tau2 == 0.0 and res.I2 == 0.0 and res.H2 == 1.0 and res.converged and res.iterations > 5
    assert rma(fx["yi"], fx["vi"], method="EB").tau2 > 0  # interior solution: not snapped


def test_two_studies_random_effects_ok():
    r = rma(Y3[:2], V3[:2], method="REML")
    assert r.k == 2 and r.Q_df == 1 and r.tau2 >= 0 and r.converged


def test_intercept_false_without_mods_is_coerced():
    r = rma(Y3, V3, intercept=False)
    assert r.p == 1 and r.coef_names == ["intrcpt"] and any("intercept added" in w for w in r.warnings)


# --------------------------------------------------------------------------------------------
# model comparison: fit statistics, anova(), pseudo-R², subgroup Q (tests/fixtures/metafor_mv)
# --------------------------------------------------------------------------------------------
_MV = Path(__file__).parent / "fixtures" / "metafor_mv"


@functools.lru_cache(maxsize=1)
def _uni_extras() -> dict:
    return json.loads((_MV / "uni_extras.json").read_text())


def _bcg_fits(method: str):
    d = pd.read_csv(_MV / "bcg.csv")
    return (
        d,
        rma(d["yi"], d["vi"], method=method),
        rma(d["yi"], d["vi"], mods=d[["ablat"]], method=method),
        rma(d["yi"], d["vi"], mods=d[["ablat", "year"]], method=method),
    )


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_fitstats_and_r2_match_metafor(method):
    ref = _uni_extras()[method]
    _, f0, f1, f2 = _bcg_fits(method)
    for res, key in ((f0, "null"), (f1, "ablat"), (f2, "ablat_year")):
        r = ref[key]
        _close(res.tau2, r["tau2"], f"{key} tau2")
        for mine, theirs in (("ll", "ll"), ("deviance", "dev"), ("AIC", "AIC"), ("BIC", "BIC"), ("AICc", "AICc")):
            _close(res.fitstats[mine], r[theirs], f"{method} {key} {theirs}")
        if key == "null":
            assert res.R2 is None
        else:
            _close(res.R2, r["R2"], f"{method} {key} R2")
            assert f"R^2 (amount of heterogeneity accounted for): {r['R2']:.2f}%" in str(res)
        assert res.logLik == res.fitstats["ll"] and "fitstats" in res.to_dict()
        assert f"{r['ll']:9.4f} {r['dev']:9.4f}" in str(res)


def test_fitstats_fe():
    d = pd.read_csv(_MV / "bcg.csv")
    fe = rma(d["yi"], d["vi"], method="FE")
    r = _uni_extras()["FE"]
    for mine, theirs in (("ll", "ll"), ("deviance", "dev"), ("AIC", "AIC"), ("BIC", "BIC"), ("AICc", "AICc")):
        _close(fe.fitstats[mine], r[theirs], f"FE {theirs}")
    assert fe.fitstats["parms"] == 1 and fe.R2 is None


def test_anova_lrt_matches_metafor():
    ref = _uni_extras()["anova_ml"]
    _, _, f1, f2 = _bcg_fits("ML")
    a = fq.anova(f2, f1)
    _close(a.LRT, ref["LRT"], "LRT")
    _close(a.pval, ref["pval"], "LRT p")
    assert a.df == ref["df_full"] - ref["df_red"] and a.full["df"] == ref["df_full"]
    _close(a.R2, ref["R2"], "anova R2")
    assert fq.anova(f1, f2).LRT == a.LRT  # order does not matter
    json.dumps(a.to_dict())
    assert list(a.to_frame().index) == ["full", "reduced"]
    ref = _uni_extras()["anova_reml_ablat"]
    _, f0, f1, _ = _bcg_fits("REML")
    a = fq.anova(f1, f0)
    _close(a.LRT, ref["LRT"], "REML LRT")
    assert any("refit with ML" in w for w in a.warnings)
    with pytest.raises(ValueError, match="different methods"):
        fq.anova(f1, _bcg_fits("ML")[2])
    with pytest.raises(ValueError, match="not nested"):
        fq.anova(f1, f1)


def test_subgroup_q_matches_metafor():
    d = pd.read_csv(_MV / "bcg.csv")
    ref = _uni_extras()
    sep = fq.subgroup_q(d["yi"], d["vi"], d["alloc"], kind="separate")
    r = ref["subgroup_separate"]
    assert sep.groups.index.tolist() == r["groups"]
    _close(sep.groups["estimate"], r["est"], "subgroup estimates")
    _close(sep.groups["se"], r["se"], "subgroup se")
    _close(sep.Q, r["QM"], "Q between (separate tau²)")
    _close(sep.pval, r["QMp"], "Q between p")
    assert sep.df == r["QMdf"]
    com = fq.subgroup_q(d["yi"], d["vi"], d["alloc"], kind="common")
    r = ref["subgroup_common"]
    _close(com.Q, r["QM"], "QM (common tau²)")
    _close(com.pval, r["QMp"], "QM p")
    json.dumps(com.to_dict())
    with pytest.raises(ValueError, match="two subgroups"):
        fq.subgroup_q(d["yi"], d["vi"], ["a"] * len(d))
    with pytest.raises(ValueError, match="unknown kind"):
        fq.subgroup_q(d["yi"], d["vi"], d["alloc"], kind="x")
