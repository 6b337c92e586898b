"""Stripe webhooks: Stripe's state into the local ledger (`sync-stripe` is `stripe_sync`).

Webhooks and sync are idempotent: every effect is keyed by a unique external reference (the
Checkout Session, the invoice and its outcome, the cumulative refunded amount), so the
same event, a replay, the return from Checkout and a sync all record a payment once.

Handled webhook events: `checkout.session.completed` (and `.async_payment_succeeded`),
`invoice.paid`, `invoice.payment_failed`, `charge.refunded`. The dashboard's server
receives them at `POST /api/v1/stripe/webhook` (`api/webhooks.py`), which calls
`apply_webhook(body, Stripe-Signature header)` and answers 400 on
`stripe.SignatureVerificationError`. Verifying needs only STRIPE_WEBHOOK_SECRET.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlmodel import Session, select

import kilo.billing.stripe_gateway as gateway
from kilo import audit
from kilo.billing.purchases import apply_checkout_session, org_of_checkout
from kilo.billing.refunds import record_refund
from kilo.billing.stripe_invoices import invoice_paid, invoice_payment_failed, stripe_actor
from kilo.db import write_session
from kilo.errors import ValidationError
from kilo.models import Invoice, Organization, Payment


class WebhookNotConfigured(ValidationError):
    """No webhook secret is configured, so no webhook can be verified (or applied)."""


@dataclass(frozen=True)
class WebhookResult:
    event_id: str
    event_type: str
    outcome: str  # what happened, e.g. "applied", "already applied", "ignored: ..."


def apply_webhook(
    payload: bytes | str,
    sig_header: str | None,
    secret: str | None = None,
    *,
    session: Session | None = None,
) -> WebhookResult:
    """Verify a Stripe webhook's signature, then apply the event idempotently.

    Raises `stripe.SignatureVerificationError` (answer 400) before touching the database
    when the signature or its timestamp is wrong. `secret` defaults to
    STRIPE_WEBHOOK_SECRET (no STRIPE_SECRET_KEY needed: nothing here calls Stripe's API);
    without one, `WebhookNotConfigured`. Without `session`, the event is applied in its own
    transaction.
    """
    secret = secret or gateway.webhook_secret()
    if not secret:
        raise WebhookNotConfigured("STRIPE_WEBHOOK_SECRET is not set; webhooks cannot be verified.")
    gateway.verify_webhook(payload, sig_header, secret)
    event = json.loads(payload)
    if session is not None:
        return apply_event(session, event)
    with write_session() as own:
        return apply_event(own, event)


def apply_event(session: Session, event: dict) -> WebhookResult:
    """Apply an already verified event (a dict as Stripe sends it)."""
    etype, obj = event.get("type", ""), (event.get("data") or {}).get("object") or {}
    result = "ignored: not an event kilo handles"
    if etype in (
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.expired",
    ):
        org = org_of_checkout(session, obj)
        if org is None:
            result = _no_org(obj)
        elif obj.get("mode") == "subscription":
            result = _link_subscription(session, org, obj.get("subscription"))
        else:
            outcome = apply_checkout_session(session, org=org, cs=obj, actor=stripe_actor(org))
            result = outcome.status.replace("_", " ")
    elif etype in ("invoice.paid", "invoice.payment_failed"):
        org = _org_of_customer(session, obj)
        result = (
            _no_org(obj)
            if org is None
            else (
                invoice_paid(session, org=org, inv=obj)
                if etype == "invoice.paid"
                else invoice_payment_failed(session, org=org, inv=obj)
            )
        )
    elif etype == "charge.refunded":
        result = charge_refunded(session, charge=obj)
    return WebhookResult(event_id=str(event.get("id", "")), event_type=etype, outcome=result)


def _link_subscription(session: Session, org: Organization, subscription: object) -> str:
    """A seats subscription bought through Checkout: remember it for seat changes."""
    if not isinstance(subscription, str) or org.stripe_subscription_id == subscription:
        return "already applied" if isinstance(subscription, str) else "ignored: no subscription"
    old, org.stripe_subscription_id = org.stripe_subscription_id, subscription
    session.add(org)
    audit.record(
        session,
        actor=stripe_actor(org),
        action="billing.subscription.link",
        target=subscription,
        message=f"Linked Stripe subscription {subscription}",
        details={"before": old, "after": subscription},
    )
    return "applied"


def _no_org(obj: dict) -> str:
    return f"ignored: no organization has Stripe customer {obj.get('customer')}"


def _org_of_customer(session: Session, obj: dict) -> Organization | None:
    meta = obj.get("metadata") or {}
    if str(meta.get("kilo_org_id", "")).isdigit():
        org = session.get(Organization, int(meta["kilo_org_id"]))
        if org is not None:
            return org
    if not obj.get("customer"):
        return None
    return session.exec(
        select(Organization).where(Organization.stripe_customer_id == obj["customer"])
    ).first()


def charge_refunded(session: Session, *, charge: dict) -> str:
    """Record a refund made in Stripe (or confirm one made from the dashboard), once."""
    pi = charge.get("payment_intent") if isinstance(charge.get("payment_intent"), str) else None
    conditions = [Payment.stripe_charge_id == charge.get("id")]
    if pi:
        conditions.append(Payment.stripe_payment_intent == pi)
    payment = None
    for cond in conditions:
        payment = session.exec(select(Payment).where(cond, Payment.status == "succeeded")).first()
        if payment is not None:
            break
    invoice = session.get(Invoice, payment.invoice_id) if payment and payment.invoice_id else None
    if invoice is None and isinstance(charge.get("invoice"), str):
        invoice = session.exec(
            select(Invoice).where(Invoice.stripe_invoice_id == charge["invoice"])
        ).first()
    if invoice is None:
        return f"ignored: no local payment for charge {charge.get('id')}"
    org = session.get(Organization, invoice.org_id)
    done = record_refund(
        session,
        org=org,
        actor=stripe_actor(org),
        invoice=invoice,
        refunded_total_cents=int(charge.get("amount_refunded") or 0),
        source="stripe",
    )
    return "applied" if done else "already applied"
