"""Live usage services: the live strip, the request log and each member's spend today.

Events go in through `kilo.usage.record_usage` (the gateway's path); every function is
asked at a fixed `now`, so hour and day boundaries are the test's, not the clock's.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from kilo import gateway, usage
from kilo.errors import PermissionDenied, ValidationError
from kilo.models import Organization
from kilo.permissions import system_actor
from kilo.usage import live
from tests.factories import create_member, create_team

NOW = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
_ids = iter(range(1, 10_000))


def _record(session, team, who: str, at: datetime, **fields) -> None:
    gw = system_actor(team["owner"].org_id, "Gateway")
    usage.record_usage(
        session,
        actor=gw,
        **(
            {
                "member_id": team[who].id,
                "model_id": "anthropic/claude-sonnet-4.5",
                "provider": "anthropic",
                "input_tokens": 100,
                "output_tokens": 20,
                "cost_usd": "0.010000",
                "latency_ms": 1200,
                "at": at,
                "external_id": f"req-{next(_ids)}",
            }
            | fields
        ),
    )


@pytest.fixture
def team(session):
    """Owner, admin and member with requests around NOW, plus another organization's."""
    team = create_team(session)
    _record(session, team, "member", NOW - timedelta(minutes=5), cost_usd="0.100000")
    _record(session, team, "member", NOW - timedelta(minutes=20), status="error", cost_usd="0")
    _record(session, team, "admin", NOW - timedelta(minutes=40), cost_usd="0.200000", mode="ask")
    _record(session, team, "owner", NOW - timedelta(hours=3), model_id="openai/gpt-5.4",
            provider="openai", cost_usd="0.300000")  # fmt: skip
    _record(session, team, "member", NOW - timedelta(hours=20), cost_usd="0.400000")  # yesterday
    _record(session, team, "member", NOW - timedelta(days=2), cost_usd="0.500000")  # too old
    other = create_team(session)
    _record(session, other, "member", NOW - timedelta(minutes=1), cost_usd="9.000000")
    session.commit()
    return team


def _log(session, actor, **filters):
    return usage.list_recent_requests(
        session, actor=actor, f=usage.RequestLogFilter(**filters), now=NOW
    )


def test_live_totals_of_the_hour_and_the_utc_day(session, team):
    admin = usage.get_live_totals(session, actor=team["admin"], now=NOW)
    assert admin["scope"] == "organization"
    assert admin["day"] == NOW.date() and admin["hour_start"] == NOW.replace(minute=0)
    # This hour (14:00-14:30): the member's two and the admin's request at 13:50 is not in it.
    assert admin["hour"] == {"requests": 2, "errors": 1, "cost_micros": 100_000}
    # Today (UTC): four requests; yesterday's and the other organization's are left out.
    assert admin["today"] == {"requests": 4, "errors": 1, "cost_micros": 600_000}
    mine = usage.get_live_totals(session, actor=team["member"], now=NOW)
    assert mine["scope"] == "own"
    assert mine["hour"] == {"requests": 2, "errors": 1, "cost_micros": 100_000}
    assert mine["today"] == {"requests": 2, "errors": 1, "cost_micros": 100_000}
    owner_own = usage.get_live_totals(session, actor=team["owner"], now=NOW)
    assert owner_own == admin  # owners and admins: the whole organization
    tomorrow = usage.get_live_totals(session, actor=team["admin"], now=NOW + timedelta(days=1))
    assert tomorrow["today"] == {"requests": 0, "errors": 0, "cost_micros": 0}


def test_live_totals_stay_organization_wide_when_analytics_are_off(session, team):
    org = session.get(Organization, team["owner"].org_id)
    org.usage_analytics_enabled = False
    session.commit()
    assert usage.get_live_totals(session, actor=team["admin"], now=NOW)["today"]["requests"] == 4
    assert usage.get_live_totals(session, actor=team["member"], now=NOW)["today"]["requests"] == 2


