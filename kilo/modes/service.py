"""Modes of an organization, actor-scoped: list, create, update, duplicate, delete, adjust,
reset or disable a built-in, export and import a `customModes` document.

A built-in without a row is Kilo Code's default. "Reset to default" writes the default back
(and drops the row unless the mode is also disabled). Every change checks the actor's
permission and writes its audit entry in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from kilo import audit
from kilo.errors import NotFound, ValidationError
from kilo.models import Mode, utcnow
from kilo.modes.builtins import BUILTIN_BY_SLUG, BUILTIN_MODES, BUILTIN_SLUGS, builtin_default
from kilo.modes.document import dump_document, parse_document
from kilo.modes.schema import NAME_MAX, SLUG_MAX, ModeConfig, ModeView, join_problems, validate_mode
from kilo.modes.store import (
    config_of_row,
    find_row,
    flush_unique,
    mode_changes,
    org_rows,
    store_config,
    view_of,
)
from kilo.permissions import Actor, ensure_allowed


def list_modes(session: Session, *, actor: Actor, search: str = "") -> list[ModeView]:
    """Every mode of the organization: the five built-ins (as adjusted) first, then custom
    modes in the order they were added (an imported file keeps its order). `search` keeps modes whose slug, name, description or whenToUse contain it."""
    ensure_allowed(actor, "modes.view")
    rows = org_rows(session, actor.org_id)
    views = []
    for default in BUILTIN_MODES:
        row = rows.get(default.slug)
        config = config_of_row(row) if row is not None else builtin_default(default.slug)
        views.append(view_of(config, kind="built-in", row=row))
    custom = [r for r in rows.values() if not r.builtin]
    for row in custom:
        views.append(view_of(config_of_row(row), kind="custom", row=row))
    needle = search.strip().casefold()
    if needle:
        views = [
            v
            for v in views
            if any(needle in s.casefold() for s in (v.slug, v.name, v.description, v.when_to_use))
        ]
    return views


def get_mode(session: Session, *, actor: Actor, slug: str) -> ModeView:
    """One mode by slug (a built-in as the organization has it, or a custom mode)."""
    for view in list_modes(session, actor=actor):
        if view.slug == slug:
            return view
    raise NotFound(f"There is no mode “{slug}” in this organization.")


def effective_modes(session: Session, *, actor: Actor) -> list[ModeConfig]:
    """What members' editors use: built-ins with the organization's adjustments, without the
    disabled ones, then the custom modes."""
    return [v.config() for v in list_modes(session, actor=actor) if not v.disabled]


def _insert_custom(
    session: Session, actor: Actor, config: ModeConfig, *, how: str, source: str = "dashboard"
) -> ModeView:
    if config.slug in BUILTIN_BY_SLUG:
        raise ValidationError(
            f"“{config.slug}” is the slug of the built-in {BUILTIN_BY_SLUG[config.slug].name} mode. "
            "Pick another slug, or adjust the built-in mode instead."
        )
    if find_row(session, actor.org_id, config.slug) is not None:
        raise ValidationError(
            f"A mode with the slug “{config.slug}” already exists. Pick another slug."
        )
    row = Mode(org_id=actor.org_id, slug=config.slug, name=config.name)
    store_config(row, config)
    session.add(row)
    flush_unique(session, config.slug)
    audit.record(
        session,
        actor=actor,
        action="organization.mode.create",
        target=config.slug,
        message=f"Created mode “{config.name}” ({config.slug}){how}",
        details={"mode": config.to_kilo(), "source": source},
    )
    return view_of(config, kind="custom", row=row)


def create_mode(session: Session, *, actor: Actor, mode: ModeConfig) -> ModeView:
    """Add a custom mode. The slug must be new in the organization and not a built-in's."""
    ensure_allowed(actor, "modes.change")
    return _insert_custom(session, actor, validate_mode(mode), how="")


def update_mode(session: Session, *, actor: Actor, slug: str, mode: ModeConfig) -> ModeView:
    """Change a custom mode (its slug too) or adjust a built-in (its slug stays)."""
    ensure_allowed(actor, "modes.change")
    config = validate_mode(mode)
    if slug in BUILTIN_BY_SLUG:
        if config.slug != slug:
            raise ValidationError(
                f"The slug of the built-in mode “{slug}” cannot change. "
                "Duplicate it to make a custom mode with another slug."
            )
        return _update_builtin(session, actor, config, how="")
    row = find_row(session, actor.org_id, slug)
    if row is None or row.builtin:
        raise NotFound(f"There is no custom mode “{slug}” in this organization.")
    return _update_custom(session, actor, row, config, how="")


