"""Scale moderators on the one road, predict's location-scale default and its calibration at the asked setting."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from metaquant import api
from metaquant.classical.rma_ls import rma_ls
from metaquant.cli import main as cli
from metaquant.errors import UsageError
from metaquant.spec import FitSpec
from metaquant.workbench.predict import at_setting, calibration_at_line, loso_calibration


def _rows(seed: int = 3) -> pd.DataFrame:
    """Five sources, each with rows at 4 and 8 bits; the 4-bit effects spread ten times more than the 8-bit ones."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(5):
        for j in range(6):
            bits = (4.0, 8.0)[j % 2]
            sd = 0.05 if bits == 4 else 0.005
            rows.append({"study": f"S{s}", "property": "accuracy", "bits": bits, "act_bits": 16.0,
                         "technique": ("gptq", "awq")[s % 2], "yi": (-0.1 if bits == 4 else 0.0) + rng.normal(0, sd),
                         "vi": 1e-6})
    return pd.DataFrame(rows)


def _table(seed: int = 3) -> pd.DataFrame:
    return api.effect_table(_rows(seed))


# ------------------------------------------------------------------ the road
def test_fit_with_scale_moderators_is_the_location_scale_model():
    t = _table()
    res = api.fit(t, "accuracy", method="reml", moderators=("bits",), scale_moderators=("bits",))
    a = t[t["property"] == "accuracy"]
    ref = rma_ls(a["yi"], a["vi"], mods=np.log2(a["bits"].to_numpy()), scale=np.log2(a["bits"].to_numpy()))
    d = res.to_dict()
    assert res.model == "location-scale" and d["description"] == "location-scale REML, log τ² ~ log2(bits)"
    np.testing.assert_allclose([c["estimate"] for c in d["alpha"]], ref.alpha, rtol=1e-10)
    np.testing.assert_allclose([c["estimate"] for c in d["coefficients"]], ref.beta, rtol=1e-10)
    # the 4-bit rows are the heterogeneous ones: log tau² falls with log2(bits)
    assert d["alpha"][1]["estimate"] < 0 and d["alpha"][1]["p"] < 0.05
    frame = res.to_frame()
    assert "scale:log2(bits)" in set(frame["term"])


def test_fit_cli_names_the_location_scale_model(tmp_path):
    _rows().to_csv(tmp_path / "rows.csv", index=False)
    out = CliRunner().invoke(cli, ["fit", "--data", str(tmp_path / "rows.csv"), "--property", "accuracy",
                                   "--method", "reml", "--moderator", "bits", "--scale-moderator", "bits:cat"])
    assert out.exit_code == 0, out.output
    assert "accuracy: location-scale REML, log τ² ~ bits[8], k=30" in out.output
    assert "scale: bits[8]" in out.output and "test of scale moderators: QS(df = 1)" in out.output


@pytest.mark.parametrize("method", ["dl", "pm", "ee", "bayes", "exact", "ssm"])
def test_scale_moderators_are_refused_by_other_engines(method):
    with pytest.raises(UsageError, match="scale moderators \\(--scale-moderator\\)"):
        api.fit(_table(), "accuracy", method=method, scale_moderators=("bits",))


@pytest.mark.parametrize("option", [{"model": "multilevel"}, {"robust": "cr1"}, {"test": "knha"}, {"rho": 0.5}])
def test_the_location_scale_model_refuses_what_it_does_not_fit(option):
    with pytest.raises(UsageError, match="location-scale model \\(--scale-moderator\\) takes no"):
        api.fit(_table(), "accuracy", method="reml", scale_moderators=("bits",), **option)


def test_fitspec_checks_its_scale_moderators():
    assert FitSpec("accuracy", scale_moderators="bits").scale_moderators == ("bits",)
    with pytest.raises(UsageError, match="scale moderator 3 is not a column name"):
        FitSpec("accuracy", scale_moderators=[3])


def test_cli_refusal_names_the_option():
    out = CliRunner().invoke(cli, ["fit", "--data", "benchmarks", "--property", "accuracy", "--method", "dl",
                                   "--scale-moderator", "bits"])
    assert out.exit_code != 0 and "--scale-moderator" in out.output and "Traceback" not in out.output


# ------------------------------------------------------------------ calibration at the setting
def _hand_table() -> pd.DataFrame:
    """Four sources with two rows at 8 bits and two at 4; one 8-bit row of S3 is far off (+1.0)."""
    rows = []
    for s in range(4):
        for j, (bits, y) in enumerate([(8.0, 0.001), (8.0, -0.001), (4.0, -0.1), (4.0, -0.12)]):
            y = y * (1 + 0.1 * s)
            if s == 3 and j == 0:
                y = 1.0
            rows.append({"study": f"S{s}", "property": "accuracy", "bits": bits, "yi": y, "vi": 1e-6})
    t = api.effect_table(pd.DataFrame(rows))
    return t[t["property"] == "accuracy"].reset_index(drop=True)


