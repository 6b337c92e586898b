"""Monthly budgets: who may set them, validation, audit; hard budgets refusing through the
gateway's decision at exactly the budget and allowing one cent below; soft budgets never
refusing; spent and forecast as the Organization tab shows them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from kilo import apikeys, budgets, members, teams, usage
from kilo.db import read_session, write_session
from kilo.errors import NotFound, PermissionDenied, ValidationError
from kilo.gateway import decide
from kilo.models import AuditEntry, Budget, Organization
from kilo.permissions import system_actor
from kilo.rollups.query import UsageFilter
from kilo.rollups.registry import month_start
from tests.factories import create_team

MODEL = "anthropic/claude-sonnet-4.5"
CENT = 10_000  # micro-dollars


@pytest.mark.parametrize(("role", "may"), [("owner", True), ("admin", True), ("member", False)])
def test_every_role_managing_budgets(session, role, may):
    people = create_team(session)
    actor = people[role]
    team = teams.create_team(session, actor=people["owner"], name="Platform")
    targets = [
        ("organization", None),
        ("team", team.id),
        ("member", people["member"].id),
    ]
    for scope, scope_id in targets:
        kwargs = {"scope": scope, "scope_id": scope_id, "amount_micros": 5_000_000, "hard": True}
        if may:
            budgets.set_budget(session, actor=actor, **kwargs)
        else:
            with pytest.raises(PermissionDenied, match="manage budgets"):
                budgets.set_budget(session, actor=actor, **kwargs)
    if may:
        listed = budgets.list_budgets(session, actor=actor, today=datetime.now(UTC).date())
        assert [(b.scope, b.amount_micros, b.hard) for b in listed] == [
            ("organization", 5_000_000, True),
            ("team", 5_000_000, True),
            ("member", 5_000_000, True),
        ]
        for b in listed:
            budgets.remove_budget(session, actor=actor, budget_id=b.id)
        assert session.exec(select(Budget)).all() == []
        actions = session.exec(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert actions.count("organization.budget.set") == 3
        assert actions.count("organization.budget.remove") == 3
    else:
        with pytest.raises(PermissionDenied):
            budgets.list_budgets(session, actor=actor, today=datetime.now(UTC).date())


def test_budget_input_is_checked(session):
    people = create_team(session)
    owner = people["owner"]
    theirs = create_team(session)
    their_team = teams.create_team(session, actor=theirs["owner"], name="Theirs")
    for amount, message in [(0, "more than"), (-1, "more than"), (10**15 + 1, "at most")]:
        with pytest.raises(ValidationError, match=message):
            budgets.set_budget(
                session, actor=owner, scope="organization", amount_micros=amount, hard=False
            )
    with pytest.raises(ValidationError, match="Unknown budget scope"):
        budgets.set_budget(session, actor=owner, scope="company", amount_micros=1, hard=False)
    with pytest.raises(ValidationError, match="Choose the team"):
        budgets.set_budget(session, actor=owner, scope="team", amount_micros=1, hard=False)
    with pytest.raises(NotFound):
        budgets.set_budget(
            session, actor=owner, scope="team", scope_id=their_team.id, amount_micros=1, hard=False
        )
    with pytest.raises(NotFound):
        budgets.set_budget(
            session,
            actor=owner,
            scope="member",
            scope_id=theirs["member"].id,
            amount_micros=1,
            hard=False,
        )
    # One budget per scope: setting again changes it (and says what it was).
    budgets.set_budget(session, actor=owner, scope="organization", amount_micros=100, hard=False)
    budgets.set_budget(session, actor=owner, scope="organization", amount_micros=200, hard=True)
    assert [(b.amount_micros, b.hard) for b in session.exec(select(Budget)).all()] == [(200, True)]
    last = session.exec(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert last.action == "organization.budget.set"
    assert last.details["changes"] == {"amount_micros": [100, 200], "hard": [False, True]}


# ---- the gateway's decision ------------------------------------------------------------


def _actor(username: str):  # noqa: ANN202
    with read_session() as s:
        return members.actor_for(members.get_member_by_username(s, username))


@pytest.fixture
def key(demo_url) -> str:
    member = _actor("member")
    with write_session() as s:
        # No daily limit in the way: the budgets are under test.
        members.update_member(
            s, actor=_actor("owner"), member_id=member.id, daily_spend_limit_micros=None
        )
        _, secret = apikeys.create_api_key(s, actor=member, name="laptop")
    return secret


def _decide(secret: str):  # noqa: ANN202
    with read_session() as s:
        org_id = s.exec(select(Organization.id)).first()
        return decide(s, org_id=org_id, api_key=secret, model=MODEL)


def _spent(scope: str, scope_id: int) -> int:
    with read_session() as s:
        org_id = s.exec(select(Organization.id)).first()
        return budgets.month_spent_micros(
            s, org_id=org_id, scope=scope, scope_id=scope_id, today=datetime.now(UTC).date()
        )


def _set(scope: str, scope_id: int | None, amount: int, hard: bool) -> None:
    with write_session() as s:
        budgets.set_budget(
            s,
            actor=_actor("admin"),
            scope=scope,
            scope_id=scope_id,
            amount_micros=amount,
            hard=hard,
        )


def _spend(cost: str) -> None:
    member = _actor("member")
    with write_session() as s:
        usage.record_usage(
            s,
            actor=system_actor(member.org_id, "Gateway"),
            member_id=member.id,
            model_id=MODEL,
            provider="anthropic",
            input_tokens=1,
            output_tokens=1,
            cost_usd=cost,
            latency_ms=10,
        )


def _team_of_member() -> int:
    with write_session() as s:
        team = teams.create_team(s, actor=_actor("owner"), name="Robots")
        teams.assign_member(
            s, actor=_actor("owner"), member_id=_actor("member").id, team_id=team.id
        )
        return team.id


def test_month_spend_is_read_from_the_rollups(key):
    member = _actor("member")
    _spend("0.01")  # something this month, whatever the demo holds
    today = datetime.now(UTC).date()
    with read_session() as s:
        view = UsageFilter(start=month_start(today), end=today)
        org_total = usage.get_totals(s, actor=_actor("owner"), f=view)["cost_micros"]
        mine = usage.get_totals(s, actor=member, f=view)["cost_micros"]
    assert _spent("organization", member.org_id) == org_total
    assert _spent("member", member.id) == mine > 0


@pytest.mark.parametrize("scope", ["organization", "team", "member"])
def test_a_hard_budget_refuses_at_exactly_the_budget_and_allows_one_cent_below(key, scope):
    member = _actor("member")
    scope_id = {"organization": member.org_id, "member": member.id}.get(scope)
    if scope == "team":
        scope_id = _team_of_member()
    _spend("0.50")
    spent = _spent(scope, scope_id)
    _set(scope, scope_id, spent + CENT, hard=True)  # spent is one cent below the budget
    assert _decide(key).allowed
    _set(scope, scope_id, spent, hard=True)  # spent == budget
    d = _decide(key)
    assert (d.allowed, d.code, d.status) == (False, "budget_exhausted", 402)
    name = {"organization": "Acme Robotics", "team": "team “Robots”", "member": member.email}
    assert name[scope] in d.message and "monthly" in d.message
    assert d.member_id == member.id and d.balance_micros is not None
    _spend("0.01")  # over it now: still refused
    assert _decide(key).code == "budget_exhausted"
    _set(scope, scope_id, spent + 100 * CENT, hard=True)  # raised: allowed again
    assert _decide(key).allowed


def test_a_soft_budget_never_refuses(key):
    member = _actor("member")
    team_id = _team_of_member()
    _spend("2.00")
    for scope, scope_id in (
        ("organization", member.org_id),
        ("team", team_id),
        ("member", member.id),
    ):
        _set(scope, scope_id, 1, hard=False)  # a micro-dollar: long spent
    assert _decide(key).allowed
    _spend("1.00")
    assert _decide(key).allowed


def test_another_teams_or_members_hard_budget_does_not_refuse(key):
    with write_session() as s:
        other_team = teams.create_team(s, actor=_actor("owner"), name="Elsewhere")
        other_team_id = other_team.id
    _team_of_member()
    _spend("0.10")
    _set("team", other_team_id, 1, hard=True)
    _set("member", _actor("admin").id, 1, hard=True)
    assert _decide(key).allowed


def test_the_budget_list_shows_spent_and_the_forecast(key):
    member = _actor("member")
    team_id = _team_of_member()
    _spend("0.25")
    _set("organization", None, 10**12, hard=False)
    _set("team", team_id, 10**9, hard=True)
    today = datetime.now(UTC).date()
    with read_session() as s:
        listed = budgets.list_budgets(s, actor=_actor("admin"), today=today)
        view = UsageFilter(start=month_start(today), end=today, teams=(team_id,))
        forecast = usage.get_forecast(s, actor=_actor("admin"), f=view, today=today)
    assert listed[0].scope == "organization"  # first; then the teams, by name
    assert [b.name for b in listed if b.scope == "team"] == sorted(
        ["Data", "Platform", "Product", "Robotics", "Robots"]  # the demo's four, and ours
    )
    team_budget = next(b for b in listed if b.scope_id == team_id and b.scope == "team")
    assert team_budget.name == "Robots" and team_budget.hard
    assert team_budget.spent_micros == _spent("team", team_id) == forecast["spent_micros"]
    assert team_budget.projected_micros == forecast["projected_micros"]
    assert team_budget.period_start == month_start(today)
    assert _spent("team", team_id) == _spent("member", member.id)
