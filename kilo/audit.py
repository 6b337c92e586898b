"""Audit log: hash-chained entries, filtered keyset paging, period totals, export, verification.

Entries are written by `record()` in the caller's transaction, so an entry exists exactly when
the change it describes was committed. Each entry's hash covers its content and the previous
entry's hash (per organization, in id order), so altering, removing or inserting an entry
breaks the chain at that point; `verify_chain` names the first bad entry. The application
never updates or deletes entries. `record()` also keeps `AuditDaily` (entries per UTC day and
action) so period totals and the per-day chart stay fast at millions of entries; because it
is kept as entries are written, `compare_daily_rollup` also shows entries removed from the end
of a chain (which leaves the chain itself valid).

Reading (list, totals, chart data, export, chain status) needs the `audit.view` permission.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import String, delete, func, literal, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from kilo import csvsafe
from kilo.csvsafe import FORMULA_PREFIXES, neutralise  # noqa: F401  (audit's names for them)
from kilo.errors import ValidationError
from kilo.models import AuditDaily, AuditEntry, Member, Organization, utcnow
from kilo.permissions import Actor, ensure_allowed

# The `actor_id` filter value that selects entries written by the system (CLI, gateway).
SYSTEM_ACTOR_ID = 0
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
# With at most this many actions selected, each action is paged through its own index range
# and the pages are merged: cost stays ~ (actions x page size) whatever the selectivity.
MERGE_MAX_ACTIONS = 12
EXPORT_BATCH = 2000
MAX_SEARCH = 200
MAX_MISMATCHES_SHOWN = 10
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


def action_group(action: str) -> str:
    """The first two dotted parts of an action: `organization.member.invite` -> `organization.member`."""
    return ".".join(action.split(".")[:2])


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
    day = _day_expr(session)
    rows = session.exec(
        select(day, AuditEntry.action, func.count())
        .where(AuditEntry.org_id == org_id)
        .group_by(day, AuditEntry.action)
    ).all()
    session.add_all(
        AuditDaily(org_id=org_id, day=_as_date(d), action=a, entries=int(n)) for d, a, n in rows
    )
    session.flush()
    return len(rows)


# ---- filters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    """What the Audit Logs tab shows. Empty fields do not filter.

    `start` is inclusive and `end` exclusive (aware datetimes); `actor_id` is a member id or
    SYSTEM_ACTOR_ID for entries written by the system; `search` matches (case-insensitively)
    the action, actor name or email, target and message.
    """

    actions: tuple[str, ...] = ()
    actor_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    search: str = ""

    def checked(self) -> AuditFilter:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValidationError(f"The {name} of the period needs a timezone.")
        if self.start and self.end and self.start >= self.end:
            raise ValidationError("The period ends before it starts; pick an end after the start.")
        search = " ".join((self.search or "").split())
        if len(search) > MAX_SEARCH:
            raise ValidationError(f"The search text is too long (at most {MAX_SEARCH} characters).")
        actions = tuple(sorted({a.strip() for a in self.actions if a and a.strip()}))
        return AuditFilter(actions, self.actor_id, self.start, self.end, search)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_SEP = literal("\x1f", String)


def _conditions(org_id: int, f: AuditFilter, *, with_actions: bool = True) -> list[Any]:
    where: list[Any] = [AuditEntry.org_id == org_id]
    if with_actions and f.actions:
        where.append(col(AuditEntry.action).in_(f.actions))
    if f.actor_id == SYSTEM_ACTOR_ID:
        where.append(col(AuditEntry.actor_id).is_(None))
    elif f.actor_id is not None:
        where.append(AuditEntry.actor_id == f.actor_id)
    if f.start is not None:
        where.append(AuditEntry.created_at >= f.start)
    if f.end is not None:
        where.append(AuditEntry.created_at < f.end)
    if f.search:
        # One LIKE over the searchable columns joined (by a character nobody types): about
        # twice as fast as five ILIKEs. Both sides are lowered by the database, so case
        # folding is the same on each side on every backend.
        haystack = col(AuditEntry.action)
        for column in (AuditEntry.actor_name, AuditEntry.actor_email, AuditEntry.target,
                       AuditEntry.message):  # fmt: skip
            haystack = haystack + _SEP + column
        pattern = literal(f"%{_escape_like(f.search)}%", String)
        where.append(func.lower(haystack).like(func.lower(pattern), escape="\\"))
    return where


# ---- listing (keyset paging, newest first) ----------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Position after the last entry of a page: entries strictly older than (created_at, id)."""

    created_at: datetime
    id: int

    def encode(self) -> str:
        return f"{self.created_at.astimezone(UTC).isoformat()}~{self.id}"

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            stamp, _, ident = value.rpartition("~")
            at = datetime.fromisoformat(stamp)
            if at.tzinfo is None:
                raise ValueError(stamp)
            return cls(at, int(ident))
        except ValueError:
            raise ValidationError(
                "That page link is not valid; start from the first page."
            ) from None


