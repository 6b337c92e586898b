"""The one decision the gateway asks for before each request: may this member's key call
this model (through this provider) now?

`decide` checks, in order: the key (unknown, revoked or expired, its member removed), the
organization's model access (the allow-list and the code-training opt-out, through
`kilo.access.is_model_allowed`, the same check the Model Access tab shows), the member's
daily spend limit (today's spend, UTC day, from the day x member rollup), the hard monthly
budgets of the member, their team and the organization (`kilo.budgets`) and the credit
balance (the ledger minus recorded usage, as on the Invoices tab). The HTTP endpoint and the
LiteLLM plugin both call it; nothing else repeats these rules.

**Policy version.** `policy_version(session, org_id)` is the id of the organization's latest
audit entry. Every change that can alter a decision other than by spending (model access
rules, the code-training opt-out, members' daily limits, a key created or revoked, a member
removed or their role changed, a catalogue import) writes its audit entry in the same
transaction, so the number grows with each policy change and is stable otherwise: a gateway
that caches decisions polls it (`GET /api/v1/gateway/policy`) and drops its cache when it
changes. Spending (today's spend, the balance) does not change it; those are read live.

**Speed.** A decision is one statement (key, member, organization, policy version, today's
spend and the balance) plus the model-access verdict, which this process keeps per
organization, (model, provider), for as long as the organization's latest audit entry (its
id and hash) stays the same: a change in Model Access is refused on the very next request.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Date, Integer, String, bindparam, func
from sqlmodel import Session, col, select

from kilo import access, audit, billing, budgets
from kilo.apikeys import KEY_PREFIX, MAX_SECRET, needs_touch, secret_hash
from kilo.models import ApiKey, AuditEntry, Member, Organization, UsageDailyMember, utcnow

# Refusal codes and the HTTP status a gateway answers the developer with.
STATUS = {
    "invalid_key": 401,
    "key_revoked": 401,
    "member_removed": 401,
    "model_not_allowed": 403,
    "provider_not_allowed": 403,
    "provider_trains_on_data": 403,
    "daily_limit_reached": 429,
    # A hard monthly budget (organization, team or member) is spent: like missing credits,
    # a money limit that a person must lift, not a rate to wait out.
    "budget_exhausted": 402,
    "insufficient_credits": 402,
}
_ID = re.compile(r"^[A-Za-z0-9._:/@+-]{1,200}$")
_MODE = re.compile(r"^[a-z0-9-]{1,50}$")
_INVALID_KEY = "This API key is not valid. Create one on your Account page."


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
    policy_version: int = 0  # the organization's `policy_version` the decision was made under

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


# Statements built once (bound parameters :org_id, :today, :key_hash): building and keying
# a statement costs more than running it on an indexed table.
_ORG, _TODAY = bindparam("org_id", type_=Integer), bindparam("today", type_=Date)


def _spent_today(member_id: object):  # noqa: ANN202
    t = UsageDailyMember
    return (
        select(func.coalesce(func.sum(t.cost_micros), 0))
        .where(t.org_id == _ORG, t.member_id == member_id, t.day == _TODAY)
        .scalar_subquery()
    )


_VERSION = select(audit.latest_entry(AuditEntry.id, _ORG))
_SPENT = select(_spent_today(bindparam("member_id", type_=Integer)))
# The key's row with its member, organization, the organization's latest audit entry, the
# member's spend today and the balance: a decision's one round trip.
_STATE = (
    select(
        ApiKey.id,
        ApiKey.org_id,
        ApiKey.name,
        ApiKey.prefix,
        ApiKey.revoked_at,
        ApiKey.expires_at,
        ApiKey.last_used_at,
        Member.id,
        Member.email,
        Member.removed_at,
        Member.daily_spend_limit_micros,
        Organization.name,
        audit.latest_entry(AuditEntry.id, _ORG),
        audit.latest_entry(AuditEntry.hash, _ORG),
        _spent_today(ApiKey.member_id),
        billing.balance_expression(_ORG),
        Member.team_id,
        budgets.applicable_hard_budgets(_ORG, Member.id, Member.team_id),
    )
    .join(Member, col(Member.id) == ApiKey.member_id)
    .join(Organization, col(Organization.id) == ApiKey.org_id)
    .where(ApiKey.token_hash == bindparam("key_hash", type_=String))
)


def policy_version(session: Session, org_id: int) -> int:
    """The id of the organization's latest audit entry: it changes with every policy change
    (see the module docstring); 0 for an organization without any."""
    return int(session.connection().execute(_VERSION, {"org_id": org_id}).scalar() or 0)


def spent_today_micros(session: Session, *, org_id: int, member_id: int) -> int:
    """The member's recorded usage cost of the current UTC day (day x member rollup)."""
    params = {"org_id": org_id, "member_id": member_id, "today": utcnow().date()}
    return int(session.connection().execute(_SPENT, params).scalar())


