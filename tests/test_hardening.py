"""Bad input never ends in a traceback, a silently wrong table or an overflow (issue 10).

One test (or one parametrised family) per class of bad input; each checks the
message names the file and, where one applies, the row and the column.
"""

import ast
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import metaquant as mq
from metaquant.cli import main
from metaquant.errors import DataError, InputError, MetaquantError, UsageError
from metaquant.evidence import io, schema
from metaquant.evidence.effects import check, compute_effects, dlog_dpct, log_from_pct, pct_from_log

HEAD = "study,property,baseline_mean,baseline_sd,baseline_n,quant_mean,quant_sd,quant_n"
GOOD = "A,accuracy,0.9,0.01,5,0.8,0.01,5"
EFF = "study,property,yi,vi"


def _write(tmp_path, text, name="bad.csv", binary=False):
    p = tmp_path / name
    if binary:
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def _refused(path, *fragments, cls=InputError):
    """load + compute_effects refuse with one line naming the file and every fragment; the CLI exits 2."""
    with pytest.raises(cls) as ei:
        compute_effects(mq.load(path))
    msg = str(ei.value)
    assert str(path) in msg and "\n" not in msg, msg
    for f in fragments:
        assert f in msg, msg
    res = CliRunner().invoke(main, ["data", "validate", str(path)])
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output and str(path) in res.output
    return msg


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------


@pytest.mark.parametrize("empty", ["", " ", "NA"])
def test_duplicate_rows_with_empty_cells(tmp_path, empty):
    dup = f"A,accuracy,0.9,{empty},,0.8,{empty},"
    p = _write(tmp_path, f"{HEAD}\n{GOOD}\n{dup}\n{dup}\n")
    _refused(p, "row 3 (line 4)", "duplicates row 2")
    q = _write(tmp_path, f"{EFF},bits\nA,accuracy,0.1,0.01,\nA,accuracy,0.1,0.01,{empty}\n", "eff.csv")
    _refused(q, "row 2", "duplicates row 1")


@pytest.mark.parametrize(
    "where,row,column",
    [("first row", 1, "study"), ("after 8 KiB", 400, "quant_mean"), ("lone byte after header", 1, "study")],
)
@pytest.mark.parametrize("bad", [b"\xff", b"\xc3", b"\x00"])
def test_non_utf8_or_nul_anywhere(tmp_path, where, row, column, bad):
    lines = [HEAD.encode()]
    if where == "lone byte after header":
        lines.append(bad)
    else:
        body = [f"S{i},accuracy,0.9,0.01,5,0.8,0.01,5".encode() for i in range(1, 500)]
        k = row - 1
        if column == "study":
            body[k] = bad + body[k]
        else:
            body[k] = body[k].replace(b",0.8,", b",0." + bad + b"8,")
        lines += body
    p = _write(tmp_path, b"\n".join(lines) + b"\n", binary=True)
    assert where != "after 8 KiB" or p.stat().st_size > 8192 * 2
    what = "NUL byte" if bad == b"\x00" else "not UTF-8"
    _refused(p, what, f"row {row} (line {row + 1})", f"column {column!r}")


def test_bad_byte_in_header(tmp_path):
    p = _write(tmp_path, b"study,prop\xe9rty,yi,vi\nA,accuracy,0.1,0.01\n", binary=True)
    msg = _refused(p, "0xe9", "in the header", "not UTF-8")
    assert "row" not in msg


def test_utf8_bom_and_multibyte_text_are_fine(tmp_path):
    p = _write(tmp_path, "\ufeffstudy,property,yi,vi,notes\nA,accuracy,0.1,0.01,Müller ✓ 量子化\n")
    assert mq.load(p).data["notes"].iloc[0] == "Müller ✓ 量子化"


