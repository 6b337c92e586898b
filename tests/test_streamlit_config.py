"""`.streamlit/config.toml` settings that the code relies on."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]


def _config() -> dict:
    return tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())


def _magic_lines(path: Path) -> list[int]:
    """Lines Streamlit's magic would write to the page: a bare expression that is not a
    call, a docstring, a yield or an await (streamlit.runtime.scriptrunner.magic)."""
    tree = ast.parse(path.read_text(), str(path))
    lines = []
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            for i, stmt in enumerate(block):
                if not isinstance(stmt, ast.Expr) or isinstance(
                    stmt.value, ast.Call | ast.Yield | ast.YieldFrom | ast.Await
                ):
                    continue
                docstring = (
                    i == 0
                    and isinstance(stmt.value, ast.Constant)
                    and isinstance(stmt.value.value, str)
                    and isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef)
                )
                if not docstring:
                    lines.append(stmt.lineno)
    return lines


def test_magic_is_off_and_no_script_needs_it():
    assert _config()["runner"]["magicEnabled"] is False
    assert {p.name: _magic_lines(p) for p in SCRIPTS if _magic_lines(p)} == {}


def test_the_magic_check_finds_a_bare_expression(tmp_path):
    script = tmp_path / "page.py"
    script.write_text('"""Doc."""\nimport streamlit as st\n\nx = 1\nx\nst.write(x)\n"value"\n')
    assert _magic_lines(script) == [5, 7]
