"""`python -m kilo seed`: the demo organization."""

from __future__ import annotations

import argparse
from typing import Any

from kilo import demo
from kilo.db import migrate, write_session


def cmd_seed(args: argparse.Namespace) -> int:
    migrate()
    with write_session() as session:
        org = demo.seed(session, reset=args.reset)
        print(
            f"Seeded the demo organization “{org.name}”. Sign in as owner / admin / member "
            f"with password {demo.DEMO_PASSWORD}."
        )
    return 0


def register_cli(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "seed",
        help="build the deterministic demo organization",
        description="Build the demo organization (members, 90 days of usage, "
        "billing, audit history). Refused on a database that already has one "
        "unless --reset is given.",
    )
    p.add_argument("--reset", action="store_true", help="delete everything in the database first")
    p.set_defaults(func=cmd_seed)