@pytest.mark.parametrize(
    "header,fragments",
    [
        ("study,property,yi,vi,vi", ["column 'vi'", "appears twice", "columns 4 and 5"]),
        ("study,property,yi,vi, vi ", ["column 'vi'", "equal once trimmed"]),
        ("study, study ,property,yi,vi", ["column 'study'", "appears twice"]),
        ("study,property,yi,vi,", ["column 5", "no name"]),
    ],
)
def test_header_collisions_named_as_written(tmp_path, header, fragments):
    p = _write(tmp_path, f"{header}\nA,accuracy,0.1,0.01,0.01\n")
    msg = _refused(p, *fragments)
    assert "vi.1" not in msg and "Unnamed" not in msg


def test_parquet_header_collision(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    t = pa.table({"study": ["A"], "property": ["accuracy"], "yi": [0.1], "vi": [0.01], " vi": [0.02]})
    p = tmp_path / "dup.parquet"
    pq.write_table(t, p)
    _refused(p, "column 'vi'", "appears twice")


@pytest.mark.parametrize("kind", ["list", "struct", "map", "binary"])
def test_parquet_nested_or_binary_columns(tmp_path, kind):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    col = {
        "list": pa.array([[1, 2], [3]]),
        "struct": pa.array([{"a": 1}, {"a": 2}]),
        "map": pa.array([[("k", 1)], [("k", 2)]], type=pa.map_(pa.string(), pa.int64())),
        "binary": pa.array([b"\x00", b"\x01"]),
    }[kind]
    t = pa.table({"study": ["A", "B"], "property": ["accuracy"] * 2, "yi": [0.1, 0.2], "vi": [0.01] * 2, "x_c": col})
    p = tmp_path / f"{kind}.parquet"
    pq.write_table(t, p)
    _refused(p, "column 'x_c'", "Parquet type", "not one number, text or true/false")


@pytest.mark.parametrize(
    "body,fragments",
    [("A,accuracy,0.1,0.01\nB,accuracy,0.1,0.01,9\n", ["row 2 (line 3)", "5 fields where the header has 4"]),
     ("A,accuracy,0.1,0.01,\nB,accuracy,0.2,0.01,\n", ["row 1 (line 2)", "5 fields where the header has 4"]),
     ("A,accuracy,0.1,0.01\nB,accuracy,0.2\n", ["row 2 (line 3)", "3 fields where the header has 4"])],
)  # fmt: skip
def test_ragged_rows_located(tmp_path, body, fragments):
    # a trailing delimiter on every row would make pandas drop the last field silently; a short row, pad it
    p = _write(tmp_path, f"{EFF}\n{body}")
    _refused(p, *fragments)


def test_quoted_line_breaks_and_blank_lines_are_fine(tmp_path):
    p = _write(tmp_path, f'{EFF},notes\n\nA,accuracy,0.1,0.01,"two\nlines"\n\nB,accuracy,0.2,0.02,"a, b"\n')
    d = mq.load(p).data
    assert d["notes"].tolist() == ["two\nlines", "a, b"] and d["yi"].tolist() == [0.1, 0.2]


def test_semicolon_separated_is_explained(tmp_path):
    p = _write(tmp_path, "study;property;yi;vi\nA;accuracy;0,1;0,01\n")
    _refused(p, "this looks semicolon-separated")


def test_tab_separated_is_read(tmp_path):
    comma = _write(tmp_path, f"{HEAD}\n{GOOD}\nB,accuracy,0.7,0.02,4,0.6,0.02,4\n", "c.csv")
    tab = _write(tmp_path, (f"{HEAD}\n{GOOD}\nB,accuracy,0.7,0.02,4,0.6,0.02,4\n").replace(",", "\t"), "t.tsv")
    a, b = compute_effects(mq.load(comma)), compute_effects(mq.load(tab))
    np.testing.assert_array_equal(a["yi"], b["yi"])
    np.testing.assert_array_equal(a["vi"], b["vi"])


def test_unreadable_file_under_load_and_fit(tmp_path, monkeypatch):
    p = _write(tmp_path, f"{EFF}\nA,accuracy,0.1,0.01\n", "locked.csv")
    real = io.os.access
    monkeypatch.setattr(io.os, "access", lambda f, mode: False if str(f) == str(p) else real(f, mode))
    with pytest.raises(InputError, match="cannot be read .permission denied"):
        mq.load(p)
    res = CliRunner().invoke(main, ["fit", "--data", str(p), "--property", "accuracy", "--method", "reml"])
    assert res.exit_code == 2 and "permission denied" in res.output and "Traceback" not in res.output
    # a read that fails after the access check (e.g. a race, or an ACL) is caught too
    monkeypatch.setattr(io.os, "access", real)
    monkeypatch.setattr(Path, "read_bytes", lambda self: (_ for _ in ()).throw(PermissionError(13, "denied")))
    with pytest.raises(InputError, match="permission denied"):
        mq.load(p)


# --------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["", "NA", "  ", "nan"])
@pytest.mark.parametrize("column", ["study", "property"])
def test_empty_study_or_property_cell(tmp_path, cell, column):
    row = {"study": "A", "property": "accuracy"}
    row[column] = cell
    p = _write(tmp_path, f"{EFF}\nB,accuracy,0.2,0.01\n{row['study']},{row['property']},0.1,0.01\n")
    msg = _refused(p, "row 2 (line 3)", f"column {column!r}", f"{column} is empty")
    assert "unknown property" not in msg


@pytest.mark.parametrize("column", ["study", "property"])
def test_parquet_null_study_or_property(tmp_path, column):
    pytest.importorskip("pyarrow")
    df = pd.DataFrame({"study": ["A", "B"], "property": ["accuracy", "accuracy"], "yi": [0.1, 0.2], "vi": [0.01] * 2})
    df.loc[1, column] = None
    p = tmp_path / "null.parquet"
    df.to_parquet(p)
    _refused(p, "row 2", f"column {column!r}", f"{column} is empty")


@pytest.mark.parametrize("value", ["maybe", "2", "yes please"])
def test_bad_boolean_cell(tmp_path, value):
    p = _write(tmp_path, f"{EFF},confounded\nA,accuracy,0.1,0.01,{value}\n")
    _refused(p, "row 1", "column 'confounded'", "is not true/false")


# --------------------------------------------------------------------------
# Safe numeric ranges
# --------------------------------------------------------------------------

OVERFLOW = {
    # name: (header, row, column the message names)
    "means 1e308": (HEAD, "A,accuracy,1e308,1,5,1e308,1,5", "baseline_mean"),
    "sd 1e200": (HEAD, "A,accuracy,1,1e200,5,1,1e200,5", "baseline_sd"),
    "mean 5e-324": (HEAD, "A,accuracy,5e-324,1,5,1,1,5", "baseline_mean"),
    "ratio 1e90/1e-90": (HEAD, "A,accuracy,1e-90,,,1e90,,", "quant_mean"),
    "vi from tiny sd": (HEAD, "A,accuracy,1,1e-40,5,1,1e-40,5", "quant_sd"),
    "yi 1e200": (EFF, "A,accuracy,1e200,0.01", "yi"),
    "yi 800": (EFF, "A,accuracy,800,0.01", "yi"),
    "yi -51": (EFF, "A,accuracy,-51,0.01", "yi"),
    "vi 1e-320": (EFF, "A,accuracy,0.1,1e-320", "vi"),
    "vi 1e-31": (EFF, "A,accuracy,0.1,1e-31", "vi"),
    "vi 1e13": (EFF, "A,accuracy,0.1,1e13", "vi"),
    "vi inf": (EFF, "A,accuracy,0.1,inf", "vi"),
    "yi 1e400": (EFF, "A,accuracy,1e400,0.01", "yi"),
    "pct 1e300": ("study,property,improvement_pct", "A,accuracy,1e300", "improvement_pct"),
    "pct near 100 lower-better": ("study,property,improvement_pct", "A,inference_latency,99.9999999999999999", ""),
}


@pytest.mark.parametrize("name", sorted(OVERFLOW))
def test_overflow_and_underflow_refused(tmp_path, name):
    header, row, column = OVERFLOW[name]
    ok = {"study,property,yi,vi": "B,accuracy,0.1,0.01", HEAD: GOOD.replace("A,", "B,", 1)}.get(header, "B,accuracy,5")
    p = _write(tmp_path, f"{header}\n{ok}\n{row}\n")
    msg = _refused(p, "row 2 (line 3)")
    assert ("safe range" in msg) or ("not a finite number" in msg) or ("quantized value <= 0" in msg), msg
    if column:
        assert f"column {column!r}" in msg, msg


def test_safe_range_edges_are_accepted(tmp_path):
    m = schema.MAX_ABS_LOG_EFFECT
    p = _write(tmp_path, f"{EFF}\nA,accuracy,{m},{schema.MIN_VI}\nB,accuracy,{-m},{schema.MAX_VI}\nC,accuracy,0,1\n")
    tab = compute_effects(mq.load(p))
    assert np.isfinite(tab["pct"]).all() and tab["vi_known"].all()
    q = _write(tmp_path, f"{HEAD}\nA,accuracy,1e-100,1e-100,3,2e-100,0,3\nB,accuracy,1e100,1e99,3,5e99,0,3\n", "m.csv")
    tab = compute_effects(mq.load(q))
    np.testing.assert_allclose(tab["yi"], [np.log(2), np.log(0.5)])
    np.testing.assert_allclose(tab["vi"], [1 / 3, 1e-2 / 3])


# --------------------------------------------------------------------------
# Across inputs
# --------------------------------------------------------------------------


def test_reml_extreme_variance_ratio(tmp_path):
    """Variances 1e10 apart: tr(PP) cancels to 0; metafor 3.8-1 gives tau2 0, estimate 0.5 and a warning."""
    from metaquant.classical import rma

    r = rma.rma([0.1, 0.5], [1e10, 1.0], method="REML")
    assert r.tau2 == 0.0 and r.estimate == pytest.approx(0.5, abs=1e-9)
    assert any("extremely large" in w for w in r.warnings)
    p = _write(tmp_path, f"{EFF}\nA,accuracy,0.05,1e10\nB,accuracy,0.3,1\n")
    res = CliRunner().invoke(main, ["fit", "--data", str(p), "--property", "accuracy", "--method", "reml"])
    assert res.exit_code == 0, res.output
    assert "extremely large" in res.output


def test_all_rows_confounded(tmp_path):
    p = _write(tmp_path, f"{EFF},confounded\nA,accuracy,0.1,0.01,true\nB,accuracy,0.2,0.02,yes\n")
    with pytest.raises(DataError, match="all 2 rows are flagged confounded=true.*--include-confounded"):
        mq.load(p)
    assert len(mq.load(p, include_confounded=True)) == 2
    res = CliRunner().invoke(main, ["fit", "--data", str(p), "--property", "accuracy", "--method", "reml"])
    assert res.exit_code == 2 and "confounded" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["data", "validate", str(p)])
    assert res.exit_code == 0 and "all 2 rows are confounded" in res.output


