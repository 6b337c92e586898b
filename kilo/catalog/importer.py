"""Importing the catalogue: the operator-only import, the shipped snapshot, start-up loading.

The shipped snapshot lives in data/catalog/ (see data/catalog/SOURCES.md); `kilo.catalog.parse`
reads its files. The catalogue is shared by every organization in the database, so only the
server operator (a system actor: the command line, start-up) imports it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session, select

from kilo import audit
from kilo.catalog.parse import (
    POLICY_KEYS,
    load_json,
    parse_models,
    parse_policies,
    parse_providers,
)
from kilo.errors import ValidationError
from kilo.models import AccessRule, CatalogModel, Organization, Provider, utcnow
from kilo.permissions import Actor, ensure_allowed, system_actor

CATALOG_DIR = Path(__file__).resolve().parents[2] / "data" / "catalog"


@dataclass(frozen=True)
class ImportResult:
    """What an import changed in the catalogue."""

    providers: int
    models: int
    new_models: list[str] = field(default_factory=list)
    removed_models: list[str] = field(default_factory=list)
    new_providers: list[str] = field(default_factory=list)
    removed_providers: list[str] = field(default_factory=list)
    blocked_new: dict[int, int] = field(default_factory=dict)  # org id -> new models blocked

    def summary(self) -> str:
        text = (
            f"{self.models} models ({len(self.new_models)} new, {len(self.removed_models)} "
            f"removed), {self.providers} providers ({len(self.new_providers)} new, "
            f"{len(self.removed_providers)} removed)"
        )
        return text


def _short_list(items: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _write_catalogue(
    session: Session, providers: list[Provider], models: list[CatalogModel]
) -> tuple[list[str], list[str], list[str], list[str]]:
    now = utcnow()
    old_providers = {p.slug: p for p in session.exec(select(Provider)).all()}
    new_p: list[str] = []
    for p in providers:
        row = old_providers.get(p.slug)
        if row is None:
            session.add(p)
            new_p.append(p.slug)
        else:
            for key in ("name", "headquarters", "datacenters", *POLICY_KEYS, "privacy_policy_url"):
                setattr(row, key, getattr(p, key))
            session.add(row)
    removed_p = sorted(set(old_providers) - {p.slug for p in providers})
    old_models = {m.id: m for m in session.exec(select(CatalogModel)).all()}
    keep_models = {m.id for m in models}
    new_m: list[str] = []
    for m in models:
        m.imported_at = now
        row = old_models.get(m.id)
        if row is None:
            session.add(m)
            new_m.append(m.id)
        else:
            for key in (
                "name",
                "author",
                "description",
                "created",
                "context_length",
                "input_modalities",
                "output_modalities",
                "prompt_price_mtok",
                "completion_price_mtok",
                "providers",
                "imported_at",
            ):
                setattr(row, key, getattr(m, key))
            session.add(row)
    removed_m = sorted(set(old_models) - keep_models)
    for model_id in removed_m:
        session.delete(old_models[model_id])
    session.flush()
    for slug in removed_p:
        session.delete(old_providers[slug])
    session.flush()
    return sorted(new_m), removed_m, sorted(new_p), removed_p


def import_snapshot(session: Session, directory: Path = CATALOG_DIR) -> tuple[int, int]:
    """Load the shipped catalogue as is (demo seed, first start). Returns (providers, models).

    No organization is consulted; use `import_catalog` to refresh a live catalogue.
    """
    policies = parse_policies(load_json(directory / "provider-data-policies.json"))
    providers = parse_providers(load_json(directory / "providers.json"), policies)
    models = parse_models(load_json(directory / "models.json"), {p.slug for p in providers})
    _write_catalogue(session, providers, models)
    return len(providers), len(models)


def import_catalog(
    session: Session,
    *,
    actor: Actor,
    models_path: Path,
    providers_path: Path | None = None,
    policies_path: Path | None = None,
) -> ImportResult:
    """Refresh the catalogue from OpenRouter JSON files; all of it or nothing.

    The catalogue (and each provider's data policy) is shared by every organization in the
    database, so only the server operator changes it: `actor` must be a system actor (the
    command line, start-up); any member, whatever their role, is refused.

    Without `providers_path` the current providers stay. Without `policies_path`, the
    data policy of each provider already in the catalogue is kept (new ones: unknown).
    New model ids follow each organization's setting: allowed automatically, or blocked
    (a disable rule) until an admin enables them; the first catalogue of a database blocks
    nothing. Writes one `catalog.import` audit entry per organization. Refused when a
    default model would leave the catalogue.
    """
    ensure_allowed(actor, "catalog.import")
    models_path = Path(models_path)
    models_doc = load_json(models_path)
    current = {p.slug: p for p in session.exec(select(Provider)).all()}
    policies: dict[str, dict] = {
        slug: {k: getattr(p, k) for k in POLICY_KEYS} for slug, p in current.items()
    }
    if policies_path is not None:
        policies = parse_policies(load_json(Path(policies_path)), Path(policies_path).name)
    if providers_path is not None:
        providers = parse_providers(
            load_json(Path(providers_path)), policies, Path(providers_path).name
        )
    else:  # the current providers, with new policies when a policies file was given
        providers = [
            Provider(**(p.model_dump() | dict.fromkeys(POLICY_KEYS) | policies.get(p.slug, {})))
            for p in current.values()
        ]
    slugs = {p.slug for p in providers}
    if not slugs:
        raise ValidationError(
            "The catalogue has no providers yet; give a providers file with --providers."
        )
    models = parse_models(models_doc, slugs, models_path.name)
    model_ids = {m.id for m in models}
    orgs = list(session.exec(select(Organization)).all())
    for org in orgs:
        if org.default_model and org.default_model not in model_ids:
            raise ValidationError(
                f"{models_path.name} does not contain {org.default_model}, the default model of "
                f"{org.name}. Choose another default model first; nothing was imported."
            )
    first = session.exec(select(CatalogModel.id).limit(1)).first() is None
    new_m, removed_m, new_p, removed_p = _write_catalogue(session, providers, models)
    blocked: dict[int, int] = {}
    for org in orgs:
        strict = not org.auto_allow_new_models and not first
        blocked[org.id] = _block_new(session, org, new_m) if strict else 0
    result = ImportResult(
        providers=len(slugs),
        models=len(models),
        new_models=new_m,
        removed_models=removed_m,
        new_providers=new_p,
        removed_providers=removed_p,
        blocked_new=blocked,
    )
    for org in orgs:
        who = actor if actor.org_id == org.id else system_actor(org.id, actor.name)
        parts = [f"Imported the model catalogue from {models_path.name}: {result.summary()}"]
        if new_m:
            how = (
                "the first catalogue, all allowed"
                if first
                else "allowed automatically"
                if org.auto_allow_new_models
                else f"blocked until approved ({blocked[org.id]})"
            )
            parts.append(f"New models ({how}): {_short_list(new_m)}")
        if removed_m:
            parts.append(f"Removed models: {_short_list(removed_m)}")
        if new_p:
            parts.append(f"New providers: {_short_list(new_p)}")
        if removed_p:
            parts.append(f"Removed providers: {_short_list(removed_p)}")
        audit.record(
            session,
            actor=who,
            action="catalog.import",
            target=models_path.name,
            message="; ".join(parts),
            details={
                "models": len(models),
                "providers": len(slugs),
                "new_models": new_m,
                "removed_models": removed_m,
                "new_providers": new_p,
                "removed_providers": removed_p,
                "auto_allow_new_models": org.auto_allow_new_models,
                "blocked_new_models": blocked[org.id],
            },
        )
    return result


STARTUP_ACTOR = "System (start-up)"


def load_shipped_if_empty(session: Session, directory: Path = CATALOG_DIR) -> ImportResult | None:
    """Start-up: an empty catalogue gets the snapshot shipped in `data/catalog/`.

    A catalogue that holds models is left as it is (only `python -m kilo catalog import`
    replaces it), so this runs at every start. Audited like any import, as the system.
    """
    if session.exec(select(CatalogModel.id).limit(1)).first() is not None:
        return None
    org_id = session.exec(select(Organization.id).order_by(Organization.id)).first()
    return import_catalog(
        session,
        actor=system_actor(org_id or 0, STARTUP_ACTOR),
        models_path=directory / "models.json",
        providers_path=directory / "providers.json",
        policies_path=directory / "provider-data-policies.json",
    )


def _block_new(session: Session, org: Organization, new_ids: Iterable[str]) -> int:
    """Disable rules for new models (unless the organization already decided on them)."""
    existing = set(
        session.exec(
            select(AccessRule.subject).where(
                AccessRule.org_id == org.id, AccessRule.subject_type == "model"
            )
        ).all()
    )
    count = 0
    for model_id in new_ids:
        if model_id not in existing:
            session.add(
                AccessRule(org_id=org.id, subject_type="model", subject=model_id, allowed=False)
            )
            count += 1
    session.flush()
    return count
