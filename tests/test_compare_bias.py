"""Label survival under bias adjustment in ``compare`` and ``report``; the funnel and model-probability figures.

References: the survival columns are checked against what ``metaquant fit --method bma`` prints for the same
property, settings and seed (the same numbers, read from its JSON, not recomputed); the model-probability bars
against the prior and posterior probabilities of :func:`metaquant.bayes.bma.inclusion_bayes_factors`; the funnel
points against the rows with a known sampling variance; the REML line against the comparison's REML estimate.
"""

import base64
import io
import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from helpers import bayes_ready as _bayes_ready
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

import metaquant as mq
from metaquant.bayes import bma
from metaquant.cli import main
from metaquant.errors import InputError
from metaquant.present import bias_plots, plots, report
from metaquant.spec import RunSettings
from metaquant.workbench import compare

#: Tiny MCMC settings: the numbers are not meant to be read, only compared between two roads.
TINY = ["--draws", "50", "--tune", "50", "--chains", "2", "--seed", "7"]
PROP = "gpu_power_draw"  # 3 rows with known variances (2 studies) in ssm2025: the smallest ensemble


def _fake_bma(seed: int = 1) -> dict:
    """A BMA result dict: the default ensemble's members and priors, posteriors from made-up log marginals."""
    members, prior = bma.ensemble()
    log_ml = np.random.default_rng(seed).normal(0.0, 2.0, len(members))
    post, inclusion = bma.inclusion_bayes_factors(members, prior, log_ml)
    return {"property": "accuracy", "inclusion": inclusion,
            "members": [{"name": m.name, "in_ensemble": True, "prior_prob": float(p), "post_prob": float(q)}
                        for m, p, q in zip(members, prior, post, strict=True)]
            + [{"name": "mu, tau, none (plain)", "in_ensemble": False, "prior_prob": 0.0, "post_prob": 0.0}]}


def _widths(ax) -> list[list[float]]:
    return [[float(r.get_width()) for r in c] for c in ax.containers]


# ---------------------------------------------------------------- figures (no fitting)


def test_model_probability_plot_draws_two_bars_per_member_and_per_component():
    d = _fake_bma()
    ens = [m for m in d["members"] if m["in_ensemble"]]
    fig = bias_plots.model_probability_plot(d, by="members")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert len(ax.patches) == 2 * len(ens) == 48  # 4 effect x heterogeneity cells x (no bias + 5 bias members)
    prior_w, post_w = _widths(ax)
    assert prior_w == pytest.approx([m["prior_prob"] for m in ens])
    assert post_w == pytest.approx([m["post_prob"] for m in ens])
    ticks = sorted(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels()), strict=True), reverse=True)
    assert [name for _, name in ticks] == [m["name"] for m in ens]  # first member on top
    fig = bias_plots.model_probability_plot(d, by="components")
    (ax,) = fig.axes
    assert len(ax.patches) == 6
    prior_w, post_w = _widths(ax)
    inc = d["inclusion"]
    assert prior_w == pytest.approx([inc[c]["prior"] for c in ("effect", "heterogeneity", "bias")])
    assert post_w == pytest.approx([inc[c]["posterior"] for c in ("effect", "heterogeneity", "bias")])
    assert prior_w == pytest.approx([0.5, 0.5, 0.5])  # RoBMA's prior inclusion probabilities
    texts = [t.get_text().strip() for t in ax.texts]
    assert texts == [f"BF {inc[c]['bf']:.3g}" for c in ("effect", "heterogeneity", "bias")]
    fig = bias_plots.model_probability_plot(d)
    assert [len(a.patches) for a in fig.axes] == [48, 6]
    svg = plots.figure_bytes(fig, "svg")
    assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg and svg.rstrip().endswith(b"</svg>")


