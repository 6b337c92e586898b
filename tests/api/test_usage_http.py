"""Usage over HTTP: the gateway's batches (stored, duplicates, a bad event refuses the
batch) and the read API (the Usage tab's figures as JSON and CSV), plus concurrent
clients that lose no event and count none twice."""

from __future__ import annotations

import csv
import io
import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import func, select

from kilo import db, organization, usage
from kilo.models import UsageEvent
from kilo.permissions import system_actor
from tests.api.conftest import SONNET, make_org, member_email

USAGE = "/api/v1/gateway/usage"
READ = "/api/v1/usage"
TODAY = datetime.now(UTC).date()


def _event(org, n: int, *, day: date = TODAY, **fields) -> dict:
    at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(minutes=n % 1_000)
    return {
        "id": f"req-{org.org_id}-{n}",
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        "api_key": org.key,
        "model": SONNET,
        "provider": "anthropic",
        "mode": "code",
        "input_tokens": 100 + n,
        "output_tokens": 50,
        "cache_read_tokens": 7,
        "cost_usd": f"0.{n:06d}",
        "latency_ms": 800 + n,
        "status": "error" if n % 5 == 0 else "success",
    } | fields


def _post(server, org, events):
    return server.call("POST", USAGE, json_body={"events": events}, token=org.gateway_token)


def _stored(server, org_id: int) -> int:
    with db.read_session(server.db_url) as s:
        return s.exec(
            select(func.count()).select_from(UsageEvent).where(UsageEvent.org_id == org_id)
        ).one()


def test_a_batch_is_stored_and_a_retry_is_all_duplicates(api_server):
    org = make_org(api_server)
    events = [_event(org, n) for n in range(1, 6)]
    events[1] = events[1] | {"api_key": None, "member_email": org.member.email.upper()}
    del events[1]["api_key"]
    reply = _post(api_server, org, events)
    assert reply.status == 200, reply.body
    ids = [e["id"] for e in events]
    assert reply.json() == {"stored": ids, "duplicates": []}
    again = _post(api_server, org, [*events, _event(org, 6)])
    assert again.json() == {"stored": [f"req-{org.org_id}-6"], "duplicates": ids}
    assert _stored(api_server, org.org_id) == 6
    with db.read_session(api_server.db_url) as s:
        totals = usage.get_totals(
            s,
            actor=system_actor(org.org_id),
            f=usage.UsageFilter(start=TODAY, end=TODAY),
        )
    assert totals["requests"] == 6
    assert totals["cost_micros"] == sum(range(1, 7))
    assert totals["errors"] == 1  # event 5
    assert totals["cache_read_tokens"] == 42


def test_an_empty_batch_stores_nothing(api_server):
    org = make_org(api_server)
    assert _post(api_server, org, []).json() == {"stored": [], "duplicates": []}


@pytest.mark.parametrize(
    "change,fragment",
    [
        ({"cost_usd": "1.2E-05"}, "exponent"),
        ({"cost_usd": 0.5}, "cost_usd must be a string"),
        ({"cost_usd": "10000.000001"}, "maximum"),
        ({"cost_usd": "-1"}, "positive"),
        ({"input_tokens": "10"}, "input_tokens must be a whole number"),
        ({"input_tokens": 1.5}, "input_tokens must be a whole number"),
        ({"output_tokens": True}, "output_tokens must be a whole number"),
        ({"input_tokens": 1_000_000_001}, "maximum"),
        ({"latency_ms": 86_400_001}, "maximum"),
        ({"latency_ms": -1}, "zero or more"),
        ({"timestamp": "2026-05-01T14:03:00"}, "time zone"),
        ({"timestamp": "yesterday"}, "ISO 8601"),
        ({"status": "ok"}, "success or error"),
        ({"mode": "Code Mode"}, "mode"),
        ({"model": ""}, "model is missing"),
        ({"model": 42}, "model must be a string"),
        ({"id": None}, "missing field(s) id"),
        ({"id": "x" * 101}, "longer than 100"),
        ({"api_key": "kilo_sk_unknown"}, "not a key of this organization"),
        ({"api_key": None, "member_email": "nobody@example.com"}, "not a member"),
        ({"api_key": None}, "name the member"),
        ({"colour": "blue"}, "unknown field(s) colour"),
    ],
)
def test_a_bad_event_is_reported_by_index_and_nothing_is_stored(api_server, change, fragment):
    org = make_org(api_server)
    bad = {k: v for k, v in (_event(org, 2) | change).items() if v is not None}
    reply = _post(api_server, org, [_event(org, 1), bad, _event(org, 3)])
    assert reply.status == 422, reply.body
    error = reply.json()["error"]
    assert error["code"] == "invalid_events"
    assert [e["index"] for e in error["events"]] == [1]
    assert fragment in error["events"][0]["message"]
    assert _stored(api_server, org.org_id) == 0