def test_same_file_or_rows_twice(tmp_path):
    a = _write(tmp_path, f"{EFF}\nA,accuracy,0.1,0.01\nB,accuracy,0.2,0.02\n", "a.csv")
    with pytest.raises(DataError, match="is given twice"):
        mq.load([a, a])
    with pytest.raises(DataError, match="is given twice"):
        mq.load([a, str(tmp_path / "." / "a.csv")])
    b = tmp_path / "b.csv"
    shutil.copy(a, b)
    with pytest.raises(DataError) as ei:
        mq.load([a, b])
    msg = str(ei.value)
    assert str(b) in msg and str(a) in msg and "row 1" in msg and "repeats" in msg
    # one repeated row among new ones is refused too
    c = _write(tmp_path, f"{EFF}\nC,accuracy,0.3,0.03\nB,accuracy,0.2,0.02\n", "c.csv")
    with pytest.raises(DataError, match=r"c.csv, row 2 \(line 3\).*repeats .*a.csv row 2"):
        mq.load([a, c])
    res = CliRunner().invoke(main, ["fit", "--data", str(a), "--data", str(b), "--property", "accuracy",
                                    "--method", "reml"])  # fmt: skip
    assert res.exit_code == 2 and "repeats" in res.output
    # a shipped dataset and a copy of its file
    with pytest.raises(DataError, match="repeats"):
        mq.load(["ssm2025", shutil.copy(io.dataset_path("ssm2025"), tmp_path / "copy.csv")])