def _update_custom(
    session: Session,
    actor: Actor,
    row: Mode,
    config: ModeConfig,
    *,
    how: str,
    source: str = "dashboard",
) -> ModeView:
    before = config_of_row(row)
    if config.slug != row.slug:
        if config.slug in BUILTIN_BY_SLUG:
            raise ValidationError(
                f"“{config.slug}” is the slug of a built-in mode. Pick another slug."
            )
        if find_row(session, actor.org_id, config.slug) is not None:
            raise ValidationError(
                f"A mode with the slug “{config.slug}” already exists. Pick another slug."
            )
    changes = mode_changes(before, config)
    if changes:
        store_config(row, config)
        session.add(row)
        flush_unique(session, config.slug)
        audit.record(
            session,
            actor=actor,
            action="organization.mode.update",
            target=before.slug,
            message=f"Changed mode “{config.name}” ({config.slug}){how}: " + ", ".join(changes),
            details={"changes": changes, "source": source},
        )
    return view_of(config, kind="custom", row=row)


def _update_builtin(
    session: Session,
    actor: Actor,
    config: ModeConfig,
    *,
    how: str,
    source: str = "dashboard",
    change: str = "adjust",
) -> ModeView:
    row = find_row(session, actor.org_id, config.slug)
    before = config_of_row(row) if row is not None else builtin_default(config.slug)
    changes = mode_changes(before, config)
    if not changes:
        return view_of(before, kind="built-in", row=row)
    is_default = config == BUILTIN_BY_SLUG[config.slug]
    if row is None:
        row = Mode(org_id=actor.org_id, slug=config.slug, name=config.name, builtin=True)
    if is_default and not row.disabled:
        if row.id is not None:
            session.delete(row)
        row = None
    else:
        store_config(row, config)
        session.add(row)
    session.flush()
    verb = "Reset built-in mode" if change == "reset" else "Adjusted built-in mode"
    audit.record(
        session,
        actor=actor,
        action="organization.mode.update",
        target=config.slug,
        message=f"{verb} “{config.name}” ({config.slug}){how}: " + ", ".join(changes),
        details={"change": change, "changes": changes, "source": source},
    )
    return view_of(config, kind="built-in", row=row)


def reset_builtin(session: Session, *, actor: Actor, slug: str) -> ModeView:
    """Restore Kilo Code's definition of a built-in mode (keeps it disabled if it was)."""
    ensure_allowed(actor, "modes.change")
    return _update_builtin(session, actor, builtin_default(slug), how="", change="reset")


def set_builtin_disabled(session: Session, *, actor: Actor, slug: str, disabled: bool) -> ModeView:
    """Disable a built-in mode for the organization's members, or enable it again."""
    ensure_allowed(actor, "modes.change")
    default = builtin_default(slug)
    row = find_row(session, actor.org_id, slug)
    if bool(row and row.disabled) == disabled:
        return view_of(config_of_row(row) if row else default, kind="built-in", row=row)
    if row is None:
        row = Mode(org_id=actor.org_id, slug=slug, name=default.name, builtin=True)
        store_config(row, default)
    config = config_of_row(row)
    if not disabled and config == default:
        session.delete(row)
        row_after = None
    else:
        row.disabled = disabled
        row.updated_at = utcnow()
        session.add(row)
        row_after = row
    session.flush()
    word = "Disabled" if disabled else "Enabled"
    audit.record(
        session,
        actor=actor,
        action="organization.mode.update",
        target=slug,
        message=f"{word} built-in mode “{config.name}” ({slug})",
        details={
            "change": "disable" if disabled else "enable",
            "disabled": {"before": not disabled, "after": disabled},
            "source": "dashboard",
        },
    )
    return view_of(config, kind="built-in", row=row_after)


def delete_mode(session: Session, *, actor: Actor, slug: str) -> None:
    """Delete a custom mode. Built-in modes cannot be deleted: reset or disable them."""
    ensure_allowed(actor, "modes.change")
    if slug in BUILTIN_BY_SLUG:
        raise ValidationError(
            f"“{slug}” is a built-in mode and cannot be deleted; "
            "disable it or reset it to Kilo Code's default instead."
        )
    row = find_row(session, actor.org_id, slug)
    if row is None or row.builtin:
        raise NotFound(f"There is no custom mode “{slug}” in this organization.")
    config = config_of_row(row)
    session.delete(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="organization.mode.delete",
        target=slug,
        message=f"Deleted mode “{config.name}” ({slug})",
        details={"mode": config.to_kilo(), "source": "dashboard"},
    )


