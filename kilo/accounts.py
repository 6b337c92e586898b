"""A member's own account: password change, reset links, signing out everywhere.

Reset links are single-use and expire after 24 hours; only a hash of the token is stored,
and issuing a new link revokes the member's earlier unused ones. Changing or resetting a
password ends the member's other sessions (a reset ends all of them).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlmodel import Session, col, select

from kilo import audit, mail, members, sessions
from kilo.errors import Conflict, NotFound, PermissionDenied, ValidationError
from kilo.models import Member, Organization, PasswordReset, utcnow
from kilo.passwords import check_new_password, hash_password, token_hash, verify
from kilo.permissions import SYSTEM, Actor, ensure_allowed

RESET_TTL = timedelta(hours=24)


def create_reset_link(
    session: Session, *, actor: Actor, member_id: int
) -> tuple[PasswordReset, str]:
    """A single-use link (24 h) for `member_id` to choose a new password; earlier unused
    links of that member stop working. Returns the record and the token (shown once)."""
    ensure_allowed(actor, "members.manage")
    member = members.get_member(session, actor=actor, member_id=member_id)
    allowed, reason = members.can_manage(actor, member)
    if not allowed:
        raise ValidationError(reason)
    if member.id == actor.id:
        raise ValidationError(
            "Change your own password on your Account page (it asks for the current one)."
        )
    now = utcnow()
    for old in session.exec(
        select(PasswordReset).where(
            PasswordReset.member_id == member.id,
            col(PasswordReset.used_at).is_(None),
            col(PasswordReset.revoked_at).is_(None),
        )
    ).all():
        old.revoked_at = now
        session.add(old)
    token = secrets.token_urlsafe(32)
    reset = PasswordReset(
        member_id=member.id,
        token_hash=token_hash(token),
        created_by_id=actor.id,
        created_at=now,
        expires_at=now + RESET_TTL,
    )
    session.add(reset)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="organization.member.password_reset_link",
        target=member.email,
        message=f"Password reset link for {member.name} <{member.email}> (valid 24 hours)",
        details={"member_id": member.id, "reset_id": reset.id},
    )
    return reset, token


def reset_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/reset_password?token={token}"


def email_reset_link(session: Session, *, actor: Actor, token: str, base_url: str) -> str:
    """E-mail a live reset link to its member; returns the address. Call it after the link's
    transaction committed (sending may take seconds and must not hold the write lock).
    Raises MailNotConfigured / MailError, or a KiloError when the link is not live."""
    ensure_allowed(actor, "members.manage")
    reset, member = find_reset(session, token=token)
    if member.org_id != actor.org_id:
        raise NotFound("That reset link does not exist.")
    org = session.get(Organization, member.org_id)
    message = mail.reset_message(
        org_name=org.name,
        issuer=actor.name,
        link=reset_url(base_url, token),
        expires_at=reset.expires_at,
    )
    mail.send_mail(member.email, message.subject, message.text, message.html)
    return member.email


def find_reset(session: Session, *, token: str) -> tuple[PasswordReset, Member]:
    if not token or len(token) > 200:
        raise NotFound("This password reset link is not valid. Ask an admin for a new one.")
    reset = session.exec(
        select(PasswordReset).where(PasswordReset.token_hash == token_hash(token))
    ).first()
    if reset is None:
        raise NotFound("This password reset link is not valid. Ask an admin for a new one.")
    if reset.used_at is not None:
        raise Conflict("This password reset link was already used. Ask an admin for a new one.")
    if reset.revoked_at is not None:
        raise Conflict("This password reset link was replaced by a newer one; use the newest.")
    if reset.expires_at <= utcnow():
        raise Conflict("This password reset link has expired. Ask an admin for a new one.")
    member = session.get(Member, reset.member_id)
    if member is None or member.removed_at is not None:
        raise NotFound("This account no longer exists.")
    return reset, member


def reset_password(session: Session, *, token: str, new_password: str) -> Member:
    """Spend the link: set the new password and end every session of the member."""
    reset, member = find_reset(session, token=token)
    check_new_password(new_password, email=member.email)
    member.password_hash = hash_password(new_password)
    reset.used_at = utcnow()
    session.add_all([member, reset])
    ended = sessions.end_all(session, member_id=member.id)
    audit.record(
        session,
        actor=Actor(member.id, member.org_id, member.role, member.name, member.email),
        action="organization.user.password_reset",
        target=member.email,
        message=f"{member.name} set a new password through a reset link ({ended} sessions ended)",
        details={"member_id": member.id, "reset_id": reset.id, "sessions_ended": ended},
    )
    return member


def change_password(
    session: Session, *, actor: Actor, current: str, new: str, keep_token: str | None = None
) -> int:
    """The signed-in member changes their own password; their other sessions end.

    Returns how many sessions were ended. The current password is required.
    """
    if actor.role == SYSTEM or actor.id is None:
        raise PermissionDenied("Only a signed-in member can change their password.")
    member = session.get(Member, actor.id)
    if member is None or member.removed_at is not None:
        raise NotFound("Your account no longer exists.")
    if not verify(current, member.password_hash):
        raise ValidationError("The current password is not correct; nothing was changed.")
    check_new_password(new, email=member.email)
    if verify(new, member.password_hash):
        raise ValidationError("The new password is the same as the current one.")
    member.password_hash = hash_password(new)
    session.add(member)
    ended = sessions.end_all(session, member_id=member.id, except_token=keep_token)
    audit.record(
        session,
        actor=actor,
        action="organization.user.change_password",
        target=member.email,
        message=f"{member.name} changed their password ({ended} other sessions ended)",
        details={"member_id": member.id, "sessions_ended": ended},
    )
    return ended


def sign_out_everywhere(session: Session, *, actor: Actor) -> int:
    """The signed-in member ends all of their sessions, this one included (audited)."""
    if actor.role == SYSTEM or actor.id is None:
        raise PermissionDenied("Only a signed-in member can sign out everywhere.")
    ended = sessions.end_all(session, member_id=actor.id)
    audit.record(
        session,
        actor=actor,
        action="organization.user.sign_out_all",
        target=actor.email,
        message=f"{actor.name} signed out everywhere ({ended} sessions ended)",
        details={"sessions_ended": ended},
    )
    return ended