@dataclass
class AuditPage:
    entries: list[AuditEntry]
    next_cursor: Cursor | None = None


def _page_keys(
    session: Session, org_id: int, f: AuditFilter, limit: int, cursor: Cursor | None
) -> list[tuple[datetime, int]]:
    """(created_at, id) of up to `limit` matching entries older than `cursor`, newest first."""
    keyset = (
        [tuple_(AuditEntry.created_at, AuditEntry.id) < tuple_(cursor.created_at, cursor.id)]
        if cursor
        else []
    )
    order = (col(AuditEntry.created_at).desc(), col(AuditEntry.id).desc())
    if f.actions and len(f.actions) <= MERGE_MAX_ACTIONS:
        keys: list[tuple[datetime, int]] = []
        base = _conditions(org_id, f, with_actions=False) + keyset
        for action in f.actions:
            keys += session.exec(
                select(AuditEntry.created_at, AuditEntry.id)
                .where(*base, AuditEntry.action == action)
                .order_by(*order)
                .limit(limit)
            ).all()
        keys.sort(reverse=True)
        return [tuple(k) for k in keys[:limit]]
    rows = session.exec(
        select(AuditEntry.created_at, AuditEntry.id)
        .where(*_conditions(org_id, f), *keyset)
        .order_by(*order)
        .limit(limit)
    ).all()
    return [tuple(r) for r in rows]


def _fetch(
    session: Session,
    org_id: int,
    f: AuditFilter,
    limit: int,
    cursor: Cursor | None,
) -> AuditPage:
    keys = _page_keys(session, org_id, f, limit + 1, cursor)
    more = len(keys) > limit
    keys = keys[:limit]
    ids = [k[1] for k in keys]
    by_id = (
        {e.id: e for e in session.exec(select(AuditEntry).where(col(AuditEntry.id).in_(ids))).all()}
        if ids
        else {}
    )
    entries = [by_id[i] for i in ids]
    nxt = Cursor(keys[-1][0], keys[-1][1]) if more and keys else None
    return AuditPage(entries, nxt)


def list_entries(
    session: Session,
    *,
    actor: Actor,
    filters: AuditFilter | None = None,
    limit: int = PAGE_SIZE,
    cursor: Cursor | None = None,
) -> AuditPage:
    """One page of matching entries, newest first; pass `next_cursor` back for the next page."""
    ensure_allowed(actor, "audit.view")
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError(f"Show between 1 and {MAX_PAGE_SIZE} entries per page.")
    return _fetch(session, actor.org_id, (filters or AuditFilter()).checked(), limit, cursor)


def list_actions(session: Session, *, actor: Actor) -> list[str]:
    """The action names that occur in the organization's log (for the filter)."""
    ensure_allowed(actor, "audit.view")
    return list(
        session.exec(
            select(AuditDaily.action)
            .where(AuditDaily.org_id == actor.org_id)
            .distinct()
            .order_by(AuditDaily.action)
        ).all()
    )


@dataclass(frozen=True)
class ActorOption:
    id: int  # member id, or SYSTEM_ACTOR_ID
    label: str