def test_model_probability_plot_refuses_what_is_not_an_ensemble():
    with pytest.raises(InputError, match="members and inclusion"):
        bias_plots.model_probability_plot({"property": "accuracy", "members": [], "inclusion": {}})
    with pytest.raises(InputError, match="by must be"):
        bias_plots.model_probability_plot(_fake_bma(), by="zones")


def test_funnel_figure_shows_the_rows_with_a_known_variance_and_the_reml_line(tab):
    t = mq.for_property(tab, "accuracy")  # 17 rows, 4 with a known variance, from 3 studies
    freq = compare.fit_reml(t)
    fig, info = report.funnel_figure(t, freq)
    known = t[t["vi_known"].astype(bool)]
    assert info["k"] == len(known) == 4 and info["k_total"] == 17
    assert info["estimate"] == freq["estimate"]
    (ax,) = fig.axes
    pts = np.concatenate([c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)])
    assert sorted(map(tuple, np.round(pts, 12))) == sorted(
        zip(np.round(known["yi"], 12), np.round(np.sqrt(known["vi"]), 12), strict=True))
    assert any(np.allclose(line.get_xdata(), freq["estimate"]) for line in ax.lines)  # the REML line
    fig, info = report.funnel_figure(mq.for_property(tab, "f1_score"))  # no row with a known variance
    assert fig is None and "needs 2" in info["reason"]


# ---------------------------------------------------------------- without --bias: nothing changes


def test_without_bias_the_comparison_has_no_bias_part(tab):
    t = mq.for_property(tab, PROP)
    plain = compare.compare(t, method="exact")
    off = compare.compare(t, method="exact", bias=False)
    assert _strip_timing(plain.to_dict()) == _strip_timing(off.to_dict())
    assert set(plain.to_dict()[0]) == {"property", "primary", "ssm", "bayes", "frequentist", "agreement"}
    assert not [c for c in plain.summary().columns if c.startswith("bma_")]
    assert compare.format_comparison(plain) == compare.format_comparison(off)
    assert "bias adjustment" not in compare.format_comparison(plain)
    assert plain[PROP].bias is None and "bma" not in plain[PROP].objects


# ---------------------------------------------------------------- compare --bias on a quadrature-only ensemble
# The default ensemble samples 24 models (a minute); here the one road is kept and only the engine's ensemble is
# narrowed to the 12 members quadrature computes (no bias, PET, PEESE x effect x heterogeneity): a real BMAResult
# in well under a second.  The full ensemble is compared with `fit --method bma` in the slow tests below.

_TRACTABLE = [bma.Member(e, h, b) for e in (False, True) for h in (False, True) for b in ("none", "pet", "peese")]


@pytest.fixture
def quick_road(monkeypatch):
    """``fitting.fit_table`` with the bma engine on the quadrature-only ensemble; records each spec and settings."""
    from metaquant import fitting

    calls, real = [], fitting.fit_table

    def fit_table(table, spec, settings=None):
        if spec.engine != "bma":
            return real(table, spec, settings)
        calls.append((spec, settings))
        rows, _ = fitting.apply_variance_policy(fitting.property_rows(table, spec.property), spec.policy,
                                                engine="bma")
        return bma.fit_bma(rows, members=_TRACTABLE, thresholds=spec.cut_points(), marginal_likelihood="exact",
                           draws=settings.draws, chains=min(settings.chains, 2), seed=settings.seed)

    monkeypatch.setattr(fitting, "fit_table", fit_table)
    return calls


