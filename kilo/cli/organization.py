"""`python -m kilo init`: an organization and the link for its first owner."""

from __future__ import annotations

import argparse
from typing import Any

from kilo import demo, organization
from kilo.db import migrate, write_session
from kilo.errors import Conflict


def cmd_init(args: argparse.Namespace) -> int:
    base = organization.public_url(args.public_url)  # checked before anything is written
    migrate()
    with write_session() as session:
        if args.new_link:
            made = organization.new_owner_link(session, name=args.org, owner_email=args.owner_email)
        else:
            if args.remove_demo:
                if not demo.only_demo_organizations(session):
                    raise Conflict(
                        "--remove-demo deletes everything in the database, so it only runs "
                        "while the demo is the only organization; nothing was changed."
                    )
                demo.clear_database(session)
            made = organization.create_organization(
                session, name=args.org, owner_email=args.owner_email, seats=args.seats
            )
    org, inv = made.org, made.invitation
    link = f"{base}/accept_invite?token={made.token}"
    if args.new_link:
        print(
            f"New owner link for organization “{org.name}” (id {org.id}); older links are revoked."
        )
    else:
        print(f"Created organization “{org.name}” (id {org.id}, {org.seats} seats).")
    print(
        f"\nSend this single-use link to {inv.email}, the first owner (it expires "
        f"{inv.expires_at:%Y-%m-%d %H:%M} UTC and is shown only this once):\n\n  {link}\n"
    )
    print(
        "Next: the owner opens the link, chooses a name and password, and signs in with the "
        f"username {inv.email}; then invites the team from the Organization tab."
    )
    return 0


def register_cli(subparsers: Any) -> None:
    """`python -m kilo init --org NAME --owner-email EMAIL [--seats N] [--public-url URL]`."""
    p = subparsers.add_parser(
        "init",
        help="create an organization and a link for its first owner",
        description="Create an organization and a single-use, 7-day invitation link for its "
        "first owner, who opens it to choose a name and password. Run it once per "
        "organization; several organizations in one database stay separate. Refused when an "
        "organization of that name exists or while the database holds the demo. Example: "
        'python -m kilo init --org "Acme Inc" --owner-email ada@acme.example '
        "--public-url https://kilo.acme.example",
    )
    p.add_argument("--org", required=True, metavar="NAME", help="the organization's name")
    p.add_argument(
        "--owner-email", required=True, metavar="EMAIL", help="e-mail of the first owner"
    )
    p.add_argument(
        "--seats",
        type=int,
        default=organization.DEFAULT_SEATS,
        metavar="N",
        help=f"seats (members and pending invitations); default {organization.DEFAULT_SEATS}",
    )
    p.add_argument(
        "--public-url",
        metavar="URL",
        help="address members open, used in the link (default: KILO_PUBLIC_URL, else "
        f"{organization.DEFAULT_PUBLIC_URL})",
    )
    once = p.add_mutually_exclusive_group()
    once.add_argument(
        "--remove-demo",
        action="store_true",
        help="delete the demo organization first (everything in the database; only when the "
        "demo is the only organization)",
    )
    once.add_argument(
        "--new-link",
        action="store_true",
        help="for an existing organization whose first owner never joined: revoke the old "
        "link and print a new one (to --owner-email, which may differ)",
    )
    p.set_defaults(func=cmd_init)
