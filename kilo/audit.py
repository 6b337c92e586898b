"""Audit entries: written in the same transaction as the change, chained by hash.

Each entry's hash covers its content and the previous entry's hash (per organization),
so altering, removing or inserting an entry breaks the chain at that point.
The application never updates or deletes audit entries.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from kilo.models import AuditEntry, utcnow
from kilo.permissions import Actor


def _normalise(details: dict[str, Any] | None) -> dict[str, Any]:
    # What we hash must be exactly what the JSON column gives back.
    return json.loads(json.dumps(details or {}, default=str, sort_keys=True))


def entry_hash(entry: AuditEntry) -> str:
    payload = json.dumps(
        [
            entry.org_id,
            entry.created_at.isoformat(),
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


def _lock_chain(session: Session, org_id: int) -> None:
    # SQLite writers already hold the database write lock (BEGIN IMMEDIATE).
    if session.get_bind().dialect.name == "postgresql":
        session.exec(text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=7_000_000 + org_id))


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
    _lock_chain(session, actor.org_id)
    prev = session.exec(
        select(AuditEntry.hash)
        .where(AuditEntry.org_id == actor.org_id)
        .order_by(col(AuditEntry.id).desc())
        .limit(1)
    ).first()
    entry = AuditEntry(
        org_id=actor.org_id,
        created_at=at or utcnow(),
        actor_id=actor.id,
        actor_name=actor.name,
        actor_email=actor.email,
        action=action,
        target=target[:300],
        message=message,
        details=_normalise(details),
        prev_hash=prev or "",
    )
    entry.hash = entry_hash(entry)
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainReport:
    checked: int
    ok: bool
    first_bad_id: int | None = None
    problem: str = ""


def verify_chain(session: Session, *, org_id: int, batch: int = 5000) -> ChainReport:
    """Walk the chain in id order; name the first entry that was altered, removed or inserted."""
    prev_hash = ""
    checked = 0
    last_id = 0
    while True:
        rows = session.exec(
            select(AuditEntry)
            .where(AuditEntry.org_id == org_id, AuditEntry.id > last_id)
            .order_by(col(AuditEntry.id))
            .limit(batch)
        ).all()
        if not rows:
            return ChainReport(checked=checked, ok=True)
        for entry in rows:
            if entry.prev_hash != prev_hash:
                return ChainReport(
                    checked, False, entry.id,
                    f"entry {entry.id} does not follow the entry before it "
                    "(an entry was removed or inserted just before it)",
                )
            if entry_hash(entry) != entry.hash:
                return ChainReport(
                    checked, False, entry.id, f"entry {entry.id} was altered after it was written"
                )
            prev_hash = entry.hash
            checked += 1
            last_id = entry.id
        session.expunge_all()
