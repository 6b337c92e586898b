"""Usage events a gateway reports in batches (`POST /api/v1/gateway/usage`).

Each event has the fields of a file import's row (README, "Usage import") with the same
bounds, checked by the same code (`kilo.usage`), except that the member is named by their
API key (`api_key`, what the gateway saw) or their e-mail (`member_email`), and `id` is
required: it is what makes a retried batch safe. The whole batch is checked before anything
is stored; one bad event refuses the batch (`InvalidEvents`, each problem with its index).
A good batch is stored in the caller's one transaction through `kilo.usage.insert_events`;
events whose id is already stored are reported as duplicates and not counted again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from kilo import usage
from kilo.apikeys import KEY_PREFIX, MAX_SECRET, secret_hash
from kilo.db import lock_organization
from kilo.errors import ValidationError
from kilo.models import ApiKey, Member
from kilo.permissions import Actor, ensure_allowed
from kilo.usage.checks import check_event
from kilo.usage.ingest import existing_ids

MAX_EVENTS = 1_000  # per batch
MAX_REPORTED = 50  # problems listed in one refusal

REQUIRED = (
    "id",
    "timestamp",
    "model",
    "provider",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_ms",
    "status",
)
OPTIONAL = ("mode", "cache_read_tokens", "cache_write_tokens", "api_key", "member_email")
_TEXT = ("id", "timestamp", "model", "provider", "status", "mode", "api_key", "member_email")
_WHOLE = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "latency_ms")


class InvalidEvents(ValidationError):
    """A batch with bad events; nothing of it was stored. `problems`: (index, message)."""

    def __init__(self, problems: list[tuple[int, str]], total: int) -> None:
        self.problems = problems[:MAX_REPORTED]
        self.count = len(problems)
        first = f"event {problems[0][0]}: {problems[0][1]}"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(
            f"{len(problems)} of {total} events are invalid; nothing was stored. "
            f"First: {first}{more}."
        )


class TooManyEvents(ValidationError):
    """A batch over MAX_EVENTS; nothing of it was stored."""


@dataclass
class BatchResult:
    stored: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


def _shape(raw: object) -> str | None:
    """What is wrong with the event's JSON shape (types, missing or unknown fields)."""
    if not isinstance(raw, dict):
        return "an event must be a JSON object"
    unknown = sorted(str(k) for k in raw if k not in REQUIRED and k not in OPTIONAL)
    if unknown:
        return f"unknown field(s) {', '.join(unknown)[:200]}"
    missing = [k for k in REQUIRED if raw.get(k) is None]
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    for name in _TEXT:
        if raw.get(name) is not None and not isinstance(raw[name], str):
            return f"{name} must be a string"
    for name in _WHOLE:
        value = raw.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return f"{name} must be a whole number"
    if not isinstance(raw["cost_usd"], str):
        return (
            'cost_usd must be a string holding a plain decimal, like "0.001234" (a JSON '
            "number may already have lost digits)"
        )
    if raw.get("api_key") is None and raw.get("member_email") is None:
        return "name the member: api_key (their key, kilo_sk_…) or member_email"
    return None


def _members(
    session: Session, org_id: int, events: list[dict]
) -> tuple[dict[str, int], dict[str, int]]:
    """The organization's members by e-mail (lowercase) and by key hash, for the e-mails and
    keys the batch names. Removed members and revoked keys still count: the usage happened
    (as a file import records a removed member's rows)."""
    hashes = {
        secret_hash(e["api_key"])
        for e in events
        if isinstance(e.get("api_key"), str) and 0 < len(e["api_key"]) <= MAX_SECRET
    }
    by_email: dict[str, int] = {}
    by_key: dict[str, int] = {}
    # E-mails are compared in Python, as the file import does (SQLite's lower() is ASCII).
    if any(e.get("member_email") for e in events):
        rows = session.execute(select(Member.email, Member.id).where(Member.org_id == org_id)).all()
        by_email = {email.lower(): member_id for email, member_id in rows}
    if hashes:
        for chunk in _chunks(sorted(hashes)):
            rows = session.execute(
                select(ApiKey.token_hash, ApiKey.member_id).where(
                    ApiKey.org_id == org_id, ApiKey.token_hash.in_(chunk)
                )
            ).all()
            by_key.update(dict(rows))
    return by_email, by_key


