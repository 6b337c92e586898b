"""Audit log export: the matching entries as spreadsheet-safe CSV or JSON Lines.

Every text cell goes through `kilo.csvsafe` (the one writer of the application's CSV files),
so a value a spreadsheet would run as a formula starts with an apostrophe. Export needs the
`audit.view` permission.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC
from typing import Any, Literal

from sqlmodel import Session

from kilo import csvsafe
from kilo.audit.query import AuditFilter, count_matching, fetch_page
from kilo.errors import ValidationError
from kilo.models import AuditEntry
from kilo.permissions import Actor, ensure_allowed

EXPORT_BATCH = 2000
EXPORT_COLUMNS = (
    "id",
    "time_utc",
    "action",
    "actor_id",
    "actor_name",
    "actor_email",
    "target",
    "message",
    "details",
    "hash",
)


def details_text(details: dict[str, Any] | None) -> str:
    """Structured details as compact, readable JSON (for tables)."""
    return json.dumps(details or {}, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def _export_record(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "time_utc": entry.created_at.astimezone(UTC).isoformat(),
        "action": entry.action,
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name,
        "actor_email": entry.actor_email,
        "target": entry.target,
        "message": entry.message,
        "details": entry.details,
        "hash": entry.hash,
    }


def _iter_matching(session: Session, org_id: int, f: AuditFilter) -> Iterator[AuditEntry]:
    cursor = None
    while True:
        page = fetch_page(session, org_id, f, EXPORT_BATCH, cursor)
        yield from page.entries
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
        session.expunge_all()


ExportFormat = Literal["csv", "jsonl"]


def export_entries(
    session: Session,
    *,
    actor: Actor,
    filters: AuditFilter | None = None,
    fmt: ExportFormat = "csv",
) -> Iterator[str]:
    """The matching entries, newest first, as CSV or JSON Lines text chunks (spreadsheet-safe).

    CSV: one header row, then one row per entry; `details` is a JSON cell. JSON Lines: one
    object per line. Every text value starting with = + - @ tab or CR gets a leading apostrophe.
    """
    ensure_allowed(actor, "audit.view")
    if fmt not in ("csv", "jsonl"):
        raise ValidationError(f"Unknown export format “{fmt}”; choose csv or jsonl.")
    f = (filters or AuditFilter()).checked()
    return (
        _export_csv(session, actor.org_id, f)
        if fmt == "csv"
        else _export_jsonl(session, actor.org_id, f)
    )


def _export_csv(session: Session, org_id: int, f: AuditFilter) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csvsafe.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for n, entry in enumerate(_iter_matching(session, org_id, f), 1):
        rec = _export_record(entry)
        rec["details"] = json.dumps(rec["details"], ensure_ascii=False, sort_keys=True)
        writer.writerow([rec[c] for c in EXPORT_COLUMNS])
        if n % EXPORT_BATCH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _export_jsonl(session: Session, org_id: int, f: AuditFilter) -> Iterator[str]:
    for entry in _iter_matching(session, org_id, f):
        yield json.dumps(csvsafe.neutralise_deep(_export_record(entry)), ensure_ascii=False) + "\n"


def export_file(
    session: Session,
    *,
    actor: Actor,
    filters: AuditFilter | None = None,
    fmt: ExportFormat = "csv",
    max_entries: int = 200_000,
) -> bytes:
    """The whole export as UTF-8 bytes (for a download button); refuses more than `max_entries`.

    CSV starts with a byte-order mark, so spreadsheet programs detect UTF-8.
    """
    ensure_allowed(actor, "audit.view")
    f = (filters or AuditFilter()).checked()
    total = count_matching(session, actor.org_id, f)
    if total > max_entries:
        raise ValidationError(
            f"{total:,} entries match; the download is limited to {max_entries:,}. Narrow the "
            "period or filters, or use `python -m kilo export-audit` on the server."
        )
    # CSV starts with a byte-order mark so spreadsheet programs read it as UTF-8 (→, ü...).
    encoding = "utf-8-sig" if fmt == "csv" else "utf-8"
    return "".join(export_entries(session, actor=actor, filters=f, fmt=fmt)).encode(encoding)
