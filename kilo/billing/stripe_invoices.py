"""Stripe invoices into the local records: the local copy of a Stripe invoice and its
status, payments recorded once per invoice and attempt, and credits for a paid credit
invoice (through the ledger). Called by the webhooks and by `sync-stripe`."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlmodel import Session, select

from kilo import audit
from kilo.billing.invoices import INVOICE_STATUS_LABELS
from kilo.billing.issue import issue_number
from kilo.billing.ledger import insert_entry, ledger_ref_exists, payment_ref_exists
from kilo.billing.parties import record_parties
from kilo.billing.seller import REVERSE_CHARGE_NOTE
from kilo.db import lock_organization
from kilo.models import Invoice, Organization, Payment, utcnow
from kilo.money import MICROS_PER_CENT, usd_cents
from kilo.permissions import Actor, system_actor

WEBHOOK_ACTOR = "Stripe webhook"
_STRIPE_STATUS = {
    "draft": "draft",
    "open": "open",
    "paid": "paid",
    "void": "void",
    "uncollectible": "uncollectible",
}


def stripe_actor(org: Organization) -> Actor:
    """The system actor that changes Stripe reports are recorded and audited under."""
    return system_actor(org.id, name=WEBHOOK_ACTOR)


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


DRAFT_PREFIX = "draft-"


def _draft_number(inv: dict) -> str:
    """A placeholder until the invoice is issued (Stripe finalizes it): drafts take no number."""
    return f"{DRAFT_PREFIX}{inv['id']}"[:40]


def _issued_number(session: Session, *, org: Organization, inv: dict, at: datetime) -> str:
    """Stripe's own number (its series), else the next of ours when Stripe has none or it
    clashes with one we hold."""
    number = str(inv.get("number") or "")[:40]
    if not number or session.exec(select(Invoice.id).where(Invoice.number == number)).first():
        return issue_number(session, org_id=org.id, at=at)
    return number


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
        or utcnow()
    )
    start = start or (_ts(inv.get("period_start")) or created).date()
    end = end or (_ts(inv.get("period_end")) or created).date()
    status = _STRIPE_STATUS.get(inv.get("status") or "open", "open")
    if local is None:
        local = Invoice(
            org_id=org.id,
            number=_draft_number(inv),
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
    if local.number.startswith(DRAFT_PREFIX) and status != "draft":
        local.number = _issued_number(session, org=org, inv=inv, at=created)
        # Issued (finalized by Stripe): the parties are recorded as they are now, the
        # nearest this app knows to the moment Stripe issued it.
        local.parties = record_parties(org)
    local.currency = (inv.get("currency") or "usd").lower()
    local.subtotal_cents = int(inv.get("subtotal") or 0)
    local.tax_cents = _tax_cents(inv)
    # Stripe marks a reverse-charged customer "reverse": say so instead of a zero tax line.
    if inv.get("customer_tax_exempt") == "reverse" and not local.tax_cents:
        local.tax_note = REVERSE_CHARGE_NOTE
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
        label = INVOICE_STATUS_LABELS
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
    if payment_ref_exists(session, ref):
        return "already applied"
    actor = stripe_actor(org)
    amount = int(inv.get("amount_paid") or local.total_cents)
    charge, pi = _charge_of(inv)
    session.add(
        Payment(
            org_id=org.id,
            at=local.paid_at or utcnow(),
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
        and not ledger_ref_exists(session, f"stripe:invoice:{inv['id']}")
    ):
        insert_entry(
            session,
            org_id=org.id,
            at=local.paid_at or utcnow(),
            kind="purchase",
            amount_micros=local.subtotal_cents * MICROS_PER_CENT,
            description=f"Credit purchase {usd_cents(local.subtotal_cents)} "
            f"(invoice {local.number})",
            external_ref=f"stripe:invoice:{inv['id']}",
            invoice_id=local.id,
        )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="billing.invoice.paid",
        target=local.number,
        message=f"Invoice {local.number} paid: {usd_cents(amount)}",
        details={"stripe_invoice_id": inv["id"], "amount_cents": amount, "kind": local.kind},
    )
    return "applied"


def invoice_payment_failed(session: Session, *, org: Organization, inv: dict) -> str:
    """Record the failed attempt and show the invoice as past due, once per attempt."""
    local, _ = upsert_stripe_invoice(session, org=org, inv=inv)
    attempt = int(inv.get("attempt_count") or 1)
    ref = f"stripe:invoice:{inv['id']}:failed:{attempt}"
    if payment_ref_exists(session, ref):
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
            at=utcnow(),
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
        actor=stripe_actor(org),
        action="billing.invoice.payment_failed",
        target=local.number,
        message=f"Payment of invoice {local.number} failed (attempt {attempt}): "
        f"{usd_cents(amount)}",
        details={"stripe_invoice_id": inv["id"], "attempt": attempt},
    )
    return "applied"
