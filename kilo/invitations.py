"""Invitations: single-use, expiring token links (only a hash is stored) that make the
invitee a member; invite, list, revoke, resend, e-mail and accept."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlmodel import Session, col, select, update

from kilo import audit, mail, passwords
from kilo.db import lock_organization
from kilo.errors import Conflict, NotFound, ValidationError
from kilo.members import (
    actor_for,
    check_role,
    clean_name,
    hash_token,
    normalise_email,
    seats_in_use,
)
from kilo.models import Invitation, Member, Organization, utcnow
from kilo.permissions import Actor, ensure_allowed

INVITATION_TTL = timedelta(days=7)


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
