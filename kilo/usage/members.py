"""Per-member usage: statistics of each member, and their last requests.

Owners and admins while per-member analytics are on; a member sees only their own last
request. Long periods read the monthly rollups (`kilo.rollups.monthly`).
"""

from __future__ import annotations

from datetime import UTC, datetime, time

import pandas as pd
from sqlalchemy import distinct, func, select
from sqlmodel import Session

from kilo.errors import PermissionDenied
from kilo.models import Member, UsageHourlyMember
from kilo.permissions import Actor, ensure_allowed
from kilo.rollups.aggregate import fetch_ints, to_dates
from kilo.rollups.monthly import member_stats_by_month, member_stats_one_dim
from kilo.rollups.picker import pick
from kilo.rollups.query import UsageFilter
from kilo.rollups.registry import MEASURES
from kilo.rollups.where import conditions
from kilo.usage.scope import ANALYTICS_OFF, analytics_enabled, scope_filter, sees_every_member


def _frame(rows: list[dict], group: tuple[str, ...], cols: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=[*group, *cols])
    for c in cols:
        frame[c] = frame[c].astype("int64")
    return frame


def member_names(session: Session, org_id: int) -> pd.DataFrame:
    rows = session.execute(
        select(Member.id, Member.name, Member.email, Member.role, Member.removed_at).where(
            Member.org_id == org_id
        )
    ).all()
    return pd.DataFrame(
        [
            {
                "member_id": r[0],
                "name": r[1],
                "email": r[2],
                "role": r[3],
                "removed": r[4] is not None,
            }
            for r in rows
        ],
        columns=["member_id", "name", "email", "role", "removed"],
    )


def list_member_usage(session: Session, *, actor: Actor, f: UsageFilter) -> pd.DataFrame:
    """Per-member statistics of the view (owners/admins, when analytics are on).

    Columns: member_id, name, email, role, every measure, successful, active_days,
    share_of_spend (0..1). Sorted by spend, highest first.
    """
    ensure_allowed(actor, "usage.view_all")
    if not analytics_enabled(session, org_id=actor.org_id):
        raise PermissionDenied(ANALYTICS_OFF)
    f = scope_filter(session, actor, f)
    dims = set(f.dims()) - {"member_id"}
    if not dims:
        rows = fetch_ints(session, member_stats_by_month(actor.org_id, f))
    elif len(dims) == 1:
        rows = member_stats_one_dim(session, actor.org_id, f)
    else:  # two or three of model/provider/mode: the finest daily rollup
        rollup = pick(set(f.dims()) | {"member_id"})
        t = rollup.model
        active_days = func.count(distinct(t.day))
        stmt = select(
            t.member_id,
            *[func.sum(getattr(t, m)).label(m) for m in MEASURES],
            active_days.label("active_days"),
        ).where(*conditions(t, actor.org_id, f))
        rows = fetch_ints(session, stmt.group_by(t.member_id))
    stats = _frame(rows, ("member_id",), (*MEASURES, "active_days"))
    frame = member_names(session, actor.org_id).merge(stats, on="member_id", how="inner")
    frame["successful"] = frame["requests"] - frame["errors"]
    total = int(frame["cost_micros"].sum())
    frame["share_of_spend"] = frame["cost_micros"] / total if total else 0.0
    return frame.sort_values(["cost_micros", "requests"], ascending=False).reset_index(drop=True)


def last_request_hours(session: Session, *, actor: Actor) -> dict[int, datetime]:
    """Each current member's latest hour with a Kilo request (UTC, the start of the hour),
    from the per-member hourly rollup: two index seeks per member, no raw events. Members
    without a request are absent. Others' hours need `usage.view_all` and per-member
    analytics turned on; otherwise only the actor's own."""
    ensure_allowed(actor, "usage.view_own")
    everyone = sees_every_member(session, actor=actor)
    h = UsageHourlyMember
    # Every rollup row holds at least one request (rows are sums of events), so the
    # latest row is the latest request. Per member: the latest day (a seek on the primary
    # key, member first), then that day's latest hour.
    last_day = (
        select(func.max(h.day))
        .where(h.org_id == actor.org_id, h.member_id == Member.id)
        .scalar_subquery()
    )
    people = select(Member.id.label("member_id"), last_day.label("day")).where(
        Member.org_id == actor.org_id, Member.removed_at.is_(None)
    )
    if not everyone:
        people = people.where(Member.id == actor.id)
    last = people.subquery()
    stmt = (
        select(last.c.member_id, last.c.day, func.max(h.hour))
        .join(
            h,
            (h.org_id == actor.org_id) & (h.member_id == last.c.member_id) & (h.day == last.c.day),
        )
        .group_by(last.c.member_id, last.c.day)
    )
    return {
        member_id: datetime.combine(to_dates([day])[0], time(int(hour)), tzinfo=UTC)
        for member_id, day, hour in session.execute(stmt).all()
    }
