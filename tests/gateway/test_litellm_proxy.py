"""The LiteLLM proxy with this project's plugin, in front of the dashboard: real processes
(the dashboard server, the pinned `litellm` proxy) and the `openai` client with a member's
key. Nothing of LiteLLM is mocked; its models answer with `mock_response`."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import openai
import pytest
from sqlmodel import select

from kilo import access, apikeys, billing, db, members, organization, usage
from kilo.members import actor_for
from kilo.models import CatalogModel, Organization, Provider, UsageEvent
from kilo.permissions import Actor, system_actor
from tests.api.conftest import Org, Server, make_org
from tests.e2e.conftest import dashboard
from tests.factories import create_member
from tests.gateway.conftest import FAILING, OPUS, SONNET, TRAINED, litellm_proxy
from tests.smtp_server import free_port

# LiteLLM's price of openai/gpt-4o (its local cost map) for the mock's 10 prompt and 20
# completion tokens: 10 x $2.50/M + 20 x $10/M = $0.000225.
MOCK_COST_MICROS = 225


def _catalogue(db_url: str) -> None:
    with db.write_session(db_url) as s:
        s.add(Provider(slug="anthropic", name="Anthropic", training=False))
        s.add(Provider(slug="trainy", name="Trainy", training=True))
        s.add(CatalogModel(id=SONNET, name="Claude Sonnet 4.5", providers=["anthropic"]))
        s.add(CatalogModel(id=OPUS, name="Claude Opus 4.5", providers=["anthropic"]))
        s.add(CatalogModel(id=TRAINED, name="Open Model", providers=["trainy"]))
        s.add(CatalogModel(id=FAILING, name="Claude Haiku 4.5", providers=["anthropic"]))


class Dashboard:
    """The dashboard server on a fixed port, so that it can be stopped and started again."""

    def __init__(self, workdir: Path) -> None:
        self.workdir, self.port = workdir, free_port()
        self._cm = None

    def start(self) -> str:
        self._cm = dashboard(self.workdir, port=self.port, KILO_DEMO="0")
        return self._cm.__enter__()

    @property
    def running(self) -> bool:
        return self._cm is not None

    def stop(self) -> None:
        assert self._cm is not None
        self._cm.__exit__(None, None, None)
        self._cm = None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Dashboard, Server, Org, str]]:
    workdir = tmp_path_factory.mktemp("litellm")
    board = Dashboard(workdir)
    url = board.start()
    server = Server(url=url, db_url=f"sqlite:///{workdir / 'kilo.db'}")
    try:
        _catalogue(server.db_url)
        org = make_org(server)
        # A grace of 120 s (default 60): on a loaded CI machine stopping the dashboard and
        # 200 slow requests can take longer than a minute after the last fresh decision.
        with litellm_proxy(
            workdir, dashboard_url=url, gateway_token=org.gateway_token, KILO_DECISION_GRACE="120"
        ) as proxy_url:
            yield board, server, org, proxy_url
    finally:
        if board.running:
            board.stop()
        db.get_engine(server.db_url).dispose()


def _client(proxy_url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy_url}/v1", api_key=key, max_retries=0, timeout=60)


def _chat(proxy_url: str, key: str, model: str = SONNET, **kw):
    """The raw response of one chat completion (its headers carry LiteLLM's call id)."""
    return _client(proxy_url, key).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "Say hello"}], **kw
    )


def _refusal(proxy_url: str, key: str, model: str = SONNET) -> openai.APIStatusError:
    with pytest.raises(openai.APIStatusError) as info:
        _chat(proxy_url, key, model)
    return info.value


def _eventually(check: Callable[[], object], seconds: float = 5.0) -> object:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _totals(server: Server, org: Org) -> dict[str, int]:
    """The Usage tab's totals for today, as the owner sees them."""
    today = datetime.now(UTC).date()
    with db.read_session(server.db_url) as s:
        return usage.get_totals(s, actor=org.owner, f=usage.UsageFilter(start=today, end=today))


def _event_ids(server: Server, org: Org) -> list[str]:
    with db.read_session(server.db_url) as s:
        return list(
            s.exec(select(UsageEvent.external_id).where(UsageEvent.org_id == org.org_id)).all()
        )


