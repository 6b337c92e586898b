"""Secrets the gateway API accepts: members' API keys and the organization's API tokens.

A member's API key (`kilo_sk_…`) identifies the member whose request a gateway forwards.
An organization's token authenticates the caller of the HTTP API: scope `gateway`
(`kilo_gw_…`: authorize and usage) or `read` (`kilo_rd_…`: the usage read API). Each secret
is shown once, when created; only its SHA-256 is stored, with its first characters so that
people recognise it. Every change is audited.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, update
from sqlmodel import Session, col, select

from kilo import audit
from kilo.errors import NotFound, PermissionDenied, ValidationError
from kilo.models import ApiKey, AuditEntry, GatewayToken, Member, utcnow
from kilo.permissions import SYSTEM, Actor, allowed, ensure_allowed
from kilo.validation import check_printable

KEY_PREFIX = "kilo_sk_"
TOKEN_PREFIXES = {"gateway": "kilo_gw_", "read": "kilo_rd_"}
SHOWN = 12  # characters of a secret kept to recognise it (its prefix and 4 more)
MAX_SECRET = 200
MAX_KEYS_PER_MEMBER = 20
MAX_EXPIRY = timedelta(days=366)
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def _clean_name(name: str) -> str:
    cleaned = " ".join((name or "").split())
    if not cleaned:
        raise ValidationError("Give the key a name (e.g. the laptop or CI job that uses it).")
    if len(cleaned) > 100:
        raise ValidationError("The name is too long (at most 100 characters).")
    return check_printable(cleaned, "The name")


# ---- members' API keys ------------------------------------------------------------------


def create_api_key(
    session: Session, *, actor: Actor, name: str, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """A new key for the signed-in member; returns the record and the secret (shown once)."""
    ensure_allowed(actor, "keys.own")
    if actor.role == SYSTEM or actor.id is None:
        raise PermissionDenied("API keys belong to members; sign in as the member.")
    name = _clean_name(name)
    now = utcnow()
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise ValidationError("The expiry needs a time zone.")
        if not now < expires_at <= now + MAX_EXPIRY:
            raise ValidationError("The expiry must be in the future and within a year.")
    live = session.exec(
        select(ApiKey.id).where(ApiKey.member_id == actor.id, col(ApiKey.revoked_at).is_(None))
    ).all()
    if len(live) >= MAX_KEYS_PER_MEMBER:
        raise ValidationError(
            f"You already have {MAX_KEYS_PER_MEMBER} active keys; revoke one you no longer use."
        )
    secret = _new_secret(KEY_PREFIX)
    key = ApiKey(
        org_id=actor.org_id,
        member_id=actor.id,
        name=name,
        prefix=secret[:SHOWN],
        token_hash=secret_hash(secret),
        created_at=now,
        expires_at=expires_at,
    )
    session.add(key)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="gateway.key.create",
        target=actor.email,
        message=f"API key “{name}” ({key.prefix}…) created"
        + (f", expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""),
        details={"key_id": key.id, "member_id": actor.id, "prefix": key.prefix},
    )
    return key, secret


@dataclass(frozen=True)
class KeyRow:
    id: int
    member_id: int
    member_name: str
    member_email: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= utcnow():
            return "expired"
        return "active"


def list_api_keys(
    session: Session, *, actor: Actor, everyone: bool = False, include_revoked: bool = False
) -> list[KeyRow]:
    """The actor's own keys; with `everyone`, every key of the organization (owners, admins)."""
    ensure_allowed(actor, "keys.manage" if everyone else "keys.own")
    query = (
        select(ApiKey, Member)
        .join(Member, col(Member.id) == ApiKey.member_id)
        .where(ApiKey.org_id == actor.org_id)
        .order_by(col(ApiKey.created_at).desc())
    )
    if not everyone:
        query = query.where(ApiKey.member_id == actor.id)
    if not include_revoked:
        query = query.where(col(ApiKey.revoked_at).is_(None))
    return [
        KeyRow(
            k.id,
            k.member_id,
            m.name,
            m.email,
            k.name,
            k.prefix,
            k.created_at,
            k.last_used_at,
            k.expires_at,
            k.revoked_at,
        )
        for k, m in session.exec(query).all()
    ]


def revoke_api_key(session: Session, *, actor: Actor, key_id: int) -> ApiKey:
    """Revoke a key: one's own, or any of the organization's for owners and admins."""
    key = session.get(ApiKey, key_id)
    if key is None or key.org_id != actor.org_id:
        raise NotFound("That API key does not exist.")
    ensure_allowed(actor, "keys.own" if key.member_id == actor.id else "keys.manage")
    if key.revoked_at is not None:
        return key
    key.revoked_at = utcnow()
    session.add(key)
    member = session.get(Member, key.member_id)
    audit.record(
        session,
        actor=actor,
        action="gateway.key.revoke",
        target=member.email if member else str(key.member_id),
        message=f"API key “{key.name}” ({key.prefix}…) of {member.name if member else '?'} revoked",
        details={"key_id": key.id, "member_id": key.member_id},
    )
    return key


def revoke_member_keys(session: Session, *, member_id: int) -> int:
    """Revoke every live key of a member (called when the member is removed)."""
    return (
        session.execute(
            update(ApiKey)
            .where(col(ApiKey.member_id) == member_id, col(ApiKey.revoked_at).is_(None))
            .values(revoked_at=utcnow())
        ).rowcount
        or 0
    )