def test_request_log_newest_first_within_the_window(session, team):
    rows = _log(session, team["admin"])
    assert rows["at"].tolist() == sorted(rows["at"], reverse=True)
    # Last 24 hours: five of the organization's six requests (not the one of two days ago).
    assert len(rows) == 5
    assert set(rows["email"]) == {team[r].email for r in ("owner", "admin", "member")}
    first = rows.iloc[0]
    assert first["at"] == NOW - timedelta(minutes=5) and first["cost_micros"] == 100_000
    assert (first["input_tokens"], first["output_tokens"], first["latency_ms"]) == (100, 20, 1200)
    assert (first["model_id"], first["provider"], first["mode"]) == (
        "anthropic/claude-sonnet-4.5",
        "anthropic",
        "code",
    )
    assert len(_log(session, team["admin"], window="1h")) == 3
    assert len(_log(session, team["admin"], limit=2)) == 2


def test_request_log_filters(session, team):
    admin = team["admin"]
    only = _log(session, admin, members=(team["member"].id,))
    assert set(only["member_id"]) == {team["member"].id} and len(only) == 3
    assert _log(session, admin, models=("openai/gpt-5.4",))["member_id"].tolist() == [
        team["owner"].id
    ]
    assert len(_log(session, admin, providers=("anthropic",))) == 4
    assert _log(session, admin, modes=("ask",))["member_id"].tolist() == [team["admin"].id]
    errors = _log(session, admin, statuses=("error",))
    assert errors["status"].tolist() == ["error"] and errors["cost_micros"].tolist() == [0]
    assert len(_log(session, admin, statuses=("success", "error"))) == 5
    assert _log(session, admin, models=("no/such-model",)).empty


def test_members_see_only_their_own_requests(session, team):
    rows = _log(session, team["member"])
    assert set(rows["member_id"]) == {team["member"].id} and len(rows) == 3
    assert _log(session, team["member"], members=(team["member"].id,)).shape[0] == 3
    with pytest.raises(PermissionDenied, match="only their own"):
        _log(session, team["member"], members=(team["admin"].id,))


def test_another_organizations_members_are_never_listed(session, team):
    other = create_team(session)
    session.commit()
    rows = _log(session, team["admin"], members=(other["member"].id,))
    assert rows.empty  # the filter stays inside the actor's organization
    assert 9_000_000 not in _log(session, team["admin"])["cost_micros"].tolist()


def test_analytics_off_limits_admins_to_their_own_requests(session, team):
    org = session.get(Organization, team["owner"].org_id)
    org.usage_analytics_enabled = False
    session.commit()
    rows = _log(session, team["admin"])
    assert rows["member_id"].tolist() == [team["admin"].id]
    with pytest.raises(PermissionDenied, match="analytics are turned off"):
        _log(session, team["admin"], members=(team["member"].id,))
    assert usage.list_spent_today(session, actor=team["admin"], now=NOW) == {
        team["admin"].id: 200_000
    }


def test_system_actor_sees_every_member(session, team):
    rows = _log(session, system_actor(team["owner"].org_id, "Gateway"))
    assert len(rows) == 5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"window": "7d"}, "window"),
        ({"window": ""}, "window"),
        ({"limit": 0}, "between 1 and"),
        ({"limit": usage.MAX_LOG_ROWS + 1}, "between 1 and"),
        ({"limit": "10"}, "whole number"),
        ({"limit": True}, "whole number"),
        ({"members": (0,)}, "member id"),
        ({"members": ("1",)}, "member id"),
        ({"members": tuple(range(1, 52))}, "at most 50 members"),
        ({"models": ("",)}, "model filter"),
        ({"models": ("x" * 201,)}, "model filter"),
        ({"models": ("a\x00b",)}, "control character"),
        ({"providers": ("p" * 101,)}, "provider filter"),
        ({"modes": ("Code",)}, "mode slug"),
        ({"modes": ("a b",)}, "mode slug"),
        ({"statuses": ("ok",)}, "status"),
        ({"statuses": ("success",) * 51}, "at most 50 statuses"),
    ],
)
def test_bad_filters_are_refused_with_a_message(session, team, change, message):
    with pytest.raises(ValidationError, match=message):
        _log(session, team["admin"], **change)


