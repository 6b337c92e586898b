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
