"""Documentation keeps up with the code: every command has --help and is in the README,
every setting the code reads is documented, every page is in the README's tab table, every
audit action the services write is in the README's list."""

import ast
import re
from pathlib import Path

import pytest

from kilo.__main__ import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return list(sub.choices)


@pytest.mark.parametrize("command", commands())
def test_every_command_has_help_and_is_documented(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    assert len(capsys.readouterr().out.splitlines()) > 3
    assert f"kilo {command}" in README, f"README does not mention `python -m kilo {command}`"


def test_every_environment_setting_is_documented():
    names = set()
    for path in [*ROOT.glob("kilo/**/*.py"), *ROOT.glob("ui/*.py"), ROOT / "app.py"]:
        names |= set(re.findall(r'environ(?:\.get)?\(\s*"([A-Z_]+)"', path.read_text()))
        names |= set(re.findall(r'environ\[\s*"([A-Z_]+)"\]', path.read_text()))
    assert "DATABASE_URL" in names
    missing = sorted(n for n in names if n not in README)
    assert not missing, f"undocumented settings: {missing}"


def test_every_page_is_in_the_readme():
    app = (ROOT / "app.py").read_text()
    titles = re.findall(r'\("pages/\w+\.py", "([^"]+)"', app)
    assert len(titles) == 7  # the six tabs and the member's own Account page
    for title in titles:
        assert f"| {title} |" in README


ACTION_NAME = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")


def audit_actions() -> set[str]:
    """Every `action=` passed to `audit.record(...)` in kilo/: a literal, or a local variable
    whose assignments hold the literals (members.py picks one of two)."""
    found: set[str] = set()
    for path in sorted(ROOT.glob("kilo/**/*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef):
                continue
            bound: dict[str, set[str]] = {}
            for node in ast.walk(func):
                if isinstance(node, ast.Assign):
                    strings = {
                        c.value
                        for c in ast.walk(node.value)
                        if isinstance(c, ast.Constant) and isinstance(c.value, str)
                    }
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            bound.setdefault(target.id, set()).update(strings)
            for node in ast.walk(func):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "record"
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "audit"
                ):
                    continue
                for kw in node.keywords:
                    if kw.arg != "action":
                        continue
                    if isinstance(kw.value, ast.Constant):
                        names = {kw.value.value}
                    elif isinstance(kw.value, ast.Name):
                        names = {n for n in bound.get(kw.value.id, ()) if ACTION_NAME.match(n)}
                    else:
                        names = set()
                    assert names, f"{path.name}:{node.lineno}: cannot tell which action it writes"
                    found |= names
    return found


def test_every_audit_action_is_in_the_readme():
    actions = audit_actions()
    assert {"billing.customer.link", "organization.member.change_role"} <= actions
    missing = sorted(a for a in actions if f"`{a}`" not in README)
    assert not missing, f"audit actions missing from the README's list: {missing}"
