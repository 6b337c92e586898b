"""The one decision the gateway asks for before each request: may this member's key call
this model (through this provider) now?

`decide` checks, in order: the key (unknown, revoked or expired, its member removed), the
organization's model access (the allow-list and the code-training opt-out, through
`kilo.access.is_model_allowed`, the same check the Model Access tab shows), the member's
daily spend limit (today's spend, UTC day, from the day x member rollup) and the credit
balance (the ledger minus recorded usage, as on the Invoices tab). The HTTP endpoint and the
LiteLLM plugin both call it; nothing else repeats these rules.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import Session, select

from kilo import access, billing
from kilo.apikeys import KEY_PREFIX, MAX_SECRET, needs_touch, secret_hash
from kilo.models import ApiKey, Member, Organization, UsageDailyMember, utcnow

# Refusal codes and the HTTP status a gateway answers the developer with.
STATUS = {
    "invalid_key": 401,
    "key_revoked": 401,
    "member_removed": 401,
    "model_not_allowed": 403,
    "provider_not_allowed": 403,
    "provider_trains_on_data": 403,
    "daily_limit_reached": 429,
    "insufficient_credits": 402,
}
_ID = re.compile(r"^[A-Za-z0-9._:/@+-]{1,200}$")
_MODE = re.compile(r"^[a-z0-9-]{1,50}$")


@dataclass(frozen=True)
class Decision:
    allowed: bool
    code: str = ""  # one of STATUS's keys when refused
    message: str = ""
    member_id: int | None = None
    member_email: str | None = None
    org_id: int | None = None
    daily_limit_micros: int | None = None
    spent_today_micros: int | None = None
    balance_micros: int | None = None
    key_id: int | None = None
    touch: bool = False  # the caller should record the key's use (apikeys.mark_used)

    @property
    def remaining_today_micros(self) -> int | None:
        if self.daily_limit_micros is None or self.spent_today_micros is None:
            return None
        return max(0, self.daily_limit_micros - self.spent_today_micros)

    @property
    def status(self) -> int:
        return 200 if self.allowed else STATUS[self.code]


def _refuse(code: str, message: str, **kw: object) -> Decision:
    return Decision(False, code, message, **kw)


def spent_today_micros(session: Session, *, org_id: int, member_id: int) -> int:
    """The member's recorded usage cost of the current UTC day (day x member rollup)."""
    t = UsageDailyMember
    return int(
        session.execute(
            select(func.coalesce(func.sum(t.cost_micros), 0)).where(
                t.org_id == org_id, t.member_id == member_id, t.day == utcnow().date()
            )
        ).scalar()
    )


def spent_today_by_member(
    session: Session,
    *,
    org_id: int,
    day: date | None = None,
    member_ids: Collection[int] | None = None,
) -> dict[int, int]:
    """Every member's recorded usage cost of a UTC day (today by default), in one query
    over the day x member rollup (one range of its key): the batched `spent_today_micros`.
    Members without usage that day are absent; `member_ids` narrows it."""
    t = UsageDailyMember
    stmt = select(t.member_id, func.sum(t.cost_micros)).where(
        t.org_id == org_id, t.day == (day or utcnow().date())
    )
    if member_ids is not None:
        stmt = stmt.where(t.member_id.in_(list(member_ids)))
    rows = session.execute(stmt.group_by(t.member_id)).all()
    return {int(member_id): int(cost or 0) for member_id, cost in rows}


def check_request_fields(model: object, provider: object, mode: object) -> str | None:
    """What is wrong with a request's model / provider / mode, or None."""
    if not isinstance(model, str) or not _ID.match(model):
        return "model must be a model id such as anthropic/claude-sonnet-4.5"
    if provider is not None and (not isinstance(provider, str) or not _ID.match(provider)):
        return "provider must be a provider slug such as anthropic"
    if mode is not None and (not isinstance(mode, str) or not _MODE.match(mode)):
        return "mode must be a mode slug: lowercase letters, digits and -"
    return None


def decide(
    session: Session,
    *,
    org_id: int,
    api_key: str,
    model: str,
    provider: str | None = None,
    mode: str | None = None,
) -> Decision:
    """Allow (with today's allowance and the balance) or refuse (with a code and a message a
    developer can act on) one request of the member holding `api_key` in `org_id`."""
    if not api_key or len(api_key) > MAX_SECRET or not api_key.startswith(KEY_PREFIX):
        return _refuse("invalid_key", "This API key is not valid. Create one on your Account page.")
    row = session.exec(
        select(ApiKey, Member, Organization)
        .join(Member, Member.id == ApiKey.member_id)
        .join(Organization, Organization.id == ApiKey.org_id)
        .where(ApiKey.token_hash == secret_hash(api_key))
    ).first()
    if row is None or row[0].org_id != org_id:  # another organization's key is unknown here
        return _refuse("invalid_key", "This API key is not valid. Create one on your Account page.")
    key, member, org = row
    who = {"member_id": member.id, "member_email": member.email, "org_id": org.id}
    if member.removed_at is not None:
        return _refuse(
            "member_removed",
            f"{member.email} is no longer a member of {org.name}; this key no longer works.",
            **who,
        )
    if key.revoked_at is not None:
        return _refuse(
            "key_revoked",
            f"The API key “{key.name}” ({key.prefix}…) was revoked. Create a new one on your "
            "Account page.",
            **who,
        )
    now = utcnow()
    if key.expires_at is not None and key.expires_at <= now:
        return _refuse(
            "key_revoked",
            f"The API key “{key.name}” ({key.prefix}…) expired on "
            f"{key.expires_at:%Y-%m-%d %H:%M} UTC. Create a new one on your Account page.",
            **who,
        )
    verdict = access.is_model_allowed(session, org.id, model, provider)
    if not verdict:
        subject = f"Model {model}" + (f" through {provider}" if provider else "")
        return _refuse(
            verdict.code,
            f"{subject} is not allowed for {org.name}: {verdict.reason}. Ask an admin to "
            "enable it in Model Access.",
            **who,
        )
    limit = member.daily_spend_limit_micros
    spent = spent_today_micros(session, org_id=org.id, member_id=member.id)
    balance = billing.balance_micros(session, org_id=org.id)
    allowance = {
        "daily_limit_micros": limit,
        "spent_today_micros": spent,
        "balance_micros": balance,
    }
    if limit is not None and spent >= limit:
        return _refuse(
            "daily_limit_reached",
            f"You reached your daily spend limit of ${Decimal(limit) / 1_000_000:,.2f} (UTC day). It "
            "resets at 00:00 UTC; an admin can raise it on the Organization tab.",
            **who,
            **allowance,
        )
    if balance <= 0:
        return _refuse(
            "insufficient_credits",
            f"{org.name} has no credits left. Ask an owner to buy credits on the Invoices tab.",
            **who,
            **allowance,
        )
    return Decision(True, **who, **allowance, key_id=key.id, touch=needs_touch(key.last_used_at))