def test_compare_bias_takes_the_one_road_with_the_spec_of_fit_method_bma(tab, quick_road):
    from metaquant.spec import split_options

    run = RunSettings(draws=200, tune=100, chains=4, seed=11)
    c = compare.compare(tab, PROP, method="exact", bias=True, settings=run)
    (spec, settings), = quick_road
    fit_spec, _ = split_options(PROP, method="bma")  # what `metaquant fit --property P --method bma` builds
    assert (spec.method, spec.policy, spec.cut_points(), spec.prior_mu_sd, spec.prior_tau) == \
        (fit_spec.method, fit_spec.policy, fit_spec.cut_points(), fit_spec.prior_mu_sd, fit_spec.prior_tau)
    assert settings == run
    pc = c[PROP]
    res = pc.objects["bma"]
    assert _strip_timing({k: v for k, v in pc.bma.items() if k not in ("estimable", "k_total", "missing_vi")}) == \
        _strip_timing(res.to_dict())
    b = pc.bias
    assert b["survives"] is res.label_survives and b["verdict"] == ("survives" if res.label_survives
                                                                   else "does not survive")
    assert (b["plain_selected"], b["selected"]) == (res.label_plain["selected"], res.label_ensemble["selected"])
    assert b["bias_bf"] == res.inclusion["bias"]["bf"] and b["probability"] == res.label_probability
    assert b["n_models"] == len(_TRACTABLE)
    row = c.summary().iloc[0]
    assert row["bma_label"] == res.label_code and bool(row["bma_survives"]) is res.label_survives
    assert row["bma_bias_bf"] == pytest.approx(res.inclusion["bias"]["bf"], rel=1e-12)
    text = compare.format_comparison(c)
    line = [x for x in text.split("bias adjustment (")[1].splitlines() if x.startswith(PROP)][0]
    assert line.rstrip().endswith(b["verdict"]) and f"{b['bias_bf']:.3g}" in line
    assert f"{res.label_plain['selected']} (P {res.label_plain['probability']:.2f})" in line
    # the rest of the comparison is the comparison without --bias
    plain = compare.compare(tab, PROP, method="exact")
    assert text.startswith(compare.format_comparison(plain) + "\n\nbias adjustment (")
    assert _strip_timing({k: v for k, v in c.to_dict()[0].items() if k not in ("bma", "bias_adjustment")}) == \
        _strip_timing(plain.to_dict()[0])


def test_compare_bias_cli_option_reaches_the_fit(tab, quick_road):
    res = CliRunner().invoke(main, ["compare", "--property", PROP, "--method-bayes", "exact", "--bias", "--quiet",
                                    "--format", "json", *TINY])
    assert res.exit_code == 0, res.output
    (spec, settings), = quick_road
    assert spec.engine == "bma" and (settings.draws, settings.tune, settings.seed) == (50, 50, 7)
    row = json.loads(res.output)[0]
    assert row["bias_adjustment"]["survives"] is row["bma"]["label_survives"]
    res = CliRunner().invoke(main, ["compare", "--property", PROP, "--method-bayes", "exact", "--quiet", *TINY])
    assert res.exit_code == 0 and len(quick_road) == 1 and "bias adjustment" not in res.output


def test_report_bias_on_the_one_road(tmp_path, quick_road):
    data = _one_property(tmp_path)
    page, doc = report.build_report(data, fast=True, bias=True)
    sec = doc["properties"]["accuracy"]
    assert {"funnel", "model_probabilities"} <= set(sec["figures"])
    imgs = _imgs(page)
    assert len(imgs) == len(sec["figures"])
    for name in ("accuracy funnel plot", "accuracy model probabilities plot"):
        assert imgs[name][:8] == b"\x89PNG\r\n\x1a\n" and len(imgs[name]) > 2000
    (spec, settings), = quick_road
    assert settings == RunSettings.for_sweep()  # --fast main fits: the named sweep settings
    fit = sec["comparison"]["bma"]
    b = sec["comparison"]["bias_adjustment"]
    assert b["survives"] is fit["label_survives"] and b["bias_bf"] == fit["inclusion"]["bias"]["bf"]
    assert "id='bias'" in page and f"<strong>{b['verdict']}</strong>" in page
    assert f"{b['bias_bf']:.3g}" in page.split("id='bias'")[1].split("</table>")[0]
    assert doc["settings"]["bias"] is True
    assert any(r["path"] == "properties/accuracy/comparison/bias_adjustment" for r in
               _long(doc)), "report.csv holds the survival numbers"


