"""The Alembic migrations build exactly the schema kilo/models.py declares."""

import os
from datetime import UTC, date, datetime, timedelta

from alembic import command
from alembic.config import Config

from kilo import usage
from kilo.db import (
    ROOT,
    current_revisions,
    get_engine,
    head_revisions,
    migrate,
    read_session,
    write_session,
)
from tests.factories import create_team


def test_models_and_migrations_agree(db_url):
    migrate(db_url)  # idempotent: already at head
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["engine"] = get_engine(db_url)
    command.check(cfg)  # raises when autogenerate would find a difference


def test_upgrade_from_0001_keeps_events_and_fills_the_new_rollups(db_url):
    """A database made before revision 0002 keeps its events; the upgrade fills the hourly
    model x provider x mode and provider x mode rollups from them (0002), so the heatmaps
    under those filters show the same cells as the raw events; the events, rekeyed member
    first (0003), still give a member's heatmap and keep their ids, and events stored after
    the upgrade get new ones; the month x member x dimension rollup (0004) gives per-member
    statistics and active days under a model filter, and the day x provider x mode rollup
    (0005) the daily breakdown by provider under a mode filter."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["engine"] = get_engine(db_url)
    start = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
    with write_session(db_url) as s:
        team = create_team(s)
        owner = team["owner"]
        events = [
            {
                "at": start + timedelta(days=i % 9, hours=(5 * i) % 24, minutes=i),
                "member_id": (owner.id, team["member"].id)[i % 2],
                "model_id": ("anthropic/claude-sonnet-4.5", "openai/gpt-5.4")[i % 2],
                "provider": ("anthropic", "azure", "openai")[i % 3],
                "mode": ("code", "ask")[(i // 2) % 2],
                "input_tokens": 100 + i,
                "output_tokens": 10 * i,
                "cost_micros": 1_000 + 7 * i,
                "latency_ms": 300 + i,
                "status": "error" if i % 7 == 0 else "success",
            }
            for i in range(60)
        ]
        usage.insert_events(s, org_id=owner.org_id, events=events)
    # What a database of revision 0001 held: the events and that revision's rollups.
    command.downgrade(cfg, "0001")
    command.upgrade(cfg, "head")

    with read_session(db_url) as s:
        for filters in (
            {"provider": "azure", "mode": "ask"},
            {"model_id": "openai/gpt-5.4", "mode": "code"},
            {"model_id": "anthropic/claude-sonnet-4.5", "provider": "anthropic"},
            {"member_id": team["member"].id, "model_id": "openai/gpt-5.4"},  # raw events
        ):
            fields = {usage.DIMENSION_FIELDS[k]: (v,) for k, v in filters.items()}
            f = usage.UsageFilter(
                start=start.date(), end=start.date() + timedelta(days=9), **fields
            )
            heat = usage.get_heatmap(s, actor=owner, f=f)
            got = {
                (int(r.weekday), int(r.hour)): (int(r.requests), int(r.errors), int(r.cost_micros))
                for r in heat.itertuples()
                if r.requests
            }
            expected: dict[tuple[int, int], tuple[int, int, int]] = {}
            for e in events:
                if all(e[k] == v for k, v in filters.items()):
                    cell = (e["at"].weekday(), e["at"].hour)
                    req, err, cost = expected.get(cell, (0, 0, 0))
                    expected[cell] = (
                        req + 1,
                        err + (e["status"] != "success"),
                        cost + e["cost_micros"],
                    )
            assert got == expected and got, filters

        # 0004's rollup: per-member statistics under one dimension, from months.
        f = usage.UsageFilter(start=start.date(), end=date(2026, 3, 31), models=("openai/gpt-5.4",))
        stats = usage.list_member_usage(s, actor=owner, f=f)
        got = {int(r.member_id): (int(r.requests), int(r.active_days)) for r in stats.itertuples()}
        picked = [e for e in events if e["model_id"] == "openai/gpt-5.4"]
        expected_stats = {
            m: (
                sum(e["member_id"] == m for e in picked),
                len({e["at"].date() for e in picked if e["member_id"] == m}),
            )
            for m in {e["member_id"] for e in picked}
        }
        assert got == expected_stats and got
        # 0005's rollup: daily by provider under a mode filter.
        f = usage.UsageFilter(start=start.date(), end=date(2026, 3, 31), modes=("ask",))
        daily = usage.get_breakdown(s, actor=owner, f=f, by=("provider",), daily=True)
        got = {(r.day, r.provider): int(r.requests) for r in daily.itertuples()}
        expected_daily: dict[tuple, int] = {}
        for e in events:
            if e["mode"] == "ask":
                key = (e["at"].date(), e["provider"])
                expected_daily[key] = expected_daily.get(key, 0) + 1
        assert got == expected_daily and got

    with write_session(db_url) as s:
        usage.insert_events(s, org_id=owner.org_id, events=events[:5])
    with read_session(db_url) as s:
        conn = s.connection()
        ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM usageevent")]
        assert len(ids) == len(set(ids)) == len(events) + 5
        if conn.dialect.name == "sqlite":  # PostgreSQL numbers them with its sequence
            last = conn.exec_driver_sql("SELECT last_id FROM idsequence").scalar_one()
            assert last == max(ids)


def test_current_and_head_revisions(db_url, tmp_path):
    assert current_revisions(db_url) == head_revisions()
    assert len(head_revisions()) == 1
    assert current_revisions(f"sqlite:///{tmp_path / 'never-migrated.db'}") == ()


def test_processes_migrating_one_new_database_at_once_all_succeed(tmp_path):
    """The dashboard's server, a separate API process and the CLI each migrate at start-up;
    started together on a new database, one migrates and the others wait and find the schema
    at head (`kilo.db._migration_lock`): none fails on a table another one just created."""
    import subprocess
    import sys

    from tests.conftest import PG_URL, _pg_admin, _pg_recreate

    if PG_URL:
        name = f"kilo_migrate_race_{os.getpid()}"
        url = _pg_recreate(name)
    else:
        url = f"sqlite:///{tmp_path / 'race.db'}"
    script = "import sys; from kilo import db; db.migrate(sys.argv[1])"
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script, url],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(4)
        ]
        outputs = [p.communicate(timeout=180)[0].decode(errors="replace") for p in procs]
        assert [p.returncode for p in procs] == [0] * 4, "\n".join(outputs)[-3000:]
        assert current_revisions(url) == head_revisions()
    finally:
        get_engine(url).dispose()
        if PG_URL:
            from sqlalchemy import text

            admin = _pg_admin()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def test_invoices_issued_before_0011_have_no_recorded_parties(db_url, seller_env):
    """Revision 0011 records nothing for invoices already issued (the seller settings live
    in the environment, not in the database): they print the current details, labelled."""
    from kilo import billing
    from kilo.models import Invoice
    from tests.factories import create_top_up

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["engine"] = get_engine(db_url)
    with write_session(db_url) as s:
        owner = create_team(s)["owner"]
        invoice_id = create_top_up(s, owner, 5_000).id
    command.downgrade(cfg, "0010")
    command.upgrade(cfg, "head")
    with read_session(db_url) as s:
        invoice = s.get(Invoice, invoice_id)
        assert invoice.parties is None and invoice.number
        [row] = billing.list_invoices(s, actor=owner)
        assert not row.seller_recorded and "printed as set on" in row.parties_note
        assert billing.invoice_pdf(s, actor=owner, invoice_id=invoice_id).startswith(b"%PDF-")
