"""Audit log benchmark: page queries and period totals at 1,000,000 entries.

Builds a database with one organization holding N hash-chained entries (default 1,000,000)
spread over a year, 30 action names, 200 members and the system actor, plus a small second
organization; then prints the median time of the Audit Logs tab's queries.
Target: a filtered page query at most 100 ms.

    .venv/bin/python bench/audit_bench.py                       # SQLite file in a temp dir
    .venv/bin/python bench/audit_bench.py --entries 100000      # quicker
    .venv/bin/python bench/audit_bench.py --url postgresql+psycopg://postgres@127.0.0.1:5432/audit_bench

With --url the database is dropped and recreated (PostgreSQL) or must not exist (SQLite).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import Session  # noqa: E402

from kilo import audit, db  # noqa: E402
from kilo.audit import SYSTEM_ACTOR_ID, AuditFilter, Cursor  # noqa: E402
from kilo.models import AuditEntry, Member, Organization  # noqa: E402
from kilo.permissions import Actor  # noqa: E402

ACTIONS = [
    *(
        f"organization.member.{v}"
        for v in (
            "invite",
            "accept_invitation",
            "revoke_invitation",
            "remove",
            "change_role",
            "update",
        )
    ),
    "organization.settings.change",
    "organization.seats.change",
    "organization.create",
    "organization.user.login",
    "organization.user.logout",
    *(f"organization.access.{v}" for v in ("allow", "deny", "reset")),
    *(f"organization.mode.{v}" for v in ("create", "update", "delete", "import")),
    *(f"billing.credits.{v}" for v in ("purchase", "refund", "adjust")),
    "billing.invoice.pay",
    "billing.details.change",
    "usage.import.file",
    "usage.import.api",
    "catalog.import.snapshot",
    "catalog.model.approve",
    "organization.policy.change",
]
# Logins dominate real logs; a few actions are rare.
WEIGHTS = [
    3,
    3,
    1,
    1,
    2,
    2,
    4,
    1,
    0.01,
    120,
    90,
    2,
    2,
    0.5,
    2,
    2,
    0.5,
    0.5,
    2,
    0.2,
    0.2,
    1,
    0.3,
    6,
    1,
    0.3,
    0.5,
    0.4,
]
MEMBERS = 200
DAYS = 365
BATCH = 20_000


def build(url: str, entries: int, seed: int = 1) -> tuple[int, list[int]]:
    db.migrate(url)
    engine = db.get_engine(url)
    rng = random.Random(seed)
    with Session(engine) as s:
        small = Organization(name="Small Org")
        org = Organization(name="Big Org", seats=MEMBERS + 10)
        s.add_all([small, org])
        s.flush()
        members = []
        for i in range(MEMBERS):
            m = Member(
                org_id=org.id,
                username=f"user{i}@big.example",
                name=f"User {i:03d}",
                email=f"user{i}@big.example",
                role="admin" if i < 5 else "member",
                password_hash="x",
            )
            s.add(m)
            members.append(m)
        s.commit()
        org_id, member_ids = org.id, [m.id for m in members]
        small_id = small.id
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=DAYS)
    span = (end - start).total_seconds()
    # Times increase with id (as record() writes them), with jitter and duplicates.
    stamps = sorted(start + timedelta(seconds=rng.random() * span) for _ in range(entries))
    prev = {org_id: "", small_id: ""}
    table = AuditEntry.__table__
    t0 = time.perf_counter()
    rows: list[dict] = []
    with engine.begin() as conn:
        for i, at in enumerate(stamps):
            o = small_id if i % 1000 == 999 else org_id
            action = rng.choices(ACTIONS, WEIGHTS)[0]
            who = rng.random()
            actor_id = (
                None
                if who < 0.03
                else member_ids[min(int(rng.paretovariate(1.2)) - 1, MEMBERS - 1)]
            )
            name = "System (CLI)" if actor_id is None else f"User {actor_id:03d}"
            email = "" if actor_id is None else f"user{actor_id}@big.example"
            target = f"user{rng.randrange(MEMBERS)}@big.example"
            row = SimpleNamespace(
                org_id=o,
                created_at=at,
                actor_id=actor_id,
                actor_name=name,
                actor_email=email,
                action=action,
                target=target,
                message=f"{action.rsplit('.', 1)[-1]} {target} (#{i})",
                details={"n": i, "before": rng.randrange(100), "after": rng.randrange(100)},
                prev_hash=prev[o],
            )
            row.hash = audit.entry_hash(row)
            prev[o] = row.hash
            rows.append(vars(row))
            if len(rows) == BATCH:
                conn.execute(insert(table), rows)
                rows = []
        if rows:
            conn.execute(insert(table), rows)
    load_s = time.perf_counter() - t0
    with Session(engine) as s:
        audit.rebuild_daily(s, org_id=org_id)
        audit.rebuild_daily(s, org_id=small_id)
        s.commit()
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        conn.commit()
    print(f"built {entries:,} entries in {load_s:.1f} s (hashing + insert)")
    return org_id, member_ids


def timed(fn, runs: int) -> tuple[float, object]:  # noqa: ANN001
    times, result = [], None
    for i in range(runs):
        t = time.perf_counter()
        result = fn(i)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


def run(url: str, org_id: int, member_ids: list[int], runs: int) -> None:
    engine = db.get_engine(url)
    owner = Actor(id=member_ids[0], org_id=org_id, role="owner", name="Owner", email="")
    rng = random.Random(2)
    now = datetime.now(UTC)

    def period(days: int) -> tuple[datetime, datetime]:
        # Random, not aligned to midnight: both edge days are partial.
        end = now - timedelta(days=rng.uniform(0, 200), minutes=rng.randrange(1440))
        return end - timedelta(days=days), end

    def deep_cursor(s: Session, f: AuditFilter, pages: int) -> Cursor | None:
        cursor = None
        for _ in range(pages):
            cursor = audit.list_entries(s, actor=owner, filters=f, cursor=cursor).next_cursor
        return cursor

    three = (
        "organization.member.invite",
        "organization.settings.change",
        "billing.credits.purchase",
    )
    cases = {
        "page: no filter (first page)": lambda: AuditFilter(),
        "page: 3 actions + 30-day period": lambda: AuditFilter(three, None, *period(30)),
        "page: 1 rare action, whole log": lambda: AuditFilter(("organization.create",)),
        "page: actor + 90-day period": lambda: AuditFilter(
            (), rng.choice(member_ids[:50]), *period(90)
        ),
        "page: actor + 2 actions": lambda: AuditFilter(
            ("organization.user.login", "organization.settings.change"), rng.choice(member_ids[:20])
        ),
        "page: system actor": lambda: AuditFilter((), SYSTEM_ACTOR_ID),
        "page: 20 actions (single IN query)": lambda: AuditFilter(tuple(ACTIONS[:20])),
        "page: search common word, 30 days": lambda: AuditFilter(
            (), None, *period(30), search="logout"
        ),
        "page: search rare text, 30 days": lambda: AuditFilter(
            (), None, *period(30), search=f"(#{rng.randrange(10**6)})"
        ),
    }
    print(f"\nmedian of {runs} runs (ms), database {make_url(url).get_backend_name()}")
    print(f"{'query':44} {'median ms':>10}  rows")
    with Session(engine) as s:
        for label, make in cases.items():
            ms, page = timed(
                lambda _i, make=make: audit.list_entries(s, actor=owner, filters=make()), runs
            )
            print(f"{label:44} {ms:10.1f}  {len(page.entries)}")
            s.expunge_all()
        f = AuditFilter(three, None, *period(30))
        cur = deep_cursor(s, AuditFilter(three), 20)
        ms, page = timed(
            lambda _i: audit.list_entries(s, actor=owner, filters=AuditFilter(three), cursor=cur),
            runs,
        )
        print(f"{'page: 3 actions, page 21 (keyset)':44} {ms:10.1f}  {len(page.entries)}")
        totals = {
            "total: whole log": lambda: AuditFilter(),
            "total: 30-day period (partial edge days)": lambda: AuditFilter((), None, *period(30)),
            "total: 365-day period, 3 actions": lambda: AuditFilter(three, None, *period(365)),
            "total: 90-day period, one actor": lambda: AuditFilter(
                (), rng.choice(member_ids[:50]), *period(90)
            ),
            "total: 30 days, search": lambda: AuditFilter((), None, *period(30), search="logout"),
        }
        for label, make in totals.items():
            ms, n = timed(
                lambda _i, make=make: audit.count_entries(s, actor=owner, filters=make()), runs
            )
            print(f"{label:44} {ms:10.1f}  {n:,}")
        ms, rows = timed(
            lambda _i: audit.events_per_day(
                s, actor=owner, filters=AuditFilter((), None, *period(90))
            ),
            runs,
        )
        print(f"{'chart: per day by group, 90 days':44} {ms:10.1f}  {len(rows)}")
        ms, data = timed(lambda _i: audit.export_file(s, actor=owner, filters=f), 3)
        lines = data.count(b"\n") - 1
        print(f"{'export CSV: 3 actions, 30 days':44} {ms:10.1f}  {lines:,}")
        t = time.perf_counter()
        report = audit.verify_chain(s, org_id=org_id)
        print(
            f"{'verify chain (once, whole log)':44} {(time.perf_counter() - t) * 1000:10.1f}"
            f"  {report.checked:,} ok={report.ok}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--url", help="database URL (default: a new SQLite file in a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{tmp}/audit_bench.db"
        if url.startswith("postgresql"):
            u = make_url(url)
            admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{u.database}"'))
            admin.dispose()
        org_id, member_ids = build(url, args.entries)
        run(url, org_id, member_ids, args.runs)
        db.get_engine(url).dispose()


if __name__ == "__main__":
    main()
