"""The model and provider catalogue: an OpenRouter snapshot, its import, and its filters.

The shipped snapshot lives in data/catalog/ (see data/catalog/SOURCES.md):
`models.json` (OpenRouter `GET /api/v1/models`), `providers.json` (OpenRouter
`GET /api/v1/providers`) and `provider-data-policies.json` (each provider's default data
policy as OpenRouter last published it). A data-policy field nobody published stays
`None` and is shown as "unknown"; it is never guessed.

Which providers serve a model: OpenRouter's public models list does not say (a model's
`top_provider` holds limits of the best endpoint, not a provider slug). So an import uses,
in this order: a per-model `providers` list of provider slugs when the file has one (an
extension of the format; build it from `/api/v1/models/{id}/endpoints`), otherwise
`SERVING_PROVIDERS`, a hand-maintained, author-level approximation (see its comment).
Only slugs present in the providers list are kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from kilo import audit
from kilo.errors import ValidationError
from kilo.models import AccessRule, CatalogModel, Organization, Provider, utcnow
from kilo.permissions import Actor, ensure_allowed, system_actor

CATALOG_DIR = Path(__file__).resolve().parent.parent / "data" / "catalog"
MILLION = Decimal(1_000_000)
PRICE_PLACES = Decimal("0.000001")

# Model author (the part of the id before "/") -> provider slugs that serve that author's
# models on OpenRouter. Hand-maintained and AUTHOR-LEVEL: the author's own API (when it is
# an OpenRouter provider) plus the hosts commonly serving that author's open-weight models.
# It is an approximation: a host listed here need not offer every model of the author.
# Authors not listed fall back to a provider with the author's own slug, if there is one;
# otherwise the model's serving providers are unknown (empty) and shown as such.
SERVING_PROVIDERS: dict[str, list[str]] = {
    "anthropic": ["anthropic", "amazon-bedrock", "google-vertex"],
    "openai": ["openai", "azure"],
    "google": ["google-vertex", "google-ai-studio"],
    "deepseek": ["deepseek", "deepinfra", "fireworks", "together", "novita"],
    "mistralai": ["mistral"],
    "qwen": ["alibaba", "deepinfra", "fireworks", "together", "cerebras"],
    "moonshotai": ["moonshotai", "fireworks", "together", "groq"],
    "z-ai": ["z-ai", "deepinfra", "novita"],
    "meta-llama": ["deepinfra", "together", "groq", "fireworks", "cerebras"],
    "x-ai": ["xai"],
    "minimax": ["minimax", "novita"],
    "amazon": ["amazon-bedrock"],
    "cohere": ["cohere"],
    "ai21": ["ai21"],
    "nvidia": ["nvidia", "deepinfra"],
    "perplexity": ["perplexity"],
    "inception": ["inception"],
    "arcee-ai": ["arcee-ai"],
    "baidu": ["baidu"],
    "xiaomi": ["xiaomi"],
    "stepfun-ai": ["stepfun"],
    "liquid": ["liquid"],
    "relace": ["relace"],
    "morph": ["morph"],
    # Authors whose OpenRouter provider slug differs from their author slug.
    "rekaai": ["reka"],
    "bytedance-seed": ["seed"],
}

_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_POLICY_FIELDS = ("training", "retains_prompts", "can_publish")
_POLICY_KEYS = (*_POLICY_FIELDS, "retention_days")


# --------------------------------------------------------------------------------------
# Parsing and validation (nothing here writes)
# --------------------------------------------------------------------------------------


def _load(path: Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        doc = json.loads(text)
    except FileNotFoundError:
        raise ValidationError(f"{path} does not exist.") from None
    except IsADirectoryError:
        raise ValidationError(f"{path} is a folder, not a JSON file.") from None
    except UnicodeDecodeError:
        raise ValidationError(f"{path.name} is not a UTF-8 text file.") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{path.name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from None
    if "\x00" in text or "\\u0000" in text.lower():  # PostgreSQL cannot store NUL in text
        raise ValidationError(f"{path.name} contains NUL characters; it is not a catalogue file.")
    return doc


def price_per_mtok(value: object) -> Decimal | None:
    """OpenRouter's USD-per-token string as exact USD per million tokens.

    A negative price means "varies" (routers such as openrouter/auto): None, like a
    missing one. USD per million tokens equals micro-dollars per token.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValidationError(f"price {value!r} is not a number")
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError(f"price {value!r} is not a number") from None
    if not price.is_finite():
        raise ValidationError(f"price {value!r} is not a number")
    return None if price < 0 else (price * MILLION).quantize(PRICE_PLACES)


