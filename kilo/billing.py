"""Credit ledger, balance and seats.

Balance (micro-dollars) = sum of ledger entries (purchases, promos, refunds, adjustments)
minus the cost of recorded usage (read from the daily rollup).
"""

from __future__ import annotations

from sqlmodel import Session, func, select

from kilo import audit
from kilo.errors import ValidationError
from kilo.members import seats_in_use
from kilo.models import LedgerEntry, Organization, SeatChange, UsageDaily
from kilo.permissions import Actor, ensure_allowed

MAX_SEATS = 10_000


def balance_micros(session: Session, *, org_id: int) -> int:
    credits = session.exec(
        select(func.coalesce(func.sum(LedgerEntry.amount_micros), 0)).where(
            LedgerEntry.org_id == org_id
        )
    ).one()
    spent = session.exec(
        select(func.coalesce(func.sum(UsageDaily.cost_micros), 0)).where(
            UsageDaily.org_id == org_id
        )
    ).one()
    return int(credits) - int(spent)


def change_seats(session: Session, *, actor: Actor, seats: int) -> SeatChange:
    """Owner sets the seat count; never below members plus pending invitations."""
    ensure_allowed(actor, "organization.seats.change")
    org = session.get(Organization, actor.org_id)
    if not isinstance(seats, int) or isinstance(seats, bool) or seats < 1 or seats > MAX_SEATS:
        raise ValidationError(f"Seats must be a whole number from 1 to {MAX_SEATS:,}.")
    used = seats_in_use(session, org_id=org.id)
    if seats < used:
        raise ValidationError(
            f"{seats} seats is fewer than the {used} in use (members and pending invitations); "
            "remove members or revoke invitations first."
        )
    if seats == org.seats:
        raise ValidationError(f"The organization already has {seats} seats.")
    change = SeatChange(
        org_id=org.id, from_seats=org.seats, to_seats=seats, actor_id=actor.id,
        prorated_cents=(seats - org.seats) * org.seat_price_cents,
    )
    old, org.seats = org.seats, seats
    session.add(org)
    session.add(change)
    audit.record(session, actor=actor, action="organization.seats.change", target="seats",
                 message=f"Seats: {old} → {seats}",
                 details={"before": old, "after": seats})
    return change
