"""Invoices and payments: invoice numbers, and the Invoices tab's lists (invoices, payments,
purchase history) and invoice PDFs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, func, select

from kilo.billing.account import get_org
from kilo.billing.ledger import LEDGER_KIND_LABELS
from kilo.errors import NotFound
from kilo.models import Invoice, LedgerEntry, Member, Payment, SeatChange, utcnow
from kilo.money import MICROS_PER_CENT, usd_cents
from kilo.permissions import Actor, ensure_allowed

INVOICE_KIND_LABELS = {"seats": "Seats", "top-up": "Credit top-up", "other": "Other"}
INVOICE_STATUS_LABELS = {
    "draft": "draft",
    "open": "open",
    "paid": "paid",
    "past_due": "past due",
    "void": "void",
    "uncollectible": "uncollectible",
    "refunded": "refunded",
}


def next_invoice_number(session: Session, *, org_id: int, at: datetime) -> str:
    count = session.exec(
        select(func.count()).select_from(Invoice).where(Invoice.org_id == org_id)
    ).one()
    n = int(count) + 1
    while True:
        number = f"K{org_id}-{at:%Y}-{n:05d}"
        if session.exec(select(Invoice.id).where(Invoice.number == number)).first() is None:
            return number
        n += 1


# ---- reads for the Invoices tab ----------------------------------------------------


@dataclass(frozen=True)
class InvoiceRow:
    id: int
    number: str
    issued_at: datetime
    period_start: date
    period_end: date
    kind: str
    status: str  # display status: paid | open | past due | void | refunded | ...
    total_cents: int
    refunded_cents: int
    refundable_cents: int  # what the owner may still refund (paid top-ups)


def display_status(invoice: Invoice, today: date | None = None) -> str:
    today = today or utcnow().date()
    if invoice.status == "open" and invoice.due_date and invoice.due_date < today:
        return "past due"
    return INVOICE_STATUS_LABELS.get(invoice.status, invoice.status)


def list_invoices(session: Session, *, actor: Actor) -> list[InvoiceRow]:
    """Invoices of the organization, newest first."""
    ensure_allowed(actor, "billing.view")
    invoices = session.exec(
        select(Invoice)
        .where(Invoice.org_id == actor.org_id)
        .order_by(col(Invoice.issued_at).desc(), col(Invoice.id).desc())
    ).all()
    today = utcnow().date()
    return [
        InvoiceRow(
            id=i.id,
            number=i.number,
            issued_at=i.issued_at,
            period_start=i.period_start,
            period_end=i.period_end,
            kind=i.kind,
            status=display_status(i, today),
            total_cents=i.total_cents,
            refunded_cents=i.refunded_cents,
            refundable_cents=(i.total_cents - i.refunded_cents)
            if i.kind == "top-up" and i.status == "paid"
            else 0,
        )
        for i in invoices
    ]


def get_invoice(session: Session, *, actor: Actor, invoice_id: int) -> Invoice:
    ensure_allowed(actor, "billing.view")
    invoice = session.get(Invoice, invoice_id)
    if invoice is None or invoice.org_id != actor.org_id:
        raise NotFound("That invoice does not exist.")
    return invoice


@dataclass(frozen=True)
class PaymentRow:
    at: datetime
    amount_cents: int
    currency: str
    status: str
    method: str
    description: str
    invoice_number: str | None
    reference: str
    failure_message: str


def list_payments(session: Session, *, actor: Actor) -> list[PaymentRow]:
    """Payment history (charges, failures, refunds) with transaction details, newest first."""
    ensure_allowed(actor, "billing.view")
    rows = session.exec(
        select(Payment, Invoice.number)
        .join(Invoice, col(Invoice.id) == Payment.invoice_id, isouter=True)
        .where(Payment.org_id == actor.org_id)
        .order_by(col(Payment.at).desc(), col(Payment.id).desc())
    ).all()
    return [
        PaymentRow(
            at=p.at,
            amount_cents=p.amount_cents,
            currency=p.currency.upper(),
            status=p.status,
            method=p.method,
            description=p.description,
            invoice_number=number,
            reference=p.stripe_charge_id or p.stripe_payment_intent or p.external_ref,
            failure_message=p.failure_message,
        )
        for p, number in rows
    ]


@dataclass(frozen=True)
class HistoryRow:
    at: datetime
    kind: str
    description: str
    amount_micros: int | None
    actor_name: str
    reference: str


def list_purchase_history(session: Session, *, actor: Actor) -> list[HistoryRow]:
    """Credit purchases, seat changes, refunds, promos and adjustments, newest first."""
    ensure_allowed(actor, "billing.view")
    names = dict(
        session.exec(select(Member.id, Member.name).where(Member.org_id == actor.org_id)).all()
    )
    rows = [
        HistoryRow(
            at=e.at,
            kind=LEDGER_KIND_LABELS.get(e.kind, e.kind),
            description=e.description,
            amount_micros=e.amount_micros,
            actor_name=names.get(
                e.actor_id, "Stripe" if e.external_ref.startswith("stripe:") else "System"
            ),
            reference=e.external_ref,
        )
        for e in session.exec(select(LedgerEntry).where(LedgerEntry.org_id == actor.org_id)).all()
    ]
    for c in session.exec(select(SeatChange).where(SeatChange.org_id == actor.org_id)).all():
        verb = "Seats added" if c.to_seats > c.from_seats else "Seats removed"
        note = {"stripe": "", "demo": " (demo)", "local": " (not billed in Stripe)"}.get(
            c.source, ""
        )
        rows.append(
            HistoryRow(
                at=c.at,
                kind=verb,
                description=f"{c.from_seats} → {c.to_seats} seats, prorated "
                f"{usd_cents(c.prorated_cents)}{note}",
                amount_micros=c.prorated_cents * MICROS_PER_CENT,
                actor_name=names.get(c.actor_id, "System"),
                reference=f"seats:{c.id}",
            )
        )
    rows.sort(key=lambda r: r.at, reverse=True)
    return rows


def invoice_pdf(session: Session, *, actor: Actor, invoice_id: int) -> bytes:
    """The invoice as a PDF with the organization's billing details."""
    from kilo.billing.pdf import render_invoice  # fpdf is loaded only when a PDF is made

    invoice = get_invoice(session, actor=actor, invoice_id=invoice_id)
    org = get_org(session, actor)
    return render_invoice(invoice, org, status=display_status(invoice))
