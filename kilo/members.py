"""Members, roles, profiles and invitations (single-use token links; only a hash is stored)."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from datetime import timedelta

from sqlmodel import Session, col, func, select, update

from kilo import apikeys, audit, mail, passwords, sessions
from kilo.db import lock_organization
from kilo.errors import Conflict, KiloError, NotFound, ValidationError
from kilo.models import Invitation, Member, Organization, utcnow
from kilo.permissions import ROLES, Actor, ensure_allowed
from kilo.validation import check_printable

INVITATION_TTL = timedelta(days=7)
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


def list_invitations(session: Session, *, actor: Actor) -> list[Invitation]:
    """Pending invitations (not accepted, revoked or expired), newest first."""
    ensure_allowed(actor, "members.manage")
    return list(
        session.exec(
            select(Invitation)
            .where(
                Invitation.org_id == actor.org_id,
                col(Invitation.accepted_at).is_(None),
                col(Invitation.revoked_at).is_(None),
                Invitation.expires_at > utcnow(),
            )
            .order_by(col(Invitation.created_at).desc())
        ).all()
    )


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


# ---- invitations --------------------------------------------------------------------


def invite_member(
    session: Session, *, actor: Actor, email: str, role: str = "member"
) -> tuple[Invitation, str]:
    """Create a single-use, expiring invitation. Returns it and the raw token (shown once)."""
    ensure_allowed(actor, "members.manage")
    email = normalise_email(email)
    check_role(role)
    if role == "owner" and actor.role != "owner" and not actor.is_system:
        raise ValidationError("Only an owner can invite another owner.")
    lock_organization(session, actor.org_id)  # before counting seats and pending invitations
    existing = session.exec(
        select(Member).where(Member.org_id == actor.org_id, Member.email == email)
    ).first()
    if existing is not None and existing.removed_at is None:
        raise Conflict(f"{email} is already a member of this organization.")
    pending = [i for i in list_invitations(session, actor=actor) if i.email == email]
    if pending:
        raise Conflict(f"{email} already has a pending invitation; revoke it to send a new one.")
    org = session.get(Organization, actor.org_id)
    if seats_in_use(session, org_id=actor.org_id) >= org.seats:
        raise Conflict(
            f"All {org.seats} seats are taken (members and pending invitations); "
            "add seats or revoke an invitation first."
        )
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        org_id=actor.org_id,
        email=email,
        role=role,
        token_hash=hash_token(token),
        invited_by_id=actor.id,
        expires_at=utcnow() + INVITATION_TTL,
    )
    session.add(invitation)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="organization.member.invite",
        target=email,
        message=f"Invited {email} as {role} (expires {invitation.expires_at:%Y-%m-%d %H:%M} UTC)",
        details={"invitation_id": invitation.id, "email": email, "role": role},
    )
    return invitation, token


def revoke_invitation(session: Session, *, actor: Actor, invitation_id: int) -> None:
    ensure_allowed(actor, "members.manage")
    lock_organization(session, actor.org_id)  # an invitation is revoked or accepted, not both
    inv = session.get(Invitation, invitation_id)
    if inv is None or inv.org_id != actor.org_id:
        raise NotFound("That invitation does not exist.")
    if inv.accepted_at is not None or inv.revoked_at is not None:
        raise Conflict(f"The invitation for {inv.email} was already used or revoked.")
    inv.revoked_at = utcnow()
    session.add(inv)
    audit.record(
        session,
        actor=actor,
        action="organization.member.revoke_invitation",
        target=inv.email,
        message=f"Revoked the invitation for {inv.email}",
        details={"invitation_id": inv.id, "email": inv.email, "role": inv.role},
    )


def resend_invitation(
    session: Session, *, actor: Actor, invitation_id: int
) -> tuple[Invitation, str]:
    """Replace a pending invitation's link: the old one is revoked, a new single-use token
    with a fresh expiry is issued (only hashes are stored, so a link is never shown twice).
    Used by both "Resend" (then `email_invitation`) and "Copy link again". Keeps the seat."""
    ensure_allowed(actor, "members.manage")
    old = session.get(Invitation, invitation_id)
    if old is None or old.org_id != actor.org_id:
        raise NotFound("That invitation does not exist.")
    if old.role == "owner" and actor.role != "owner" and not actor.is_system:
        raise ValidationError("Only an owner can resend an invitation for an owner.")
    if old.expires_at <= utcnow() and old.accepted_at is None and old.revoked_at is None:
        raise Conflict(f"The invitation for {old.email} has expired; invite them again.")
    now = utcnow()
    # Conditional update: of two admins resending at once (or an accept racing a resend),
    # exactly one wins; the other finds the invitation no longer pending.
    revoked = session.exec(
        update(Invitation)
        .where(
            col(Invitation.id) == old.id,
            col(Invitation.accepted_at).is_(None),
            col(Invitation.revoked_at).is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if revoked != 1:
        raise Conflict(
            f"The invitation for {old.email} was already used or revoked; refresh the page."
        )
    session.refresh(old)
    token = secrets.token_urlsafe(32)
    new = Invitation(
        org_id=actor.org_id,
        email=old.email,
        role=old.role,
        token_hash=hash_token(token),
        invited_by_id=actor.id,
        expires_at=now + INVITATION_TTL,
    )
    session.add(new)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="organization.member.resend_invitation",
        target=new.email,
        message=f"New invitation link for {new.email} as {new.role} (the previous link was "
        f"revoked; expires {new.expires_at:%Y-%m-%d %H:%M} UTC)",
        details={
            "invitation_id": new.id,
            "previous_invitation_id": old.id,
            "email": new.email,
            "role": new.role,
        },
    )
    return new, token


def invitation_url(base_url: str, token: str) -> str:
    """The accept page's link for a token, under the dashboard's public URL."""
    base = (base_url or "").strip().rstrip("/")
    if not base.startswith(("http://", "https://")) or any(ch.isspace() for ch in base):
        raise ValidationError(
            f"“{base_url}” is not the dashboard's address (like https://kilo.example.com); "
            "check KILO_PUBLIC_URL."
        )
    return f"{base}/accept_invite?token={token}"


def email_invitation(
    session: Session, *, actor: Actor, invitation_id: int, token: str, base_url: str
) -> None:
    """E-mail a pending invitation's link (org, inviter, role, expiry) to the invitee.

    Call it after the transaction that created the token has committed: sending takes up to
    15 s and must not hold the database's write lock, and a failed e-mail must not undo the
    invitation (the admin still has the link to copy). Raises `MailNotConfigured`,
    `MailError`, or a KiloError when the token is not this invitation's pending one.
    """
    ensure_allowed(actor, "members.manage")
    inv = session.get(Invitation, invitation_id)
    if inv is None or inv.org_id != actor.org_id or inv.token_hash != hash_token(token or ""):
        raise NotFound("That invitation link does not exist.")
    find_invitation(session, token=token)  # still pending: not used, revoked or expired
    org = session.get(Organization, inv.org_id)
    inviter = session.get(Member, inv.invited_by_id) if inv.invited_by_id else None
    message = mail.invitation_message(
        org_name=org.name,
        inviter=inviter.name if inviter else None,
        role=inv.role,
        link=invitation_url(base_url, token),
        expires_at=inv.expires_at,
    )
    mail.send_mail(inv.email, message.subject, message.text, message.html)


def find_invitation(session: Session, *, token: str) -> Invitation:
    """The invitation behind a token, if it can still be accepted; else a clear error."""
    inv = session.exec(
        select(Invitation).where(Invitation.token_hash == hash_token(token or ""))
    ).first()
    if inv is None:
        raise NotFound("This invitation link is not valid. Ask an admin for a new one.")
    return _check_usable(inv)


def _check_usable(inv: Invitation) -> Invitation:
    if inv.accepted_at is not None:
        raise Conflict("This invitation was already used. Sign in with your account instead.")
    if inv.revoked_at is not None:
        raise Conflict("This invitation was revoked. Ask an admin for a new one.")
    if inv.expires_at <= utcnow():
        raise Conflict("This invitation has expired. Ask an admin for a new one.")
    return inv


def accept_invitation(session: Session, *, token: str, name: str, password: str) -> Member:
    """The invitee sets a name and password and becomes a member; the link is spent."""
    inv = find_invitation(session, token=token)
    name = clean_name(name)
    # slow (bcrypt): before taking the lock
    password_hash = passwords.hash_password(passwords.check_new_password(password, email=inv.email))
    # Read again under the lock: the link may have been used or revoked meanwhile.
    lock_organization(session, inv.org_id)
    session.refresh(inv)
    _check_usable(inv)
    member = session.exec(
        select(Member).where(Member.org_id == inv.org_id, Member.email == inv.email)
    ).first()
    if member is not None and member.removed_at is None:
        raise Conflict(f"{inv.email} is already a member. Sign in instead.")
    now = utcnow()
    if member is None:
        clash = session.exec(select(Member).where(Member.username == inv.email)).first()
        if clash is not None:
            raise Conflict(f"The username {inv.email} is taken in another organization.")
        member = Member(
            org_id=inv.org_id,
            username=inv.email,
            email=inv.email,
            name=name,
            role=inv.role,
            password_hash=password_hash,
            joined_at=now,
        )
    else:  # a removed member coming back: same row keeps their usage history
        member.name, member.role, member.password_hash = name, inv.role, password_hash
        member.removed_at, member.joined_at = None, now
    session.add(member)
    session.flush()
    inv.accepted_at, inv.accepted_member_id = now, member.id
    session.add(inv)
    audit.record(
        session,
        actor=actor_for(member),
        action="organization.member.accept_invitation",
        target=member.email,
        message=f"{name} <{member.email}> accepted the invitation and joined as {member.role}",
        details={"invitation_id": inv.id, "member_id": member.id, "role": member.role},
    )
    return member


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