def free_slug(session: Session, *, org_id: int, base: str) -> str:
    """`base-copy`, `base-copy-2`, … : the first slug not taken in the organization."""
    taken = set(org_rows(session, org_id)) | set(BUILTIN_SLUGS)
    stem = f"{base}-copy"[:SLUG_MAX]
    candidate, n = stem, 2
    while candidate in taken:
        suffix = f"-{n}"
        candidate, n = stem[: SLUG_MAX - len(suffix)] + suffix, n + 1
    return candidate


def duplicate_mode(
    session: Session,
    *,
    actor: Actor,
    slug: str,
    new_slug: str | None = None,
    new_name: str | None = None,
) -> ModeView:
    """Copy any mode (built-in or custom) into a new custom mode."""
    ensure_allowed(actor, "modes.change")
    copy = get_mode(session, actor=actor, slug=slug).config()
    copy.slug = new_slug or free_slug(session, org_id=actor.org_id, base=slug)
    copy.name = new_name or f"{copy.name} (copy)"[:NAME_MAX]
    return _insert_custom(
        session, actor, validate_mode(copy), how=f", copied from “{slug}”", source="duplicate"
    )


def export_modes(
    session: Session, *, actor: Actor, fmt: str = "yaml", include_builtins: bool = False
) -> str:
    """The organization's modes as a `customModes` document (YAML or JSON).

    By default: custom modes plus the built-ins the organization adjusted (what a
    `.kilocodemodes` file holds). With `include_builtins`, every enabled mode as members'
    editors see it. Disabled is not part of Kilo Code's format and is not exported.
    """
    views = list_modes(session, actor=actor)
    if include_builtins:
        chosen = [v for v in views if not v.disabled]
    else:
        chosen = [v for v in views if v.kind == "custom" or v.overridden]
    return dump_document([v.config() for v in chosen], fmt)


@dataclass
class ImportItem:
    slug: str
    name: str
    kind: str  # "built-in" | "custom"
    action: str  # "create" | "update" | "unchanged"
    changed: list[str]  # camelCase field names that change


@dataclass
class ImportPlan:
    items: list[ImportItem]
    problems: list[str]
    ignored: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def count(self, action: str) -> int:
        return sum(1 for i in self.items if i.action == action)


def plan_import(session: Session, *, actor: Actor, text: str) -> ImportPlan:
    """What importing `text` would do, mode by mode, and every invalid mode with its reason.

    A mode whose slug is a built-in's adjusts that built-in; a slug the organization has
    updates that custom mode; any other slug creates a custom mode. Nothing is deleted.
    """
    ensure_allowed(actor, "modes.view")
    parsed = parse_document(text)
    current = {v.slug: v for v in list_modes(session, actor=actor)}
    items = []
    for mode in parsed.modes:
        view = current.get(mode.slug)
        kind = "built-in" if mode.slug in BUILTIN_BY_SLUG else "custom"
        if view is None:
            items.append(ImportItem(mode.slug, mode.name, kind, "create", []))
            continue
        changed = list(mode_changes(view.config(), mode))
        items.append(
            ImportItem(mode.slug, mode.name, kind, "update" if changed else "unchanged", changed)
        )
    if not parsed.modes and not parsed.problems:
        parsed.problems.append("The document lists no modes.")
    return ImportPlan(items, parsed.problems, parsed.ignored)


def import_modes(session: Session, *, actor: Actor, text: str) -> ImportPlan:
    """Import a `customModes` document: all modes or none.

    Writes one `organization.mode.create` or `.update` audit entry per changed mode
    (details.source = "import"); unchanged modes write nothing.
    """
    ensure_allowed(actor, "modes.change")
    plan = plan_import(session, actor=actor, text=text)
    if not plan.ok:
        raise ValidationError(join_problems(plan.problems, "Nothing was imported:"))
    parsed = {m.slug: m for m in parse_document(text).modes}
    for item in plan.items:
        mode = parsed[item.slug]
        if item.action == "unchanged":
            continue
        if item.kind == "built-in":
            _update_builtin(session, actor, mode, how=" (import)", source="import")
        elif item.action == "create":
            _insert_custom(session, actor, mode, how=" (import)", source="import")
        else:
            row = find_row(session, actor.org_id, item.slug)
            assert row is not None
            _update_custom(session, actor, row, mode, how=" (import)", source="import")
    return plan
