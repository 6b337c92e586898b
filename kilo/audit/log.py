"""Audit log writing and verification: hash-chained entries, the daily rollup, the chain check.

Entries are written by `record()` in the caller's transaction, so an entry exists exactly when
the change it describes was committed. Each entry's hash covers its content and the previous
entry's hash (per organization, in id order), so altering, removing or inserting an entry
breaks the chain at that point; `verify_chain` names the first bad entry. The application
never updates or deletes entries. `record()` also keeps `AuditDaily` (entries per UTC day and
action) so period totals and the per-day chart stay fast at millions of entries; because it
is kept as entries are written, `compare_daily_rollup` also shows entries removed from the end
of a chain (which leaves the chain itself valid).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, func, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from kilo.models import AuditDaily, AuditEntry, utcnow
from kilo.permissions import Actor, ensure_allowed

# ---- writing ---------------------------------------------------------------------------


def _normalise(details: dict[str, Any] | None) -> dict[str, Any]:
    # What we hash must be exactly what the JSON column gives back.
    return json.loads(json.dumps(details or {}, default=str, sort_keys=True))


def entry_hash(entry: Any) -> str:
    """SHA-256 over an entry's content and its predecessor's hash (`prev_hash`).

    `entry` is an AuditEntry or any row with the same attribute names.
    """
    payload = json.dumps(
        [
            entry.org_id,
            entry.created_at.astimezone(UTC).isoformat(),
            entry.actor_id,
            entry.actor_name,
            entry.actor_email,
            entry.action,
            entry.target,
            entry.message,
            entry.details,
            entry.prev_hash,
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _lock_chain(session: Session, org_id: int) -> None:
    # SQLite writers already hold the database write lock (BEGIN IMMEDIATE).
    if _dialect(session) == "postgresql":
        session.exec(text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=7_000_000 + org_id))


def _bump_daily(session: Session, *, org_id: int, day: date, action: str, n: int = 1) -> None:
    insert = postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert
    stmt = insert(AuditDaily).values(org_id=org_id, day=day, action=action, entries=n)
    stmt = stmt.on_conflict_do_update(
        index_elements=["org_id", "day", "action"],
        set_={"entries": AuditDaily.entries + stmt.excluded.entries},
    )
    session.execute(stmt)


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    target: str = "",
    message: str = "",
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Add an audit entry to the session's transaction (committed with the change)."""
    if at is not None and at.tzinfo is None:
        raise ValueError("Audit times must be timezone-aware")
    _lock_chain(session, actor.org_id)
    prev = session.exec(
        select(AuditEntry.hash)
        .where(AuditEntry.org_id == actor.org_id)
        .order_by(col(AuditEntry.id).desc())
        .limit(1)
    ).first()
    entry = AuditEntry(
        org_id=actor.org_id,
        created_at=(at or utcnow()).astimezone(UTC),
        actor_id=actor.id,
        actor_name=(actor.name or "")[:100],
        actor_email=(actor.email or "")[:254],
        action=action,
        target=(target or "")[:300],
        message=message or "",
        details=_normalise(details),
        prev_hash=prev or "",
    )
    entry.hash = entry_hash(entry)
    session.add(entry)
    session.flush()
    _bump_daily(session, org_id=actor.org_id, day=entry.created_at.date(), action=action)
    return entry


def rebuild_daily(session: Session, *, org_id: int) -> int:
    """Recompute the `AuditDaily` rollup of an organization from its entries (maintenance).

    Returns the number of rollup rows written.
    """
    session.execute(delete(AuditDaily).where(AuditDaily.org_id == org_id))
    day = day_expr(session)
    rows = session.exec(
        select(day, AuditEntry.action, func.count())
        .where(AuditEntry.org_id == org_id)
        .group_by(day, AuditEntry.action)
    ).all()
    session.add_all(
        AuditDaily(org_id=org_id, day=as_date(d), action=a, entries=int(n)) for d, a, n in rows
    )
    session.flush()
    return len(rows)


# ---- days of entries (shared with the period totals) ----------------------------------


def day_expr(session: Session) -> Any:
    """The UTC day of an entry's `created_at`, as a SQL expression."""
    if _dialect(session) == "postgresql":
        return func.date(func.timezone("UTC", AuditEntry.created_at))
    return func.date(AuditEntry.created_at)  # SQLite stores UTC text


