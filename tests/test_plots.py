"""metaquant.plots: figures return a Figure, carry the right numbers, and are written atomically."""

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import bayes_ready as _bayes_ready
from matplotlib.figure import Figure
from scipy import stats

import metaquant as mq
from metaquant import compare, frequentist, plots, ssm
from metaquant.cli import main
from metaquant.errors import InputError


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_forest_plot_markers_intervals_and_diamonds(tab):
    t = mq.for_property(tab, "accuracy")
    reml = compare.fit_reml(t)
    fake_bayes = {"pct_mean": -4.0, "pct_ci_low": -6.0, "pct_ci_high": -2.0, "pct_pi_low": -9.0, "pct_pi_high": 1.0,
                  "label_code": "WN-IF", "model": "multilevel"}
    fig = plots.forest_plot(t, reml=reml, bayes=fake_bayes, ssm_models=ssm.evidence_models(t))
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    squares = [ln for ln in ax.lines if ln.get_marker() == "s" and len(ln.get_xdata())]
    circles = [ln for ln in ax.lines if ln.get_marker() == "o" and len(ln.get_xdata())]
    assert len(squares) == int(t["vi_known"].sum()) == 4
    assert len(circles) == int((~t["vi_known"]).sum()) == 13
    # the interval of S5 int8 is pct(yi ± 1.96 sqrt(vi))
    r = t[t["comparison"] == "S5|int8"].iloc[0]
    lo = 100 * np.expm1(r["yi"] - stats.norm.ppf(0.975) * np.sqrt(r["vi"]))
    segs = [ln for ln in ax.lines if ln.get_marker() in ("None", "", None) and len(ln.get_xdata()) == 2]
    assert any(np.isclose(ln.get_xdata()[0], lo, rtol=1e-12) for ln in segs)
    # two diamonds (REML, Bayes) with the pooled estimates at their centre
    diamonds = ax.patches
    assert len(diamonds) == 2
    centres = sorted(p.get_xy()[1][0] for p in diamonds)
    assert centres == pytest.approx(sorted([reml["pct"], -4.0]))
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert any("REML (k=4)" in x for x in labels) and any("Bayes" in x for x in labels)
    assert "WN (0.37)" in _texts(fig) or any("WN (0.37)" in a.get_text() for a in ax.texts)


def test_posterior_plot_zone_probabilities_match_the_normal_cdf():
    rng = np.random.default_rng(1)
    draws = rng.normal(3.0, 1.0, 400_000)  # % scale
    fig = plots.posterior_plot(draws, "accuracy")
    texts = _texts(fig)
    # P(2 < x <= 5) for N(3, 1): the IF-WP zone of the correctness cut-points
    p = stats.norm.cdf(2.0, 3.0) - stats.norm.cdf(-2.0, 3.0)
    p_ifwp = stats.norm.cdf(5.0, 3.0) - stats.norm.cdf(2.0, 3.0)
    assert f"{p_ifwp:.2f}" in texts and f"{p:.2f}" in texts
    assert "IF-WP" in texts and "IF" in texts


def test_posterior_plot_uses_given_zone_probabilities_and_outlines_the_label():
    draws = np.random.default_rng(2).normal(-4.0, 1.0, 5000)
    zp = {code: 0.0 for code in mq.scale.LABELS}
    zp.update({"WN-IF": 0.7, "WN": 0.3})
    fig = plots.posterior_plot(draws, "accuracy", zone_probabilities=zp, label_code="WN-IF")
    texts = _texts(fig)
    assert "0.70" in texts and "0.30" in texts
    assert "label WN-IF, P(its zones) = 1.00" in fig.axes[0].get_title()


@pytest.mark.filterwarnings("ignore::metaquant.errors.ConvergenceWarning")  # tiny MCMC run
def test_posterior_plot_from_a_bayesian_result():
    bayes = _bayes_ready()
    t = mq.for_property(mq.compute_effects(mq.load("ssm2025")), "gpu_power_draw")
    res = bayes.fit(t, draws=200, tune=200, chains=2, seed=1, progressbar=False)
    d = res.to_dict()
    fig = plots.posterior_plot(res, "gpu_power_draw", zone_probabilities=d["zone_probabilities"],
                               label_code=d["label_code"])
    assert f"{d['zone_probabilities'][d['label_code']]:.2f}" in _texts(fig) or d["label_code"] in _texts(fig)


def test_masses_plot_bars_are_the_final_masses(tab):
    res = ssm.synthesize(tab, "gpu_power_draw")
    fig = plots.masses_plot(res)
    ax = fig.axes[0]
    heights = [b.get_height() for b in ax.patches]
    ticks = [x.get_text() for x in ax.get_xticklabels()]
    assert ticks == ["IF-WP", "WP", "Θ"]
    # by hand (docs/methods/ssm.md): WP 0.701, {IF,WP} 0.299·0.873328 = 0.261125, Θ 0.299·0.126672 = 0.037875
    assert heights == pytest.approx([0.261125072, 0.701, 0.037874928], abs=1e-9)
    assert "IF-WP (Bel 0.962" in ax.get_title()
    fig2 = plots.masses_plot(res.to_dict())
    assert [b.get_height() for b in fig2.axes[0].patches] == pytest.approx(heights)


