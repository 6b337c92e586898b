"""Building the demo organization, step by step, and the start-up rule that builds it in an
empty database."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel import Session

from kilo import catalog
from kilo.access import seed_demo as seed_access_demo
from kilo.demo.billing import seed_billing
from kilo.demo.database import clear_database, is_seeded
from kilo.demo.members import seed_history, seed_members
from kilo.demo.switch import demo_enabled
from kilo.demo.teams import seed_teams
from kilo.demo.usage import DAYS, seed_usage
from kilo.errors import Conflict
from kilo.models import Organization
from kilo.modes import seed_demo as seed_modes_demo

DEMO_ORG = "Acme Robotics"


def seed_if_empty(session: Session, settings: Mapping[str, Any] | None = None) -> bool:
    """The start-up rule: an empty database gets the demo when the demo is enabled.

    Returns whether it seeded. A database holding any organization is left alone.
    """
    if not demo_enabled(settings) or is_seeded(session):
        return False
    seed(session)
    return True


def seed(
    session: Session, *, reset: bool = False, today: date | None = None, seed_value: int = 42
) -> Organization:
    """Build the demo organization in the session's transaction."""
    if is_seeded(session) and not reset:
        raise Conflict(
            "The database already holds an organization; use --reset to replace it "
            "with the demo (this deletes everything in it)."
        )
    if reset:
        clear_database(session)
    rng = random.Random(seed_value)
    today = today or datetime.now(UTC).date()
    start = today - timedelta(days=DAYS)
    t0 = datetime.combine(start - timedelta(days=60), time(9, 0), tzinfo=UTC)

    catalog.import_snapshot(session)
    org = Organization(
        name=DEMO_ORG,
        created_at=t0,
        seats=25,
        is_demo=True,
        default_model="anthropic/claude-sonnet-4.5",
        low_balance_alert_micros=200_000_000,
        billing_company="Acme Robotics GmbH",
        billing_address="Invalidenstraße 117\n10115 Berlin\nGermany",
        billing_tax_id="DE812345678",
        billing_country="DE",
        billing_email="billing@acme-robotics.example",
    )
    session.add(org)
    session.flush()
    members = seed_members(session, org, rng, t0, today)
    owner = members[0]
    seed_history(session, org, members, rng, t0)
    seed_usage(session, org, members, rng, start, today)
    seed_billing(session, org, owner, rng, t0, today)
    # The other modules' demo data, after members, usage and billing exist.
    seed_access_demo(session, org, owner, rng)
    seed_modes_demo(session, org, owner, rng)
    seed_teams(session, members)  # last: it draws no random numbers
    return org