def check_request_fields(model: object, provider: object, mode: object) -> str | None:
    """What is wrong with a request's model / provider / mode, or None."""
    if not isinstance(model, str) or not _ID.match(model):
        return "model must be a model id such as anthropic/claude-sonnet-4.5"
    if provider is not None and (not isinstance(provider, str) or not _ID.match(provider)):
        return "provider must be a provider slug such as anthropic"
    if mode is not None and (not isinstance(mode, str) or not _MODE.match(mode)):
        return "mode must be a mode slug: lowercase letters, digits and -"
    return None


# ---- model-access verdicts, kept per organization and policy ---------------------------

MAX_ORGS = 1_000  # organizations whose verdicts a process keeps
MAX_VERDICTS = 2_000  # (model, provider) verdicts kept per organization
_verdicts: dict[tuple[str, int], tuple[tuple[int, str], dict]] = {}
_verdicts_lock = threading.Lock()


def clear_verdicts() -> None:
    """Forget every kept verdict (they are also dropped on any policy change)."""
    with _verdicts_lock:
        _verdicts.clear()


def _verdict(
    session: Session, org_id: int, stamp: tuple[int, str], model: str, provider: str | None
) -> access.Verdict:
    """`access.is_model_allowed`, kept while the organization's latest audit entry is `stamp`
    (its id and hash: the hash tells apart two databases whose ids happen to agree)."""
    where = (str(session.get_bind().url), org_id)
    kept = _verdicts.get(where)
    if kept is None or kept[0] != stamp:
        kept = (stamp, {})
        with _verdicts_lock:
            if len(_verdicts) >= MAX_ORGS:
                _verdicts.clear()
            _verdicts[where] = kept
    verdicts = kept[1]
    verdict = verdicts.get((model, provider))
    if verdict is None:
        verdict = access.is_model_allowed(session, org_id, model, provider)
        if len(verdicts) >= MAX_VERDICTS:
            verdicts.clear()
        verdicts[(model, provider)] = verdict
    return verdict


# ---- the decision ------------------------------------------------------------------------


def _state(session: Session, org_id: int, api_key: str):  # noqa: ANN202
    params = {"org_id": org_id, "today": utcnow().date(), "key_hash": secret_hash(api_key)}
    return session.connection().execute(_STATE, params).first()


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
    row = None
    if api_key and len(api_key) <= MAX_SECRET and api_key.startswith(KEY_PREFIX):
        row = _state(session, org_id, api_key)
    if row is None or row[1] != org_id:  # another organization's key is unknown here
        version = policy_version(session, org_id)
        return _refuse("invalid_key", _INVALID_KEY, policy_version=version)
    (key_id, _, key_name, prefix, revoked_at, expires_at, last_used_at) = row[:7]
    member_id, email, removed_at, limit, org_name = row[7:12]
    version, stamp, spent, balance = int(row[12] or 0), row[13] or "", int(row[14]), int(row[15])
    who = {"member_id": member_id, "member_email": email, "org_id": org_id}
    who["policy_version"] = version
    if removed_at is not None:
        return _refuse(
            "member_removed",
            f"{email} is no longer a member of {org_name}; this key no longer works.",
            **who,
        )
    if revoked_at is not None:
        return _refuse(
            "key_revoked",
            f"The API key “{key_name}” ({prefix}…) was revoked. Create a new one on your "
            "Account page.",
            **who,
        )
    if expires_at is not None and expires_at <= utcnow():
        return _refuse(
            "key_revoked",
            f"The API key “{key_name}” ({prefix}…) expired on "
            f"{expires_at:%Y-%m-%d %H:%M} UTC. Create a new one on your Account page.",
            **who,
        )
    verdict = _verdict(session, org_id, (version, stamp), model, provider)
    if not verdict:
        subject = f"Model {model}" + (f" through {provider}" if provider else "")
        return _refuse(
            verdict.code,
            f"{subject} is not allowed for {org_name}: {verdict.reason}. Ask an admin to "
            "enable it in Model Access.",
            **who,
        )
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
    team_id, hard_budgets = row[16], int(row[17] or 0)
    if hard_budgets:  # only then the month's spend of each: no cost without hard budgets
        exhausted = budgets.exhausted_budget(
            session, org_id=org_id, member_id=member_id, team_id=team_id
        )
        if exhausted is not None:
            return _refuse("budget_exhausted", exhausted, **who, **allowance)
    if balance <= 0:
        return _refuse(
            "insufficient_credits",
            f"{org_name} has no credits left. Ask an owner to buy credits on the Invoices tab.",
            **who,
            **allowance,
        )
    return Decision(True, **who, **allowance, key_id=key_id, touch=needs_touch(last_used_at))
