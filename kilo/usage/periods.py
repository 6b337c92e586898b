"""The Usage tab's periods, their comparison periods, and the "active" window."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from kilo.errors import ValidationError
from kilo.rollups.query import UsageFilter
from kilo.rollups.registry import month_start

PERIODS = {
    "billing": "Current billing period",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "custom": "Custom range",
}


def resolve_period(
    kind: str, *, today: date, start: date | None = None, end: date | None = None
) -> tuple[date, date]:
    """The (start, end) days of a period choice; the billing period is the calendar month."""
    if kind == "billing":
        return month_start(today), today
    if kind in ("7d", "30d", "90d"):
        return today - timedelta(days=int(kind[:-1]) - 1), today
    if kind == "custom":
        if start is None or end is None:
            raise ValidationError("Choose both a start and an end day for a custom range.")
        if start > end:
            raise ValidationError("The start day must be on or before the end day.")
        if (end - start).days > 3 * 366:
            raise ValidationError("Choose a range of at most three years.")
        return start, end
    raise ValidationError(f"Unknown period “{kind}”; choose one of {', '.join(PERIODS)}.")


def previous_period(f: UsageFilter, *, billing: bool = False) -> UsageFilter:
    """The comparison period: the same days of the previous month for a month-to-date
    billing period, otherwise the equally long span just before."""
    if billing and f.start.day == 1:
        prev_start = month_start(f.start - timedelta(days=1))
        prev_end = min(prev_start + timedelta(days=f.days - 1), f.start - timedelta(days=1))
        return replace(f, start=prev_start, end=prev_end)
    return replace(f, start=f.start - timedelta(days=f.days), end=f.start - timedelta(days=1))


# "Active" means the same everywhere (Usage tab, Organization tab): at least one Kilo
# request in the last ACTIVE_DAYS UTC days, today included. Dashboard sign-ins do not count.
ACTIVE_DAYS = 7


def active_window(today: date) -> tuple[date, date]:
    """The inclusive UTC days that count for "active" on `today`."""
    return today - timedelta(days=ACTIVE_DAYS - 1), today
