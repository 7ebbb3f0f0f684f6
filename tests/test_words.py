"""What the CLI says: formulas that give the printed numbers, exports that load back, plain words."""

import math
import re

import pytest
from click.testing import CliRunner

from metaquant.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


# ----------------------------------------------------------------- the printed formula gives the printed %
_HEAD = re.compile(r"relative improvement (exp\((?P<a>[a-z ]+)\) - 1|1 - exp\(-(?P<b>[a-z ]+)\)): "
                   r"(?P<pct>[+-]\d+\.\d\d) %")


def _apply_printed_formula(out: str, estimate_pattern: str) -> tuple[float, float, float, str]:
    """(pct the printed formula gives from the printed estimate, printed pct, its tolerance, formula)."""
    m = _HEAD.search(out)
    assert m, out
    y = float(re.search(estimate_pattern, out).group(1))
    if m.group("a"):
        by_formula = 100.0 * (math.exp(y) - 1.0)
    else:
        by_formula = 100.0 * (1.0 - math.exp(-y))
    tol = 0.005 + 100.0 * math.exp(abs(y)) * 5e-5 + 1e-9  # the % to 2 decimals, the estimate to 4
    return by_formula, float(m.group("pct")), tol, m.group(1)


def test_lower_is_better_formula_gives_the_printed_pct():
    res = run("fit", "--property", "storage_size", "--method", "reml", "--missing-vi", "drop")
    assert res.exit_code == 0, res.output
    by_formula, printed, tol, formula = _apply_printed_formula(res.output, r"log ratio (-?\d+\.\d{4})")
    assert formula == "1 - exp(-estimate)"
    assert by_formula == pytest.approx(printed, abs=tol)
    # by hand: 1 - e^-1.9901 = 0.86333; e^1.9901 = 7.316
    assert "log ratio 1.9901" in res.output and printed == pytest.approx(86.33, abs=0.005)
    assert "storage size ÷7.3 (-86 %)" in res.output


def test_lower_is_better_bayes_headline_formula():
    res = run("fit", "--property", "storage_size", "--method", "exact")
    assert res.exit_code == 0, res.output
    by_formula, printed, tol, formula = _apply_printed_formula(res.output, r"median (-?\d+\.\d{4})")
    assert formula == "1 - exp(-median mu)"
    assert by_formula == pytest.approx(printed, abs=tol)


def test_higher_is_better_formula_gives_the_printed_pct():
    res = run("fit", "--property", "accuracy", "--method", "reml", "--missing-vi", "drop")
    assert res.exit_code == 0, res.output
    # a multilevel model here: the estimate is rma.mv's intercept
    by_formula, printed, tol, formula = _apply_printed_formula(res.output, r"intrcpt\s+(-?\d+\.\d{4})")
    assert formula == "exp(estimate) - 1"
    assert printed == pytest.approx(-2.60, abs=0.005)  # by hand: e^-0.0264 - 1 = -0.02605
    assert by_formula == pytest.approx(printed, abs=tol)
    assert "as a ratio" not in res.output  # within ±50 % the % says it


def test_pct_formula_and_ratio_words_by_hand():
    from metaquant.evidence.effects import pct_formula, ratio_words

    assert pct_formula(True) == "exp(estimate) - 1"
    assert pct_formula(False, "median mu") == "1 - exp(-median mu)"
    # perplexity 7.8 times the baseline: y = -ln 7.8 (lower is better), RI = 1 - 7.8 = -680 %
    assert ratio_words(-math.log(7.8), False, "perplexity") == "perplexity ×7.8"
    assert ratio_words(1.9901, False, "storage_size") == "storage size ÷7.3 (-86 %)"
    assert ratio_words(math.log(2.5), True, "accuracy") == "accuracy ×2.5"
    assert ratio_words(-math.log(4.0), True, "accuracy") == "accuracy ÷4.0 (-75 %)"
    assert ratio_words(0.3, True, "accuracy") is None  # +35 %
    assert ratio_words(-0.35, False, "perplexity") is None  # 1 - e^0.35 = -41.9 %
    assert ratio_words(-0.5, False, "perplexity") == "perplexity ×1.6"  # 1 - e^0.5 = -64.9 %


