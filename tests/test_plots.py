"""metaquant.present.plots: figures return a Figure, carry the right numbers, and are written atomically."""

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from helpers import bayes_ready as _bayes_ready
from matplotlib.figure import Figure
from scipy import stats

import metaquant as mq
from metaquant import ssm
from metaquant.classical import rma
from metaquant.cli import main
from metaquant.errors import InputError
from metaquant.present import plots
from metaquant.spec import RunSettings
from metaquant.workbench import compare


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def _squeeze(s):
    """A numbers cell without its alignment padding."""
    return " ".join(s.split()).replace("[ ", "[")


def _marked(ax, marker):
    return [ln for ln in ax.lines if ln.get_marker() == marker and len(ln.get_xdata())]


@pytest.fixture(scope="module")
def ppl():
    """The benchmarks perplexity rows: 45 with a variance (5 of them near -900 %), 22 without."""
    return mq.for_property(mq.api.effect_table("benchmarks"), "perplexity")


@pytest.fixture(scope="module")
def ppl_reml(ppl):
    return compare.fit_reml(ppl)


def test_forest_plot_markers_intervals_and_diamonds(tab):
    t = mq.for_property(tab, "accuracy")
    reml = compare.fit_reml(t)
    fake_bayes = {"method": "bayes", "model": "multilevel", "k": 17, "mu_median": -0.04, "mu_ci_low": -0.06,
                  "mu_ci_high": -0.02, "pi_low": -0.09, "pi_high": 0.01, "label_code": "WN-IF"}
    fig = plots.forest_plot(t, reml=reml, bayes=fake_bayes, ssm_models=ssm.evidence_models(t))
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(_marked(ax, "s")) + len([ln for ln in _marked(ax, "<") + _marked(ax, ">") if ln.get_markersize() == 7])\
        == int(t["vi_known"].sum()) == 4
    assert len(_marked(ax, "o")) == int((~t["vi_known"]).sum()) == 13
    # the interval of S6 int8 is yi ± 1.96 sqrt(vi) on the log-ratio axis, and its numbers are pct of its ends
    r = t[t["comparison"] == "S6|int8"].iloc[0]
    z = stats.norm.ppf(0.975)
    lo, hi = r["yi"] - z * np.sqrt(r["vi"]), r["yi"] + z * np.sqrt(r["vi"])
    segs = [ln.get_xdata() for ln in ax.lines if ln.get_marker() in ("None", "", None) and len(ln.get_xdata()) == 2]
    assert any(np.allclose(x, [lo, hi], rtol=1e-12) for x in segs)
    row = [s for s in _texts(fig) if s.strip().startswith(f"{100 * np.expm1(r['yi']):.1f} [")]
    assert row and f"{100 * np.expm1(lo):.1f}," in row[0] and f"{100 * np.expm1(hi):.1f}]" in row[0]
    # two diamonds (REML, Bayes) centred on the pooled log ratios
    assert len(ax.patches) == 2
    centres = sorted(p.get_xy()[1][0] for p in ax.patches)
    assert centres == pytest.approx(sorted([reml["estimate"], -0.04]))
    texts = _texts(fig)
    assert "REML multilevel, k = 4" in texts and "Bayesian multilevel, k = 17" in texts
    assert "WN (0.37)" in texts and "WN-IF" in texts
    assert "S1" in texts and "  q0.16" in texts  # the study heading, its rows without the study prefix


