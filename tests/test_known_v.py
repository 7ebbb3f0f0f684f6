"""A known sampling covariance through the one fit path (``FitSpec(rho=...)`` / ``shared_baseline=True``).

Reference: metafor 3.8-1's ``rma.mv(yi, V, random = ~ 1 | study/es)`` with ``V`` from ``vcalc`` on the
shipped rows (``tests/fixtures/known_v/make_fixtures.R`` wrote ``known_v.json``).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from metaquant.errors import UsageError
from metaquant.fitting import fit_table
from metaquant.spec import FitSpec, RunSettings

FIX = Path(__file__).parent / "fixtures"
REF = json.loads((FIX / "known_v" / "known_v.json").read_text())


def _rows(name):
    t = pd.read_csv(FIX / "metafor_mv" / f"{name}.csv")
    return t.assign(vi_known=True)


CASES = [
    ("bench_perplexity_shared", "bench_perplexity", dict(property="perplexity", shared_baseline=True), 1e-6),
    ("bench_perplexity_shared_bits", "bench_perplexity",
     dict(property="perplexity", shared_baseline=True, moderators=("bits",)), 1e-6),
    ("bench_perplexity_shared_re", "bench_perplexity",
     dict(property="perplexity", shared_baseline=True, model="random-effects"), 1e-6),
    ("ssm2025_accuracy_rho", "ssm2025_accuracy", dict(property="accuracy", rho=0.6), 1e-5),
    ("ssm2025_accuracy_rho_ml", "ssm2025_accuracy", dict(property="accuracy", rho=0.6, method="ml"), 1e-5),
]


@pytest.mark.parametrize("case, data, spec, tol", CASES, ids=[c[0] for c in CASES])
def test_classical_fit_with_known_v_matches_metafor(case, data, spec, tol):
    ref = REF[case]
    spec = FitSpec(**{"method": "reml", **spec})
    res = fit_table(_rows(data), spec, RunSettings(profile=False))
    fit = res.rma
    beta = np.atleast_1d(ref["beta"])
    got = np.asarray(fit.beta, dtype=float).ravel()
    if spec.moderators:  # metafor's intercept is at log2(bits) = 0; ours may be centred: compare the slope
        np.testing.assert_allclose(got[1:], beta[1:], rtol=tol, atol=1e-9)
        np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov))[1:], np.atleast_1d(ref["se"])[1:], rtol=1e-5)
    else:
        np.testing.assert_allclose(got, beta, rtol=tol, atol=1e-9)
        np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov)), np.atleast_1d(ref["se"]), rtol=1e-5, atol=1e-9)
    assert float(fit.logLik) == pytest.approx(ref["ll"], rel=1e-7, abs=1e-6)
    np.testing.assert_allclose(np.atleast_1d(fit.sigma2), np.atleast_1d(ref["sigma2"]), rtol=1e-4, atol=1e-8)
    assert any("correlated" in n for n in res.notes)


def test_known_v_changes_the_pooled_estimate():
    plain = fit_table(_rows("bench_perplexity"), FitSpec("perplexity", method="reml"), RunSettings(profile=False))
    shared = fit_table(_rows("bench_perplexity"), FitSpec("perplexity", method="reml", shared_baseline=True),
                       RunSettings(profile=False))
    ref = REF["bench_perplexity_shared"]["se"]
    assert abs(float(plain.rma.se) / ref - 1) > 2e-4  # independent errors: a different standard error
    assert float(shared.rma.se) == pytest.approx(ref, rel=1e-5)


@pytest.mark.parametrize("kw, msg", [
    (dict(method="exact", rho=0.5), "independent sampling errors"),
    (dict(method="bma", shared_baseline=True), "independent sampling errors"),
    (dict(method="dl", rho=0.5), "REML or ML"),
    (dict(method="reml", rho=0.5, shared_baseline=True), "either rho or shared_baseline"),
    (dict(method="reml", rho=1.5), r"rho must be a correlation"),
    (dict(method="bayes", rho=-0.3), "rho >= 0"),
])
def test_sampling_cov_options_are_checked(kw, msg):
    from metaquant import fitting

    with pytest.raises(UsageError, match=msg):
        fitting.check(FitSpec("accuracy", **kw))  # a field rule in FitSpec, an engine rule in Engine.check


def test_cli_fit_takes_shared_baseline():
    from metaquant.cli import main

    r = CliRunner().invoke(main, ["fit", "--data", "benchmarks", "--property", "perplexity", "--method", "reml",
                                  "--shared-baseline", "--missing-vi", "drop", "--format", "json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert any("correlated" in n for n in d["notes"])
    import metaquant as mq  # the Python API gives the same numbers for the same specification

    api = mq.api.fit("benchmarks", spec=FitSpec("perplexity", method="reml", shared_baseline=True,
                                                 variance_policy="drop"))
    assert d["estimate"] == pytest.approx(api.to_dict()["estimate"], rel=1e-12)
    assert d["ci_low"] == pytest.approx(api.to_dict()["ci_low"], rel=1e-12)
    r = CliRunner().invoke(main, ["fit", "--property", "accuracy", "--method", "dl", "--rho", "0.5"])
    assert r.exit_code == 2 and "REML or ML" in r.output


def test_a_known_v_without_shared_rows_says_so():
    """ssm2025 has no baseline groups: asking for shared baselines changes nothing, and the notes say it."""
    t = _rows("ssm2025_accuracy")
    plain = fit_table(t, FitSpec("accuracy", method="reml"), RunSettings(profile=False))
    asked = fit_table(t, FitSpec("accuracy", method="reml", shared_baseline=True), RunSettings(profile=False))
    assert float(asked.rma.se) == pytest.approx(float(plain.rma.se), rel=1e-12)
    assert any("no two rows share a baseline" in n for n in asked.notes)
    assert not any("correlated at" in n for n in asked.notes)


def test_the_bayesian_model_says_when_no_rows_share_a_baseline():
    from metaquant import bayes

    t = _rows("ssm2025_accuracy")
    res = bayes.fit(t, shared_baseline=True, draws=50, tune=50, chains=1)
    assert any("no two rows share a baseline" in n for n in res.notes)
