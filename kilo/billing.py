"""Credit ledger, balance, credit purchases, refunds, adjustments, seats and invoices.

Balance (micro-dollars) = sum of ledger entries (purchases, promos, refunds, adjustments)
minus the cost of recorded usage, read from the day x member rollup (the smallest one
holding every day's cost); usage is the derived ledger kind and is never copied into the
ledger. Every ledger entry and payment carries
a unique `external_ref` (its idempotency key), so a Stripe Checkout Session, webhook
event or refund becomes an entry exactly once however often it is seen.

With Stripe configured (`kilo.stripe_gateway.stripe_config()`), purchases go through
Stripe Checkout and seat changes update the subscription quantity; without a key the
dashboard is in demo mode and records purchases and seat changes locally. Webhooks and
`python -m kilo sync-stripe` live in `kilo.stripe_events`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlmodel import Session, col, func, select

from kilo import audit
from kilo import stripe_gateway as gateway
from kilo.db import lock_organization
from kilo.errors import Conflict, NotFound, ValidationError
from kilo.members import seats_in_use
from kilo.models import (
    CheckoutSession,
    Invoice,
    LedgerEntry,
    Member,
    Organization,
    Payment,
    SeatChange,
    UsageDailyMember,
    utcnow,
)
from kilo.permissions import Actor, allowed, ensure_allowed
from kilo.rollups.query import total_cost_micros
from kilo.stripe_gateway import StripeConfig
from kilo.validation import check_printable

MAX_SEATS = 10_000
MICROS_PER_CENT = 10_000
MIN_PURCHASE_CENTS = 1_000  # $10
MAX_PURCHASE_CENTS = 1_000_000  # $10,000
PRESET_PURCHASE_CENTS = (5_000, 10_000, 50_000, 100_000)
MAX_ADJUSTMENT_MICROS = 100_000 * 1_000_000  # $100,000 per manual entry
MAX_ALERT_MICROS = 1_000_000 * 1_000_000
RUNWAY_WINDOW_DAYS = 30
MANUAL_KINDS = ("adjustment", "promo")
LEDGER_KIND_LABELS = {
    "purchase": "Credit purchase",
    "usage": "Usage",
    "promo": "Promotional credit",
    "refund": "Refund",
    "adjustment": "Adjustment",
}
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


class _UseEnv:
    def __repr__(self) -> str:
        return "USE_ENV"


USE_ENV: Any = _UseEnv()  # default for `config`: read Stripe settings from the environment


def resolve_config(config: StripeConfig | None | _UseEnv = USE_ENV) -> StripeConfig | None:
    """`USE_ENV` reads the environment; None forces demo mode; a StripeConfig is used as is."""
    return gateway.stripe_config() if isinstance(config, _UseEnv) else config


def usd(micros: int) -> str:
    """Micro-dollars as exact dollars for messages, e.g. -1_500_000 -> -$1.50."""
    value = (Decimal(micros) / 1_000_000).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
    return f"{'-' if value < 0 else ''}${abs(value):,.2f}"


def usd_cents(cents: int) -> str:
    return usd(cents * MICROS_PER_CENT)


def _org(session: Session, actor: Actor) -> Organization:
    org = session.get(Organization, actor.org_id)
    if org is None:
        raise NotFound("The organization does not exist.")
    return org


# ---- balance ----------------------------------------------------------------------


def ledger_total_micros(session: Session, *, org_id: int) -> int:
    return int(
        session.exec(
            select(func.coalesce(func.sum(LedgerEntry.amount_micros), 0)).where(
                LedgerEntry.org_id == org_id
            )
        ).one()
    )


def usage_cost_micros(session: Session, *, org_id: int) -> int:
    """Cost of all recorded usage, from the smallest usage rollup."""
    return total_cost_micros(session, org_id=org_id)


def balance_micros(session: Session, *, org_id: int) -> int:
    """Available credits: the ledger's sum minus the cost of all recorded usage."""
    return ledger_total_micros(session, org_id=org_id) - usage_cost_micros(session, org_id=org_id)


def average_daily_spend_micros(
    session: Session, *, org_id: int, today: date | None = None, days: int = RUNWAY_WINDOW_DAYS
) -> int:
    """Usage cost of the last `days` days (today included) divided by `days`, from the rollup."""
    today = today or utcnow().date()
    total = total_cost_micros(
        session, org_id=org_id, start=today - timedelta(days=days - 1), end=today
    )
    return total // days


