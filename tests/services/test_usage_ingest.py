"""Usage file ingest: whole-file validation, formats, idempotency, audit, CLI."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kilo import usage
from kilo.__main__ import main
from kilo.errors import PermissionDenied, ValidationError
from kilo.members import actor_for
from kilo.models import AuditEntry, Member, UsageDaily, UsageEvent
from kilo.permissions import system_actor
from tests.factories import create_member, create_org

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
HEADER = (
    "timestamp,user_email,model,provider,mode,input_tokens,output_tokens,"
    "cache_read_tokens,cache_write_tokens,cost_usd,latency_ms,status,id\n"
)


@pytest.fixture
def org(session):
    org = create_org(session)
    admin = create_member(session, org, "admin", email="ada@example.com")
    create_member(session, org, "member", email="bob@example.com")
    session.commit()
    return org, admin


def _count(session, org_id):
    return session.execute(
        select(func.count()).select_from(UsageEvent).where(UsageEvent.org_id == org_id)
    ).scalar()


def test_native_csv_imports_with_audit_and_is_idempotent(session, org, tmp_path):
    org, admin = org
    path = tmp_path / "usage.csv"
    path.write_text(
        HEADER + "2026-03-01T10:00:00Z,ada@example.com,openai/gpt-5.4,openai,code,100,20,5,0,"
        "0.001500,800,success,a1\n"
        + "2026-03-01T12:30:00+02:00,BOB@example.com,openai/gpt-5.4,openai,ask,50,0,,,"
        "0,120,error,a2\n"
    )
    actor = actor_for(admin)
    result = usage.import_usage(session, actor=actor, path=path)
    assert (result.rows, result.imported, result.cost_micros) == (2, 2, 1500)
    entry = session.execute(
        select(AuditEntry).where(AuditEntry.action == "organization.usage.import")
    ).scalar_one()
    assert entry.details["imported"] == 2 and entry.target == "usage.csv"
    again = usage.import_usage(session, actor=actor, path=path)
    assert (again.imported, again.already_imported) == (0, 2)
    assert _count(session, org.id) == 2
    totals = usage.get_totals(
        session, actor=actor, f=usage.UsageFilter(start=date(2026, 3, 1), end=date(2026, 3, 1))
    )
    assert (totals["requests"], totals["errors"], totals["cost_micros"]) == (2, 1, 1500)


def test_bad_rows_report_line_numbers_and_store_nothing(session, org, tmp_path):
    org, _ = org
    path = tmp_path / "bad.csv"
    path.write_text(
        HEADER
        + "2026-03-01T10:00:00Z,ada@example.com,m/a,p,code,1,1,0,0,0.1,5,success,\n"
        + "2026-03-01 10:00:00,ada@example.com,m/a,p,code,1,1,0,0,0.1,5,success,\n"
        + "2026-03-01T10:00:00Z,ada@example.com,m/a,p,code,-4,1,0,0,0.1,5,success,\n"
        + "2026-03-01T10:00:00Z,nobody@example.com,m/a,p,code,1,1,0,0,0.1,5,success,\n"
        + "2026-03-01T10:00:00Z,ada@example.com,m/a,p,code,1,1,0,0,abc,5,success,\n"
    )
    with pytest.raises(ValidationError) as err:
        usage.import_usage(session, actor=system_actor(org.id), path=path)
    message = str(err.value)
    assert "nothing was stored" in message
    assert "line 3: timestamp" in message and "no time zone" in message
    assert "line 4: input_tokens" in message
    assert "line 5: unknown user nobody@example.com" in message
    assert "line 6: cost" in message
    assert _count(session, org.id) == 0
    assert session.execute(select(func.count()).select_from(UsageDaily)).scalar() == 0


def test_missing_columns_and_member_role_refused(session, org, tmp_path):
    org, _ = org
    path = tmp_path / "cols.csv"
    path.write_text("timestamp,user_email\n2026-03-01T10:00:00Z,ada@example.com\n")
    with pytest.raises(ValidationError, match="line 1: missing column"):
        usage.import_usage(session, actor=system_actor(org.id), path=path)
    bob = session.execute(select(Member).where(Member.email == "bob@example.com")).scalar_one()
    with pytest.raises(PermissionDenied):
        usage.import_usage(session, actor=actor_for(bob), path=path)


def test_jsonl(session, org, tmp_path):
    org, _ = org
    path = tmp_path / "usage.jsonl"
    rows = [
        {
            "timestamp": "2026-03-02T09:00:00Z",
            "user_email": "bob@example.com",
            "model": "anthropic/claude-sonnet-4.5",
            "provider": "anthropic",
            "mode": "debug",
            "input_tokens": 10,
            "output_tokens": 5,
            "cost_usd": "0.25",
            "latency_ms": 300,
            "status": "success",
        },
        {
            "timestamp": "2026-03-02T09:05:00Z",
            "user_email": "bob@example.com",
            "model": "anthropic/claude-sonnet-4.5",
            "provider": "anthropic",
            "mode": "debug",
            "input_tokens": 10,
            "output_tokens": 5,
            "cost_usd": 0.5,
            "latency_ms": 300,
            "status": "success",
        },
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\nnot json\n")
    with pytest.raises(ValidationError, match="line 4: not valid JSON"):
        usage.import_usage(session, actor=system_actor(org.id), path=path)
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = usage.import_usage(session, actor=system_actor(org.id), path=path)
    assert (result.file_format, result.imported, result.cost_micros) == ("jsonl", 2, 750_000)


def test_openrouter_exports_both_versions(session, org):
    org, _ = org
    actor = system_actor(org.id)
    with pytest.raises(ValidationError, match="names no user"):
        usage.import_usage(session, actor=actor, path=REAL / "usage-export.csv")
    assert _count(session, org.id) == 0
    new = usage.import_usage(
        session, actor=actor, path=REAL / "usage-export.csv", member_email="ada@example.com"
    )
    assert (new.file_format, new.rows, new.imported) == ("openrouter", 825, 825)
    assert new.cost_micros == 404_981  # sum of cost_total, exact
    assert "google/gemini-3-flash-preview" in new.models  # permaslug mapped to the model id
    old = usage.import_usage(
        session,
        actor=actor,
        path=REAL / "usage-export-2.csv",
        member_email="ada@example.com",
        key_members={"lois": "bob@example.com"},
    )
    assert (old.rows, old.imported, len(old.members)) == (453, 453, 2)
    errors = session.execute(
        select(func.count())
        .select_from(UsageEvent)
        .where(UsageEvent.org_id == org.id, UsageEvent.status == "error")
    ).scalar()
    assert errors == 1  # the one cancelled generation
    again = usage.import_usage(
        session, actor=actor, path=REAL / "usage-export.csv", member_email="ada@example.com"
    )
    assert again.already_imported == 825 and _count(session, org.id) == 825 + 453


def test_cli_ingest(db_url, tmp_path, capsys):
    from kilo.db import write_session

    with write_session() as s:
        org = create_org(s)
        create_member(s, org, "owner", email="olga@example.com")
    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER + "2026-03-01T10:00:00Z,olga@example.com,m/a,p,code,1,1,0,0,0.1,5,maybe,\n"
    )
    assert main(["ingest", str(bad)]) == 2
    assert "line 2: status" in capsys.readouterr().err
    good = tmp_path / "good.csv"
    good.write_text(
        HEADER + "2026-03-01T10:00:00Z,olga@example.com,m/a,p,code,1,1,0,0,0.1,5,success,x\n"
    )
    assert main(["ingest", str(good), "--dry-run"]) == 0
    assert "dry run" in capsys.readouterr().out
    assert main(["ingest", str(good)]) == 0
    assert "1 imported" in capsys.readouterr().out