def list_actors(session: Session, *, actor: Actor) -> list[ActorOption]:
    """Who can appear as an actor: the organization's members (also removed ones) and the system."""
    ensure_allowed(actor, "audit.view")
    members = session.exec(
        select(Member).where(Member.org_id == actor.org_id).order_by(col(Member.name))
    ).all()
    options = [
        ActorOption(
            m.id, f"{m.name} <{m.email}>" + (" (removed)" if m.removed_at is not None else "")
        )
        for m in members
    ]
    has_system = session.exec(
        select(AuditEntry.id)
        .where(AuditEntry.org_id == actor.org_id, col(AuditEntry.actor_id).is_(None))
        .limit(1)
    ).first()
    if has_system is not None:
        options.append(ActorOption(SYSTEM_ACTOR_ID, "System (CLI, gateway)"))
    return options


# ---- period totals and per-day counts -----------------------------------------------------


def _day_expr(session: Session) -> Any:
    if _dialect(session) == "postgresql":
        return func.date(func.timezone("UTC", AuditEntry.created_at))
    return func.date(AuditEntry.created_at)  # SQLite stores UTC text


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


@dataclass(frozen=True)
class _Split:
    rollup: bool  # False: no whole UTC day inside the period, count it all raw
    first: date | None = None
    last: date | None = None
    edges: tuple[AuditFilter, ...] = ()


def _split_period(f: AuditFilter) -> _Split:
    """Whole UTC days [first, last) read from the rollup, plus the raw-counted partial days."""
    first = last = None
    if f.start is not None:
        s = f.start.astimezone(UTC)
        first = s.date() if s == _midnight(s.date()) else s.date() + timedelta(days=1)
    if f.end is not None:
        last = f.end.astimezone(UTC).date()
    if first is not None and last is not None and first >= last:
        return _Split(False, edges=(f,))
    edges = []
    if f.start is not None and _midnight(first) > f.start:
        edges.append(_replace(f, end=_midnight(first)))
    if f.end is not None and _midnight(last) < f.end:
        edges.append(_replace(f, start=_midnight(last)))
    return _Split(True, first, last, tuple(edges))


def _replace(f: AuditFilter, **changes: Any) -> AuditFilter:
    return AuditFilter(**({k: getattr(f, k) for k in f.__dataclass_fields__} | changes))


def _rollup_where(org_id: int, f: AuditFilter, first: date | None, last: date | None) -> list:
    where: list[Any] = [AuditDaily.org_id == org_id]
    if f.actions:
        where.append(col(AuditDaily.action).in_(f.actions))
    if first is not None:
        where.append(AuditDaily.day >= first)
    if last is not None:
        where.append(AuditDaily.day < last)
    return where


def _raw_only(f: AuditFilter) -> bool:
    # The rollup has no actor or text: those filters count matching entries directly.
    return bool(f.search) or f.actor_id is not None


def _count(session: Session, org_id: int, f: AuditFilter) -> int:
    if _raw_only(f):
        return int(
            session.exec(
                select(func.count()).select_from(AuditEntry).where(*_conditions(org_id, f))
            ).one()
        )
    split = _split_period(f)
    total = sum(
        int(
            session.exec(
                select(func.count()).select_from(AuditEntry).where(*_conditions(org_id, e))
            ).one()
        )
        for e in split.edges
    )
    if split.rollup:
        total += int(
            session.exec(
                select(func.coalesce(func.sum(AuditDaily.entries), 0)).where(
                    *_rollup_where(org_id, f, split.first, split.last)
                )
            ).one()
        )
    return total


def count_entries(session: Session, *, actor: Actor, filters: AuditFilter | None = None) -> int:
    """How many entries match the filters (the period total shown above the table)."""
    ensure_allowed(actor, "audit.view")
    return _count(session, actor.org_id, (filters or AuditFilter()).checked())


