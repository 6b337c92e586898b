"""Usage benchmark: ingest N events, time the analytics queries, the page, and compare.

    .venv/bin/python -m bench.usage_bench                  # 10,000,000 events (the target)
    .venv/bin/python -m bench.usage_bench --events 2000000 # a quicker run

Generates N events over --days days (default 365) for --members members (500) and --models
models (60), ingests them through `kilo.usage.insert_events` (events + all rollups, in
transactions of --batch events), then prints: ingest rate, each analytics query's median
time over the rollups, the Usage page's render time through AppTest and that process's
peak memory, and the same queries computed by DuckDB over the raw events and by pandas
over the raw rows (both in memory, already loaded: the most favourable case for them),
with the ratios. The database is a fresh SQLite file (--db), or --url for PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODES = np.array(["code", "architect", "ask", "debug", "orchestrator"])
MODE_WEIGHTS = np.array([55, 12, 15, 12, 6]) / 100
PROVIDERS = np.array(
    [
        "anthropic",
        "openai",
        "google-vertex",
        "amazon-bedrock",
        "deepinfra",
        "together",
        "fireworks",
        "groq",
        "mistral",
        "novita",
    ]
)


def median_ms(fn, repeat: int) -> float:
    fn()  # warm-up (plans, page cache)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def setup_org(url: str, members: int) -> tuple[int, list[int]]:
    import bcrypt

    from kilo.db import migrate, write_session
    from kilo.models import Member, Organization

    migrate(url)
    pw = bcrypt.hashpw(b"kilo-demo", bcrypt.gensalt(rounds=4)).decode()
    with write_session(url) as s:
        org = Organization(name="Bench Org", seats=members + 10)
        s.add(org)
        s.flush()
        ids = []
        for i in range(members):
            role, username = (
                ("owner", "owner")
                if i == 0
                else (("admin", "admin") if i == 1 else ("member", "member" if i == 2 else None))
            )
            email = f"user{i}@bench.example"
            m = Member(
                org_id=org.id,
                username=username or email,
                name=f"User {i:03d}",
                email=email,
                role=role,
                password_hash=pw,
            )
            s.add(m)
            s.flush()
            ids.append(m.id)
        return org.id, ids


def generate(
    n: int, days: int, member_ids: list[int], n_models: int, seed: int, end: date
) -> pd.DataFrame:
    """N events as columns (numpy), deterministic for a seed."""
    rng = np.random.default_rng(seed)
    start = datetime.combine(end - timedelta(days=days - 1), datetime.min.time(), tzinfo=UTC)
    # Weekdays busier than weekends; office hours around 14:00 UTC.
    day_weights = np.array(
        [(1.0 if (start + timedelta(days=d)).weekday() < 5 else 0.15) for d in range(days)]
    )
    day = rng.choice(days, size=n, p=day_weights / day_weights.sum())
    hour = np.clip(rng.normal(13.5, 3.0, n), 0, 23.99)
    seconds = (day * 86400 + hour * 3600).astype(np.int64)
    seconds = np.minimum(seconds, (days - 1) * 86400 + 86399)
    member_w = rng.lognormal(0, 0.8, len(member_ids))
    member = np.asarray(member_ids)[rng.choice(len(member_ids), n, p=member_w / member_w.sum())]
    model_w = 1 / np.arange(1, n_models + 1) ** 0.9
    model = rng.choice(n_models, n, p=model_w / model_w.sum())
    model_names = np.array([f"vendor{m % 12}/model-{m:02d}" for m in range(n_models)])
    # Each model is served by 1-3 providers.
    provider_sets = [
        rng.choice(len(PROVIDERS), size=1 + m % 3, replace=False) for m in range(n_models)
    ]
    pick = rng.integers(0, 3, n)
    provider = np.array(
        [provider_sets[m][p % len(provider_sets[m])] for m, p in zip(model, pick, strict=True)]
    )
    price_in = rng.uniform(0.1, 15, n_models)  # micro-dollars per token = USD per Mtok
    price_out = price_in * rng.uniform(3, 6, n_models)
    inp = rng.lognormal(8.6, 0.8, n).astype(np.int64)
    out = rng.lognormal(6.3, 0.7, n).astype(np.int64)
    err = rng.random(n) < 0.015
    out[err] = 0
    cost = np.rint(inp * price_in[model] + out * price_out[model]).astype(np.int64)
    cost[err] = 0
    lat_mean = rng.uniform(600, 5000, n_models)
    latency = np.maximum(80, rng.normal(lat_mean[model], lat_mean[model] * 0.35)).astype(np.int64)
    cache = np.where(rng.random(n) < 0.5, (inp * rng.uniform(0, 0.6, n)).astype(np.int64), 0)
    return (
        pd.DataFrame(
            {
                "at": pd.to_datetime(start) + pd.to_timedelta(seconds, unit="s"),
                "member_id": member.astype(np.int32),
                "model_id": pd.Categorical(model_names[model]),
                "provider": pd.Categorical(PROVIDERS[provider]),
                "mode": pd.Categorical(MODES[rng.choice(len(MODES), n, p=MODE_WEIGHTS)]),
                "input_tokens": inp,
                "output_tokens": out,
                "cache_read_tokens": cache,
                "cost_micros": cost,
                "latency_ms": latency.astype(np.int32),
                "status": pd.Categorical(np.where(err, "error", "success")),
            }
        )
        .sort_values("at", kind="stable")
        .reset_index(drop=True)
    )


def to_events(frame: pd.DataFrame) -> list[dict]:
    cols = {c: frame[c].tolist() for c in frame.columns if c != "at"}
    ats = frame["at"].dt.to_pydatetime()
    names = list(cols)
    return [
        dict(zip(names, vals, strict=True), at=at)
        for at, *vals in zip(ats, *cols.values(), strict=True)
    ]


def ingest(url: str, org_id: int, frame: pd.DataFrame, batch: int) -> tuple[float, float]:
    from kilo import usage
    from kilo.db import write_session

    db_time = prep_time = 0.0
    total = len(frame)
    for start in range(0, total, batch):
        t = time.perf_counter()
        events = to_events(frame.iloc[start : start + batch])
        prep_time += time.perf_counter() - t
        t = time.perf_counter()
        with write_session(url) as s:
            usage.insert_events(s, org_id=org_id, events=events)
        db_time += time.perf_counter() - t
        done = min(start + batch, total)
        print(
            f"\r  ingested {done:,}/{total:,} ({done / db_time:,.0f} events/s)",
            end="",
            file=sys.stderr,
            flush=True,
        )
    print(file=sys.stderr)
    return db_time, prep_time


def rollup_queries(url: str, actor, member_id: int, model: str, provider: str, end: date) -> dict:
    from kilo import usage
    from kilo.db import read_session

    month = usage.UsageFilter(start=end.replace(day=1), end=end)
    d30 = usage.UsageFilter(start=end - timedelta(days=29), end=end)
    year = usage.UsageFilter(start=end - timedelta(days=364), end=end)
    one_member = usage.UsageFilter(start=d30.start, end=end, members=(member_id,))
    one_model = usage.UsageFilter(start=d30.start, end=end, models=(model,))
    log = usage.RequestLogFilter(window="24h")

    def q(fn, **kw):
        def run():
            with read_session(url) as s:
                return fn(s, actor=actor, **kw)

        return run

    return {
        "totals (month)": q(usage.get_totals, f=month),
        "overview incl. previous + active users (month)": q(
            usage.get_overview, f=month, billing=True
        ),
        "by model (30d)": q(usage.get_breakdown, f=d30, by=("model_id",)),
        "daily by model (30d)": q(usage.get_breakdown, f=d30, by=("model_id",), daily=True),
        "daily by provider (365d)": q(usage.get_breakdown, f=year, by=("provider",), daily=True),
        "by mode (30d)": q(usage.get_breakdown, f=d30, by=("mode",)),
        "model performance p50/p95 (30d)": q(usage.get_model_performance, f=d30),
        "weekday x hour heatmap (30d)": q(usage.get_heatmap, f=d30),
        "weekday x hour heatmap (365d)": q(usage.get_heatmap, f=year),
        "monthly by model (6 months)": q(usage.get_monthly, f=month),
        "per-member stats (30d)": q(usage.list_member_usage, f=d30),
        "per-member stats (365d)": q(usage.list_member_usage, f=year),
        "one member, daily by model (30d)": q(
            usage.get_breakdown, f=one_member, by=("model_id",), daily=True
        ),
        "one model filter, totals (30d)": q(usage.get_totals, f=one_model),
        "one model filter, heatmap (30d)": q(usage.get_heatmap, f=one_model),
        "model + mode filter, heatmap (30d)": q(
            usage.get_heatmap, f=replace(one_model, modes=("code",))
        ),
        "provider + mode filter, heatmap (365d)": q(
            usage.get_heatmap, f=replace(year, providers=(provider,), modes=("code",))
        ),
        "member + model filter, heatmap from raw events (30d)": q(
            usage.get_heatmap, f=replace(one_model, members=(member_id,))
        ),
        # Views under filters the page offers (no DuckDB/pandas counterpart here).
        "per-member stats, model filter (30d)": q(
            usage.list_member_usage, f=replace(d30, models=(model,))
        ),
        "per-member stats, model filter (365d)": q(
            usage.list_member_usage, f=replace(year, models=(model,))
        ),
        "per-member stats, provider + mode filter (30d)": q(
            usage.list_member_usage, f=replace(d30, providers=(provider,), modes=("code",))
        ),
        "overview, model filter (month)": q(
            usage.get_overview, f=replace(month, models=(model,)), billing=True
        ),
        "daily by provider, mode filter (365d)": q(
            usage.get_breakdown, f=replace(year, modes=("code",)), by=("provider",), daily=True
        ),
        "one member, model performance (365d)": q(
            usage.get_model_performance, f=replace(year, members=(member_id,))
        ),
        "one member, daily by model (365d)": q(
            usage.get_breakdown, f=replace(year, members=(member_id,)), by=("model_id",), daily=True
        ),
        "member + mode filter, heatmap from raw events (365d)": q(
            usage.get_heatmap, f=replace(year, members=(member_id,), modes=("code",))
        ),
        "CSV export (30d, per member)": q(usage.export_csv, f=d30),
        # The live strip and the request log (raw events, by their key), as the owner.
        "live strip: this hour + today (hourly rollup)": q(usage.get_live_totals),
        "spend today of every member (day x member rollup)": q(usage.list_spent_today),
        "request log: 100 newest of 24h": q(usage.list_recent_requests, f=log),
        "request log: 500 newest of 24h": q(usage.list_recent_requests, f=replace(log, limit=500)),
        "request log: 100 newest of 1h": q(usage.list_recent_requests, f=replace(log, window="1h")),
        "request log: model filter (24h)": q(
            usage.list_recent_requests, f=replace(log, models=(model,))
        ),
        "request log: errors only (24h)": q(
            usage.list_recent_requests, f=replace(log, statuses=("error",))
        ),
        "request log: one member (24h)": q(
            usage.list_recent_requests, f=replace(log, members=(member_id,))
        ),
    }


def duckdb_and_pandas(
    frame: pd.DataFrame, member_id: int, model: str, provider: str, end: date
) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads TO 2")
    con.register("events_df", frame)
    con.execute("CREATE TABLE events AS SELECT * FROM events_df")
    con.unregister("events_df")
    end_ts = pd.Timestamp(end + timedelta(days=1), tz="UTC")
    month_ts = pd.Timestamp(end.replace(day=1), tz="UTC")
    d30_ts = pd.Timestamp(end - timedelta(days=29), tz="UTC")
    year_ts = pd.Timestamp(end - timedelta(days=364), tz="UTC")
    f = frame

    def window(lo):
        return f[(f["at"] >= lo) & (f["at"] < end_ts)]

    def heatmap(x: pd.DataFrame) -> pd.Series:
        return x.groupby([x["at"].dt.day_of_week, x["at"].dt.hour])["cost_micros"].sum()

    def duck(sql: str, *params):
        sql = sql.replace(" at ", ' "at" ').replace("(at)", '("at")').replace("(at AS", '("at" AS')
        return lambda: con.execute(sql, list(params)).fetchall()

    w = "at >= ? AND at < ?"
    pairs = {
        "totals (month)": (
            duck(
                f"SELECT count(*), sum(cost_micros), sum(input_tokens), sum(output_tokens), "  # noqa: S608 (constant SQL)
                f"sum(CASE WHEN status='error' THEN 1 ELSE 0 END) FROM events WHERE {w}",
                month_ts,
                end_ts,
            ),
            lambda: window(month_ts)[["cost_micros", "input_tokens", "output_tokens"]].sum(),
        ),
        "by model (30d)": (
            duck(
                f"SELECT model_id, count(*), sum(cost_micros) FROM events WHERE {w} GROUP BY 1",  # noqa: S608 (constant SQL)
                d30_ts,
                end_ts,
            ),
            lambda: (
                window(d30_ts)
                .groupby("model_id", observed=True)["cost_micros"]
                .agg(["count", "sum"])
            ),
        ),
        "daily by model (30d)": (
            duck(
                f"SELECT CAST(at AS DATE), model_id, count(*), sum(cost_micros) FROM events "  # noqa: S608 (constant SQL)
                f"WHERE {w} GROUP BY 1, 2",
                d30_ts,
                end_ts,
            ),
            lambda: (
                window(d30_ts)
                .groupby([window(d30_ts)["at"].dt.date, "model_id"], observed=True)["cost_micros"]
                .agg(["count", "sum"])
            ),
        ),
        "daily by provider (365d)": (
            duck(
                f"SELECT CAST(at AS DATE), provider, count(*), sum(cost_micros) FROM events "  # noqa: S608 (constant SQL)
                f"WHERE {w} GROUP BY 1, 2",
                year_ts,
                end_ts,
            ),
            lambda: f.groupby([f["at"].dt.date, "provider"], observed=True)["cost_micros"].agg(
                ["count", "sum"]
            ),
        ),
        "model performance p50/p95 (30d)": (
            duck(
                f"SELECT model_id, quantile_cont(latency_ms, 0.5), "  # noqa: S608 (constant SQL)
                f"quantile_cont(latency_ms, 0.95), sum(output_tokens) FROM events WHERE {w} "
                "GROUP BY 1",
                d30_ts,
                end_ts,
            ),
            lambda: (
                window(d30_ts)
                .groupby("model_id", observed=True)["latency_ms"]
                .quantile([0.5, 0.95])
            ),
        ),
        "weekday x hour heatmap (30d)": (
            duck(
                f"SELECT isodow(at), hour(at), count(*), sum(cost_micros) FROM events "  # noqa: S608 (constant SQL)
                f"WHERE {w} GROUP BY 1, 2",
                d30_ts,
                end_ts,
            ),
            lambda: heatmap(window(d30_ts)),
        ),
        "weekday x hour heatmap (365d)": (
            duck(
                f"SELECT isodow(at), hour(at), count(*), sum(cost_micros) FROM events "  # noqa: S608 (constant SQL)
                f"WHERE {w} GROUP BY 1, 2",
                year_ts,
                end_ts,
            ),
            lambda: heatmap(f),
        ),
        "per-member stats (30d)": (
            duck(
                f"SELECT member_id, count(*), sum(cost_micros), count(DISTINCT CAST(at AS "  # noqa: S608 (constant SQL)
                f"DATE)) FROM events WHERE {w} GROUP BY 1",
                d30_ts,
                end_ts,
            ),
            lambda: window(d30_ts).groupby("member_id")["cost_micros"].agg(["count", "sum"]),
        ),
        "per-member stats (365d)": (
            duck(
                f"SELECT member_id, count(*), sum(cost_micros), count(DISTINCT CAST(at AS "  # noqa: S608 (constant SQL)
                f"DATE)) FROM events WHERE {w} GROUP BY 1",
                year_ts,
                end_ts,
            ),
            lambda: f.groupby("member_id")["cost_micros"].agg(["count", "sum"]),
        ),
        "one member, daily by model (30d)": (
            duck(
                f"SELECT CAST(at AS DATE), model_id, sum(cost_micros) FROM events WHERE {w} "  # noqa: S608 (constant SQL)
                "AND member_id = ? GROUP BY 1, 2",
                d30_ts,
                end_ts,
                member_id,
            ),
            lambda: (
                lambda x: x.groupby([x["at"].dt.date, "model_id"], observed=True)[
                    "cost_micros"
                ].sum()
            )(window(d30_ts)[window(d30_ts)["member_id"] == member_id]),
        ),
        "one model filter, heatmap (30d)": (
            duck(
                f"SELECT isodow(at), hour(at), count(*), sum(cost_micros) FROM events "  # noqa: S608 (constant SQL)
                f"WHERE {w} AND model_id = ? GROUP BY 1, 2",
                d30_ts,
                end_ts,
                model,
            ),
            lambda: heatmap(window(d30_ts)[window(d30_ts)["model_id"] == model]),
        ),
        "model + mode filter, heatmap (30d)": (
            duck(
                f"SELECT isodow(at), hour(at), count(*), sum(cost_micros) FROM events "  # noqa: S608 (constant SQL)
                f"WHERE {w} AND model_id = ? AND mode = 'code' GROUP BY 1, 2",
                d30_ts,
                end_ts,
                model,
            ),
            lambda: heatmap(
                window(d30_ts)[
                    (window(d30_ts)["model_id"] == model) & (window(d30_ts)["mode"] == "code")
                ]
            ),
        ),
        "provider + mode filter, heatmap (365d)": (
            duck(
                f"SELECT isodow(at), hour(at), count(*), sum(cost_micros) FROM events "  # noqa: S608 (constant SQL)
                f"WHERE {w} AND provider = ? AND mode = 'code' GROUP BY 1, 2",
                year_ts,
                end_ts,
                provider,
            ),
            lambda: heatmap(f[(f["provider"] == provider) & (f["mode"] == "code")]),
        ),
        "member + model filter, heatmap from raw events (30d)": (
            duck(
                f"SELECT isodow(at), hour(at), count(*), sum(cost_micros) FROM events "  # noqa: S608 (constant SQL)
                f"WHERE {w} AND model_id = ? AND member_id = ? GROUP BY 1, 2",
                d30_ts,
                end_ts,
                model,
                member_id,
            ),
            lambda: heatmap(
                window(d30_ts)[
                    (window(d30_ts)["model_id"] == model)
                    & (window(d30_ts)["member_id"] == member_id)
                ]
            ),
        ),
        "one model filter, totals (30d)": (
            duck(
                f"SELECT count(*), sum(cost_micros) FROM events WHERE {w} AND model_id = ?",  # noqa: S608 (constant SQL)
                d30_ts,
                end_ts,
                model,
            ),
            lambda: window(d30_ts)[window(d30_ts)["model_id"] == model]["cost_micros"].sum(),
        ),
    }
    return pairs


PAGE_SCRIPT = """
import sys, time, os
sys.path.insert(0, {root!r})
os.chdir({root!r})
from tests.pages.helpers import app_as
at = app_as("owner", timeout=120)
at.run()
at.switch_page("pages/usage.py")
# 1. a fresh process: the page's first run also imports its modules (altair, charts...)
t = time.perf_counter(); at.run(); fresh = time.perf_counter() - t
# 2. what a visitor of a running server waits for a view nobody opened: empty data cache
import streamlit as st
st.cache_data.clear()
t = time.perf_counter(); at.run(); cold = time.perf_counter() - t
# 3. the same view again (cached loaders)
t = time.perf_counter(); at.run(); warm = time.perf_counter() - t
assert not at.exception, [e.value for e in at.exception]
# VmHWM: this process's peak resident memory (ru_maxrss would carry the parent's over exec)
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print("RESULT", fresh, cold, warm, hwm)
"""


def page_render(url: str) -> tuple[float, float, float, float]:
    env = dict(os.environ, DATABASE_URL=url, KILO_COOKIE_KEY="bench-" + "x" * 40)
    out = subprocess.run(
        [sys.executable, "-c", PAGE_SCRIPT.format(root=str(ROOT))],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")), None)
    if line is None:
        raise RuntimeError(f"page render failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    _, fresh, cold, warm, rss_kb = line.split()
    return float(fresh), float(cold), float(warm), int(rss_kb) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--models", type=int, default=60)
    parser.add_argument("--batch", type=int, default=250_000, help="events per transaction")
    parser.add_argument("--repeat", type=int, default=7, help="runs per query (median)")
    parser.add_argument("--db", default="/tmp/kilo-usage-bench.db", help="SQLite file")
    parser.add_argument("--url", default=None, help="database URL instead of --db")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-page", action="store_true")
    parser.add_argument("--skip-compare", action="store_true", help="no DuckDB/pandas")
    parser.add_argument(
        "--only", default=None, help="time only the queries whose name contains this text"
    )
    args = parser.parse_args(argv)

    url = args.url or f"sqlite:///{args.db}"
    if not args.url:
        for suffix in ("", "-wal", "-shm"):
            Path(args.db + suffix).unlink(missing_ok=True)
    end = datetime.now(UTC).date()
    print(
        f"Usage benchmark: {args.events:,} events, {args.days} days, {args.members} members, "
        f"{args.models} models; database {url}"
    )
    org_id, member_ids = setup_org(url, args.members)
    t = time.perf_counter()
    frame = generate(args.events, args.days, member_ids, args.models, args.seed, end)
    print(f"  generated in {time.perf_counter() - t:.1f} s")
    db_time, prep_time = ingest(url, org_id, frame, args.batch)

    from sqlalchemy import func, select

    from kilo.db import read_session
    from kilo.members import actor_for
    from kilo.models import Member
    from kilo.rollups.registry import ROLLUPS

    with read_session(url) as s:
        owner = actor_for(s.get(Member, member_ids[0]))
        sizes = {
            r.table: s.execute(select(func.count()).select_from(r.model)).scalar() for r in ROLLUPS
        }
    size_mb = Path(args.db).stat().st_size / 2**20 if not args.url else float("nan")
    print("\nIngest")
    print(
        f"  insert_events (events + {len(ROLLUPS)} rollups): "
        f"{args.events / db_time:>12,.0f} events/s ({db_time:.1f} s)"
    )
    print(f"  building the event dicts (not counted): {prep_time:.1f} s")
    print(f"  rollup rows: {sizes}; database file {size_mb:,.0f} MB")

    busiest_member = int(frame["member_id"].value_counts().index[0])
    top_model = str(frame["model_id"].value_counts().index[0])
    top_provider = str(frame["provider"].value_counts().index[0])
    queries = rollup_queries(url, owner, busiest_member, top_model, top_provider, end)
    if args.only:
        queries = {name: fn for name, fn in queries.items() if args.only in name}
    results = {name: median_ms(fn, args.repeat) for name, fn in queries.items()}
    compare = (
        {}
        if args.skip_compare
        else duckdb_and_pandas(frame, busiest_member, top_model, top_provider, end)
    )
    print(f"\nQueries (median of {args.repeat}, ms)")
    print(
        f"  {'query':<50} {'rollups':>9} {'duckdb':>9} {'pandas':>9} {'duck/roll':>9} "
        f"{'pandas/roll':>11}"
    )
    for name, ms in results.items():
        if name in compare:
            duck_fn, pandas_fn = compare[name]
            duck_ms = median_ms(duck_fn, args.repeat)
            pandas_ms = median_ms(pandas_fn, 3)
            print(
                f"  {name:<50} {ms:>9.1f} {duck_ms:>9.1f} {pandas_ms:>9.1f} "
                f"{duck_ms / ms:>9.1f}x {pandas_ms / ms:>10.1f}x"
            )
        else:
            print(f"  {name:<50} {ms:>9.1f} {'—':>9} {'—':>9}")
    print(f"  slowest rollup query: {max(results.values()):.1f} ms")

    if not args.skip_page:
        fresh, cold, warm, rss = page_render(url)
        print("\nUsage page (AppTest, signed in as the owner, default view)")
        print(f"  first render in a fresh process (imports included): {fresh:.2f} s")
        print(f"  first render, empty data cache: {cold:.2f} s; rerun (cached): {warm:.2f} s")
        print(f"  app process peak memory (VmHWM): {rss:,.0f} MB")
    print(
        f"\nBenchmark process peak memory: "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