def _long(doc):
    from metaquant.present.tables import tidy_long

    return tidy_long(doc).to_dict("records")


# ---------------------------------------------------------------- compare --bias = fit --method bma


def _strip_timing(d):
    """A result dict without wall-clock times and compilation counts (they depend on what ran before)."""
    if isinstance(d, dict):
        return {k: _strip_timing(v) for k, v in d.items()
                if k not in ("seconds", "time_s", "compiled", "compilations")}
    if isinstance(d, list):
        return [_strip_timing(v) for v in d]
    return d


@pytest.fixture(scope="module")
def fit_and_compare():
    """``fit --method bma`` and ``compare --bias`` on the full ensemble (each ~20-40 s of sampling)."""
    _bayes_ready()
    runner = CliRunner()
    fit = runner.invoke(main, ["fit", "--property", PROP, "--method", "bma", "--format", "json", "--quiet", *TINY])
    assert fit.exit_code == 0, fit.output
    cmp_json = runner.invoke(main, ["compare", "--property", PROP, "--method-bayes", "exact", "--bias", "--quiet",
                                    "--format", "json", *TINY])
    assert cmp_json.exit_code == 0, cmp_json.output
    return json.loads(fit.output), json.loads(cmp_json.output)[0]


@pytest.mark.slow
def test_compare_bias_reports_the_numbers_of_fit_method_bma(fit_and_compare):
    fit, row = fit_and_compare
    assert row["bma"]["missing_vi"] == "drop" and row["bma"]["k_total"] == 3
    # the fit's JSON also names the property's primary estimate beside it (what `fit` says first), not a number
    assert _strip_timing({k: v for k, v in row["bma"].items() if k not in ("estimable", "k_total", "missing_vi")}) \
        == _strip_timing({k: v for k, v in fit.items() if k != "primary_estimate"})
    b = row["bias_adjustment"]
    assert b["survives"] is fit["label_survives"]
    assert b["verdict"] == ("survives" if fit["label_survives"] else "does not survive")
    assert b["plain_selected"] == fit["label_plain"]["selected"] and b["selected"] == fit["label_ensemble"]["selected"]
    assert b["plain_probability"] == fit["label_plain"]["probability"]
    assert b["probability"] == fit["label_ensemble"]["probability"]
    assert b["bias_bf"] == fit["inclusion"]["bias"]["bf"] and b["effect_bf"] == fit["inclusion"]["effect"]["bf"]
    assert (b["pct"], b["pct_ci_low"], b["pct_ci_high"]) == (fit["pct"], fit["pct_ci_low"], fit["pct_ci_high"])
    assert b["n_models"] == len(fit["members"]) == 24
    # the other engines are those of a comparison without --bias
    plain = compare.compare("ssm2025", PROP, method="exact")
    assert {k: row[k] for k in ("ssm", "frequentist", "agreement")} == \
        {k: plain.to_dict()[0][k] for k in ("ssm", "frequentist", "agreement")}


@pytest.mark.slow
def test_compare_bias_table_and_csv_show_the_verdict(fit_and_compare):
    fit, _ = fit_and_compare
    runner = CliRunner()
    res = runner.invoke(main, ["compare", "--property", PROP, "--method-bayes", "exact", "--bias", "--quiet", *TINY])
    assert res.exit_code == 0, res.output
    out = res.output
    verdict = "survives" if fit["label_survives"] else "does not survive"
    line = next(x for x in out.splitlines()[out.splitlines().index(next(
        x for x in out.splitlines() if x.startswith("bias adjustment"))):] if x.startswith(PROP))
    assert line.rstrip().endswith(verdict)
    assert f"{fit['label_plain']['selected']} (P {fit['label_plain']['probability']:.2f})" in line
    assert f"{fit['label_ensemble']['selected']} (P {fit['label_ensemble']['probability']:.2f})" in line
    assert f"{fit['inclusion']['bias']['bf']:.3g}" in line
    if not fit["ok"]:
        assert compare.MCMC_MARK in line and "ensemble diagnostics failed" in out
    csv = runner.invoke(main, ["compare", "--property", PROP, "--method-bayes", "exact", "--bias", "--quiet",
                               "--format", "csv", *TINY])
    frame = pd.read_csv(io.StringIO(csv.output))
    assert bool(frame["bma_survives"].iloc[0]) is fit["label_survives"]
    assert frame["bma_bias_bf"].iloc[0] == pytest.approx(fit["inclusion"]["bias"]["bf"], rel=1e-9)
    strict = runner.invoke(main, ["compare", "--property", PROP, "--method-bayes", "exact", "--bias", "--quiet",
                                  "--strict", *TINY])
    assert strict.exit_code == (3 if not fit["ok"] else 0)


