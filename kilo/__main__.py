"""Command line: python -m kilo COMMAND --help."""

from __future__ import annotations

import argparse
import sys

from kilo.cli_commands import register_all
from kilo.errors import KiloError


def cmd_seed(args: argparse.Namespace) -> int:
    from kilo import demo
    from kilo.db import migrate, write_session

    migrate()
    with write_session() as session:
        org = demo.seed(session, reset=args.reset)
        print(
            f"Seeded the demo organization “{org.name}”. Sign in as owner / admin / member "
            f"with password {demo.DEMO_PASSWORD}."
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kilo",
        description="Kilo for Enterprise dashboard: maintenance commands. The database is "
        "DATABASE_URL (default sqlite:///data/kilo.db).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser(
        "seed",
        help="build the deterministic demo organization",
        description="Build the demo organization (members, 90 days of usage, "
        "billing, audit history). Refused on a database that already has one "
        "unless --reset is given.",
    )
    p.add_argument("--reset", action="store_true", help="delete everything in the database first")
    p.set_defaults(func=cmd_seed)
    register_all(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KiloError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