def test_every_bad_event_is_listed_and_repeated_ids_are_refused(api_server):
    org = make_org(api_server)
    events = [_event(org, 1), "not an event", _event(org, 1), _event(org, 4, status="?")]
    reply = _post(api_server, org, events)
    assert reply.status == 422
    listed = reply.json()["error"]["events"]
    assert [e["index"] for e in listed] == [1, 2, 3]
    assert "repeats event 0" in listed[1]["message"]
    assert _stored(api_server, org.org_id) == 0


def test_a_key_of_another_organization_or_a_mismatch_is_refused(api_server):
    org, other = make_org(api_server), make_org(api_server)
    reply = _post(api_server, org, [_event(org, 1, api_key=other.key)])
    assert reply.json()["error"]["events"][0]["message"].startswith("api_key is not a key")
    reply = _post(api_server, org, [_event(org, 1, member_email=org.owner.email)])
    assert "different members" in reply.json()["error"]["events"][0]["message"]
    assert _stored(api_server, org.org_id) == 0


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({"event": []}, 400, "invalid_request"),
        ({"events": {}}, 400, "invalid_request"),
        ([], 400, "invalid_request"),
    ],
)
def test_the_batch_must_be_an_events_list(api_server, org, body, status, code):
    reply = api_server.call("POST", USAGE, json_body=body, token=org.gateway_token)
    assert (reply.status, reply.code) == (status, code)


def test_a_batch_over_the_maximum_is_refused(api_server, org):
    events = [_event(org, n) for n in range(1_001)]
    reply = _post(api_server, org, events)
    assert (reply.status, reply.code) == (413, "too_many_events")
    assert _stored(api_server, org.org_id) == 0


# ---- the read API ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def history(api_server):
    """An organization with usage over three days, two members, two models, two modes."""
    org = make_org(api_server)
    days = [TODAY - timedelta(days=d) for d in (0, 1, 3)]
    events = []
    for n in range(1, 91):
        fields = {"mode": "ask"} if n % 3 == 0 else {}
        if n % 4 == 0:
            fields |= {"model": "openai/gpt-5", "provider": "openai"}
        if n % 2 == 0:
            fields |= {"member_email": org.admin.email}
            fields["api_key"] = None
        event = _event(org, n, day=days[n % 3], **fields)
        events.append({k: v for k, v in event.items() if v is not None})
    assert _post(api_server, org, events).status == 200
    return org, days


def _query(start: date, end: date, **params) -> str:
    extra = "".join(f"&{k}={v}" for k, v in params.items())
    return f"{READ}?from={start}&to={end}{extra}"


@pytest.mark.parametrize("group_by", ["day", "member", "model", "provider", "mode"])
def test_read_api_json_equals_the_usage_services(api_server, history, group_by):
    org, days = history
    start, end = min(days), max(days)
    reply = api_server.call("GET", _query(start, end, group_by=group_by), token=org.read_token)
    assert reply.status == 200, reply.body
    data = reply.json()
    assert (data["from"], data["to"], data["group_by"]) == (str(start), str(end), group_by)
    by = {"day": (), "member": ("member_id",), "model": ("model_id",)}.get(group_by, (group_by,))
    with db.read_session(api_server.db_url) as s:
        actor = system_actor(org.org_id)
        f = usage.UsageFilter(start=start, end=end)
        frame = usage.get_breakdown(s, actor=actor, f=f, by=by, daily=group_by == "day")
        totals = usage.get_totals(s, actor=actor, f=f)
    key = "day" if group_by == "day" else by[0]
    expected = {
        (r[key].isoformat() if key == "day" else r[key]): r for r in frame.to_dict("records")
    }
    assert len(data["rows"]) == len(expected) > 1
    for row in data["rows"]:
        want = expected[row[key]]
        assert row["requests"] == want["requests"]
        assert row["successful"] == want["requests"] - want["errors"]
        for m in ("errors", "input_tokens", "output_tokens", "cache_read_tokens"):
            assert row[m] == want[m]
        assert row["cost_micros"] == want["cost_micros"]
        assert Decimal(row["cost_usd"]) * 1_000_000 == want["cost_micros"]
        assert row["latency_ms_sum"] == want["latency_ms_sum"]
        if group_by == "member":
            assert row["member_email"] == member_email(api_server, row["member_id"])
    assert data["totals"]["requests"] == totals["requests"] == 90
    assert data["totals"]["cost_micros"] == totals["cost_micros"] == sum(range(1, 91))
    assert data["totals"]["cost_usd"] == "0.004095"


