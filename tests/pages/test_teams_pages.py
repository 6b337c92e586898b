"""Teams and budgets through AppTest: the Organization tab's Teams and Budgets sections for
an admin and a member, and the Usage tab's team filter and Teams view."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from kilo import budgets, members, teams, usage
from kilo.db import read_session, write_session
from kilo.models import Budget, Member, Team
from kilo.rollups.query import UsageFilter
from kilo.rollups.registry import month_start
from tests.pages.helpers import app_as, open_page, texts

ORG = "pages/organization.py"
USAGE = "pages/usage.py"


def _member(username: str) -> Member:
    with read_session() as s:
        return s.execute(select(Member).where(Member.username == username)).scalar_one()


def _actor(username: str):  # noqa: ANN202
    return members.actor_for(_member(username))


def _team_with(username: str, name: str = "Robots") -> int:
    with write_session() as s:
        team = teams.create_team(s, actor=_actor("owner"), name=name)
        teams.assign_member(
            s, actor=_actor("owner"), member_id=_member(username).id, team_id=team.id
        )
        return team.id


def test_admin_creates_a_team_assigns_a_member_and_sets_a_hard_budget(demo_url):
    at = open_page("admin", ORG)
    assert not at.exception
    at.text_input(key="org_team_new").input("Firmware")
    at.button(key="org_team_create").click().run()
    assert not at.exception
    with read_session() as s:
        team = s.execute(select(Team).where(Team.name == "Firmware")).scalar_one()
    mia = _member("member")
    at.selectbox(key="org_team_member").set_value(mia.id).run()
    at.selectbox(key="org_team_member_team").set_value(team.id)
    at.button(key="org_team_assign").click().run()
    assert not at.exception
    assert _member("member").team_id == team.id
    people = at.dataframe[0].value
    assert people.loc[people["Email"] == mia.email, "Team"].tolist() == ["Firmware"]
    assert {"Firmware", "Platform", "No team"} <= set(people["Team"])  # with the demo's

    at.radio(key="org_budget_scope").set_value("team").run()
    at.selectbox(key="org_budget_team").set_value(team.id)
    at.text_input(key="org_budget_amount").input("not money")
    at.button(key="org_budget_save").click().run()
    assert "is not an amount in dollars" in texts(at)
    at.text_input(key="org_budget_amount").input("1,000.50")
    at.toggle(key="org_budget_hard").set_value(True)
    at.button(key="org_budget_save").click().run()
    assert not at.exception
    with read_session() as s:
        budget = s.execute(
            select(Budget).where(Budget.scope == "team", Budget.scope_id == team.id)
        ).scalar_one()
    assert (budget.scope, budget.scope_id, budget.amount_micros, budget.hard) == (
        "team",
        team.id,
        1_000_500_000,
        True,
    )
    today = datetime.now(UTC).date()
    with read_session() as s:
        spent = budgets.month_spent_micros(
            s, org_id=team.org_id, scope="team", scope_id=team.id, today=today
        )
    from ui import fmt_micros

    bars = [b.proto.text for b in at.get("progress") if "$1,000.50" in b.proto.text]
    assert bars and bars[0].startswith(f"{fmt_micros(spent)} / $1,000.50")
    body = texts(at)
    assert "Team Firmware" in body and "hard: requests are refused once spent" in body
    assert "Alerts (below) tell the alert channels" in body and "Forecast by" in body


def test_a_member_sees_teams_but_neither_manages_them_nor_sees_budgets(demo_url):
    _team_with("member")
    with write_session() as s:
        budgets.set_budget(
            s, actor=_actor("owner"), scope="organization", amount_micros=10**9, hard=False
        )
    at = open_page("member", ORG)
    assert not at.exception
    assert "Team" in at.dataframe[0].value.columns
    assert any("Robots" in list(df.value.get("Team", [])) for df in at.dataframe)  # the teams table
    keys = {w.key for w in at.button} | {w.key for w in at.text_input}
    assert not keys & {"org_team_create", "org_team_new", "org_team_assign", "org_budget_save"}
    assert "Budgets" not in [h.value for h in at.subheader]
    assert not at.get("progress")


def test_admin_sees_the_teams_view_and_filters_by_team_from_a_shared_link(demo_url):
    team_id = _team_with("member")
    at = app_as("admin")
    at.query_params["teams"] = str(team_id)
    at.query_params["tab"] = "teams"  # the Teams view, opened from the link
    at.run()
    at.switch_page(USAGE)
    at.run()
    assert not at.exception
    assert at.multiselect(key="usage_teams").value == [team_id]
    assert "Teams" in [t.label for t in at.tabs]
    today = datetime.now(UTC).date()
    with read_session() as s:
        view = UsageFilter(start=month_start(today), end=today)
        mine = usage.get_totals(s, actor=_actor("member"), f=view)["cost_micros"]
    from ui import fmt_micros

    spend = next(m.value for m in at.metric if m.label == "Total spend")
    assert spend == fmt_micros(mine)  # the team filter: its one member's spend
    table = next(df.value for df in at.dataframe if "Active members" in df.value.columns)
    assert table["Team"].tolist() == ["Robots"] and table["Active members"].tolist() == [1]
    assert table["Spend"].tolist() == [fmt_micros(mine)]
    assert str(team_id) in str(at.query_params["teams"])
    at.multiselect(key="usage_teams").set_value([]).run()
    table = next(df.value for df in at.dataframe if "Active members" in df.value.columns)
    assert {"Robots", "Platform", "No team"} <= set(table["Team"])  # with the demo's teams


def test_a_member_has_no_teams_view_or_filter(demo_url):
    _team_with("member")
    at = open_page("member", USAGE)
    assert not at.exception
    assert "Teams" not in [t.label for t in at.tabs]
    assert not [w for w in at.multiselect if w.key == "usage_teams"]


def test_a_shared_link_with_an_unknown_team_warns_and_shows_all_teams(demo_url):
    at = app_as("admin")
    at.query_params["teams"] = "999999,x"
    at.run()
    at.switch_page(USAGE)
    at.run()
    assert not at.exception
    assert at.multiselect(key="usage_teams").value == []
    warning = " ".join(w.value for w in at.warning)
    assert "`teams`" in warning and "not a team of this organization" in warning
    assert "“x” is not a value this page knows" in warning


def test_the_teams_trend_spans_the_period_and_a_team_keeps_its_colour(demo_url):
    """The trend by team spans the period like the Time tab's trend (it spanned at least a
    week of the data's days, so a short period's bars were squeezed to one side)."""
    import json

    from tests.pages.helpers import open_tab

    def day_charts(at) -> list[dict]:  # noqa: ANN001
        specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
        return [s for s in specs if s["encoding"]["x"].get("title") == "Day (UTC)"]

    at = open_tab(open_page("owner", USAGE), "Time")
    time_trend = day_charts(at)[0]
    open_tab(at, "Teams")
    assert not at.exception
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    (team_trend,) = day_charts(at)
    assert team_trend["encoding"]["x"]["scale"] == time_trend["encoding"]["x"]["scale"]
    colours: dict[str, str] = {}
    for spec in specs:  # the two ranked bars and the trend: one colour per team
        scale = spec["encoding"]["color"]["scale"]
        for team, colour in zip(scale["domain"], scale["range"], strict=True):
            assert colours.setdefault(team, colour) == colour, team
    assert {"Platform", "No team"} <= set(colours)
    table = next(d for d in at.dataframe if "Active members" in d.value.columns)
    config = json.loads(table.proto.columns)
    for column in ("Requests", "Errors", "Tokens", "Active members"):
        assert config[column]["type_config"]["format"] == "localized", column
