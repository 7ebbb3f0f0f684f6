"""The fits of tests/fixtures/metafor_breadth (made by its make_fixtures.R), refitted here without R.

``uni_*`` cases are rma() fits, ``mv_*`` cases rma_mv() fits; each is refitted on the fixture's own design matrix
(``X`` as metafor built it), so coefficient order and names are metafor's.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from metaquant.classical.rma import rma
from metaquant.classical.rma_mv import rma_mv

FIX = Path(__file__).parent / "fixtures" / "metafor_breadth"
MV_FIX = Path(__file__).parent / "fixtures" / "metafor_mv"
UNI = ["uni_bangertdrowns", "uni_mcdaniel_knha", "uni_ssm2025_accuracy"]
MV = ["mv_crede", "mv_bench_perplexity", "mv_vanhouwelingen_un"]
_DATA = {
    "uni_bangertdrowns": (FIX / "bangertdrowns2004.csv", None),
    "uni_mcdaniel_knha": (FIX / "mcdaniel1994.csv", None),
    "uni_ssm2025_accuracy": (MV_FIX / "ssm2025_accuracy.csv", None),
    "mv_crede": (FIX / "crede2010.csv", ["studyid", "sampleid"]),
    "mv_bench_perplexity": (MV_FIX / "bench_perplexity.csv", ["study", "es"]),
    "mv_vanhouwelingen_un": (FIX / "vanhouwelingen2002.csv", "~ group | study"),
}


def fixture(name: str) -> dict:
    return json.loads((FIX / f"{name}.json").read_text())


@functools.cache
def data(name: str) -> pd.DataFrame:
    d = pd.read_csv(_DATA[name][0])
    d["es"] = np.arange(1, len(d) + 1)
    return d


@functools.cache
def fit(name: str):
    """The case's fit (cached: the tests only read it)."""
    fx = fixture(name)
    d = data(name)
    X = np.array(fx["X"], dtype=float)
    if name.startswith("uni_"):
        return rma(d["yi"].to_numpy(), d["vi"].to_numpy(), mods=X, mod_names=fx["colnames"], intercept=False,
                   method=fx["method"], test=fx["test"])
    return rma_mv(d["yi"].to_numpy(), d["vi"].to_numpy(), random=_DATA[name][1], data=d, mods=X,
                  mod_names=fx["colnames"], intercept=False, method=fx["method"], test=fx["test"], profile=False)
