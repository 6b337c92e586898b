"""`kilo.gateway_usage`: a gateway's batch of usage events, checked whole, stored once."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, select

from kilo import apikeys, gateway_usage, members, usage
from kilo.errors import PermissionDenied
from kilo.members import actor_for
from kilo.models import UsageEvent
from kilo.permissions import system_actor
from tests.factories import create_member, create_org


@pytest.fixture
def team(session):
    org = create_org(session)
    owner = actor_for(create_member(session, org, "owner", email="owner@example.com"))
    ada = actor_for(create_member(session, org, "member", email="ada@example.com"))
    _, key = apikeys.create_api_key(session, actor=ada, name="laptop")
    session.commit()
    return {"org": org, "owner": owner, "ada": ada, "key": key, "gw": system_actor(org.id, "GW")}


def _event(n: int, **fields) -> dict:
    return {
        "id": f"r{n}",
        "timestamp": f"2026-05-0{1 + n % 3}T1{n % 10}:00:00+02:00",
        "member_email": "ada@example.com",
        "model": "anthropic/claude-sonnet-4.5" if n % 2 else "openai/gpt-5",
        "provider": "anthropic" if n % 2 else "openai",
        "mode": "ask" if n % 3 == 0 else "code",
        "input_tokens": 10 * n,
        "output_tokens": n,
        "cache_write_tokens": 3,
        "cost_usd": f"0.00{n:04d}",
        "latency_ms": 100 * n,
        "status": "error" if n % 4 == 0 else "success",
    } | fields


def _count(session, org_id: int) -> int:
    return session.execute(
        select(func.count()).select_from(UsageEvent).where(UsageEvent.org_id == org_id)
    ).scalar()


def test_batch_is_stored_and_replays_are_duplicates(session, team):
    events = [_event(n) for n in range(1, 5)] + [_event(5, api_key=team["key"])]
    del events[-1]["member_email"]
    result = gateway_usage.record_batch(session, actor=team["gw"], events=events)
    assert (result.stored, result.duplicates) == (["r1", "r2", "r3", "r4", "r5"], [])
    again = gateway_usage.record_batch(session, actor=team["gw"], events=[_event(6), *events])
    assert (again.stored, again.duplicates) == (["r6"], ["r1", "r2", "r3", "r4", "r5"])
    session.commit()
    assert _count(session, team["org"].id) == 6
    stored = session.execute(select(UsageEvent).where(UsageEvent.external_id == "r5")).scalar_one()
    assert (stored.member_id, stored.cost_micros, stored.latency_ms) == (team["ada"].id, 5, 500)


def test_a_bad_event_refuses_the_whole_batch_with_every_index(session, team):
    events = [_event(1), _event(2, cost_usd="1e-5"), _event(3), _event(4, input_tokens=-1)]
    events.append(_event(5, member_email="ghost@example.com"))
    events.append(_event(1))  # the same id again
    with pytest.raises(gateway_usage.InvalidEvents) as caught:
        gateway_usage.record_batch(session, actor=team["gw"], events=events)
    assert [i for i, _ in caught.value.problems] == [1, 3, 4, 5]
    assert "exponent" in caught.value.problems[0][1]
    assert "repeats event 0" in caught.value.problems[3][1]
    assert "4 of 6 events are invalid" in str(caught.value)
    assert _count(session, team["org"].id) == 0


def test_removed_members_and_revoked_keys_still_record_what_happened(session, team):
    members.remove_member(session, actor=team["owner"], member_id=team["ada"].id)
    events = [_event(1, api_key=team["key"], member_email=None), _event(2)]
    events[0].pop("member_email")
    result = gateway_usage.record_batch(session, actor=team["gw"], events=events)
    assert result.stored == ["r1", "r2"]


def test_too_many_events(session, team):
    with pytest.raises(gateway_usage.TooManyEvents):
        gateway_usage.record_batch(
            session, actor=team["gw"], events=[_event(1)] * (gateway_usage.MAX_EVENTS + 1)
        )


def test_only_admins_and_the_system_record_usage(session, team):
    with pytest.raises(PermissionDenied):
        gateway_usage.record_batch(session, actor=team["ada"], events=[_event(1)])


def test_a_batch_gives_the_same_rollups_as_a_file_import(session, team, tmp_path):
    """The same events through the gateway batch (org A) and a JSONL file (org B)."""
    other = create_org(session)
    create_member(session, other, "member", email="ada@example.com", username="ada-b")
    admin_b = actor_for(create_member(session, other, "admin"))
    events = [_event(n) for n in range(1, 40)]
    gateway_usage.record_batch(session, actor=team["gw"], events=events)
    path = tmp_path / "usage.jsonl"
    lines = []
    for e in events:
        row = {k: v for k, v in e.items() if k != "member_email"}
        lines.append(json.dumps(row | {"user_email": e["member_email"]}))
    path.write_text("\n".join(lines) + "\n")
    usage.import_usage(session, actor=admin_b, path=path)
    session.commit()
    f = usage.UsageFilter(start=date(2026, 5, 1), end=date(2026, 5, 31))
    for by in (("model_id",), ("provider", "mode"), ("member_id",)):
        a = usage.get_breakdown(session, actor=system_actor(team["org"].id), f=f, by=by, daily=True)
        b = usage.get_breakdown(session, actor=system_actor(other.id), f=f, by=by, daily=True)
        if by == ("member_id",):
            a, b = a.drop(columns="member_id"), b.drop(columns="member_id")
        assert a.equals(b)
