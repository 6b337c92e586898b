"""Seats: the owner changes the seat count, prorated for the rest of the billing period (the
Stripe subscription's quantity when one is linked, else recorded locally)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from sqlmodel import Session, func, select

import kilo.billing.stripe_gateway as gateway
from kilo import audit
from kilo.billing.account import get_org
from kilo.billing.issue import issue_invoice
from kilo.billing.stripe_gateway import USE_ENV, StripeConfig, UseEnv, resolve_config
from kilo.db import lock_organization
from kilo.errors import Conflict, ValidationError
from kilo.members import seats_in_use
from kilo.models import Invoice, Organization, SeatChange, utcnow
from kilo.money import usd_cents
from kilo.permissions import Actor, ensure_allowed

MAX_SEATS = 10_000


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


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def issue_seat_change_invoice(
    session: Session,
    *,
    org: Organization,
    old: int,
    new: int,
    prorated_cents: int,
    at: datetime,
    period_end: datetime,
) -> Invoice:
    """The prorated amount of a seat change as its own invoice, issued at the change: open
    (to be paid) when seats were added, a credit (negative total) when removed."""
    delta = new - old
    last_day = (period_end - timedelta(seconds=1)).date()
    what = "added" if delta > 0 else "removed"
    seats_word = "seat" if abs(delta) == 1 else "seats"
    return issue_invoice(
        session,
        org=org,
        kind="seats",
        at=at,
        status="open",
        period_start=at.date(),
        period_end=max(last_day, at.date()),
        lines=[
            {
                "description": f"{abs(delta)} {seats_word} {what} ({old} → {new}) from "
                f"{at:%Y-%m-%d}, prorated to {last_day:%Y-%m-%d}",
                "quantity": delta,
                "unit_cents": None,
                "amount_cents": prorated_cents,
            }
        ],
    )


def change_seats(
    session: Session,
    *,
    actor: Actor,
    seats: int,
    config: StripeConfig | None | UseEnv = USE_ENV,
    now: datetime | None = None,
) -> SeatChange:
    """Owner sets the seat count; never below members plus pending invitations.

    With Stripe and a linked subscription, the subscription quantity changes (Stripe
    prorates and bills the amount on its next invoice) and the prorated amount for the rest
    of the period is recorded; otherwise (demo mode, or no subscription) the change is
    recorded locally, prorated over the calendar month, and the amount gets its own invoice.
    """
    ensure_allowed(actor, "organization.seats.change")
    if not isinstance(seats, int) or isinstance(seats, bool) or seats < 1 or seats > MAX_SEATS:
        raise ValidationError(f"Seats must be a whole number from 1 to {MAX_SEATS:,}.")
    lock_organization(session, actor.org_id)  # before counting: invitations take seats too
    org = get_org(session, actor)
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
        start, end = month_bounds(now)
        prorated = prorate_cents(seats - old, org.seat_price_cents, start, end, now)
        source = "local" if cfg is not None else "demo"
    invoice = None
    if source != "stripe" and prorated:  # Stripe puts its prorations on its next invoice
        invoice = issue_seat_change_invoice(
            session, org=org, old=old, new=seats, prorated_cents=prorated, at=now, period_end=end
        )
    change = SeatChange(
        org_id=org.id,
        at=now,
        from_seats=old,
        to_seats=seats,
        actor_id=actor.id,
        prorated_cents=prorated,
        source=source,
        invoice_id=invoice.id if invoice else None,
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
    if invoice is not None:
        note += f"; invoice {invoice.number}"
    audit.record(
        session,
        actor=actor,
        action="organization.seats.change",
        target="seats",
        message=f"Seats: {old} → {seats} (prorated {usd_cents(prorated)}; {note})",
        details={
            "before": old,
            "after": seats,
            "prorated_cents": prorated,
            "source": source,
            "invoice": invoice.number if invoice else None,
        },
    )
    return change
