"""The query spec of a usage view, and the cheapest read of all.

`UsageFilter` is what every read of the rollups takes: inclusive UTC days plus optional
filters on member, model, provider and mode. `total_cost_micros` is the organization's
usage cost for billing's balance, read from the smallest rollup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import BindParameter, Select, func, select
from sqlmodel import Session

from kilo.models import UsageDailyDim

# Each dimension column and the `UsageFilter` field that filters it.
DIMENSION_FIELDS = {
    "member_id": "members",
    "model_id": "models",
    "provider": "providers",
    "mode": "modes",
}


@dataclass(frozen=True)
class UsageFilter:
    """A view of usage: inclusive UTC days plus optional dimension filters (empty = all)."""

    start: date
    end: date
    members: tuple[int, ...] = ()
    models: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()

    def dims(self) -> dict[str, tuple]:
        """The filtered dimensions: column -> values."""
        values = {column: getattr(self, field) for column, field in DIMENSION_FIELDS.items()}
        return {column: v for column, v in values.items() if v}

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def total_cost_query(
    org_id: int | BindParameter[int], *, start: date | None = None, end: date | None = None
) -> Select:
    """The statement behind `total_cost_micros` (one row, one column), for callers that read
    it as a scalar subquery of a larger statement (billing's balance in one round trip)."""
    t = UsageDailyDim
    stmt = select(func.coalesce(func.sum(t.cost_micros), 0)).where(
        t.org_id == org_id, t.dim == "mode"
    )
    if start is not None:
        stmt = stmt.where(t.day >= start)
    if end is not None:
        stmt = stmt.where(t.day <= end)
    return stmt


def total_cost_micros(
    session: Session, *, org_id: int, start: date | None = None, end: date | None = None
) -> int:
    """Usage cost of an organization (optionally between UTC days, inclusive), read from
    the smallest rollup; for billing (balance) and other internal callers."""
    return int(session.execute(total_cost_query(org_id, start=start, end=end)).scalar())
