"""Refunds of credit top-ups: the owner's refund (through Stripe when it was paid there) and
refunds Stripe reports, recorded once per invoice and cumulative amount."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

import kilo.billing.stripe_gateway as gateway
from kilo import audit
from kilo.billing.account import get_org
from kilo.billing.invoices import INVOICE_KIND_LABELS, INVOICE_STATUS_LABELS
from kilo.billing.ledger import balance_micros, insert_entry, payment_ref_exists
from kilo.billing.stripe_gateway import USE_ENV, StripeConfig, UseEnv, resolve_config
from kilo.db import lock_organization
from kilo.errors import Conflict, NotFound, ValidationError
from kilo.models import Invoice, Organization, Payment, utcnow
from kilo.money import MICROS_PER_CENT, usd, usd_cents
from kilo.permissions import Actor, ensure_allowed


def record_refund(
    session: Session,
    *,
    org: Organization,
    actor: Actor,
    invoice: Invoice,
    refunded_total_cents: int,
    source: str,
    at: datetime | None = None,
) -> Payment | None:
    """Bring the invoice's refunded amount up to `refunded_total_cents` (cumulative).

    Keyed by invoice and cumulative amount, so the owner's refund and Stripe's later
    `charge.refunded` event for the same refund are recorded once. Top-up refunds also
    remove the refunded credits from the ledger.
    """
    lock_organization(session, org.id)
    session.refresh(invoice)
    delta = refunded_total_cents - invoice.refunded_cents
    if delta <= 0:
        return None
    ref = f"refund:{invoice.id}:{refunded_total_cents}"
    if payment_ref_exists(session, ref):
        return None
    now = at or utcnow()
    payment = Payment(
        org_id=org.id,
        at=now,
        invoice_id=invoice.id,
        amount_cents=-delta,
        status="refunded",
        method="refund" if source != "demo" else "refund (demo)",
        description=f"Refund of {invoice.number}",
        external_ref=ref,
    )
    session.add(payment)
    credits = 0
    if invoice.kind == "top-up" and invoice.total_cents > 0:
        # Credits bought exclude tax: remove the refunded share of the subtotal.
        credits = delta * MICROS_PER_CENT * invoice.subtotal_cents // invoice.total_cents
        insert_entry(
            session,
            org_id=org.id,
            at=now,
            kind="refund",
            amount_micros=-credits,
            description=f"Refund of {invoice.number}",
            external_ref=ref,
            actor_id=actor.id,
            invoice_id=invoice.id,
        )
    invoice.refunded_cents = refunded_total_cents
    if refunded_total_cents >= invoice.total_cents:
        invoice.status = "refunded"
    session.add(invoice)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="billing.refund",
        target=invoice.number,
        at=now,
        message=f"Refunded {usd_cents(delta)} of {invoice.number}"
        + (f" ({usd(credits)} of credits removed)" if credits else "")
        + (" (demo mode)" if source == "demo" else ""),
        details={
            "invoice": invoice.number,
            "amount_cents": delta,
            "refunded_total_cents": refunded_total_cents,
            "credits_micros": credits,
            "source": source,
        },
    )
    return payment


def refund_purchase(
    session: Session,
    *,
    actor: Actor,
    invoice_id: int,
    amount_cents: int | None = None,
    config: StripeConfig | None | UseEnv = USE_ENV,
) -> Payment:
    """Owner refunds unused credits of a top-up (all that is left by default)."""
    ensure_allowed(actor, "billing.change")
    lock_organization(session, actor.org_id)
    invoice = session.get(Invoice, invoice_id)
    if invoice is None or invoice.org_id != actor.org_id:
        raise NotFound("That invoice does not exist.")
    if invoice.kind != "top-up" or invoice.status != "paid":
        raise ValidationError(
            f"Only paid credit top-ups can be refunded here; {invoice.number} "
            f"is {INVOICE_STATUS_LABELS.get(invoice.status, invoice.status)} "
            f"({INVOICE_KIND_LABELS.get(invoice.kind, invoice.kind)})."
        )
    left = invoice.total_cents - invoice.refunded_cents
    amount = left if amount_cents is None else amount_cents
    if not isinstance(amount, int) or not 0 < amount <= left:
        raise ValidationError(f"Refund between $0.01 and {usd_cents(left)} of {invoice.number}.")
    balance = balance_micros(session, org_id=actor.org_id)
    credits = amount * MICROS_PER_CENT * invoice.subtotal_cents // invoice.total_cents
    if credits > balance:
        raise ValidationError(
            f"Only {usd(max(balance, 0))} of credits are unused; refund at "
            "most that much (spent credits cannot be refunded)."
        )
    payment = session.exec(
        select(Payment).where(Payment.invoice_id == invoice.id, Payment.status == "succeeded")
    ).first()
    cfg = resolve_config(config)
    org = get_org(session, actor)
    source = "demo"
    if payment is not None and payment.stripe_payment_intent:
        if cfg is None:
            raise ValidationError(
                f"{invoice.number} was paid through Stripe; configure "
                "STRIPE_SECRET_KEY to refund it."
            )
        gateway.create_refund(
            cfg,
            payment_intent=payment.stripe_payment_intent,
            amount_cents=amount,
            idempotency_key=f"kilo-refund-{invoice.id}-{invoice.refunded_cents + amount}",
        )
        source = "stripe"
    result = record_refund(
        session,
        org=org,
        actor=actor,
        invoice=invoice,
        refunded_total_cents=invoice.refunded_cents + amount,
        source=source,
    )
    if result is None:  # a concurrent refund got there first
        raise Conflict("That refund was already recorded; reload the page.")
    return result
