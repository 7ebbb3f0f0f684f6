"""Outputs: checked before any work, claimed atomically, no half-written or stale files, nothing overwritten."""

from __future__ import annotations

import os
import threading

import pytest
from click.testing import CliRunner

from metaquant import outputs
from metaquant.cli import main
from metaquant.errors import InputError


def _one_line_error(res, *needles):
    assert res.exit_code == 2, res.output
    err = res.output.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), res.output
    for n in needles:
        assert n in err[0], err[0]
    assert "Traceback" not in res.output


def test_atomic_write_refuses_overwrite_and_leaves_no_temporary(tmp_path):
    p = tmp_path / "a.json"
    outputs.atomic_write_text(p, "1")
    with pytest.raises(InputError, match="exists already"):
        outputs.atomic_write_text(p, "2")
    assert p.read_text() == "1"
    outputs.atomic_write_text(p, "2", overwrite=True)
    assert p.read_text() == "2" and sorted(x.name for x in tmp_path.iterdir()) == ["a.json"]


def test_a_failing_writer_leaves_nothing_behind(tmp_path):
    def boom(tmp):
        with open(tmp, "w") as fh:
            fh.write("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        outputs.atomic_write(tmp_path / "x.nc", boom)
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_of_a_killed_run_are_removed_and_do_not_count(tmp_path):
    out = tmp_path / "res"
    out.mkdir()
    (out / ".accuracy.nc.abc123.tmp").write_text("half")
    (out / ".x.png.zz9.tmp").write_text("half")
    with outputs.output_dir(out) as d:  # not "not empty": only our temporaries are there
        outputs.atomic_write_text(d / "accuracy.json", "{}")
    assert sorted(p.name for p in out.iterdir()) == ["accuracy.json"]
    fig = tmp_path / "f.png"
    (tmp_path / ".f.png.q1w2e3.tmp").write_text("half")
    outputs.atomic_write_bytes(fig, b"png")
    assert not (tmp_path / ".f.png.q1w2e3.tmp").exists()


def test_output_dir_refuses_a_non_empty_folder_and_a_file(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty"), outputs.output_dir(tmp_path / "full"):
        pass
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InputError, match="not a folder"), outputs.output_dir(tmp_path / "afile"):
        pass
    with pytest.raises(InputError, match="is a file, not a folder"), outputs.output_dir(tmp_path / "afile" / "sub"):
        pass


def test_output_dir_made_by_a_failed_run_is_removed(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(RuntimeError), outputs.output_dir(out):
        raise RuntimeError("fit failed")
    assert not out.exists()


def test_two_runs_cannot_claim_one_folder(tmp_path):
    out = tmp_path / "rep"
    inside, release, errors = threading.Event(), threading.Event(), []

    def first():
        with outputs.output_dir(out):
            inside.set()
            release.wait(10)

    t = threading.Thread(target=first)
    t.start()
    inside.wait(10)
    try:
        # the same process id holds the lock, so simulate a second process by rewriting the lock's pid to a live one
        (out / outputs.LOCK).write_text(str(os.getppid()))
        with pytest.raises(InputError, match="being written by another metaquant run"), outputs.output_dir(out):
            pass
    except Exception as exc:  # pragma: no cover - reported below
        errors.append(exc)
    finally:
        release.set()
        t.join()
    assert not errors


def test_lock_of_a_dead_process_is_taken_over(tmp_path):
    out = tmp_path / "rep"
    out.mkdir()
    (out / outputs.LOCK).write_text("999999999")
    with outputs.output_dir(out) as d:
        outputs.atomic_write_text(d / "a.txt", "ok")
    assert (out / "a.txt").exists() and not (out / outputs.LOCK).exists()


def test_replace_dir_checks_before_building(tmp_path):
    (tmp_path / "afile").write_text("x")
    built = []
    with pytest.raises(InputError):
        outputs.replace_dir(tmp_path / "afile" / "rep", lambda tmp: built.append(tmp))
    assert built == []
    out = outputs.replace_dir(tmp_path / "rep", lambda tmp: (tmp / "report.html").write_text("<p>"))
    assert sorted(p.name for p in out.iterdir()) == [outputs.MANIFEST, "report.html"]
    with pytest.raises(InputError, match="not empty"):
        outputs.replace_dir(out, lambda tmp: built.append(tmp))
    assert built == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# ---------------------------------------------------------------- the CLI


@pytest.mark.parametrize("cmd", [
    ["fit", "--property", "accuracy", "--method", "reml", "--missing-vi", "drop"],
    ["fit", "--property", "accuracy", "--method", "exact"],
])
def test_fit_out_under_a_file_is_refused_before_fitting(tmp_path, cmd):
    (tmp_path / "afile").write_text("x")
    res = CliRunner().invoke(main, [*cmd, "--out", str(tmp_path / "afile" / "res")])
    _one_line_error(res, "is a file, not a folder")


def test_fit_out_where_no_folder_can_be_made_is_one_line(tmp_path):
    res = CliRunner().invoke(main, ["fit", "--property", "accuracy", "--method", "reml", "--missing-vi", "drop",
                                    "--out", "/proc/metaquant-cannot-be-here"])
    _one_line_error(res, "/proc/metaquant-cannot-be-here")


def test_failed_fit_leaves_no_empty_folder(tmp_path):
    out = tmp_path / "res"
    res = CliRunner().invoke(main, ["fit", "--property", "accuracy", "--method", "reml", "--out", str(out)])
    _one_line_error(res, "no sampling variance")
    assert not out.exists()


def test_fit_out_writes_json_and_refuses_a_second_time(tmp_path):
    out = tmp_path / "res"
    args = ["fit", "--property", "storage_size", "--method", "reml", "--missing-vi", "drop", "--out", str(out)]
    assert CliRunner().invoke(main, args).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == [outputs.MANIFEST, "storage_size.json"]
    _one_line_error(CliRunner().invoke(main, args), "not empty")
    assert CliRunner().invoke(main, [*args, "--force"]).exit_code == 0


@pytest.mark.parametrize("kind", ["forest", "masses"])
def test_plot_out_under_a_file_is_refused_before_fitting(tmp_path, kind):
    (tmp_path / "afile").write_text("x")
    res = CliRunner().invoke(main, ["plot", kind, "--property", "accuracy", "--out", str(tmp_path / "afile" / "x.png")])
    _one_line_error(res, "is a file, not a folder")


def test_report_out_under_a_file_is_refused_before_any_fit(tmp_path):
    (tmp_path / "afile").write_text("x")
    res = CliRunner().invoke(main, ["report", "--out", str(tmp_path / "afile" / "rep"), "--fast"])
    _one_line_error(res, "is a file, not a folder")
