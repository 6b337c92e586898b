"""Usage analytics: the actor-scoped views the Usage tab reads.

Every function takes a `UsageFilter` (period + members/models/providers/modes), checks
`usage.view_own` / `usage.view_all` (`kilo.usage.scope`), and aggregates in SQL over the
narrowest rollup that has every dimension the query filters or groups on
(`kilo.rollups.aggregate`). Raw events are read only by the weekday x hour heatmap when it
is filtered by a member together with model, provider or mode (still aggregated in SQL).
The credit runway is billing's (`kilo.billing`), shown here as on the Invoices tab.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Integer as _INT
from sqlalchemy import func, literal, select
from sqlmodel import Session

from kilo.errors import ValidationError
from kilo.models import (
    LATENCY_BOUNDS_MS,
    Member,
    UsageEvent,
)
from kilo.permissions import Actor, allowed, ensure_allowed
from kilo.rollups.aggregate import aggregate, aggregate_rows, fetch_rows, to_int
from kilo.rollups.picker import pick
from kilo.rollups.query import TEAM, UsageFilter
from kilo.rollups.registry import DIMENSIONS, HISTOGRAM, MEASURES, month_end, month_start
from kilo.rollups.where import conditions, hourly_source
from kilo.usage.members import member_names
from kilo.usage.periods import active_window, previous_period
from kilo.usage.scope import analytics_enabled, scope_filter


def get_totals(session: Session, *, actor: Actor, f: UsageFilter) -> dict[str, int]:
    """Sums over the view: requests, errors, successful, tokens, cost_micros, latency sum."""
    f = scope_filter(session, actor, f)
    rows, _ = aggregate_rows(session, actor.org_id, f)
    values = rows[0] if rows else (None,) * len(MEASURES)  # one row, NULL sums when empty
    totals = {m: to_int(v) for m, v in zip(MEASURES, values, strict=True)}
    totals["successful"] = totals["requests"] - totals["errors"]
    return totals


def _active_member_ids(org_id: int, f: UsageFilter) -> Any:
    """SELECT of the members (removed ones included) with at least one request in the view."""
    t = pick(set(f.dims()) | {"member_id"}).model
    return select(t.member_id).where(*conditions(t, org_id, f), t.requests > 0).distinct()


def count_active_members(session: Session, *, actor: Actor, f: UsageFilter) -> int:
    """Members with at least one request in the view's days."""
    f = scope_filter(session, actor, f)
    active = _active_member_ids(actor.org_id, f).subquery()
    return to_int(session.execute(select(func.count()).select_from(active)).scalar())


def count_active_by_role(session: Session, *, actor: Actor, today: date) -> dict[str, int]:
    """Current members per role with a request in the active window ending `today`: the
    Usage tab's "Active users (7 days)" split by role (members removed since are left out).
    Counts only, so everyone who may view the organization may see them."""
    ensure_allowed(actor, "organization.view")
    start, end = active_window(today)
    active = _active_member_ids(actor.org_id, UsageFilter(start=start, end=end))
    rows = session.execute(
        select(Member.role, func.count())
        .where(
            Member.org_id == actor.org_id,
            Member.removed_at.is_(None),
            Member.id.in_(active),
        )
        .group_by(Member.role)
    ).all()
    return {role: int(n) for role, n in rows}


def get_overview(
    session: Session,
    *,
    actor: Actor,
    f: UsageFilter,
    billing: bool = False,
    today: date | None = None,
) -> dict[str, dict[str, int]]:
    """Overview metrics of the view and of the previous period (for the deltas).

    Keys of each side: spend_micros, successful, avg_cost_micros (per successful request,
    integer micro-dollars rounded down), input_tokens, output_tokens, active_7d (members
    active in the 7 days ending at the period's last day, or today if earlier).
    """
    out = {}
    prev = previous_period(f, billing=billing)
    for name, view in (("current", f), ("previous", prev)):
        t = get_totals(session, actor=actor, f=view)
        last = min(view.end, today) if today else view.end
        first, last = active_window(last)
        active = count_active_members(session, actor=actor, f=replace(view, start=first, end=last))
        out[name] = {
            "spend_micros": t["cost_micros"],
            "successful": t["successful"],
            "avg_cost_micros": t["cost_micros"] // t["successful"] if t["successful"] else 0,
            "input_tokens": t["input_tokens"],
            "output_tokens": t["output_tokens"],
            "requests": t["requests"],
            "errors": t["errors"],
            "active_7d": active,
        }
    out["previous_period"] = {"start": prev.start, "end": prev.end}  # type: ignore[assignment]
    return out


