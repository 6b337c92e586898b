"""Dashboard sign-in sessions, kept on the server so that they can be ended.

A password sign-in creates an `AuthSession` with a random token; the browser keeps the
token in a signed cookie and the database keeps only its SHA-256. Every script run looks
the token up (`resolve`) together with the member, so a revoked or expired session, a
removed member or a changed role takes effect on the next run. Sign-out ends the session;
removing a member, changing their role or password, or "Sign out everywhere" ends all of
theirs.

Password guessing is throttled per username (and per client address when known): after
`MAX_FAILURES` failures within `WINDOW`, further attempts are refused without checking the
password for a delay that doubles with every further failure, up to `MAX_DELAY`. Unknown
usernames are throttled alike and cost the same bcrypt time, so neither reveals which
usernames exist. Failed sign-ins of existing accounts are audited (never the password).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from kilo import audit
from kilo.models import AuthSession, Member, SignInAttempt, utcnow
from kilo.passwords import token_hash, verify
from kilo.permissions import Actor, system_actor

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
BASE_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(minutes=15)
CLIENT_MAX_FAILURES = 20  # from one address, across usernames
TOUCH_EVERY = timedelta(minutes=5)  # last_seen_at is written at most this often
MAX_USERNAME = 254
MAX_PASSWORD = 1024  # longer input is refused before any hashing


@dataclass(frozen=True)
class SignInResult:
    ok: bool
    message: str = ""
    token: str | None = None
    actor: Actor | None = None
    expires_at: datetime | None = None


def _actor(member: Member) -> Actor:
    return Actor(member.id, member.org_id, member.role, member.name, member.email)


def _username_key(username: str) -> str:
    return (username or "").strip().lower()[:MAX_USERNAME]


def _locked_for(session: Session, *, column, value: str, limit: int, now: datetime) -> timedelta:  # noqa: ANN001
    """How long attempts for `value` are refused (zero when not throttled)."""
    if not value:
        return timedelta(0)
    last_ok = session.exec(
        select(func.max(SignInAttempt.at)).where(column == value, SignInAttempt.succeeded)
    ).one()
    since = max(now - WINDOW, last_ok) if last_ok else now - WINDOW
    failures, last_failure = session.exec(
        select(func.count(), func.max(SignInAttempt.at)).where(
            column == value, col(SignInAttempt.at) > since, ~col(SignInAttempt.succeeded)
        )
    ).one()
    if failures < limit or last_failure is None:
        return timedelta(0)
    delay = min(BASE_DELAY * (2 ** (failures - limit)), MAX_DELAY)
    return max(timedelta(0), last_failure + delay - now)


def _wait_text(left: timedelta) -> str:
    seconds = max(1, int(left.total_seconds() + 0.999))
    return f"{seconds} seconds" if seconds < 120 else f"{(seconds + 59) // 60} minutes"


def sign_in(
    session: Session, *, username: str, password: str, client: str = "", days: float = 1
) -> SignInResult:
    """Check a username and password; on success start a session of `days`.

    Never raises for wrong input: the result says what to show, and the attempt (and, for
    an existing account, the audit entry of a failure) is committed with the transaction.
    """
    now = utcnow()
    key = _username_key(username)
    client = (client or "")[:64]
    if not key or not password:
        return SignInResult(False, "Enter your username and password.")
    wait = max(
        _locked_for(session, column=SignInAttempt.username, value=key, limit=MAX_FAILURES, now=now),
        _locked_for(
            session, column=SignInAttempt.client, value=client, limit=CLIENT_MAX_FAILURES, now=now
        ),
    )
    member = session.exec(
        select(Member).where(func.lower(Member.username) == key, col(Member.removed_at).is_(None))
    ).first()
    if wait > timedelta(0):
        session.add(SignInAttempt(username=key, client=client, at=now, succeeded=False))
        if member is not None:
            _audit_failure(session, member, client, "throttled")
        return SignInResult(
            False,
            f"Too many failed sign-ins for this account. Try again in {_wait_text(wait)}.",
        )
    ok = len(password) <= MAX_PASSWORD and verify(
        password, member.password_hash if member else None
    )
    session.add(SignInAttempt(username=key, client=client, at=now, succeeded=ok))
    if not ok:
        if member is not None:
            _audit_failure(session, member, client, "wrong password")
        _prune(session, now)
        return SignInResult(False, "Username or password is incorrect.")
    token, expires = start(session, member_id=member.id, days=days, client=client, now=now)
    member.last_active_at = now  # "Last sign-in": real password sign-ins only
    session.add(member)
    actor = _actor(member)
    audit.record(
        session,
        actor=actor,
        action="organization.user.login",
        target=member.email,
        message=f"{member.name} signed in" + (f" from {client}" if client else ""),
        details={"client": client} if client else None,
    )
    return SignInResult(True, token=token, actor=actor, expires_at=expires)


def start(
    session: Session,
    *,
    member_id: int,
    days: float = 1,
    client: str = "",
    now: datetime | None = None,
) -> tuple[str, datetime]:
    """A new session for a member whose identity was checked; returns (token, expiry)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(days=days)
    session.add(
        AuthSession(
            member_id=member_id,
            token_hash=token_hash(token),
            created_at=now,
            last_seen_at=now,
            expires_at=expires,
            client=client[:64],
        )
    )
    return token, expires


