"""Input-reading faults and misuse of the Python API: each is a one-line error, a warning or a correct read."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import metaquant as mq
from metaquant import sensitivity
from metaquant.classical import bias
from metaquant.cli import main
from metaquant.errors import DataError, InputError, UsageError

MEAS = "study,property,baseline_mean,quant_mean,quant_precision\n"
EFF = "study,property,yi,vi\n"


def _write(tmp_path, text, name="runs.csv", newline=None):
    p = tmp_path / name
    p.write_bytes(text.encode() if newline is None else text.replace("\n", newline).encode())
    return p


def _cli(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


# ---------------------------------------------------------------- the same comparison twice


def test_same_comparison_as_measurements_and_summary_is_refused(tmp_path):
    p = _write(tmp_path, "study,property,baseline_mean,quant_mean,improvement_pct,quant_precision\n"
                         "A,accuracy,0.9,0.88,,int8\nB,accuracy,0.8,0.79,,int8\nA,accuracy,,,-2.2,int8\n")
    with pytest.raises(DataError, match=r"runs.csv, row 3 \(line 4\): summary row for the same comparison "
                                        r"\(study 'A', property 'accuracy', quant_precision 'int8'\) that row 1 "
                                        r"gives as measurements; it would be pooled twice"):
        mq.load(str(p))
    res = _cli("data", "validate", p)
    assert res.exit_code == 2 and "pooled twice" in res.output and "Traceback" not in res.output


def test_same_comparison_across_two_files_names_both(tmp_path):
    a = _write(tmp_path, MEAS + "A,accuracy,0.9,0.88,int8\nB,accuracy,0.9,0.87,int8\n", "meas.csv")
    b = _write(tmp_path, "study,property,improvement_pct,quant_precision\nA,accuracy,-2.2,int8\n", "summ.csv")
    with pytest.raises(DataError, match=r"summ.csv, row 1 \(line 2\): .* that \S*meas.csv row 1 gives as measurements"):
        mq.load([str(a), str(b)])
    # another precision or another model is another comparison
    c = _write(tmp_path, "study,property,improvement_pct,quant_precision\nA,accuracy,-2.2,int4\n", "other.csv")
    assert len(mq.load([str(a), str(c)])) == 3


def test_study_names_differing_in_case_warn_once_with_the_fix(tmp_path):
    p = _write(tmp_path, MEAS + "smith2020,accuracy,0.9,0.88,int8\nSmith2020,accuracy,0.9,0.87,int4\n"
                                "Smith2020,accuracy,0.8,0.7,int8\nJones,accuracy,0.8,0.79,int8\n")
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        ev = mq.load(str(p))
    msgs = [str(w.message) for w in got if "case or spacing" in str(w.message)]
    assert len(msgs) == 1
    assert f"'smith2020' ({p} row 1)" in msgs[0] and f"'Smith2020' ({p} rows 2, 3)" in msgs[0]
    assert "rename one so both read the same" in msgs[0]
    assert ev.data["study"].nunique() == 3  # warned, not merged behind the user's back
    res = _cli("data", "validate", p)
    assert res.exit_code == 0 and res.output.count("differ only in case or spacing") == 1


# ---------------------------------------------------------------- reading the file


def test_cr_only_line_endings_are_read(tmp_path):
    p = _write(tmp_path, MEAS + "A,accuracy,0.9,0.88,int8\nB,accuracy,0.8,0.79,int8\n", newline="\r")
    ev = mq.load(str(p))
    assert list(ev.data["study"]) == ["A", "B"] and ev.data["quant_mean"].tolist() == [0.88, 0.79]
    bad = _write(tmp_path, MEAS + "A,accuracy,0.9,0.88,int8\nB,accuracy,0.8,x,int8\n", "bad.csv", newline="\r")
    with pytest.raises(InputError, match=r"bad.csv, row 2 \(line 3\), column 'quant_mean'"):
        mq.load(str(bad))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_pipe_is_read_not_called_empty(tmp_path):
    text = MEAS + "A,accuracy,0.9,0.88,int8\nB,accuracy,0.8,0.79,int8\n"
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    writer = subprocess.Popen([sys.executable, "-c", f"open({str(fifo)!r}, 'w').write({text!r})"])
    try:
        ev = mq.load(str(fifo))
    finally:
        writer.wait(timeout=30)
    assert len(ev) == 2


def test_line_numbers_after_blank_lines_and_quoted_line_breaks(tmp_path):
    p = _write(tmp_path, "study,property,baseline_mean,quant_mean,notes\n"
                         'A,accuracy,0.9,0.88,"two\nlines"\n\nB,accuracy,0.8,0.79,x\n\nC,accuracy,0.8,abc,y\n')
    with pytest.raises(InputError, match=r"row 3 \(line 7\), column 'quant_mean'"):
        mq.load(str(p))
    res = _cli("data", "validate", p)
    assert "row 3 (line 7)" in res.output
    # the effect-size stage names the same line
    q = _write(tmp_path, "study,property,baseline_mean,quant_mean\nA,accuracy,0.9,0.88\n\n\nB,accuracy,0,0.5\n",
               "zero.csv")
    with pytest.raises(InputError, match=r"zero.csv, row 2 \(line 5\), column 'baseline_mean'"):
        mq.compute_effects(mq.load(str(q)))


# ---------------------------------------------------------------- the Python API


def test_a_dataframe_is_validated_like_a_file(tmp_path):
    p = _write(tmp_path, EFF + "A,accuracy,0.1,0.01\nB,accuracy,0.2,0.02\nC,accuracy,-0.1,0.03\n")
    from_frame = mq.fit(pd.read_csv(p), "accuracy", method="reml")
    from_file = mq.fit(str(p), "accuracy", method="reml")
    assert from_frame.rma.estimate == pytest.approx(from_file.rma.estimate, rel=1e-12)
    meas = _write(tmp_path, MEAS + "A,accuracy,0.9,0.88,int8\nB,accuracy,0.8,0.78,int8\n", "m.csv")
    assert len(mq.effect_table(pd.read_csv(meas))) == 2
    bad = pd.read_csv(p)
    bad.loc[1, "vi"] = -1.0
    with pytest.raises(DataError, match=r"^DataFrame, row 2 \(line 3\), column 'vi': sampling variance -1"):
        mq.fit(bad, "accuracy", method="reml")
    with pytest.raises(InputError, match=r"^DataFrame, column 'qunat_sd': unknown column"):
        mq.effect_table(pd.read_csv(p).assign(qunat_sd=1.0))


def test_an_effect_table_missing_columns_is_named_or_filled():
    tab = mq.compute_effects(mq.load("ssm2025"))
    acc = tab[tab["property"] == "accuracy"]
    with pytest.raises(UsageError, match=r"argument 'data': .*lacks the column\(s\) yi"):
        mq.effect_table(acc.drop(columns=["yi"]))
    filled = mq.effect_table(acc.drop(columns=["vi_known"]))
    assert filled["vi_known"].tolist() == acc["vi"].notna().tolist()
    a = mq.fit(acc.drop(columns=["vi_known"]), "accuracy", method="reml", variance_policy="drop")
    b = mq.fit(acc, "accuracy", method="reml", variance_policy="drop")
    assert a.rma.estimate == b.rma.estimate


@pytest.fixture
def mod_file(tmp_path):
    return _write(tmp_path, "study,property,yi,vi,bits,technique\nA,accuracy,0.1,0.01,4,qat\n"
                            "B,accuracy,0.2,0.02,8,qat\nC,accuracy,-0.1,0.03,4,qat\nD,accuracy,0.05,0.01,8,qat\n"
                            "E,accuracy,0.0,0.02,2,qat\n", "mod.csv")


def test_predict_new_misuse_names_the_argument(mod_file):
    res = mq.fit(str(mod_file), "accuracy", method="reml", moderators=["bits"])
    for bad, what in ((None, "is None"), (["x"], "is not numeric"), ([[1.0, 2.0]], "has shape")):
        with pytest.raises(UsageError, match=rf"argument 'x': .*{what}.*expected one value per moderator column"):
            res.predict_new(bad)
    plain = mq.fit(str(mod_file), "accuracy", method="reml")
    with pytest.raises(UsageError, match="argument 'x': the model has no moderators"):
        plain.predict_new([[3.0]])
    exact = mq.fit(str(mod_file), "accuracy", method="exact")
    with pytest.raises(UsageError, match="argument 'X': the model has no moderators"):
        exact.predict_new(None)


def test_sensitivity_by_without_a_moderator_is_a_usage_error(mod_file):
    tab = mq.effect_table(str(mod_file))
    with pytest.raises(UsageError, match="argument 'moderator': is missing; expected moderator='COLUMN'"):
        sensitivity.run(tab, "accuracy", "by")


# ---------------------------------------------------------------- degenerate data


@pytest.mark.parametrize("args", [["fit", "--moderator", "technique", "--method", "reml"],
                                  ["predict", "--technique", "qat", "--method", "reml"],
                                  ["fit", "--moderator", "technique", "--method", "bayes", "--draws", "50",
                                   "--tune", "50", "--chains", "1"]])
def test_a_moderator_with_one_level_is_one_line(mod_file, args):
    res = _cli(*args, "--data", mod_file, "--property", "accuracy")
    assert res.exit_code == 2, res.output
    if args[0] == "predict":  # predict drops a setting the rows do not vary, and says none is left to condition on
        assert "none of the settings asked for varies in the rows of 'accuracy'" in res.output
    else:
        assert ("mod.csv, column 'technique': moderator 'technique' has one level ('qat') in the 5 pooled rows"
                in res.output)
    assert "Traceback" not in res.output and "newmods" not in res.output


def test_bias_on_all_zero_effects_says_why_fail_safe_n_is_undefined(tmp_path):
    p = _write(tmp_path, EFF + "".join(f"{s},accuracy,0,0.0{i + 1}\n" for i, s in enumerate("ABCD")))
    res = _cli("bias", "--data", p, "--property", "accuracy")
    assert res.exit_code == 0, res.output
    assert "Orwin: not defined" in res.output and "the mean effect is 0" in res.output
    fs = bias.fsn(np.zeros(4), np.full(4, 0.01), type="Orwin")
    assert np.isnan(fs.fsnum) and "undefined" in fs.notes[0]


def test_robust_on_identical_effects_gives_the_reason(tmp_path):
    p = _write(tmp_path, EFF + "".join(f"{s},accuracy,0.1,0.01\n" for s in "ABCD"))
    for kind in ("cr1", "cr2"):
        res = _cli("fit", "--data", p, "--property", "accuracy", "--method", "reml", "--robust", kind)
        assert res.exit_code == 2
        line = res.output.strip().splitlines()[-1]
        assert line.startswith(f"error: {p}: accuracy: cluster-robust inference is undefined")
        assert "all residuals are 0" in line and "Singular" not in res.output


def test_a_home_that_cannot_be_created_does_not_stop_metaquant(tmp_path):
    env = {**os.environ, "HOME": "/dev/null/x", "MPLBACKEND": "Agg"}
    for k in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "MPLCONFIGDIR", "PYTENSOR_FLAGS", "ARVIZ_DATA"):
        env.pop(k, None)
    exe = os.path.join(os.path.dirname(sys.executable), "metaquant")
    out = subprocess.run([exe, "fit", "--property", "accuracy", "--method", "reml", "--missing-vi", "drop"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    # ArviZ is what failed on import: load it the way the Bayesian engine does
    code = "import metaquant, arviz, metaquant.bayes.results; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    assert "NotADirectoryError" not in out.stderr and "matplotlib" not in out.stderr.lower()
