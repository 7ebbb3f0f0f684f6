"""Outputs under faults: --force never removes a user's file, full disks, SIGTERM, stale locks, long names.

Signals and full disks go through a real ``metaquant`` process: a file-size
limit (``RLIMIT_FSIZE``) stands in for a full disk, as the Linux runner allows.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from metaquant import outputs

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux file-system semantics")

METAQUANT = str(Path(sys.executable).with_name("metaquant"))
FIT = ["fit", "--method", "reml", "--missing-vi", "drop", "--quiet"]
ENV = {**os.environ, "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"}


def _data(folder: Path) -> str:
    """Two properties, four studies with known variances (every engine and the exact path apply)."""
    rows = []
    for i, (acc, size, bits) in enumerate([(-1.0, 70.0, 8), (-2.5, 74.0, 8), (-6.0, 86.0, 4), (0.3, 48.0, 16)], 1):
        for prop, pct, sd in (("accuracy", acc, 2.0), ("storage_size", size, 3.0)):
            rows.append({"study": f"T{i}", "property": prop, "improvement_pct": pct, "improvement_sd": sd,
                         "n_units": 10 + i, "study_belief": 0.5 + 0.05 * i, "bits": bits, "technique": "ptq-static"})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "my_runs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def _run(args, cwd, *, fsize: int | None = None, stdout=subprocess.PIPE, timeout=120, env=None):
    def limit():
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run([METAQUANT, *args], cwd=cwd, env=env or ENV, stdout=stdout, stderr=subprocess.PIPE, text=True,
                          preexec_fn=limit, timeout=timeout, check=False)


def _one_line(res, *needles):
    err = res.stderr.strip().splitlines()
    assert res.returncode == 2, (res.returncode, res.stderr)
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in res.stderr, res.stderr
    for n in needles:
        assert n in err[0], err[0]
    return err[0]


def _leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name.startswith(".mq.")
                  or p.name.endswith(".tmp") or p.name == outputs.LOCK)


# ---------------------------------------------------------------- --force replaces only what metaquant wrote


@pytest.mark.parametrize("cmd", [["report", "--fast", "--property", "accuracy", "--quiet"], [*FIT, "--all"]])
def test_force_never_removes_the_inputs_or_other_files_in_out(tmp_path, cmd):
    runs = tmp_path / "runs"
    data = _data(runs)
    (runs / "lab_notes.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in runs.iterdir()}
    res = _run([*cmd, "--data", data, "--out", "runs", "--force"], tmp_path)
    _one_line(res, "runs", "holds the input file my_runs.csv")
    assert {p.name: p.read_bytes() for p in runs.iterdir()} == before
    if cmd[0] != "report":
        return
    # an input deeper inside the folder, and a relative spelling of the same place, are refused the same way
    res = _run([*cmd, "--data", "runs/my_runs.csv", "--out", f"{tmp_path}/runs/../runs", "--force"], tmp_path)
    _one_line(res, "holds the input file")
    assert {p.name: p.read_bytes() for p in runs.iterdir()} == before


def test_force_refuses_a_folder_holding_files_metaquant_did_not_write(tmp_path):
    data = _data(tmp_path / "in")
    out = tmp_path / "res"
    out.mkdir()
    (out / "lab_notes.txt").write_text("mine")
    (out / "accuracy.json").write_text("a user's own file of the same name")
    res = _run([*FIT, "--all", "--data", data, "--out", str(out), "--force"], tmp_path)
    _one_line(res, "holds files metaquant did not write (accuracy.json, lab_notes.txt)",
              "not replaced, even with --force")
    assert (out / "lab_notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["accuracy.json", "lab_notes.txt"]


def test_force_replaces_exactly_what_the_manifest_lists(tmp_path):
    data = _data(tmp_path / "in")
    out = tmp_path / "res"
    first = _run([*FIT, "--property", "storage_size", "--data", data, "--out", str(out)], tmp_path)
    assert first.returncode == 0, first.stderr
    manifest = json.loads((out / outputs.MANIFEST).read_text())
    assert manifest["files"] == ["storage_size.json"]
    again = _run([*FIT, "--all", "--data", data, "--out", str(out), "--force"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in out.iterdir()) == [outputs.MANIFEST, "accuracy.json", "storage_size.json"]
    assert json.loads((out / outputs.MANIFEST).read_text())["files"] == ["accuracy.json", "storage_size.json"]
    assert _leftovers(tmp_path) == []
    # a user's file added since: the manifest does not list it, so --force refuses and keeps it
    (out / "notes.md").write_text("mine")
    res = _run([*FIT, "--all", "--data", data, "--out", str(out), "--force"], tmp_path)
    _one_line(res, "notes.md")
    assert (out / "notes.md").read_text() == "mine" and (out / "accuracy.json").exists()


# ---------------------------------------------------------------- full disks


def test_full_disk_during_fit_all_leaves_nothing_and_says_so(tmp_path):
    res = _run([*FIT, "--all", "--out", "res"], tmp_path, fsize=2000)  # some result files are larger
    line = _one_line(res, "disk full while writing res")
    assert "File too large" in line or "file too large" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no partial folder, no temporaries


def test_full_disk_during_plot_report_and_data_validate_is_one_line(tmp_path):
    data = _data(tmp_path / "in")
    res = _run(["plot", "masses", "--data", data, "--property", "accuracy", "--out", "m.png"], tmp_path, fsize=1000)
    _one_line(res, "disk full while writing m.png")
    res = _run(["report", "--data", data, "--out", "rep", "--fast", "--property", "accuracy", "--quiet"], tmp_path,
               fsize=20_000)
    _one_line(res, "disk full while writing rep")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # nothing half-written, no temporaries
    for unbuffered in (True, False):  # PYTHONUNBUFFERED (common in containers) must not drop the error
        env = {k: v for k, v in ENV.items() if k != "PYTHONUNBUFFERED"} | ({"PYTHONUNBUFFERED": "1"} if unbuffered
                                                                           else {})
        with open(tmp_path / "log.txt", "w") as fh:
            res = _run(["data", "validate", data], tmp_path, fsize=10, stdout=fh, env=env)
        _one_line(res, "disk full while writing standard output", "the output is incomplete")
    with open("/dev/full", "w") as fh:
        res = _run(["data", "validate", data], tmp_path, stdout=fh)
    _one_line(res, "disk full while writing standard output")


# ---------------------------------------------------------------- signals and locks


def _signalled(tmp_path, data, sig):
    # the sampler on every property: seconds of work after the folder is claimed, so the signal lands mid-run
    proc = subprocess.Popen([METAQUANT, "fit", "--all", "--mcmc", "--draws", "4000", "--tune", "100", "--chains", "2",
                             "--data", data, "--out", "rep", "--quiet"], cwd=tmp_path,
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as from a terminal
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "rep" / outputs.LOCK).exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


def test_sigterm_cleans_up_like_ctrl_c(tmp_path):
    data = _data(tmp_path / "in")
    for sig, code, word in ((signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")):
        rc, err = _signalled(tmp_path, data, sig)
        assert rc == code, err
        assert "Traceback" not in err and err.strip().splitlines()[-1] == word, err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no lock, no temporaries, no empty folder


def test_a_lock_nobody_holds_is_stale_whatever_pid_it_names(tmp_path):
    data = _data(tmp_path / "in")
    out = tmp_path / "res"
    out.mkdir()
    (out / outputs.LOCK).write_text(str(os.getpid()))  # a live process (a reused PID): not a metaquant run
    (out / ".mq.k1l2m3n4.tmp").write_text("left by a killed run")
    res = _run([*FIT, "--property", "accuracy", "--data", data, "--out", str(out)], tmp_path)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == [outputs.MANIFEST, "accuracy.json"]
    # a lock that is held (a run in progress) is respected
    out2 = tmp_path / "busy"
    out2.mkdir()
    with open(out2 / outputs.LOCK, "w") as fh:
        fh.write("12345")
        fh.flush()
        fcntl.flock(fh, fcntl.LOCK_EX)
        res = _run([*FIT, "--property", "accuracy", "--data", data, "--out", str(out2)], tmp_path)
    _one_line(res, "is being written by another metaquant run (process 12345)")


# ---------------------------------------------------------------- long names


def test_a_254_byte_output_name_is_written(tmp_path):
    data = _data(tmp_path / "in")
    name = "p" * 250 + ".png"
    res = _run(["plot", "masses", "--data", data, "--property", "accuracy", "--out", name], tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / name).stat().st_size > 1000 and _leftovers(tmp_path) == []


@pytest.mark.parametrize("args", [
    ["ssm", "--data", "d" * 300 + ".csv"],
    [*FIT, "--property", "accuracy", "--out", "o" * 300],
    ["plot", "masses", "--property", "accuracy", "--out", "f" * 300 + ".png"],
    ["bias", "--property", "accuracy", "--funnel", "f" * 300 + ".png"],
])
def test_a_name_longer_than_the_file_system_allows_is_one_line(tmp_path, args):
    long = next(a for a in args if len(a) >= 300)
    _one_line(_run(args, tmp_path), long, "file name too long")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- in process: the same rules through the API


def test_an_output_file_that_is_an_input_is_refused(tmp_path):
    data = _data(tmp_path)
    with pytest.raises(outputs.InputError, match="is an input file; metaquant never writes over its inputs"):
        outputs.check_writable_target(data, force=True, inputs=[data, "ssm2025"])
    assert pd.read_csv(data).shape == (8, 8)


def test_a_folder_written_before_manifests_is_replaced_only_when_it_holds_our_files_alone(tmp_path):
    from metaquant.present.report import REPORT_FILES

    out = tmp_path / "rep"
    out.mkdir()
    for name in REPORT_FILES:
        (out / name).write_text("old")
    outputs.replace_dir(out, lambda tmp: (tmp / "report.html").write_text("new"), force=True, known=REPORT_FILES)
    assert sorted(p.name for p in out.iterdir()) == [outputs.MANIFEST, "report.html"]
    assert (out / "report.html").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["rep"]
    assert outputs.read_manifest(out) == {"report.html"}