def runway_days(balance: int, daily_spend: int) -> int | None:
    """Whole days the balance lasts at `daily_spend`; None when nothing is being spent."""
    if daily_spend <= 0:
        return None
    return max(0, balance) // daily_spend


@dataclass(frozen=True)
class BillingSummary:
    org_name: str
    mode: str  # "stripe" | "demo"
    balance_micros: int
    credits_micros: int  # ledger sum
    usage_micros: int
    avg_daily_spend_micros: int
    runway_days: int | None
    low_balance_alert_micros: int
    seats: int
    seats_used: int
    seat_price_cents: int
    billing_company: str
    billing_address: str
    billing_tax_id: str
    billing_email: str
    stripe_customer_id: str | None
    stripe_subscription_id: str | None

    @property
    def below_alert(self) -> bool:
        return (
            self.low_balance_alert_micros > 0
            and self.balance_micros < self.low_balance_alert_micros
        )

    @property
    def monthly_seat_cents(self) -> int:
        return self.seats * self.seat_price_cents


def get_billing_summary(
    session: Session,
    *,
    actor: Actor,
    config: StripeConfig | None | _UseEnv = USE_ENV,
    today: date | None = None,
) -> BillingSummary:
    """The figures at the top of the Invoices tab."""
    ensure_allowed(actor, "billing.view")
    org = _org(session, actor)
    credits = ledger_total_micros(session, org_id=org.id)
    used = usage_cost_micros(session, org_id=org.id)
    daily = average_daily_spend_micros(session, org_id=org.id, today=today)
    return BillingSummary(
        org_name=org.name,
        mode="stripe" if resolve_config(config) else "demo",
        balance_micros=credits - used,
        credits_micros=credits,
        usage_micros=used,
        avg_daily_spend_micros=daily,
        runway_days=runway_days(credits - used, daily),
        low_balance_alert_micros=org.low_balance_alert_micros,
        seats=org.seats,
        seats_used=seats_in_use(session, org_id=org.id),
        seat_price_cents=org.seat_price_cents,
        billing_company=org.billing_company,
        billing_address=org.billing_address,
        billing_tax_id=org.billing_tax_id,
        billing_email=org.billing_email,
        stripe_customer_id=org.stripe_customer_id,
        stripe_subscription_id=org.stripe_subscription_id,
    )


def low_balance_warning(session: Session, *, actor: Actor) -> str | None:
    """A warning for every page when credits are below the owner's alert threshold."""
    org = session.get(Organization, actor.org_id)
    if org is None or org.low_balance_alert_micros <= 0:
        return None
    balance = balance_micros(session, org_id=org.id)
    if balance >= org.low_balance_alert_micros:
        return None
    what = "Credits are used up" if balance <= 0 else f"Credits are low: {usd(balance)} left"
    todo = (
        "Buy credits on the Invoices tab."
        if allowed(actor, "billing.purchase")
        else "Ask an owner to buy credits."
    )
    return f"{what} (alert below {usd(org.low_balance_alert_micros)}). {todo}"


def set_low_balance_alert(session: Session, *, actor: Actor, threshold_micros: int) -> Organization:
    """Owner sets the balance below which every page warns (0 turns the warning off)."""
    ensure_allowed(actor, "billing.change")
    if not isinstance(threshold_micros, int) or not 0 <= threshold_micros <= MAX_ALERT_MICROS:
        raise ValidationError(f"The alert threshold must be from $0 to {usd(MAX_ALERT_MICROS)}.")
    org = _org(session, actor)
    old = org.low_balance_alert_micros
    if old == threshold_micros:
        return org
    org.low_balance_alert_micros = threshold_micros
    session.add(org)
    off = "off"
    audit.record(
        session,
        actor=actor,
        action="billing.alert.change",
        target="low_balance_alert",
        message=f"Low-balance alert: {usd(old) if old else off} → "
        f"{usd(threshold_micros) if threshold_micros else off}",
        details={"before_micros": old, "after_micros": threshold_micros},
    )
    return org


BILLING_FIELDS = {
    "billing_company": ("Company name", 200),
    "billing_address": ("Address", 500),
    "billing_tax_id": ("Tax ID", 60),
    "billing_email": ("Invoice email", 254),
}


