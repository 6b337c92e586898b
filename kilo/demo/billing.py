"""The demo organization's billing: credit purchases that cover its usage, welcome credits,
two seat changes (each with its prorated invoice), a seat invoice (with its payment) for
every month, and billing's extra history (`kilo.billing.demo`). Everything that issues an
invoice runs in date order, so invoice numbers follow the issue dates as in real use."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session, func, select

from kilo import audit
from kilo.billing import prorate_cents, record_credit_purchase
from kilo.billing.demo import TimedEvent, demo_events, seat_line
from kilo.billing.issue import issue_invoice
from kilo.billing.seats import issue_seat_change_invoice, month_bounds
from kilo.members import actor_for
from kilo.models import Invoice, LedgerEntry, Member, Organization, Payment, SeatChange, UsageDaily
from kilo.money import usd_cents

FIRST_SEATS = 25
SEAT_CHANGES = [(30, 30), (95, 40)]  # (days after the organization's creation, new seats)


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
    org.seats = FIRST_SEATS
    events: list[TimedEvent] = []

    # Credit purchases: enough to cover usage with a comfortable margin, in round amounts.
    target = int(spent) * 135 // 100 + 500_000_000
    purchase_days = [0, 40, 75, 110, 135]
    step = -(-target // len(purchase_days) // 100_000_000) * 100_000_000
    for i, offset in enumerate(purchase_days):
        at = t0 + timedelta(days=offset, hours=3)

        def purchase(at: datetime = at, ref: str = f"demo_cs_{i:03d}") -> None:
            record_credit_purchase(
                session,
                org=org,
                actor=actor,
                subtotal_cents=step // 10_000,
                tax_cents=None,
                external_ref=ref,
                method="card •••• 4242",
                at=at,
                source="demo",
            )

        events.append((at, purchase))

    # Seat changes, each with the invoice of its prorated amount (paid by card).
    for n, (offset, new) in enumerate(SEAT_CHANGES):
        at = t0 + timedelta(days=offset, hours=5)

        def seat_change(at: datetime = at, new: int = new, n: int = n) -> None:
            old = org.seats
            start, end = month_bounds(at)
            prorated = prorate_cents(new - old, org.seat_price_cents, start, end, at)
            invoice = issue_seat_change_invoice(
                session, org=org, old=old, new=new, prorated_cents=prorated, at=at, period_end=end
            )
            _paid(session, org, invoice, at + timedelta(days=2), f"demo_seat_change_{n:03d}")
            session.add(
                SeatChange(
                    org_id=org.id,
                    at=at,
                    from_seats=old,
                    to_seats=new,
                    actor_id=owner.id,
                    prorated_cents=prorated,
                    invoice_id=invoice.id,
                )
            )
            audit.record(
                session,
                actor=actor,
                action="organization.seats.change",
                target="seats",
                message=f"Seats: {old} → {new} (prorated {usd_cents(prorated)}; demo mode, "
                f"no real charge; invoice {invoice.number})",
                at=at,
                details={"before": old, "after": new, "invoice": invoice.number},
            )
            org.seats = new
            session.add(org)

        events.append((at, seat_change))

    # Monthly seat invoices, for the seat count at the start of the month.
    month = date(t0.year, t0.month, 1)
    first_paid: tuple[datetime, tuple[date, date]] | None = None
    n = 1
    while month <= today:
        nxt = (month + timedelta(days=32)).replace(day=1)
        at = datetime.combine(month, time(6), tzinfo=UTC)
        paid = nxt <= today

        def seat_invoice(at: datetime = at, month: date = month, nxt: date = nxt, n: int = n):
            invoice = issue_invoice(
                session,
                org=org,
                kind="seats",
                at=at,
                status="open",
                period_start=month,
                period_end=nxt - timedelta(days=1),
                lines=[seat_line(org.seats, org.seat_price_cents)],
            )
            if nxt <= today:
                _paid(session, org, invoice, at + timedelta(days=2), f"demo_seat_{n:03d}")

        events.append((at, seat_invoice))
        if paid and first_paid is None:
            first_paid = (at, (month, nxt - timedelta(days=1)))
        month, n = nxt, n + 1

    if first_paid is not None:
        events += demo_events(
            session,
            org,
            owner,
            first_paid_seat_invoice_at=first_paid[0],
            first_paid_month=first_paid[1],
        )
    for _, event in sorted(events, key=lambda e: e[0]):
        event()
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
    session.add(org)
    session.flush()


def _paid(session: Session, org: Organization, invoice: Invoice, at: datetime, ref: str) -> None:
    """The invoice paid by card two days after issue, as the demo's customer does."""
    invoice.status, invoice.paid_at = "paid", at
    session.add(invoice)
    session.add(
        Payment(
            org_id=org.id,
            at=at,
            invoice_id=invoice.id,
            amount_cents=invoice.total_cents,
            status="succeeded",
            method="card •••• 4242",
            description=f"Seats {invoice.period_start:%B %Y}",
            external_ref=ref,
        )
    )
