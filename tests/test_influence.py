"""Influence diagnostics (metaquant.classical.influence) and the Baujat plot against metafor 3.8."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_rma_mv import CASES, FIX, fit_case

from metaquant.classical.influence import baujat, cooks_distance, influence, leave1out
from metaquant.classical.rma import rma
from metaquant.errors import InputError
from metaquant.present.influence_plots import baujat_plot

UNI = json.loads((FIX / "uni_extras.json").read_text())
BCG = pd.read_csv(FIX / "bcg.csv")
RTOL = 1e-6


def close(a, e, what, rtol=RTOL, atol=0.0):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(e, float), rtol=rtol, atol=atol, err_msg=what)


def _fit(nm: str):
    method = nm.split("_")[0]
    mods = BCG[["ablat"]].to_numpy(float) if "ablat" in nm else None
    return rma(BCG["yi"], BCG["vi"], mods=mods, method=method)


@pytest.mark.parametrize("nm", ["REML_int", "REML_ablat", "DL_int"])
def test_influence_matches_metafor(nm):
    ref = UNI[f"influence_{nm}"]
    res = _fit(nm)
    inf = influence(res)
    for mine, theirs in [
        ("rstudent", "rstudent"),
        ("dffits", "dffits"),
        ("cook_d", "cook_d"),
        ("cov_r", "cov_r"),
        ("tau2_del", "tau2_del"),
        ("QE_del", "QE_del"),
        ("hat", "hat"),
        ("weight", "weight"),
    ]:
        close(inf[mine], ref[theirs], theirs, atol=1e-9)
    assert inf["inf"].tolist() == [bool(x) for x in ref["inf"]]
    dfbs = np.array(ref["dfbs"], float).reshape(res.k, res.p)
    close(inf[[f"dfbs_{n}" for n in res.coef_names]].to_numpy(), dfbs, "dfbs", atol=1e-9)
    if "leave1out" in ref:
        lo = leave1out(res)
        l1 = ref["leave1out"]
        for mine, theirs in [
            ("estimate", "estimate"),
            ("se", "se"),
            ("stat", "zval"),
            ("pval", "pval"),
            ("ci_low", "ci_lb"),
            ("ci_high", "ci_ub"),
            ("Q", "Q"),
            ("Qp", "Qp"),
            ("tau2", "tau2"),
            ("I2", "I2"),
            ("H2", "H2"),
        ]:
            close(lo[mine], l1[theirs], f"leave1out {theirs}", atol=1e-12)
        b = baujat(res)
        close(b["x"], ref["baujat"]["x"], "baujat x")
        close(b["y"], ref["baujat"]["y"], "baujat y")


def test_leave_one_cluster_out():
    d = pd.read_csv(FIX / "assink2016.csv")
    ref = UNI["assink_leave1out_cluster"]
    lo = leave1out(rma(d["yi"], d["vi"]), cluster=d["study"].to_numpy())
    assert lo.index.tolist() == ref["study"]
    for key in ("estimate", "se", "tau2", "Q", "I2"):
        close(lo[key], ref[key], key)


@pytest.mark.parametrize("name", [c for c in CASES if c not in ("bench_all",)])
def test_cooks_distance_multilevel(name):
    fx, d, r = fit_case(name, profile=False)
    e = np.array(fx["cooks_cluster"], float)
    cd = cooks_distance(r, d[fx["cluster"]].to_numpy())
    close(cd.to_numpy(), e, "cooks.distance(cluster=)", rtol=1e-5, atol=1e-6 * np.nanmax(e))
    if name in ("kon_reml", "berkey_known_v"):
        er = np.array(fx["cooks_row"], float)
        close(cooks_distance(r).to_numpy(), er, "cooks.distance per row", rtol=1e-5, atol=1e-6 * np.nanmax(er))


def test_baujat_plot(tmp_path):
    res = _fit("REML_int")
    fig, pts = baujat_plot(res, labels=[f"T{t}" for t in BCG["trial"]], path=tmp_path / "baujat.png")
    assert (tmp_path / "baujat.png").stat().st_size > 1000
    assert fig.axes[0].get_xlabel() == "Squared Pearson Residual"
    assert len(pts) == res.k
    with pytest.raises(ValueError, match="labels"):
        baujat_plot(res, labels=["a"])


def test_errors():
    res = _fit("REML_ablat")
    with pytest.raises(InputError, match="without moderators"):
        leave1out(res)
    with pytest.raises(InputError, match="rma\\(\\) result"):
        influence("not a fit")
    with pytest.raises(InputError, match="for rma_mv fits"):
        cooks_distance(res, cluster=np.arange(res.k))
    close(cooks_distance(res), influence(res)["cook_d"], "rma cooks")