@pytest.mark.parametrize("scale", [(), ("bits:cat",)])
def test_calibration_at_the_setting_counts_only_its_rows(scale):
    """At 8 bits: 8 held-out rows; the far-off one is outside the interval the other sources give, the other
    seven inside (with it in the training rows the 8-bit heterogeneity is large): 7 of 8, counted by hand."""
    t = _hand_table()
    c = loso_calibration(t, ("bits",), "accuracy", scale_moderators=scale, at={"bits": 8})
    a = c["at"]
    assert (a["rows"], a["predicted"], a["unpredictable"]) == (8, 8, 0)
    assert a["coverage"] == pytest.approx(7 / 8)
    four = loso_calibration(t, ("bits",), "accuracy", scale_moderators=scale, at={"bits": 4})["at"]
    assert four["rows"] == 8 and c["predicted"] == 16  # the two settings split the held-out rows
    assert 8 * a["coverage"] + 8 * four["coverage"] == pytest.approx(16 * c["coverage"])
    assert calibration_at_line(c).startswith("at bits=8: 8 held-out rows, 95% PIs covered 87.5 %")
    assert c["model"] == ("homoscedastic REML" if not scale else "location-scale REML, log τ² ~ bits:cat")


def test_at_setting_reads_numbers_and_levels():
    t = pd.DataFrame({"bits": [4.0, 8.0, 4.0, 4.0], "technique": ["gptq", "gptq", "awq", "gptq"]})
    assert at_setting(t, {"bits": "4", "technique": "gptq"}).tolist() == [True, False, False, True]
    assert at_setting(t, {"bits": 3}).sum() == 0


def test_a_setting_no_row_is_at_says_so():
    c = loso_calibration(_hand_table(), ("bits",), "accuracy", at={"bits": 6})
    assert calibration_at_line(c) == "at bits=6: calibration not estimable (no pooled row is at this setting)"


def test_location_scale_calibration_is_narrower_where_the_rows_agree():
    """On rows whose 8-bit effects agree and 4-bit ones do not, the 8-bit intervals of the location-scale model
    are narrower than those of one tau² (which averages the two)."""
    t = _table()
    t = t[t["property"] == "accuracy"].reset_index(drop=True)
    hom = loso_calibration(t, ("bits",), "accuracy", at={"bits": 8})
    ls = loso_calibration(t, ("bits",), "accuracy", scale_moderators=("bits:cat",), at={"bits": 8})
    assert ls["at"]["median_width_pp"] < 0.5 * hom["at"]["median_width_pp"]


def test_calibration_jobs_and_a_dask_cluster_give_the_sequential_numbers():
    distributed = pytest.importorskip("distributed")
    t = _hand_table()
    kw = {"scale_moderators": ("bits:cat",), "at": {"bits": 8}}
    seq = loso_calibration(t, ("bits",), "accuracy", **kw)
    assert loso_calibration(t, ("bits",), "accuracy", jobs=2, **kw) == seq
    with distributed.LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster:
        assert loso_calibration(t, ("bits",), "accuracy", scheduler=cluster.scheduler_address, **kw) == seq


# ------------------------------------------------------------------ predict's default
def test_predict_with_reml_defaults_to_the_location_scale_model():
    t = _table()
    spec, settings = api.split_options("accuracy", method="reml")
    d = api.predict(t, spec, {"bits": 8}, settings).to_dict()
    assert d["model"] == "location-scale REML, log τ² ~ bits[8]" and d["scale_moderators"] == ["bits:cat"]
    assert any("the default of predict with REML/ML" in n for n in d["notes"])
    assert d["calibration"]["model"] == "location-scale REML, log τ² ~ bits:cat"
    h = api.predict(t, spec, {"bits": 8}, settings, homoscedastic=True).to_dict()
    assert h["scale_moderators"] == [] and h["calibration"]["model"] == "homoscedastic REML"
    # one tau² averages the 4-bit spread into the 8-bit interval
    assert d["pct_pi_high"] - d["pct_pi_low"] < 0.5 * (h["pct_pi_high"] - h["pct_pi_low"])
    # a bit-width the rows do not have keeps the log2 coding in the scale model
    off = api.predict(t, spec, {"bits": 6}, settings, calibrate=False).to_dict()
    assert off["scale_moderators"] == ["bits"]


def test_predict_cli_prints_both_calibration_lines(tmp_path):
    _rows().to_csv(tmp_path / "rows.csv", index=False)
    out = CliRunner().invoke(cli, ["predict", "--data", str(tmp_path / "rows.csv"), "--property", "accuracy",
                                   "--bits", "8", "--method", "reml", "--jobs", "1"])
    assert out.exit_code == 0, out.output
    assert "(frequentist, location-scale REML, log τ² ~ bits[8], moderators bits, k=30)" in out.output
    assert "calibration of location-scale REML, log τ² ~ bits:cat, one source left out" in out.output
    assert "    at bits=8: 15 held-out rows, 95% PIs covered" in out.output
