"""Documentation keeps up with the code: every command has --help and is in the README,
every setting the code reads is documented, every page is in the README's tab table, every
audit action the services write is in the README's list."""

import ast
import re
from pathlib import Path

import pytest

from kilo.__main__ import build_parser
from kilo.audit import AUDIT_ACTIONS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def kilo_sources() -> list[Path]:
    """Every module of kilo/, subpackages included."""
    return sorted(ROOT.glob("kilo/**/*.py"))


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
    for path in [*kilo_sources(), *ROOT.glob("ui/*.py"), ROOT / "app.py"]:
        names |= set(re.findall(r'environ(?:\.get)?\(\s*"([A-Z_]+)"', path.read_text()))
        names |= set(re.findall(r'environ\[\s*"([A-Z_]+)"\]', path.read_text()))
    assert "DATABASE_URL" in names
    # The LiteLLM plugin's settings (read through a helper in one module).
    names |= set(re.findall(r'"(KILO_[A-Z_]+)"', (ROOT / "kilo_litellm/settings.py").read_text()))
    assert "KILO_DECISION_GRACE" in names
    missing = sorted(n for n in names if n not in README)
    assert not missing, f"undocumented settings: {missing}"


def test_every_page_is_in_the_readme():
    app = (ROOT / "app.py").read_text()
    titles = re.findall(r'\("pages/\w+\.py", "([^"]+)"', app)
    assert len(titles) == 7  # the six tabs and the member's own Account page
    for title in titles:
        assert f"| {title} |" in README


ACTION_NAME = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
AUDIT_MODULES = {"kilo.audit", "kilo.audit.log"}  # where `record` can be imported from


def record_calls(tree: ast.AST) -> set[tuple[str | None, str]]:
    """How `audit.record` is reachable in a module: (object name, attribute) or (None, name).

    `from kilo import audit` gives ("audit", "record"); `import kilo.audit as log` gives
    ("log", "record"); `from kilo.audit import record as r` gives (None, "r")."""
    found: set[tuple[str | None, str]] = {("audit", "record")}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "kilo":
            found |= {(a.asname or a.name, "record") for a in node.names if a.name == "audit"}
        elif isinstance(node, ast.ImportFrom) and node.module in AUDIT_MODULES:
            found |= {(None, a.asname or a.name) for a in node.names if a.name == "record"}
        elif isinstance(node, ast.Import):
            found |= {
                (a.asname, "record") for a in node.names if a.name in AUDIT_MODULES and a.asname
            }
    return found


def is_record_call(node: ast.AST, calls: set[tuple[str | None, str]]) -> bool:
    if not isinstance(node, ast.Call):
        return False
    if isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
        return (node.func.value.id, node.func.attr) in calls
    return isinstance(node.func, ast.Name) and (None, node.func.id) in calls


def audit_actions() -> set[str]:
    """Every `action=` passed to `audit.record(...)` anywhere in kilo/ (subpackages too): a
    literal, or a local variable whose assignments hold the literals (members picks one of two)."""
    found: set[str] = set()
    for path in kilo_sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        calls = record_calls(tree)
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
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
                if not is_record_call(node, calls):
                    continue
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                kw = next((k for k in node.keywords if k.arg == "action"), None)
                assert kw is not None, f"{where}: audit.record without action="
                if isinstance(kw.value, ast.Constant):
                    names = {kw.value.value}
                elif isinstance(kw.value, ast.Name):
                    names = {n for n in bound.get(kw.value.id, ()) if ACTION_NAME.match(n)}
                else:
                    names = set()
                assert names, f"{where}: cannot tell which action it writes"
                found |= names
    return found


def test_the_action_scan_reads_subpackages():
    actions = audit_actions()
    # Written in kilo/catalog/ and kilo/access/, and at the top level (billing, members).
    assert {
        "catalog.import",
        "organization.model_access.change",
        "billing.customer.link",
        "organization.member.change_role",
    } <= actions


def test_every_audit_action_is_in_the_registry():
    missing = sorted(audit_actions() - AUDIT_ACTIONS.keys())
    assert not missing, f"audit actions missing from kilo.audit.AUDIT_ACTIONS: {missing}"


def test_the_registry_holds_only_recorded_actions_with_a_description():
    unused = sorted(AUDIT_ACTIONS.keys() - audit_actions())
    assert not unused, f"AUDIT_ACTIONS lists actions nothing records: {unused}"
    for action, description in AUDIT_ACTIONS.items():
        assert ACTION_NAME.match(action), action
        assert description.strip() and "\n" not in description, f"{action}: one line, please"


def test_every_audit_action_is_in_the_readme():
    actions = audit_actions() | AUDIT_ACTIONS.keys()
    assert {"billing.customer.link", "organization.member.change_role"} <= actions
    missing = sorted(a for a in actions if f"`{a}`" not in README)
    assert not missing, f"audit actions missing from the README's list: {missing}"
