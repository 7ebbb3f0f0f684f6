"""Packaging: every subpackage is listed, and the shipped data travel with the package."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "metaquant").rglob("__init__.py")}
    assert found <= listed, f"not listed in pyproject.toml: {sorted(found - listed)}"
    assert listed - {"metaquant._data"} <= found, f"listed but missing: {sorted(listed - found - {'metaquant._data'})}"
    assert cfg["package-dir"]["metaquant._data"] == "data"


def test_shipped_files_match_package_data_patterns():
    import fnmatch

    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = cfg["package-data"]["metaquant._data"]
    import json

    for meta in json.loads((ROOT / "data" / "datasets.json").read_text()).values():
        assert any(fnmatch.fnmatch(meta["file"], pat) for pat in patterns), meta["file"]
        assert (ROOT / "data" / meta["file"]).is_file(), meta["file"]