def test_an_allowed_request_is_on_the_usage_tab_within_5_s_once(stack):
    _, server, org, proxy = stack
    before = _totals(server, org)
    raw = _chat(proxy, org.key)
    assert raw.http_response.status_code == 200
    assert raw.parse().choices[0].message.content == "Hello from a mocked model."
    call_id = raw.headers["x-litellm-call-id"]
    arrived = _eventually(lambda: _totals(server, org)["requests"] == before["requests"] + 1)
    assert arrived, "the request's usage did not reach the dashboard within 5 s"
    time.sleep(1.0)  # nothing arrives twice
    after = _totals(server, org)
    assert after["requests"] == before["requests"] + 1
    assert after["cost_micros"] - before["cost_micros"] == MOCK_COST_MICROS
    assert after["input_tokens"] - before["input_tokens"] == 10
    assert after["output_tokens"] - before["output_tokens"] == 20
    assert call_id in _event_ids(server, org)
    with db.read_session(server.db_url) as s:
        event = s.exec(select(UsageEvent).where(UsageEvent.external_id == call_id)).one()
    assert (event.member_id, event.model_id, event.provider, event.mode) == (
        org.member.id,
        SONNET,
        "anthropic",
        "code",  # Kilo Code sends no mode to an OpenAI-compatible provider: the default
    )


def test_the_mode_header_is_recorded(stack):
    _, server, org, proxy = stack
    raw = _chat(proxy, org.key, extra_headers={"x-kilocode-mode": "architect"})
    call_id = raw.headers["x-litellm-call-id"]
    assert _eventually(lambda: call_id in _event_ids(server, org))
    with db.read_session(server.db_url) as s:
        event = s.exec(select(UsageEvent).where(UsageEvent.external_id == call_id)).one()
    assert event.mode == "architect"


def test_a_provider_error_is_recorded_as_an_error_once(stack):
    _, server, org, proxy = stack
    before = _totals(server, org)
    error = _refusal(proxy, org.key, FAILING)
    assert error.status_code >= 500
    arrived = _eventually(lambda: _totals(server, org)["errors"] == before["errors"] + 1)
    assert arrived, "the failed request's usage did not reach the dashboard"
    time.sleep(1.0)
    after = _totals(server, org)
    assert (after["requests"], after["errors"]) == (before["requests"] + 1, before["errors"] + 1)
    assert after["cost_micros"] == before["cost_micros"]


def test_a_model_disabled_in_model_access_is_refused_until_enabled_again(stack):
    _, server, org, proxy = stack
    assert _chat(proxy, org.key, OPUS).http_response.status_code == 200  # decision cached
    with db.write_session(server.db_url) as s:
        access.change_access(s, actor=org.admin, change=access.AccessChange(disable_models=(OPUS,)))
    # The proxy sees the new policy version within its 1 s poll: no restart, no waiting
    # for the cached decision to expire.
    error = _eventually(lambda: _status_or_none(proxy, org.key, OPUS), seconds=3)
    assert error is not None and error.status_code == 403, error
    assert f"Model {OPUS}" in error.message and "Model Access" in error.message
    with db.write_session(server.db_url) as s:
        access.change_access(s, actor=org.admin, change=access.AccessChange(enable_models=(OPUS,)))
    ok = _eventually(lambda: _status_or_none(proxy, org.key, OPUS) is None, seconds=3)
    assert ok, "the model was enabled again but the proxy still refuses it"


def _status_or_none(proxy: str, key: str, model: str) -> openai.APIStatusError | None:
    try:
        _chat(proxy, key, model)
    except openai.APIStatusError as exc:
        return exc
    return None


def test_a_provider_excluded_by_the_code_training_opt_out_is_refused(stack):
    _, server, org, proxy = stack
    with db.write_session(server.db_url) as s:
        organization.set_policies(s, actor=org.owner, code_training_opt_out=False)
    assert _eventually(lambda: _status_or_none(proxy, org.key, TRAINED) is None, seconds=3)
    with db.write_session(server.db_url) as s:
        organization.set_policies(s, actor=org.owner, code_training_opt_out=True)
    try:
        error = _eventually(lambda: _status_or_none(proxy, org.key, TRAINED), seconds=3)
        assert error is not None and error.status_code == 403
        assert error.type == "provider_trains_on_data"
    finally:
        with db.write_session(server.db_url) as s:
            organization.set_policies(s, actor=org.owner, code_training_opt_out=True)


def _new_member(server: Server, org: Org) -> tuple[Actor, str, int]:
    """Another member of the proxy's organization, with an API key: (actor, key, key id)."""
    with db.write_session(server.db_url) as s:
        member = create_member(
            s, s.get(Organization, org.org_id), "member", email=f"m-{secrets.token_hex(4)}@x.io"
        )
        actor = actor_for(member)
        key, secret = apikeys.create_api_key(s, actor=actor, name="laptop")
        return actor, secret, key.id