def update_billing_details(
    session: Session, *, actor: Actor, company: str, address: str, tax_id: str, email: str
) -> Organization:
    """Owner edits the details printed on invoices (company, address, tax id, email)."""
    ensure_allowed(actor, "billing.change")
    org = _org(session, actor)
    new = {
        "billing_company": " ".join((company or "").split()),
        "billing_address": "\n".join(
            line.strip() for line in (address or "").strip().splitlines() if line.strip()
        ),
        "billing_tax_id": (tax_id or "").strip(),
        "billing_email": (email or "").strip(),
    }
    for field, (label, limit) in BILLING_FIELDS.items():
        check_printable(new[field], label, multiline=field == "billing_address")
        if len(new[field]) > limit:
            raise ValidationError(f"{label} is too long (at most {limit} characters).")
    if new["billing_email"]:
        local, _, domain = new["billing_email"].partition("@")
        if not local or "." not in domain or " " in new["billing_email"]:
            raise ValidationError(f"“{new['billing_email']}” is not an email address.")
    changes = {f: [getattr(org, f), v] for f, v in new.items() if getattr(org, f) != v}
    if not changes:
        return org
    for field, (_, value) in changes.items():
        setattr(org, field, value)
    session.add(org)
    audit.record(
        session,
        actor=actor,
        action="billing.details.change",
        target="billing_details",
        message="Billing details changed: "
        + ", ".join(BILLING_FIELDS[f][0].lower() for f in changes),
        details={"changes": changes},
    )
    return org


# ---- ledger -----------------------------------------------------------------------


def _ledger_ref_exists(session: Session, ref: str) -> bool:
    return (
        session.exec(select(LedgerEntry.id).where(LedgerEntry.external_ref == ref)).first()
        is not None
    )


def _payment_ref_exists(session: Session, ref: str) -> bool:
    return session.exec(select(Payment.id).where(Payment.external_ref == ref)).first() is not None


def add_ledger_entry(
    session: Session,
    *,
    actor: Actor,
    kind: str,
    amount_micros: int,
    description: str,
    external_ref: str | None = None,
) -> LedgerEntry:
    """Owner records a promotional credit or a manual adjustment (signed) with its reason."""
    ensure_allowed(actor, "billing.change")
    if kind not in MANUAL_KINDS:
        raise ValidationError("Choose “adjustment” or “promo” for a manual ledger entry.")
    if (
        not isinstance(amount_micros, int)
        or amount_micros == 0
        or abs(amount_micros) > MAX_ADJUSTMENT_MICROS
    ):
        raise ValidationError(
            f"The amount must be non-zero and at most {usd(MAX_ADJUSTMENT_MICROS)} either way."
        )
    if kind == "promo" and amount_micros < 0:
        raise ValidationError(
            "Promotional credits add to the balance; use an adjustment to remove credits."
        )
    description = " ".join((description or "").split())
    if not description:
        raise ValidationError("Give a reason; it is shown in the purchase history and audit log.")
    if len(description) > 500:
        raise ValidationError("The reason is too long (at most 500 characters).")
    check_printable(description, "The reason")
    lock_organization(session, actor.org_id)
    ref = (external_ref or f"manual:{uuid.uuid4()}").strip()
    if _ledger_ref_exists(session, ref):
        raise Conflict(f"A ledger entry with reference {ref} already exists; nothing was added.")
    entry = LedgerEntry(
        org_id=actor.org_id,
        kind=kind,
        amount_micros=amount_micros,
        description=description,
        external_ref=ref,
        actor_id=actor.id,
    )
    session.add(entry)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="billing.adjustment",
        target=ref,
        message=f"{LEDGER_KIND_LABELS[kind]} of {usd(amount_micros)}: {description}",
        details={"kind": kind, "amount_micros": amount_micros, "external_ref": ref},
    )
    return entry


@dataclass(frozen=True)
class LedgerRow:
    at: datetime
    kind: str
    description: str
    amount_micros: int
    balance_micros: int  # running balance after this row
    reference: str


