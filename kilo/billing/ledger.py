"""Credit ledger, balance and runway.

Balance (micro-dollars) = sum of ledger entries (purchases, promos, refunds, adjustments)
minus the cost of recorded usage, read from the day x member rollup (the smallest one
holding every day's cost); usage is the derived ledger kind and is never copied into the
ledger. Every ledger entry and payment carries a unique `external_ref` (its idempotency
key), so a Stripe Checkout Session, webhook event or refund becomes an entry exactly once
however often it is seen: `ledger_ref_exists` / `payment_ref_exists` check it, and
`insert_entry` is the one place that adds a ledger row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import BindParameter, ColumnElement, Select
from sqlmodel import Session, func, select

from kilo import audit
from kilo.db import lock_organization
from kilo.errors import Conflict, ValidationError
from kilo.models import LedgerEntry, Payment, UsageDailyMember, utcnow
from kilo.money import MICROS_PER_DOLLAR, usd
from kilo.permissions import Actor, ensure_allowed
from kilo.rollups.query import total_cost_micros, total_cost_query
from kilo.validation import check_printable

MAX_ADJUSTMENT_MICROS = 100_000 * MICROS_PER_DOLLAR  # $100,000 per manual entry
RUNWAY_WINDOW_DAYS = 30
MANUAL_KINDS = ("adjustment", "promo")
LEDGER_KIND_LABELS = {
    "purchase": "Credit purchase",
    "usage": "Usage",
    "promo": "Promotional credit",
    "refund": "Refund",
    "adjustment": "Adjustment",
}


# ---- balance ----------------------------------------------------------------------


def ledger_total_micros(session: Session, *, org_id: int) -> int:
    return int(session.exec(_ledger_total_query(org_id)).one())


def _ledger_total_query(org_id: int | BindParameter[int]) -> Select:
    return select(func.coalesce(func.sum(LedgerEntry.amount_micros), 0)).where(
        LedgerEntry.org_id == org_id
    )


def usage_cost_micros(session: Session, *, org_id: int) -> int:
    """Cost of all recorded usage, from the smallest usage rollup."""
    return total_cost_micros(session, org_id=org_id)


def balance_expression(org_id: int | BindParameter[int]) -> ColumnElement[int]:
    """The balance as one SQL expression (the ledger's sum minus the usage cost, two scalar
    subqueries), so that a caller reads it in the same round trip as other figures; `org_id`
    may be a bound parameter of a statement built once."""
    return (
        _ledger_total_query(org_id).scalar_subquery() - total_cost_query(org_id).scalar_subquery()
    )


def balance_micros(session: Session, *, org_id: int) -> int:
    """Available credits: the ledger's sum minus the cost of all recorded usage."""
    return int(session.execute(select(balance_expression(org_id))).scalar_one())


def average_daily_spend_micros(
    session: Session, *, org_id: int, today: date | None = None, days: int = RUNWAY_WINDOW_DAYS
) -> int:
    """Usage cost of the last `days` days (today included) divided by `days`, from the rollup."""
    today = today or utcnow().date()
    total = total_cost_micros(
        session, org_id=org_id, start=today - timedelta(days=days - 1), end=today
    )
    return total // days


def runway_days(balance: int, daily_spend: int) -> int | None:
    """Whole days the balance lasts at `daily_spend`; None when nothing is being spent."""
    if daily_spend <= 0:
        return None
    return max(0, balance) // daily_spend


def get_credit_runway(session: Session, *, actor: Actor, today: date) -> dict:
    """Balance and how many whole days it lasts at the organization's recent daily spend
    (billing's window), as on the Invoices tab."""
    ensure_allowed(actor, "usage.view_all")
    # The same figures as the Invoices tab: billing owns balance and runway.
    balance = balance_micros(session, org_id=actor.org_id)
    daily = average_daily_spend_micros(session, org_id=actor.org_id, today=today)
    days = runway_days(balance, daily)
    window = RUNWAY_WINDOW_DAYS
    return {
        "balance_micros": balance,
        "daily_rate_micros": daily,
        "window_days": window,
        "days": days,
        "runs_out": today + timedelta(days=int(days)) if days is not None else None,
    }


# ---- entries ----------------------------------------------------------------------


def ledger_ref_exists(session: Session, ref: str) -> bool:
    """Whether a ledger entry with this idempotency key was already recorded."""
    return (
        session.exec(select(LedgerEntry.id).where(LedgerEntry.external_ref == ref)).first()
        is not None
    )


def payment_ref_exists(session: Session, ref: str) -> bool:
    """Whether a payment with this idempotency key was already recorded."""
    return session.exec(select(Payment.id).where(Payment.external_ref == ref)).first() is not None