def _data_list(doc: object, what: str, name: str) -> list:
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ValidationError(
            f'{name} is not an OpenRouter {what} list: expected an object with a "data" list.'
        )
    if not doc["data"]:
        raise ValidationError(f'{name} has an empty "data" list; refusing to empty the catalogue.')
    return doc["data"]


def parse_policies(doc: object, name: str = "policies file") -> dict[str, dict]:
    """`{"providers": {slug: {training, retains_prompts, retention_days, can_publish}}}`."""
    if not isinstance(doc, dict) or not isinstance(doc.get("providers"), dict):
        raise ValidationError(f'{name} must be an object with a "providers" object.')
    out = {}
    for slug, pol in doc["providers"].items():
        if not isinstance(pol, dict):
            raise ValidationError(f"{name}: the policy of {slug} is not an object.")
        for key in _POLICY_FIELDS:
            if pol.get(key) is not None and not isinstance(pol[key], bool):
                raise ValidationError(f"{name}: {slug}.{key} must be true, false or null.")
        days = pol.get("retention_days")
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 0):
            raise ValidationError(f"{name}: {slug}.retention_days must be a whole number or null.")
        out[slug] = {k: pol.get(k) for k in _POLICY_KEYS}
    return out


def parse_providers(
    doc: object, policies: dict[str, dict], name: str = "providers file"
) -> list[Provider]:
    """Providers of an OpenRouter `/api/v1/providers` response, with their data policy."""
    out: list[Provider] = []
    seen: set[str] = set()
    for i, p in enumerate(_data_list(doc, "providers", name)):
        where = f"{name}: provider #{i + 1}"
        if not isinstance(p, dict):
            raise ValidationError(f"{where} is not an object.")
        slug, title = p.get("slug"), p.get("name")
        if not isinstance(slug, str) or not _SLUG.match(slug):
            raise ValidationError(f"{where} has no valid slug (lower-case letters, digits, -._).")
        if not isinstance(title, str) or not title.strip():
            raise ValidationError(f"{where} ({slug}) has no name.")
        if slug in seen:
            raise ValidationError(f"{name}: provider {slug} appears twice.")
        seen.add(slug)
        hq = p.get("headquarters")
        if hq is not None and (not isinstance(hq, str) or len(hq) > 10):
            raise ValidationError(f"{where} ({slug}): headquarters must be a country code.")
        dcs = p.get("datacenters") or []
        if not isinstance(dcs, list) or not all(isinstance(d, str) for d in dcs):
            raise ValidationError(f"{where} ({slug}): datacenters must be a list of country codes.")
        pol = policies.get(slug) or {}
        out.append(
            Provider(
                slug=slug,
                name=title.strip()[:200],
                headquarters=hq or None,
                datacenters=list(dcs),
                training=pol.get("training"),
                retains_prompts=pol.get("retains_prompts"),
                retention_days=pol.get("retention_days") if pol.get("retains_prompts") else None,
                can_publish=pol.get("can_publish"),
                privacy_policy_url=(p.get("privacy_policy_url") or None),
            )
        )
    return out


def serving_providers(model: dict, provider_slugs: set[str]) -> list[str]:
    """The providers serving a model (see the module docstring for where they come from)."""
    listed = model.get("providers")
    if isinstance(listed, list):
        slugs = [s for s in listed if isinstance(s, str)]
    else:
        author = model["id"].split("/", 1)[0].lstrip("~")  # "~anthropic/..." aliases
        slugs = SERVING_PROVIDERS.get(author, [author])
    return [s for s in dict.fromkeys(slugs) if s in provider_slugs]


def _modalities(value: object, where: str, key: str) -> list[str]:
    if value is None:
        return ["text"]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(f"{where}: architecture.{key} must be a list of strings.")
    return sorted(set(value), key=value.index)