def list_ledger(session: Session, *, actor: Actor, today: date | None = None) -> list[LedgerRow]:
    """The credit statement: ledger entries plus usage per month (derived), newest first."""
    ensure_allowed(actor, "billing.view")
    today = today or utcnow().date()
    events: list[tuple[datetime, str, str, int, str]] = [
        (e.at, e.kind, e.description, e.amount_micros, e.external_ref)
        for e in session.exec(select(LedgerEntry).where(LedgerEntry.org_id == actor.org_id)).all()
    ]
    per_day = session.exec(
        select(UsageDailyMember.day, func.sum(UsageDailyMember.cost_micros))
        .where(UsageDailyMember.org_id == actor.org_id)
        .group_by(UsageDailyMember.day)
    ).all()
    months: dict[date, int] = {}
    for day, cost in per_day:
        key = day.replace(day=1)
        months[key] = months.get(key, 0) + int(cost or 0)
    for month, cost in months.items():
        end = min((month + timedelta(days=32)).replace(day=1) - timedelta(days=1), today)
        at = datetime(end.year, end.month, end.day, 23, 59, 59, tzinfo=UTC)
        events.append(
            (
                at,
                "usage",
                f"Usage {month:%B %Y}" + (" (to date)" if end == today else ""),
                -cost,
                f"usage:{month:%Y-%m}",
            )
        )
    events.sort(key=lambda e: (e[0], e[4]))
    rows, running = [], 0
    for at, kind, desc, amount, ref in events:
        running += amount
        rows.append(
            LedgerRow(
                at=at,
                kind=kind,
                description=desc,
                amount_micros=amount,
                balance_micros=running,
                reference=ref,
            )
        )
    return rows[::-1]


# ---- invoices and payments (records) ----------------------------------------------


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


def record_credit_purchase(
    session: Session,
    *,
    org: Organization,
    actor: Actor,
    subtotal_cents: int,
    tax_cents: int,
    external_ref: str,
    method: str,
    at: datetime | None = None,
    payment_intent: str | None = None,
    charge_id: str | None = None,
    source: str,
) -> LedgerEntry | None:
    """Credits, a paid top-up invoice and its payment, once per `external_ref` (else None)."""
    lock_organization(session, org.id)
    if _ledger_ref_exists(session, external_ref):
        return None
    at = at or utcnow()
    total = subtotal_cents + tax_cents
    invoice = Invoice(
        org_id=org.id,
        number=next_invoice_number(session, org_id=org.id, at=at),
        kind="top-up",
        issued_at=at,
        period_start=at.date(),
        period_end=at.date(),
        status="paid",
        subtotal_cents=subtotal_cents,
        tax_cents=tax_cents,
        total_cents=total,
        paid_at=at,
        lines=[
            {
                "description": "Kilo Gateway credits",
                "quantity": 1,
                "unit_cents": subtotal_cents,
                "amount_cents": subtotal_cents,
            }
        ],
    )
    session.add(invoice)
    session.flush()
    entry = LedgerEntry(
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
    session.add(entry)
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
            "tax_cents": tax_cents,
            "external_ref": external_ref,
            "invoice": invoice.number,
            "source": source,
        },
    )
    return entry


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
    if _payment_ref_exists(session, ref):
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
        session.add(
            LedgerEntry(
                org_id=org.id,
                at=now,
                kind="refund",
                amount_micros=-credits,
                description=f"Refund of {invoice.number}",
                external_ref=ref,
                actor_id=actor.id,
                invoice_id=invoice.id,
            )
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


# ---- buying credits ---------------------------------------------------------------


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
    config: StripeConfig | None | _UseEnv = USE_ENV,
) -> PurchaseStart:
    """Owner buys credits: a Stripe Checkout Session to pay at, or (demo mode) at once."""
    ensure_allowed(actor, "billing.purchase")
    check_purchase_amount(amount_cents)
    org = _org(session, actor)
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
            tax_cents=0,
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


def _org_of_checkout(session: Session, cs: dict) -> Organization | None:
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
    config: StripeConfig | None | _UseEnv = USE_ENV,
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
    org = _org_of_checkout(session, cs)
    if org is None or org.id != actor.org_id:
        raise NotFound("That checkout does not belong to your organization.")
    return apply_checkout_session(session, org=org, cs=cs, actor=actor)


# ---- refunds ----------------------------------------------------------------------


