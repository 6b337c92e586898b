"""The LiteLLM plugin's parts that need no LiteLLM: the decision cache, the spool, the
sender's handling of the dashboard's answers, and the usage event it builds from LiteLLM's
logging payload. The plugin against a real proxy: tests/gateway/."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from kilo.usage.checks import parse_cost_micros
from kilo_litellm.dashboard import Decision, Unavailable
from kilo_litellm.decisions import UNREACHABLE, Decisions
from kilo_litellm.events import mode_slug, usage_event
from kilo_litellm.runtime import Runtime
from kilo_litellm.settings import Settings, SettingsError
from kilo_litellm.spool import Spool


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Board:
    """The dashboard as the cache sees it: answers, or is down."""

    def __init__(self) -> None:
        self.up, self.asked, self.answer = True, 0, Decision(True, member_email="a@x.io")

    async def ask(self, *_: object) -> Decision:
        self.asked += 1
        await asyncio.sleep(0)
        if not self.up:
            raise Unavailable("connection refused")
        return self.answer


def _run(coro):
    return asyncio.run(coro)


def test_a_decision_is_reused_within_the_ttl_and_asked_again_after():
    board, clock = Board(), Clock()
    cache = Decisions(board.ask, ttl=5, grace=60, clock=clock)

    async def go():
        await cache.decide("kilo_sk_a", "m", None, "code")
        clock.now += 4.9
        await cache.decide("kilo_sk_a", "m", None, "code")
        assert board.asked == 1
        await cache.decide("kilo_sk_a", "other-model", None, "code")
        assert board.asked == 2
        clock.now += 0.2
        await cache.decide("kilo_sk_a", "m", None, "code")
        assert board.asked == 3

    _run(go())


def test_a_newer_policy_version_drops_cached_decisions_an_older_one_does_not():
    board, clock = Board(), Clock()
    board.answer = Decision(True, member_email="a@x.io", policy_version=7)
    cache = Decisions(board.ask, ttl=5, grace=60, clock=clock)

    async def go():
        await cache.decide("k", "m", None, None)
        cache.policy_seen(6)  # a late answer of an older poll changes nothing
        await cache.decide("k", "m", None, None)
        assert (board.asked, cache.version) == (1, 7)
        cache.policy_seen(8)  # e.g. a model was disabled
        board.answer = Decision(False, 403, "model_not_allowed", "no", policy_version=8)
        decision = await cache.decide("k", "m", None, None)
        assert (board.asked, decision.code) == (2, "model_not_allowed")

    _run(go())


def test_a_decision_made_under_an_older_policy_is_not_served_as_fresh():
    board, clock = Board(), Clock()
    board.answer = Decision(True, policy_version=3)
    cache = Decisions(board.ask, ttl=5, grace=60, clock=clock)
    cache.policy_seen(4)  # the poll saw a change before this (in-flight) answer arrived

    async def go():
        await cache.decide("k", "m", None, None)
        await cache.decide("k", "m", None, None)
        assert board.asked == 2

    _run(go())


def test_dashboard_down_serves_cached_decisions_for_the_grace_then_fails_closed():
    board, clock = Board(), Clock()
    cache = Decisions(board.ask, ttl=5, grace=60, clock=clock)

    async def go():
        await cache.decide("k", "m", None, None)
        board.up = False
        clock.now += 30
        assert (await cache.decide("k", "m", None, None)).allowed
        asked = board.asked
        assert (await cache.decide("k", "m", None, None)).allowed
        assert board.asked == asked  # within a second of the failure: not asked again
        assert await cache.decide("k", "never-decided", None, None) == UNREACHABLE
        clock.now += 31  # past the grace: a disabled model must not slip through
        assert await cache.decide("k", "m", None, None) == UNREACHABLE
        assert UNREACHABLE.status == 503 and not UNREACHABLE.allowed

    _run(go())


def test_concurrent_requests_for_one_key_ask_once():
    board, clock = Board(), Clock()
    cache = Decisions(board.ask, ttl=5, grace=60, clock=clock)

    async def go():
        answers = await asyncio.gather(*(cache.decide("k", "m", None, None) for _ in range(20)))
        assert all(a.allowed for a in answers) and board.asked == 1

    _run(go())


def test_spool_sends_in_order_acknowledges_and_starts_again(tmp_path):
    spool = Spool(tmp_path)
    for i in range(5):
        spool.append({"id": str(i)})
    events, bad, offset = spool.pending(3)
    assert [e["id"] for e in events] == ["0", "1", "2"] and not bad
    spool.acknowledge(offset)
    assert [e["id"] for e in spool.pending(10)[0]] == ["3", "4"]
    # Not acknowledged (the dashboard was down): the same events again.
    assert [e["id"] for e in spool.pending(10)[0]] == ["3", "4"]
    spool.acknowledge(spool.pending(10)[2])
    assert spool.backlog() == 0 and spool.events.stat().st_size == 0  # truncated


def test_spool_skips_a_line_being_written_and_reports_garbage(tmp_path):
    spool = Spool(tmp_path)
    spool.append({"id": "a"})
    with spool.events.open("ab") as f:
        f.write(b"[1, 2]\n{not json}\n")
        f.write(b'{"id": "half')  # no newline yet
    events, bad, offset = spool.pending(10)
    assert [e["id"] for e in events] == ["a"] and len(bad) == 2
    spool.acknowledge(offset)
    assert spool.backlog() == len(b'{"id": "half')


def test_only_one_process_sends_a_spool(tmp_path):
    assert Spool(tmp_path).claim_sender()
    assert not Spool(tmp_path).claim_sender()  # another worker holds sender.lock


class UsageBoard:
    """A dashboard whose usage endpoint refuses event ids listed in `bad`."""

    def __init__(self, bad: set[str], status: int = 200) -> None:
        self.bad, self.status, self.stored = bad, status, []

    async def post_usage(self, events):
        if self.status != 200:
            raise Unavailable(f"HTTP {self.status}")
        problems = [
            {"index": i, "message": "cost is negative"}
            for i, e in enumerate(events)
            if e["id"] in self.bad
        ]
        if problems:
            return 422, {"error": {"code": "invalid_events", "message": "x", "events": problems}}
        self.stored += [e["id"] for e in events]
        return 200, {"stored": [e["id"] for e in events], "duplicates": []}


def _runtime(tmp_path, board) -> Runtime:
    runtime = Runtime.__new__(Runtime)
    runtime.spool, runtime.dashboard = Spool(tmp_path), board
    return runtime


def test_invalid_events_go_aside_and_the_rest_are_stored(tmp_path):
    board = UsageBoard(bad={"2", "4"})
    runtime = _runtime(tmp_path, board)
    for i in range(6):
        runtime.spool.append({"id": str(i)})
    assert _run(runtime.send_once()) == 6
    assert board.stored == ["0", "1", "3", "5"]
    rejected = runtime.spool.rejected.read_text()
    assert '"2"' in rejected and '"4"' in rejected and "cost is negative" in rejected
    assert runtime.spool.backlog() == 0


def test_a_dashboard_that_is_down_keeps_the_events(tmp_path):
    board = UsageBoard(bad=set(), status=503)
    runtime = _runtime(tmp_path, board)
    runtime.spool.append({"id": "1"})
    with pytest.raises(Unavailable):
        _run(runtime.send_once())
    board.status = 200
    assert _run(runtime.send_once()) == 1 and board.stored == ["1"]


def _payload(**over):
    slo = {
        "id": "chatcmpl-1",
        "litellm_call_id": "call-1",
        "model": "gpt-4o",
        "model_group": "anthropic/claude-sonnet-4.5",
        "custom_llm_provider": "openai",
        "prompt_tokens": 10,
        "completion_tokens": 20,
        "response_cost": 5e-05,
        "startTime": 1_764_000_000.0,
        "endTime": 1_764_000_001.25,
        "metadata": {
            "user_api_key_user_id": "dev@acme.io",
            "usage_object": {"prompt_tokens_details": {"cached_tokens": 4}},
            "requester_custom_headers": {"X-KiloCode-Mode": "Debug"},
        },
    }
    return slo | over


def test_usage_event_from_litellms_payload():
    event = usage_event(_payload(), provider="anthropic", default_mode="code", status="success")
    assert event == {
        "id": "call-1",
        "timestamp": "2025-11-24T16:00:00+00:00",
        "member_email": "dev@acme.io",
        "model": "anthropic/claude-sonnet-4.5",
        "provider": "anthropic",
        "mode": "debug",
        "input_tokens": 10,
        "output_tokens": 20,
        "cache_read_tokens": 4,
        "cache_write_tokens": 0,
        "cost_usd": "0.00005",  # not 5E-5, which the dashboard refuses
        "latency_ms": 1250,
        "status": "success",
    }
    assert parse_cost_micros(event["cost_usd"]) == 50
    assert (
        Decimal(
            usage_event(
                _payload(response_cost=None), provider="p", default_mode="code", status="error"
            )["cost_usd"]
        )
        == 0
    )


def test_no_event_for_the_proxys_master_key_and_the_default_mode():
    assert (
        usage_event(_payload(metadata={}), provider="p", default_mode="code", status="success")
        is None
    )
    meta = {"user_api_key_user_id": "dev@acme.io"}
    event = usage_event(
        _payload(metadata=meta), provider="p", default_mode="code", status="success"
    )
    assert event["mode"] == "code"
    assert mode_slug(None, "Not a slug!", " Architect ") == "architect"


def test_settings_are_checked(monkeypatch):
    monkeypatch.setenv("KILO_DASHBOARD_URL", "http://127.0.0.1:8501/")
    monkeypatch.setenv("KILO_GATEWAY_TOKEN", "kilo_gw_x")
    settings = Settings.from_env()
    assert settings.dashboard_url == "http://127.0.0.1:8501"
    assert (settings.decision_ttl, settings.decision_grace) == (5.0, 60.0)
    for name, value in (
        ("KILO_GATEWAY_TOKEN", "kilo_sk_member_key"),
        ("KILO_DASHBOARD_URL", "127.0.0.1:8501"),
        ("KILO_DECISION_TTL", "ten"),
        ("KILO_DECISION_GRACE", "100000"),
        ("KILO_DEFAULT_MODE", "Not A Mode"),
    ):
        with monkeypatch.context() as m:
            m.setenv(name, value)
            with pytest.raises(SettingsError):
                Settings.from_env()


def test_the_plugin_knows_every_refusal_of_the_decision_function():
    """The plugin cannot import `kilo` (it runs in the proxy's own virtualenv), so it keeps
    its own copy of the refusal statuses: it must agree with `kilo.gateway.STATUS`."""
    from kilo.gateway import STATUS
    from kilo_litellm.dashboard import REFUSALS

    assert {code: status for code, status in REFUSALS.items() if code != "invalid_request"} == (
        STATUS
    )
