"""The command groups of `python -m kilo`, in the order `--help` shows them: each module in
`kilo/cli/` defines `register_cli(subparsers)`."""

from __future__ import annotations

from kilo.cli import alerts, audit, billing, catalog, demo, mail, modes, organization, usage

GROUPS = (demo, organization, audit, catalog, usage, billing, modes, mail, alerts)


def register_all(subparsers: object) -> None:
    for group in GROUPS:
        group.register_cli(subparsers)
