"""The organization's billing account: the Invoices tab's summary, the low-balance alert and
the billing details printed on invoices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from kilo import audit
from kilo.billing.ledger import (
    average_daily_spend_micros,
    balance_micros,
    ledger_total_micros,
    runway_days,
    usage_cost_micros,
)
from kilo.billing.seller import check_country, check_tax_id
from kilo.billing.stripe_gateway import USE_ENV, StripeConfig, UseEnv, resolve_config
from kilo.errors import NotFound, ValidationError
from kilo.members import seats_in_use
from kilo.models import Organization
from kilo.money import MICROS_PER_DOLLAR, usd
from kilo.permissions import Actor, allowed, ensure_allowed
from kilo.validation import check_printable

MAX_ALERT_MICROS = 1_000_000 * MICROS_PER_DOLLAR


def get_org(session: Session, actor: Actor) -> Organization:
    """The actor's organization (the caller has checked the actor's permission)."""
    org = session.get(Organization, actor.org_id)
    if org is None:
        raise NotFound("The organization does not exist.")
    return org


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
    billing_country: str
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
    config: StripeConfig | None | UseEnv = USE_ENV,
    today: date | None = None,
) -> BillingSummary:
    """The figures at the top of the Invoices tab."""
    ensure_allowed(actor, "billing.view")
    org = get_org(session, actor)
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
        billing_country=org.billing_country,
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
    org = get_org(session, actor)
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
    "billing_country": ("Country", 2),
}


def update_billing_details(
    session: Session,
    *,
    actor: Actor,
    company: str,
    address: str,
    tax_id: str,
    email: str,
    country: str | None = None,
) -> Organization:
    """Owner edits the details printed on invoices (company, address, tax id, email) and the
    billing country (ISO code; None keeps it). In an EU country the tax id must be the EU VAT
    number: with it, invoices from a seller in another EU country are reverse-charged."""
    ensure_allowed(actor, "billing.change")
    org = get_org(session, actor)
    country = org.billing_country if country is None else check_country(country)
    new = {
        "billing_company": " ".join((company or "").split()),
        "billing_address": "\n".join(
            line.strip() for line in (address or "").strip().splitlines() if line.strip()
        ),
        "billing_tax_id": (tax_id or "").strip(),
        "billing_email": (email or "").strip(),
        "billing_country": country,
    }
    for field, (label, limit) in BILLING_FIELDS.items():
        check_printable(new[field], label, multiline=field == "billing_address")
        if len(new[field]) > limit:
            raise ValidationError(f"{label} is too long (at most {limit} characters).")
    new["billing_tax_id"] = check_tax_id(country, new["billing_tax_id"])
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
