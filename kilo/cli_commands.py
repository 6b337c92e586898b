"""Sub-commands of `python -m kilo` contributed by the service modules.

Each module that has commands defines `register_cli(subparsers)` and is listed here.
"""

from __future__ import annotations

import importlib

# Modules with a `register_cli(subparsers)` function, in the order shown by --help.
MODULES: list[str] = [
    "kilo.cli.demo",
    "kilo.organization",
    "kilo.audit",
    "kilo.catalog",
    "kilo.usage",
    "kilo.stripe_events",
    "kilo.modes",
    "kilo.mail",
]


def register_all(subparsers: object) -> None:
    for name in MODULES:
        importlib.import_module(name).register_cli(subparsers)
