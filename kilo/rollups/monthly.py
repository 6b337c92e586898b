"""Per-member sums and active days over long periods: the month plan.

A period is read as whole calendar months from a monthly rollup plus or minus the few
days around them from a daily one (`month_plan`), with the members' active days from the
month x member rollup, or from the day masks of the month x member x one-dimension rollup
under a filter on one of model/provider/mode.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, literal, select, union_all
from sqlmodel import Session

from kilo.models import UsageDaily, UsageDailyMember, UsageMonthlyMember, UsageMonthlyMemberDim
from kilo.rollups.aggregate import fetch_rows, to_dates, to_int
from kilo.rollups.query import UsageFilter
from kilo.rollups.registry import MEASURES, month_end, month_start
from kilo.rollups.where import conditions


def month_split(start: date, end: date) -> tuple[tuple[date, date] | None, list[tuple[date, date]]]:
    """Split inclusive days into whole calendar months (first and last month's first days,
    or None) and the leftover day ranges before and after them."""
    first = start if start.day == 1 else month_end(start) + timedelta(days=1)
    last = end if end == month_end(end) else month_start(end) - timedelta(days=1)
    if first > last:
        return None, [(start, end)]
    partial = [(start, first - timedelta(days=1))] if start < first else []
    if end > last:
        partial.append((last + timedelta(days=1), end))
    return (first, month_start(last)), partial


def month_plan(
    start: date, end: date
) -> tuple[list[tuple[date, date]], list[tuple[date, date]], list[tuple[date, date]]]:
    """How to sum inclusive days from month and day rollups with the fewest day rows.

    Returns (month ranges to add, as first days of months; day ranges to add; day ranges to
    subtract). Whole months are read as months. A partial month is read as its days, or,
    when it covers most of the month, as the month minus the days it leaves out (a 30-day
    view reads one month row and two days a member instead of 28 days)."""
    months, partial = month_split(start, end)
    add_months = [months] if months else []
    add_days: list[tuple[date, date]] = []
    subtract_days: list[tuple[date, date]] = []
    for lo, hi in partial:
        while lo <= hi:  # one piece per calendar month
            first, last = month_start(lo), month_end(lo)
            piece_end = min(hi, last)
            inside = (piece_end - lo).days + 1
            if (last - first).days + 1 - inside < inside:
                add_months.append((first, first))
                subtract_days += [(first, lo - timedelta(days=1))] if lo > first else []
                if piece_end < last:
                    subtract_days.append((piece_end + timedelta(days=1), last))
            else:
                add_days.append((lo, piece_end))
            lo = piece_end + timedelta(days=1)
    return add_months, add_days, subtract_days


def member_stats_by_month(org_id: int, f: UsageFilter) -> Any:
    """Per-member sums and active days from the monthly rollup plus or minus a few days of
    the daily one (`month_plan`). Each range is its own UNION ALL branch: an OR of ranges
    would make SQLite scan every day."""
    add_months, add_days, subtract_days = month_plan(f.start, f.end)
    m, d = UsageMonthlyMember, UsageDailyMember
    members = [m.member_id.in_(f.dims()["member_id"])] if "member_id" in f.dims() else []
    parts = [
        select(
            m.member_id,
            *[getattr(m, x).label(x) for x in MEASURES],
            m.active_days.label("active_days"),
        ).where(m.org_id == org_id, m.month >= lo, m.month <= hi, *members)
        for lo, hi in add_months
    ]
    members = [d.member_id.in_(f.dims()["member_id"])] if "member_id" in f.dims() else []
    for sign, ranges in ((1, add_days), (-1, subtract_days)):
        parts += [
            select(
                d.member_id,
                *[(getattr(d, x) * sign).label(x) for x in MEASURES],
                literal(sign).label("active_days"),  # a day row is one active day
            ).where(d.org_id == org_id, d.day >= lo, d.day <= hi, *members)
            for lo, hi in ranges
        ]
    u = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
    total = func.sum(u.c.requests)
    return (
        select(
            u.c.member_id,
            *[func.sum(u.c[x]).label(x) for x in (*MEASURES, "active_days")],
        )
        .group_by(u.c.member_id)
        .having(total > 0)  # members whose month rows were all subtracted away
    )


def member_stats_one_dim(session: Session, org_id: int, f: UsageFilter) -> list[dict[str, int]]:
    """Per-member sums and active days under a filter on one of model/provider/mode: whole
    months from the month x member x dimension rollup, plus or minus the days `month_plan`
    reads from the daily one. Active days: the months' day masks (OR-ed over the filtered
    values, without the subtracted days), plus the added days seen in the daily rollup."""
    ((dim, values),) = [(d, v) for d, v in f.dims().items() if d != "member_id"]
    add_months, add_days, subtract_days = month_plan(f.start, f.end)
    sums: dict[int, list[int]] = {}
    masks: dict[tuple[int, date], int] = defaultdict(int)
    days: dict[int, set] = defaultdict(set)

    def add(member: int, measures: Iterable, sign: int) -> None:
        acc = sums.setdefault(member, [0] * len(MEASURES))
        for i, v in enumerate(measures):
            acc[i] += sign * to_int(v)

    m = UsageMonthlyMemberDim
    members = [m.member_id.in_(f.dims()["member_id"])] if "member_id" in f.dims() else []
    for lo, hi in add_months:
        stmt = select(m.member_id, m.month, m.day_mask, *[getattr(m, x) for x in MEASURES])
        stmt = stmt.where(
            m.org_id == org_id,
            m.dim == dim,
            m.value.in_(values),
            m.month >= lo,
            m.month <= hi,
            *members,
        )
        for member, month, mask, *measures in fetch_rows(session, stmt):
            add(member, measures, 1)
            masks[member, to_dates([month])[0]] |= int(mask)
    t = UsageDaily
    for sign, ranges in ((1, add_days), (-1, subtract_days)):
        for lo, hi in ranges:
            stmt = select(t.member_id, t.day, *[func.sum(getattr(t, x)) for x in MEASURES])
            stmt = stmt.where(*conditions(t, org_id, replace(f, start=lo, end=hi)))
            for member, day, *measures in fetch_rows(session, stmt.group_by(t.member_id, t.day)):
                add(member, measures, sign)
                if sign > 0:
                    days[member].add(day)
    cleared: dict[date, int] = defaultdict(int)  # subtracted days: within whole months
    for lo, hi in subtract_days:
        for n in range(lo.day, hi.day + 1):
            cleared[month_start(lo)] |= 1 << (n - 1)
    active = {member: len(d) for member, d in days.items()}
    for (member, month), mask in masks.items():
        active[member] = active.get(member, 0) + (mask & ~cleared[month]).bit_count()
    return [
        {
            "member_id": member,
            **dict(zip(MEASURES, acc, strict=True)),
            "active_days": active[member],
        }
        for member, acc in sums.items()
        if acc[0] > 0  # members whose month rows were all subtracted away
    ]
