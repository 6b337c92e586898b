"""The demo organization's billing: credit purchases that cover its usage, welcome credits,
two seat changes and a seat invoice (with its payment) for every month."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session, func, select

from kilo import audit
from kilo.billing import next_invoice_number, record_credit_purchase
from kilo.members import actor_for
from kilo.models import Invoice, LedgerEntry, Member, Organization, Payment, SeatChange, UsageDaily


def seed_billing(
    session: Session,
    org: Organization,
    owner: Member,
    rng: random.Random,
    t0: datetime,
    today: date,
) -> None:
    spent = int(
        session.exec(
            select(func.coalesce(func.sum(UsageDaily.cost_micros), 0)).where(
                UsageDaily.org_id == org.id
            )
        ).one()
    )  # PostgreSQL sums BIGINT as Decimal
    actor = actor_for(owner)
    # Credit purchases: enough to cover usage with a comfortable margin, in round amounts.
    target = int(spent) * 135 // 100 + 500_000_000
    purchase_days = [0, 40, 75, 110, 135]
    step = -(-target // len(purchase_days) // 100_000_000) * 100_000_000
    for i, offset in enumerate(purchase_days):
        at = t0 + timedelta(days=offset, hours=3)
        cents = step // 10_000
        ref = f"demo_cs_{i:03d}"
        record_credit_purchase(
            session,
            org=org,
            actor=actor,
            subtotal_cents=cents,
            tax_cents=0,
            external_ref=ref,
            method="card •••• 4242",
            at=at,
            source="demo",
        )
    session.add(
        LedgerEntry(
            org_id=org.id,
            at=t0 + timedelta(hours=1),
            kind="promo",
            amount_micros=100_000_000,
            description="Welcome credits",
            external_ref="demo_promo_welcome",
        )
    )
    # Seat changes and monthly seat invoices.
    seats = 25
    for offset, new in [(30, 30), (95, 40)]:
        at = t0 + timedelta(days=offset, hours=5)
        session.add(
            SeatChange(
                org_id=org.id,
                at=at,
                from_seats=seats,
                to_seats=new,
                actor_id=owner.id,
                prorated_cents=(new - seats) * org.seat_price_cents // 2,
            )
        )
        audit.record(
            session,
            actor=actor,
            action="organization.seats.change",
            target="seats",
            message=f"Seats: {seats} → {new}",
            at=at,
            details={"before": seats, "after": new},
        )
        seats = new
    org.seats = seats
    month = date(t0.year, t0.month, 1)
    n = 1
    while month <= today:
        nxt = (month + timedelta(days=32)).replace(day=1)
        changes = session.exec(select(SeatChange).where(SeatChange.org_id == org.id)).all()
        count = 25
        for c in sorted(changes, key=lambda c: c.at):
            if c.at.date() < month:
                count = c.to_seats
        cents = count * org.seat_price_cents
        status = "paid" if nxt <= today else "open"
        at = datetime.combine(month, time(6), tzinfo=UTC)
        inv = Invoice(
            org_id=org.id,
            number=next_invoice_number(session, org_id=org.id, at=at),
            kind="seats",
            issued_at=at,
            period_start=month,
            period_end=nxt - timedelta(days=1),
            status=status,
            subtotal_cents=cents,
            total_cents=cents,
            paid_at=at + timedelta(days=2) if status == "paid" else None,
            lines=[
                {
                    "description": "Kilo for Enterprise seat",
                    "quantity": count,
                    "unit_cents": org.seat_price_cents,
                    "amount_cents": cents,
                }
            ],
        )
        session.add(inv)
        session.flush()
        if status == "paid":
            session.add(
                Payment(
                    org_id=org.id,
                    at=inv.paid_at,
                    invoice_id=inv.id,
                    amount_cents=cents,
                    status="succeeded",
                    method="card •••• 4242",
                    description=f"Seats {month:%B %Y}",
                    external_ref=f"demo_seat_{n:03d}",
                )
            )
        month, n = nxt, n + 1
    session.add(org)
    session.flush()
