"""Documentation keeps up with the code: every command has --help and is in the README,
every setting the code reads is documented, every page is in the README's tab table."""

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
    for path in [*ROOT.glob("kilo/*.py"), *ROOT.glob("ui/*.py"), ROOT / "app.py"]:
        names |= set(re.findall(r'environ(?:\.get)?\(\s*"([A-Z_]+)"', path.read_text()))
        names |= set(re.findall(r'environ\[\s*"([A-Z_]+)"\]', path.read_text()))
    assert "DATABASE_URL" in names
    missing = sorted(n for n in names if n not in README)
    assert not missing, f"undocumented settings: {missing}"


def test_every_page_is_in_the_readme():
    app = (ROOT / "app.py").read_text()
    titles = re.findall(r'\("pages/\w+\.py", "([^"]+)"', app)
    assert len(titles) == 6
    for title in titles:
        assert f"| {title} |" in README
