"""One primary estimate per property (its rule, stated by fit/compare/bias), forest diamonds named by their model
with metafor's heterogeneity line and weights, and the Bayesian fit's outlier flags and posterior checks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import metaquant as mq
from metaquant.cli import main
from metaquant.present import plots
from metaquant.spec import FitSpec
from metaquant.workbench import primary as pr


def _table(n_studies: int, rows_per_study: int = 1, unknown: int = 0, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_studies * rows_per_study
    vi = rng.uniform(1e-4, 4e-4, n).astype(object)
    vi[:unknown] = None
    df = pd.DataFrame({"study": [f"S{i // rows_per_study}" for i in range(n)], "property": "accuracy",
                       "yi": rng.normal(-0.02, 0.02, n), "vi": vi})
    return mq.effect_table(df)


@pytest.fixture(scope="module")
def ssm2025():
    return mq.effect_table("ssm2025")


def test_rule_unknown_variances_nested_gives_bayesian_multilevel(ssm2025):
    spec, why = pr.primary_spec(ssm2025, "accuracy")
    assert (spec.method, spec.model) == ("bayes", "auto")
    assert pr.estimate_name(spec, ssm2025) == "Bayesian multilevel"
    assert why.startswith("13 rows of 17 have no sampling variance") and "rows nested in studies (S3 gives 8)" in why


def test_rule_known_variances_many_studies_gives_reml():
    one = _table(12)
    spec, why = pr.primary_spec(one, "accuracy")
    assert (spec.method, spec.model) == ("reml", "random-effects") and "12 studies: REML" in why
    nested = _table(12, rows_per_study=2)
    spec, _ = pr.primary_spec(nested, "accuracy")
    assert (spec.method, spec.model) == ("reml", "multilevel")
    assert pr.estimate_name(spec, nested) == "REML multilevel"


def test_rule_few_studies_gives_bayesian_and_known_v_is_kept():
    few = _table(4, rows_per_study=2)
    spec, why = pr.primary_spec(few, "accuracy", FitSpec("accuracy", rho=0.5))
    assert spec.method == "bayes" and spec.rho == 0.5 and "4 studies (< 10)" in why
    assert "known sampling covariance" in why


def test_describe_names_what_other_estimates_assume(ssm2025):
    reml = pr.describe(FitSpec("accuracy", method="reml", variance_policy="drop"), ssm2025)
    assert reml == ("REML multilevel: assumes known sampling variances; drops 13 rows without one; tau² estimated "
                    "from 5 studies without its uncertainty")
    ex = pr.describe(FitSpec("accuracy", method="exact"), ssm2025)
    assert ex.startswith("Bayesian random-effects (exact): treats the 17 rows of 5 studies as independent studies")
    assert not pr.is_primary(FitSpec("accuracy", method="exact"), ssm2025)
    assert pr.is_primary(FitSpec("accuracy"), ssm2025)


def test_fit_states_the_primary_estimate_and_fits_it_by_default(tmp_path):
    t = _table(12)
    f = tmp_path / "known.csv"
    t[["study", "property", "yi", "vi"]].to_csv(f, index=False)
    out = CliRunner().invoke(main, ["fit", "--data", str(f), "--property", "accuracy"])
    assert out.exit_code == 0, out.output
    first = out.output.splitlines()[0]
    assert first.startswith("primary estimate: REML random-effects (every sampling variance known and 12 studies")
    assert "REML random-effects model" in out.output  # REML was fitted, not the PyMC model
    out = CliRunner().invoke(main, ["fit", "--property", "accuracy", "--method", "exact", "--format", "json"])
    d = json.loads(out.output)
    assert d["primary_estimate"]["is_primary"] is False and d["primary_estimate"]["name"] == "Bayesian multilevel"
    out = CliRunner().invoke(main, ["fit", "--property", "accuracy", "--method", "exact"])
    assert out.output.splitlines()[0].startswith("not the primary estimate: Bayesian random-effects (exact)")


def test_bayesian_fit_flags_rows_absorbed_through_sigma_resid():
    t = mq.effect_table("ssm2026")
    res = mq.fit(t, "accuracy", method="exact")
    flags = res.diagnostics["outliers"]
    s4 = [f for f in flags if f["study"] == "S4"]
    assert len(s4) == 5 and all(f["pct"] < -85 for f in s4)
    # the residual on the typical known variance, recomputed here from the rows and the posterior medians
    rows = t[(t["property"] == "accuracy") & (t["study"] == "S4") & (t["yi"] < -2)]
    v_typ = float(np.median(t.loc[(t["property"] == "accuracy") & t["vi_known"], "vi"]))
    z = (rows["yi"].to_numpy() - res.mu.median) / np.sqrt(v_typ + res.tau.median ** 2)
    assert sorted(f["z_typical"] for f in s4) == pytest.approx(sorted(z))
    assert any("5 rows of study S4" in n and "sigma_resid" in n for n in res.notes)


def test_fit_check_gives_ppc_and_psis_loo(tmp_path):
    t = _table(6, seed=3)
    f = tmp_path / "six.csv"
    t[["study", "property", "yi", "vi"]].to_csv(f, index=False)
    out = CliRunner().invoke(main, ["fit", "--data", str(f), "--property", "accuracy", "--method", "bayes", "--check",
                                    "--draws", "100", "--tune", "100", "--chains", "2", "--format", "json"])
    assert out.exit_code == 0, out.output
    c = json.loads(out.output[out.output.index("{"):])["checks"]
    loo = c["loo"]
    assert loo["k_good"] + loo["k_ok"] + loo["k_bad"] + loo["k_very_bad"] == loo["n"] == 6
    assert c["ppc"]["n"] == 6 and 0 <= c["ppc"]["outside"] <= 6
    assert set(c["ppc"]["p_values"]) == {"min", "max", "sd"}


def test_forest_diamond_named_by_model_with_heterogeneity_line(ssm2025):
    d = mq.fit(ssm2025, "accuracy", method="reml", variance_policy="drop").to_dict()
    s = plots.pooled_summary(d)
    assert s["label"] == "REML multilevel, k = 4"
    assert s["het"].startswith(f"Q = {d['Q']:.2f}, df = 3, p = {d['Q_p']:.2f}; I² = {d['I2']:.1f}%")
    ex = plots.pooled_summary(mq.fit(ssm2025, "accuracy", method="exact").to_dict())
    assert ex["label"] == "Bayesian random-effects (exact), rows as independent studies, k = 17"
    fig = plots.forest_plot(for_prop(ssm2025), pooled=[s], weights=plots.pooled_weights(for_prop(ssm2025), d))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "Weight" in texts and any(x.startswith("    (Q = ") for x in texts)


def for_prop(t):
    return t[t["property"] == "accuracy"].reset_index(drop=True)


def test_pooled_weights_are_metafors_for_a_two_level_model():
    t = _table(12)
    d = mq.fit(t, "accuracy", method="reml").to_dict()
    w = plots.pooled_weights(t, d)
    ref = 1 / (t["vi"].to_numpy(float) + d["tau2"])
    assert w == pytest.approx(100 * ref / ref.sum(), rel=1e-10)


def test_plot_forest_method_prints_every_diamond(tmp_path):
    out = tmp_path / "f.png"
    r = CliRunner().invoke(main, ["plot", "forest", "--property", "accuracy", "--method", "reml", "--method",
                                  "exact", "--out", str(out)])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("REML multilevel, k = 4: -2.60 % [-8.66, +3.86]; Q = ")
    assert lines[1].startswith("Bayesian random-effects (exact), rows as independent studies, k = 17: -4.09 %")
    assert out.stat().st_size > 0


def test_compare_and_bias_state_the_primary_estimate(ssm2025):
    from metaquant.workbench import compare as cmp

    comp = cmp.compare(ssm2025, ["accuracy", "dsc"], method="exact")
    text = cmp.format_comparison(comp)
    assert text.splitlines()[0].startswith("primary estimate")
    assert "  accuracy: Bayesian multilevel, in no column here: run metaquant fit" in text
    assert comp["dsc"].primary["column"] == "bayes"
    r = CliRunner().invoke(main, ["bias", "--property", "accuracy"])
    assert r.output.splitlines()[0].startswith("primary estimate: Bayesian multilevel")


def test_api_fit_defaults_to_the_primary_estimate_as_the_cli_does(tmp_path):
    """Twelve studies with every variance known: the primary is REML, from Python and from the shell alike."""
    t = _table(12)
    f = tmp_path / "twelve.csv"
    t[["study", "comparison", "property", "yi", "vi"]].to_csv(f, index=False)
    res = mq.fit(t, "accuracy")
    assert res.engine == "frequentist" and res.spec.method == "reml"
    assert mq.fit(t, "accuracy", method="primary").to_dict()["estimate"] == res.to_dict()["estimate"]
    assert mq.fit_all(t)["accuracy"].spec.method == "reml"
    assert mq.fit(t, "accuracy", method="bayes").engine != "frequentist"  # a named method is kept
    out = CliRunner().invoke(main, ["fit", "--data", str(f), "--property", "accuracy", "--format", "json"])
    assert out.exit_code == 0, out.output
    d = json.loads(out.output)
    assert d["engine"] == "frequentist" and d["estimate"] == pytest.approx(res.to_dict()["estimate"], rel=1e-12)
    assert d["primary_estimate"]["is_primary"] is True


def test_cli_fit_reads_the_primary_rule_only_through_the_api():
    from pathlib import Path

    src = (Path(mq.__file__).parent / "cli" / "fit.py").read_text(encoding="utf-8")
    assert "workbench" not in src and "bayes.checks" not in src
