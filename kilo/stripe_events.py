"""Stripe webhooks and `python -m kilo sync-stripe`: Stripe's state into the local ledger.

Both paths are idempotent: every effect is keyed by a unique external reference (the
Checkout Session, the invoice and its outcome, the cumulative refunded amount), so the
same event, a replay, the return from Checkout and a sync all record a payment once.

Handled webhook events: `checkout.session.completed` (and `.async_payment_succeeded`),
`invoice.paid`, `invoice.payment_failed`, `charge.refunded`. The dashboard's server
receives them at `POST /api/v1/stripe/webhook` (`api/webhooks.py`), which calls
`apply_webhook(body, Stripe-Signature header)` and answers 400 on
`stripe.SignatureVerificationError`. Verifying needs only STRIPE_WEBHOOK_SECRET.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlmodel import Session, select

from kilo import audit, billing
from kilo import stripe_gateway as gateway
from kilo.db import lock_organization
from kilo.errors import ValidationError
from kilo.models import CheckoutSession, Invoice, LedgerEntry, Organization, Payment
from kilo.permissions import Actor, ensure_allowed, system_actor
from kilo.stripe_gateway import StripeConfig

WEBHOOK_ACTOR = "Stripe webhook"
_STRIPE_STATUS = {
    "draft": "draft",
    "open": "open",
    "paid": "paid",
    "void": "void",
    "uncollectible": "uncollectible",
}


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
    from kilo.db import write_session

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
        org = billing._org_of_checkout(session, obj)
        if org is None:
            result = _no_org(obj)
        elif obj.get("mode") == "subscription":
            result = _link_subscription(session, org, obj.get("subscription"))
        else:
            outcome = billing.apply_checkout_session(
                session, org=org, cs=obj, actor=_stripe_actor(org)
            )
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
        actor=_stripe_actor(org),
        action="billing.subscription.link",
        target=subscription,
        message=f"Linked Stripe subscription {subscription}",
        details={"before": old, "after": subscription},
    )
    return "applied"


def _stripe_actor(org: Organization) -> Actor:
    return system_actor(org.id, name=WEBHOOK_ACTOR)


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


def _ts(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def _invoice_kind(inv: dict) -> str:
    parent = inv.get("parent") or {}
    if (
        inv.get("subscription")
        or parent.get("subscription_details")
        or str(inv.get("billing_reason") or "").startswith("subscription")
    ):
        return "seats"
    if (inv.get("metadata") or {}).get("kilo_kind") == "credits":
        return "top-up"
    return "other"


def _invoice_lines(inv: dict) -> tuple[list[dict], date | None, date | None]:
    lines, starts, ends = [], [], []
    for line in (inv.get("lines") or {}).get("data") or []:
        qty = int(line.get("quantity") or 1)
        amount = int(line.get("amount") or 0)
        price = line.get("price") or (line.get("pricing") or {}).get("price_details") or {}
        unit = price.get("unit_amount") if isinstance(price, dict) else None
        lines.append(
            {
                "description": line.get("description") or "Stripe line item",
                "quantity": qty,
                "unit_cents": int(unit) if unit is not None else amount // max(qty, 1),
                "amount_cents": amount,
            }
        )
        period = line.get("period") or {}
        if period.get("start"):
            starts.append(_ts(period["start"]).date())
        if period.get("end"):
            ends.append(_ts(period["end"]).date())
    return lines, min(starts, default=None), max(ends, default=None)


def _tax_cents(inv: dict) -> int:
    if isinstance(inv.get("tax"), int):
        return inv["tax"]
    amounts = inv.get("total_tax_amounts") or inv.get("total_taxes") or []
    return sum(int(t.get("amount") or 0) for t in amounts)


def upsert_stripe_invoice(
    session: Session, *, org: Organization, inv: dict, actor: Actor | None = None
) -> tuple[Invoice, bool]:
    """The local copy of a Stripe invoice (created or brought up to date); True if its status
    changed (or it is new). With `actor`, a new invoice or a changed status writes a
    `billing.invoice.status_change` audit entry (the webhooks' own entries say what happened).
    """
    lock_organization(session, org.id)
    local = session.exec(select(Invoice).where(Invoice.stripe_invoice_id == inv["id"])).first()
    before = local.status if local is not None else None
    lines, start, end = _invoice_lines(inv)
    created = (
        _ts(inv.get("created"))
        or _ts((inv.get("status_transitions") or {}).get("finalized_at"))
        or billing.utcnow()
    )
    start = start or (_ts(inv.get("period_start")) or created).date()
    end = end or (_ts(inv.get("period_end")) or created).date()
    status = _STRIPE_STATUS.get(inv.get("status") or "open", "open")
    if local is None:
        number = inv.get("number")
        if not number or session.exec(select(Invoice.id).where(Invoice.number == number)).first():
            number = billing.next_invoice_number(session, org_id=org.id, at=created)
        local = Invoice(
            org_id=org.id,
            number=number[:40],
            kind=_invoice_kind(inv),
            issued_at=created,
            period_start=min(start, end),
            period_end=end,
            status=status,
            stripe_invoice_id=inv["id"],
        )
        changed = True
    else:
        # A refund or recorded failure is kept until Stripe reports a newer outcome.
        keep = {"refunded": ("paid",), "past_due": ("open",)}
        if status in keep.get(local.status, ()):
            status = local.status
        changed = local.status != status
    local.status = status
    local.currency = (inv.get("currency") or "usd").lower()
    local.subtotal_cents = int(inv.get("subtotal") or 0)
    local.tax_cents = _tax_cents(inv)
    local.total_cents = int(inv.get("total") or 0)
    local.lines = lines or local.lines
    due = _ts(inv.get("due_date"))
    local.due_date = due.date() if due else local.due_date
    paid_at = _ts((inv.get("status_transitions") or {}).get("paid_at"))
    if status == "paid" and paid_at:
        local.paid_at = paid_at
    session.add(local)
    session.flush()
    if changed and actor is not None:
        label = billing.INVOICE_STATUS_LABELS
        message = (
            f"Invoice {local.number} imported from Stripe: {label.get(status, status)}"
            if before is None
            else f"Invoice {local.number}: {label.get(before, before)} → "
            f"{label.get(status, status)} (from Stripe)"
        )
        audit.record(
            session,
            actor=actor,
            action="billing.invoice.status_change",
            target=local.number,
            message=message,
            details={"stripe_invoice_id": inv["id"], "before": before, "after": status},
        )
    return local, changed


def _charge_of(inv: dict) -> tuple[str | None, str | None]:
    charge = inv.get("charge") if isinstance(inv.get("charge"), str) else None
    pi = inv.get("payment_intent") if isinstance(inv.get("payment_intent"), str) else None
    return charge, pi


def invoice_paid(session: Session, *, org: Organization, inv: dict) -> str:
    """Mark the invoice paid and record its payment (and credits for a credit invoice), once."""
    local, _ = upsert_stripe_invoice(session, org=org, inv=inv)
    ref = f"stripe:invoice:{inv['id']}:paid"
    if billing._payment_ref_exists(session, ref):
        return "already applied"
    actor = _stripe_actor(org)
    amount = int(inv.get("amount_paid") or local.total_cents)
    charge, pi = _charge_of(inv)
    session.add(
        Payment(
            org_id=org.id,
            at=local.paid_at or billing.utcnow(),
            invoice_id=local.id,
            amount_cents=amount,
            currency=local.currency,
            status="succeeded",
            method="card" if inv.get("collection_method") != "send_invoice" else "bank transfer",
            description=f"Stripe invoice {local.number}",
            external_ref=ref,
            stripe_payment_intent=pi,
            stripe_charge_id=charge,
        )
    )
    if (
        local.kind == "top-up"
        and local.currency == "usd"
        and not billing._ledger_ref_exists(session, f"stripe:invoice:{inv['id']}")
    ):
        session.add(
            LedgerEntry(
                org_id=org.id,
                at=local.paid_at or billing.utcnow(),
                kind="purchase",
                amount_micros=local.subtotal_cents * billing.MICROS_PER_CENT,
                description=f"Credit purchase {billing.usd_cents(local.subtotal_cents)} "
                f"(invoice {local.number})",
                external_ref=f"stripe:invoice:{inv['id']}",
                invoice_id=local.id,
            )
        )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="billing.invoice.paid",
        target=local.number,
        message=f"Invoice {local.number} paid: {billing.usd_cents(amount)}",
        details={"stripe_invoice_id": inv["id"], "amount_cents": amount, "kind": local.kind},
    )
    return "applied"


def invoice_payment_failed(session: Session, *, org: Organization, inv: dict) -> str:
    """Record the failed attempt and show the invoice as past due, once per attempt."""
    local, _ = upsert_stripe_invoice(session, org=org, inv=inv)
    attempt = int(inv.get("attempt_count") or 1)
    ref = f"stripe:invoice:{inv['id']}:failed:{attempt}"
    if billing._payment_ref_exists(session, ref):
        return "already applied"
    if local.status == "open":
        local.status = "past_due"
        session.add(local)
    charge, pi = _charge_of(inv)
    reason = (inv.get("last_finalization_error") or {}).get(
        "message"
    ) or f"Payment attempt {attempt} failed"
    amount = int(inv.get("amount_due") or local.total_cents)
    session.add(
        Payment(
            org_id=org.id,
            at=billing.utcnow(),
            invoice_id=local.id,
            amount_cents=amount,
            currency=local.currency,
            status="failed",
            method="card",
            description=f"Stripe invoice {local.number}",
            external_ref=ref,
            stripe_payment_intent=pi,
            stripe_charge_id=charge,
            failure_message=reason[:500],
        )
    )
    session.flush()
    audit.record(
        session,
        actor=_stripe_actor(org),
        action="billing.invoice.payment_failed",
        target=local.number,
        message=f"Payment of invoice {local.number} failed (attempt {attempt}): "
        f"{billing.usd_cents(amount)}",
        details={"stripe_invoice_id": inv["id"], "attempt": attempt},
    )
    return "applied"


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
    done = billing.record_refund(
        session,
        org=org,
        actor=_stripe_actor(org),
        invoice=invoice,
        refunded_total_cents=int(charge.get("amount_refunded") or 0),
        source="stripe",
    )
    return "applied" if done else "already applied"


# ---- sync ---------------------------------------------------------------------------


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
        outcome = billing.apply_checkout_session(
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


def cmd_sync_stripe(args: argparse.Namespace) -> int:
    from kilo.db import read_session, write_session

    config = gateway.stripe_config()
    if config is None:
        raise ValidationError(
            "STRIPE_SECRET_KEY is not set; the dashboard is in demo mode and "
            "there is nothing to sync."
        )
    with read_session() as session:
        query = select(Organization.id, Organization.name)
        if args.org is not None:
            query = query.where(Organization.id == args.org)
        orgs = session.exec(query).all()
    if not orgs:
        raise ValidationError(
            "No organization to sync" + (f" with id {args.org}." if args.org is not None else ".")
        )
    for org_id, name in orgs:
        with write_session() as session:
            report = sync_stripe(
                session, actor=system_actor(org_id, "System (sync-stripe)"), config=config
            )
        print(
            f"{name}: {report.purchases_applied} purchase(s) added, "
            f"{report.checkouts_expired} checkout(s) expired, "
            f"{report.invoices_changed} invoice(s) updated."
        )
        for note in report.notes:
            print(f"  {note}")
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sync-stripe",
        help="add paid Stripe purchases and invoices to the ledger",
        description="Fetch each organization's Stripe Checkout Sessions, subscription and "
        "invoices, and record paid purchases, payments and status changes. Safe to run "
        "repeatedly (cron): a payment is recorded exactly once. Needs STRIPE_SECRET_KEY "
        "(STRIPE_API_BASE to use a proxy).",
    )
    p.add_argument(
        "--org",
        type=int,
        default=None,
        metavar="ID",
        help="only this organization id (default: all)",
    )
    p.set_defaults(func=cmd_sync_stripe)
