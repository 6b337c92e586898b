"""Live usage: the Usage tab's live strip, its request log, and each member's spend today.

The live strip sums the current UTC hour and the UTC day so far from the hourly rollups
(organization-wide, or the actor's own row of the per-member one), one query either way.
The request log reads raw events, the only place individual requests are kept, and stays
fast on a large table by using its key (organization, member, time, id): the members the
actor may see, a recent window (`LOG_WINDOWS`, at most 24 hours), newest first, at most
`MAX_LOG_ROWS` rows. The window starts no earlier than the latest hour from which an hourly
rollup counts enough of the requests listed (also under a model, provider or mode filter,
from the rollups that keep them), so a busy organization's log reads about as many events
as it shows, not its whole day. Members see only their own requests; so do owners and
admins while per-member usage analytics are off (the rule of the member list's "Last
request").
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pandas as pd
from sqlalchemy import case, func, select
from sqlmodel import Session

from kilo.errors import PermissionDenied, ValidationError
from kilo.models import Member, UsageDailyMember, UsageEvent, UsageHourly, UsageHourlyMember, utcnow
from kilo.permissions import Actor, allowed, ensure_allowed
from kilo.rollups.aggregate import fetch_rows
from kilo.rollups.query import UsageFilter
from kilo.rollups.where import hourly_source
from kilo.usage.checks import MODE_RE, STATUSES
from kilo.usage.scope import ANALYTICS_OFF, sees_every_member

# The request log's windows: how far back it looks (bounded: the raw table is large).
LOG_WINDOWS = {"1h": "Last hour", "24h": "Last 24 hours"}
_WINDOW_SPAN = {"1h": timedelta(hours=1), "24h": timedelta(hours=24)}
DEFAULT_LOG_ROWS = 100
MAX_LOG_ROWS = 500
MAX_FILTER_VALUES = 50  # values of one filter (as many as a share link keeps)
LOG_COLUMNS = (
    "at",
    "member_id",
    "member",
    "email",
    "model_id",
    "provider",
    "mode",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_micros",
    "latency_ms",
    "status",
)
_MAX_CHARS = {"models": 200, "providers": 100}  # the stored columns' lengths


@dataclass(frozen=True)
class RequestLogFilter:
    """What the request log shows: a window (`LOG_WINDOWS`), optional filters (empty =
    all) and how many of the newest requests."""

    window: str = "24h"
    members: tuple[int, ...] = ()
    models: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    limit: int = DEFAULT_LOG_ROWS


def spent_today_by_member(
    session: Session,
    *,
    org_id: int,
    day: date | None = None,
    member_ids: Collection[int] | None = None,
) -> dict[int, int]:
    """Every member's recorded usage cost of a UTC day (today by default), in one query
    over the day x member rollup (one range of its key): the batched `spent_today_micros`.
    Members without usage that day are absent; `member_ids` narrows it."""
    t = UsageDailyMember
    stmt = select(t.member_id, func.sum(t.cost_micros)).where(
        t.org_id == org_id, t.day == (day or utcnow().date())
    )
    if member_ids is not None:
        stmt = stmt.where(t.member_id.in_(list(member_ids)))
    rows = session.execute(stmt.group_by(t.member_id)).all()
    return {int(member_id): int(cost or 0) for member_id, cost in rows}


def _utcnow(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValidationError("The time must have a time zone.")
    return now.astimezone(UTC)


def _as_utc(value: str | datetime) -> datetime:
    """A stored time as the driver returns it (SQLite: UTC as ISO text) as aware UTC."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def get_live_totals(
    session: Session, *, actor: Actor, now: datetime | None = None
) -> dict[str, object]:
    """Requests, errors and spend of the current UTC hour and of the UTC day so far.

    Owners and admins (and the system) get the organization's figures, which stay when
    per-member analytics are off, like the tab's totals; members get their own. Keys:
    `day`, `hour_start` (UTC), `scope` (`organization` or `own`), and `hour` and `today`,
    each {requests, errors, cost_micros}."""
    ensure_allowed(actor, "usage.view_own")
    now = _utcnow(now)
    whole_org = actor.is_system or allowed(actor, "usage.view_all")
    t = UsageHourly if whole_org else UsageHourlyMember
    conds = [t.org_id == actor.org_id, t.day == now.date()]
    if not whole_org:
        conds.append(t.member_id == actor.id)
    this_hour = t.hour == now.hour

    def total(column: object) -> object:
        return func.coalesce(func.sum(column), 0)

    def in_hour(column: object) -> object:
        return total(case((this_hour, column), else_=0))

    row = session.execute(
        select(
            total(t.requests),
            total(t.errors),
            total(t.cost_micros),
            in_hour(t.requests),
            in_hour(t.errors),
            in_hour(t.cost_micros),
        ).where(*conds)
    ).one()
    figures = [int(v) for v in row]
    keys = ("requests", "errors", "cost_micros")
    return {
        "day": now.date(),
        "hour_start": now.replace(minute=0, second=0, microsecond=0),
        "scope": "organization" if whole_org else "own",
        "today": dict(zip(keys, figures[:3], strict=True)),
        "hour": dict(zip(keys, figures[3:], strict=True)),
    }


