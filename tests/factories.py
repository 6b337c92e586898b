"""Small factories for tests: one place that knows how to make rows."""

from __future__ import annotations

import itertools
from datetime import datetime

import bcrypt
from sqlmodel import Session

from kilo import billing
from kilo.members import actor_for
from kilo.models import Invoice, LedgerEntry, Member, Organization
from kilo.permissions import Actor

PASSWORD = "correct-horse"
_HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
_seq = itertools.count(1)


def create_org(session: Session, **fields: object) -> Organization:
    org = Organization(**({"name": f"Org {next(_seq)}", "seats": 20} | fields))
    session.add(org)
    session.flush()
    return org


def create_member(
    session: Session, org: Organization, role: str = "member", **fields: object
) -> Member:
    n = next(_seq)
    email = fields.pop("email", f"user{n}@example.com")
    member = Member(
        **(
            {
                "org_id": org.id,
                "username": email,
                "name": f"User {n}",
                "email": email,
                "role": role,
                "password_hash": _HASH,
            }
            | fields
        )
    )
    session.add(member)
    session.flush()
    return member


def create_team(session: Session, **org_fields: object) -> dict[str, Actor]:
    """An organization with one owner, one admin and one member; returns their actors."""
    org = create_org(session, **org_fields)
    return {
        role: actor_for(create_member(session, org, role)) for role in ("owner", "admin", "member")
    }


def create_ledger_entry(
    session: Session, org_id: int, amount_micros: int, kind: str = "promo", **fields: object
) -> LedgerEntry:
    """Credits (or, negative, a debit) in the organization's ledger, without an audit entry."""
    entry = LedgerEntry(
        **(
            {
                "org_id": org_id,
                "kind": kind,
                "amount_micros": amount_micros,
                "description": f"Test {kind}",
                "external_ref": f"test:{next(_seq)}",
            }
            | fields
        )
    )
    session.add(entry)
    session.flush()
    return entry


def create_top_up(session: Session, owner: Actor, cents: int) -> Invoice:
    """A paid credit top-up as demo mode records it: the invoice, its payment and the credits."""
    org = session.get(Organization, owner.org_id)
    entry = billing.record_credit_purchase(
        session,
        org=org,
        actor=owner,
        subtotal_cents=cents,
        tax_cents=0,
        external_ref=f"test:top-up:{next(_seq)}",
        method="demo (no payment)",
        source="demo",
    )
    return session.get(Invoice, entry.invoice_id)


def usage_event(member_id: int, at: datetime, **fields: object) -> dict:
    """One checked usage event as `kilo.usage.insert_events` takes it: a successful request
    for model `m/x` at provider `p` in mode `code`, with no tokens, cost or latency, unless
    `fields` say otherwise."""
    return {
        "at": at,
        "member_id": member_id,
        "model_id": "m/x",
        "provider": "p",
        "mode": "code",
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "cost_micros": 0,
        "latency_ms": 0,
        "status": "success",
    } | fields
