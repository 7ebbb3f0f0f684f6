"""The README's first lines are the two commands, and CI runs the second one."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _first_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("```bash")
    return lines[start + 1], lines[start + 2]


def test_readme_opens_with_the_two_commands():
    main_job, tests = _first_commands()
    assert main_job == "pip install . && metaquant fit --property accuracy"
    assert tests == 'pip install -e ".[test]" && pytest'
    assert (ROOT / "README.md").read_text().index("```bash") < 40


def test_ci_runs_the_readme_test_command_in_a_fresh_venv():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 -m venv" in ci
    assert 'pip install -e ".[test' in ci and ci.rstrip().endswith("pytest")
