"""The query spec of a usage view, and the cheapest read of all.

`UsageFilter` is what every read of the rollups takes: inclusive UTC days plus optional
filters on member, model, provider, mode and team. A team is not a rollup column: its filter
is `member_id IN (the team's members)`, through each member's current team (`TEAM`). `total_cost_micros` is the organization's
usage cost for billing's balance, read from the smallest rollup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import BindParameter, Select, func, or_, select
from sqlmodel import Session

from kilo.models import Member, UsageDailyDim

# Each dimension column and the `UsageFilter` field that filters it.
DIMENSION_FIELDS = {
    "member_id": "members",
    "model_id": "models",
    "provider": "providers",
    "mode": "modes",
}
# The team grouping: the member's current team (`member.team_id`), joined to a member-level
# rollup; the team id 0 in a filter stands for members without a team.
TEAM = "team_id"
NO_TEAM_ID = 0


@dataclass(frozen=True)
class UsageFilter:
    """A view of usage: inclusive UTC days plus optional dimension filters (empty = all)."""

    start: date
    end: date
    members: tuple[int, ...] = ()
    models: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()
    teams: tuple[int, ...] = ()  # team ids; NO_TEAM_ID = members without a team

    def dims(self) -> dict[str, Any]:
        """The filtered dimensions: column -> values (a tuple, or for a team filter the
        SELECT of the teams' members, within the member filter if there is one)."""
        values = {column: getattr(self, field) for column, field in DIMENSION_FIELDS.items()}
        out: dict[str, Any] = {column: v for column, v in values.items() if v}
        if self.teams:
            out["member_id"] = team_members(self.teams, self.members)
        return out

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def team_members(teams: tuple[int, ...], members: tuple[int, ...] = ()) -> Any:
    """SELECT of the ids of the members currently in `teams` (NO_TEAM_ID: in none), among
    `members` when given. The rollup's own organization condition keeps other
    organizations' members out."""
    named = [t for t in teams if t != NO_TEAM_ID]
    in_team = [Member.team_id.in_(named)] if named else []
    if NO_TEAM_ID in teams:
        in_team.append(Member.team_id.is_(None))
    stmt = select(Member.id).where(or_(*in_team))
    if members:
        stmt = stmt.where(Member.id.in_(members))
    return stmt


def total_cost_query(
    org_id: int | BindParameter[int], *, start: date | None = None, end: date | None = None
) -> Select:
    """The statement behind `total_cost_micros` (one row, one column), for callers that read
    it as a scalar subquery of a larger statement (billing's balance in one round trip)."""
    t = UsageDailyDim
    stmt = select(func.coalesce(func.sum(t.cost_micros), 0)).where(
        t.org_id == org_id, t.dim == "mode"
    )
    if start is not None:
        stmt = stmt.where(t.day >= start)
    if end is not None:
        stmt = stmt.where(t.day <= end)
    return stmt


def total_cost_micros(
    session: Session, *, org_id: int, start: date | None = None, end: date | None = None
) -> int:
    """Usage cost of an organization (optionally between UTC days, inclusive), read from
    the smallest rollup; for billing (balance) and other internal callers."""
    return int(session.execute(total_cost_query(org_id, start=start, end=end)).scalar())
