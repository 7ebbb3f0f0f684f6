"""No function in metaquant/ is longer than 60 lines unless a comment above it says why ("# Long on purpose: ...")."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "metaquant"
LIMIT = 60


def _long_functions():
    for path in sorted(PKG.rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            body = node.body
            first = body[1] if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and len(body) > 1 else body[0]
            length = node.end_lineno - first.lineno + 1
            if length <= LIMIT:
                continue
            top = min([d.lineno for d in node.decorator_list] + [node.lineno])
            above = lines[top - 2].strip() if top >= 2 else ""
            # the reason may span several comment lines: find the block's first line
            k = top - 2
            while k > 0 and lines[k - 1].strip().startswith("#"):
                k -= 1
            block = " ".join(x.strip() for x in lines[k:top - 1])
            if not (above.startswith("#") and "Long on purpose" in block):
                yield f"{path.relative_to(PKG)}:{node.lineno} {node.name} ({length} lines)"


def test_long_functions_say_why():
    assert list(_long_functions()) == []