def as_date(value: Any) -> date:
    """A day as the database returns it (date, datetime or ISO text) as a `date`."""
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


# ---- chain verification ------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    checked: int
    ok: bool
    first_bad_id: int | None = None
    problem: str = ""
    head_id: int | None = field(default=None, compare=False)  # last entry checked (when ok)
    head_hash: str = field(default="", compare=False)


_CHAIN_COLUMNS = (
    AuditEntry.id,
    AuditEntry.org_id,
    AuditEntry.created_at,
    AuditEntry.actor_id,
    AuditEntry.actor_name,
    AuditEntry.actor_email,
    AuditEntry.action,
    AuditEntry.target,
    AuditEntry.message,
    AuditEntry.details,
    AuditEntry.prev_hash,
    AuditEntry.hash,
)


def verify_chain(session: Session, *, org_id: int, batch: int = 5000) -> ChainReport:
    """Walk the chain in id order; name the first entry that was altered, removed or inserted."""
    prev_hash, prev_id = "", None
    checked = 0
    while True:
        rows = session.exec(
            select(*_CHAIN_COLUMNS)
            .where(AuditEntry.org_id == org_id, AuditEntry.id > (prev_id or 0))
            .order_by(col(AuditEntry.id))
            .limit(batch)
        ).all()
        if not rows:
            return ChainReport(checked, True, head_id=prev_id, head_hash=prev_hash)
        for entry in rows:
            if entry.prev_hash != prev_hash:
                after = f"entry {prev_id}" if prev_id else "the start of the log"
                return ChainReport(
                    checked,
                    False,
                    entry.id,
                    f"entry {entry.id} does not follow {after}: an entry between them was "
                    f"removed, or entry {entry.id} was inserted or altered",
                )
            if entry_hash(entry) != entry.hash:
                return ChainReport(
                    checked,
                    False,
                    entry.id,
                    f"entry {entry.id} was altered after it was written (its content no longer "
                    "matches its hash)",
                )
            prev_hash, prev_id = entry.hash, entry.id
            checked += 1


def check_anchor(session: Session, *, org_id: int, entry_id: int, expected_hash: str) -> str:
    """Compare a head recorded earlier (e.g. printed by verify-audit) with the log now.

    A verified chain cannot show entries removed from its end, or a log rewritten and re-hashed
    from some point on; an anchor kept outside the database can. Returns the problem, or "".
    """
    found = session.exec(
        select(AuditEntry.hash).where(AuditEntry.org_id == org_id, AuditEntry.id == entry_id)
    ).first()
    if found is None:
        return (
            f"entry {entry_id} (the recorded anchor) no longer exists: entries were removed "
            "from the log"
        )
    if found != expected_hash:
        return f"entry {entry_id} no longer has the recorded hash: the log was rewritten"
    return ""


@dataclass(frozen=True)
class DayMismatch:
    """A UTC day on which the log and the `AuditDaily` rollup count different entries."""

    day: date
    log: int  # entries in the log (the chain) that day
    rollup: int  # entries the rollup counted as they were written

    def describe(self) -> str:
        return (
            f"{self.day}: the log has {self.log:,} entries, the daily rollup counts {self.rollup:,}"
        )


def compare_daily_rollup(session: Session, *, org_id: int) -> list[DayMismatch]:
    """Entries per UTC day in the log against the rollup `record()` kept in the same transaction.

    Removing entries (also the newest ones, which leave a valid chain) or adding them outside
    the application makes the two disagree, unless the rollup was rewritten as well.
    """
    day = day_expr(session)
    log = {
        as_date(d): int(n)
        for d, n in session.exec(
            select(day, func.count()).where(AuditEntry.org_id == org_id).group_by(day)
        ).all()
    }
    rollup = {
        as_date(d): int(n or 0)
        for d, n in session.exec(
            select(AuditDaily.day, func.sum(AuditDaily.entries))
            .where(AuditDaily.org_id == org_id)
            .group_by(AuditDaily.day)
        ).all()
    }
    return [
        DayMismatch(d, log.get(d, 0), rollup.get(d, 0))
        for d in sorted(log.keys() | rollup.keys())
        if log.get(d, 0) != rollup.get(d, 0)
    ]


def get_chain_status(session: Session, *, actor: Actor) -> ChainReport:
    """Verify the actor's organization's chain (for the status shown on the tab)."""
    ensure_allowed(actor, "audit.view")
    return verify_chain(session, org_id=actor.org_id)
