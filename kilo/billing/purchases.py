"""Buying credits: in demo mode at once, with Stripe through a hosted Checkout Session whose
payment becomes credits exactly once (on return, by webhook or by `sync-stripe`).

A paid purchase is recorded as a top-up invoice, its payment and the credits in the
ledger, once per external reference (`record_credit_purchase`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

import kilo.billing.stripe_gateway as gateway
from kilo import audit
from kilo.billing.account import get_org
from kilo.billing.issue import issue_invoice
from kilo.billing.ledger import insert_entry, ledger_ref_exists
from kilo.billing.stripe_gateway import USE_ENV, StripeConfig, UseEnv, resolve_config
from kilo.db import lock_organization
from kilo.errors import NotFound, ValidationError
from kilo.models import CheckoutSession, LedgerEntry, Organization, Payment, utcnow
from kilo.money import MICROS_PER_CENT, usd_cents
from kilo.permissions import Actor, ensure_allowed

MIN_PURCHASE_CENTS = 1_000  # $10
MAX_PURCHASE_CENTS = 1_000_000  # $10,000
PRESET_PURCHASE_CENTS = (5_000, 10_000, 50_000, 100_000)


def record_credit_purchase(
    session: Session,
    *,
    org: Organization,
    actor: Actor,
    subtotal_cents: int,
    tax_cents: int | None,
    external_ref: str,
    method: str,
    at: datetime | None = None,
    payment_intent: str | None = None,
    charge_id: str | None = None,
    source: str,
) -> LedgerEntry | None:
    """Credits, a paid top-up invoice and its payment, once per `external_ref` (else None).

    `tax_cents` is Stripe's figure for a Stripe purchase; None (demo mode) applies the
    organization's tax treatment on top of the credits bought."""
    lock_organization(session, org.id)
    if ledger_ref_exists(session, external_ref):
        return None
    at = at or utcnow()
    invoice = issue_invoice(
        session,
        org=org,
        kind="top-up",
        at=at,
        status="paid",
        paid_at=at,
        tax_cents=tax_cents,
        lines=[
            {
                "description": "Kilo Gateway credits",
                "quantity": 1,
                "unit_cents": subtotal_cents,
                "amount_cents": subtotal_cents,
            }
        ],
    )
    total = invoice.total_cents
    entry = insert_entry(
        session,
        org_id=org.id,
        at=at,
        kind="purchase",
        amount_micros=subtotal_cents * MICROS_PER_CENT,
        description=f"Credit purchase {usd_cents(subtotal_cents)}"
        + (" (demo)" if source == "demo" else ""),
        external_ref=external_ref,
        actor_id=actor.id,
        invoice_id=invoice.id,
    )
    session.add(
        Payment(
            org_id=org.id,
            at=at,
            invoice_id=invoice.id,
            amount_cents=total,
            status="succeeded",
            method=method,
            description=f"Credit top-up {invoice.number}",
            external_ref=external_ref,
            stripe_payment_intent=payment_intent,
            stripe_charge_id=charge_id,
        )
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="billing.credits.purchase",
        target=invoice.number,
        at=at,
        message=f"Bought {usd_cents(subtotal_cents)} of credits"
        + (" (demo mode, no real payment)" if source == "demo" else " via Stripe"),
        details={
            "amount_cents": subtotal_cents,
            "tax_cents": invoice.tax_cents,
            "external_ref": external_ref,
            "invoice": invoice.number,
            "source": source,
        },
    )
    return entry


@dataclass(frozen=True)
class PurchaseStart:
    mode: str  # "stripe": pay at checkout_url | "demo": already recorded
    amount_cents: int
    session_id: str
    checkout_url: str | None = None


def check_purchase_amount(amount_cents: int) -> int:
    if (
        not isinstance(amount_cents, int)
        or isinstance(amount_cents, bool)
        or not MIN_PURCHASE_CENTS <= amount_cents <= MAX_PURCHASE_CENTS
    ):
        raise ValidationError(
            f"Buy from {usd_cents(MIN_PURCHASE_CENTS)} to "
            f"{usd_cents(MAX_PURCHASE_CENTS)} of credits at a time, in whole "
            "cents."
        )
    return amount_cents