def refund_purchase(
    session: Session,
    *,
    actor: Actor,
    invoice_id: int,
    amount_cents: int | None = None,
    config: StripeConfig | None | _UseEnv = USE_ENV,
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
    org = _org(session, actor)
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


# ---- seats ------------------------------------------------------------------------


def prorate_cents(
    delta_seats: int, unit_cents: int, period_start: datetime, period_end: datetime, now: datetime
) -> int:
    """Charge (or credit, when negative) for the rest of the billing period, to the cent."""
    total = (period_end - period_start).total_seconds()
    if total <= 0:
        return 0
    left = min(max((period_end - now).total_seconds(), 0), total)
    amount = Decimal(delta_seats * unit_cents) * Decimal(int(left)) / Decimal(int(total))
    return int(amount.quantize(Decimal(1), ROUND_HALF_EVEN))


def _month_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def change_seats(
    session: Session,
    *,
    actor: Actor,
    seats: int,
    config: StripeConfig | None | _UseEnv = USE_ENV,
    now: datetime | None = None,
) -> SeatChange:
    """Owner sets the seat count; never below members plus pending invitations.

    With Stripe and a linked subscription, the subscription quantity changes (Stripe
    prorates) and the prorated amount for the rest of the period is recorded; otherwise
    (demo mode) the change is recorded locally, prorated over the calendar month.
    """
    ensure_allowed(actor, "organization.seats.change")
    if not isinstance(seats, int) or isinstance(seats, bool) or seats < 1 or seats > MAX_SEATS:
        raise ValidationError(f"Seats must be a whole number from 1 to {MAX_SEATS:,}.")
    lock_organization(session, actor.org_id)  # before counting: invitations take seats too
    org = _org(session, actor)
    used = seats_in_use(session, org_id=org.id)
    if seats < used:
        raise ValidationError(
            f"{seats} seats is fewer than the {used} in use (members and pending invitations); "
            "remove members or revoke invitations first."
        )
    if seats == org.seats:
        raise ValidationError(f"The organization already has {seats} seats.")
    now = now or utcnow()
    old = org.seats
    cfg = resolve_config(config)
    if cfg is not None and org.stripe_subscription_id:
        sub = gateway.retrieve_subscription(cfg, org.stripe_subscription_id)
        items = (sub.get("items") or {}).get("data") or []
        if not items:
            raise Conflict("The Stripe subscription has no seat item; fix it in Stripe first.")
        item = items[0]
        start = item.get("current_period_start") or sub.get("current_period_start")
        end = item.get("current_period_end") or sub.get("current_period_end")
        unit = int((item.get("price") or {}).get("unit_amount") or org.seat_price_cents)
        prorated = (
            prorate_cents(
                seats - old,
                unit,
                datetime.fromtimestamp(start, UTC),
                datetime.fromtimestamp(end, UTC),
                now,
            )
            if start and end
            else 0
        )
        count = session.exec(
            select(func.count()).select_from(SeatChange).where(SeatChange.org_id == org.id)
        ).one()
        gateway.update_subscription_quantity(
            cfg,
            subscription_id=org.stripe_subscription_id,
            item_id=item["id"],
            quantity=seats,
            idempotency_key=f"kilo-seats-{org.id}-{count}-{seats}",
        )
        source = "stripe"
    else:
        start, end = _month_bounds(now)
        prorated = prorate_cents(seats - old, org.seat_price_cents, start, end, now)
        source = "local" if cfg is not None else "demo"
    change = SeatChange(
        org_id=org.id,
        at=now,
        from_seats=old,
        to_seats=seats,
        actor_id=actor.id,
        prorated_cents=prorated,
        source=source,
    )
    org.seats = seats
    session.add(org)
    session.add(change)
    session.flush()
    note = {
        "stripe": "Stripe subscription updated",
        "demo": "demo mode, no real charge",
        "local": "no Stripe subscription linked; not billed in Stripe",
    }[source]
    audit.record(
        session,
        actor=actor,
        action="organization.seats.change",
        target="seats",
        message=f"Seats: {old} → {seats} (prorated {usd_cents(prorated)}; {note})",
        details={"before": old, "after": seats, "prorated_cents": prorated, "source": source},
    )
    return change


# ---- reads for the Invoices tab ------------------------------------------------------


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
    from kilo.invoice_pdf import render_invoice

    invoice = get_invoice(session, actor=actor, invoice_id=invoice_id)
    org = _org(session, actor)
    return render_invoice(invoice, org, status=display_status(invoice))


# ---- demo data ------------------------------------------------------------------------


def seed_demo(session: Session, org: Organization, owner_member: Member, rng: object) -> None:
    """Demo history for the Invoices tab beyond the lead's seed: a top-up refunded in full,
    a voided seat invoice, a failed card payment later retried, and a goodwill adjustment."""
    from kilo.members import actor_for

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
    session.add(
        LedgerEntry(
            org_id=org.id,
            at=at,
            kind="adjustment",
            amount_micros=25_000_000,
            description="Goodwill credit for the gateway outage",
            external_ref="demo_adjust_outage",
            actor_id=owner_member.id,
        )
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
