"""Budgets and teams over HTTP against the real server: authorize refusing
`budget_exhausted` (402) once a hard monthly budget is spent, a soft one never refusing, and
the read API's `group_by=team` rows."""

from __future__ import annotations

from datetime import UTC, datetime

from kilo import budgets, db, teams, usage
from kilo.permissions import system_actor
from tests.api.conftest import SONNET, make_org

PATH = "/api/v1/gateway/authorize"


def _ask(server, org):
    return server.call(
        "POST", PATH, json_body={"api_key": org.key, "model": SONNET}, token=org.gateway_token
    )


def _spend(server, org, cost: str) -> None:
    with db.write_session(server.db_url) as s:
        usage.record_usage(
            s,
            actor=system_actor(org.org_id, "Gateway"),
            member_id=org.member.id,
            model_id=SONNET,
            provider="anthropic",
            input_tokens=10,
            output_tokens=20,
            cost_usd=cost,
            latency_ms=500,
        )


def _team_budget(server, org, amount_micros: int, *, hard: bool) -> int:
    with db.write_session(server.db_url) as s:
        existing = teams.list_teams(s, actor=org.owner)
        team_id = existing[0].id if existing else None
        if team_id is None:
            team_id = teams.create_team(s, actor=org.owner, name="Platform").id
            teams.assign_member(s, actor=org.admin, member_id=org.member.id, team_id=team_id)
        budgets.set_budget(
            s,
            actor=org.admin,
            scope="team",
            scope_id=team_id,
            amount_micros=amount_micros,
            hard=hard,
        )
    return team_id


def test_authorize_refuses_budget_exhausted_once_a_hard_team_budget_is_spent(api_server):
    org = make_org(api_server)
    _spend(api_server, org, "2.50")
    _team_budget(api_server, org, 2_510_000, hard=True)  # one cent above what was spent
    assert _ask(api_server, org).status == 200
    _spend(api_server, org, "0.01")  # now exactly the budget
    reply = _ask(api_server, org)
    assert reply.status == 402, reply.body
    error = reply.json()["error"]
    assert error["code"] == "budget_exhausted"
    month = datetime.now(UTC).strftime("%B %Y")
    assert "team “Platform”" in error["message"] and "$2.51" in error["message"]
    assert month in error["message"]
    _team_budget(api_server, org, 2_510_000, hard=False)  # soft: never refuses
    assert _ask(api_server, org).status == 200


def test_a_hard_organization_budget_refuses_every_member(api_server):
    org = make_org(api_server)
    _spend(api_server, org, "1")
    with db.write_session(api_server.db_url) as s:
        budgets.set_budget(
            s, actor=org.owner, scope="organization", amount_micros=1_000_000, hard=True
        )
    reply = _ask(api_server, org)
    assert (reply.status, reply.code) == (402, "budget_exhausted")
    assert "(the organization)" in reply.json()["error"]["message"]


def test_read_api_groups_by_team(api_server):
    org = make_org(api_server)
    _spend(api_server, org, "0.75")
    team_id = _team_budget(api_server, org, 10**9, hard=False)
    today = datetime.now(UTC).date().isoformat()
    reply = api_server.call(
        "GET", f"/api/v1/usage?from={today}&to={today}&group_by=team", token=org.read_token
    )
    assert reply.status == 200, reply.body
    rows = reply.json()["rows"]
    assert [(r["team_id"], r["team_name"], r["cost_usd"]) for r in rows] == [
        (team_id, "Platform", "0.750000")
    ]
