"""Invoices and payments: the Invoices tab's lists (invoices, payments, purchase history),
the seat changes an invoice's period saw, and invoice PDFs (numbers: `kilo.billing.issue`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from kilo.billing.account import get_org
from kilo.billing.countries import country_name
from kilo.billing.ledger import LEDGER_KIND_LABELS
from kilo.billing.parties import printed_parties
from kilo.billing.seller import Seller, SellerNotConfigured, org_tax_treatment, seller_for
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
    note: str = ""  # seat changes: the prorated change it bills, or those in its period
    billed_to: str = ""  # the customer's company as the invoice prints it
    seller_recorded: bool = False  # its seller was recorded at issue: a PDF needs no settings
    parties_note: str = ""  # an issued invoice printing current details: which and why


def display_status(invoice: Invoice, today: date | None = None) -> str:
    today = today or utcnow().date()
    if invoice.status == "open" and invoice.due_date and invoice.due_date < today:
        return "past due"
    return INVOICE_STATUS_LABELS.get(invoice.status, invoice.status)


def seat_change_notes(session: Session, *, org_id: int, invoices: list[Invoice]) -> dict[int, str]:
    """What each seat invoice says about seat changes: a prorated change's own invoice names
    the change; a period's invoice lists the seat counts from each change date in its period
    (it was issued for the count at its start) and where each difference is invoiced."""
    changes = session.exec(
        select(SeatChange).where(SeatChange.org_id == org_id).order_by(col(SeatChange.at))
    ).all()
    if not changes:
        return {}
    numbers = dict(
        session.exec(select(Invoice.id, Invoice.number).where(Invoice.org_id == org_id)).all()
    )
    own = {c.invoice_id: c for c in changes if c.invoice_id is not None}
    notes: dict[int, str] = {}
    for inv in invoices:
        if inv.kind != "seats":
            continue
        if inv.id in own:
            c = own[inv.id]
            notes[inv.id] = f"Seats {c.from_seats} → {c.to_seats} from {c.at:%Y-%m-%d}"
            continue
        during = [c for c in changes if inv.period_start <= c.at.date() <= inv.period_end]
        parts = []
        for c in during:
            billed = (
                f" ({usd_cents(c.prorated_cents)} on {numbers[c.invoice_id]})"
                if c.invoice_id in numbers
                else ""
            )
            parts.append(f"{c.to_seats} seats from {c.at:%Y-%m-%d}{billed}")
        if parts:
            notes[inv.id] = "; ".join(parts)
    return notes


def list_invoices(session: Session, *, actor: Actor) -> list[InvoiceRow]:
    """Invoices of the organization, newest first (by issue date, then number)."""
    ensure_allowed(actor, "billing.view")
    invoices = session.exec(
        select(Invoice)
        .where(Invoice.org_id == actor.org_id)
        .order_by(col(Invoice.issued_at).desc(), col(Invoice.number).desc(), col(Invoice.id).desc())
    ).all()
    today = utcnow().date()
    notes = seat_change_notes(session, org_id=actor.org_id, invoices=list(invoices))
    org = get_org(session, actor)
    parties = {i.id: printed_parties(i, org, today=today) for i in invoices}
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
            note=notes.get(i.id, ""),
            billed_to=parties[i.id].bill_to.company,
            seller_recorded=parties[i.id].seller_recorded,
            parties_note=parties[i.id].note,
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


@dataclass(frozen=True)
class InvoiceSetup:
    """What the Invoices tab says about the invoices it issues and prints."""

    seller: Seller | None  # None: not configured, PDFs refused (see `problem`)
    problem: str  # why no final PDF can be made, naming the settings; "" when it can
    tax: str  # the tax treatment of the next invoice, in words


def invoice_setup(session: Session, *, actor: Actor) -> InvoiceSetup:
    """The seller printed on the organization's invoices (the labelled demo seller for the
    demo organization) or why there is none, and the tax the next invoice gets."""
    ensure_allowed(actor, "billing.view")
    org = get_org(session, actor)
    seller, problem = None, ""
    try:
        seller = seller_for(is_demo=org.is_demo)
    except SellerNotConfigured as exc:
        problem = str(exc)
    try:
        treatment = org_tax_treatment(org)
    except SellerNotConfigured as exc:
        return InvoiceSetup(seller=seller, problem=problem or str(exc), tax=str(exc))
    if treatment.note:
        tax = (
            f"{treatment.note}: no VAT is charged; the customer (in "
            f"{country_name(org.billing_country)}, VAT number {org.billing_tax_id}) accounts "
            "for it."
        )
    elif treatment.rate:
        tax = f"Tax {treatment.rate_text}% of the subtotal (KILO_TAX_RATE) is added."
    else:
        tax = "No tax is added (KILO_TAX_RATE is not set or 0)."
    return InvoiceSetup(seller=seller, problem=problem, tax=tax)


def invoice_pdf(session: Session, *, actor: Actor, invoice_id: int) -> bytes:
    """The invoice as a PDF: the seller and the customer recorded when it was issued
    (`kilo.billing.parties`; the current ones, with a note, where none were recorded), lines,
    tax treatment and the seat changes of its period. Refused (`SellerNotConfigured`) when
    no seller was recorded and a real organization's seller is not configured: no final
    invoice without a seller."""
    from kilo.billing.pdf import render_invoice  # fpdf is loaded only when a PDF is made

    invoice = get_invoice(session, actor=actor, invoice_id=invoice_id)
    org = get_org(session, actor)
    parties = printed_parties(invoice, org)
    if parties.seller is None:
        raise SellerNotConfigured(parties.problem)
    note = seat_change_notes(session, org_id=org.id, invoices=[invoice]).get(invoice.id, "")
    return render_invoice(
        invoice,
        seller=parties.seller,
        bill_to=parties.bill_to,
        status=display_status(invoice),
        seat_note=note,
        parties_note=parties.note,
    )