def _link_customer(
    session: Session, *, org: Organization, actor: Actor, customer_id: str, how: str
) -> None:
    """Remember the organization's Stripe customer (audited: payments are matched by it)."""
    before, org.stripe_customer_id = org.stripe_customer_id, customer_id
    session.add(org)
    audit.record(
        session,
        actor=actor,
        action="billing.customer.link",
        target=customer_id,
        message=f"Linked Stripe customer {customer_id} ({how})",
        details={"before": before, "after": customer_id, "source": how},
    )


def _ensure_customer(
    session: Session, org: Organization, config: StripeConfig, actor: Actor
) -> str:
    if not org.stripe_customer_id:
        customer = gateway.create_customer(
            config,
            name=org.billing_company or org.name,
            email=org.billing_email or None,
            org_id=org.id,
        )
        _link_customer(
            session,
            org=org,
            actor=actor,
            customer_id=customer["id"],
            how="created for the first credit purchase",
        )
    return org.stripe_customer_id


def start_credit_purchase(
    session: Session,
    *,
    actor: Actor,
    amount_cents: int,
    return_url: str = "http://localhost:8501/invoices",
    config: StripeConfig | None | UseEnv = USE_ENV,
) -> PurchaseStart:
    """Owner buys credits: a Stripe Checkout Session to pay at, or (demo mode) at once."""
    ensure_allowed(actor, "billing.purchase")
    check_purchase_amount(amount_cents)
    org = get_org(session, actor)
    cfg = resolve_config(config)
    if cfg is None:
        ref = f"demo:{uuid.uuid4().hex}"
        session.add(
            CheckoutSession(
                org_id=org.id,
                stripe_session_id=ref,
                amount_cents=amount_cents,
                status="complete",
                actor_id=actor.id,
                completed_at=utcnow(),
            )
        )
        record_credit_purchase(
            session,
            org=org,
            actor=actor,
            subtotal_cents=amount_cents,
            tax_cents=None,
            external_ref=ref,
            method="demo (no payment)",
            source="demo",
        )
        return PurchaseStart(mode="demo", amount_cents=amount_cents, session_id=ref)
    customer = _ensure_customer(session, org, cfg, actor)
    sep = "&" if "?" in return_url else "?"
    cs = gateway.create_checkout_session(
        cfg,
        customer=customer,
        amount_cents=amount_cents,
        org_id=org.id,
        success_url=f"{return_url}{sep}session_id={{CHECKOUT_SESSION_ID}}",
        cancel_url=f"{return_url}{sep}checkout=cancelled",
        idempotency_key=f"kilo-checkout-{org.id}-{uuid.uuid4().hex}",
    )
    session.add(
        CheckoutSession(
            org_id=org.id,
            stripe_session_id=cs["id"],
            amount_cents=amount_cents,
            status="open",
            actor_id=actor.id,
            url=cs.get("url"),
        )
    )
    audit.record(
        session,
        actor=actor,
        action="billing.credits.checkout",
        target=cs["id"],
        message=f"Started a Stripe Checkout for {usd_cents(amount_cents)} of credits",
        details={"amount_cents": amount_cents, "stripe_session_id": cs["id"]},
    )
    return PurchaseStart(
        mode="stripe", amount_cents=amount_cents, session_id=cs["id"], checkout_url=cs.get("url")
    )


@dataclass(frozen=True)
class CheckoutOutcome:
    status: str  # applied | already_applied | pending | expired | ignored
    amount_cents: int
    message: str


