"""The audit chart builder: stacked day rectangles with tooltips and titled axes."""

from __future__ import annotations

from datetime import date

import pandas as pd

from kilo import charts


def test_events_per_day_chart_stacks_groups_per_day():
    df = pd.DataFrame(
        [
            {"day": date(2026, 11, 1), "group": "organization.member", "events": 3},
            {"day": date(2026, 11, 1), "group": "billing.credits", "events": 2},
            {"day": date(2026, 11, 4), "group": "organization.member", "events": 5},
        ]
    )
    spec = charts.audit_events_per_day(df).to_dict()
    enc = spec["encoding"]
    assert enc["x"]["title"] == "Day (UTC)" and enc["y"]["title"] == "Events (count)"
    assert {t["field"] for t in enc["tooltip"]} == {"day", "group", "events"}
    rows = sorted(
        (r["group"], r["bottom"], r["top"])
        for r in next(iter(spec["datasets"].values()))
        if r["day"].startswith("2026-11-01")
    )
    # Groups of the same day sit on top of each other, without overlap.
    assert rows == [("billing.credits", 0, 2), ("organization.member", 2, 5)]


def test_events_of_a_single_day_keep_a_day_axis():
    df = pd.DataFrame([{"day": date(2026, 12, 3), "group": "organization.member", "events": 4}])
    x = charts.audit_events_per_day(df).to_dict()["encoding"]["x"]
    ticks = [(v["month"], v["date"], v.get("hours", 0)) for v in x["axis"]["values"]]
    # A week of day ticks ending on the day (not one full-width block with hourly ticks).
    assert ticks == [(11, d, 12) for d in range(27, 31)] + [(12, d, 12) for d in range(1, 4)]
    first, last = x["scale"]["domain"]
    assert (first["month"], first["date"], last["month"], last["date"]) == (11, 27, 12, 4)
    # With the period given, the axis spans the period.
    x = charts.audit_events_per_day(df, start=date(2026, 11, 4), end=date(2026, 12, 3)).to_dict()[
        "encoding"
    ]["x"]
    assert (x["scale"]["domain"][0]["month"], x["scale"]["domain"][0]["date"]) == (11, 4)
