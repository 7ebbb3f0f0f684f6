"""Validation: every bad input gives one line naming file, row and column (exit code 2 at the CLI)."""

import pytest
from click.testing import CliRunner

import metaquant as mq
from metaquant.cli import main
from metaquant.errors import InputError

HEAD = "study,property,baseline_mean,baseline_sd,baseline_n,quant_mean,quant_sd,quant_n"

CASES = {
    # name: (csv text, expected fragments of the message)
    "empty file": ("", ["the file is empty"]),
    "header only": (HEAD, ["no data rows"]),
    "missing column": ("study,property,baseline_mean\nA,accuracy,0.9", ["column 'quant_mean'", "missing"]),
    "unknown column": (HEAD + ",qunat_n2\nA,accuracy,1,0.1,5,1,0.1,5,3", ["column 'qunat_n2'", "unknown column"]),
    "non-numeric": (HEAD + "\nA,accuracy,0.9,0.01,5,abc,0.01,5", ["row 1 (line 2)", "'quant_mean'", "not a number"]),
    "missing value": (
        HEAD + "\nA,accuracy,0.9,0.01,5,0.8,0.01,5\nB,accuracy,0.9,0.01,5,,0.01,5",
        ["row 2 (line 3)", "'quant_mean'", "missing value"],
    ),
    "missing study": (HEAD + "\n,accuracy,0.9,0.01,5,0.8,0.01,5", ["row 1", "'study'", "missing value"]),
    "negative sd": (HEAD + "\nA,accuracy,0.9,-0.01,5,0.8,0.01,5", ["'baseline_sd'", "negative"]),
    "n below one": (HEAD + "\nA,accuracy,0.9,0.01,0,0.8,0.01,5", ["'baseline_n'", ">= 1"]),
    "spread from one run": (HEAD + "\nA,accuracy,0.9,0.01,1,0.8,0.01,1", ["'baseline_sd'", "single run"]),
    "unknown property": (
        HEAD + "\nA,acuracy,0.9,0.01,5,0.8,0.01,5",
        ["'property'", "unknown property 'acuracy'", "did you mean 'accuracy'"],
    ),
    "duplicate rows": (
        HEAD + "\nA,accuracy,0.9,0.01,5,0.8,0.01,5\nA,accuracy,0.9,0.01,5,0.8,0.01,5",
        ["row 2", "duplicates row 1"],
    ),
    "vi not positive": ("study,property,yi,vi\nA,accuracy,0.1,0.02\nB,accuracy,0.2,0", ["row 2", "'vi'", "vi > 0"]),
    "vi negative": ("study,property,yi,vi\nA,accuracy,0.1,-0.02", ["row 1", "'vi'", "not positive"]),
    "wrong direction": (
        "study,property,higher_is_better,baseline_mean,quant_mean\nA,inference_latency,true,3,2",
        ["'higher_is_better'", "contradicts"],
    ),
    "belief outside": ("study,property,improvement_pct,study_belief\nA,accuracy,-2,1.4", ["'study_belief'", "[0, 1]"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_one_line_error(tmp_path, name):
    text, fragments = CASES[name]
    p = tmp_path / "bad.csv"
    p.write_text(text + ("\n" if text else ""))
    with pytest.raises(InputError) as ei:
        mq.compute_effects(mq.load(p))
    msg = str(ei.value)
    assert str(p) in msg and "\n" not in msg
    for frag in fragments:
        assert frag in msg, msg
    # and at the command line: one line on stderr, exit code 2, no traceback
    res = CliRunner().invoke(main, ["data", "validate", str(p)])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert res.output.strip().startswith("error: ") and len(res.output.strip().splitlines()) == 1


@pytest.mark.parametrize("baseline,col", [("0", "baseline_mean"), ("-1.5", "baseline_mean")])
def test_ratio_needs_positive_baseline(tmp_path, baseline, col):
    p = tmp_path / "b.csv"
    p.write_text(f"study,property,baseline_mean,quant_mean\nA,storage_size,10,5\nB,storage_size,{baseline},5\n")
    with pytest.raises(InputError, match=rf"row 2 .*'{col}'.*ratio is undefined"):
        mq.compute_effects(mq.load(p))
    # the raw difference does not need a positive baseline but does need a spread
    with pytest.raises(InputError, match="a spread is needed for MD"):
        mq.compute_effects(mq.load(p), measure="MD")


def test_smd_needs_more_than_one_run(tmp_path):
    p = tmp_path / "s.csv"
    p.write_text(HEAD + "\nA,accuracy,0.9,0,1,0.8,0,1\n")
    with pytest.raises(InputError, match="one run"):
        mq.compute_effects(mq.load(p), measure="SMD")


def test_binary_file(tmp_path):
    p = tmp_path / "model.csv"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(InputError, match="binary"):
        mq.load(p)


def test_missing_file_and_unknown_dataset(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        mq.load(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="did you mean 'ssm2025'"):
        mq.load("ssm-2025")


def test_single_study_is_not_an_error(tmp_path):
    p = tmp_path / "one.csv"
    p.write_text("study,property,yi,vi\nA,accuracy,-0.05,0.001\n")
    tab = mq.compute_effects(mq.load(p))
    assert len(tab) == 1 and tab["measure"].iloc[0] == "given"


def test_shipped_dataset_has_provenance_on_every_row():
    ev = mq.load("ssm2025")
    df = ev.data
    assert len(df) == 93 and df["study"].nunique() == 6
    assert df["provenance"].str.contains("bd6a60aa1df8f87c06683089378576cfec9c5221").all()
    for col in ("study_belief", "bits", "technique", "hardware", "quant_precision", "n_units"):
        assert df[col].notna().all(), col
    # 19 evidence models (study x precision configuration)
    assert df.groupby(["study", "comparison"]).ngroups == 19


def test_concatenating_files(tmp_path):
    p = tmp_path / "mine.csv"
    p.write_text("study,property,improvement_pct,study_belief\nMINE,accuracy,-3.0,0.5\n")
    ev = mq.load([p, "ssm2025"])
    assert len(ev) == 94 and "MINE" in set(ev.data.study)


def test_parquet_input(tmp_path):
    pytest.importorskip("pyarrow")
    src = mq.load("ssm2025").data
    p = tmp_path / "ssm.parquet"
    cols = [c for c in src.columns if c not in ("form", "source_file", "source_row")]
    src[cols].to_parquet(p)
    tab = mq.compute_effects(mq.load(p))
    ref = mq.compute_effects(mq.load("ssm2025"))
    assert tab["yi"].tolist() == ref["yi"].tolist()