# --------------------------------------------------------------------------
# Python API
# --------------------------------------------------------------------------


def _effects_frame(**over):
    d = {"study": ["A", "B"], "property": ["accuracy"] * 2, "yi": [0.1, 0.2], "vi": [0.01, 0.02]}
    d.update(over)
    return pd.DataFrame(d)


@pytest.mark.parametrize(
    "over,column",
    [({"yi": [np.nan, 0.1]}, "yi"), ({"vi": [-0.01, 0.01]}, "vi"), ({"vi": [0.0, 0.01]}, "vi"),
     ({"vi": [np.inf, 0.01]}, "vi"), ({"vi": [np.nan, 0.01]}, "vi"), ({"yi": [np.inf, 0.1]}, "yi")],
)  # fmt: skip
@pytest.mark.parametrize("validated", [False, True])
def test_compute_effects_refuses_bad_effects(over, column, validated):
    df = _effects_frame(**over)
    if validated:  # a table that claims to be validated is checked all the same
        df = df.assign(form="effects", source_file="mine", source_row=[1, 2])
    with pytest.raises(DataError) as ei:
        compute_effects(df)
    assert f"column {column!r}" in str(ei.value) and "row 1" in str(ei.value)


def test_compute_effects_raw_frame_is_validated():
    tab = compute_effects(_effects_frame())
    assert tab["yi"].tolist() == [0.1, 0.2] and tab["source_file"].iloc[0] == "DataFrame"


