"""The usage read API (`GET /api/v1/usage`): the Usage tab's figures for finance tools.

A report sums the organization's usage of whole UTC days grouped by day, member, team (each
member's current team; team_id 0 and an empty name for members without one), model,
provider or mode, through the same analytics functions as the Usage tab
(`kilo.usage.get_breakdown`), so the figures agree with the tab and its CSV to the
micro-dollar. Grouping by member follows the tab's rule: only while the organization's
per-member usage analytics are on (`AnalyticsOff` otherwise), and so does grouping by team
(a team's figures are its members' sums).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from kilo import csvsafe, usage
from kilo.errors import PermissionDenied, ValidationError
from kilo.models import Member
from kilo.permissions import Actor, ensure_allowed
from kilo.rollups.registry import MEASURES, month_start
from kilo.teams import team_names
from kilo.usage.export import MEASURE_COLUMNS

GROUPS = {
    "day": (),
    "member": ("member_id",),
    "team": ("team_id",),
    "model": ("model_id",),
    "provider": ("provider",),
    "mode": ("mode",),
}
FORMATS = ("json", "csv")
PARAMETERS = ("from", "to", "group_by", "format")
MAX_DAYS = 366
# Each row's figures, in this order: the Usage tab's CSV's measures.
COLUMNS = MEASURE_COLUMNS


class InvalidParameter(ValidationError):
    """A query parameter is missing its proper form; `parameter` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        super().__init__(message)


class AnalyticsOff(PermissionDenied):
    """Per-member figures asked for while the organization's usage analytics are off."""


def usd_text(micros: int) -> str:
    """Integer micro-dollars as an exact decimal string: 12345678 -> "12.345678"."""
    sign = "-" if micros < 0 else ""
    micros = abs(int(micros))
    return f"{sign}{micros // 1_000_000}.{micros % 1_000_000:06d}"


@dataclass(frozen=True)
class ReportQuery:
    start: date
    end: date
    group_by: str = "day"
    fmt: str = "json"


def _day(name: str, text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidParameter(
            name, f"{name} must be a day as YYYY-MM-DD (UTC), like 2026-05-01."
        ) from None


def parse_query(pairs: Iterable[tuple[str, str]], *, today: date | None = None) -> ReportQuery:
    """Check the query parameters (each at most once, no unknown ones). Defaults: `from`
    the first day of `to`'s month, `to` today (UTC), `group_by` day, `format` json."""
    values: dict[str, str] = {}
    for name, value in pairs:
        if name not in PARAMETERS:
            raise InvalidParameter(
                name[:50], f"Unknown parameter “{name[:50]}”; use {', '.join(PARAMETERS)}."
            )
        if name in values:
            raise InvalidParameter(name, f"{name} is given more than once.")
        values[name] = value
    today = today or datetime.now(UTC).date()
    end = _day("to", values["to"]) if "to" in values else today
    start = _day("from", values["from"]) if "from" in values else month_start(end)
    if start > end:
        raise InvalidParameter("from", "from must be on or before to.")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidParameter(
            "to", f"The range is {(end - start).days + 1} days; ask for at most {MAX_DAYS} days."
        )
    group_by = values.get("group_by", "day")
    if group_by not in GROUPS:
        raise InvalidParameter("group_by", f"group_by must be one of {', '.join(GROUPS)}.")
    fmt = values.get("format", "json")
    if fmt not in FORMATS:
        raise InvalidParameter("format", "format must be json or csv.")
    return ReportQuery(start=start, end=end, group_by=group_by, fmt=fmt)


@dataclass(frozen=True)
class Report:
    query: ReportQuery
    keys: tuple[str, ...]  # the group's columns, e.g. ("day",) or ("member_id", "member_email")
    rows: list[dict[str, Any]]
    totals: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.query.start.isoformat(),
            "to": self.query.end.isoformat(),
            "group_by": self.query.group_by,
            "rows": self.rows,
            "totals": self.totals,
        }

    def as_csv(self) -> str:
        """The rows as spreadsheet-safe CSV (`kilo.csvsafe`), header first."""
        out = io.StringIO()
        writer = csvsafe.writer(out)
        writer.writerow((*self.keys, *COLUMNS))
        for row in self.rows:
            writer.writerow([row[c] for c in (*self.keys, *COLUMNS)])
        return out.getvalue()


def _figures(sums: dict[str, int]) -> dict[str, Any]:
    return {
        "requests": sums["requests"],
        "successful": sums["requests"] - sums["errors"],
        "errors": sums["errors"],
        "input_tokens": sums["input_tokens"],
        "output_tokens": sums["output_tokens"],
        "cache_read_tokens": sums["cache_read_tokens"],
        "cache_write_tokens": sums["cache_write_tokens"],
        "cost_usd": usd_text(sums["cost_micros"]),
        "cost_micros": sums["cost_micros"],
        "latency_ms_sum": sums["latency_ms_sum"],
    }


def build_report(session: Session, *, actor: Actor, query: ReportQuery) -> Report:
    """The organization's usage of the query's days, grouped as asked. The actor is the
    read token's (a system actor of its organization)."""
    ensure_allowed(actor, "usage.view_all")
    by = GROUPS[query.group_by]
    per_member = by in (("member_id",), ("team_id",))
    if per_member and not usage.analytics_enabled(session, org_id=actor.org_id):
        raise AnalyticsOff(
            "Per-member usage analytics are turned off for this organization (team figures are "
            "their members' sums): group by day, "
            "model, provider or mode, or ask an owner or admin to turn them on in "
            "Organization settings."
        )
    frame = usage.get_breakdown(
        session,
        actor=actor,
        f=usage.UsageFilter(start=query.start, end=query.end),
        by=by,
        daily=query.group_by == "day",
    )
    emails: dict[int, str] = {}
    if by == ("member_id",):
        emails = dict(
            session.execute(
                select(Member.id, Member.email).where(Member.org_id == actor.org_id)
            ).all()
        )
        keys: tuple[str, ...] = ("member_id", "member_email")
    elif by == ("team_id",):
        teams = team_names(session, org_id=actor.org_id)
        keys = ("team_id", "team_name")
    else:
        keys = ("day",) if query.group_by == "day" else by
    rows: list[dict[str, Any]] = []
    totals = dict.fromkeys(MEASURES, 0)
    for record in frame.to_dict("records"):
        sums = {m: int(record[m]) for m in MEASURES}
        for m in MEASURES:
            totals[m] += sums[m]
        if query.group_by == "day":
            key: dict[str, Any] = {"day": record["day"].isoformat()}
        elif by == ("member_id",):
            member_id = int(record["member_id"])
            key = {"member_id": member_id, "member_email": emails.get(member_id, "")}
        elif by == ("team_id",):
            team_id = int(record["team_id"])
            key = {"team_id": team_id, "team_name": teams.get(team_id, "")}
        else:
            key = {by[0]: str(record[by[0]])}
        rows.append(key | _figures(sums))
    return Report(query=query, keys=keys, rows=rows, totals=_figures(totals))
