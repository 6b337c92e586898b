"""Teams: who may manage them, names, deletion, one team per member, audit entries; and
usage by team: team totals equal the sums of their members (each member's current team),
the team filter, the read API's team rows, and who sees what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from kilo import budgets, teams, usage, usage_report
from kilo.errors import Conflict, NotFound, PermissionDenied, ValidationError
from kilo.models import AuditEntry, Budget, Member, Organization
from kilo.permissions import system_actor
from kilo.rollups.query import NO_TEAM_ID
from tests.factories import create_member, create_team, usage_event

TODAY = datetime.now(UTC).date()
MONTH = usage.UsageFilter(start=TODAY - timedelta(days=40), end=TODAY)


def _actions(session, org_id: int) -> list[str]:
    return list(
        session.exec(
            select(AuditEntry.action).where(AuditEntry.org_id == org_id).order_by(AuditEntry.id)
        ).all()
    )


@pytest.mark.parametrize(("role", "may"), [("owner", True), ("admin", True), ("member", False)])
def test_every_role_managing_teams(session, role, may):
    people = create_team(session)
    actor = people[role]
    owner = people["owner"]
    existing = teams.create_team(session, actor=owner, name="Platform")
    calls = [
        lambda: teams.create_team(session, actor=actor, name="Data"),
        lambda: teams.rename_team(session, actor=actor, team_id=existing.id, name="Infra"),
        lambda: teams.assign_member(
            session, actor=actor, member_id=people["member"].id, team_id=existing.id
        ),
        lambda: teams.assign_member(
            session, actor=actor, member_id=people["member"].id, team_id=None
        ),
        lambda: teams.delete_team(session, actor=actor, team_id=existing.id),
    ]
    for call in calls:
        if may:
            call()
        else:
            with pytest.raises(PermissionDenied, match="manage teams"):
                call()
    # Everyone may see the teams (the member list shows them).
    names = [t.name for t in teams.list_teams(session, actor=people["member"])]
    assert names == (["Data"] if may else ["Platform"])
    expected = [
        "organization.team.create",
        "organization.team.rename",
        "organization.team.assign",
        "organization.team.assign",
        "organization.team.delete",
    ]
    assert _actions(session, owner.org_id) == ["organization.team.create"] + (
        expected if may else []
    )


def test_names_are_checked_and_unique_per_organization_ignoring_case(session):
    owner = create_team(session)["owner"]
    other_owner = create_team(session)["owner"]
    team = teams.create_team(session, actor=owner, name="  Platform   Team ")
    assert team.name == "Platform Team"
    with pytest.raises(Conflict, match="already exists"):
        teams.create_team(session, actor=owner, name="platform team")
    teams.create_team(session, actor=other_owner, name="Platform Team")  # another organization
    other = teams.create_team(session, actor=owner, name="Data")
    with pytest.raises(Conflict):
        teams.rename_team(session, actor=owner, team_id=other.id, name="PLATFORM TEAM")
    for bad, message in [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 61, "too long"),
        ("no team", "without a team"),
        ("a\x00b", "control characters"),
    ]:
        with pytest.raises(ValidationError, match=message):
            teams.create_team(session, actor=owner, name=bad)
    teams.create_team(session, actor=owner, name="x" * 60)
    # Renaming to the same name (other case) of itself is allowed.
    assert teams.rename_team(session, actor=owner, team_id=other.id, name="DATA").name == "DATA"


def test_a_member_is_in_at_most_one_team_and_deleting_a_team_unassigns(session):
    people = create_team(session)
    owner, admin = people["owner"], people["admin"]
    a = teams.create_team(session, actor=owner, name="A")
    b = teams.create_team(session, actor=owner, name="B")
    member_id = people["member"].id
    teams.assign_member(session, actor=admin, member_id=member_id, team_id=a.id)
    teams.assign_member(session, actor=admin, member_id=member_id, team_id=b.id)
    assert session.get(Member, member_id).team_id == b.id
    teams.assign_member(session, actor=admin, member_id=owner.id, team_id=b.id)
    budgets.set_budget(
        session, actor=owner, scope="team", scope_id=b.id, amount_micros=10_000_000, hard=True
    )
    counts = {t.name: t.members for t in teams.list_teams(session, actor=owner)}
    assert counts == {"A": 0, "B": 2}
    assert teams.delete_team(session, actor=admin, team_id=b.id) == 2
    assert session.get(Member, member_id).team_id is None
    assert session.get(Member, owner.id).team_id is None
    assert session.exec(select(Budget)).all() == []  # the team's budget went with it
    entry = session.exec(
        select(AuditEntry).where(AuditEntry.action == "organization.team.delete")
    ).one()
    assert entry.details["members_unassigned"] == 2
    assert entry.details["budget_micros"] == 10_000_000
    with pytest.raises(NotFound):
        teams.assign_member(session, actor=admin, member_id=member_id, team_id=b.id)


def test_another_organizations_team_or_member_is_not_found(session):
    mine = create_team(session)
    theirs = create_team(session)
    their_team = teams.create_team(session, actor=theirs["owner"], name="Theirs")
    with pytest.raises(NotFound):
        teams.assign_member(
            session, actor=mine["owner"], member_id=mine["member"].id, team_id=their_team.id
        )
    with pytest.raises(NotFound):
        teams.assign_member(
            session, actor=mine["owner"], member_id=theirs["member"].id, team_id=None
        )
    with pytest.raises(NotFound):
        teams.delete_team(session, actor=mine["owner"], team_id=their_team.id)
    with pytest.raises(NotFound):
        teams.rename_team(session, actor=mine["owner"], team_id=their_team.id, name="Mine")


# ---- usage by team ---------------------------------------------------------------------


def _org_with_usage(session):
    """Two teams and members spending known amounts: A = {m1, m2}, B = {m3}, m4 no team."""
    people = create_team(session)
    owner = people["owner"]
    org = session.get(Organization, owner.org_id)
    a = teams.create_team(session, actor=owner, name="Alpha")
    b = teams.create_team(session, actor=owner, name="Beta")
    ms = [create_member(session, org) for _ in range(4)]
    for m, team in zip(ms, (a, a, b, None), strict=True):
        if team is not None:
            teams.assign_member(session, actor=owner, member_id=m.id, team_id=team.id)
    noon = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
    events = []
    for i, m in enumerate(ms):
        for day in range(3):
            events.append(
                usage_event(
                    m.id,
                    noon - timedelta(days=day),
                    cost_micros=1_000_000 * (i + 1) + day,
                    input_tokens=10 * (i + 1),
                    output_tokens=5,
                )
            )
    usage.insert_events(session, org_id=owner.org_id, events=events)
    return people, a, b, ms


def test_team_totals_equal_the_sums_of_their_members(session):
    people, a, b, ms = _org_with_usage(session)
    admin = people["admin"]
    per_member = usage.get_breakdown(session, actor=admin, f=MONTH, by=("member_id",))
    cost = dict(zip(per_member["member_id"], per_member["cost_micros"], strict=True))
    frame = usage.get_team_usage(session, actor=admin, f=MONTH)
    rows = {r.team: r for r in frame.itertuples()}
    assert set(rows) == {"Alpha", "Beta", "No team"}
    assert rows["Alpha"].cost_micros == cost[ms[0].id] + cost[ms[1].id]
    assert rows["Beta"].cost_micros == cost[ms[2].id]
    assert rows["No team"].cost_micros == cost[ms[3].id]
    assert rows["No team"].team_id == NO_TEAM_ID
    assert rows["Alpha"].active_members == 2 and rows["Beta"].active_members == 1
    assert rows["Alpha"].requests == 6 and rows["Alpha"].tokens == 6 * 5 + 3 * (10 + 20)
    assert (
        frame["cost_micros"].sum() == usage.get_totals(session, actor=admin, f=MONTH)["cost_micros"]
    )
    # The team filter: member_id IN (the team's members), on every view.
    only_a = usage.UsageFilter(start=MONTH.start, end=MONTH.end, teams=(a.id,))
    assert (
        usage.get_totals(session, actor=admin, f=only_a)["cost_micros"] == rows["Alpha"].cost_micros
    )
    no_team = usage.UsageFilter(start=MONTH.start, end=MONTH.end, teams=(NO_TEAM_ID,))
    assert usage.get_totals(session, actor=admin, f=no_team)["cost_micros"] == cost[ms[3].id]
    by_member = usage.list_member_usage(session, actor=admin, f=only_a)
    assert sorted(by_member["member_id"]) == sorted([ms[0].id, ms[1].id])
    heat = usage.get_heatmap(session, actor=admin, f=only_a)
    assert heat["cost_micros"].sum() == rows["Alpha"].cost_micros
    trend = usage.get_team_trend(session, actor=admin, f=MONTH)
    assert trend.groupby("team")["cost_micros"].sum().to_dict() == {
        name: row.cost_micros for name, row in rows.items()
    }
    csv_lines = usage.export_team_csv(session, actor=admin, f=MONTH).splitlines()
    assert csv_lines[0].startswith("day,team_id,team,requests,successful")
    assert len(csv_lines) == 1 + 3 * 3  # three days x (Alpha, Beta, No team)


def test_moving_a_member_moves_their_history(session):
    people, a, b, ms = _org_with_usage(session)
    admin = people["admin"]
    before = {
        r.team: r.cost_micros
        for r in usage.get_team_usage(session, actor=admin, f=MONTH).itertuples()
    }
    moved = usage.get_totals(
        session,
        actor=admin,
        f=usage.UsageFilter(start=MONTH.start, end=MONTH.end, members=(ms[0].id,)),
    )["cost_micros"]
    teams.assign_member(session, actor=people["owner"], member_id=ms[0].id, team_id=b.id)
    after = {
        r.team: r.cost_micros
        for r in usage.get_team_usage(session, actor=admin, f=MONTH).itertuples()
    }
    assert after["Alpha"] == before["Alpha"] - moved
    assert after["Beta"] == before["Beta"] + moved
    teams.delete_team(session, actor=people["owner"], team_id=b.id)
    after = {
        r.team: r.cost_micros
        for r in usage.get_team_usage(session, actor=admin, f=MONTH).itertuples()
    }
    assert after["No team"] == before["No team"] + before["Beta"] + moved


def test_the_read_api_groups_by_team(session):
    people, a, b, ms = _org_with_usage(session)
    query = usage_report.parse_query(
        [("from", MONTH.start.isoformat()), ("to", TODAY.isoformat()), ("group_by", "team")]
    )
    report = usage_report.build_report(
        session, actor=system_actor(people["owner"].org_id, "API token"), query=query
    )
    teams_ui = usage.get_team_usage(session, actor=people["admin"], f=MONTH)
    by_name = {r["team_name"]: r for r in report.rows}
    assert set(by_name) == {"Alpha", "Beta", ""}
    assert by_name[""]["team_id"] == 0
    for r in teams_ui.itertuples():
        row = by_name["" if r.team == "No team" else r.team]
        assert row["cost_micros"] == r.cost_micros and row["requests"] == r.requests
    assert report.as_csv().splitlines()[0].startswith("team_id,team_name,requests")


def test_members_see_only_their_own_usage_by_team(session):
    people, a, b, ms = _org_with_usage(session)
    member = people["member"]
    teams.assign_member(session, actor=people["owner"], member_id=member.id, team_id=a.id)
    usage.insert_events(
        session,
        org_id=member.org_id,
        events=[usage_event(member.id, datetime.now(UTC), cost_micros=7)],
    )
    frame = usage.get_team_usage(session, actor=member, f=MONTH)
    assert list(frame["team"]) == ["Alpha"] and list(frame["cost_micros"]) == [7]
    only_b = usage.UsageFilter(start=MONTH.start, end=MONTH.end, teams=(b.id,))
    assert usage.get_totals(session, actor=member, f=only_b)["cost_micros"] == 0


def test_team_views_follow_the_per_member_analytics_switch(session):
    people, a, b, ms = _org_with_usage(session)
    org = session.get(Organization, people["owner"].org_id)
    org.usage_analytics_enabled = False
    session.add(org)
    session.flush()
    with pytest.raises(PermissionDenied, match="turned off"):
        usage.get_team_usage(session, actor=people["admin"], f=MONTH)
    only_a = usage.UsageFilter(start=MONTH.start, end=MONTH.end, teams=(a.id,))
    with pytest.raises(PermissionDenied, match="turned off"):
        usage.get_totals(session, actor=people["admin"], f=only_a)
    query = usage_report.parse_query([("group_by", "team")])
    with pytest.raises(usage_report.AnalyticsOff):
        usage_report.build_report(session, actor=system_actor(org.id, "API token"), query=query)