@pytest.mark.parametrize(
    "arg,fragment",
    [(None, "NoneType"), ("ssm2025", "str"), (pd.DataFrame(), "has no rows"),
     (pd.DataFrame({"study": ["A"], "form": ["effects"]}), "lacks the column(s) property")],
)  # fmt: skip
def test_compute_effects_usage_errors(arg, fragment):
    with pytest.raises(UsageError) as ei:
        compute_effects(arg)
    assert "argument 'evidence'" in str(ei.value) and fragment in str(ei.value)
    assert isinstance(ei.value, TypeError) and isinstance(ei.value, MetaquantError)


def test_measure_argument():
    ev = mq.load("ssm2025")
    with pytest.raises(UsageError, match="argument 'measure'"):
        compute_effects(ev, measure=3)
    with pytest.raises(DataError, match="unknown effect-size measure 'XYZ'"):
        compute_effects(ev, measure="XYZ")
    assert compute_effects(ev, measure=" rom ")["measure"].iloc[0] == "ROM"


@pytest.mark.parametrize("source,fragment", [(None, "is None"), ([], "empty list"), (3.5, "float"), ("", "empty")])
def test_load_usage_errors(source, fragment):
    with pytest.raises(UsageError) as ei:
        mq.load(source)
    assert "argument 'source'" in str(ei.value) and fragment in str(ei.value)


def test_log_from_pct_domain():
    with pytest.raises(DataError, match="argument 'pct'.*-200"):
        log_from_pct(-200, True)
    with pytest.raises(DataError, match="argument 'pct'"):
        log_from_pct(-100, True)
    with pytest.raises(DataError, match="argument 'pct'.*< 100"):
        log_from_pct(150, False)
    with pytest.raises(DataError, match="argument 'pct'"):
        log_from_pct([5.0, np.nan], True)
    assert log_from_pct(150, True) == pytest.approx(np.log(2.5))
    assert isinstance(DataError("x"), ValueError) and isinstance(DataError("x"), InputError)


@pytest.mark.parametrize("false", [False, "no", "false", "0", "N", 0, np.False_])
def test_boolean_arguments_parse_strings(tmp_path, false):
    # 'no' must not be taken as true
    assert log_from_pct(50, false) == pytest.approx(-np.log1p(-0.5))
    assert pct_from_log(0.1, false) == pytest.approx(pct_from_log(0.1, False))
    assert dlog_dpct(10, false) == pytest.approx(1 / 90)
    p = _write(tmp_path, f"{EFF},confounded\nA,accuracy,0.1,0.01,true\nB,accuracy,0.2,0.02,false\n")
    assert len(mq.load(p, include_confounded=false)) == 1
    assert io.as_bool(false, "x") is False


