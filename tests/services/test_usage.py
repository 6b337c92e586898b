"""Usage service: rollups equal raw sums, permissions, analytics helpers."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlmodel import SQLModel

from kilo import usage
from kilo.errors import NotFound, PermissionDenied, ValidationError
from kilo.models import LATENCY_BOUNDS_MS, Organization, UsageDaily, UsageEvent
from kilo.permissions import system_actor
from kilo.rollups import direct
from kilo.rollups.registry import MEASURES, ONE_DIMS, ROLLUPS
from tests.factories import create_team, usage_event

START = date(2026, 3, 1)
MODELS = ["anthropic/claude-sonnet-4.5", "openai/gpt-5.4", "google/gemini-2.5-pro"]
PROVIDERS = ["anthropic", "openai", "google-vertex"]
MODES = ["code", "ask", "debug"]

event_strategy = st.fixed_dictionaries(
    {
        "day": st.integers(0, 40),
        "second": st.integers(0, 86_399),
        "member": st.integers(0, 2),
        "model": st.sampled_from(MODELS),
        "provider": st.sampled_from(PROVIDERS),
        "mode": st.sampled_from(MODES),
        "input_tokens": st.integers(0, 200_000),
        "output_tokens": st.integers(0, 50_000),
        "cache_read_tokens": st.integers(0, 10_000),
        "cost_micros": st.integers(0, 5_000_000),
        "latency_ms": st.integers(0, 60_000),
        "error": st.booleans(),
    }
)


def _events(specs: list[dict], member_ids: list[int]) -> list[dict]:
    out = []
    for s in specs:
        at = datetime.combine(START, datetime.min.time(), tzinfo=UTC) + timedelta(
            days=s["day"], seconds=s["second"]
        )
        out.append(
            usage_event(
                member_ids[s["member"]],
                at,
                model_id=s["model"],
                provider=s["provider"],
                mode=s["mode"],
                input_tokens=s["input_tokens"],
                output_tokens=s["output_tokens"],
                cache_read_tokens=s["cache_read_tokens"],
                cost_micros=s["cost_micros"],
                latency_ms=s["latency_ms"],
                status="error" if s["error"] else "success",
            )
        )
    return out


def _group(events: list[dict], *keys: str) -> dict[tuple | object, tuple[int, int, set]]:
    """Requests, cost and the set of UTC days per key (`day` is the event's UTC date)."""
    out: dict = {}
    for e in events:
        values = tuple(e["at"].date() if k == "day" else e[k] for k in keys)
        key = values if len(keys) > 1 else values[0]
        req, cost, days = out.get(key, (0, 0, set()))
        out[key] = (req + 1, cost + e["cost_micros"], days | {e["at"].date()})
    return out


def _member_stats(stats) -> dict[int, tuple[int, int, int]]:  # noqa: ANN001
    """member_id -> (requests, cost_micros, active_days) of `list_member_usage`'s frame."""
    return {
        int(r.member_id): (int(r.requests), int(r.cost_micros), int(r.active_days))
        for r in stats.itertuples()
    }


def _raw_sums(session, org_id: int, start: date, end: date, **where) -> dict[str, int]:
    t = UsageEvent
    lo = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    hi = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    stmt = select(
        func.count(),
        func.coalesce(func.sum(t.cost_micros), 0),
        func.coalesce(func.sum(t.input_tokens), 0),
        func.coalesce(func.sum(t.output_tokens), 0),
    ).where(t.org_id == org_id, t.at >= lo, t.at < hi)
    for col, values in where.items():
        stmt = stmt.where(getattr(t, col).in_(values))
    n, cost, inp, out = session.execute(stmt).one()
    errors = session.execute(
        select(func.count())
        .select_from(t)
        .where(t.org_id == org_id, t.status == "error", t.at >= lo, t.at < hi)
    ).scalar()
    return {
        "requests": int(n),
        "cost_micros": int(cost),
        "input_tokens": int(inp),
        "output_tokens": int(out),
        "errors": int(errors),
    }


@pytest.fixture(params=["small-batch path", "pandas path"])
def write_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both write paths of `insert_events` (kilo.rollups.direct for small batches, pandas
    for large ones) must leave rollups equal to the raw events."""
    monkeypatch.setattr(direct, "SMALL_BATCH", 10**9 if request.param.startswith("small") else 0)
    return request.param


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=st.lists(event_strategy, min_size=1, max_size=60),
    split=st.integers(1, 5),
    window=st.tuples(st.integers(0, 40), st.integers(0, 40)),
)
def test_rollups_totals_and_export_equal_raw_sums(session, write_path, specs, split, window):
    team = create_team(session)
    owner = team["owner"]
    member_ids = [team["owner"].id, team["admin"].id, team["member"].id]
    events = _events(specs, member_ids)
    chunk = max(1, len(events) // split)
    for i in range(0, len(events), chunk):  # several batches hit the upsert path
        usage.insert_events(session, org_id=owner.org_id, events=events[i : i + chunk])
    session.flush()
    org_id = owner.org_id

    # Every rollup of the registry sums to the raw events; each dimension of a
    # one-dimension rollup partitions all events.
    raw_all = _raw_sums(session, org_id, START, START + timedelta(days=41))
    for rollup in ROLLUPS:
        table = rollup.model
        if rollup.one_dim:
            for dim in ONE_DIMS:
                cost, req = session.execute(
                    select(func.sum(table.cost_micros), func.sum(table.requests)).where(
                        table.org_id == org_id, table.dim == dim
                    )
                ).one()
                assert (int(cost), int(req)) == (raw_all["cost_micros"], raw_all["requests"]), dim
            continue
        cost, req, err = session.execute(
            select(
                func.sum(table.cost_micros), func.sum(table.requests), func.sum(table.errors)
            ).where(table.org_id == org_id)
        ).one()
        assert (int(cost), int(req), int(err)) == (
            raw_all["cost_micros"],
            raw_all["requests"],
            raw_all["errors"],
        ), table.__name__
    assert usage.total_cost_micros(session, org_id=org_id) == raw_all["cost_micros"]
    hist = session.execute(
        select(*[func.sum(getattr(UsageDaily, h)) for h in usage.HISTOGRAM]).where(
            UsageDaily.org_id == org_id
        )
    ).one()
    assert sum(int(h) for h in hist) == len(events)

    # The page's totals and the CSV export equal raw sums for a period and filters.
    lo, hi = sorted(window)
    f = usage.UsageFilter(start=START + timedelta(days=lo), end=START + timedelta(days=hi))
    expected = _raw_sums(session, org_id, f.start, f.end)
    totals = usage.get_totals(session, actor=owner, f=f)
    assert {k: totals[k] for k in expected} == expected
    rows = list(csv.DictReader(io.StringIO(usage.export_csv(session, actor=owner, f=f))))
    assert sum(int(r["cost_micros"]) for r in rows) == expected["cost_micros"]
    assert sum(int(r["requests"]) for r in rows) == expected["requests"]
    assert all(int(r["cost_micros"]) == int(r["cost_usd"].replace(".", "")) for r in rows)

    filtered = usage.UsageFilter(start=f.start, end=f.end, models=(MODELS[0],), modes=("code",))
    exp_f = _raw_sums(session, org_id, f.start, f.end, model_id=[MODELS[0]], mode=["code"])
    got = usage.get_totals(session, actor=owner, f=filtered)
    assert (got["cost_micros"], got["requests"]) == (exp_f["cost_micros"], exp_f["requests"])
    by_member = usage.list_member_usage(session, actor=owner, f=f)
    assert int(by_member["cost_micros"].sum()) == expected["cost_micros"]
    heat = usage.get_heatmap(session, actor=owner, f=f)
    assert int(heat["requests"].sum()) == expected["requests"]
    heat_f = usage.get_heatmap(session, actor=owner, f=filtered)  # model x provider x mode
    assert int(heat_f["cost_micros"].sum()) == exp_f["cost_micros"]
    perf = usage.get_model_performance(session, actor=owner, f=f)
    assert int(perf["requests"].sum()) == expected["requests"]

    # Per-member statistics under filters (read member by member) and the daily breakdown
    # by one dimension (the rollup's own rows, not summed) equal the events, in group order.
    in_view = [e for e in events if f.start <= e["at"].date() <= f.end]
    picked = [e for e in in_view if e["model_id"] == MODELS[0] and e["mode"] == "code"]
    want = {
        m: (req, cost, len(days)) for m, (req, cost, days) in _group(picked, "member_id").items()
    }
    got = _member_stats(usage.list_member_usage(session, actor=owner, f=filtered))
    assert got == want
    assert usage.count_active_members(session, actor=owner, f=filtered) == len(want)
    # One dimension: months of the month x member x dimension rollup (day masks for the
    # active days) plus or minus days of the daily one.
    for one in (replace(f, models=(MODELS[1], MODELS[2])), replace(f, modes=("ask",))):
        dim, values = next(iter(one.dims().items()))
        picked = [e for e in in_view if e[dim] in values]
        want = {
            m: (req, cost, len(days))
            for m, (req, cost, days) in _group(picked, "member_id").items()
        }
        got = _member_stats(usage.list_member_usage(session, actor=owner, f=one))
        assert got == want, dim
    daily = usage.get_breakdown(session, actor=owner, f=f, by=("model_id",), daily=True)
    keys = list(zip(daily["day"], daily["model_id"], strict=True))
    assert keys == sorted(keys)
    got = {
        key: (int(req), int(cost))
        for key, req, cost in zip(keys, daily["requests"], daily["cost_micros"], strict=True)
    }
    want = {key: (req, cost) for key, (req, cost, _) in _group(in_view, "day", "model_id").items()}
    assert got == want
    # Provider x mode (their own daily rollup).
    one = replace(f, modes=("code", "ask"))
    daily = usage.get_breakdown(session, actor=owner, f=one, by=("provider",), daily=True)
    got = {
        (d, p): (int(req), int(cost))
        for d, p, req, cost in zip(
            daily["day"], daily["provider"], daily["requests"], daily["cost_micros"], strict=True
        )
    }
    picked = [e for e in in_view if e["mode"] in one.modes]
    want = {key: (req, cost) for key, (req, cost, _) in _group(picked, "day", "provider").items()}
    assert got == want

    # A member sees exactly their own events, whatever filter they ask for.
    member = team["member"]
    own = _raw_sums(session, org_id, f.start, f.end, member_id=[member.id])
    got = usage.get_totals(
        session, actor=member, f=usage.UsageFilter(start=f.start, end=f.end, members=(owner.id,))
    )
    assert (got["cost_micros"], got["requests"]) == (own["cost_micros"], own["requests"])
    session.rollback()


@given(
    start=st.dates(date(2025, 11, 1), date(2026, 6, 30)),
    days=st.integers(1, 200),
)
def test_month_split_partitions_the_days(start, days):
    end = start + timedelta(days=days - 1)
    months, partial = usage.month_split(start, end)
    covered = [d for lo, hi in partial for d in _days(lo, hi)]
    if months is not None:
        assert months[0].day == 1 and months[1].day == 1 and months[0] <= months[1]
        covered += _days(months[0], usage.month_end(months[1]))
    assert sorted(covered) == _days(start, end)  # every day exactly once
    assert len(partial) <= 2 and all(lo <= hi for lo, hi in partial)

    # The plan (months, plus and minus days) counts every day of the range once, and no
    # other day: months and added days, less subtracted days, as a multiset.
    add_months, add_days, subtract_days = usage.month_plan(start, end)
    count: dict[date, int] = {}
    for lo, hi in add_months:
        assert lo.day == 1 and hi.day == 1
        for d in _days(lo, usage.month_end(hi)):
            count[d] = count.get(d, 0) + 1
    for sign, ranges in ((1, add_days), (-1, subtract_days)):
        for lo, hi in ranges:
            assert lo <= hi
            for d in _days(lo, hi):
                count[d] = count.get(d, 0) + sign
    assert {d for d, n in count.items() if n} == set(_days(start, end))
    assert all(n in (0, 1) for n in count.values())


def _days(lo: date, hi: date) -> list[date]:
    return [lo + timedelta(days=i) for i in range((hi - lo).days + 1)]


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=st.lists(
        event_strategy.map(lambda s: s | {"day": s["day"] * 3}), min_size=1, max_size=50
    ),
    split=st.integers(1, 4),
    window=st.tuples(st.integers(0, 125), st.integers(0, 125)),
    dim=st.sampled_from(["model_id", "provider", "mode"]),
)
def test_monthly_member_stats_and_filtered_heatmaps_equal_raw_events(
    session, write_path, specs, split, window, dim
):
    """Per-member statistics (whole months from the monthly rollup, edges from the daily
    one) and the heatmap under dimension filters (each hourly rollup, and raw events) equal
    the same figures computed over raw events, over periods crossing month boundaries."""
    team = create_team(session)
    owner = team["owner"]
    member_ids = [owner.id, team["admin"].id, team["member"].id]
    events = _events(specs, member_ids)  # days 0..120 from 1 March: four months
    chunk = max(1, len(events) // split)
    for i in range(0, len(events), chunk):  # batches revisit months: monthly rows recomputed
        usage.insert_events(session, org_id=owner.org_id, events=events[i : i + chunk])
    session.flush()
    lo, hi = sorted(window)
    f = usage.UsageFilter(start=START + timedelta(days=lo), end=START + timedelta(days=hi))
    inside = [e for e in events if f.start <= e["at"].date() <= f.end]

    stats = usage.list_member_usage(session, actor=owner, f=f)
    got = {
        int(r.member_id): (int(r.requests), int(r.cost_micros), int(r.active_days))
        for r in stats.itertuples()
    }
    expected = {}
    for m in {e["member_id"] for e in inside}:
        mine = [e for e in inside if e["member_id"] == m]
        expected[m] = (
            len(mine),
            sum(e["cost_micros"] for e in mine),
            len({e["at"].date() for e in mine}),
        )
    assert got == expected

    # The heatmap under one dimension (hourly dimension rollup), provider and mode (their
    # hourly rollup), two or three with a model (hourly model x provider x mode rollup),
    # and a member with a model (raw events).
    first = events[0]
    for filters in (
        {dim: first[dim]},
        {"provider": first["provider"], "mode": first["mode"]},
        {"model_id": first["model_id"], "provider": first["provider"]},
        {"model_id": first["model_id"], "mode": first["mode"]},
        {"model_id": first["model_id"], "provider": first["provider"], "mode": first["mode"]},
        {"member_id": first["member_id"], "model_id": first["model_id"]},
    ):
        fields = {usage.DIMENSION_FIELDS[c]: (v,) for c, v in filters.items()}
        heat = usage.get_heatmap(
            session, actor=owner, f=usage.UsageFilter(start=f.start, end=f.end, **fields)
        )
        cells: dict[tuple[int, int], list[int]] = {}
        for e in inside:
            if all(e[c] == v for c, v in filters.items()):
                cell = cells.setdefault((e["at"].weekday(), e["at"].hour), [0, 0])
                cell[0] += 1
                cell[1] += e["cost_micros"]
        got_cells = {
            (int(r.weekday), int(r.hour)): [int(r.requests), int(r.cost_micros)]
            for r in heat.itertuples()
            if r.requests
        }
        assert got_cells == cells, filters
    session.rollback()


def test_member_stats_subtract_the_days_a_mostly_covered_month_leaves_out(session):
    """2 - 31 March is read as March minus 1 March: what happened on 1 March must not count,
    and a member active only that day is not listed."""
    team = create_team(session)
    owner, member = team["owner"], team["member"]

    def event(day: int, member_id: int, cost: int) -> dict:
        return usage_event(member_id, datetime(2026, 3, day, 12, tzinfo=UTC), cost_micros=cost)

    events = [event(1, owner.id, 1000), event(2, owner.id, 20), event(2, owner.id, 5)]
    events += [event(15, owner.id, 300), event(31, owner.id, 4000), event(1, member.id, 7)]
    usage.insert_events(session, org_id=owner.org_id, events=events)
    f = usage.UsageFilter(start=date(2026, 3, 2), end=date(2026, 3, 31))
    assert usage.month_plan(f.start, f.end) == (
        [(date(2026, 3, 1), date(2026, 3, 1))],
        [],
        [(date(2026, 3, 1), date(2026, 3, 1))],
    )
    stats = usage.list_member_usage(session, actor=owner, f=f)
    assert stats["member_id"].tolist() == [owner.id]
    row = stats.iloc[0]
    assert (int(row.requests), int(row.cost_micros), int(row.active_days)) == (4, 4325, 3)


@given(
    values=st.lists(st.integers(0, 40_000), min_size=1, max_size=300),
    q=st.sampled_from([0.5, 0.95]),
)
def test_percentile_from_histogram_lies_in_the_true_bucket(values, q):
    counts = [0] * (len(LATENCY_BOUNDS_MS) + 1)
    for v in values:
        counts[usage.latency_bucket(v)] += 1
    estimate = usage.percentile_from_histogram(counts, q)
    ordered = sorted(values)
    rank = max(1, -(-int(q * len(values) * 1000) // 1000))  # ceil(q*n)
    true = ordered[min(len(ordered), rank) - 1]
    bucket = usage.latency_bucket(true)
    low = LATENCY_BOUNDS_MS[bucket - 1] if bucket else 0
    high = LATENCY_BOUNDS_MS[bucket] if bucket < len(LATENCY_BOUNDS_MS) else low
    assert low <= estimate <= high


def test_member_cannot_see_per_user_stats_and_analytics_off_hides_them(session):
    team = create_team(session)
    f = usage.UsageFilter(start=START, end=START)
    with pytest.raises(PermissionDenied):
        usage.list_member_usage(session, actor=team["member"], f=f)
    with pytest.raises(PermissionDenied):
        usage.get_credit_runway(session, actor=team["member"], today=START)
    org = session.get(Organization, team["owner"].org_id)
    org.usage_analytics_enabled = False
    session.add(org)
    session.flush()
    with pytest.raises(PermissionDenied, match="turned off"):
        usage.list_member_usage(session, actor=team["admin"], f=f)
    with pytest.raises(PermissionDenied, match="turned off"):
        usage.get_totals(
            session,
            actor=team["admin"],
            f=usage.UsageFilter(start=START, end=START, members=(team["member"].id,)),
        )
    assert usage.get_totals(session, actor=team["admin"], f=f)["requests"] == 0
    assert (
        usage.list_filter_options(session, actor=team["admin"], start=START, end=START)["members"]
        == []
    )


def test_record_usage_validates_and_is_idempotent(session):
    team = create_team(session)
    gateway = system_actor(team["owner"].org_id, "Gateway")
    kwargs = dict(
        member_id=team["member"].id,
        model_id="openai/gpt-5.4",
        provider="openai",
        input_tokens=100,
        output_tokens=20,
        cost_usd="0.001234",
        latency_ms=900,
        at=datetime(2026, 3, 2, 10, tzinfo=UTC),
        external_id="req-1",
    )
    assert usage.record_usage(session, actor=gateway, **kwargs) is True
    assert usage.record_usage(session, actor=gateway, **kwargs) is False
    totals = usage.get_totals(
        session,
        actor=team["owner"],
        f=usage.UsageFilter(start=date(2026, 3, 2), end=date(2026, 3, 2)),
    )
    assert (totals["requests"], totals["cost_micros"]) == (1, 1234)
    with pytest.raises(ValidationError, match="status"):
        usage.record_usage(
            session, actor=gateway, **(kwargs | {"status": "ok", "external_id": "req-2"})
        )
    with pytest.raises(ValidationError, match="cost"):
        usage.record_usage(
            session, actor=gateway, **(kwargs | {"cost_usd": "-1", "external_id": "req-3"})
        )
    with pytest.raises(PermissionDenied):
        usage.record_usage(session, actor=team["member"], **(kwargs | {"external_id": "r4"}))
    other = create_team(session)
    with pytest.raises(NotFound):
        usage.record_usage(
            session,
            actor=gateway,
            **(kwargs | {"member_id": other["member"].id, "external_id": "r5"}),
        )


def test_periods_previous_period_forecast_and_concentration():
    today = date(2026, 3, 15)
    assert usage.resolve_period("billing", today=today) == (date(2026, 3, 1), today)
    assert usage.resolve_period("7d", today=today) == (date(2026, 3, 9), today)
    with pytest.raises(ValidationError):
        usage.resolve_period("custom", today=today, start=today, end=date(2026, 3, 1))
    f = usage.UsageFilter(start=date(2026, 3, 1), end=today)
    prev = usage.previous_period(f, billing=True)
    assert (prev.start, prev.end) == (date(2026, 2, 1), date(2026, 2, 15))
    prev = usage.previous_period(usage.UsageFilter(start=date(2026, 3, 9), end=today))
    assert (prev.start, prev.end) == (date(2026, 3, 2), date(2026, 3, 8))
    even = usage.spend_concentration([10, 10, 10, 10])
    assert abs(even["gini"]) < 1e-9
    skewed = usage.spend_concentration([0, 0, 0, 100])
    assert skewed["gini"] == pytest.approx(0.75) and skewed["top10_share"] == 1.0


def test_forecast_and_runway(session):
    team = create_team(session)
    today = date(2026, 3, 20)
    noon = datetime.combine(today, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    events = [
        usage_event(team["member"].id, noon - timedelta(days=d), cost_micros=7_000_000)
        for d in range(7)
    ]
    usage.insert_events(session, org_id=team["owner"].org_id, events=events)
    f = usage.UsageFilter(start=date(2026, 3, 1), end=today)
    fc = usage.get_forecast(session, actor=team["owner"], f=f, today=today)
    assert fc["spent_micros"] == 49_000_000 and fc["daily_rate_micros"] == 7_000_000
    assert fc["projected_micros"] == 49_000_000 + 7_000_000 * 11
    runway = usage.get_credit_runway(session, actor=team["owner"], today=today)
    assert runway["balance_micros"] == -49_000_000 and runway["days"] == 0


def test_active_and_last_request_count_requests_not_sign_ins(session):
    """ "Active" = a request in the 7 UTC days up to today, counted the same way for the
    Usage tab's total and the Organization tab's roles; last requests to the hour, scoped."""
    from kilo import organization
    from kilo.models import Member
    from tests.factories import create_member

    team = create_team(session)
    owner, admin, member = team["owner"], team["admin"], team["member"]
    org = session.get(Organization, owner.org_id)
    old_timer = create_member(session, org, "member", last_active_at=datetime.now(UTC))
    gone = create_member(session, org, "admin")
    today = START + timedelta(days=20)
    first, last = usage.active_window(today)
    assert (first, last) == (today - timedelta(days=6), today)
    midnight = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    specs = [  # (member, time)
        (owner.id, midnight - timedelta(days=6) + timedelta(minutes=1)),  # first window day
        (admin.id, midnight + timedelta(hours=9, minutes=59)),
        (admin.id, midnight + timedelta(hours=9, minutes=5)),
        (admin.id, midnight - timedelta(days=3, hours=2)),
        (old_timer.id, midnight - timedelta(days=6, seconds=1)),  # a second too early
        (gone.id, midnight + timedelta(hours=1)),
    ]
    usage.insert_events(
        session,
        org_id=org.id,
        events=[
            usage_event(
                member_id,
                at,
                model_id=MODELS[0],
                provider=PROVIDERS[0],
                input_tokens=1,
                output_tokens=1,
                cost_micros=1,
                latency_ms=1,
            )
            for member_id, at in specs
        ],
    )
    session.get(Member, gone.id).removed_at = datetime.now(UTC)
    session.flush()

    window = usage.UsageFilter(start=first, end=last)
    assert usage.count_active_members(session, actor=owner, f=window) == 3  # incl. removed
    by_role = usage.count_active_by_role(session, actor=member, today=today)
    assert by_role == {"owner": 1, "admin": 1}  # the old timer signed in, made no request
    ov = organization.get_overview(session, actor=member, today=today)
    assert ov.active_total == 2 and ov.active_window == (first, last)

    hours = usage.last_request_hours(session, actor=admin)
    assert hours == {
        owner.id: midnight - timedelta(days=6),
        admin.id: midnight + timedelta(hours=9),
        old_timer.id: midnight - timedelta(days=7) + timedelta(hours=23),
    }  # removed members and members without a request are absent
    assert usage.last_request_hours(session, actor=member) == {}  # only their own: none
    assert usage.last_request_hours(session, actor=owner) == hours
    org.usage_analytics_enabled = False
    session.add(org)
    session.flush()
    assert usage.last_request_hours(session, actor=admin) == {admin.id: hours[admin.id]}


def test_every_rollup_table_is_in_the_registry():
    """A table of usage sums (every measure column) is a rollup: the write side, the read
    side, these tests and the benchmark know it only through its registry entry."""
    rollup_tables = {
        table.name
        for table in SQLModel.metadata.sorted_tables
        if set(MEASURES) <= set(table.c.keys())
    }
    assert rollup_tables == {r.table for r in ROLLUPS}
    assert len(ROLLUPS) == len(rollup_tables)  # one entry each
    # Every table a batch is folded into by recomputing comes after its source.
    for i, r in enumerate(ROLLUPS):
        if r.fold == "recompute":
            assert r.source.__tablename__ in {s.table for s in ROLLUPS[:i]}, r.table