def _audit_failure(session: Session, member: Member, client: str, reason: str) -> None:
    audit.record(
        session,
        actor=system_actor(member.org_id, "Sign-in form"),
        action="organization.user.login_failed",
        target=member.email,
        message=f"Failed sign-in as {member.username} ({reason})"
        + (f" from {client}" if client else ""),
        details={"member_id": member.id, "reason": reason, "client": client},
    )


def _prune(session: Session, now: datetime) -> None:
    """Attempts older than a day serve no throttle; drop them now and then."""
    if secrets.randbelow(50) == 0:
        session.execute(
            delete(SignInAttempt).where(col(SignInAttempt.at) < now - timedelta(days=1))
        )


def resolve(session: Session, token: str | None) -> tuple[Actor, AuthSession] | None:
    """The member behind a live session token, read fresh (role, removed), or None."""
    if not token or len(token) > 200:
        return None
    now = utcnow()
    row = session.exec(
        select(AuthSession, Member)
        .join(Member, col(Member.id) == AuthSession.member_id)
        .where(AuthSession.token_hash == token_hash(token))
    ).first()
    if row is None:
        return None
    auth, member = row
    if auth.revoked_at is not None or auth.expires_at <= now or member.removed_at is not None:
        return None
    return _actor(member), auth


def touch(session: Session, auth: AuthSession) -> None:
    """Record that the session was used (at most every TOUCH_EVERY, to spare writes)."""
    now = utcnow()
    if now - auth.last_seen_at >= TOUCH_EVERY:
        session.exec(
            update(AuthSession).where(col(AuthSession.id) == auth.id).values(last_seen_at=now)
        )


def sign_out(session: Session, *, token: str) -> Actor | None:
    """End this session (audited). Returns its member, or None if it was not live."""
    found = resolve(session, token)
    if found is None:
        return None
    actor, auth = found
    auth.revoked_at = utcnow()
    session.add(auth)
    audit.record(
        session,
        actor=actor,
        action="organization.user.logout",
        target=actor.email,
        message=f"{actor.name} signed out",
    )
    return actor


def end_all(session: Session, *, member_id: int, except_token: str | None = None) -> int:
    """End every live session of a member (optionally but one); returns how many."""
    stmt = (
        update(AuthSession)
        .where(
            col(AuthSession.member_id) == member_id,
            col(AuthSession.revoked_at).is_(None),
            col(AuthSession.expires_at) > utcnow(),
        )
        .values(revoked_at=utcnow())
    )
    if except_token:
        stmt = stmt.where(col(AuthSession.token_hash) != token_hash(except_token))
    return session.execute(stmt).rowcount or 0


def list_sessions(session: Session, *, actor: Actor) -> list[AuthSession]:
    """The actor's own live sessions, newest first."""
    return list(
        session.exec(
            select(AuthSession)
            .where(
                AuthSession.member_id == actor.id,
                col(AuthSession.revoked_at).is_(None),
                col(AuthSession.expires_at) > utcnow(),
            )
            .order_by(col(AuthSession.created_at).desc())
        ).all()
    )


def is_current(auth: AuthSession, token: str | None) -> bool:
    return bool(token) and auth.token_hash == token_hash(token)
