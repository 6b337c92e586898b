"""The small-batch path (kilo.rollups.direct, a gateway's requests) and the pandas path
(files) leave identical raw events and rollup rows for the same events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from kilo import usage
from kilo.rollups import direct
from kilo.rollups.registry import ROLLUPS
from tests.factories import create_team, usage_event

START = datetime(2026, 1, 30, tzinfo=UTC)  # batches cross a month boundary

event = st.fixed_dictionaries(
    {
        "seconds": st.integers(0, 5 * 86_400),
        "member": st.integers(0, 2),
        "model_id": st.sampled_from(["a/x", "a/y", "b/z"]),
        "provider": st.sampled_from(["p", "q"]),
        "mode": st.sampled_from(["code", "ask"]),
        "input_tokens": st.integers(0, 10**6),
        "output_tokens": st.integers(0, 10**5),
        "cache_read_tokens": st.integers(0, 10**4),
        "cache_write_tokens": st.integers(0, 10**4),
        "cost_micros": st.integers(0, 10**7),
        "latency_ms": st.integers(0, 90_000),
        "status": st.sampled_from(["success", "success", "error"]),
    }
)


def _events(specs: list[dict], member_ids: list[int], tag: str) -> list[dict]:
    return [
        usage_event(
            member_ids[s["member"]],
            START + timedelta(seconds=s["seconds"]),
            external_id=f"{tag}-{i}",
            **{k: v for k, v in s.items() if k not in ("seconds", "member")},
        )
        for i, s in enumerate(specs)
    ]


def _rows(session, table: str, org_id: int) -> list[tuple]:  # noqa: ANN001
    result = session.execute(text(f"SELECT * FROM {table} WHERE org_id = :o"), {"o": org_id})  # noqa: S608
    cols = [c for c in result.keys() if c not in ("org_id", "id")]
    return sorted(tuple(row._mapping[c] for c in cols) for row in result)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=st.lists(event, min_size=1, max_size=40), split=st.integers(1, 4))
def test_both_paths_write_the_same_rows(session, monkeypatch, specs, split):
    a, b = create_team(session), create_team(session)
    ids_a = [a[r].id for r in ("owner", "admin", "member")]
    ids_b = [b[r].id for r in ("owner", "admin", "member")]
    # A: the pandas path, the whole list as one batch
    monkeypatch.setattr(direct, "SMALL_BATCH", 0)
    usage.insert_events(session, org_id=a["owner"].org_id, events=_events(specs, ids_a, "a"))
    # B: the small-batch path, in several batches (upserts onto existing rows)
    monkeypatch.setattr(direct, "SMALL_BATCH", 10**9)
    events = _events(specs, ids_b, "b")
    step = max(1, len(events) // split)
    for i in range(0, len(events), step):
        usage.insert_events(session, org_id=b["owner"].org_id, events=events[i : i + step])
    session.flush()
    remap = dict(zip(ids_b, ids_a, strict=True))
    for rollup in ROLLUPS:
        got = _rows(session, rollup.table, b["owner"].org_id)
        cols = [c for c in session.execute(text(f"SELECT * FROM {rollup.table} LIMIT 0")).keys()]  # noqa: S608
        cols = [c for c in cols if c not in ("org_id", "id")]
        if "member_id" in cols:  # the two organizations' members differ only in their ids
            m = cols.index("member_id")
            got = sorted(tuple(remap[v] if j == m else v for j, v in enumerate(r)) for r in got)
        assert got == _rows(session, rollup.table, a["owner"].org_id), rollup.table
    raw_a = _rows(session, "usageevent", a["owner"].org_id)
    raw_b = _rows(session, "usageevent", b["owner"].org_id)
    assert len(raw_a) == len(raw_b) == len(specs)


def test_one_event_takes_the_small_batch_path(session, monkeypatch):
    team = create_team(session)
    calls = []
    real = direct.store_small
    monkeypatch.setattr(direct, "store_small", lambda *a, **k: calls.append(1) or real(*a, **k))
    usage.insert_events(
        session, org_id=team["owner"].org_id, events=[usage_event(team["member"].id, START)]
    )
    assert calls == [1]


@pytest.mark.parametrize("n", [direct.SMALL_BATCH + 1])
def test_larger_batches_take_the_pandas_path(session, monkeypatch, n):
    team = create_team(session)
    monkeypatch.setattr(direct, "store_small", lambda *a, **k: pytest.fail("small path used"))
    events = [usage_event(team["member"].id, START + timedelta(minutes=i)) for i in range(n)]
    assert usage.insert_events(session, org_id=team["owner"].org_id, events=events) == n