def test_forest_plot_benchmarks_perplexity_layout(ppl, ppl_reml):
    fig = plots.forest_plot(ppl, reml=ppl_reml)
    ax = fig.axes[0]
    texts = [t for t in ax.texts]
    words = [t.get_text() for t in texts]
    # study ids as written, never mathtext or TeX; no None in a label
    assert "LLAMACPP_PPL_L3_8B" in words and "LLAMACPP_README_2023" in words
    assert all(t.get_parse_math() is False and t.get_usetex() is False for t in texts)
    assert not [w for w in words if "None" in w]
    assert "  LLaMA 3 8B, q8_0, no imatrix" in words
    # one square per row with a variance that lies in view, an arrow head at the edge for each row beyond it
    a, b = ax.get_xlim()
    yi = ppl.loc[ppl["vi_known"], "yi"].to_numpy()
    beyond = int(((yi < a) | (yi > b)).sum())
    assert beyond == 6  # iq1_M and the five iq1_S rows (-309 % to -914 %)
    assert len(_marked(ax, "s")) == 45 - beyond
    assert len([ln for ln in _marked(ax, "<") if ln.get_markersize() == 7.0]) == beyond
    assert any("6 rows beyond the axis" in w for w in words)
    # the axis follows the bulk of the data: no -900 % range squashing every row
    assert -300 < plots.pct_from_log(a, False) < -100 and b < 0.2
    # but the numbers of the clipped rows are on the right
    worst = ppl.loc[ppl["yi"].idxmin()]
    assert any(w.strip().startswith(f"{worst['pct']:.1f} [") for w in words)
    # the pooled diamond with its numbers and its prediction interval (clipped at both ends here)
    assert [p.get_xy()[1][0] for p in ax.patches] == pytest.approx([ppl_reml["estimate"]])
    pooled = f"{ppl_reml['pct']:.1f} [{ppl_reml['pct_ci_low']:.1f}, {ppl_reml['pct_ci_high']:.1f}]"
    assert pooled in [_squeeze(w) for w in words]
    assert f"[{ppl_reml['pct_pi_low']:.1f}, {ppl_reml['pct_pi_high']:.1f}]" in [_squeeze(w) for w in words]
    assert "    95% prediction interval" in words
    dotted = [ln for ln in ax.lines if ln.get_linestyle() == ":" and len(ln.get_xdata()) == 2
              and ln.get_ydata()[0] == ln.get_ydata()[1]]
    assert len(dotted) == 2  # the prediction interval either side of the diamond
    # headers as metafor's: labels left, estimate and interval right
    assert "Study / comparison" in words and "RI % [95% CI]" in words
    # ticks: each % label sits at the log ratio of its value
    for pos, lab in zip(ax.get_xticks(), [t.get_text() for t in ax.get_xticklabels()], strict=True):
        assert plots.pct_from_log(pos, False) == pytest.approx(float(lab), abs=1e-9)
    assert "0" in [t.get_text() for t in ax.get_xticklabels()]


def test_forest_plot_log_scale_and_given_limits(ppl, ppl_reml):
    fig = plots.forest_plot(ppl, reml=ppl_reml, scale="log", xlim=(-1.0, 0.5))
    ax = fig.axes[0]
    words = _texts(fig)
    assert "Log ratio [95% CI]" in words
    assert f"{ppl_reml['estimate']:.2f} [{ppl_reml['ci_low']:.2f}, {ppl_reml['ci_high']:.2f}]" in [
        _squeeze(w) for w in words]
    assert ax.get_xlim() == pytest.approx((-1.0, 0.5))
    yi = ppl.loc[ppl["vi_known"], "yi"].to_numpy()
    assert len([ln for ln in _marked(ax, "<") if ln.get_markersize() == 7.0]) == int((yi < -1.0).sum()) == 6
    for pos, lab in zip(ax.get_xticks(), [t.get_text() for t in ax.get_xticklabels()], strict=True):
        assert pos == pytest.approx(float(lab))
    with pytest.raises(InputError, match="unknown scale"):
        plots.forest_plot(ppl, scale="odds")


def test_forest_plot_weights_column_and_square_sizes(ppl):
    known = ppl[ppl["vi_known"]]
    w = {c: 1.0 + i for i, c in enumerate(known["comparison"])}  # increasing weights down the rows
    fig = plots.forest_plot(known.iloc[:20], weights=w)
    ax = fig.axes[0]
    words = _texts(fig)
    assert "Weight" in words
    tot = sum(w[c] for c in known["comparison"].iloc[:20])
    assert f"{100 * w[known['comparison'].iloc[19]] / tot:.2f}%" in words
    sizes = [ln.get_markersize() for ln in _marked(ax, "s")]
    # metafor's psize: sqrt(weight) mapped linearly onto 0.5 .. 1.5 times the base size
    base = sizes[0] / 0.5
    wi = np.sqrt(np.arange(1.0, 21.0))
    assert sizes == pytest.approx(list(base * (0.5 + (wi - wi.min()) / (wi.max() - wi.min()))))


def test_forest_plot_labels_are_plain_text(write_csv):
    path = write_csv("study,comparison,property,improvement_pct,improvement_sd,n_units,study_belief\n"
                     "A_$x$_B,int8_$y$,accuracy,-2.0,1.0,30,0.6\n"
                     "A_$x$_B,None,accuracy,-1.0,1.0,30,0.6\n")
    t = mq.compute_effects(mq.load(str(path)))
    fig = plots.forest_plot(t, pooled=[{"label": "my_pool $z$", "estimate": -0.015, "ci_low": -0.03,
                                        "ci_high": 0.0}])
    words = _texts(fig)
    assert "A_$x$_B" in words and "  int8_$y$" in words and "my_pool $z$" in words
    assert not [w for w in words if "None" in w]
    plots.figure_bytes(fig)  # draws without mathtext parsing