def test_compare_bias_says_why_the_ensemble_cannot_be_fitted(tab):
    c = compare.compare(tab, "f1_score", method="exact", bias=True)  # no row with a known variance
    b = c["f1_score"].bias
    assert b["estimable"] is False and "known sampling variance" in b["reason"]
    assert "not estimable" in compare.format_comparison(c)


# ---------------------------------------------------------------- report --bias


def _one_property(tmp_path):
    rows = [{"study": f"T{i}", "property": "accuracy", "improvement_pct": acc, "improvement_sd": 2.0,
             "n_units": 10 + i, "study_belief": 0.5 + 0.05 * i, "bits": bits, "technique": "ptq-static"}
            for i, (acc, bits) in enumerate([(-1.0, 8), (-2.5, 8), (-6.0, 4), (0.3, 16)], 1)]
    path = tmp_path / "evidence.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def _imgs(page: str) -> dict[str, bytes]:
    import re

    return {alt: base64.b64decode(src, validate=True)
            for alt, src in re.findall(r"<img alt='([^']*)' src='data:image/png;base64,([^']*)'>", page)}


@pytest.mark.slow
def test_report_has_a_funnel_always_and_the_bias_part_only_when_asked(tmp_path, monkeypatch):
    _bayes_ready()
    data = _one_property(tmp_path)
    page, doc = report.build_report(data, fast=True)
    sec = doc["properties"]["accuracy"]
    assert "funnel" in sec["figures"] and "model_probabilities" not in sec["figures"]
    assert sec["funnel"]["k"] == 4 and sec["funnel"]["estimate"] == sec["comparison"]["frequentist"]["estimate"]
    assert "accuracy funnel plot" in _imgs(page) and "id='bias'" not in page
    assert doc["settings"]["bias"] is False and "bma" not in sec["comparison"]

    tiny = RunSettings(draws=50, tune=50, chains=2)  # tiny main fits (fast: the sweep settings): seconds
    page, doc = report.build_report(data, fast=True, bias=True, sweep_settings=tiny)
    sec = doc["properties"]["accuracy"]
    assert {"funnel", "model_probabilities"} <= set(sec["figures"])
    imgs = _imgs(page)
    assert len(imgs) == len(sec["figures"])
    for name in ("accuracy funnel plot", "accuracy model probabilities plot"):
        assert imgs[name][:8] == b"\x89PNG\r\n\x1a\n" and len(imgs[name]) > 2000
    fit = sec["comparison"]["bma"]
    b = sec["comparison"]["bias_adjustment"]
    assert b["survives"] is fit["label_survives"] and b["bias_bf"] == fit["inclusion"]["bias"]["bf"]
    assert "id='bias'" in page and f"<strong>{b['verdict']}</strong>" in page
    assert doc["settings"]["bias"] is True
    # the ensemble ran with the report's main-fit settings, through the same road as fit --method bma
    assert (fit["settings"]["draws"], fit["settings"]["tune"], fit["settings"]["chains"]) == (50, 50, 2)
    assert math.isfinite(b["probability"])
