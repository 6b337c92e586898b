"""Teams (cost centers): create, rename, delete, and each member in at most one team.

Owners and admins manage teams (`teams.manage`); everyone who sees the member list sees
the teams. Every change writes its audit entry in the same transaction and takes the
organization's lock first, because the unique-name check reads before it writes.

Usage by team is read through each member's *current* team (`member.team_id`): moving a
member to another team moves their whole history with them, and deleting a team leaves
its members unassigned ("No team"). See `kilo.usage.teams`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, func, select, update

from kilo import audit
from kilo.db import lock_organization
from kilo.errors import Conflict, NotFound, ValidationError
from kilo.models import Budget, Member, Team
from kilo.permissions import Actor, ensure_allowed
from kilo.validation import check_printable

MAX_NAME = 60
MAX_TEAMS = 200  # per organization: a selector, a chart legend and a filter stay usable
NO_TEAM = "No team"


@dataclass(frozen=True)
class TeamRow:
    id: int
    name: str
    members: int  # current members (removed ones left out)


def clean_team_name(name: str) -> str:
    """Whitespace-folded, 1-60 printable characters."""
    cleaned = " ".join((name or "").split())
    if not cleaned:
        raise ValidationError("The team name cannot be empty.")
    if len(cleaned) > MAX_NAME:
        raise ValidationError(f"The team name is too long (at most {MAX_NAME} characters).")
    if cleaned.lower() == NO_TEAM.lower():
        raise ValidationError(f"“{NO_TEAM}” stands for members without a team; choose another.")
    return check_printable(cleaned, "The team name")


def list_teams(session: Session, *, actor: Actor) -> list[TeamRow]:
    """The organization's teams by name, with their current members' count."""
    ensure_allowed(actor, "members.view")
    counts = (
        select(Member.team_id, func.count().label("n"))
        .where(Member.org_id == actor.org_id, col(Member.removed_at).is_(None))
        .group_by(Member.team_id)
        .subquery()
    )
    rows = session.exec(
        select(Team.id, Team.name, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.team_id == Team.id)
        .where(Team.org_id == actor.org_id)
        .order_by(func.lower(Team.name))
    ).all()
    return [TeamRow(id=int(i), name=n, members=int(c)) for i, n, c in rows]


def team_names(session: Session, *, org_id: int) -> dict[int, str]:
    """Team id -> name (no permission check: internal callers that already checked)."""
    return dict(session.exec(select(Team.id, Team.name).where(Team.org_id == org_id)).all())


def get_team(session: Session, *, actor: Actor, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None or team.org_id != actor.org_id:
        raise NotFound("That team no longer exists; refresh the page.")
    return team


def _check_unique(session: Session, org_id: int, name: str, *, except_id: int | None) -> None:
    clash = session.exec(
        select(Team.name).where(
            Team.org_id == org_id,
            func.lower(Team.name) == name.lower(),
            Team.id != (except_id or 0),
        )
    ).first()
    if clash is not None:
        raise Conflict(f"A team named “{clash}” already exists.")


def create_team(session: Session, *, actor: Actor, name: str) -> Team:
    ensure_allowed(actor, "teams.manage")
    name = clean_team_name(name)
    lock_organization(session, actor.org_id)  # before the name and count checks
    _check_unique(session, actor.org_id, name, except_id=None)
    count = session.exec(select(func.count()).where(Team.org_id == actor.org_id)).one()
    if count >= MAX_TEAMS:
        raise Conflict(f"An organization can have at most {MAX_TEAMS} teams.")
    team = Team(org_id=actor.org_id, name=name)
    session.add(team)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="organization.team.create",
        target=name,
        message=f"Created team {name}",
        details={"team_id": team.id, "name": name},
    )
    return team


def rename_team(session: Session, *, actor: Actor, team_id: int, name: str) -> Team:
    ensure_allowed(actor, "teams.manage")
    name = clean_team_name(name)
    lock_organization(session, actor.org_id)
    team = get_team(session, actor=actor, team_id=team_id)
    if name == team.name:
        return team
    _check_unique(session, actor.org_id, name, except_id=team.id)
    old = team.name
    team.name = name
    session.add(team)
    audit.record(
        session,
        actor=actor,
        action="organization.team.rename",
        target=name,
        message=f"Renamed team {old} → {name}",
        details={"team_id": team.id, "changes": {"name": [old, name]}},
    )
    return team


def delete_team(session: Session, *, actor: Actor, team_id: int) -> int:
    """Delete a team: its members (removed ones too) become unassigned and its budget goes
    with it. Returns how many current members it had."""
    ensure_allowed(actor, "teams.manage")
    lock_organization(session, actor.org_id)
    team = get_team(session, actor=actor, team_id=team_id)
    current = session.exec(
        select(func.count()).where(Member.team_id == team.id, col(Member.removed_at).is_(None))
    ).one()
    session.exec(update(Member).where(col(Member.team_id) == team.id).values(team_id=None))
    budget = session.exec(
        select(Budget).where(
            Budget.org_id == actor.org_id, Budget.scope == "team", Budget.scope_id == team.id
        )
    ).first()
    if budget is not None:
        session.delete(budget)
    session.delete(team)
    audit.record(
        session,
        actor=actor,
        action="organization.team.delete",
        target=team.name,
        message=f"Deleted team {team.name}; {current} member(s) now without a team"
        + ("; its budget was removed" if budget is not None else ""),
        details={
            "team_id": team.id,
            "name": team.name,
            "members_unassigned": int(current),
            "budget_micros": budget.amount_micros if budget is not None else None,
        },
    )
    return int(current)


def assign_member(session: Session, *, actor: Actor, member_id: int, team_id: int | None) -> Member:
    """Put a member in a team, or in none (`team_id` None). A member is in at most one team."""
    ensure_allowed(actor, "teams.manage")
    lock_organization(session, actor.org_id)
    member = session.get(Member, member_id)
    if member is None or member.org_id != actor.org_id or member.removed_at is not None:
        raise NotFound("That member no longer exists; refresh the page.")
    team = None if team_id is None else get_team(session, actor=actor, team_id=team_id)
    if member.team_id == team_id:
        return member
    names = team_names(session, org_id=actor.org_id)
    old = names.get(member.team_id, NO_TEAM) if member.team_id is not None else NO_TEAM
    new = team.name if team is not None else NO_TEAM
    before = member.team_id
    member.team_id = team_id
    session.add(member)
    audit.record(
        session,
        actor=actor,
        action="organization.team.assign",
        target=member.email,
        message=f"{member.email}: team {old} → {new}",
        details={"member_id": member.id, "changes": {"team_id": [before, team_id]}},
    )
    return member
