"""What the CLI says: formulas that give the printed numbers, exports that load back, plain words."""

import math
import re

import pytest
from click.testing import CliRunner

from metaquant.cli import main
from metaquant.evidence.effects import pct_formula, ratio_words


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