def check_log_filter(f: RequestLogFilter) -> RequestLogFilter:
    """The filter with its values checked; ValidationError says what is wrong."""
    if f.window not in LOG_WINDOWS:
        raise ValidationError(f"The window must be one of {', '.join(LOG_WINDOWS)}.")
    if isinstance(f.limit, bool) or not isinstance(f.limit, int):
        raise ValidationError("The number of requests must be a whole number.")
    if not 1 <= f.limit <= MAX_LOG_ROWS:
        raise ValidationError(f"Show between 1 and {MAX_LOG_ROWS} requests.")
    for name in ("members", "models", "providers", "modes", "statuses"):
        if len(getattr(f, name)) > MAX_FILTER_VALUES:
            raise ValidationError(f"Filter on at most {MAX_FILTER_VALUES} {name}.")
    for member_id in f.members:
        if isinstance(member_id, bool) or not isinstance(member_id, int) or member_id < 1:
            raise ValidationError(f"“{member_id}” is not a member id.")
    for name, limit in _MAX_CHARS.items():
        for value in getattr(f, name):
            if not isinstance(value, str) or not value or len(value) > limit:
                raise ValidationError(f"A {name[:-1]} filter must be 1–{limit} characters.")
            if not value.isprintable():
                raise ValidationError(f"A {name[:-1]} filter holds a control character.")
    for mode in f.modes:
        if not isinstance(mode, str) or not MODE_RE.match(mode):
            raise ValidationError("A mode filter must be a mode slug (a-z, 0-9 and -).")
    for status in f.statuses:
        if status not in STATUSES:
            raise ValidationError(f"A status filter must be one of {', '.join(STATUSES)}.")
    return f


def _narrowed_since(
    session: Session,
    org_id: int,
    since: datetime,
    f: RequestLogFilter,
    member_ids: tuple[int, ...] | None,
) -> datetime:
    """The start of the latest UTC hour from which an hourly rollup counts at least
    `f.limit` requests the log would list; `since` if that is later, or when no hourly
    rollup keeps every dimension filtered (members together with model, provider or mode).
    `member_ids`: None for every member of the organization. The rollups hold every stored
    event, so the newest `f.limit` events all start at or after that hour."""
    view = UsageFilter(
        start=since.date(),
        end=date.max,
        members=member_ids or (),
        models=f.models,
        providers=f.providers,
        modes=f.modes,
    )
    source = hourly_source(org_id, view)
    if source is None:
        return since
    t, conds = source
    if set(f.statuses) == {"error"}:
        counted = t.errors
    elif set(f.statuses) == {"success"}:
        counted = t.requests - t.errors
    else:
        counted = t.requests
    hours = session.execute(
        select(t.day, t.hour, func.sum(counted))
        .where(*conds)
        .group_by(t.day, t.hour)
        .order_by(t.day.desc(), t.hour.desc())
    ).all()
    seen = 0
    for day, hour, n in hours:
        seen += int(n or 0)
        if seen >= f.limit:
            day = day if isinstance(day, date) else date.fromisoformat(day)
            return max(since, datetime.combine(day, time(int(hour)), tzinfo=UTC))
    return since


