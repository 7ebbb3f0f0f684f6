"""Today's default Bayesian fits agree with the stored reference within Monte Carlo error.

``tests/fixtures/bayes_reference/ssm2025_default.csv`` was written by ``make_reference.py`` (next to it) with
the PyMC sampler and C backend of that time; the sampler and compile settings have changed since (Numba
backend), so seeded draws differ and the comparison is statistical: the same label, and posterior means of
``mu`` and ``tau`` within 4 combined Monte Carlo standard errors.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pandas as pd
import pytest

FIX = Path(__file__).parent / "fixtures" / "bayes_reference"
REF = pd.read_csv(FIX / "ssm2025_default.csv")


def _maker():
    spec = importlib.util.spec_from_file_location("make_reference", FIX / "make_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _same_label(a, b) -> bool:
    na, nb = a is None or (isinstance(a, float) and math.isnan(a)), b is None or (isinstance(b, float) and
                                                                                   math.isnan(b))
    return (na and nb) or a == b


def _check(new: pd.DataFrame, props) -> None:
    ref = REF.set_index("property").loc[list(props)]
    new = new.set_index("property").loc[list(props)]
    for p in props:
        r, n = ref.loc[p], new.loc[p]
        assert n["engine"] == r["engine"] and n["model"] == r["model"] and n["k"] == r["k"], p
        assert _same_label(n["label_code"], r["label_code"]), (p, n["label_code"], r["label_code"])
        assert bool(n["ok"]), p
        for v in ("mu", "tau"):
            tol = 4.0 * math.hypot(r[f"{v}_mcse"], n[f"{v}_mcse"])
            assert abs(n[f"{v}_mean"] - r[f"{v}_mean"]) <= tol, (p, v, n[f"{v}_mean"], r[f"{v}_mean"], tol)
            assert abs(n[f"{v}_sd"] - r[f"{v}_sd"]) <= 0.1 * r[f"{v}_sd"], (p, v, n[f"{v}_sd"], r[f"{v}_sd"])


def test_reference_was_made_by_pymc_on_every_pooled_property():
    assert len(REF) == 11 and set(REF["engine"]) == {"bayes"}
    assert (REF["mu_mcse"] > 0).all() and REF["ok"].all()


def test_accuracy_matches_the_reference():
    mod = _maker()
    _check(mod.reference_table(properties=["accuracy"], force_mcmc=True), ["accuracy"])


@pytest.mark.slow
def test_every_property_matches_the_reference():
    mod = _maker()
    _check(mod.reference_table(force_mcmc=True), list(REF["property"]))


def test_quadrature_matches_the_mcmc_reference_on_every_property():
    """The default fit (posterior by quadrature where it is the same model) against the MCMC reference.

    Quadrature has no Monte Carlo error, so the tolerance is the reference's own: 4 of its MCSEs.
    """
    import metaquant as mq

    rows = []
    for prop, res in mq.fit_all("ssm2025").items():
        if getattr(res, "engine", None) is None:
            continue
        d = res.to_dict()
        assert d["sampler"] == "quadrature" and d["diagnostics"]["method"] == "quadrature", prop
        rows.append({"property": prop, "engine": d["engine"], "model": d["model"], "k": d["k"],
                     "label_code": d["label_code"], "ok": d["ok"], "mu_mean": d["mu_mean"], "mu_sd": d["mu_sd"],
                     "mu_mcse": 0.0, "tau_mean": d["tau_mean"], "tau_sd": d["tau_sd"], "tau_mcse": 0.0})
    new = pd.DataFrame(rows)
    assert sorted(new["property"]) == sorted(REF["property"])
    _check(new, list(REF["property"]))
