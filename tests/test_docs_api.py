"""docs/api.md is a walk-through that runs: every example and its output are checked here."""

from __future__ import annotations

import doctest
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def test_api_walkthrough_runs():
    res = doctest.testfile(str(DOC), module_relative=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                           verbose=False, report=True)
    assert res.attempted > 20
    assert res.failed == 0