def _spend(server: Server, org: Org, member_id: int, cost: str) -> None:
    with db.write_session(server.db_url) as s:
        usage.record_usage(
            s,
            actor=system_actor(org.org_id, "Gateway"),
            member_id=member_id,
            model_id=SONNET,
            provider="anthropic",
            input_tokens=1,
            output_tokens=1,
            cost_usd=cost,
            latency_ms=100,
        )


def test_over_the_daily_limit_429_no_credits_402(stack):
    _, server, org, proxy = stack
    actor, key, _ = _new_member(server, org)
    _spend(server, org, actor.id, "1.00")
    with db.write_session(server.db_url) as s:
        members.update_member(
            s, actor=org.owner, member_id=actor.id, daily_spend_limit_micros=1_000_000
        )
    error = _eventually(lambda: _status_or_none(proxy, key, SONNET), seconds=3)
    assert error is not None and (error.status_code, error.type) == (429, "daily_limit_reached")
    assert "daily spend limit" in error.message
    assert int(error.response.headers["retry-after"]) > 0

    # Spend the organization's whole balance. Spending is not a policy change: the proxy
    # asks again when its cached decision is older than KILO_DECISION_TTL (5 s).
    with db.read_session(server.db_url) as s:
        balance = billing.balance_micros(s, org_id=org.org_id)
    _spend(server, org, org.owner.id, str(Decimal(balance) / 1_000_000))
    try:
        error = _eventually(lambda: _status_or_none(proxy, org.key, SONNET), seconds=8)
        assert error is not None and (error.status_code, error.type) == (
            402,
            "insufficient_credits",
        )
        assert "no credits" in error.message
    finally:
        with db.write_session(server.db_url) as s:
            billing.add_ledger_entry(
                s, actor=org.owner, kind="promo", amount_micros=balance, description="Back"
            )


def test_a_revoked_key_and_a_removed_member_get_401(stack):
    _, server, org, proxy = stack
    actor, key, key_id = _new_member(server, org)
    assert _chat(proxy, key).http_response.status_code == 200
    with db.write_session(server.db_url) as s:
        apikeys.revoke_api_key(s, actor=actor, key_id=key_id)
    error = _eventually(lambda: _status_or_none(proxy, key, SONNET), seconds=3)
    assert error is not None and (error.status_code, error.type) == (401, "key_revoked")

    actor, key, _ = _new_member(server, org)
    assert _chat(proxy, key).http_response.status_code == 200
    with db.write_session(server.db_url) as s:
        members.remove_member(s, actor=org.owner, member_id=actor.id)
    error = _eventually(lambda: _status_or_none(proxy, key, SONNET), seconds=3)
    assert error is not None and (error.status_code, error.type) == (401, "member_removed")

    error = _refusal(proxy, "kilo_sk_not-a-real-key")
    assert (error.status_code, error.type) == (401, "invalid_key")


def test_dashboard_stopped_10_s_under_200_requests_loses_no_usage(stack):
    board, server, org, proxy = stack
    # A fresh decision to serve from while the dashboard is down.
    assert _eventually(lambda: _status_or_none(proxy, org.key, SONNET) is None, seconds=8)
    warm = _chat(proxy, org.key).headers["x-litellm-call-id"]
    assert _eventually(lambda: warm in _event_ids(server, org))  # the spool is sent in order
    before = set(_event_ids(server, org))
    board.stop()
    stopped = time.monotonic()

    def one(i: int) -> tuple[int, str]:
        time.sleep(max(0.0, stopped + i * 0.045 - time.monotonic()))  # over ~9 s of the 10
        try:
            return 200, _chat(proxy, org.key).headers["x-litellm-call-id"]
        except openai.APIStatusError as exc:
            return exc.status_code, str(exc.type)

    with ThreadPoolExecutor(max_workers=16) as pool:
        answered = list(pool.map(one, range(200)))
    time.sleep(max(0.0, 10 - (time.monotonic() - stopped)))
    board.start()
    succeeded = {value for status, value in answered if status == 200}
    refused = [(status, value) for status, value in answered if status != 200]
    # Served from the decisions cached before the stop (KILO_DECISION_GRACE). Anything not
    # served is the documented fail-closed answer, never an error of the plugin.
    assert all(r == (503, "dashboard_unreachable") for r in refused), refused[:5]
    assert len(succeeded) >= 190, f"only {len(succeeded)} of 200 requests were served"
    arrived = _eventually(lambda: succeeded <= set(_event_ids(server, org)), seconds=60)
    assert arrived, "usage spooled during the stop did not arrive after the restart"
    time.sleep(1.0)
    ids = _event_ids(server, org)
    new = [i for i in ids if i not in before]
    assert sorted(new) == sorted(succeeded)  # each exactly once