def test_row_label_and_pooled_summary():
    assert plots.row_label("S|LLaMA 3 8B|q8_0|imatrix None", "S") == "LLaMA 3 8B, q8_0, no imatrix"
    assert plots.row_label("S|None", "S") == "S" and plots.row_label(None) == "(unnamed)"
    assert plots.row_label("S|a|nan|b", "S") == "a, b"
    s = plots.pooled_summary({"method": "REML", "k": 3, "estimate": -0.1, "ci_low": -0.2, "ci_high": 0.0,
                              "pi_low": -0.4, "pi_high": 0.2})
    assert s["label"] == "REML random-effects, k = 3" and (s["estimate"], s["pi_high"]) == (-0.1, 0.2)
    s = plots.pooled_summary({"method": "exact", "mu_median": 0.2, "mu_mean": 0.3, "mu_ci_low": 0.1,
                              "mu_ci_high": 0.3})
    assert s["estimate"] == 0.2 and s["pi_low"] is None and s["label"].startswith("Bayesian random-effects (exact)")
    s = plots.pooled_summary({"pct": -20.0, "pct_ci_low": -50.0, "pct_ci_high": 10.0}, "x", higher_is_better=False)
    assert s["estimate"] == pytest.approx(-np.log1p(0.2)) and s["ci_high"] == pytest.approx(-np.log1p(-0.1))
    assert plots.pooled_summary({"estimable": False, "estimate": 1.0}) is None


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
    if d.get("ok") is False:  # a failed fit states no finding, and says why
        assert "no label: the sampler's diagnostics failed" in fig.axes[0].get_title()
    elif d["label_code"] is None:  # a diffuse posterior is said, not labelled
        assert "no label: the evidence does not decide" in fig.axes[0].get_title()
    else:
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


def _reml_bits(t):
    from metaquant.spec import FitSpec
    from metaquant.workbench.predict import bits_regression

    return bits_regression(t, FitSpec(str(t["property"].iloc[0]), method="reml", variance_policy="drop",
                                      model="random-effects"))


def test_bits_regression_equals_rma_with_log2_bits(tab):
    t = mq.for_property(tab, "accuracy")
    reg = _reml_bits(t)
    known = t[t["vi_known"]]
    ref = rma.rma(known["yi"].to_numpy(), known["vi"].to_numpy(), method="REML",
                          mods=np.log2(known["bits"].to_numpy()))
    assert reg["k"] == 4 and reg["slope"] == pytest.approx(ref.coefficients[1]["estimate"], rel=1e-10)
    pr = rma.predict(ref, np.log2([8.0]))
    i = int(np.argmin(np.abs(np.asarray(reg["grid_bits"]) - 8.0)))
    assert reg["grid_bits"][i] == pytest.approx(8.0)
    assert reg["pct"][i] == pytest.approx(100 * np.expm1(pr.pred[0]), rel=1e-9)
    fig = plots.bits_plot(t, predictions=reg)
    assert "slope" in " ".join(t.get_text() for t in fig.axes[0].get_legend().get_texts())


def test_bits_regression_not_estimable_is_said(tab):
    reg = _reml_bits(mq.for_property(tab, "storage_size"))
    assert reg["estimable"] is False and "need k >= 3 (k = 2)" in reg["reason"]
    fig = plots.bits_plot(mq.for_property(tab, "storage_size"), regression=reg)
    assert any(x.startswith("no REML slope: storage_size: too few studies") for x in _texts(fig))


def test_bits_plot_legend_is_off_the_data(tab):
    t = mq.for_property(tab, "accuracy")
    fig = plots.bits_plot(t, predictions=_reml_bits(t))
    fig.canvas.draw() if hasattr(fig.canvas, "draw") else None
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    r = FigureCanvasAgg(fig).get_renderer()
    ax = fig.axes[0]
    assert ax.get_legend().get_window_extent(r).x0 >= ax.get_window_extent(r).x1


def test_bits_plot_says_when_the_band_rests_on_two_bit_widths(tab):
    t = mq.for_property(tab, "accuracy")
    fig = plots.bits_plot(t, predictions=_reml_bits(t))  # REML on the 4 rows with a variance: 1 at 4, 3 at 8 bits
    ax = fig.axes[0]
    assert "the REML line rests on k = 4 rows at 2 bit-widths (4-bit: 1, 8-bit: 3): a straight line between two " \
           "groups of rows, not a measured trend" in _texts(fig)
    band = [ln for ln in ax.lines if ln.get_label().startswith("REML")]
    assert band and all(ln.get_linestyle() == "--" for ln in band)
    assert [x.get_text() for x in ax.get_xticklabels()] == ["2\nn=1", "4\nn=2", "8\nn=7", "16\nn=4", "32\nn=3"]


