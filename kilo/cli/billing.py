"""Billing commands: `python -m kilo sync-stripe`."""

from __future__ import annotations

import argparse

from sqlmodel import select

from kilo.billing import stripe_gateway as gateway
from kilo.billing.stripe_sync import sync_stripe
from kilo.db import read_session, write_session
from kilo.errors import ValidationError
from kilo.models import Organization
from kilo.permissions import system_actor


def cmd_sync_stripe(args: argparse.Namespace) -> int:
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
