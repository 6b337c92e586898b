"""The usage rollups: one entry per rollup table, the one place that lists them.

Every rollup holds sums only (plus a latency histogram in some daily ones, and day masks
that merge with OR), so it merges exactly and its totals equal the sums over raw events.
An entry names the table's model and how a batch of events is folded into it; the rest
is read from the model: its key is the primary key without `org_id` (the grouping, in
key order), its grain is `hour`, `month` or `day` (whichever its key holds), its
dimensions are the ones of member/model/provider/mode its key keeps, a key with
`dim, value` keeps one of model/provider/mode at a time, and it has the latency
histogram when the model has its columns.

The write side (`kilo.rollups.store`) folds every batch into every entry, in this order;
the read side (`kilo.rollups.picker`) picks among the day and hour entries that keep
dimensions as columns; the tests and the benchmark walk the same list. Adding a rollup
is one entry here, plus its model and migration.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from kilo.models import (
    LATENCY_BOUNDS_MS,
    LATENCY_BUCKETS,
    UsageDaily,
    UsageDailyDim,
    UsageDailyMember,
    UsageDailyModel,
    UsageDailyProviderMode,
    UsageHourly,
    UsageHourlyDim,
    UsageHourlyMember,
    UsageHourlyModel,
    UsageHourlyProviderMode,
    UsageMonthlyMember,
    UsageMonthlyMemberDim,
)

MEASURES = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_micros",
    "latency_ms_sum",
)
HISTOGRAM = tuple(f"lat_b{i}" for i in range(LATENCY_BUCKETS))
# The dimensions a view filters or groups by, and those a one-dimension rollup keeps one of.
DIMENSIONS = ("member_id", "model_id", "provider", "mode")
ONE_DIMS = ("model_id", "provider", "mode")
# How a batch is folded into a rollup (`kilo.rollups.store`):
#   sums       group the batch by the key, add its sums to the stored rows;
#   day_mask   the same, and OR the days of the month as a bit mask (month grain);
#   recompute  recompute the months the batch touched from the `source` rollup (its
#              counts of days do not add up across batches); comes after its source.
FOLDS = ("sums", "day_mask", "recompute")


@dataclass(frozen=True)
class Rollup:
    """One rollup table, as the registry describes it (build it with `rollup()`)."""

    model: Any  # the SQLModel table class
    key: tuple[str, ...]  # primary key without org_id, in key order
    grain: str  # day | hour | month
    dims: frozenset[str]  # dimensions kept as columns
    one_dim: bool  # keeps one of model/provider/mode at a time, as (`dim`, `value`)
    histogram: bool  # has the latency histogram columns
    weekday: bool  # has the `weekday` column (follows from `day`)
    fold: str
    source: Any = None  # the rollup a `recompute` one is computed from

    @property
    def table(self) -> str:
        return self.model.__tablename__

    @property
    def hourly(self) -> bool:
        return self.grain == "hour"

    @property
    def group_keys(self) -> tuple[str, ...]:
        """The key plus `weekday` where the table has one: the columns a batch is grouped
        by (rows are written sorted by them, so each upsert walks its B-tree in order)."""
        return self.key + (("weekday",) if self.weekday else ())

    @property
    def measures(self) -> tuple[str, ...]:
        """The summed columns: every measure, and the histogram where the table has one."""
        return MEASURES + (HISTOGRAM if self.histogram else ())


def rollup(model: Any, *, fold: str = "sums", source: Any = None) -> Rollup:
    """The registry entry of a rollup table; all but `fold` is read from its model."""
    if fold not in FOLDS:
        raise ValueError(f"unknown fold {fold!r}")
    key = tuple(c.name for c in model.__table__.primary_key.columns if c.name != "org_id")
    columns = model.__table__.c
    return Rollup(
        model=model,
        key=key,
        grain=next((g for g in ("hour", "month") if g in key), "day"),
        dims=frozenset(k for k in key if k in DIMENSIONS),
        one_dim="dim" in key,
        histogram=HISTOGRAM[0] in columns,
        weekday="weekday" in columns,
        fold=fold,
        source=source,
    )


ROLLUPS: tuple[Rollup, ...] = (
    rollup(UsageDaily),  # day x member x model x provider x mode, with histogram
    rollup(UsageDailyModel),  # day x model x provider x mode, with histogram
    rollup(UsageDailyProviderMode),  # day x provider x mode
    rollup(UsageDailyMember),  # day x member
    rollup(UsageHourly),  # UTC day x hour, organization-wide
    rollup(UsageHourlyMember),  # UTC day x hour x member
    rollup(UsageHourlyProviderMode),  # UTC day x hour x provider x mode
    rollup(UsageHourlyModel),  # UTC day x hour x model x provider x mode
    rollup(UsageDailyDim),  # day x one of model/provider/mode, with histogram
    rollup(UsageHourlyDim),  # UTC day x hour x one of model/provider/mode
    # month x member x one of model/provider/mode, active days as a bit mask
    rollup(UsageMonthlyMemberDim, fold="day_mask"),
    # month x member with active days, recomputed from the day x member rollup
    rollup(UsageMonthlyMember, fold="recompute", source=UsageDailyMember),
)


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def latency_bucket(latency_ms: int) -> int:
    """Index of the histogram bucket holding `latency_ms` (bucket i is (bound[i-1], bound[i]])."""
    return bisect.bisect_left(LATENCY_BOUNDS_MS, latency_ms)