def org_of_checkout(session: Session, cs: dict) -> Organization | None:
    """The organization a Checkout Session is for: from its metadata or client reference,
    else by its Stripe customer; None if no organization matches."""
    meta = cs.get("metadata") or {}
    for candidate in (meta.get("kilo_org_id"), cs.get("client_reference_id")):
        if candidate and str(candidate).isdigit():
            org = session.get(Organization, int(candidate))
            if org is not None:
                return org
    if cs.get("customer"):
        return session.exec(
            select(Organization).where(Organization.stripe_customer_id == cs["customer"])
        ).first()
    return None


def apply_checkout_session(
    session: Session, *, org: Organization, cs: dict, actor: Actor
) -> CheckoutOutcome:
    """Turn a Stripe Checkout Session into credits if it is paid, exactly once."""
    ref = f"stripe:checkout:{cs['id']}"
    subtotal = int(cs.get("amount_subtotal") or cs.get("amount_total") or 0)
    tax = int((cs.get("total_details") or {}).get("amount_tax") or 0)
    local = session.exec(
        select(CheckoutSession).where(CheckoutSession.stripe_session_id == cs["id"])
    ).first()
    if cs.get("mode") not in (None, "payment"):
        return CheckoutOutcome("ignored", 0, f"Checkout {cs['id']} is not a credit purchase.")
    if (cs.get("currency") or "usd").lower() != "usd":
        return CheckoutOutcome(
            "ignored", 0, f"Checkout {cs['id']} is not in USD; credits are bought in USD only."
        )
    if cs.get("payment_status") not in ("paid", "no_payment_required") or subtotal <= 0:
        if cs.get("status") == "expired":
            if local is not None and local.status != "expired":
                local.status = "expired"
                session.add(local)
            return CheckoutOutcome(
                "expired", subtotal, "The checkout expired without payment; nothing was charged."
            )
        return CheckoutOutcome(
            "pending",
            subtotal,
            "The payment is not complete yet; the credits are added when Stripe confirms it.",
        )
    if org.stripe_customer_id is None and isinstance(cs.get("customer"), str):
        _link_customer(
            session,
            org=org,
            actor=actor,
            customer_id=cs["customer"],
            how=f"the customer of paid Checkout Session {cs['id']}",
        )
    entry = record_credit_purchase(
        session,
        org=org,
        actor=actor,
        subtotal_cents=subtotal,
        tax_cents=tax,
        external_ref=ref,
        method=", ".join(cs.get("payment_method_types") or ["card"]),
        payment_intent=cs.get("payment_intent")
        if isinstance(cs.get("payment_intent"), str)
        else None,
        source="stripe",
    )
    if local is None:
        local = CheckoutSession(org_id=org.id, stripe_session_id=cs["id"], amount_cents=subtotal)
    if local.status != "complete":
        local.status, local.completed_at = "complete", utcnow()
        session.add(local)
    if entry is None:
        return CheckoutOutcome(
            "already_applied",
            subtotal,
            f"The purchase of {usd_cents(subtotal)} was already added to the credits.",
        )
    return CheckoutOutcome("applied", subtotal, f"{usd_cents(subtotal)} of credits added.")


def complete_checkout(
    session: Session,
    *,
    actor: Actor,
    stripe_session_id: str,
    config: StripeConfig | None | UseEnv = USE_ENV,
) -> CheckoutOutcome:
    """On return from Stripe (`?session_id=`): add the credits if the session is paid."""
    ensure_allowed(actor, "billing.view")
    cfg = resolve_config(config)
    if cfg is None:
        raise ValidationError(
            "Stripe is not configured (demo mode), so there is no checkout to complete."
        )
    stripe_session_id = (stripe_session_id or "").strip()
    if not stripe_session_id.startswith("cs_"):
        raise ValidationError("That is not a Stripe Checkout Session id.")
    cs = gateway.retrieve_checkout_session(cfg, stripe_session_id)
    org = org_of_checkout(session, cs)
    if org is None or org.id != actor.org_id:
        raise NotFound("That checkout does not belong to your organization.")
    return apply_checkout_session(session, org=org, cs=cs, actor=actor)
