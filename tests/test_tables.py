"""metaquant.present.tables: one tidy frame as text, CSV, Markdown, LaTeX or JSON; nested results as a long CSV."""

import io
import json

import numpy as np
import pandas as pd
import pytest

import metaquant as mq
from metaquant.errors import InputError
from metaquant.present import tables
from metaquant.workbench import compare


@pytest.fixture
def frame():
    return pd.DataFrame({
        "property": ["accuracy", "storage_size"],
        "term": ["mu", "log2(bits)"],
        "estimate": [-0.45882876076380413, 1.234567],
        "tau2": [7.4e-6, 0.0],
        "pval": [8.778e-06, 0.0312],
        "k": [45.0, np.nan],  # a count that became float through a missing value
        "note": ["S_1 & 50% of $x$", None],
    })


def test_format_number_precision():
    assert tables.format_number(-58.22197414835669) == "-58.22"
    assert tables.format_number(230826.93808253904) == "230826.9"
    assert tables.format_number(0.4793441121431258) == "0.4793"
    assert tables.format_number(7.4e-6) == "7.4e-06"  # never 0.0000 for a small non-zero value
    assert tables.format_number(0.0) == "0" and tables.format_number(3) == "3"
    assert tables.format_number(float("nan")) == "" and tables.format_number(None) == ""
    assert tables.format_number(float("inf")) == "inf" and tables.format_number(True) == "yes"
    # metafor's p-values (print.rma: "<.0001")
    assert tables.format_p(8.78e-06) == "<.0001" and tables.format_p(0.03124) == "0.0312"


def test_table_format_labels_alignment_and_missing(frame):
    out = tables.format_table(frame, "table")
    lines = out.splitlines()
    assert lines[0].split() == ["Property", "Term", "Estimate", "tau²", "p", "k", "Note"]
    assert set(lines[1]) == {"-", " "}
    assert "-0.4588" in lines[2] and "7.4e-06" in lines[2] and "<.0001" in lines[2] and " 45 " in lines[2]
    assert "0.0312" in lines[3] and "nan" not in out and "None" not in out
    # numbers right-aligned: the estimates end in the same column
    assert lines[2].index("-0.4588") + len("-0.4588") == lines[3].index("1.235") + len("1.235")


def test_csv_and_json_keep_every_digit(frame):
    back = pd.read_csv(io.StringIO(tables.format_table(frame, "csv")))
    assert list(back.columns) == list(frame.columns)
    assert back["estimate"].tolist() == frame["estimate"].tolist()
    assert back["tau2"].tolist() == frame["tau2"].tolist()
    recs = json.loads(tables.format_table(frame, "json"))
    assert recs[0]["estimate"] == -0.45882876076380413 and recs[1]["k"] is None and recs[1]["note"] is None


def test_markdown_pipe_table(frame):
    out = tables.format_table(frame.assign(note=["a|b", "c"]), "markdown", labels={"note": "Remark"},
                              caption="Table 1")
    lines = out.splitlines()
    assert lines[0] == "Table 1" and lines[1] == ""
    assert lines[2] == "| Property | Term | Estimate | tau² | p | k | Remark |"
    assert lines[3] == "|:---|:---|---:|---:|---:|---:|:---|"
    assert lines[4] == "| accuracy | mu | -0.4588 | 7.4e-06 | <.0001 | 45 | a\\|b |"
    assert all(ln.count("|") - ln.count("\\|") == 8 for ln in lines[2:])


def test_latex_booktabs_and_escaping(frame):
    out = tables.format_table(frame, "latex", caption="Pooled_effects 100%")
    assert out.startswith("\\begin{table}[htbp]\n\\centering\n\\caption{Pooled\\_effects 100\\%}\n")
    assert "\\begin{tabular}{llrrrrl}" in out and "\\toprule" in out and "\\bottomrule" in out
    assert "Property & Term & Estimate & tau² & p & k & Note \\\\" in out
    assert "accuracy & mu & -0.4588 & 7.4e-06 & <.0001 & 45 & S\\_1 \\& 50\\% of \\$x\\$ \\\\" in out
    # the ten characters LaTeX treats specially, as the LaTeX manual spells them
    assert tables.latex_escape("\\&%$#_{}~^") == ("\\textbackslash{}\\&\\%\\$\\#\\_\\{\\}\\textasciitilde{}"
                                                  "\\textasciicircum{}")
    assert tables.format_table(frame, "latex").startswith("\\begin{tabular}")


def test_custom_formats_and_unknown_format(frame):
    out = tables.format_table(frame[["term", "estimate"]], "table", formats={"estimate": ".2f"})
    assert "-0.46" in out and "1.23" in out
    out = tables.format_table(frame[["estimate"]], "table", formats={"estimate": lambda v: f"<{v:.1f}>"})
    assert "<-0.5>" in out
    with pytest.raises(InputError, match="unknown table format 'xlsx'"):
        tables.format_table(frame, "xlsx")


def test_tidy_long_flattens_nested_results():
    obj = {"settings": {"seed": 1, "fast": True}, "accuracy": {"reml": {"tau2": 0.1, "ci": [1.5, np.float64(2.5)],
                                                                         "coefficients": [{"name": "mu", "se": 0.2}]},
                                                                "label": "WN", "nan": float("nan")}}
    long = tables.tidy_long(obj)
    assert list(long.columns) == ["path", "key", "value"]
    rows = list(long.itertuples(index=False, name=None))
    assert rows == [("settings", "seed", 1), ("settings", "fast", True), ("accuracy/reml", "tau2", 0.1),
                    ("accuracy/reml/ci", "0", 1.5), ("accuracy/reml/ci", "1", 2.5),
                    ("accuracy/reml/coefficients/0", "name", "mu"), ("accuracy/reml/coefficients/0", "se", 0.2),
                    ("accuracy", "label", "WN"), ("accuracy", "nan", None)]
    nums = tables.tidy_long(obj, numbers_only=True)
    assert nums["value"].tolist() == [1, 0.1, 1.5, 2.5, 0.2]


def test_tidy_long_of_a_fit_has_every_number_once(tab):
    d = compare.fit_reml(mq.for_property(tab, "gpu_power_draw"))
    long = tables.tidy_long(d, numbers_only=True)

    def leaves(o):
        if isinstance(o, dict):
            return sum(leaves(v) for v in o.values())
        if isinstance(o, list):
            return sum(leaves(v) for v in o)
        return int(isinstance(o, int | float) and not isinstance(o, bool))

    assert len(long) == leaves(mq.api.clean(d))
    top = long[long["path"] == ""].set_index("key")["value"]
    assert top["tau2"] == d["tau2"] and top["estimate"] == d["estimate"]
    back = pd.read_csv(io.StringIO(tables.format_table(long, "csv")), keep_default_na=False)
    assert back.shape == long.shape


def test_settings_frame_reads_as_a_table():
    st = {"data": "ssm2025", "fast": True, "missing_vi": "drop", "draws": 1000, "thresholds": [1.0, 2.5],
          "prior": {"mu_sd": 1.0}, "seed": None}
    out = tables.format_table(tables.settings_frame(st, labels={"missing_vi": "unknown variances"}), "table")
    lines = out.splitlines()
    assert lines[0].split() == ["Setting", "Value"]
    assert [ln.split(None, 1) if not ln.startswith("unknown") else ["unknown variances", ln.split()[-1]]
            for ln in lines[2:]] == [["data", "ssm2025"], ["fast", "yes"], ["unknown variances", "drop"],
                                     ["draws", "1000"], ["thresholds", "1, 2.5"], ["prior", "mu_sd = 1"],
                                     ["seed", "none"]]