def get_breakdown(
    session: Session,
    *,
    actor: Actor,
    f: UsageFilter,
    by: tuple[str, ...] = ("model_id",),
    daily: bool = False,
) -> pd.DataFrame:
    """Sums grouped by dimensions (member_id, model_id, provider, mode, or team_id: each
    member's current team, 0 for none), optionally per day.

    Returns a DataFrame with the group columns (plus `day`) and every measure, as int64,
    sorted by the group columns. Grouping by member or team is refused for owners and admins
    while the organization has per-member analytics off.
    """
    for dim in by:
        if dim not in (*DIMENSIONS, TEAM):
            raise ValidationError(f"Cannot group usage by “{dim}”.")
    f = scope_filter(session, actor, f, by=by)
    group = (("day",) if daily else ()) + tuple(by)
    return aggregate(session, actor.org_id, f, group, ordered=True)


def percentile_from_histogram(counts: list[int], q: float) -> float | None:
    """Latency (ms) at quantile q, interpolated linearly inside the histogram bucket.

    Exact to the bucket: the true value lies within the bucket that is returned from.
    The open last bucket (over 30 s) reports its lower bound.
    """
    total = sum(counts)
    if total == 0:
        return None
    target = q * total
    cumulative = 0
    for i, n in enumerate(counts):
        if n and cumulative + n >= target:
            low = LATENCY_BOUNDS_MS[i - 1] if i > 0 else 0
            if i >= len(LATENCY_BOUNDS_MS):
                return float(low)
            high = LATENCY_BOUNDS_MS[i]
            return low + (high - low) * (target - cumulative) / n
        cumulative += n
    return float(LATENCY_BOUNDS_MS[-1])


def get_model_performance(session: Session, *, actor: Actor, f: UsageFilter) -> pd.DataFrame:
    """Per model: requests, errors, error rate, cost, latency p50/p95 (from the histogram),
    mean latency, and output tokens per second of generation time."""
    f = scope_filter(session, actor, f)
    rows = aggregate(session, actor.org_id, f, ("model_id",), histogram=True)
    out = []
    for r in rows.to_dict("records"):
        counts = [r[h] for h in HISTOGRAM]
        req = r["requests"]
        out.append(
            {
                "model_id": r["model_id"],
                "requests": req,
                "errors": r["errors"],
                "error_rate": r["errors"] / req if req else 0.0,
                "cost_micros": r["cost_micros"],
                "output_tokens": r["output_tokens"],
                "latency_p50_ms": percentile_from_histogram(counts, 0.5),
                "latency_p95_ms": percentile_from_histogram(counts, 0.95),
                "latency_mean_ms": r["latency_ms_sum"] / req if req else None,
                "output_tokens_per_s": (
                    r["output_tokens"] * 1000 / r["latency_ms_sum"] if r["latency_ms_sum"] else None
                ),
            }
        )
    cols = [
        "model_id",
        "requests",
        "errors",
        "error_rate",
        "cost_micros",
        "output_tokens",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_mean_ms",
        "output_tokens_per_s",
    ]
    frame = pd.DataFrame(out, columns=cols)
    return frame.sort_values("requests", ascending=False).reset_index(drop=True)


HEATMAP_MEASURES = ("requests", "errors", "cost_micros", "tokens")