def test_bits_plot_draws_given_predictions_without_fitting(tab, monkeypatch, tmp_path):

    def boom(*a, **k):
        raise AssertionError("bits_plot fitted although predictions were given")

    monkeypatch.setattr(rma, "rma", boom)
    rows = [{"study": f"T{i}", "property": "accuracy", "improvement_pct": p, "improvement_sd": 0.5, "n_units": 50,
             "study_belief": 0.6, "bits": b} for i, (p, b) in enumerate(
                 [(-6.0, 2), (-5.5, 2), (-6.5, 2), (-3.1, 4), (-3.0, 4), (-2.9, 4), (-1.0, 8), (-1.1, 8), (-0.9, 8),
                  (-0.3, 16)], 1)]
    pd.DataFrame(rows).to_csv(tmp_path / "e.csv", index=False)
    t = mq.compute_effects(mq.load(str(tmp_path / "e.csv")))
    g = [2.0, 4.0, 8.0, 16.0]
    band = {"grid_bits": g, "pct": [-6.0, -3.0, -1.0, -0.3], "pct_ci_low": [-7.0, -4.0, -2.0, -1.5],
            "pct_ci_high": [-5.0, -2.0, 0.0, 1.0], "label": "given band", "k": 10}
    fig = plots.bits_plot(t, predictions=band)
    ax = fig.axes[0]
    solid = [ln for ln in ax.lines if ln.get_linestyle() == "-" and len(ln.get_xdata()) >= 2 and ln.get_xdata()[0] > 1]
    dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--" and len(ln.get_xdata()) >= 2]
    # 2-4 and 4-8 rest on 3 rows at each end: solid; 8-16 has one row at 16 bits: dashed and said
    assert len(solid) == 2 and len(dashed) == 1 and list(dashed[0].get_xdata()) == [8.0, 16.0]
    assert list(dashed[0].get_ydata()) == pytest.approx(list(np.log1p(np.array([-1.0, -0.3]) / 100)))
    assert any(s.startswith("the REML line is dashed next to 16-bit (1 row)") for s in _texts(fig))
    # per-level predictions (the result protocol's) as diamonds with their intervals
    levels = [{"moderator": "bits", "level": 4.0, "k": 3, "pct": -3.0, "pct_ci_low": -4.0, "pct_ci_high": -2.0},
              {"moderator": "bits", "level": 16.0, "k": 1, "pct": -0.3, "pct_ci_low": -1.5, "pct_ci_high": 1.0}]
    fig = plots.bits_plot(t, predictions=levels)
    d = [ln for ln in fig.axes[0].lines if ln.get_marker() == "D" and len(ln.get_xdata())]
    assert [float(ln.get_xdata()[0]) for ln in d] == [4.0, 16.0]
    assert "pooled estimates from fewer than 3 rows: 16-bit (k = 1)" in _texts(fig)


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


def test_bayes_bits_band_uses_the_engine_centre(tab):
    """mu is the effect at the centre c of log2(bits): the band is the posterior of mu + beta (log2 b - c)."""
    bayes = _bayes_ready()
    from metaquant.workbench.predict import band

    t = mq.for_property(tab, "accuracy")
    res = bayes.fit(t, moderators=["bits"], draws=150, tune=150, chains=2, seed=5, progressbar=False)
    mu = res.mu_draws()
    beta = np.asarray(res.idata.posterior["beta"].values, dtype=float).reshape(mu.size, -1)[:, 0]
    c = res.data.centres["log2(bits)"]
    b = band(res, t, ("bits",), grid=[8.0, 16.0])
    for g, pct in zip(b["grid_bits"], b["pct"], strict=True):
        line = mu + beta * (np.log2(g) - c)
        assert pct == pytest.approx(100 * np.expm1(np.median(line)), rel=1e-9)  # accuracy: higher is better


@pytest.mark.slow
def test_bayes_bits_slope_agrees_with_reml_on_precise_data(tmp_path):
    _bayes_ready()
    import pandas as pd

    from metaquant.present import report

    rows = [{"study": f"T{i}", "property": "accuracy", "improvement_pct": p, "improvement_sd": 0.5, "n_units": 50,
             "study_belief": 0.6, "bits": b} for i, (p, b) in enumerate([(-6.0, 2), (-3.1, 4), (-1.0, 8), (-0.2, 16),
                                                                          (-4.0, 3), (-2.0, 6)], 1)]
    path = tmp_path / "e.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    t = mq.compute_effects(mq.load(str(path)))
    reg = _reml_bits(t)
    band = report.bayes_bits_band(t, RunSettings(chains=2))
    assert band["slope_mean"] == pytest.approx(reg["slope"], abs=0.01)