def test_naive_now_is_refused(session, team):
    with pytest.raises(ValidationError, match="time zone"):
        usage.get_live_totals(session, actor=team["admin"], now=NOW.replace(tzinfo=None))


def test_spent_today_per_member_in_one_query(session, team):
    spent = usage.list_spent_today(session, actor=team["owner"], now=NOW)
    assert spent == {
        team["member"].id: 100_000,
        team["admin"].id: 200_000,
        team["owner"].id: 300_000,
    }
    # The batched read agrees with the gateway's per-member one, member by member.
    for member_id, micros in spent.items():
        day = live.spent_today_by_member(
            session, org_id=team["owner"].org_id, day=NOW.date(), member_ids=(member_id,)
        )
        assert day == {member_id: micros}
    assert usage.list_spent_today(session, actor=team["member"], now=NOW) == {
        team["member"].id: 100_000
    }
    yesterday = usage.list_spent_today(session, actor=team["owner"], now=NOW - timedelta(days=1))
    assert yesterday == {team["member"].id: 400_000}


def test_spent_today_matches_the_gateway_decision_input(session):
    team = create_team(session)
    member = create_member(session, session.get(Organization, team["owner"].org_id))
    session.commit()
    team = team | {"extra": member}
    now = datetime.now(UTC).replace(microsecond=0)
    _record(session, team, "extra", now, cost_usd="1.250000")
    session.commit()
    batched = live.spent_today_by_member(session, org_id=member.org_id)
    single = gateway.spent_today_micros(session, org_id=member.org_id, member_id=member.id)
    assert batched == {member.id: single} == {member.id: 1_250_000}


def test_filter_dataclass_defaults_are_valid():
    f = usage.RequestLogFilter()
    assert usage.check_log_filter(f) is f
    assert usage.check_log_filter(replace(f, window="1h", limit=usage.MAX_LOG_ROWS))


def test_the_window_narrowed_by_the_hourly_rollup_lists_the_same_requests(session):
    """The log reads only from the latest hour holding enough requests: it must list exactly
    the newest events a full read of the window would, for every limit and filter."""
    team = create_team(session)
    recorded = []
    for i in range(14):  # spread over 20 hours, some hours empty, some with several
        at = NOW - timedelta(minutes=17 + 83 * i)
        event = {
            "who": ("member", "admin", "owner")[i % 3],
            "status": "error" if i % 4 == 1 else "success",
            "model_id": ("m/a", "m/b")[i % 2],
            "provider": ("p1", "p2", "p3")[i % 3 - 1],
            "mode": ("code", "ask")[i // 7],
        }
        _record(session, team, event.pop("who"), at, cost_usd="0", **event)
        recorded.append((at, team[("member", "admin", "owner")[i % 3]].id, event))
    session.commit()
    recorded.sort(key=lambda r: r[0], reverse=True)
    dim_filters = (
        {},
        {"models": ("m/a",)},
        {"providers": ("p1", "p3")},
        {"modes": ("ask",)},
        {"models": ("m/b",), "modes": ("code",)},
    )
    for dims in dim_filters:
        for statuses in ((), ("error",), ("success",), ("success", "error")):
            for members in ((), (team["member"].id,), (team["member"].id, team["owner"].id)):
                matching = [
                    (at, m)
                    for at, m, e in recorded
                    if (not statuses or e["status"] in statuses)
                    and (not members or m in members)
                    and all(
                        e[column] in dims.get(name, (e[column],))
                        for column, name in (
                            ("model_id", "models"),
                            ("provider", "providers"),
                            ("mode", "modes"),
                        )
                    )
                ]
                for limit in (1, 2, 3, 5, 8, 13, 15):
                    rows = _log(
                        session,
                        team["admin"],
                        statuses=statuses,
                        members=members,
                        limit=limit,
                        **dims,
                    )
                    got = list(zip(rows["at"], rows["member_id"], strict=True))
                    assert got == matching[:limit], (dims, statuses, members, limit)
    mine = _log(session, team["member"], limit=3)
    assert mine["at"].tolist() == [at for at, m, _ in recorded if m == team["member"].id][:3]
