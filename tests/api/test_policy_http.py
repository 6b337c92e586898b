"""GET /api/v1/gateway/policy over HTTP: the organization's policy version, the same number
the authorize answers carry, growing with each policy change; and that a change applies to
the very next authorize through the server's kept verdicts."""

from __future__ import annotations

from kilo import access, apikeys, db
from tests.api.conftest import SONNET, make_org

PATH = "/api/v1/gateway/policy"


def _version(server, org) -> int:
    reply = server.call("GET", PATH, token=org.gateway_token)
    assert reply.status == 200, reply.body
    body = reply.json()
    assert list(body) == ["policy_version"] and isinstance(body["policy_version"], int)
    return body["policy_version"]


def _authorize(server, org, model: str = SONNET):  # noqa: ANN202
    body = {"api_key": org.key, "model": model}
    return server.call("POST", "/api/v1/gateway/authorize", json_body=body, token=org.gateway_token)


def test_the_version_is_stable_until_a_policy_changes(api_server):
    org = make_org(api_server)
    first = _version(api_server, org)
    assert first > 0
    allowed = _authorize(api_server, org)
    assert allowed.status == 200 and allowed.json()["policy_version"] == first
    assert _version(api_server, org) == first  # authorizing changes nothing

    with db.write_session(api_server.db_url) as s:
        access.change_access(
            s, actor=org.admin, change=access.AccessChange(disable_models=(SONNET,))
        )
    disabled = _version(api_server, org)
    assert disabled > first
    # The server kept the model's verdict from the first request: the very next one is refused.
    refused = _authorize(api_server, org)
    assert refused.status == 403, refused.body
    assert refused.json()["error"]["code"] == "model_not_allowed"
    assert refused.json()["error"]["policy_version"] == disabled

    with db.write_session(api_server.db_url) as s:
        apikeys.revoke_api_key(s, actor=org.member, key_id=org.key_id)
    revoked = _version(api_server, org)
    assert revoked > disabled
    answer = _authorize(api_server, org).json()["error"]
    assert (answer["code"], answer["policy_version"]) == ("key_revoked", revoked)


def test_each_organization_has_its_own_version(api_server):
    org, other = make_org(api_server), make_org(api_server)
    before = _version(api_server, other)
    with db.write_session(api_server.db_url) as s:
        access.change_access(
            s, actor=org.admin, change=access.AccessChange(disable_models=(SONNET,))
        )
    assert _version(api_server, other) == before
    assert _authorize(api_server, other).status == 200


def test_bad_or_missing_token_is_401(api_server):
    org = make_org(api_server)
    for token in (None, "kilo_gw_not-a-token", org.read_token):
        reply = api_server.call("GET", PATH, token=token)
        assert reply.status == 401, reply.body
        assert reply.json()["error"]["code"] == "invalid_token"
        assert reply.headers["www-authenticate"].startswith("Bearer")
    with db.write_session(api_server.db_url) as s:
        tokens = apikeys.list_tokens(s, actor=org.owner)
        token_id = next(t.id for t in tokens if t.scope == "gateway")
        apikeys.revoke_token(s, actor=org.owner, token_id=token_id)
    assert api_server.call("GET", PATH, token=org.gateway_token).status == 401


def test_only_get(api_server):
    org = make_org(api_server)
    reply = api_server.call("POST", PATH, json_body={}, token=org.gateway_token)
    assert (reply.status, reply.json()["error"]["code"]) == (405, "method_not_allowed")
