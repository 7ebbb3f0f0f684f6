"""The import graph of docs/architecture.md holds: data flows one way and no engine imports another.

Every import inside ``metaquant/`` (module level and the lazy ones inside functions) is read from the source with
:mod:`ast` and checked against the layers below.  A new module must be placed in a layer here and in the document.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "metaquant"

#: Layers from the bottom; a module may import its own layer's family and anything below.
LAYERS = [
    {"errors"},
    {"results", "schema", "scale", "outputs", "progress"},
    {"tables"},
    {"io"},
    {"effects", "covariance"},
    {"spec"},
    {"ssm", "bayes", "frequentist", "classical", "multilevel", "robust", "influence", "bias", "unstructured", "wald",
     "blup", "residuals"},
    {"fitting"},
    {"compare", "predict"},
    {"sensitivity"},
    {"plots", "plots_bias", "plots_influence"},
    {"report"},
    {"api"},
    {"cli"},
]
#: Engine families: an engine may import inside its family only (the classical family shares rma's pieces).
CLASSICAL = {"frequentist", "classical", "multilevel", "robust", "influence", "bias", "unstructured", "wald", "blup",
             "residuals"}
FAMILIES = [{"ssm"}, {"bayes"}, CLASSICAL]
#: Outside the flow: the benchmark harness emits evidence rows and reads only the core.
SIDE = {"bench": LAYERS[0] | LAYERS[1] | LAYERS[3]}


def _top(name: str) -> str:
    return name.split(".")[0]


def _imports(path: Path) -> set[str]:
    """Top-level metaquant modules imported by one file (relative and absolute, lazy included)."""
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    pkg = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    if parts[-1] == "__init__":
        pkg = parts[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - (node.level - 1)]
                mods = [".".join(base + [node.module])] if node.module else [".".join(base + [a.name])
                                                                             for a in node.names]
            else:
                mods = [node.module or ""]
        elif isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        else:
            continue
        for m in mods:
            if m.startswith("metaquant.") and m != "metaquant":
                out.add(_top(m[len("metaquant."):]))
    return out


def _layer(mod: str) -> int:
    for i, layer in enumerate(LAYERS):
        if mod in layer:
            return i
    raise KeyError(mod)


MODULES = sorted(p for p in PKG.rglob("*.py") if p.parent == PKG or p.parent.parent == PKG)


def _name(p: Path) -> str:
    rel = p.relative_to(PKG)
    return rel.parts[0].removesuffix(".py")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PKG)))
def test_imports_follow_the_layers(path):
    me = _name(path)
    if me in ("__init__", "_data"):
        return
    deps = _imports(path) - {me, "__version__", "_data"}
    if me in SIDE:
        assert deps <= SIDE[me], f"{me} imports {sorted(deps - SIDE[me])}"
        return
    assert me in {m for layer in LAYERS for m in layer}, f"{me} is in no layer of docs/architecture.md"
    mine = _layer(me)
    family = next((f for f in FAMILIES if me in f), {me})
    for d in deps:
        if d in SIDE:
            assert me == "cli", f"{me} imports the side module {d}"
            continue
        assert _layer(d) < mine or d in family, f"{me} (layer {mine}) imports {d} (layer {_layer(d)})"


def test_no_engine_imports_another_engine():
    for path in MODULES:
        me = _name(path)
        fam = next((f for f in FAMILIES if me in f), None)
        if fam is None:
            continue
        others = set().union(*(f for f in FAMILIES if f is not fam))
        assert not (_imports(path) & others), f"{path.relative_to(PKG)} imports {_imports(path) & others}"