@pytest.mark.parametrize("bad", ["maybe", 2, None, 0.5, ""])
def test_boolean_arguments_refuse_other_values(bad):
    with pytest.raises(UsageError, match="argument 'include_confounded'"):
        mq.load("ssm2025", include_confounded=bad)
    with pytest.raises(UsageError, match="argument 'higher_is_better'"):
        log_from_pct(5, bad)


def test_wrong_types_are_usage_errors():
    with pytest.raises(UsageError, match="argument 'name'"):
        io.dataset_path(3)
    with pytest.raises(UsageError, match="argument 'path'"):
        io.read(None)
    with pytest.raises(UsageError, match="argument 'pct'"):
        log_from_pct("abc", True)
    with pytest.raises(UsageError, match="argument 'y'"):
        pct_from_log({"a": 1}, True)
    with pytest.raises(UsageError, match="argument 'evidence'"):
        compute_effects(io.Evidence(None))
    with pytest.raises(UsageError, match="argument 'source'"):
        mq.load([mq.load("ssm2025")])


def test_validate_usage_error():
    with pytest.raises(UsageError, match="argument 'df'"):
        io.validate([1, 2], "x")


def test_errors_pickle_and_exit_codes():
    import pickle

    e = DataError("bad", path="f.csv", row=3, column="vi", expected="vi > 0")
    assert str(pickle.loads(pickle.dumps(e))) == str(e)
    u = UsageError("is None", argument="source", expected="a path")
    assert str(pickle.loads(pickle.dumps(u))) == str(u) == "argument 'source': is None; expected a path"
    assert DataError.exit_code == UsageError.exit_code == InputError.exit_code == 2


# --------------------------------------------------------------------------
# Every problem of a file (data validate) and the validation pipeline
# --------------------------------------------------------------------------

MANY = (
    f"{EFF}\n,accuracy,0.1,0.01\nA,acuracy,0.1,0.01\nB,accuracy,900,0.1\nC,accuracy,x,0.1\n"
    "D,accuracy,0.1,0.01\nD,accuracy,0.1,0.01\nE,accuracy,0.1,-1\nF,accuracy,0.2,0.02\n"
)


def test_validate_reports_every_problem(tmp_path):
    p = _write(tmp_path, MANY)
    problems, tab = check(p)
    assert problems.total == 6 and tab is None
    rows = [e.row for e in problems.errors]
    assert rows == [1, 2, 3, 4, 6, 7]
    res = CliRunner().invoke(main, ["data", "validate", str(p)])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == 7 and all(line.startswith(f"error: {p}") for line in lines)
    assert lines[-1].endswith("6 problems")
    # load raises only the first: the earliest row of the first stage that fails (cell types before rows)
    with pytest.raises(InputError, match=r"row 4 \(line 5\), column 'yi': 'x' is not a number"):
        mq.load(p)
    q = _write(tmp_path, MANY.replace(",x,", ",0.3,"), "typed.csv")
    with pytest.raises(InputError, match=r"row 1 \(line 2\), column 'study'"):
        mq.load(q)


def test_validate_caps_the_list(tmp_path):
    body = "".join(f"S{i},accuracy,0.1,-{i + 1}\n" for i in range(45))
    p = _write(tmp_path, f"{EFF}\n{body}")
    res = CliRunner().invoke(main, ["data", "validate", str(p)])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == io.MAX_REPORTED + 1
    assert lines[-1].endswith("45 problems (first 20 listed)")
    res = CliRunner().invoke(main, ["data", "validate", "--max-errors", "3", str(p), "ssm2025"])
    assert res.exit_code == 2 and "45 problems (first 3 listed)" in res.output and "ssm2025: ok" in res.output