# ----------------------------------------------------------------- what metaquant writes as evidence, it reads
@pytest.mark.parametrize("dataset,prop", [("ssm2025", "storage_size"), ("ssm2026", "perplexity"),
                                          ("benchmarks", "map"), ("llmq", "gpu_memory_utilization"),
                                          ("zooq", "map")])  # fmt: skip
def test_data_show_csv_loads_back(dataset, prop, tmp_path):
    import json

    res = run("data", "show", dataset, "--property", prop, "--format", "csv")
    assert res.exit_code == 0, res.output
    f = tmp_path / "f.csv"
    f.write_text(res.output)
    val = run("data", "validate", str(f))
    assert val.exit_code == 0 and "error" not in val.output, val.output
    fits = [run("fit", "--data", src, "--property", prop, "--method", "exact", "--format", "json")
            for src in (dataset, str(f))]  # fmt: skip
    assert all(r.exit_code == 0 for r in fits), [r.output for r in fits]
    a, b = (json.loads(r.output) for r in fits)
    assert a["k"] == b["k"] and a["mu_median"] == pytest.approx(b["mu_median"], rel=1e-12, abs=1e-15)


def test_bookkeeping_columns_of_an_older_export_are_read():
    """A file with the columns validation adds (form, source_file, source_row) reads as without them."""
    from metaquant.evidence import io

    df = io.load("ssm2025").data.head(5)
    assert {"form", "source_file", "source_row"} <= set(df.columns)
    out = io.validate(df.astype(str), "old-export.csv")
    assert out["source_file"].eq("old-export.csv").all() and out["source_row"].tolist() == [1, 2, 3, 4, 5]


