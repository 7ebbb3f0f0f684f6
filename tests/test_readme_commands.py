"""Every command of the README's Quick tour runs.

The fast test runs each one with small MCMC settings (and one property where the command would sample every
property); the slow test runs them exactly as written.  Commands run in a fresh folder, in order, so the files
one writes (``my_runs.csv``) are there for the next.
"""

from __future__ import annotations

import importlib.util
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from metaquant.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
SHORT = ["--draws", "100", "--tune", "100", "--chains", "2"]


def tour() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    block = text[text.index("## Quick tour"):]
    block = block[block.index("```bash") + len("```bash"):]
    block = block[: block.index("```")]
    out = []
    for line in block.strip().splitlines():
        cmd = line.split("  #")[0].strip()
        if cmd:
            args = shlex.split(cmd)
            assert args[0] == "metaquant", line
            out.append(args[1:])
    return out


def _uses_pymc(args: list[str]) -> bool:
    if args[0] in ("compare", "sensitivity", "report") or args[:2] == ["plot", "forest"]:
        return True
    if args[0] in ("fit", "predict") and "--method" in args and args[args.index("--method") + 1] == "bma":
        return True
    return args[0] in ("fit", "predict") and "--method" not in args


def _short(args: list[str]) -> list[str]:
    """The command with small MCMC settings, and one property where it would sample every property."""
    if not _uses_pymc(args):
        return args
    args = list(args)
    if args[0] == "compare" and "--all" in args:
        args[args.index("--all"):args.index("--all") + 1] = ["--property", "accuracy"]
    if args[0] == "report":
        args += ["--fast", "--property", "accuracy"]
    if args[0] == "compare" or args[:2] == ["plot", "forest"]:
        args += ["--fast"]
    return args + SHORT


def _run(commands, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for args in commands:
        if args[0] == "bench" and importlib.util.find_spec("torch") is None:
            pytest.skip("the bench extra (torch) is not installed")
        res = runner.invoke(main, args)
        assert res.exit_code == 0, f"metaquant {' '.join(args)}:\n{res.output}"
        assert "Traceback" not in res.output


def test_the_tour_lists_the_main_commands():
    cmds = [" ".join(a) for a in tour()]
    assert cmds[1] == "fit --property accuracy" and len(cmds) >= 20
    assert any(c.startswith("predict ") for c in cmds) and any("ssm2026" in c for c in cmds)


def test_every_readme_command_runs(tmp_path, monkeypatch):
    _run([_short(a) for a in tour()], tmp_path, monkeypatch)


@pytest.mark.slow
def test_every_readme_command_runs_as_written(tmp_path, monkeypatch):
    _run(tour(), tmp_path, monkeypatch)
