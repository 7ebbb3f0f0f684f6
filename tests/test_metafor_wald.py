"""Wald tests (metaquant.classical.wald.anova) against metafor's anova(res, btt=) and anova(res, X=).

Fixtures: tests/fixtures/metafor_breadth/make_fixtures.R (metafor version in each JSON's ``meta``).
"""

from __future__ import annotations

import numpy as np
import pytest
from breadth_cases import MV, UNI, fit, fixture

from metaquant.classical.wald import anova, select_coefficients
from metaquant.errors import InputError

RTOL = 1e-6
# bench_perplexity's likelihood is flat in sigma² (see tests/test_rma_mv.py): metafor's optimum is 1e-5 relative
LOOSE = {"mv_bench_perplexity": 1e-5}


def _close(a, b, rtol):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol)


def _close_p(a, b, rtol):
    """p-values on the log scale: a tiny p moves by z² times the relative error of z."""
    _close(np.log(np.asarray(a, float)), np.log(np.asarray(b, float)), rtol)


@pytest.mark.parametrize("name", UNI + MV)
def test_btt_matches_metafor(name):
    fx, r = fixture(name), fit(name)
    ref = fx["wald_btt"]
    rtol = LOOSE.get(name, RTOL)
    w = anova(r, [int(b) - 1 for b in np.atleast_1d(ref["btt"])])
    _close(w.QM, ref["QM"], rtol)
    _close_p(w.QM_p, ref["QMp"], rtol)
    df = np.atleast_1d(ref["QMdf"])
    assert w.QM_df == df[0]
    assert (w.QM_ddf is None) == (df[1] is None)
    if w.QM_ddf is not None:
        assert w.QM_ddf == df[1]


@pytest.mark.parametrize("name", UNI + MV)
def test_contrasts_match_metafor(name):
    fx, r = fixture(name), fit(name)
    ref = fx["wald_X"]
    rtol = LOOSE.get(name, RTOL)
    w = anova(r, X=ref["L"])
    _close(w.estimate, ref["est"], rtol)
    _close(w.se, ref["se"], rtol)
    _close(w.stat, ref["stat"], rtol)
    _close_p(w.pval, ref["pval"], rtol)
    _close(w.QM, ref["QM"], rtol)
    _close_p(w.QM_p, ref["QMp"], rtol)
    assert len(w.hypotheses) == len(ref["L"])


def test_default_is_the_fits_omnibus_test():
    r = fit("uni_mcdaniel_knha")
    w = anova(r)
    assert w.QM == pytest.approx(r.QM, rel=1e-12) and w.QM_p == pytest.approx(r.QM_p, rel=1e-12)
    assert w.is_f and w.QM_ddf == r.QM_ddf


def test_names_select_terms_like_metafor_grep():
    names = ["intrcpt", "log2(bits)", "technique[qat]", "technique[ptq]", "log2(bits):technique[qat]", "act_bits"]
    assert select_coefficients(names, "technique") == [2, 3, 4]
    assert select_coefficients(names, ["bits"]) == [1, 4]
    assert select_coefficients(names, "log2(bits)") == [1, 4]
    with pytest.raises(InputError, match="no coefficient matches 'granularity'"):
        select_coefficients(names, "granularity")
    with pytest.raises(InputError, match="out of range"):
        select_coefficients(names, 9)


def test_by_name_equals_by_index():
    r = fit("uni_bangertdrowns")
    a = anova(r, ["wic", "meta"])
    b = anova(r, [2, 3])
    assert a.QM == b.QM and a.terms == ["wic", "meta"]
    assert "Wald test of wic, meta" in a.sentence()


def test_bad_contrast_is_a_clear_error():
    with pytest.raises(InputError, match="X must have 5 finite columns"):
        anova(fit("uni_bangertdrowns"), X=[[1, 0]])
    with pytest.raises(InputError, match="either btt or X"):
        anova(fit("uni_bangertdrowns"), 1, X=[[0, 1, 0, 0, 0]])


def test_cli_wald_tests_named_terms(tmp_path):
    """``fit --wald technique``: the joint test of the technique coefficients, as anova(res, btt=) on the same fit."""
    import json

    from click.testing import CliRunner

    from metaquant.cli import main

    args = ["fit", "--property", "accuracy", "--method", "reml", "--model", "random-effects", "--moderator", "bits",
            "--moderator", "technique", "--missing-vi", "impute-median", "--wald", "technique",
            "--wald", "bits, technique", "--format", "json"]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    d = json.loads(out.output)
    tech, both = d["wald"]
    assert tech["coefficients"] == [c["name"] for c in d["coefficients"] if c["name"].startswith("technique[")]
    assert tech["QM_df"] == 3 and tech["terms"] == ["technique"]
    # the joint test of every moderator is the fit's own omnibus test
    assert both["QM"] == pytest.approx(d["QM"], rel=1e-10) and both["QM_p"] == pytest.approx(d["QM_p"], rel=1e-10)
    assert any(n.startswith("Wald test of technique") for n in d["notes"])
    bad = CliRunner().invoke(main, args[:-4] + ["--wald", "granularity"])
    assert bad.exit_code != 0 and "--wald 'granularity': no coefficient matches 'granularity'" in bad.output
    assert "Traceback" not in bad.output
