"""The WHERE builder: a view's conditions on a rollup that keeps its dimensions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kilo.models import Member, UsageDaily
from kilo.rollups.query import UsageFilter


def conditions(t: Any, org_id: int, f: UsageFilter) -> list:
    """The view's WHERE clause on rollup `t`: organization, days and dimension filters.

    `UsageDaily` is keyed member first. Without a member filter its rows of a period are
    read member by member (every member row of the organization, removed ones included: a
    seek each) instead of scanning the organization's whole table (30 days under a model
    filter at 10M events: 810 -> 60 ms)."""
    conds = [t.org_id == org_id, t.day >= f.start, t.day <= f.end]
    conds += [getattr(t, d).in_(values) for d, values in f.dims().items()]
    if t is UsageDaily and "member_id" not in f.dims():
        members = select(Member.id).where(Member.org_id == org_id)
        conds.append(t.member_id.in_(members.scalar_subquery()))
    return conds