def _raw_by_day(session: Session, org_id: int, f: AuditFilter) -> dict[tuple[date, str], int]:
    day = _day_expr(session)
    rows = session.exec(
        select(day, AuditEntry.action, func.count())
        .where(*_conditions(org_id, f))
        .group_by(day, AuditEntry.action)
    ).all()
    return {(_as_date(d), a): int(n) for d, a, n in rows}


def _by_day(session: Session, org_id: int, f: AuditFilter) -> dict[tuple[date, str], int]:
    if _raw_only(f):
        return _raw_by_day(session, org_id, f)
    split = _split_period(f)
    counts: dict[tuple[date, str], int] = {}
    for edge in split.edges:
        for key, n in _raw_by_day(session, org_id, edge).items():
            counts[key] = counts.get(key, 0) + n
    if split.rollup:
        rows = session.exec(
            select(AuditDaily.day, AuditDaily.action, func.sum(AuditDaily.entries))
            .where(*_rollup_where(org_id, f, split.first, split.last))
            .group_by(AuditDaily.day, AuditDaily.action)
        ).all()
        for d, a, n in rows:
            key = (_as_date(d), a)
            counts[key] = counts.get(key, 0) + int(n)
    return counts


def events_per_day(
    session: Session, *, actor: Actor, filters: AuditFilter | None = None
) -> list[dict[str, Any]]:
    """Matching entries per UTC day and action group, for the chart.

    Rows `{"day": date, "group": "organization.member", "events": n}`, sorted by day and group.
    """
    ensure_allowed(actor, "audit.view")
    counts: dict[tuple[date, str], int] = {}
    for (day, action), n in _by_day(
        session, actor.org_id, (filters or AuditFilter()).checked()
    ).items():
        key = (day, action_group(action))
        counts[key] = counts.get(key, 0) + n
    return [{"day": d, "group": g, "events": n} for (d, g), n in sorted(counts.items()) if n]


