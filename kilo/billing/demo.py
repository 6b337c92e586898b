"""Billing's part of the demo organization: the events `kilo.demo` merges into its billing
timeline, so that every invoice is issued (and numbered) in date order.

    a top-up bought twice by mistake, the second refunded in full the next day;
    a seat invoice issued with the wrong quantity and voided an hour later (it keeps its
    number, as a voided invoice does), whose correct invoice's first card charge failed;
    a goodwill adjustment.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from kilo import audit
from kilo.billing.issue import issue_invoice
from kilo.billing.ledger import insert_entry
from kilo.billing.purchases import record_credit_purchase
from kilo.billing.refunds import record_refund
from kilo.members import actor_for
from kilo.models import Invoice, Member, Organization, Payment

TimedEvent = tuple[datetime, Callable[[], None]]
SEAT_LINE = "Kilo for Enterprise seat"


def seat_line(quantity: int, unit_cents: int) -> dict:
    return {
        "description": SEAT_LINE,
        "quantity": quantity,
        "unit_cents": unit_cents,
        "amount_cents": quantity * unit_cents,
    }


def demo_events(
    session: Session,
    org: Organization,
    owner_member: Member,
    *,
    first_paid_seat_invoice_at: datetime,
    first_paid_month: tuple[date, date],
) -> list[TimedEvent]:
    """The demo's extra billing history as (time, action) pairs for the timeline."""
    actor = actor_for(owner_member)
    t0 = org.created_at
    dup_at = t0 + timedelta(days=75, hours=4)

    def duplicate_purchase_refunded() -> None:
        entry = record_credit_purchase(
            session,
            org=org,
            actor=actor,
            subtotal_cents=20_000,
            tax_cents=None,
            external_ref="demo_cs_dup",
            method="card •••• 4242",
            at=dup_at,
            source="demo",
        )
        invoice = session.get(Invoice, entry.invoice_id)
        record_refund(
            session,
            org=org,
            actor=actor,
            invoice=invoice,
            refunded_total_cents=invoice.total_cents,
            source="demo",
            at=dup_at + timedelta(days=1),
        )

    def wrong_seat_invoice_voided() -> None:
        invoice = issue_invoice(
            session,
            org=org,
            kind="seats",
            at=first_paid_seat_invoice_at - timedelta(hours=1),
            status="open",
            period_start=first_paid_month[0],
            period_end=first_paid_month[1],
            lines=[seat_line(org.seats + 5, org.seat_price_cents)],
        )
        invoice.status = "void"
        session.add(invoice)

    def failed_charge() -> None:
        seat = session.exec(
            select(Invoice)
            .where(Invoice.org_id == org.id, Invoice.kind == "seats", Invoice.status == "paid")
            .order_by(col(Invoice.issued_at))
        ).first()
        if seat is None:
            return
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

    adjust_at = t0 + timedelta(days=100, hours=2)

    def goodwill_adjustment() -> None:
        insert_entry(
            session,
            org_id=org.id,
            at=adjust_at,
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
            at=adjust_at,
            details={"kind": "adjustment", "amount_micros": 25_000_000},
        )

    return [
        (dup_at, duplicate_purchase_refunded),
        (first_paid_seat_invoice_at - timedelta(hours=1), wrong_seat_invoice_voided),
        (first_paid_seat_invoice_at + timedelta(days=1), failed_charge),
        (adjust_at, goodwill_adjustment),
    ]