def insert_entry(
    session: Session,
    *,
    org_id: int,
    kind: str,
    amount_micros: int,
    description: str,
    external_ref: str,
    at: datetime | None = None,
    actor_id: int | None = None,
    invoice_id: int | None = None,
) -> LedgerEntry:
    """Add one ledger row (at `at`, default now). The caller has checked `external_ref` with
    `ledger_ref_exists` and writes the audit entry of the change that caused it."""
    entry = LedgerEntry(
        org_id=org_id,
        at=at or utcnow(),
        kind=kind,
        amount_micros=amount_micros,
        description=description,
        external_ref=external_ref,
        actor_id=actor_id,
        invoice_id=invoice_id,
    )
    session.add(entry)
    return entry


def add_ledger_entry(
    session: Session,
    *,
    actor: Actor,
    kind: str,
    amount_micros: int,
    description: str,
    external_ref: str | None = None,
) -> LedgerEntry:
    """Owner records a promotional credit or a manual adjustment (signed) with its reason."""
    ensure_allowed(actor, "billing.change")
    if kind not in MANUAL_KINDS:
        raise ValidationError("Choose “adjustment” or “promo” for a manual ledger entry.")
    if (
        not isinstance(amount_micros, int)
        or amount_micros == 0
        or abs(amount_micros) > MAX_ADJUSTMENT_MICROS
    ):
        raise ValidationError(
            f"The amount must be non-zero and at most {usd(MAX_ADJUSTMENT_MICROS)} either way."
        )
    if kind == "promo" and amount_micros < 0:
        raise ValidationError(
            "Promotional credits add to the balance; use an adjustment to remove credits."
        )
    description = " ".join((description or "").split())
    if not description:
        raise ValidationError("Give a reason; it is shown in the purchase history and audit log.")
    if len(description) > 500:
        raise ValidationError("The reason is too long (at most 500 characters).")
    check_printable(description, "The reason")
    lock_organization(session, actor.org_id)
    ref = (external_ref or f"manual:{uuid.uuid4()}").strip()
    if ledger_ref_exists(session, ref):
        raise Conflict(f"A ledger entry with reference {ref} already exists; nothing was added.")
    entry = insert_entry(
        session,
        org_id=actor.org_id,
        kind=kind,
        amount_micros=amount_micros,
        description=description,
        external_ref=ref,
        actor_id=actor.id,
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="billing.adjustment",
        target=ref,
        message=f"{LEDGER_KIND_LABELS[kind]} of {usd(amount_micros)}: {description}",
        details={"kind": kind, "amount_micros": amount_micros, "external_ref": ref},
    )
    return entry


# ---- statement --------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerRow:
    at: datetime
    kind: str
    description: str
    amount_micros: int
    balance_micros: int  # running balance after this row
    reference: str


def list_ledger(
    session: Session, *, actor: Actor, today: date | None = None, now: datetime | None = None
) -> list[LedgerRow]:
    """The credit statement: ledger entries plus usage per month (derived), newest first.

    A past month's usage is dated at the month's last second; the current month's (to
    date) at `now`, never later: its usage happened before now."""
    ensure_allowed(actor, "billing.view")
    now = now or utcnow()
    today = today or now.date()
    events: list[tuple[datetime, str, str, int, str]] = [
        (e.at, e.kind, e.description, e.amount_micros, e.external_ref)
        for e in session.exec(select(LedgerEntry).where(LedgerEntry.org_id == actor.org_id)).all()
    ]
    per_day = session.exec(
        select(UsageDailyMember.day, func.sum(UsageDailyMember.cost_micros))
        .where(UsageDailyMember.org_id == actor.org_id)
        .group_by(UsageDailyMember.day)
    ).all()
    months: dict[date, int] = {}
    for day, cost in per_day:
        key = day.replace(day=1)
        months[key] = months.get(key, 0) + int(cost or 0)
    for month, cost in months.items():
        end = min((month + timedelta(days=32)).replace(day=1) - timedelta(days=1), today)
        at = datetime(end.year, end.month, end.day, 23, 59, 59, tzinfo=UTC)
        if end == today:
            at = min(now, at)
        events.append(
            (
                at,
                "usage",
                f"Usage {month:%B %Y}" + (" (to date)" if end == today else ""),
                -cost,
                f"usage:{month:%Y-%m}",
            )
        )
    events.sort(key=lambda e: (e[0], e[4]))
    rows, running = [], 0
    for at, kind, desc, amount, ref in events:
        running += amount
        rows.append(
            LedgerRow(
                at=at,
                kind=kind,
                description=desc,
                amount_micros=amount,
                balance_micros=running,
                reference=ref,
            )
        )
    return rows[::-1]
