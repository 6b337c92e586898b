"""The authorize endpoint keeps the caller's gateway token between requests (read once,
with the organization's policy version): a token revoked, even while a decision is being
made, is refused from then on, and its last use is still written at most once a minute."""

from __future__ import annotations

import json

import pytest

from api import core
from api import gateway as endpoint
from api.core import ApiError
from kilo import apikeys, gateway, members
from kilo.db import read_session, write_session

BODY = {"model": "anthropic/claude-sonnet-4.5", "provider": "anthropic"}


@pytest.fixture
def secrets(demo_url):  # noqa: ANN201
    with write_session() as s:
        owner = members.actor_for(members.get_member_by_username(s, "owner"))
        member = members.actor_for(members.get_member_by_username(s, "member"))
        token, token_secret = apikeys.create_token(s, actor=owner, name="gw", scope="gateway")
        _, key = apikeys.create_api_key(s, actor=member, name="laptop")
    return {"owner": owner, "token_id": token.id, "token": token_secret, "key": key}


def _authorize(secrets: dict) -> int:
    body = json.dumps(BODY | {"api_key": secrets["key"]}).encode()
    try:
        return endpoint.authorize_request(secrets["token"], body).status_code
    except ApiError as exc:
        assert exc.code == "invalid_token", exc.message
        return exc.status


def _revoke(secrets: dict) -> None:
    with write_session() as s:
        apikeys.revoke_token(s, actor=secrets["owner"], token_id=secrets["token_id"])


def _count_calls(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list:
    calls: list = []
    real = getattr(module, name)

    def counting(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


def test_the_token_is_read_once_while_the_policy_stays(secrets, monkeypatch):
    reads = _count_calls(monkeypatch, apikeys, "authenticate_token")
    assert [_authorize(secrets) for _ in range(3)] == [200, 200, 200]
    assert len(reads) == 1
    with write_session() as s:  # any policy change: the token is read again, once
        members.update_member(
            s,
            actor=secrets["owner"],
            member_id=members.get_member_by_username(s, "member").id,
            daily_spend_limit_micros=50_000_000,
        )
    assert [_authorize(secrets) for _ in range(2)] == [200, 200]
    assert len(reads) == 2


def test_a_kept_token_revoked_is_refused_on_the_next_request(secrets):
    assert _authorize(secrets) == 200
    _revoke(secrets)
    assert [_authorize(secrets) for _ in range(2)] == [401, 401]


def test_a_token_revoked_while_the_decision_is_made_is_refused_then_and_after(secrets, monkeypatch):
    """The token and the policy version are read in one statement: a revocation between it
    and the decision shows as a newer version, and the token is read again. (SQLite reads
    the request on one snapshot, which may predate the revocation: then that request is
    answered as if it came first, and the next one is refused.)"""
    real_decide = gateway.decide

    def revoke_first(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if not revoked:
            revoked.append(True)
            _revoke(secrets)
        return real_decide(*args, **kwargs)

    revoked: list[bool] = []
    monkeypatch.setattr(gateway, "decide", revoke_first)
    first, then = _authorize(secrets), _authorize(secrets)
    assert (first, then) == (401, 401) or (first, then, _sqlite()) == (200, 401, True)


def _sqlite() -> bool:
    with read_session() as s:
        return s.get_bind().dialect.name == "sqlite"


def test_the_kept_tokens_last_use_is_written_once_a_minute(secrets, monkeypatch):
    touches = _count_calls(monkeypatch, apikeys, "mark_used")
    assert [_authorize(secrets) for _ in range(4)] == [200] * 4
    assert [t["token_id"] for t in touches if t["token_id"] is not None] == [secrets["token_id"]]
    with read_session() as s:
        token = apikeys.authenticate_token(s, secrets["token"], scope="gateway")
    assert token is not None and token.last_used_at is not None
    assert core.apikeys is apikeys  # record_use writes through the module counted here