def test_forest_plot_rows_without_variance_only_and_bad_input(tab):
    t = mq.for_property(tab, "accuracy")
    s1 = t[t["study"] == "S1"]
    fig = plots.forest_plot(s1, title=False)
    ax = fig.axes[0]
    assert len(_marked(ax, "o")) == 5 and not _marked(ax, "s") and not ax.patches
    assert "accuracy: evidence rows and pooled effects" not in _texts(fig)
    assert any(w.startswith("open circles: 5 rows without a sampling variance") for w in _texts(fig))
    with pytest.raises(InputError, match="no rows to plot"):
        plots.forest_plot(s1.iloc[:0])
    with pytest.raises(InputError, match="3 weights for 5 rows"):
        plots.forest_plot(s1, weights=[1.0, 2.0, 3.0])
    with pytest.raises(InputError, match="empty axis range"):
        plots.forest_plot(s1, xlim=(5.0, -5.0))
    with pytest.raises(InputError, match="needs a numeric 'estimate'"):
        plots.forest_plot(s1, pooled=[{"label": "x"}])


def test_bits_plot_legend_shows_study_ids_as_written(tmp_path):
    rows = [{"study": "A_$x$_1", "property": "accuracy", "improvement_pct": p, "improvement_sd": 0.5, "n_units": 50,
             "study_belief": 0.6, "bits": b, "comparison": f"c{b}"} for p, b in [(-3.0, 4), (-1.0, 8)]]
    pd.DataFrame(rows).to_csv(tmp_path / "e.csv", index=False)
    t = mq.compute_effects(mq.load(str(tmp_path / "e.csv")))
    fig = plots.bits_plot(t, predictions={"grid_bits": [4.0, 8.0], "pct": [-3.0, -1.0], "pct_ci_low": [-4.0, -2.0],
                                          "pct_ci_high": [-2.0, 0.0]})
    texts = fig.axes[0].get_legend().get_texts()
    assert "A_$x$_1" in [x.get_text() for x in texts] and all(x.get_parse_math() is False for x in texts)
    plots.figure_bytes(fig)


def test_bits_plot_bayes_band_counts_every_row(tab):
    t = mq.for_property(tab, "accuracy")
    g = [4.0, 8.0, 16.0]
    band = {"grid_bits": g, "pct": [-3.0, -2.0, -1.0], "pct_ci_low": [-5.0, -4.0, -3.0],
            "pct_ci_high": [-1.0, 0.0, 1.0], "label": "Bayes band"}
    reml = {"grid_bits": [4.0, 8.0], "pct": [0.5, -1.0], "pct_ci_low": [-10.0, -5.0], "pct_ci_high": [10.0, 2.0],
            "label": "REML band"}
    fig = plots.bits_plot(t, predictions=reml, bayes_band=band)
    texts = _texts(fig)
    # PyMC models the unknown variances: its band rests on all 13 rows between 4 and 16 bits (2 + 7 + 4)
    assert [s for s in texts if s.startswith("the Bayes line")] == [
        "the Bayes line is dashed next to 4-bit (2 rows): fewer than 3 rows support it there"]
    assert any(s.startswith("the REML line rests on k = 4 rows at 2 bit-widths") for s in texts)
    bayes = [ln for ln in fig.axes[0].lines if ln.get_color() == plots._ENGINE_STYLE["Bayes"]["color"]]
    # 4-8 has only 2 rows at 4 bits: dashed; 8-16 solid
    assert [ln.get_linestyle() for ln in bayes] == ["--", "-"]


def test_mixture_quantile_against_the_normal_cdf_and_density_of_a_multilevel_posterior():
    """The plot's curve of the quadrature posterior (thousands of components): quantiles by scipy's CDF."""
    from scipy import stats

    res = mq.fit("ssm2025", "accuracy", method="bayes")
    mix = res.mixture
    w, m, s = (np.asarray(a, dtype=float) for a in (mix.w, mix.m, mix.s))
    w = w / w.sum()
    for q in (0.0025, 0.5, 0.9975):
        y = plots._mixture_quantile(w, m, s, q)
        assert float(stats.norm.cdf((y - m) / s) @ w) == pytest.approx(q, abs=1e-9)
    x, f = plots._mixture_pct_density(mix, True)
    assert 0.995 <= np.trapezoid(f, x) <= 1.0 + 1e-3
