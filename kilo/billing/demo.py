"""Billing's part of the demo organization: `kilo.demo` calls `seed_demo` after its own
seed has bought credits and issued the monthly seat invoices."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from kilo import audit
from kilo.billing.ledger import insert_entry
from kilo.billing.purchases import record_credit_purchase
from kilo.billing.refunds import record_refund
from kilo.members import actor_for
from kilo.models import Invoice, Member, Organization, Payment


def seed_demo(session: Session, org: Organization, owner_member: Member, rng: object) -> None:
    """Demo history for the Invoices tab beyond the lead's seed: a top-up refunded in full,
    a voided seat invoice, a failed card payment later retried, and a goodwill adjustment."""
    actor = actor_for(owner_member)
    t0 = org.created_at
    # A top-up bought twice by mistake; the second one was refunded the next day.
    at = t0 + timedelta(days=75, hours=4)
    entry = record_credit_purchase(
        session,
        org=org,
        actor=actor,
        subtotal_cents=20_000,
        tax_cents=0,
        external_ref="demo_cs_dup",
        method="card •••• 4242",
        at=at,
        source="demo",
    )
    record_refund(
        session,
        org=org,
        actor=actor,
        invoice=session.get(Invoice, entry.invoice_id),
        refunded_total_cents=20_000,
        source="demo",
        at=at + timedelta(days=1),
    )
    # A seat invoice issued with the wrong quantity, voided and reissued.
    seat = session.exec(
        select(Invoice)
        .where(Invoice.org_id == org.id, Invoice.kind == "seats", Invoice.status == "paid")
        .order_by(col(Invoice.issued_at))
    ).first()
    if seat is not None:
        wrong = seat.lines[0]["quantity"] + 5
        cents = wrong * org.seat_price_cents
        session.add(
            Invoice(
                org_id=org.id,
                number=f"{seat.number}-V",
                kind="seats",
                issued_at=seat.issued_at - timedelta(hours=1),
                period_start=seat.period_start,
                period_end=seat.period_end,
                status="void",
                subtotal_cents=cents,
                total_cents=cents,
                lines=[
                    {
                        "description": "Kilo for Enterprise seat",
                        "quantity": wrong,
                        "unit_cents": org.seat_price_cents,
                        "amount_cents": cents,
                    }
                ],
            )
        )
        # Its first card charge failed; the retry two days later succeeded (seeded paid).
        session.add(
            Payment(
                org_id=org.id,
                at=seat.issued_at + timedelta(days=1),
                invoice_id=seat.id,
                amount_cents=seat.total_cents,
                status="failed",
                method="card •••• 0341",
                description=f"Seats {seat.period_start:%B %Y}",
                external_ref="demo_seat_failed",
                failure_message="Card expired",
            )
        )
    at = t0 + timedelta(days=100, hours=2)
    insert_entry(
        session,
        org_id=org.id,
        at=at,
        kind="adjustment",
        amount_micros=25_000_000,
        description="Goodwill credit for the gateway outage",
        external_ref="demo_adjust_outage",
        actor_id=owner_member.id,
    )
    audit.record(
        session,
        actor=actor,
        action="billing.adjustment",
        target="demo_adjust_outage",
        message="Adjustment of $25.00: Goodwill credit for the gateway outage",
        at=at,
        details={"kind": "adjustment", "amount_micros": 25_000_000},
    )
    session.flush()