def test_bits_regression_equals_rma_with_log2_bits(tab):
    t = mq.for_property(tab, "accuracy")
    reg = plots.bits_regression(t)
    known = t[t["vi_known"]]
    ref = frequentist.rma(known["yi"].to_numpy(), known["vi"].to_numpy(), method="REML",
                          mods=np.log2(known["bits"].to_numpy()))
    assert reg["k"] == 4 and reg["slope"] == pytest.approx(ref.coefficients[1]["estimate"], rel=1e-10)
    pr = frequentist.predict(ref, np.log2([8.0]))
    i = int(np.argmin(np.abs(np.asarray(reg["grid_bits"]) - 8.0)))
    assert reg["grid_bits"][i] == pytest.approx(8.0)
    assert reg["pct"][i] == pytest.approx(100 * np.expm1(pr.pred[0]), rel=1e-9)
    fig = plots.bits_plot(t, regression=reg)
    assert "slope" in " ".join(t.get_text() for t in fig.axes[0].get_legend().get_texts())


def test_bits_regression_not_estimable_is_said(tab):
    reg = plots.bits_regression(mq.for_property(tab, "storage_size"))
    assert reg["estimable"] is False and "bit-widths" in reg["reason"]
    fig = plots.bits_plot(mq.for_property(tab, "storage_size"))
    assert any(x.startswith("no REML slope: 2 rows with a known variance") for x in _texts(fig))


def test_save_figure_png_svg_and_refusal(tmp_path, tab):
    fig = plots.masses_plot(ssm.synthesize(tab, "dsc"))
    png = plots.save_figure(fig, tmp_path / "m.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = plots.save_figure(fig, tmp_path / "m.svg")
    assert b"<svg" in svg.read_bytes()[:2000]
    before = png.read_bytes()
    with pytest.raises(InputError, match="exists already"):
        plots.save_figure(fig, png)
    assert png.read_bytes() == before
    plots.save_figure(fig, png, force=True)
    with pytest.raises(InputError, match=".png or .svg"):
        plots.save_figure(fig, tmp_path / "m.pdf")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left behind


def test_cli_plot_masses_and_bits(tmp_path):
    out = tmp_path / "masses.svg"
    res = CliRunner().invoke(main, ["plot", "masses", "--property", "accuracy", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.exists()
    res = CliRunner().invoke(main, ["plot", "masses", "--property", "accuracy", "--out", str(out)])
    assert res.exit_code == 2 and "exists already" in res.output
    res = CliRunner().invoke(main, ["plot", "bits", "--property", "accuracy", "--out", str(tmp_path / "b.png")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_plot_forest_and_posterior_fast(tmp_path):
    _bayes_ready()
    out = tmp_path / "forest.png"
    res = CliRunner().invoke(main, ["plot", "forest", "--property", "dsc", "--fast", "--out", str(out)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["plot", "posterior", "--property", "dsc", "--method-bayes", "exact", "--out",
                                    str(tmp_path / "post.svg")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "post.svg").exists()


def test_posterior_plot_of_the_exact_engine_integrates_to_one(tab):
    bayes = _bayes_ready()
    t = mq.for_property(tab, "gpu_energy_consumption")
    res = bayes.fit_exact(t)
    fig = plots.posterior_plot(res, "gpu_energy_consumption", zone_probabilities=res.zone_probabilities,
                               label_code=res.label_code)
    curve = max(fig.axes[0].lines, key=lambda ln: len(ln.get_xdata()))
    x, f = np.asarray(curve.get_xdata()), np.asarray(curve.get_ydata())
    # the density carried to % integrates to the mixture mass inside the plotted range (99.5 % + the padding)
    assert 0.995 <= np.trapezoid(f, x) <= 1.0 + 1e-3
    # and its mean matches the engine's exact mean of the relative improvement
    assert np.trapezoid(f * x, x) / np.trapezoid(f, x) == pytest.approx(res.to_dict()["pct_mean"], abs=0.5)
    texts = _texts(fig)
    for code, p in res.zone_probabilities.items():
        if p >= 0.05 and code in texts:
            assert f"{p:.2f}" in texts


def test_bayes_bits_band_uses_the_engine_centre(tab, monkeypatch):
    # mu is the effect at the centre c of log2(bits): the line is mu + beta (log2 b - c)
    import arviz as az

    from metaquant import report

    mu = np.full((1, 50), 0.1)
    beta = np.full((1, 50, 1), -0.2)
    idata = az.from_dict(posterior={"mu": mu, "beta": beta}, coords={"coef": ["log2(bits)"]},
                         dims={"beta": ["coef"]})

    class Fake:
        pass

    fake = Fake()
    fake.idata = idata
    d = {"coefficients": [{"name": "log2(bits)", "mean": -0.2, "centre": 3.0}]}
    monkeypatch.setattr(compare, "fit_bayes", lambda *a, **k: (d, fake))
    band = report.bayes_bits_band(mq.for_property(tab, "storage_size"), grid=[8.0, 16.0])
    # storage is lower-is-better: pct = 100 (1 - e^-y)
    assert band["pct"] == pytest.approx([100 * (1 - np.exp(-0.1)), 100 * (1 - np.exp(-(0.1 - 0.2)))])
    assert band["slope_mean"] == pytest.approx(-0.2)


@pytest.mark.slow
def test_bayes_bits_slope_agrees_with_reml_on_precise_data(tmp_path):
    _bayes_ready()
    import pandas as pd

    from metaquant import report

    rows = [{"study": f"T{i}", "property": "accuracy", "improvement_pct": p, "improvement_sd": 0.5, "n_units": 50,
             "study_belief": 0.6, "bits": b} for i, (p, b) in enumerate([(-6.0, 2), (-3.1, 4), (-1.0, 8), (-0.2, 16),
                                                                          (-4.0, 3), (-2.0, 6)], 1)]
    path = tmp_path / "e.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    t = mq.compute_effects(mq.load(str(path)))
    reg = plots.bits_regression(t)
    band = report.bayes_bits_band(t, draws=1000, tune=1000, chains=2)
    assert band["slope_mean"] == pytest.approx(reg["slope"], abs=0.01)