def test_read_api_csv_matches_the_usage_tab_csv(api_server, history):
    org, days = history
    start, end = min(days), max(days)
    reply = api_server.call(
        "GET", _query(start, end, group_by="model", format="csv"), token=org.read_token
    )
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/csv")
    assert "attachment" in reply.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(reply.body.decode())))
    assert list(rows[0])[:2] == ["model_id", "requests"]
    # The Usage tab's "Download CSV" (the owner's), summed per model: the same figures.
    with db.read_session(api_server.db_url) as s:
        tab = usage.export_csv(s, actor=org.owner, f=usage.UsageFilter(start=start, end=end))
    cost: Counter = Counter()
    requests: Counter = Counter()
    for r in csv.DictReader(io.StringIO(tab)):
        cost[r["model_id"]] += Decimal(r["cost_usd"])
        requests[r["model_id"]] += int(r["requests"])
    assert {r["model_id"]: Decimal(r["cost_usd"]) for r in rows} == dict(cost)
    assert {r["model_id"]: int(r["requests"]) for r in rows} == dict(requests)


def test_read_api_defaults_to_this_month_by_day(api_server, history):
    org, _ = history
    data = api_server.call("GET", READ, token=org.read_token).json()
    assert (data["from"], data["to"], data["group_by"]) == (
        str(TODAY.replace(day=1)),
        str(TODAY),
        "day",
    )


def test_per_member_figures_only_while_analytics_are_on(api_server):
    org = make_org(api_server)
    with db.write_session(api_server.db_url) as s:
        organization.set_policies(s, actor=org.owner, usage_analytics_enabled=False)
    reply = api_server.call("GET", f"{READ}?group_by=member", token=org.read_token)
    assert (reply.status, reply.code) == (403, "analytics_off")
    assert api_server.call("GET", f"{READ}?group_by=model", token=org.read_token).status == 200


@pytest.mark.parametrize(
    "query,parameter",
    [
        ("from=2026-13-01", "from"),
        ("from=20260101", "from"),
        ("to=tomorrow", "to"),
        ("from=2026-05-02&to=2026-05-01", "from"),
        ("from=2025-01-01&to=2026-01-02", "to"),
        ("group_by=week", "group_by"),
        ("format=xml", "format"),
        ("colour=blue", "colour"),
        ("group_by=day&group_by=model", "group_by"),
    ],
)
def test_read_api_parameters_are_checked(api_server, org, query, parameter):
    reply = api_server.call("GET", f"{READ}?{query}", token=org.read_token)
    assert (reply.status, reply.code) == (400, "invalid_parameter")
    assert reply.json()["error"]["parameter"] == parameter


def test_a_read_api_range_of_366_days_is_fine(api_server, org):
    reply = api_server.call("GET", f"{READ}?from=2025-01-01&to=2026-01-01", token=org.read_token)
    assert reply.status == 200


# ---- concurrent clients ----------------------------------------------------------------


def test_concurrent_clients_lose_no_event_and_count_none_twice(api_server):
    org = make_org(api_server)
    threads, per_thread, batch = 8, 50, 10
    shared = [_event(org, 10_000 + n) for n in range(batch)]  # every client sends these
    replies: list = []
    errors: list = []
    lock = threading.Lock()

    def client(k: int) -> None:
        try:
            mine = [_event(org, k * 1_000 + n) for n in range(per_thread)]
            batches = [mine[i : i + batch] for i in range(0, per_thread, batch)]
            for b in [*batches, shared, batches[0]]:  # the last one is a retry
                reply = _post(api_server, org, b)
                with lock:
                    replies.append(reply)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    workers = [threading.Thread(target=client, args=(k,)) for k in range(1, threads + 1)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    assert all(r.status == 200 for r in replies), [r.body for r in replies if r.status != 200]
    stored = Counter(i for r in replies for i in r.json()["stored"])
    expected_ids = {
        f"req-{org.org_id}-{k * 1_000 + n}"
        for k in range(1, threads + 1)
        for n in range(per_thread)
    } | {e["id"] for e in shared}
    assert set(stored) == expected_ids
    assert max(stored.values()) == 1  # each event stored by exactly one request
    assert _stored(api_server, org.org_id) == len(expected_ids) == 410
    with db.read_session(api_server.db_url) as s:
        totals = usage.get_totals(
            s, actor=system_actor(org.org_id), f=usage.UsageFilter(start=TODAY, end=TODAY)
        )
    all_events = [
        _event(org, k * 1_000 + n) for k in range(1, threads + 1) for n in range(per_thread)
    ] + shared
    assert totals["requests"] == 410
    assert totals["cost_micros"] == sum(int(Decimal(e["cost_usd"]) * 10**6) for e in all_events)
    assert totals["input_tokens"] == sum(e["input_tokens"] for e in all_events)
