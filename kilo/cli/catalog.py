"""`python -m kilo catalog import`: the operator refreshes the model catalogue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import select

from kilo.catalog import import_catalog
from kilo.db import migrate, write_session
from kilo.models import Organization
from kilo.permissions import system_actor


def cmd_import(args: Any) -> int:
    migrate()
    with write_session() as session:
        org = session.exec(select(Organization).order_by(Organization.id)).first()
        # Without any organization there is nothing to audit or block: org id 0 is unused.
        actor = system_actor(org.id if org else 0)
        result = import_catalog(
            session,
            actor=actor,
            models_path=args.models,
            providers_path=args.providers,
            policies_path=args.policies,
        )
    print(f"Imported the catalogue: {result.summary()}.")
    for org_id, n in result.blocked_new.items():
        if n:
            print(f"Organization {org_id}: {n} new models blocked until an admin enables them.")
    return 0


def register_cli(subparsers: Any) -> None:
    """`python -m kilo catalog import MODELS_JSON [--providers ...] [--policies ...]`."""
    cat = subparsers.add_parser(
        "catalog",
        help="model catalogue maintenance",
        description="Maintain the model and provider catalogue.",
    )
    sub = cat.add_subparsers(dest="catalog_command", required=True, metavar="SUBCOMMAND")
    p = sub.add_parser(
        "import",
        help="refresh the catalogue from OpenRouter JSON files",
        description="Replace the catalogue with an OpenRouter /api/v1/models response "
        "(models missing from it are removed). The whole file is checked first; a bad file "
        "changes nothing. New models are allowed or blocked per each organization's "
        "'new models' setting. Example: python -m kilo catalog import data/catalog/models.json "
        "--providers data/catalog/providers.json --policies "
        "data/catalog/provider-data-policies.json",
    )
    p.add_argument(
        "models",
        type=Path,
        metavar="MODELS_JSON",
        help='OpenRouter GET /api/v1/models response ({"data": [...]})',
    )
    p.add_argument(
        "--providers",
        type=Path,
        metavar="PROVIDERS_JSON",
        help="OpenRouter GET /api/v1/providers response; without it the current providers stay",
    )
    p.add_argument(
        "--policies",
        type=Path,
        metavar="POLICIES_JSON",
        help='provider data policies ({"providers": {slug: {training, '
        "retains_prompts, retention_days, can_publish}}}); without it each "
        "provider keeps its current policy (new providers: unknown)",
    )
    p.set_defaults(func=cmd_import)
