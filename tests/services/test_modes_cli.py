"""`python -m kilo modes-import` / `modes-export`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from kilo.__main__ import main
from kilo.db import read_session
from kilo.models import AuditEntry, Mode
from tests.factories import create_team

REAL = Path(__file__).resolve().parents[1] / "data" / "real"


@pytest.fixture
def org_id(session):
    team = create_team(session)
    session.commit()
    return team["owner"].org_id


def test_import_dry_run_then_import_then_export(org_id, tmp_path, capsys):
    source = REAL / "modes-2.json"
    assert main(["modes-import", str(source), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "create    custom   translate" in out and "Dry run" in out
    with read_session() as s:
        assert s.exec(select(Mode)).all() == []
    assert main(["modes-import", str(source)]) == 0
    assert "2 created" in capsys.readouterr().out
    with read_session() as s:
        entries = s.exec(select(AuditEntry).where(AuditEntry.org_id == org_id)).all()
        assert [e.actor_name for e in entries] == ["System (CLI)"] * 2
    target = tmp_path / "out.yaml"
    assert main(["modes-export", "-o", str(target)]) == 0
    slugs = [m["slug"] for m in yaml.safe_load(target.read_text())["customModes"]]
    assert slugs == ["translate", "test"]
    assert main(["modes-export", "--all", "--format", "json"]) == 0
    assert '"slug": "orchestrator"' in capsys.readouterr().out


def test_invalid_file_prints_every_problem_and_exits_2(org_id, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "customModes:\n  - slug: A\n    name: ''\n    roleDefinition: r\n    groups: [read]\n"
    )
    assert main(["modes-import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "invalid: Mode 1 (“A”): slug “A” may only contain" in err
    assert "invalid: Mode 1 (“A”): name is required." in err
    assert "error: 2 problem(s); nothing was imported." in err
    assert main(["modes-import", str(tmp_path / "missing.yaml")]) == 2
    assert "Cannot read" in capsys.readouterr().err
