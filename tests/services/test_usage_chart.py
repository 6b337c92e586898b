"""Usage colour charts: past nine series, the rest are one "Other" series, summed exactly;
day axes with one tick per day at most."""

from __future__ import annotations

import itertools
from datetime import date

import pandas as pd

from kilo import charts


def _providers(n: int, days: int = 2) -> pd.DataFrame:
    rows = []
    for d in range(days):
        for i in range(n):
            rows.append(
                {
                    "day": date(2026, 11, 1 + d),
                    "provider": f"provider-{i:02d}",
                    # provider-00 is the largest, provider-13 the smallest
                    "requests": (n - i) * 10 + d,
                    "cost_micros": (n - i) * 1_000_001,
                    "input_tokens": 7,
                    "output_tokens": 3,
                }
            )
    return pd.DataFrame(rows)


def test_top_and_other_sums_the_rest_into_one_series_per_day():
    df = _providers(14)
    out = charts.top_and_other(df, category="provider", column="requests", keys=("day",))
    names = set(out["provider"])
    assert names == {f"provider-{i:02d}" for i in range(9)} | {"Other (5)"}
    for day, part in df.groupby("day"):
        got = out[out["day"] == day]
        for c in ("requests", "cost_micros", "input_tokens"):
            assert int(got[c].sum()) == int(part[c].sum())  # nothing lost, nothing doubled
            assert got[c].dtype.kind == "i"  # integers stay integers
        other = got[got["provider"] == "Other (5)"]
        smallest = part[part["provider"] >= "provider-09"]
        assert int(other["requests"].iloc[0]) == int(smallest["requests"].sum())


def test_ten_series_or_fewer_are_drawn_as_they_are():
    df = _providers(10)
    assert charts.top_and_other(df, category="provider", column="requests").equals(df)


def test_provider_donut_daily_trend_and_monthly_draw_at_most_ten_series():
    df = _providers(14)
    donut = charts.usage_share_donut(
        df.groupby("provider", as_index=False).sum(numeric_only=True), category="provider"
    ).to_dict()
    slices = next(iter(donut["datasets"].values()))
    assert len(slices) == 10 and abs(sum(r["share"] for r in slices) - 1) < 1e-9
    assert donut["encoding"]["order"]["sort"] == "descending"  # largest slice first

    trend = charts.usage_daily_trend(df, stack="provider", measure="cost").to_dict()
    bars = next(iter(trend["datasets"].values()))
    assert len({r["provider"] for r in bars}) == 10
    assert round(sum(r["cost_usd"] for r in bars), 6) == round(df["cost_micros"].sum() / 1e6, 6)

    monthly = df.assign(month=df["day"].map(lambda d: d.strftime("%Y-%m"))).drop(columns="day")
    spec = charts.usage_monthly(monthly, by="provider", measure="requests").to_dict()
    bars = next(iter(spec["datasets"].values()))
    assert len({r["provider"] for r in bars}) == 10
    assert sum(r["requests"] for r in bars) == int(df["requests"].sum())


def _axis_days(spec: dict) -> tuple[list[tuple[int, int, int]], list[int], dict]:
    x = spec["encoding"]["x"]
    ticks = [(v["year"], v["month"], v["date"]) for v in x["axis"]["values"]]
    hours = [v.get("hours", 0) for v in x["axis"]["values"]]
    return ticks, hours, x["scale"]["domain"]


def test_a_short_period_has_one_tick_per_day_never_hourly_ticks():
    df = _providers(3, days=2)  # 1 and 2 Nov 2026
    spec = charts.usage_daily_trend(
        df, stack="provider", start=date(2026, 11, 1), end=date(2026, 11, 3)
    ).to_dict()
    ticks, hours, domain = _axis_days(spec)
    assert ticks == [(2026, 11, 1), (2026, 11, 2), (2026, 11, 3)]
    assert set(hours) == {12}  # one label per day, under its bar
    assert (domain[0]["date"], domain[1]["date"]) == (1, 4)  # whole days: 1 Nov to 4 Nov 00:00
    assert spec["encoding"]["x"]["axis"]["format"] == "%d %b"


def test_a_long_period_has_at_most_twelve_day_ticks():
    df = _providers(2, days=1)
    spec = charts.usage_daily_trend(
        df, stack="provider", start=date(2026, 9, 5), end=date(2026, 12, 3)
    ).to_dict()
    ticks, hours, _ = _axis_days(spec)
    assert len(ticks) <= 12 and ticks[-1] == (2026, 12, 3)
    assert len({(date(*b) - date(*a)).days for a, b in itertools.pairwise(ticks)}) == 1