# ---- the organization's API tokens ------------------------------------------------------


def create_token(
    session: Session, *, actor: Actor, name: str, scope: str
) -> tuple[GatewayToken, str]:
    """A new API token (`gateway` or `read` scope); returns the record and the secret."""
    ensure_allowed(actor, "gateway.tokens")
    if scope not in TOKEN_PREFIXES:
        raise ValidationError("The scope must be “gateway” or “read”.")
    name = _clean_name(name)
    secret = _new_secret(TOKEN_PREFIXES[scope])
    token = GatewayToken(
        org_id=actor.org_id,
        name=name,
        scope=scope,
        prefix=secret[:SHOWN],
        token_hash=secret_hash(secret),
        created_by_id=actor.id,
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="gateway.token.create",
        target=name,
        message=f"API token “{name}” ({scope}, {token.prefix}…) created",
        details={"token_id": token.id, "scope": scope, "prefix": token.prefix},
    )
    return token, secret


def list_tokens(session: Session, *, actor: Actor) -> list[GatewayToken]:
    ensure_allowed(actor, "gateway.tokens")
    return list(
        session.exec(
            select(GatewayToken)
            .where(GatewayToken.org_id == actor.org_id, col(GatewayToken.revoked_at).is_(None))
            .order_by(col(GatewayToken.created_at).desc())
        ).all()
    )


def revoke_token(session: Session, *, actor: Actor, token_id: int) -> GatewayToken:
    ensure_allowed(actor, "gateway.tokens")
    token = session.get(GatewayToken, token_id)
    if token is None or token.org_id != actor.org_id:
        raise NotFound("That API token does not exist.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.add(token)
        audit.record(
            session,
            actor=actor,
            action="gateway.token.revoke",
            target=token.name,
            message=f"API token “{token.name}” ({token.scope}, {token.prefix}…) revoked",
            details={"token_id": token.id, "scope": token.scope},
        )
    return token


@dataclass(frozen=True)
class TokenCaller:
    """Who called the HTTP API: the live token behind the secret (not the ORM row)."""

    id: int
    org_id: int
    name: str
    scope: str
    last_used_at: datetime | None
    policy_version: int = 0  # the organization's policy version when the token was read


# Built once: building and keying the statement costs more than running it.
_TOKEN_BY_HASH = select(
    GatewayToken.id,
    GatewayToken.org_id,
    GatewayToken.name,
    GatewayToken.scope,
    GatewayToken.last_used_at,
    GatewayToken.revoked_at,
    audit.latest_entry(AuditEntry.id, GatewayToken.org_id),
).where(GatewayToken.token_hash == bindparam("token_hash"))


def authenticate_token(session: Session, secret: str | None, *, scope: str) -> TokenCaller | None:
    """The live token of `scope` behind `secret` (its org_id says whose), or None."""
    if not secret or len(secret) > MAX_SECRET or not secret.startswith(TOKEN_PREFIXES[scope]):
        return None
    row = session.connection().execute(_TOKEN_BY_HASH, {"token_hash": secret_hash(secret)}).first()
    if row is None or row.revoked_at is not None or row.scope != scope:
        return None
    return TokenCaller(row.id, row.org_id, row.name, row.scope, row.last_used_at, int(row[6] or 0))


# ---- tokens kept between a gateway's requests ------------------------------------------
# The authorize endpoint reads the caller's token once and keeps it with the policy version
# read in the same statement. Creating or revoking a token writes an audit entry in its
# transaction, so the version every decision reads tells whether the kept token may have
# changed: when it differs, the caller forgets it and reads the token again before
# answering (a revoked token is refused on the very next request).
MAX_KEPT_TOKENS = 1_000
_kept: dict[tuple[str, str], TokenCaller] = {}


def _kept_key(session: Session, secret: str) -> tuple[str, str]:
    return str(session.get_bind().url), secret_hash(secret)


def kept_token(session: Session, secret: str | None, *, scope: str) -> TokenCaller | None:
    """The token behind `secret` as an earlier request of this process read it (see above),
    or None. Valid only while the organization's policy version is its `policy_version`."""
    if not secret or len(secret) > MAX_SECRET:
        return None
    token = _kept.get(_kept_key(session, secret))
    return token if token is not None and token.scope == scope else None


def keep_token(session: Session, secret: str, token: TokenCaller) -> None:
    if len(_kept) >= MAX_KEPT_TOKENS:
        _kept.clear()
    _kept[_kept_key(session, secret)] = token


def forget_token(session: Session, secret: str) -> None:
    _kept.pop(_kept_key(session, secret), None)


def needs_touch(last_used_at: datetime | None) -> bool:
    """Whether a key or token's last use is worth writing (at most every TOUCH_EVERY)."""
    return last_used_at is None or utcnow() - last_used_at >= TOUCH_EVERY


def mark_used(session: Session, *, key_id: int | None = None, token_id: int | None = None) -> None:
    """Record a key's or token's use now (a short write, apart from the read-only checks)."""
    now = utcnow()
    if key_id is not None:
        session.execute(update(ApiKey).where(col(ApiKey.id) == key_id).values(last_used_at=now))
    if token_id is not None:
        session.execute(
            update(GatewayToken).where(col(GatewayToken.id) == token_id).values(last_used_at=now)
        )


def can_see_all_keys(actor: Actor) -> bool:
    return allowed(actor, "keys.manage")
