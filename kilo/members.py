"""Members, roles and profiles: reading, editing, removing, and the seats they hold.

Invitations (how a member joins) are in `kilo.invitations`."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from sqlmodel import Session, col, func, select

from kilo import apikeys, audit, sessions
from kilo.db import lock_organization
from kilo.errors import Conflict, KiloError, NotFound, ValidationError
from kilo.models import Invitation, Member, utcnow
from kilo.permissions import ROLES, Actor, ensure_allowed
from kilo.validation import check_printable

_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


# ---- validation helpers -------------------------------------------------------------


def normalise_email(email: str) -> str:
    cleaned = (email or "").strip().lower()
    if len(cleaned) > 254 or not _EMAIL_RE.match(cleaned):
        raise ValidationError(f"“{email}” is not a valid email address (like name@company.com).")
    return cleaned


def clean_name(name: str, what: str = "The name") -> str:
    """Whitespace-folded, 1-100 printable characters (no control characters such as NUL)."""
    cleaned = " ".join((name or "").split())
    if not cleaned:
        raise ValidationError(f"{what} cannot be empty.")
    if len(cleaned) > 100:
        raise ValidationError(f"{what} is too long (at most 100 characters).")
    return check_printable(cleaned, what)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError(f"Unknown role “{role}”; choose one of {', '.join(ROLES)}.")
    return role


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def actor_for(member: Member) -> Actor:
    return Actor(
        id=member.id, org_id=member.org_id, role=member.role, name=member.name, email=member.email
    )


# ---- reading ------------------------------------------------------------------------


def list_members(session: Session, *, actor: Actor) -> list[Member]:
    ensure_allowed(actor, "members.view")
    return list(
        session.exec(
            select(Member)
            .where(Member.org_id == actor.org_id, col(Member.removed_at).is_(None))
            .order_by(col(Member.name))
        ).all()
    )


def get_member(session: Session, *, actor: Actor, member_id: int) -> Member:
    member = session.get(Member, member_id)
    if member is None or member.org_id != actor.org_id or member.removed_at is not None:
        raise NotFound("That member no longer exists; refresh the page.")
    return member


def get_member_by_username(session: Session, username: str) -> Member | None:
    return session.exec(
        select(Member).where(Member.username == username, col(Member.removed_at).is_(None))
    ).first()


def seats_in_use(session: Session, *, org_id: int) -> int:
    """Active members plus pending invitations: each holds a seat."""
    members = session.exec(
        select(func.count())
        .select_from(Member)
        .where(Member.org_id == org_id, col(Member.removed_at).is_(None))
    ).one()
    pending = session.exec(
        select(func.count())
        .select_from(Invitation)
        .where(
            Invitation.org_id == org_id,
            col(Invitation.accepted_at).is_(None),
            col(Invitation.revoked_at).is_(None),
            Invitation.expires_at > utcnow(),
        )
    ).one()
    return int(members) + int(pending)


# ---- changing members ---------------------------------------------------------------


def _owner_count(session: Session, org_id: int) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(Member)
            .where(
                Member.org_id == org_id, Member.role == "owner", col(Member.removed_at).is_(None)
            )
        ).one()
    )


def _check_can_touch(actor: Actor, member: Member) -> None:
    if member.role == "owner" and actor.role != "owner" and not actor.is_system:
        raise ValidationError("Only an owner can change or remove another owner.")


def _check_can_remove(session: Session, actor: Actor, member: Member) -> None:
    _check_can_touch(actor, member)
    if member.id == actor.id:
        raise ValidationError("You cannot remove yourself; ask another owner or admin.")
    if member.role == "owner" and _owner_count(session, actor.org_id) <= 1:
        raise Conflict(f"{member.name} is the last owner and cannot be removed.")


def _verdict(check: Callable[[], None]) -> tuple[bool, str | None]:
    try:
        check()
    except KiloError as exc:
        return False, str(exc)
    return True, None


def can_manage(actor: Actor, member: Member) -> tuple[bool, str | None]:
    """Whether `actor` may edit `member` (the rule `update_member` enforces), and if not,
    why: for showing the reason before anything is submitted."""

    def check() -> None:
        ensure_allowed(actor, "members.manage")
        _check_can_touch(actor, member)

    return _verdict(check)


def can_remove(session: Session, *, actor: Actor, member: Member) -> tuple[bool, str | None]:
    """Whether `actor` may remove `member` (the rules `remove_member` enforces), and if not,
    why."""

    def check() -> None:
        ensure_allowed(actor, "members.manage")
        _check_can_remove(session, actor, member)

    return _verdict(check)


def update_member(
    session: Session,
    *,
    actor: Actor,
    member_id: int,
    name: str | None = None,
    role: str | None = None,
    daily_spend_limit_micros: int | None | type(...) = ...,
) -> Member:
    """Edit a member's profile: name, role and daily spend limit (None = no limit)."""
    ensure_allowed(actor, "members.manage")
    if role is not None:  # before reading the roles the last-owner rule checks
        lock_organization(session, actor.org_id)
    member = get_member(session, actor=actor, member_id=member_id)
    _check_can_touch(actor, member)
    changes: dict[str, list] = {}
    if name is not None and clean_name(name) != member.name:
        changes["name"] = [member.name, clean_name(name)]
    if role is not None and check_role(role) != member.role:
        if member.id == actor.id:
            raise ValidationError("You cannot change your own role; ask another owner or admin.")
        if role == "owner" and actor.role != "owner" and not actor.is_system:
            raise ValidationError("Only an owner can make someone an owner.")
        if member.role == "owner" and _owner_count(session, actor.org_id) <= 1:
            raise Conflict(f"{member.name} is the last owner; make someone else owner first.")
        changes["role"] = [member.role, role]
    if daily_spend_limit_micros is not ...:
        limit = daily_spend_limit_micros
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise ValidationError("The daily spend limit must be zero or more (empty for none).")
        if limit != member.daily_spend_limit_micros:
            changes["daily_spend_limit_micros"] = [member.daily_spend_limit_micros, limit]
    if not changes:
        return member
    for field, (_, new) in changes.items():
        setattr(member, field, new)
    session.add(member)
    if "role" in changes:  # open sessions must not keep the old role
        sessions.end_all(session, member_id=member.id)
    action = (
        "organization.member.change_role"
        if set(changes) == {"role"}
        else ("organization.member.update")
    )
    audit.record(
        session,
        actor=actor,
        action=action,
        target=member.email,
        message=f"{member.email}: "
        + "; ".join(
            f"{field.replace('_micros', '')} {_show(old)} → {_show(new)}"
            for field, (old, new) in changes.items()
        ),
        details={"member_id": member.id, "changes": changes},
    )
    return member


def _show(value: object) -> str:
    return "none" if value is None else str(value)


def change_role(session: Session, *, actor: Actor, member_id: int, role: str) -> Member:
    return update_member(session, actor=actor, member_id=member_id, role=role)


def remove_member(session: Session, *, actor: Actor, member_id: int) -> None:
    """Remove a member (their usage history stays); frees a seat."""
    ensure_allowed(actor, "members.manage")
    lock_organization(session, actor.org_id)  # before reading the roles the last-owner rule checks
    member = get_member(session, actor=actor, member_id=member_id)
    _check_can_remove(session, actor, member)
    member.removed_at = utcnow()
    session.add(member)
    sessions.end_all(session, member_id=member.id)
    keys = apikeys.revoke_member_keys(session, member_id=member.id)
    audit.record(
        session,
        actor=actor,
        action="organization.member.remove",
        target=member.email,
        message=f"Removed {member.name} <{member.email}> ({member.role})"
        + (f"; {keys} API key{'s' if keys != 1 else ''} revoked" if keys else ""),
        details={"member_id": member.id, "role": member.role, "api_keys_revoked": keys},
    )
