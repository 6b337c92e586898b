"""Mode rows <-> mode definitions: an organization's rows, the definition a row holds, what
changes between two definitions, writing a definition into a row.

Storage (`Mode` rows, one per organization and slug):
- a custom mode is a row with `builtin=False`;
- an adjusted or disabled built-in is a row with `builtin=True` holding the full definition
  the organization uses. A built-in without a row is Kilo Code's default.

No permission checks and no audit entries here: the service functions do both.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from kilo.errors import Conflict
from kilo.models import Mode, utcnow
from kilo.modes.builtins import BUILTIN_BY_SLUG
from kilo.modes.schema import MODE_KEYS, ModeConfig, ModeView


def config_of_row(row: Mode) -> ModeConfig:
    return ModeConfig(
        row.slug,
        row.name,
        row.role_definition,
        row.when_to_use,
        row.description,
        row.custom_instructions,
        list(row.groups or []),
    )


def view_of(config: ModeConfig, *, kind: str, row: Mode | None) -> ModeView:
    overridden = kind == "built-in" and row is not None and config != BUILTIN_BY_SLUG[config.slug]
    return ModeView(
        **asdict(config),
        kind=kind,
        overridden=overridden,
        disabled=bool(row and row.disabled),
        updated_at=row.updated_at if row is not None else None,
    )


def org_rows(session: Session, org_id: int) -> dict[str, Mode]:
    rows = session.exec(select(Mode).where(Mode.org_id == org_id).order_by(col(Mode.id))).all()
    return {r.slug: r for r in rows}


def find_row(session: Session, org_id: int, slug: str) -> Mode | None:
    return session.exec(select(Mode).where(Mode.org_id == org_id, Mode.slug == slug)).first()


def mode_changes(before: ModeConfig, after: ModeConfig) -> dict[str, Any]:
    b, a = before.to_kilo(), after.to_kilo()
    return {k: {"before": b.get(k), "after": a.get(k)} for k in MODE_KEYS if b.get(k) != a.get(k)}


def store_config(row: Mode, config: ModeConfig) -> None:
    row.slug, row.name = config.slug, config.name
    row.role_definition, row.when_to_use = config.role_definition, config.when_to_use
    row.description, row.custom_instructions = config.description, config.custom_instructions
    row.groups = json.loads(json.dumps(config.groups))
    row.updated_at = utcnow()


def flush_unique(session: Session, slug: str) -> None:
    # Two admins saving the same new slug at once: the unique index decides.
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(
            f"A mode with the slug “{slug}” was just added by someone else. "
            "Reload the page and pick another slug."
        ) from None
