"""Monthly budgets: the organization's, each team's, and an optional limit per member.

A budget covers a calendar month in UTC and is soft or hard. A hard budget makes the
gateway's decision (`kilo.gateway.decide`) refuse requests with `budget_exhausted` once the
month's spend has reached it; a soft one never refuses (it is there to be watched). The
month's spend is read in SQL from the month x member rollup: a member's row, the rows of a
team's current members (the member's current team, as everywhere), or the whole
organization's. Setting and removing a budget is for owners and admins (`budgets.manage`),
audited in the same transaction, under the organization's lock (one budget per scope).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

from kilo import audit, money
from kilo.db import lock_organization
from kilo.errors import NotFound, ValidationError
from kilo.models import Budget, Member, Organization, Team, UsageMonthlyMember, utcnow
from kilo.permissions import Actor, ensure_allowed, system_actor
from kilo.rollups.query import UsageFilter
from kilo.rollups.registry import month_end, month_start

SCOPES = ("organization", "team", "member")
MAX_BUDGET_MICROS = 10**15  # one billion dollars


@dataclass(frozen=True)
class BudgetStatus:
    """One budget with its month: spent so far and the projection to the month's end
    (None where the viewer may not see it: team and member figures while per-member
    analytics are off)."""

    id: int
    scope: str
    scope_id: int
    name: str  # "Organization", the team's name, or the member's name <email>
    amount_micros: int
    hard: bool
    period_start: date
    period_end: date
    spent_micros: int | None
    projected_micros: int | None

    @property
    def label(self) -> str:
        return describe(self.scope, self.name)


def describe(scope: str, name: str) -> str:
    """The budget in words: "the monthly budget of team “Platform”"."""
    if scope == "organization":
        return f"the monthly budget of {name} (the organization)"
    if scope == "team":
        return f"the monthly budget of team “{name}”"
    return f"the monthly limit of {name}"


# ---- the month's spend (SQL over the month x member rollup) ----------------------------


def month_spent_micros(
    session: Session, *, org_id: int, scope: str, scope_id: int, today: date
) -> int:
    """The scope's recorded usage cost in the calendar month (UTC) of `today`."""
    m = UsageMonthlyMember
    stmt = select(func.coalesce(func.sum(m.cost_micros), 0)).where(
        m.org_id == org_id, m.month == month_start(today)
    )
    if scope == "member":
        stmt = stmt.where(m.member_id == scope_id)
    elif scope == "team":
        stmt = stmt.where(m.member_id.in_(select(Member.id).where(Member.team_id == scope_id)))
    return int(session.execute(stmt).scalar())


def applicable_hard_budgets(org_id: Any, member_id: Any, team_id: Any) -> Any:
    """A scalar subquery counting the hard budgets that apply to a member (the
    organization's, the member's team's, the member's own), for a larger statement: the
    gateway reads it in its one round trip and calls `exhausted_budget` only when it is not
    zero. The arguments are SQL expressions (a bound parameter, the member's columns)."""
    return (
        select(func.count())
        .select_from(Budget)
        .where(
            Budget.org_id == org_id,
            Budget.hard.is_(True),
            or_(
                Budget.scope == "organization",
                and_(Budget.scope == "member", Budget.scope_id == member_id),
                and_(Budget.scope == "team", Budget.scope_id == team_id),
            ),
        )
        .scalar_subquery()
    )


def exhausted_budget(
    session: Session, *, org_id: int, member_id: int, team_id: int | None
) -> str | None:
    """For the gateway: why a request of this member is refused by a hard budget whose
    month is spent (spent >= budget), naming the budget; None when none is. Reads only the
    hard budgets that apply (none: one indexed query and no sums)."""
    applies = [
        Budget.scope == "organization",
        and_(Budget.scope == "member", Budget.scope_id == member_id),
    ]
    if team_id is not None:
        applies.append(and_(Budget.scope == "team", Budget.scope_id == team_id))
    budgets = session.exec(
        select(Budget).where(Budget.org_id == org_id, Budget.hard.is_(True), or_(*applies))
    ).all()
    if not budgets:
        return None
    today = utcnow().date()
    order = {"member": 0, "team": 1, "organization": 2}  # the most specific first
    for budget in sorted(budgets, key=lambda b: order[b.scope]):
        spent = month_spent_micros(
            session, org_id=org_id, scope=budget.scope, scope_id=budget.scope_id, today=today
        )
        if spent >= budget.amount_micros:
            name = _scope_name(session, org_id, budget.scope, budget.scope_id)
            label = describe(budget.scope, name)
            return (
                f"{label[0].upper()}{label[1:]} ({money.usd(budget.amount_micros)} for "
                f"{today:%B %Y}, UTC) is spent: {money.usd(spent)} so far. Requests are refused "
                "until the month ends or an owner or admin raises it on the Organization tab."
            )
    return None


# ---- reading --------------------------------------------------------------------------


def _scope_name(session: Session, org_id: int, scope: str, scope_id: int) -> str:
    if scope == "organization":
        org = session.get(Organization, org_id)
        return org.name if org else ""
    if scope == "team":
        team = session.get(Team, scope_id)
        return team.name if team and team.org_id == org_id else f"team {scope_id}"
    member = session.get(Member, scope_id)
    if member is None or member.org_id != org_id:
        return f"member {scope_id}"
    return f"{member.name} <{member.email}>"


def scope_name(session: Session, *, org_id: int, scope: str, scope_id: int) -> str:
    """The organization's, team's or member's name (for messages: alerts)."""
    return _scope_name(session, org_id, scope, scope_id)


