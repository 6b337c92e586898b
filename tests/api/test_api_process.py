"""The API in a process of its own (`python -m api`), beside the dashboard's server on the
same database: the same endpoints and answers, without the dashboard."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from api.core import MAX_BODY
from kilo import db, gateway, organization
from tests.api.conftest import SONNET, TRAINED, WHSEC, Server, make_org
from tests.e2e.conftest import ROOT
from tests.smtp_server import free_port


@pytest.fixture(scope="module")
def api_process(api_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`python -m api` on a free port, on the database of the dashboard's test server."""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=api_server.db_url, STRIPE_WEBHOOK_SECRET=WHSEC)
    env.pop("KILO_TEST_DATABASE_URL", None)
    log_path = tmp_path_factory.mktemp("api-process") / "api.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{url}/api/health", timeout=2)
                    break
                except OSError:
                    assert proc.poll() is None, log_path.read_text()[-2000:]
                    assert time.monotonic() < deadline, "python -m api did not answer in 60 s"
                    time.sleep(0.3)
            yield Server(url=url, db_url=api_server.db_url)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    assert "Traceback" not in log_path.read_text()


def test_health_and_json_errors(api_process):
    reply = api_process.call("GET", "/api/health")
    assert (reply.status, reply.json()["migrations"]) == (200, "head")
    missing = api_process.call("GET", "/api/v1/nothing-here")
    assert (missing.status, missing.code) == (404, "not_found")
    assert api_process.call("GET", "/").status == 404  # no dashboard here
    big = api_process.call("POST", "/api/v1/gateway/usage", body=b"x" * (MAX_BODY + 1))
    assert (big.status, big.code) == (413, "body_too_large")
    bad = api_process.call(
        "POST", "/api/v1/stripe/webhook", body=b"{}", headers={"Stripe-Signature": "t=1,v1=00"}
    )
    assert bad.status == 400


def test_authorize_answers_like_the_dashboards_server(api_server, api_process):
    org = make_org(api_server)
    body = {"api_key": org.key, "model": SONNET, "provider": "anthropic"}
    here = api_process.call(
        "POST", "/api/v1/gateway/authorize", json_body=body, token=org.gateway_token
    )
    there = api_server.call(
        "POST", "/api/v1/gateway/authorize", json_body=body, token=org.gateway_token
    )
    assert here.status == there.status == 200
    assert here.json() == there.json()
    with db.write_session(api_server.db_url) as s:
        organization.set_policies(s, actor=org.owner, code_training_opt_out=True)
    refused = api_process.call(
        "POST",
        "/api/v1/gateway/authorize",
        json_body=body | {"model": TRAINED, "provider": "trainy"},
        token=org.gateway_token,
    )
    assert (refused.status, refused.code) == (403, "provider_trains_on_data")
    unknown = api_process.call(
        "POST", "/api/v1/gateway/authorize", json_body=body, token="kilo_gw_nope"
    )
    assert (unknown.status, unknown.code) == (401, "invalid_token")


def test_usage_posted_here_is_on_the_dashboards_figures(api_server, api_process):
    org = make_org(api_server)
    event = {
        "id": f"api-process-{org.org_id}",
        "timestamp": datetime.now(UTC).isoformat(),
        "api_key": org.key,
        "model": SONNET,
        "provider": "anthropic",
        "input_tokens": 1000,
        "output_tokens": 200,
        "cost_usd": "0.004321",
        "latency_ms": 700,
        "status": "success",
    }
    reply = api_process.call(
        "POST", "/api/v1/gateway/usage", json_body={"events": [event]}, token=org.gateway_token
    )
    assert reply.status == 200 and reply.json()["stored"] == [event["id"]]
    with db.read_session(api_server.db_url) as s:
        allowance = gateway.decide(s, org_id=org.org_id, api_key=org.key, model=SONNET)
    assert allowance.allowed and allowance.spent_today_micros == 4_321
    policy = api_process.call("GET", "/api/v1/gateway/policy", token=org.gateway_token)
    with db.read_session(api_server.db_url) as s:
        assert policy.json()["policy_version"] == gateway.policy_version(s, org.org_id)