# ---- export ------------------------------------------------------------------------------


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
        page = _fetch(session, org_id, f, EXPORT_BATCH, cursor)
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
    total = _count(session, actor.org_id, f)
    if total > max_entries:
        raise ValidationError(
            f"{total:,} entries match; the download is limited to {max_entries:,}. Narrow the "
            "period or filters, or use `python -m kilo export-audit` on the server."
        )
    # CSV starts with a byte-order mark so spreadsheet programs read it as UTF-8 (→, ü...).
    encoding = "utf-8-sig" if fmt == "csv" else "utf-8"
    return "".join(export_entries(session, actor=actor, filters=f, fmt=fmt)).encode(encoding)


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
    day = _day_expr(session)
    log = {
        _as_date(d): int(n)
        for d, n in session.exec(
            select(day, func.count()).where(AuditEntry.org_id == org_id).group_by(day)
        ).all()
    }
    rollup = {
        _as_date(d): int(n or 0)
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


# ---- command line --------------------------------------------------------------------------


def _org_ids(session: Session, org: int | None) -> list[int]:
    if org is not None:
        if session.get(Organization, org) is None:
            raise ValidationError(f"There is no organization with id {org}.")
        return [org]
    return list(session.exec(select(Organization.id).order_by(Organization.id)).all())


def cmd_verify_audit(args: argparse.Namespace) -> int:
    from kilo.db import read_session

    anchor = None
    if args.anchor:
        entry_id, _, expected = args.anchor.partition(":")
        if not entry_id.isdigit() or len(expected) != 64 or args.org is None:
            raise ValidationError(
                "--anchor takes ENTRY_ID:HASH as printed by verify-audit, together with --org."
            )
        anchor = (int(entry_id), expected.lower())
    broken = 0
    with read_session() as session:
        for org_id in _org_ids(session, args.org):
            name = session.get(Organization, org_id).name
            report = verify_chain(session, org_id=org_id)
            if report.ok and anchor:
                problem = check_anchor(
                    session, org_id=org_id, entry_id=anchor[0], expected_hash=anchor[1]
                )
                if problem:
                    report = ChainReport(report.checked, False, anchor[0], problem)
            mismatches = compare_daily_rollup(session, org_id=org_id)
            if report.ok and not mismatches:
                head = f"; head entry {report.head_id} {report.head_hash}" if report.head_id else ""
                print(
                    f"org {org_id} ({name}): {report.checked:,} entries, chain intact, "
                    f"daily counts match{head}"
                )
                continue
            broken += 1
            if not report.ok:
                print(
                    f"org {org_id} ({name}): CHAIN BROKEN at entry {report.first_bad_id}: "
                    f"{report.problem} ({report.checked:,} entries before it are intact)",
                    file=sys.stderr,
                )
            if mismatches:
                shown = "; ".join(m.describe() for m in mismatches[:MAX_MISMATCHES_SHOWN])
                more = len(mismatches) - MAX_MISMATCHES_SHOWN
                print(
                    f"org {org_id} ({name}): DAILY COUNTS DIFFER on {len(mismatches)} day(s): "
                    f"{shown}{f'; and {more} more days' if more > 0 else ''}. Entries were "
                    "removed from or added to the log outside the application (removing the "
                    "newest entries leaves the chain itself valid).",
                    file=sys.stderr,
                )
    return 1 if broken else 0


def _parse_time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            f"--{name} {value!r} is not a date or time (like 2026-11-01 or 2026-11-01T08:00)."
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def cmd_export_audit(args: argparse.Namespace) -> int:
    from kilo.db import read_session
    from kilo.permissions import system_actor

    with read_session() as session:
        org_id = _org_ids(session, args.org)[0] if args.org else _single_org(session)
        f = AuditFilter(
            actions=tuple(args.action or ()),
            start=_parse_time(args.since, "since"),
            end=_parse_time(args.until, "until"),
            search=args.search or "",
        )
        chunks = export_entries(session, actor=system_actor(org_id), filters=f, fmt=args.format)
        encoding = "utf-8-sig" if args.format == "csv" else "utf-8"
        out = open(args.output, "w", encoding=encoding, newline="") if args.output else sys.stdout
        try:
            _write_all(out, chunks)
        finally:
            if args.output:
                out.close()
    return 0


def _write_all(out: Any, chunks: Iterable[str]) -> None:
    for chunk in chunks:
        out.write(chunk)


def _single_org(session: Session) -> int:
    from kilo.organization import choose_org_id  # it imports this module

    return choose_org_id(session, None)


def register_cli(subparsers: Any) -> None:
    """`verify-audit` and `export-audit` sub-commands of `python -m kilo`."""
    p = subparsers.add_parser(
        "verify-audit",
        help="check the audit log's hash chain",
        description="Check every organization's audit hash chain (or one with --org), and "
        "compare its entries per UTC day with the daily counts kept as they were written. "
        "Exits 1 and names the first entry that was altered, removed or inserted when a chain "
        "is broken, or each day whose counts differ (with both counts); prints each chain's "
        "head entry and hash when intact (keep them to detect later truncation).",
    )
    p.add_argument("--org", type=int, help="only this organization id")
    p.add_argument(
        "--anchor",
        metavar="ENTRY_ID:HASH",
        help="a head printed by an earlier run (with --org): also fail when that entry was "
        "removed or re-hashed since",
    )
    p.set_defaults(func=cmd_verify_audit)
    p = subparsers.add_parser(
        "export-audit",
        help="export audit entries as CSV or JSON Lines",
        description="Write an organization's audit entries (newest first, spreadsheet-safe) as "
        "CSV or JSON Lines, without the download limit of the Audit Logs tab.",
    )
    p.add_argument("--org", type=int, help="organization id (needed when there are several)")
    p.add_argument("--format", choices=("csv", "jsonl"), default="csv", help="default: csv")
    p.add_argument("--action", action="append", help="only this action (repeatable)")
    p.add_argument("--since", help="from this UTC date/time (inclusive), e.g. 2026-11-01")
    p.add_argument("--until", help="before this UTC date/time (exclusive)")
    p.add_argument("--search", help="text to find in action, actor, target or message")
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.set_defaults(func=cmd_export_audit)