def _heatmap_from_events(session: Session, org_id: int, f: UsageFilter) -> list[tuple]:
    """Heatmap cells from raw events (a member's are contiguous: the table is keyed member
    first), grouped by UTC hour slot in SQL and folded into weekday x hour here: a few
    thousand slots at most, where parsing every event's timestamp with strftime in SQL cost
    1.4x more."""
    t = UsageEvent
    if session.get_bind().dialect.name == "sqlite":
        slot = func.substr(t.at, 1, 13)  # 'YYYY-MM-DD HH' of the stored UTC text
    else:
        slot = func.date_trunc("hour", func.timezone("UTC", t.at))
    start = datetime.combine(f.start, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(f.end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    err = func.sum(func.cast(t.status != literal("success"), _INT))
    stmt = select(
        slot,
        func.count(),
        err,
        func.sum(t.cost_micros),
        func.sum(t.input_tokens + t.output_tokens),
    ).where(t.org_id == org_id, t.at >= start, t.at < end)
    for dim, values in f.dims().items():
        stmt = stmt.where(getattr(t, dim).in_(values))
    cells = []  # (weekday, hour, *HEATMAP_MEASURES), as the rollup query returns them
    for at, *sums in fetch_rows(session, stmt.group_by(slot)):
        at = datetime.fromisoformat(at) if isinstance(at, str) else at
        cells.append((at.weekday(), at.hour, *sums))
    return cells


def get_heatmap(session: Session, *, actor: Actor, f: UsageFilter) -> pd.DataFrame:
    """Requests, errors, cost and tokens by UTC weekday (0 = Monday) x hour, all 168 cells."""
    f = scope_filter(session, actor, f)
    source = hourly_source(actor.org_id, f)
    if source is None:  # a member together with model/provider/mode: raw events, in SQL
        rows = _heatmap_from_events(session, actor.org_id, f)
    else:
        t, conds = source
        stmt = select(
            t.weekday,
            t.hour,
            func.sum(t.requests),
            func.sum(t.errors),
            func.sum(t.cost_micros),
            func.sum(t.input_tokens + t.output_tokens),
        ).where(*conds)
        rows = fetch_rows(session, stmt.group_by(t.weekday, t.hour))
    # All 168 cells, in weekday-then-hour order; cells without events stay zero.
    grid = np.zeros((7 * 24, len(HEATMAP_MEASURES)), np.int64)
    if rows:
        values = np.array([[to_int(v) for v in row] for row in rows], np.int64)
        # Raw events give a cell once per hour slot: add them up.
        np.add.at(grid, values[:, 0] * 24 + values[:, 1], values[:, 2:])
    cells = np.arange(7 * 24)
    columns = {m: grid[:, i] for i, m in enumerate(HEATMAP_MEASURES)}
    return pd.DataFrame({"weekday": cells // 24, "hour": cells % 24, **columns})


def get_monthly(
    session: Session, *, actor: Actor, f: UsageFilter, months: int = 6, by: str = "model_id"
) -> pd.DataFrame:
    """Month by month (the `months` calendar months ending with the view's last day),
    grouped by `by`; the view's dimension filters apply, its start day does not. Grouping
    by member is refused for owners and admins while per-member analytics are off."""
    start = month_start(f.end)
    for _ in range(months - 1):
        start = month_start(start - timedelta(days=1))
    if by not in DIMENSIONS:
        raise ValidationError(f"Cannot group usage by “{by}”.")
    f = scope_filter(session, actor, replace(f, start=start), by=(by,))
    return aggregate(session, actor.org_id, f, ("month", by), ordered=True)


def spend_concentration(costs: Iterable[int]) -> dict[str, float]:
    """How concentrated spend is: Gini coefficient and the share of the top 10 % / 20 %."""
    values = sorted((int(c) for c in costs), reverse=True)
    total = sum(values)
    n = len(values)
    if not n or not total:
        return {"gini": 0.0, "top10_share": 0.0, "top20_share": 0.0, "members": n}
    ascending = values[::-1]
    weighted = sum((i + 1) * v for i, v in enumerate(ascending))
    gini = (2 * weighted) / (n * total) - (n + 1) / n
    top = lambda p: sum(values[: max(1, round(n * p))]) / total  # noqa: E731
    return {"gini": gini, "top10_share": top(0.10), "top20_share": top(0.20), "members": n}


def list_filter_options(
    session: Session, *, actor: Actor, start: date, end: date
) -> dict[str, list]:
    """Values for the filter widgets: models, providers and modes seen in the days (for
    the actor's scope), and members (owners/admins with analytics on)."""
    f = scope_filter(session, actor, UsageFilter(start=start, end=end))
    options: dict[str, list] = {}
    for dim in ("model_id", "provider", "mode"):
        rows = aggregate(session, actor.org_id, f, (dim,), measures=("requests",))
        options[dim] = sorted(rows[dim].tolist())
    members = []
    if allowed(actor, "usage.view_all") and analytics_enabled(session, org_id=actor.org_id):
        names = member_names(session, actor.org_id)
        members = [(int(r.member_id), f"{r.name} <{r.email}>") for r in names.itertuples()]
        members.sort(key=lambda m: m[1].lower())
    options["members"] = members
    return options


def get_forecast(session: Session, *, actor: Actor, f: UsageFilter, today: date) -> dict:
    """Spend so far in the calendar month of `today` and a projection to its end, at the
    average daily spend of the last 7 days (the view's filters apply)."""
    period_start, period_end = month_start(today), month_end(today)
    so_far = get_totals(session, actor=actor, f=replace(f, start=period_start, end=today))[
        "cost_micros"
    ]
    recent = get_totals(
        session, actor=actor, f=replace(f, start=today - timedelta(days=6), end=today)
    )["cost_micros"]
    daily_rate = recent // 7
    remaining_days = (period_end - today).days
    return {
        "period_start": period_start,
        "period_end": period_end,
        "spent_micros": so_far,
        "daily_rate_micros": daily_rate,
        "remaining_days": remaining_days,
        "projected_micros": so_far + daily_rate * remaining_days,
    }
