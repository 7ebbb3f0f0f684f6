"""Caterpillar plot of BLUPs (metaquant.present.influence_plots.caterpillar_plot; ``metaquant plot caterpillar``).

The drawn points and intervals are checked against metafor's ``blup`` (tests/fixtures/metafor_breadth, made by
make_fixtures.R) carried to % by the property's direction, and against :func:`metaquant.classical.blup.blup` for
rma_mv fits (itself checked against metafor in tests/test_metafor_blup_residuals.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from breadth_cases import data, fit, fixture
from click.testing import CliRunner

from metaquant.classical.blup import blup
from metaquant.classical.rma import rma
from metaquant.cli import main
from metaquant.evidence.effects import pct_from_log
from metaquant.present.influence_plots import caterpillar_plot


def _drawn(fig):
    """The points (x, y) and the interval segments (x_low, x_high, y) as drawn on the figure's axes."""
    ax = fig.axes[0]
    pts = np.asarray(ax.collections[1].get_offsets(), float)  # the scatter drawn after the interval lines
    segs = ax.collections[0].get_segments()
    iv = np.array([[s[0][0], s[1][0], s[0][1]] for s in segs], float)
    return ax, pts, iv


@pytest.mark.parametrize(("name", "hib"), [("uni_bangertdrowns", True), ("uni_bangertdrowns", False),
                                           ("uni_ssm2025_accuracy", True)])
def test_points_and_intervals_are_metafors_blups_in_percent_sorted(name, hib):
    ref = fixture(name)["blup"]
    r = fit(name)
    fig, frame = caterpillar_plot(r, higher_is_better=hib, labels=[f"s{i}" for i in range(1, r.k + 1)])
    ax, pts, iv = _drawn(fig)
    order = np.argsort(-np.asarray(ref["pred"], float), kind="stable")
    want = pct_from_log(np.asarray(ref["pred"], float)[order], hib)
    # top of the plot first: y runs k-1 .. 0
    top_down = np.argsort(-pts[:, 1])
    np.testing.assert_allclose(pts[top_down, 0], want, rtol=1e-6)
    seg = iv[np.argsort(-iv[:, 2])]
    np.testing.assert_allclose(seg[:, 0], pct_from_log(np.asarray(ref["pi.lb"], float)[order], hib), rtol=1e-6)
    np.testing.assert_allclose(seg[:, 1], pct_from_log(np.asarray(ref["pi.ub"], float)[order], hib), rtol=1e-6)
    ticks = sorted(((t.get_position()[1], t.get_text()) for t in ax.get_yticklabels()), reverse=True)
    assert [text for _, text in ticks] == [f"s{i + 1}" for i in order]
    assert np.all(np.diff(pts[top_down, 0]) <= 0)
    np.testing.assert_allclose(frame["pct"].to_numpy(), want, rtol=1e-6)
    assert [line.get_xdata()[0] for line in ax.lines] == [0.0]  # a meta-regression: no pooled line, only 0


def test_pooled_line_and_band_of_an_intercept_only_fit():
    d = data("uni_bangertdrowns")
    r = rma(d["yi"].to_numpy(), d["vi"].to_numpy(), method="REML")
    fig, _ = caterpillar_plot(r, higher_is_better=False)
    ax = fig.axes[0]
    c = r.coefficients[0]
    est, lo, hi = (float(pct_from_log(c[k], False)) for k in ("estimate", "ci_low", "ci_high"))
    assert sorted(line.get_xdata()[0] for line in ax.lines) == pytest.approx(sorted([0.0, est]))
    band = ax.patches[0]  # axvspan: a rectangle from lo across the CI's width
    assert (band.get_x(), band.get_x() + band.get_width()) == pytest.approx((lo, hi))
    assert lo < est < hi


def test_rma_mv_draws_one_point_per_row_from_blup():
    r = fit("mv_bench_perplexity")
    b = blup(r)
    fig, frame = caterpillar_plot(r, higher_is_better=False)
    _, pts, _ = _drawn(fig)
    assert len(pts) == r.k == len(b)
    want = np.sort(pct_from_log(b["pred"].to_numpy(), False))[::-1]
    np.testing.assert_allclose(pts[np.argsort(-pts[:, 1]), 0], want, rtol=1e-9)
    assert list(frame.index) == list(b["pred"].sort_values(ascending=False, kind="stable").index)


def test_labels_must_match_rows():
    with pytest.raises(ValueError, match="labels has 2 entries"):
        caterpillar_plot(fit("uni_bangertdrowns"), higher_is_better=True, labels=["a", "b"])


def test_cli_writes_the_png_and_refuses_cleanly(tmp_path):
    out = tmp_path / "cat.png"
    r = CliRunner().invoke(main, ["plot", "caterpillar", "--property", "accuracy", "--missing-vi", "drop",
                                  "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = tmp_path / "refused.png"
    r = CliRunner().invoke(main, ["plot", "caterpillar", "--property", "accuracy", "--missing-vi", "refuse",
                                  "--out", str(bad)])
    assert r.exit_code != 0 and "Traceback" not in r.output and "sampling variance" in r.output
    assert not bad.exists()
