"""POST /api/v1/gateway/authorize over HTTP: the allowance, and every refusal code of
`kilo.gateway.decide` with its HTTP status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlmodel import select

from kilo import apikeys, db, gateway, members, organization, usage
from kilo.models import ApiKey, GatewayToken
from kilo.permissions import system_actor
from tests.api.conftest import SONNET, TRAINED, make_org

PATH = "/api/v1/gateway/authorize"


def _ask(server, org, **body):
    body = {"api_key": org.key, "model": SONNET} | body
    return server.call("POST", PATH, json_body=body, token=org.gateway_token)


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


def test_allowed_with_allowance_and_balance_as_decimal_strings(api_server):
    org = make_org(api_server, credits_micros=12_345_678)
    with db.write_session(api_server.db_url) as s:
        members.update_member(
            s, actor=org.owner, member_id=org.member.id, daily_spend_limit_micros=5_000_000
        )
    _spend(api_server, org, "1.000001")
    reply = _ask(api_server, org, provider="anthropic", mode="code")
    assert reply.status == 200
    with db.read_session(api_server.db_url) as s:
        version = gateway.policy_version(s, org.org_id)
    assert reply.json() == {
        "allowed": True,
        "policy_version": version,
        "member": {"id": org.member.id, "email": org.member.email},
        "daily_limit_usd": "5.000000",
        "spent_today_usd": "1.000001",
        "remaining_today_usd": "3.999999",
        "balance_usd": "11.345677",
    }


def test_no_limit_is_null_and_the_key_and_token_use_is_recorded(api_server):
    org = make_org(api_server)
    reply = _ask(api_server, org)
    assert reply.status == 200
    body = reply.json()
    assert (body["daily_limit_usd"], body["remaining_today_usd"]) == (None, None)
    assert (body["spent_today_usd"], body["balance_usd"]) == ("0.000000", "100.000000")
    with db.read_session(api_server.db_url) as s:
        key = s.get(ApiKey, org.key_id)
        token = s.exec(
            select(GatewayToken).where(
                GatewayToken.org_id == org.org_id, GatewayToken.scope == "gateway"
            )
        ).one()
        assert key.last_used_at is not None and token.last_used_at is not None
        assert datetime.now(UTC) - key.last_used_at.replace(tzinfo=UTC) < timedelta(minutes=5)


def _refused(reply, status: int, code: str) -> str:
    assert reply.status == status, reply.body
    error = reply.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert isinstance(error["policy_version"], int) and error["policy_version"] > 0
    return error["message"]


def test_invalid_key(api_server):
    org = make_org(api_server)
    for key in ("kilo_sk_unknown", "", "sk-not-ours", "kilo_sk_" + "x" * 300):
        _refused(_ask(api_server, org, api_key=key), 401, "invalid_key")
    # Another organization's key is unknown here.
    other = make_org(api_server)
    _refused(_ask(api_server, org, api_key=other.key), 401, "invalid_key")


def test_key_revoked_and_expired(api_server):
    org = make_org(api_server)
    with db.write_session(api_server.db_url) as s:
        apikeys.revoke_api_key(s, actor=org.member, key_id=org.key_id)
    assert "revoked" in _refused(_ask(api_server, org), 401, "key_revoked")
    with db.write_session(api_server.db_url) as s:
        key = s.get(ApiKey, org.key_id)
        key.revoked_at = None
        key.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    assert "expired" in _refused(_ask(api_server, org), 401, "key_revoked")


def test_member_removed(api_server):
    org = make_org(api_server)
    with db.write_session(api_server.db_url) as s:
        members.remove_member(s, actor=org.owner, member_id=org.member.id)
    _refused(_ask(api_server, org), 401, "member_removed")


def test_model_and_provider_not_allowed(api_server):
    org = make_org(api_server)
    _refused(_ask(api_server, org, model="nobody/unknown-model"), 403, "model_not_allowed")
    _refused(_ask(api_server, org, provider="no-such-provider"), 403, "provider_not_allowed")


def test_provider_trains_on_data_under_the_opt_out(api_server):
    org = make_org(api_server)
    for opt_out in (False, True):
        with db.write_session(api_server.db_url) as s:
            organization.set_policies(s, actor=org.owner, code_training_opt_out=opt_out)
        if not opt_out:
            assert _ask(api_server, org, model=TRAINED).status == 200
    _refused(_ask(api_server, org, model=TRAINED), 403, "provider_trains_on_data")
    assert _ask(api_server, org).status == 200  # a provider that does not train


def test_daily_limit_reached(api_server):
    org = make_org(api_server)
    with db.write_session(api_server.db_url) as s:
        members.update_member(
            s, actor=org.owner, member_id=org.member.id, daily_spend_limit_micros=1_000_000
        )
    _spend(api_server, org, "0.999999")
    assert _ask(api_server, org).json()["remaining_today_usd"] == "0.000001"
    _spend(api_server, org, "0.000001")
    reply = _ask(api_server, org)
    _refused(reply, 429, "daily_limit_reached")
    assert 0 < int(reply.headers["retry-after"]) <= 86_400


def test_insufficient_credits(api_server):
    org = make_org(api_server, credits_micros=2_000_000)
    assert Decimal(_ask(api_server, org).json()["balance_usd"]) == Decimal("2")
    _spend(api_server, org, "2")
    _refused(_ask(api_server, org), 402, "insufficient_credits")