def list_budgets(session: Session, *, actor: Actor, today: date) -> list[BudgetStatus]:
    """Every budget of the organization with this month's spend and projection (the Usage
    tab's forecast: spend so far + the last 7 days' daily average x the days left).
    Organization first, then teams, then members, each by name."""
    from kilo import usage  # late: kilo.usage imports the rollups, which import models

    ensure_allowed(actor, "usage.view_all")
    sees_members = usage.sees_every_member(session, actor=actor)
    system = system_actor(actor.org_id, name="Budgets")
    base = UsageFilter(start=month_start(today), end=today)
    out = []
    for budget in session.exec(select(Budget).where(Budget.org_id == actor.org_id)).all():
        name = _scope_name(session, actor.org_id, budget.scope, budget.scope_id)
        spent = projected = None
        if budget.scope == "organization" or sees_members:
            view = {
                "organization": base,
                "team": replace(base, teams=(budget.scope_id,)),
                "member": replace(base, members=(budget.scope_id,)),
            }[budget.scope]
            forecast = usage.get_forecast(session, actor=system, f=view, today=today)
            spent = month_spent_micros(
                session,
                org_id=actor.org_id,
                scope=budget.scope,
                scope_id=budget.scope_id,
                today=today,
            )
            projected = forecast["projected_micros"]
        out.append(
            BudgetStatus(
                id=budget.id,
                scope=budget.scope,
                scope_id=budget.scope_id,
                name=name,
                amount_micros=budget.amount_micros,
                hard=budget.hard,
                period_start=month_start(today),
                period_end=month_end(today),
                spent_micros=spent,
                projected_micros=projected,
            )
        )
    out.sort(key=lambda b: (SCOPES.index(b.scope), b.name.lower()))
    return out


# ---- changing -------------------------------------------------------------------------


def _check_target(session: Session, actor: Actor, scope: str, scope_id: int | None) -> int:
    """The scope's id, checked to be this organization's (a current member for a member)."""
    if scope not in SCOPES:
        raise ValidationError(f"Unknown budget scope “{scope}”; use {', '.join(SCOPES)}.")
    if scope == "organization":
        return actor.org_id
    if scope_id is None:
        raise ValidationError(f"Choose the {scope} the budget is for.")
    if scope == "team":
        team = session.get(Team, scope_id)
        if team is None or team.org_id != actor.org_id:
            raise NotFound("That team no longer exists; refresh the page.")
    else:
        member = session.get(Member, scope_id)
        if member is None or member.org_id != actor.org_id or member.removed_at is not None:
            raise NotFound("That member no longer exists; refresh the page.")
    return scope_id


def _find(session: Session, org_id: int, scope: str, scope_id: int) -> Budget | None:
    return session.exec(
        select(Budget).where(
            Budget.org_id == org_id, Budget.scope == scope, Budget.scope_id == scope_id
        )
    ).first()


def set_budget(
    session: Session,
    *,
    actor: Actor,
    scope: str,
    scope_id: int | None = None,
    amount_micros: int,
    hard: bool,
) -> Budget:
    """Set (create or change) the monthly budget of the organization, a team or a member."""
    ensure_allowed(actor, "budgets.manage")
    if not isinstance(amount_micros, int) or isinstance(amount_micros, bool):
        raise ValidationError("The budget must be an amount in dollars.")
    if amount_micros <= 0:
        raise ValidationError("The budget must be more than $0 (remove it to have none).")
    if amount_micros > MAX_BUDGET_MICROS:
        raise ValidationError(f"The budget can be at most {money.usd(MAX_BUDGET_MICROS)}.")
    lock_organization(session, actor.org_id)  # one budget per scope: check, then write
    target = _check_target(session, actor, scope, scope_id)
    name = _scope_name(session, actor.org_id, scope, target)
    budget = _find(session, actor.org_id, scope, target)
    before = None if budget is None else [budget.amount_micros, budget.hard]
    if before == [amount_micros, hard]:
        return budget
    if budget is None:
        budget = Budget(org_id=actor.org_id, scope=scope, scope_id=target, amount_micros=0)
    budget.amount_micros, budget.hard, budget.updated_at = amount_micros, bool(hard), utcnow()
    session.add(budget)
    session.flush()
    kind = "hard" if hard else "soft"
    was = (
        ""
        if before is None
        else f" (was {money.usd(before[0])}, {'hard' if before[1] else 'soft'})"
    )
    audit.record(
        session,
        actor=actor,
        action="organization.budget.set",
        target=name,
        message=f"Set {describe(scope, name)} to {money.usd(amount_micros)}, {kind}{was}",
        details={
            "budget_id": budget.id,
            "scope": scope,
            "scope_id": target,
            "changes": {
                "amount_micros": [None if before is None else before[0], amount_micros],
                "hard": [None if before is None else before[1], bool(hard)],
            },
        },
    )
    return budget


def remove_budget(session: Session, *, actor: Actor, budget_id: int) -> None:
    ensure_allowed(actor, "budgets.manage")
    lock_organization(session, actor.org_id)
    budget = session.get(Budget, budget_id)
    if budget is None or budget.org_id != actor.org_id:
        raise NotFound("That budget no longer exists; refresh the page.")
    name = _scope_name(session, actor.org_id, budget.scope, budget.scope_id)
    session.delete(budget)
    audit.record(
        session,
        actor=actor,
        action="organization.budget.remove",
        target=name,
        message=f"Removed {describe(budget.scope, name)} ({money.usd(budget.amount_micros)}, "
        f"{'hard' if budget.hard else 'soft'})",
        details={
            "budget_id": budget_id,
            "scope": budget.scope,
            "scope_id": budget.scope_id,
            "amount_micros": budget.amount_micros,
            "hard": budget.hard,
        },
    )
