"""CSV downloads of the Usage tab: the daily table behind a view, and per-member statistics.

Both go through the spreadsheet-safe writer (`kilo.csvsafe`).
"""

from __future__ import annotations

import io

from sqlalchemy import select
from sqlmodel import Session

from kilo import csvsafe
from kilo.models import Member, UsageDaily, UsageDailyModel
from kilo.permissions import Actor, allowed
from kilo.rollups.query import UsageFilter
from kilo.rollups.registry import MEASURES
from kilo.usage.members import list_member_usage
from kilo.usage.scope import analytics_enabled, scope_filter

# The figures of each row, in this order (also the read API's, `kilo.usage_report`).
MEASURE_COLUMNS = (
    "requests",
    "successful",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
    "cost_micros",
    "latency_ms_sum",
)
EXPORT_COLUMNS = ("day", "member_email", "model_id", "provider", "mode", *MEASURE_COLUMNS)


def export_csv(session: Session, *, actor: Actor, f: UsageFilter) -> str:
    """The daily table behind the view as CSV: day x [member] x model x provider x mode.

    The member column is filled for owners/admins when analytics are on (and for a member's
    own rows); cost_usd is the exact decimal of cost_micros. Spreadsheet-safe (`kilo.csvsafe`):
    a text cell starting with = + - @, tab or CR gets a leading apostrophe. The rows are the
    rollup's own
    (it has exactly this grain), read in index order and written as they come: no pandas
    frame, no sort (a 30-day export at 10M events a year is ~575,000 rows).
    """
    f = scope_filter(session, actor, f)
    per_member = bool(f.members or f.teams) or (
        allowed(actor, "usage.view_all") and analytics_enabled(session, org_id=actor.org_id)
    )
    by = ("member_id",) if per_member else ()
    by += ("model_id", "provider", "mode")
    t = (UsageDaily if per_member else UsageDailyModel).__table__.c
    stmt = (
        select(t.day, *[t[d] for d in by], *[t[m] for m in MEASURES])
        .where(t.org_id == actor.org_id, t.day >= f.start, t.day <= f.end)
        .where(*[t[d].in_(values) for d, values in f.dims().items()])
        .order_by(t.day, *[t[d] for d in by])
    )
    emails = dict(
        session.execute(select(Member.id, Member.email).where(Member.org_id == actor.org_id)).all()
    )
    m = {name: i + 1 + len(by) for i, name in enumerate(MEASURES)}  # measure -> row index
    out = io.StringIO()
    writer = csvsafe.writer(out)  # e-mails, model ids... are text from members and files
    writer.writerow(EXPORT_COLUMNS)
    for row in session.connection().execute(stmt):
        member = emails.get(row[1], "") if per_member else ""
        cost = row[m["cost_micros"]]
        writer.writerow(
            (
                row[0].isoformat(),
                member,
                *row[1 + per_member : 1 + len(by)],
                row[m["requests"]],
                row[m["requests"]] - row[m["errors"]],
                row[m["errors"]],
                row[m["input_tokens"]],
                row[m["output_tokens"]],
                row[m["cache_read_tokens"]],
                row[m["cache_write_tokens"]],
                # Exact decimal dollars by integer arithmetic (costs are never negative).
                f"{cost // 1_000_000}.{cost % 1_000_000:06d}",
                cost,
                row[m["latency_ms_sum"]],
            )
        )
    return out.getvalue()


def export_member_csv(session: Session, *, actor: Actor, f: UsageFilter) -> str:
    """The per-member statistics of the view (`list_member_usage`, same permissions) as
    spreadsheet-safe CSV (`kilo.csvsafe`): names and e-mails that start with = + - @, tab
    or CR get a leading apostrophe; numbers stay numbers."""
    frame = list_member_usage(session, actor=actor, f=f)
    return csvsafe.frame_to_csv(frame.drop(columns=["removed"]))
