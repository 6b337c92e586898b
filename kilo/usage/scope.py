"""Who may see which usage: the scope every Usage view is read in.

Members see only their own usage; owners and admins everyone's, unless the organization
turned per-member analytics off, which refuses every per-member query of theirs. System
actors (command line, gateway) see everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from sqlalchemy import select
from sqlmodel import Session

from kilo.errors import PermissionDenied
from kilo.models import Organization
from kilo.permissions import Actor, allowed, ensure_allowed
from kilo.rollups.query import UsageFilter

ANALYTICS_OFF = (
    "Per-member usage analytics are turned off for this organization; an owner or admin "
    "can turn them on in Organization settings."
)


def scope_filter(
    session: Session, actor: Actor, f: UsageFilter, *, by: Iterable[str] = ()
) -> UsageFilter:
    """Enforce who may see what: members only themselves; admins everything unless the
    organization turned per-member analytics off, which refuses a member or team filter and a
    grouping by member or team (`by`). System actors (command line, gateway) see everything."""
    ensure_allowed(actor, "usage.view_own")
    if actor.is_system:
        return f
    if not allowed(actor, "usage.view_all"):
        return replace(f, members=(actor.id,))
    # A team's figures are its members' sums: they follow the per-member rule.
    per_member = bool(f.members or f.teams) or bool({"member_id", "team_id"} & set(by))
    if per_member and not analytics_enabled(session, org_id=actor.org_id):
        raise PermissionDenied(ANALYTICS_OFF)
    return f


def analytics_enabled(session: Session, *, org_id: int) -> bool:
    # One column through Core: cheaper than loading the organization on every query.
    enabled = (
        session.connection()
        .execute(select(Organization.usage_analytics_enabled).where(Organization.id == org_id))
        .scalar()
    )
    return bool(enabled)


def is_analytics_enabled(session: Session, *, actor: Actor) -> bool:
    """Whether the actor's organization shows per-member usage analytics."""
    ensure_allowed(actor, "usage.view_own")
    return analytics_enabled(session, org_id=actor.org_id)


def sees_every_member(session: Session, *, actor: Actor) -> bool:
    """Whether the actor may see other members' own usage (not only totals): owners and
    admins while per-member analytics are on, and the system."""
    return actor.is_system or (
        allowed(actor, "usage.view_all") and analytics_enabled(session, org_id=actor.org_id)
    )
