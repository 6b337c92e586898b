"""The API's plumbing over HTTP: health, JSON errors, tokens, JSON bodies, body caps."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from api.core import MAX_BODY
from kilo import apikeys, db
from tests.api.conftest import SONNET


def test_health_reports_database_and_migrations(api_server):
    reply = api_server.call("GET", "/api/health")
    assert reply.status == 200
    assert reply.json() == {"status": "ok", "database": "ok", "migrations": "head"}
    assert reply.headers["content-type"] == "application/json"


def test_the_dashboard_is_served_by_the_same_server(api_server):
    page = api_server.call("GET", "/")
    assert page.status == 200 and b"<html" in page.body.lower()
    assert api_server.call("GET", "/_stcore/health").status == 200


def test_unknown_paths_and_wrong_methods_answer_json(api_server):
    missing = api_server.call("GET", "/api/v1/nothing-here")
    assert (missing.status, missing.code) == (404, "not_found")
    wrong = api_server.call("GET", "/api/v1/gateway/authorize")
    assert (wrong.status, wrong.code) == (405, "method_not_allowed")
    assert "POST" in wrong.headers["allow"]
    wrong = api_server.call("DELETE", "/api/v1/usage")
    assert (wrong.status, wrong.code) == (405, "method_not_allowed")
    wrong = api_server.call("POST", "/api/health", body=b"{}")
    assert (wrong.status, wrong.code) == (405, "method_not_allowed")


@pytest.mark.parametrize(
    "path,method", [("/api/v1/gateway/authorize", "POST"), ("/api/v1/gateway/usage", "POST")]
)
def test_gateway_endpoints_need_the_gateway_token(api_server, org, path, method):
    body = {"api_key": org.key, "model": SONNET}
    for token in (None, "", "kilo_gw_wrong", org.read_token, org.key, "x" * 500):
        reply = api_server.call(method, path, json_body=body, token=token)
        assert (reply.status, reply.code) == (401, "invalid_token"), token
        assert reply.headers["www-authenticate"].startswith("Bearer")
    reply = api_server.call(method, path, json_body=body, headers={"Authorization": "Basic abc"})
    assert (reply.status, reply.code) == (401, "invalid_token")


def test_read_api_needs_the_read_token(api_server, org):
    for token in (None, org.gateway_token, "kilo_rd_wrong"):
        reply = api_server.call("GET", "/api/v1/usage", token=token)
        assert (reply.status, reply.code) == (401, "invalid_token")
    assert api_server.call("GET", "/api/v1/usage", token=org.read_token).status == 200


def test_a_revoked_token_stops_working(api_server, org):
    body = {"api_key": org.key, "model": SONNET}
    path = "/api/v1/gateway/authorize"
    assert api_server.call("POST", path, json_body=body, token=org.gateway_token).status == 200
    with db.write_session(api_server.db_url) as session:
        token = apikeys.authenticate_token(session, org.gateway_token, scope="gateway")
        apikeys.revoke_token(session, actor=org.owner, token_id=token.id)
    reply = api_server.call("POST", path, json_body=body, token=org.gateway_token)
    assert (reply.status, reply.code) == (401, "invalid_token")


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"not json",
        b"",
        b'{"api_key": NaN}',
        b"\xff\xfe\x00garbage",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"n": ' + b"9" * 5_000 + b"}",
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/gateway/authorize", "/api/v1/gateway/usage"])
def test_bad_json_is_400_invalid_json(api_server, org, body, path):
    reply = api_server.call("POST", path, body=body, token=org.gateway_token)
    assert (reply.status, reply.code) == (400, "invalid_json")
    assert "Traceback" not in reply.body.decode("utf-8", "replace")


@pytest.mark.parametrize(
    "body,fragment",
    [
        ([], "JSON object"),
        ({"model": SONNET}, "api_key"),
        ({"api_key": 12, "model": SONNET}, "api_key"),
        ({"api_key": "kilo_sk_x", "model": 5}, "model"),
        ({"api_key": "kilo_sk_x", "model": SONNET, "provider": ["a"]}, "provider"),
        ({"api_key": "kilo_sk_x", "model": SONNET, "mode": "Code Mode"}, "mode"),
        ({"api_key": "kilo_sk_x", "model": SONNET, "modle": "x"}, "modle"),
    ],
)
def test_authorize_refuses_wrong_field_types(api_server, org, body, fragment):
    reply = api_server.call(
        "POST", "/api/v1/gateway/authorize", json_body=body, token=org.gateway_token
    )
    assert (reply.status, reply.code) == (400, "invalid_request")
    assert fragment in reply.json()["error"]["message"]


def _raw(server, head: bytes, body: bytes) -> tuple[int, bytes]:
    """Send a request as raw bytes (any headers, even lying ones); the status and body."""
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as s:
        try:
            s.sendall(head + body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading everything: read its answer
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                header, _, rest = data.partition(b"\r\n\r\n")
                length = [
                    int(line.split(b":")[1])
                    for line in header.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ]
                if length and len(rest) >= length[0]:
                    break
    header, _, rest = data.partition(b"\r\n\r\n")
    return int(header.split()[1]), rest


def _head(path: str, token: str, extra: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\n{extra}\r\n"
    ).encode()


@pytest.mark.parametrize("path", ["/api/v1/gateway/usage", "/api/v1/stripe/webhook"])
def test_oversized_bodies_are_refused(api_server, org, path):
    big = b'{"events": [' + b" " * (MAX_BODY + 10) + b"]}"
    # Declared too large: refused before reading.
    status, body = _raw(
        api_server, _head(path, org.gateway_token, f"Content-Length: {len(big)}\r\n"), b"{}"
    )
    assert status == 413 and b'"body_too_large"' in body
    # Sent too large without a Content-Length (chunked): reading stops past the cap.
    chunk = 64 * 1024
    chunked = b"".join(
        f"{len(big[i : i + chunk]):x}\r\n".encode() + big[i : i + chunk] + b"\r\n"
        for i in range(0, len(big), chunk)
    )
    status, body = _raw(
        api_server,
        _head(path, org.gateway_token, "Transfer-Encoding: chunked\r\n"),
        chunked + b"0\r\n\r\n",
    )
    assert status == 413 and b'"body_too_large"' in body
    # Just under the cap is read (and then judged on its content).
    fits = b'{"events": [' + b" " * (MAX_BODY - 20) + b"]}"
    reply = api_server.call("POST", path, body=fits, token=org.gateway_token)
    assert reply.status != 413


def test_an_unexpected_error_is_a_logged_500_without_details(api_server):
    """A Stripe-signed event the handlers cannot read fails inside the service: the answer
    is the stable `internal_error`, the traceback goes to the server's log only."""
    import json

    import stripe

    from tests.api.conftest import WHSEC

    payload = json.dumps({"id": "evt_broken", "type": "charge.refunded", "data": {"object": "x"}})
    header = stripe.WebhookSignature.generate_signature_header(payload, WHSEC)
    reply = api_server.call(
        "POST",
        "/api/v1/stripe/webhook",
        body=payload.encode(),
        headers={"Stripe-Signature": header},
    )
    assert (reply.status, reply.code) == (500, "internal_error")
    assert "Traceback" not in reply.body.decode() and "AttributeError" not in reply.body.decode()
    log = (Path(api_server.db_url.removeprefix("sqlite:///")).parent / "streamlit.log").read_text()
    assert "AttributeError" in log and "/api/v1/stripe/webhook failed" in log


def test_health_is_503_when_the_database_is_not_ready(monkeypatch, tmp_path):
    """The check itself, in-process: a database never migrated, and one that cannot be
    reached (the server above always migrates at start-up)."""
    import json

    from api.health import check

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    reply = check()
    body = json.loads(reply.body)
    assert reply.status_code == 503
    assert (body["migrations"], body["error"]["code"]) == ("none", "migrations_not_at_head")
    assert body["head"] == list(db.head_revisions())
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    reply = check()
    body = json.loads(reply.body)
    assert reply.status_code == 503
    assert (body["database"], body["error"]["code"]) == ("unreachable", "database_unreachable")