def parse_models(
    doc: object, provider_slugs: set[str], name: str = "models file"
) -> list[CatalogModel]:
    """Models of an OpenRouter `/api/v1/models` response; the whole file or nothing."""
    out: list[CatalogModel] = []
    seen: set[str] = set()
    for i, m in enumerate(_data_list(doc, "models", name)):
        if not isinstance(m, dict) or not isinstance(m.get("id"), str) or "/" not in m["id"]:
            raise ValidationError(
                f'{name}: entry #{i + 1} has no model id of the form "author/name"; '
                "is this an OpenRouter /api/v1/models response?"
            )
        model_id = m["id"].strip()
        where = f"{name}: model {model_id}"
        if len(model_id) > 200:
            raise ValidationError(f"{where}: the id is longer than 200 characters.")
        if model_id in seen:
            raise ValidationError(f"{name}: model {model_id} appears twice.")
        seen.add(model_id)
        arch = m.get("architecture") or {}
        pricing = m.get("pricing") or {}
        if not isinstance(arch, dict) or not isinstance(pricing, dict):
            raise ValidationError(f"{where}: architecture and pricing must be objects.")
        try:
            prompt = price_per_mtok(pricing.get("prompt"))
            completion = price_per_mtok(pricing.get("completion"))
        except ValidationError as exc:
            raise ValidationError(f"{where}: {exc}.") from None
        ctx = m.get("context_length")
        if ctx is not None and (isinstance(ctx, bool) or not isinstance(ctx, int) or ctx < 0):
            raise ValidationError(f"{where}: context_length must be a whole number.")
        created = m.get("created")
        if created is not None and (isinstance(created, bool) or not isinstance(created, int)):
            raise ValidationError(f"{where}: created must be a Unix timestamp.")
        out.append(
            CatalogModel(
                id=model_id,
                name=str(m.get("name") or model_id)[:300],
                author=model_id.split("/", 1)[0][:100],
                description=str(m.get("description") or ""),
                created=None if created is None else datetime.fromtimestamp(created, tz=UTC),
                context_length=ctx,
                input_modalities=_modalities(
                    arch.get("input_modalities"), where, "input_modalities"
                ),
                output_modalities=_modalities(
                    arch.get("output_modalities"), where, "output_modalities"
                ),
                prompt_price_mtok=prompt,
                completion_price_mtok=completion,
                providers=serving_providers(m | {"id": model_id}, provider_slugs),
            )
        )
    return out


