"""Command line: python -m kilo COMMAND --help."""

from __future__ import annotations

import argparse
import sys

from kilo.cli_commands import register_all
from kilo.errors import KiloError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kilo",
        description="Kilo for Enterprise dashboard: maintenance commands. The database is "
        "DATABASE_URL (default sqlite:///data/kilo.db).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
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