def _chunks(values: list[str], size: int = 500) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def _member_of(raw: dict, by_email: dict[str, int], by_key: dict[str, int]) -> int:
    member_id = None
    if raw.get("api_key") is not None:
        key = raw["api_key"]
        if not key.startswith(KEY_PREFIX) or len(key) > MAX_SECRET:
            raise ValueError("api_key is not a member's API key (kilo_sk_…)")
        member_id = by_key.get(secret_hash(key))
        if member_id is None:
            raise ValueError("api_key is not a key of this organization")
    if raw.get("member_email") is not None:
        email = raw["member_email"].strip().lower()
        by_mail = by_email.get(email)
        if by_mail is None:
            shown = raw["member_email"][:100]
            raise ValueError(f"member_email {shown} is not a member of this organization")
        if member_id is not None and member_id != by_mail:
            raise ValueError("api_key and member_email name different members")
        member_id = by_mail
    assert member_id is not None  # _shape requires one of them
    return member_id


def check_batch(session: Session, *, org_id: int, events: list[Any]) -> list[dict]:
    """The batch's events, checked and converted for `kilo.usage.insert_events`; raises
    `InvalidEvents` listing every bad event by index (0-based) when any is bad."""
    if not isinstance(events, list):
        raise ValidationError("events must be a list of usage events.")
    if len(events) > MAX_EVENTS:
        raise TooManyEvents(
            f"A batch holds at most {MAX_EVENTS:,} events ({len(events):,} were sent); "
            "send them in several batches."
        )
    problems: list[tuple[int, str]] = []
    shaped = [(i, raw, _shape(raw)) for i, raw in enumerate(events)]
    by_email, by_key = _members(
        session, org_id, [raw for _, raw, problem in shaped if problem is None]
    )
    checked: list[dict] = []
    seen: dict[str, int] = {}
    for i, raw, problem in shaped:
        if problem is not None:
            problems.append((i, problem))
            continue
        try:
            event = check_event(
                at=raw["timestamp"],
                member_id=_member_of(raw, by_email, by_key),
                model_id=raw["model"],
                provider=raw["provider"],
                mode=raw.get("mode") or "code",
                input_tokens=raw["input_tokens"],
                output_tokens=raw["output_tokens"],
                cache_read_tokens=raw.get("cache_read_tokens") or 0,
                cache_write_tokens=raw.get("cache_write_tokens") or 0,
                cost=raw["cost_usd"],
                latency_ms=raw["latency_ms"],
                status=raw["status"],
                external_id=raw["id"],
            )
        except ValueError as exc:
            problems.append((i, str(exc)))
            continue
        ext = event["external_id"]
        if not ext:
            problems.append((i, "id is empty"))
        elif ext in seen:
            problems.append((i, f"id {ext[:100]} repeats event {seen[ext]}"))
        else:
            seen[ext] = i
            checked.append(event)
    if problems:
        raise InvalidEvents(problems, len(events))
    return checked


def record_batch(session: Session, *, actor: Actor, events: list[Any]) -> BatchResult:
    """Check the whole batch, then store its new events in the caller's transaction.

    Returns the ids stored and the ids already stored before (duplicates), each in the
    batch's order. Usage events are the record themselves: no audit entry per batch (as
    `kilo.usage.record_usage`)."""
    ensure_allowed(actor, "usage.ingest")
    org_id = actor.org_id
    checked = check_batch(session, org_id=org_id, events=events)
    result = BatchResult()
    if not checked:
        return result
    # Concurrent batches carrying the same id: one at a time per organization, so the
    # second sees the first's events as duplicates (SQLite: BEGIN IMMEDIATE already does).
    lock_organization(session, org_id)
    existing = existing_ids(session, org_id, [e["external_id"] for e in checked])
    new = []
    for event in checked:
        if event["external_id"] in existing:
            result.duplicates.append(event["external_id"])
        else:
            result.stored.append(event["external_id"])
            new.append(event)
    if new:
        usage.insert_events(session, org_id=org_id, events=new)
    return result
