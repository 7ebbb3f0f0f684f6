"""The import graph of docs/architecture.md holds: data flows one way and no engine imports another.

Every import inside ``metaquant/`` (module level and the lazy ones inside functions) is read from the source with
:mod:`ast`.  The unit of the layer table is a *package* (or a module standing at the top of ``metaquant/``): a new
file inside a package needs no entry here, a new package or top-level module does, and in the document too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "metaquant"

#: Layers from the bottom; a unit may import inside itself and anything in a lower layer.
LAYERS = [
    {"errors", "_home"},
    {"results", "scale", "outputs", "progress", "parallel"},
    {"evidence"},
    {"spec"},
    {"classical", "bayes", "ssm"},
    {"fitting"},
    {"workbench"},
    {"present"},
    {"api"},
    {"cli"},
]
#: The engines: none imports another (what they share lives below them, in ``scale`` and ``evidence``).
ENGINES = {"classical", "bayes", "ssm"}
#: Outside the flow: the benchmark harness emits evidence rows and reads only the core; only the CLI calls it.
SIDE = {"bench": {"errors", "results", "scale", "outputs", "progress", "evidence"}}
#: The most modules that stand flat at the top of ``metaquant/``.
MAX_TOP = 12


def _module(path: Path) -> str:
    """Dotted name of one file (``metaquant.classical.rma``; a package's ``__init__`` is the package)."""
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(path: Path) -> list[str]:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return parts[:-1]


def imports(path: Path) -> set[str]:
    """Dotted metaquant modules imported by one file (relative and absolute, lazy imports included).

    ``from . import x`` names the module ``pkg.x`` when ``x`` is a module or package, else the package itself.
    """
    pkg = _package(path)
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(pkg[: len(pkg) - (node.level - 1)] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.add(sub if sub in ALL else base)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m == "metaquant" or m.startswith("metaquant.")}


FILES = sorted(PKG.rglob("*.py"))
ALL = {_module(p) for p in FILES}


def unit(module: str) -> str:
    """The layer unit of a dotted module: ``metaquant.classical.rma`` -> ``classical``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(u: str) -> int:
    for i, layer in enumerate(LAYERS):
        if u in layer:
            return i
    raise KeyError(u)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_imports_follow_the_layers(path):
    me = unit(_module(path))
    if me in ("__init__", "_data"):
        return
    deps = {unit(m) for m in imports(path)} - {me, "__init__", "_data"}
    if me in SIDE:
        assert deps <= SIDE[me], f"{me} imports {sorted(deps - SIDE[me])}"
        return
    assert me in {u for layer in LAYERS for u in layer}, f"{me} is in no layer of docs/architecture.md"
    mine = _layer(me)
    for d in deps:
        if d in SIDE:
            assert me == "cli", f"{me} imports the side package {d}"
            continue
        assert _layer(d) < mine, f"{path.relative_to(PKG)} ({me}, layer {mine}) imports {d} (layer {_layer(d)})"


def test_no_engine_imports_another_engine():
    for path in FILES:
        me = unit(_module(path))
        if me not in ENGINES:
            continue
        others = {unit(m) for m in imports(path)} & (ENGINES - {me})
        assert not others, f"{path.relative_to(PKG)} imports {others}"


def test_few_modules_stand_at_the_top():
    top = sorted(p.stem for p in PKG.glob("*.py") if p.stem != "__init__")
    assert len(top) <= MAX_TOP, top
    packages = {p.name for p in PKG.iterdir() if (p / "__init__.py").exists()}
    layered = {u for layer in LAYERS for u in layer} | set(SIDE)
    assert set(top) | packages <= layered, sorted((set(top) | packages) - layered)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_has_no_cycle():
    """Module by module (a package's ``__init__`` is a module too), lazy imports inside functions included."""
    graph = {_module(p): {m for m in imports(p) if m in ALL} for p in FILES}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_document_draws_the_same_layers():
    import re

    doc = (PKG.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = doc.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| ([^|]+) \|", section, flags=re.M)
    drawn = [set(re.findall(r"`(\w+)`", units)) for _, units in rows]
    assert drawn == LAYERS


def _calls_and_defs(name: str) -> tuple[list[str], list[str]]:
    """Where ``name`` is defined and where it is called (``file:function``), read with :mod:`ast`."""
    defs, calls = [], []
    for path in FILES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                if fn.name == name:
                    defs.append(f"{path.relative_to(PKG)}:{fn.name}")
                for node in ast.walk(fn):
                    if isinstance(node, ast.Call):
                        f = node.func
                        called = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
                        if called == name:
                            calls.append(f"{path.relative_to(PKG)}:{fn.name}")
    return defs, sorted(set(calls))


def test_the_variance_policy_is_applied_by_one_function_called_from_one_place():
    defs, calls = _calls_and_defs("apply_variance_policy")
    assert defs == ["spec.py:apply_variance_policy"]
    assert calls == ["fitting.py:fit_table"]
    # and no second vocabulary: the first version's word "error" survives only as an accepted alias
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        assert "UNKNOWN_VI_POLICIES" not in text and "prepare_with_policy" not in text, path


def test_the_call_finder_finds_calls():
    defs, calls = _calls_and_defs("fit_table")
    assert defs == ["fitting.py:fit_table"] and "fitting.py:fit_or_reason" in calls


def _defined(name: str) -> list[str]:
    """Modules that define a module-level function ``name``."""
    out = []
    for path in FILES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(n, ast.FunctionDef) and n.name == name for n in tree.body):
            out.append(str(path.relative_to(PKG)))
    return out


@pytest.mark.parametrize("name, home", [("fit_classical", "classical/engine.py"), ("fit_table", "fitting.py"),
                                        ("format_table", "present/tables.py")])
def test_a_name_means_one_thing(name, home):
    """A function name that two modules used with two contracts is defined once."""
    assert _defined(name) == [home]
    assert _defined("fit_ssm") == []
