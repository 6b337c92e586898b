"""The demo's teams and budgets: four teams holding most members (a few left without a
team), a soft monthly budget for the organization and one per team. Made through the
services as the owner, so the audit log shows them; soft only, so the demo's gateway
never refuses a request for a budget. No random numbers: the steps after it see the same
random sequence as before."""

from __future__ import annotations

from sqlmodel import Session

from kilo import budgets, teams
from kilo.members import actor_for
from kilo.models import Member

TEAMS = ("Platform", "Robotics", "Data", "Product")
UNASSIGNED_EVERY = 7  # every 7th member stays without a team
# Soft monthly budgets in dollars: the organization's, then each team's.
# Near the demo's monthly spend (about $300 a month, $60-$90 a team), so the bars and
# forecasts show some teams within and some over their budget.
ORG_BUDGET_USD = 350
TEAM_BUDGETS_USD = (80, 90, 100, 60)


def seed_teams(session: Session, members: list[Member]) -> None:
    owner = actor_for(members[0])
    made = [teams.create_team(session, actor=owner, name=name) for name in TEAMS]
    for i, member in enumerate(members):
        if i % UNASSIGNED_EVERY != UNASSIGNED_EVERY - 1:
            team = made[i % len(made)]
            teams.assign_member(session, actor=owner, member_id=member.id, team_id=team.id)
    budgets.set_budget(
        session,
        actor=owner,
        scope="organization",
        amount_micros=ORG_BUDGET_USD * 1_000_000,
        hard=False,
    )
    for team, dollars in zip(made, TEAM_BUDGETS_USD, strict=True):
        budgets.set_budget(
            session,
            actor=owner,
            scope="team",
            scope_id=team.id,
            amount_micros=dollars * 1_000_000,
            hard=False,
        )
