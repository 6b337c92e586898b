"""The table decider: which rollup of the registry answers a query.

Among the day (or hour) rollups of `kilo.rollups.registry` that keep dimensions as
columns, the narrowest (fewest dimensions) that keeps every dimension the query filters
or groups by, with the latency histogram when it needs one. The one-dimension rollups
(`dim`, `value`) are read by the aggregator and the heatmap directly, for a filter or
grouping on a single one of model/provider/mode.
"""

from __future__ import annotations

from kilo.rollups.registry import ROLLUPS, Rollup

# Narrowest first (a stable sort keeps the registry's order among equals); the first
# that covers a query wins.
CANDIDATES: tuple[Rollup, ...] = tuple(
    sorted(
        (r for r in ROLLUPS if r.fold == "sums" and not r.one_dim and r.grain in ("day", "hour")),
        key=lambda r: len(r.dims),
    )
)


def pick(needed: set[str], *, hourly: bool = False, histogram: bool = False) -> Rollup | None:
    """The narrowest rollup keeping the `needed` dimensions, or None when none does."""
    for r in CANDIDATES:
        if r.hourly == hourly and needed <= r.dims and (r.histogram or not histogram):
            return r
    return None