def test_validate_effect_size_problems_are_collected(tmp_path):
    p = _write(tmp_path, f"{HEAD}\nA,accuracy,0,,,1,,\nB,accuracy,1,,,-1,,\nC,accuracy,abc,,,1,,\n{GOOD}\n")
    problems, _ = check(p)
    cols = [(e.row, e.column) for e in problems.errors]
    assert cols == [(1, "baseline_mean"), (2, "quant_mean"), (3, "baseline_mean")]


def test_validate_notes_missing_study_belief(tmp_path):
    p = _write(tmp_path, f"{EFF}\nA,accuracy,0.1,0.01\n")
    res = CliRunner().invoke(main, ["data", "validate", str(p)])
    assert res.exit_code == 0 and "no study_belief column" in res.output


@pytest.mark.parametrize("module", ["io", "effects"])
def test_no_function_longer_than_60_lines(module):
    path = Path(mq.__file__).parent / "evidence" / f"{module}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            body = node.body[1:] if ast.get_docstring(node) else node.body
            n = body[-1].end_lineno - body[0].lineno + 1
            assert n <= 60, f"{module}.{node.name} has {n} lines"


def test_shipped_data_unchanged_by_the_pipeline():
    # the shipped files go through every stage; their tables keep their shape and types
    for name, rows in (("ssm2025", 93), ("benchmarks", None)):
        ev = mq.load(name, include_confounded=True)
        tab = compute_effects(ev)
        assert rows is None or len(tab) == rows
        assert tab["yi"].map(np.isfinite).all() and (tab["vi"].dropna() > 0).all()
        assert str(tab["study"].dtype) == "str" and tab["higher_is_better"].dtype == bool


DOC_CASES = [
    ("study;property;yi;vi\nA;accuracy;0.1;0.01\n", "this looks semicolon-separated"),
    ("study,property,yi,vi, vi \nA,accuracy,0.1,0.01,0.01\n", "column 'vi': column appears twice"),
    (f"{EFF}\nA,accuracy,0.1,0.01\nB,accuracy,0.1,0.01,9\n", "row 2 (line 3): has 5 fields"),
    (f"{EFF},confounded\nA,accuracy,0.1,0.01,true\nB,accuracy,0.2,0.02,yes\n", "all 2 rows are flagged"),
    (f"{EFF}\nA,,0.1,0.01\n", "property is empty"),
    (f"{EFF},confounded\nA,accuracy,0.1,0.01,maybe\n", "'maybe' is not true/false"),
    (f"{HEAD}\nA,accuracy,1e308,1,5,1e308,1,5\n", "value 1e+308 is outside"),
    (f"{EFF}\nA,accuracy,0.1,0.01\nB,accuracy,0.1,0.02\nB,accuracy,0.1,0.02\n", "row 3 (line 4): duplicates row 2"),
    (f"{EFF},x_l\n", "has a header but no data rows"),
]


@pytest.mark.parametrize("text,start", DOC_CASES)
def test_docs_quote_the_messages_users_see(tmp_path, text, start):
    """The bad-input section of docs/data-format.md shows these messages verbatim."""
    doc = (Path(__file__).parent.parent / "docs" / "data-format.md").read_text(encoding="utf-8")
    p = _write(tmp_path, text, "a.csv")
    with pytest.raises(InputError) as ei:
        mq.load(p)
    msg = str(ei.value).replace(str(p), "a.csv")
    shown = msg[msg.index(start):] if start in msg else msg
    body = shown.split(": ", 1)[-1] if shown.startswith("row") else shown
    assert body in doc, body


def test_without_the_arrow_reader_the_same_table(tmp_path, monkeypatch):
    """pandas' C engine (used without pyarrow, or when Arrow's reader gives up) reads the same table."""
    p = _write(tmp_path, f'{HEAD},notes\n{GOOD},"a, b"\nB,accuracy,0.7,,,0.6,,,\n')
    fast = compute_effects(mq.load(p))
    monkeypatch.setattr(io, "_read_csv_arrow", lambda *a: None)
    slow = compute_effects(mq.load(p))
    pd.testing.assert_frame_equal(fast, slow)
