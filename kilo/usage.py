"""Usage events and their daily rollup.

Events are inserted in bulk and the `UsageDaily` rollup (day x member x model x provider
x mode) is updated in the same transaction; analytics read the rollup with SQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from kilo.models import UsageDaily, UsageEvent

ROLLUP_SUMS = (
    "requests", "errors", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "cost_micros", "latency_ms_sum",
)


def _upsert(session: Session, table: Any, keys: Sequence[str], rows: list[dict]) -> None:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    stmt = dialect_insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: getattr(table.c, c) + getattr(stmt.excluded, c) for c in ROLLUP_SUMS},
    )
    for start in range(0, len(rows), 5000):
        session.execute(stmt, rows[start:start + 5000])


def rollup_rows(org_id: int, events: Iterable[dict]) -> list[dict]:
    acc: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(ROLLUP_SUMS))
    for e in events:
        at: datetime = e["at"]
        day: date = at.astimezone(timezone.utc).date()
        key = (day, e["member_id"], e["model_id"], e["provider"], e.get("mode", "code"))
        a = acc[key]
        a[0] += 1
        a[1] += e.get("status", "success") != "success"
        a[2] += e.get("input_tokens", 0)
        a[3] += e.get("output_tokens", 0)
        a[4] += e.get("cache_read_tokens", 0)
        a[5] += e.get("cache_write_tokens", 0)
        a[6] += e.get("cost_micros", 0)
        a[7] += e.get("latency_ms", 0)
    return [
        {"org_id": org_id, "day": k[0], "member_id": k[1], "model_id": k[2], "provider": k[3],
         "mode": k[4], **dict(zip(ROLLUP_SUMS, v, strict=True))}
        for k, v in acc.items()
    ]


def insert_events(session: Session, *, org_id: int, events: list[dict]) -> int:
    """Insert validated events and fold them into the rollup, in the caller's transaction."""
    if not events:
        return 0
    rows = [{"org_id": org_id, **e} for e in events]
    for start in range(0, len(rows), 5000):
        session.execute(insert(UsageEvent), rows[start:start + 5000])
    _upsert(session, UsageDaily.__table__,
            ["org_id", "day", "member_id", "model_id", "provider", "mode"],
            rollup_rows(org_id, events))
    return len(events)