def list_recent_requests(
    session: Session, *, actor: Actor, f: RequestLogFilter, now: datetime | None = None
) -> pd.DataFrame:
    """The newest requests of the window, newest first (`LOG_COLUMNS`; `at` in UTC).

    Owners and admins see every member's while per-member analytics are on (a member
    filter narrows it); otherwise, as for members, only the actor's own, and a filter on
    another member is refused (PermissionDenied)."""
    ensure_allowed(actor, "usage.view_own")
    f = check_log_filter(f)
    now = _utcnow(now)
    e = UsageEvent
    member_ids: tuple[int, ...] | None = None  # None: every member of the organization
    if sees_every_member(session, actor=actor):
        if f.members:
            member_ids = f.members
    else:
        if set(f.members) - {actor.id}:
            if allowed(actor, "usage.view_all"):
                raise PermissionDenied(ANALYTICS_OFF)
            raise PermissionDenied("Members see only their own requests.")
        member_ids = (actor.id,)
    since = _narrowed_since(session, actor.org_id, now - _WINDOW_SPAN[f.window], f, member_ids)
    conds = [e.org_id == actor.org_id, e.at >= since]
    if member_ids is not None:
        conds.append(e.member_id.in_(member_ids))
    else:  # every member row of the organization (removed ones too): a key seek each
        members = select(Member.id).where(Member.org_id == actor.org_id)
        conds.append(e.member_id.in_(members.scalar_subquery()))
    for column, values in (
        (e.model_id, f.models),
        (e.provider, f.providers),
        (e.mode, f.modes),
        (e.status, f.statuses),
    ):
        if values:
            conds.append(column.in_(values))
    fields = [c for c in LOG_COLUMNS if c not in ("member", "email")]
    stmt = (
        select(*[getattr(e, c) for c in fields])
        .where(*conds)
        .order_by(e.at.desc(), e.id.desc())
        .limit(f.limit)
    )
    # Straight from the driver into one DataFrame: SQLAlchemy's per-row result handling
    # and per-column pandas conversions cost more than the query itself.
    rows = fetch_rows(session, stmt)
    columns = dict(zip(fields, map(list, zip(*rows, strict=True)), strict=True)) if rows else {}
    columns["at"] = [_as_utc(v) for v in columns.get("at", [])]
    ids = set(columns.get("member_id", []))
    people = {
        m_id: (name, email)
        for m_id, name, email in session.execute(
            select(Member.id, Member.name, Member.email).where(
                Member.org_id == actor.org_id, Member.id.in_(ids)
            )
        ).all()
    }
    who = [people.get(m_id, ("", "")) for m_id in columns.get("member_id", [])]
    columns["member"] = [name for name, _ in who]
    columns["email"] = [email for _, email in who]
    return pd.DataFrame(columns, columns=list(LOG_COLUMNS))


def list_spent_today(
    session: Session, *, actor: Actor, now: datetime | None = None
) -> dict[int, int]:
    """Each member's recorded spend of the current UTC day (micro-dollars; members without
    usage today are absent), in one query over the day x member rollup: what the gateway
    compares with daily limits. Others' spend needs `usage.view_all` and per-member
    analytics turned on; otherwise only the actor's own."""
    ensure_allowed(actor, "usage.view_own")
    day = _utcnow(now).date()
    if sees_every_member(session, actor=actor):
        return spent_today_by_member(session, org_id=actor.org_id, day=day)
    return spent_today_by_member(session, org_id=actor.org_id, day=day, member_ids=(actor.id,))
