"""rma_mv with an unstructured ``~ inner | outer`` covariance on its boundary, against metafor.

Fixtures: tests/fixtures/metafor_breadth/make_fixtures.R (``unstructured.json``; metafor version in ``meta``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metaquant.classical.rma_mv import rma_mv

FIX = Path(__file__).parent / "fixtures" / "metafor_breadth"
UN = json.loads((FIX / "unstructured.json").read_text())
DATA = {"vh": ("vanhouwelingen2002", "group"), "ishak": ("ishak2007", "time")}


def _fit(name: str):
    fx = UN[name]
    csv, inner = DATA[name.split("_")[0]]
    d = pd.read_csv(FIX / f"{csv}.csv")
    r = rma_mv(d["yi"], d["vi"], random=f"~ {inner} | study", data=d, mods=np.array(fx["X"]), intercept=False,
               method=fx["method"], profile=False)
    return r, fx


@pytest.mark.parametrize("name", ["vh_inter_ml", "vh_cells_ml", "vh_inter_reml"])
def test_bivariate_bcg_matches_metafor(name):
    """van Houwelingen et al. (2002): the ML fit has rho = 1 on its boundary; tau², logLik, beta as metafor."""
    r, fx = _fit(name)
    assert r.converged
    np.testing.assert_allclose(r.fitstats["ll"], fx["ll"], rtol=1e-9)
    np.testing.assert_allclose(r.tau2, fx["tau2"], rtol=1e-6)
    np.testing.assert_allclose(r.rho, np.atleast_1d(fx["rho"]), rtol=1e-6)
    np.testing.assert_allclose(r.beta, fx["beta"], rtol=1e-6)
    np.testing.assert_allclose([c["se"] for c in r.coefficients], fx["se"], rtol=1e-5)
    assert r.tau2_names == fx["g_levels"]


def test_boundary_solution_is_valid_and_named():
    """Sigma stays positive semi-definite (the old scoring on Sigma's elements gave rho = 1.0017, logLik -15.2)."""
    r, _ = _fit("vh_inter_ml")
    assert np.all(np.abs(r.rho) <= 1.0)
    sigma = np.array([[r.tau2[0], r.rho[0] * np.sqrt(r.tau2[0] * r.tau2[1])],
                      [r.rho[0] * np.sqrt(r.tau2[0] * r.tau2[1]), r.tau2[1]]])
    assert np.min(np.linalg.eigvalsh(sigma)) > -1e-10
    assert any("boundary (±1)" in w for w in r.warnings)
    np.testing.assert_allclose(r.fitstats["ll"], -26.7264411095125, rtol=1e-9)


def test_two_parameterisations_one_likelihood():
    """~ group * ablat and its cell-means form are one model: the same ML logLik and tau²."""
    a, _ = _fit("vh_inter_ml")
    b, _ = _fit("vh_cells_ml")
    np.testing.assert_allclose(a.fitstats["ll"], b.fitstats["ll"], rtol=1e-12)
    np.testing.assert_allclose(a.tau2, b.tau2, rtol=1e-6)


def test_four_dimensional_un_reaches_metafor_optimum():
    """dat.ishak2007 (4 time points): every correlation is 1 at metafor's optimum.

    On that boundary the likelihood is flat along the ridge of rank-one Sigma, and metafor's nlminb (relative
    tolerance 1e-10 in the log-likelihood) leaves tau² uncertain at about 1e-5 relative; so our logLik must be at
    least metafor's and tau² agree to 1e-4.
    """
    r, fx = _fit("ishak_reml")
    assert r.fitstats["ll"] >= fx["ll"] - 1e-9 * abs(fx["ll"])
    np.testing.assert_allclose(r.tau2, fx["tau2"], rtol=1e-4)
    np.testing.assert_allclose(r.rho, fx["rho"], atol=1e-6)