# ----------------------------------------------------------------- words
def _csv(tmp_path, text, name="mine.csv"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_rhat_and_ess_are_printed_with_the_digits_that_show_the_failed_comparison(monkeypatch):
    import arviz as az
    import numpy as np
    import xarray as xr

    from metaquant.bayes.results import mcmc_diagnostics
    from metaquant.progress import beside_limit

    assert beside_limit(1.0104, 1.01) == "1.0104"  # 1.010 > 1.01 would read as false
    assert beside_limit(1.0154, 1.01) == "1.015" and beside_limit(1.0, 1.01) == "1.000"
    assert beside_limit(399.6, 400, 0) == "399.6" and beside_limit(12.0, 400, 0) == "12"
    idata = az.from_dict(posterior={"mu": np.random.default_rng(1).normal(size=(2, 50))},
                         sample_stats={"diverging": np.zeros((2, 50), dtype=bool)})
    monkeypatch.setattr(az, "rhat", lambda ds: xr.Dataset({"mu": 1.0104}))
    monkeypatch.setattr(az, "ess", lambda ds, method: xr.Dataset({"mu": 399.6}))
    d = mcmc_diagnostics(idata)
    assert "R-hat 1.0104 > 1.01: chains disagree; draw more" in d["problems"]
    assert "bulk ESS 399.6 < 400: draw more" in d["problems"]


def test_the_diagnostics_line_shows_rhat_beside_its_limit():
    from metaquant.cli.show import print_bayes

    d = {"property": "accuracy", "model": "re", "engine": "bayes", "k": 5, "n_studies": 5, "mu_median": 0.01,
         "mu_mean": 0.01, "mu_sd": 0.01, "mu_ci_low": 0.0, "mu_ci_high": 0.02, "pct": 1.0, "pct_ci_low": 0.0,
         "pct_ci_high": 2.0, "higher_is_better": True, "r_hat_max": 1.0104, "ess_bulk_min": 500.0,
         "divergences": 0, "seed": 1}
    import click

    out = CliRunner().invoke(click.command()(lambda: print_bayes(d))).output
    assert "R-hat max 1.0104," in out


def test_counts_take_the_right_number(tmp_path):
    from metaquant.progress import plural

    assert [plural(1, "study"), plural(2, "study"), plural(0, "row"), plural(1, "property"), plural(3, "day")] == [
        "1 study", "2 studies", "0 rows", "1 property", "3 days"]
    f = _csv(tmp_path, "study,property,improvement_pct,study_belief\nA,accuracy,-1.0,0.5\n")
    out = run("data", "validate", f).output
    assert "ok, 1 row, 1 study, 1 property (1 row without a sampling variance)" in out
    out = run("fit", "--data", "ssm2026", "--property", "perplexity", "--method", "exact").output
    assert "17 rows come from 1 study;" in out and "1 studies" not in out


def test_no_known_variance_message_does_not_suggest_the_method_in_use(tmp_path):
    f = _csv(tmp_path, "study,property,improvement_pct,study_belief\nA,accuracy,-1.0,0.5\nB,accuracy,-2.0,0.5\n")
    exact = CliRunner().invoke(main, ["fit", "--data", f, "--property", "accuracy", "--method", "exact",
                                      "--missing-vi", "drop"])  # fmt: skip
    assert exact.exit_code == 2 and "no row of 'accuracy' has a known sampling variance" in exact.output
    assert "--method bayes or exact" not in exact.output and "--missing-vi model" in exact.output
    reml = CliRunner().invoke(main, ["fit", "--data", f, "--property", "accuracy", "--method", "reml",
                                     "--missing-vi", "drop"])  # fmt: skip
    assert reml.exit_code == 2 and "--method bayes or exact" in reml.output
    every = CliRunner().invoke(main, ["fit", "--data", f, "--all", "--method", "exact", "--missing-vi", "drop"])
    assert "--method bayes or exact" not in every.output and "--missing-vi model" in every.output


def test_unknown_columns_get_only_plausible_suggestions(tmp_path):
    from metaquant.evidence.io import suggest_column

    assert suggest_column("paper") is None  # not 'property'
    assert suggest_column("studdy") == "study" and suggest_column("Study") == "study"
    assert suggest_column("model_name") == "model" and suggest_column("baseline_man") == "baseline_mean"
    f = _csv(tmp_path, "study,property,improvement_pct,study_belief,paper\nA,accuracy,-1.0,0.5,p1\n")
    out = run("data", "validate", f).output
    assert "column 'paper': unknown column;" in out and "did you mean" not in out


def test_a_percent_sign_in_a_number_gets_the_fix(tmp_path):
    f = _csv(tmp_path, "study,property,improvement_pct,study_belief\nA,accuracy,12.5%,0.5\nB,accuracy,abc%,0.5\n")
    out = run("data", "validate", f).output
    assert "'12.5%' is not a number: remove the % sign (values are plain numbers)" in out
    assert "'abc%' is not a number;" in out  # no % fix where removing it does not give a number


def test_the_property_list_is_said_once_per_file(tmp_path):
    rows = "".join(f"S{i},{p},-1.0,0.5\n" for i, p in enumerate(["foo", "bar", "accuracy", "foo", "baz"]))
    f = _csv(tmp_path, "study,property,improvement_pct,study_belief\n" + rows)
    out = run("data", "validate", f).output
    assert out.count("word_error_rate") == 1, out
    assert out.count("unknown property") == 4 and "a registered property (listed at row 1)" in out
    first = CliRunner().invoke(main, ["fit", "--data", f, "--property", "accuracy", "--method", "exact"])
    assert first.exit_code == 2 and "word_error_rate" in first.output  # the first error carries the list


def test_convergence_warnings_of_many_fits_are_one_sentence():
    import logging
    import warnings

    from metaquant.errors import ConvergenceWarning
    from metaquant.progress import collect_warnings

    with collect_warnings() as caught:
        for msg in ("accuracy: R-hat 1.0154 > 1.01: chains disagree; draw more",
                    "accuracy: bulk ESS 377 < 400: draw more",
                    "f1_score: R-hat 1.0141 > 1.01: chains disagree; draw more",
                    "accuracy: bulk ESS 265 < 400: draw more",
                    "3 divergent transitions after tuning; raise target_accept or check the model"):
            warnings.warn(msg, ConvergenceWarning, stacklevel=1)
        warnings.warn("something else", RuntimeWarning, stacklevel=1)
        logging.getLogger("pytensor.tensor.blas").warning(
            "PyTensor could not link to a BLAS installation. Operations that might benefit from BLAS will be severely "
            "degraded. This usually happens when PyTensor is installed via pip. We recommend it be installed via "
            "conda/mamba/pixi instead.")
    said = caught.sentences(where="listed in the report")
    assert said[0] == ("Convergence warning: 2 fits had R-hat above 1.01 (accuracy, f1_score); 2 fits had a bulk ESS "
                       "below 400 (accuracy); 1 fit had divergent transitions; listed in the report.")
    assert said[1:] == ["Numerical warning: something else.",
                        "PyTensor found no BLAS library, so some matrix operations run slower (this costs speed, "
                        "not correctness)."]


@pytest.mark.slow
def test_report_says_its_convergence_warnings_once(tmp_path):
    rows = ["A,0.80,0.79,8", "A,0.80,0.75,4", "B,0.70,0.70,8", "B,0.70,0.66,4", "C,0.60,0.59,8"]
    f = _csv(tmp_path, "study,property,baseline_mean,baseline_sd,baseline_n,quant_mean,quant_sd,quant_n,"
             "study_belief,bits\n" + "".join(f"{s},accuracy,{b},0.01,5,{q},0.01,5,0.5,{n}\n"
                                              for s, b, q, n in (r.split(",") for r in rows)))
    res = CliRunner().invoke(main, ["report", "--data", f, "--out", str(tmp_path / "rep"), "--quiet",
                                    "--draws", "20", "--tune", "20", "--chains", "2", "--mcmc"])  # fmt: skip
    assert res.exit_code == 0, res.output
    conv = [ln for ln in res.stderr.splitlines() if "onvergence" in ln]
    assert len(conv) == 1 and re.search(r"\d+ fits? had", conv[0])
    assert "the report marks the fits it shows with [!]" in conv[0]


def _comparison_rows(n=11):
    row = {"ssm": {"label_code": "WN-IF", "belief": 0.9, "n_models": 12},
           "bayes": {"label_code": "WN-IF", "label_probability": 0.868, "pct": -4.64, "pct_ci_low": -15.9,
                     "pct_ci_high": 4.3, "engine": "pymc", "ok": False},
           "frequentist": {"label_code": "not estimable", "pct": -5.62, "pct_ci_low": -19.3, "pct_ci_high": 10.3,
                           "k": 3, "k_total": 17},
           "agreement": {"status": "conflicting", "reason": "labels differ"}}
    return [dict(row, property=p) for p in ["inference_energy_consumption", "gpu_memory_utilization"] * (n // 2)]


def test_the_comparison_table_wraps_its_words_to_fit_the_page():
    from metaquant.present import report

    html = report._comparison_table(_comparison_rows())
    assert "#comparison th,#comparison td{white-space:normal" in report._CSS  # headers and words wrap
    cells = re.findall(r"<td( class='nw')?>([^<]*)", html.split("<tbody>")[1].split("</tr>")[0])
    assert ("class='nw'", "[-15.9, +4.3]") in [(c.strip(), v) for c, v in cells]  # intervals stay whole


def test_the_comparison_table_fits_a_1400_px_window_in_chromium(tmp_path):
    import subprocess
    from pathlib import Path

    from metaquant.present import report

    chromium = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None)
    if chromium is None:
        pytest.skip("chromium not installed")
    js = ("<script>window.addEventListener('load',function(){var t=document.getElementById('comparison');"
          "var r=t.getBoundingClientRect();document.body.setAttribute('data-fits',"
          "String(r.right<=window.innerWidth&&t.scrollWidth<=t.parentNode.clientWidth));});</script>")
    page = tmp_path / "t.html"
    page.write_text(f"<html><head><style>{report._CSS}</style></head><body>"
                    f"{report._comparison_table(_comparison_rows())}{js}</body></html>")
    res = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,900",
                          "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert 'data-fits="true"' in res.stdout
