"""`sync-stripe`: pull an organization's checkouts, subscription and invoices from Stripe into
the local records (idempotent, like the webhooks)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, select

import kilo.billing.stripe_gateway as gateway
from kilo import audit
from kilo.billing.purchases import apply_checkout_session
from kilo.billing.stripe_gateway import StripeConfig
from kilo.billing.stripe_invoices import invoice_paid, upsert_stripe_invoice
from kilo.db import lock_organization
from kilo.models import CheckoutSession, Organization
from kilo.permissions import Actor, ensure_allowed, system_actor


@dataclass
class SyncReport:
    purchases_applied: int = 0
    checkouts_expired: int = 0
    invoices_changed: int = 0
    notes: list[str] = field(default_factory=list)


def sync_stripe(session: Session, *, actor: Actor, config: StripeConfig) -> SyncReport:
    """Pull the organization's checkouts, subscription and invoices from Stripe."""
    ensure_allowed(actor, "billing.change")
    # First: linking a subscription below is audited (the audit chain's lock) before the
    # invoices take the organization's lock; every writer takes them in the other order.
    lock_organization(session, actor.org_id)
    org = session.get(Organization, actor.org_id)
    report = SyncReport()
    seen: set[str] = set()

    def apply(cs: dict) -> None:
        if cs["id"] in seen:
            return
        seen.add(cs["id"])
        outcome = apply_checkout_session(
            session, org=org, cs=cs, actor=system_actor(org.id, "Stripe sync")
        )
        report.purchases_applied += outcome.status == "applied"
        report.checkouts_expired += outcome.status == "expired"

    for local in session.exec(
        select(CheckoutSession).where(
            CheckoutSession.org_id == org.id, CheckoutSession.status == "open"
        )
    ).all():
        if local.stripe_session_id.startswith("cs_"):
            apply(gateway.retrieve_checkout_session(config, local.stripe_session_id))
    if not org.stripe_customer_id:
        report.notes.append("No Stripe customer yet (no purchase started); nothing else to sync.")
        return report
    for cs in gateway.list_checkout_sessions(config, customer=org.stripe_customer_id):
        apply(cs)
    if not org.stripe_subscription_id:
        subs = gateway.list_subscriptions(config, customer=org.stripe_customer_id)
        if subs:
            org.stripe_subscription_id = subs[0]["id"]
            session.add(org)
            audit.record(
                session,
                actor=actor,
                action="billing.subscription.link",
                target=subs[0]["id"],
                message=f"Linked Stripe subscription {subs[0]['id']}",
                details={"subscription": subs[0]["id"]},
            )
            report.notes.append(f"Linked subscription {subs[0]['id']}.")
    if org.stripe_subscription_id:
        sub = gateway.retrieve_subscription(config, org.stripe_subscription_id)
        items = (sub.get("items") or {}).get("data") or []
        if items and int(items[0].get("quantity") or 0) != org.seats:
            report.notes.append(
                f"Stripe bills {items[0].get('quantity')} seats but the "
                f"organization has {org.seats}; change seats on the "
                "Organization tab to bring them in line."
            )
    for inv in gateway.list_invoices(config, customer=org.stripe_customer_id):
        if (inv.get("status") or "") == "draft":
            continue
        if inv.get("status") == "paid":
            report.invoices_changed += invoice_paid(session, org=org, inv=inv) == "applied"
        else:
            _, changed = upsert_stripe_invoice(session, org=org, inv=inv, actor=actor)
            report.invoices_changed += changed
    return report
