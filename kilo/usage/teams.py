"""Usage by team: the Usage tab's Teams view, its CSV, and the read API's team rows.

Team totals are the sums of the member-level rollups grouped through each member's
*current* team (`member.team_id`, joined in SQL by `kilo.rollups.aggregate`): moving a
member to another team moves their history with them, and members without a team (or of a
deleted team) are the "No team" row (team id 0). A team's figures are its members' sums,
so they follow the per-member rule (`kilo.usage.scope`): owners and admins see every team
while per-member analytics are on; a member sees only their own usage, i.e. at most their
own team's row holding only their requests.
"""

from __future__ import annotations

import io

import pandas as pd
from sqlalchemy import func, select
from sqlmodel import Session

from kilo import csvsafe
from kilo.models import Member
from kilo.permissions import Actor
from kilo.rollups.aggregate import aggregate, fetch_rows, to_int
from kilo.rollups.picker import pick
from kilo.rollups.query import NO_TEAM_ID, TEAM, UsageFilter
from kilo.rollups.where import conditions
from kilo.teams import NO_TEAM, team_names
from kilo.usage.export import MEASURE_COLUMNS
from kilo.usage.scope import scope_filter

TEAM_COLUMNS = (
    "team_id",
    "team",
    "requests",
    "successful",
    "errors",
    "input_tokens",
    "output_tokens",
    "tokens",
    "cost_micros",
    "active_members",
)


def names_with_no_team(session: Session, org_id: int) -> dict[int, str]:
    """Team id -> name, with NO_TEAM_ID for members without a team."""
    return {NO_TEAM_ID: NO_TEAM} | team_names(session, org_id=org_id)


def get_team_usage(session: Session, *, actor: Actor, f: UsageFilter) -> pd.DataFrame:
    """Per team (the member's current team): requests, successful, errors, tokens, spend and
    active members (members with a request in the view). Sorted by spend, highest first."""
    f = scope_filter(session, actor, f, by=(TEAM,))
    sums = aggregate(session, actor.org_id, f, (TEAM,))
    t = pick(set(f.dims()) | {"member_id"}).model
    team = func.coalesce(Member.team_id, NO_TEAM_ID)
    active = (
        select(team, func.count(func.distinct(t.member_id)))
        .join_from(t, Member, Member.id == t.member_id)
        .where(*conditions(t, actor.org_id, f), t.requests > 0)
        .group_by(team)
    )
    active_by_team = {int(k): to_int(n) for k, n in fetch_rows(session, active)}
    names = names_with_no_team(session, actor.org_id)
    frame = pd.DataFrame(
        {
            "team_id": sums[TEAM].astype("int64"),
            "team": [names.get(int(i), f"team {i}") for i in sums[TEAM]],
            "requests": sums["requests"],
            "successful": sums["requests"] - sums["errors"],
            "errors": sums["errors"],
            "input_tokens": sums["input_tokens"],
            "output_tokens": sums["output_tokens"],
            "tokens": sums["input_tokens"] + sums["output_tokens"],
            "cost_micros": sums["cost_micros"],
            "active_members": [active_by_team.get(int(i), 0) for i in sums[TEAM]],
        },
        columns=list(TEAM_COLUMNS),
    )
    frame = frame[frame["requests"] > 0]
    return frame.sort_values(["cost_micros", "requests"], ascending=False).reset_index(drop=True)


def get_team_trend(session: Session, *, actor: Actor, f: UsageFilter) -> pd.DataFrame:
    """Per day and team: every measure plus the team's name (`team`), for the trend chart."""
    f = scope_filter(session, actor, f, by=(TEAM,))
    frame = aggregate(session, actor.org_id, f, ("day", TEAM), ordered=True)
    names = names_with_no_team(session, actor.org_id)
    frame["team"] = [names.get(int(i), f"team {i}") for i in frame[TEAM]]
    return frame


def export_team_csv(session: Session, *, actor: Actor, f: UsageFilter) -> str:
    """The view's usage per UTC day and team as spreadsheet-safe CSV (`kilo.csvsafe`):
    day, team_id (0: no team), team, then the Usage CSV's measure columns."""
    frame = get_team_trend(session, actor=actor, f=f)
    out = io.StringIO()
    writer = csvsafe.writer(out)  # team names are typed by admins
    writer.writerow(("day", "team_id", "team", *MEASURE_COLUMNS))
    for r in frame.itertuples(index=False):
        cost = int(r.cost_micros)
        writer.writerow(
            (
                r.day.isoformat(),
                int(r.team_id),
                r.team,
                int(r.requests),
                int(r.requests - r.errors),
                int(r.errors),
                int(r.input_tokens),
                int(r.output_tokens),
                int(r.cache_read_tokens),
                int(r.cache_write_tokens),
                f"{cost // 1_000_000}.{cost % 1_000_000:06d}",
                cost,
                int(r.latency_ms_sum),
            )
        )
    return out.getvalue()