# --------------------------------------------------------------------------------------
# Import
# --------------------------------------------------------------------------------------


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
            for key in ("name", "headquarters", "datacenters", *_POLICY_KEYS, "privacy_policy_url"):
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
    policies = parse_policies(_load(directory / "provider-data-policies.json"))
    providers = parse_providers(_load(directory / "providers.json"), policies)
    models = parse_models(_load(directory / "models.json"), {p.slug for p in providers})
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
    models_doc = _load(models_path)
    current = {p.slug: p for p in session.exec(select(Provider)).all()}
    policies: dict[str, dict] = {
        slug: {k: getattr(p, k) for k in _POLICY_KEYS} for slug, p in current.items()
    }
    if policies_path is not None:
        policies = parse_policies(_load(Path(policies_path)), Path(policies_path).name)
    if providers_path is not None:
        providers = parse_providers(
            _load(Path(providers_path)), policies, Path(providers_path).name
        )
    else:  # the current providers, with new policies when a policies file was given
        providers = [
            Provider(**(p.model_dump() | dict.fromkeys(_POLICY_KEYS) | policies.get(p.slug, {})))
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


# --------------------------------------------------------------------------------------
# Reading and filtering
# --------------------------------------------------------------------------------------


def list_providers(session: Session) -> list[Provider]:
    """All providers of the (global, public) catalogue, by name."""
    return list(session.exec(select(Provider).order_by(Provider.name)).all())


def list_models(session: Session) -> list[CatalogModel]:
    """All models of the (global, public) catalogue, by id."""
    return list(session.exec(select(CatalogModel).order_by(CatalogModel.id)).all())


@dataclass(frozen=True)
class ProviderRow:
    """A provider as the Model Access tab shows it, with the organization's decision."""

    slug: str
    name: str
    headquarters: str | None
    datacenters: tuple[str, ...]
    training: bool | None
    retains_prompts: bool | None
    retention_days: int | None
    can_publish: bool | None
    privacy_policy_url: str | None
    models: int  # catalogue models it serves
    enabled: bool  # the organization's rules allow it
    allowed: bool  # usable now (enabled and not excluded by the code-training opt-out)
    reason: str  # why not usable, "" when usable


@dataclass(frozen=True)
class ModelRow:
    """A model as the Model Access tab shows it, with the organization's decision."""

    id: str
    name: str
    author: str
    context_length: int | None
    input_modalities: tuple[str, ...]
    output_modalities: tuple[str, ...]
    prompt_price_mtok: Decimal | None
    completion_price_mtok: Decimal | None
    providers: tuple[str, ...]
    created: datetime | None
    enabled: bool  # the organization's model rules allow it
    allowed: bool  # usable now through at least one allowed provider
    reason: str


ANY = "any"


@dataclass(frozen=True)
class CatalogFilter:
    """Filters of the Model Access tab; the defaults match everything.

    Data-policy fields take "any", "yes" or "no" ("unknown" values match only "any").
    A model matches the provider filters (data policy, location) when at least one of
    its serving providers matches all of them. Prices are USD per million tokens.
    """

    search: str = ""
    training: str = ANY
    retains_prompts: str = ANY
    can_publish: str = ANY
    headquarters: tuple[str, ...] = ()
    datacenters: tuple[str, ...] = ()
    input_modalities: tuple[str, ...] = ()  # the model accepts all of these
    output_modalities: tuple[str, ...] = ()  # the model produces all of these
    context_min: int | None = None
    context_max: int | None = None
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    price_of: str = "prompt"  # prompt | completion
    enabled_only: bool = False

    def __post_init__(self) -> None:
        for key in _POLICY_FIELDS:
            if getattr(self, key) not in (ANY, "yes", "no"):
                raise ValidationError(f"The {key} filter must be any, yes or no.")
        if self.price_of not in ("prompt", "completion"):
            raise ValidationError("The price filter applies to prompt or completion prices.")

    @property
    def has_provider_criteria(self) -> bool:
        return any(getattr(self, k) != ANY for k in _POLICY_FIELDS) or bool(
            self.headquarters or self.datacenters
        )


def _policy_ok(value: bool | None, wanted: str) -> bool:
    return wanted == ANY or (value is not None and value == (wanted == "yes"))


def provider_matches_policy(p: Any, f: CatalogFilter) -> bool:
    """Data-policy and location criteria only (shared by both views)."""
    if not all(_policy_ok(getattr(p, k), getattr(f, k)) for k in _POLICY_FIELDS):
        return False
    if f.headquarters and p.headquarters not in f.headquarters:
        return False
    return not (f.datacenters and not set(p.datacenters or ()) & set(f.datacenters))


def filter_providers(rows: Iterable[ProviderRow], f: CatalogFilter) -> list[ProviderRow]:
    """Providers matching the search text, data policy, location and enabled-only."""
    needle = f.search.strip().lower()
    return [
        p
        for p in rows
        if (not needle or needle in p.slug.lower() or needle in p.name.lower())
        and provider_matches_policy(p, f)
        and (not f.enabled_only or p.allowed)
    ]


def filter_models(
    rows: Iterable[ModelRow], f: CatalogFilter, providers: dict[str, Any]
) -> list[ModelRow]:
    """Models matching the filters; `providers` maps slug -> provider (row or table row)."""
    needle = f.search.strip().lower()
    out = []
    for m in rows:
        if needle and needle not in m.id.lower() and needle not in m.name.lower():
            continue
        if f.enabled_only and not m.allowed:
            continue
        if not set(f.input_modalities) <= set(m.input_modalities):
            continue
        if not set(f.output_modalities) <= set(m.output_modalities):
            continue
        if f.context_min is not None and (m.context_length or 0) < f.context_min:
            continue
        if f.context_max is not None and (
            m.context_length is None or m.context_length > f.context_max
        ):
            continue
        price = m.prompt_price_mtok if f.price_of == "prompt" else m.completion_price_mtok
        if (f.price_min is not None or f.price_max is not None) and price is None:
            continue
        if f.price_min is not None and price < f.price_min:
            continue
        if f.price_max is not None and price > f.price_max:
            continue
        if f.has_provider_criteria and not any(
            s in providers and provider_matches_policy(providers[s], f) for s in m.providers
        ):
            continue
        out.append(m)
    return out


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def _cmd_import(args: Any) -> int:
    from kilo.db import migrate, write_session

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
    p.set_defaults(func=_cmd_import)
