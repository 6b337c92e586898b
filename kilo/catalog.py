"""The model and provider catalogue: a shipped OpenRouter snapshot in data/catalog/.

OpenRouter's public `/api/v1/models` lists models but not which providers serve each;
`SERVING_PROVIDERS` maps a model's author to the providers known to serve that author's
models, restricted to providers present in the providers file.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlmodel import Session, select

from kilo.errors import ValidationError
from kilo.models import CatalogModel, Provider, utcnow

CATALOG_DIR = Path(__file__).resolve().parent.parent / "data" / "catalog"
MILLION = Decimal(1_000_000)

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
}


def _load(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(f"{path} does not exist.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{path.name} is not valid JSON: {exc}") from None


def price_per_mtok(value: object) -> Decimal | None:
    """OpenRouter gives USD per token as a string; negative means 'varies' (routers)."""
    if value in (None, ""):
        return None
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError(f"price {value!r} is not a number") from None
    return None if price < 0 else (price * MILLION).quantize(Decimal("0.000001"))


def parse_providers(doc: object, policies: dict) -> list[Provider]:
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ValidationError('The providers file must be an object with a "data" list.')
    out = []
    for i, p in enumerate(doc["data"]):
        if not isinstance(p, dict) or not p.get("slug") or not p.get("name"):
            raise ValidationError(f"Provider #{i + 1} has no slug or name.")
        pol = policies.get(p["slug"]) or {}
        out.append(Provider(
            slug=p["slug"], name=p["name"], headquarters=p.get("headquarters"),
            datacenters=list(p.get("datacenters") or []), training=pol.get("training"),
            retains_prompts=pol.get("retains_prompts"), retention_days=pol.get("retention_days"),
            can_publish=pol.get("can_publish"), privacy_policy_url=p.get("privacy_policy_url"),
        ))
    return out


def parse_models(doc: object, provider_slugs: set[str]) -> list[CatalogModel]:
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise ValidationError('The models file must be an object with a "data" list.')
    out = []
    for i, m in enumerate(doc["data"]):
        if not isinstance(m, dict) or not isinstance(m.get("id"), str) or "/" not in m["id"]:
            raise ValidationError(f'Model #{i + 1} has no id of the form "author/name".')
        author = m["id"].split("/", 1)[0]
        arch = m.get("architecture") or {}
        pricing = m.get("pricing") or {}
        try:
            prompt = price_per_mtok(pricing.get("prompt"))
            completion = price_per_mtok(pricing.get("completion"))
        except ValidationError as exc:
            raise ValidationError(f"Model {m['id']}: {exc}.") from None
        created = m.get("created")
        out.append(CatalogModel(
            id=m["id"], name=str(m.get("name") or m["id"]), author=author,
            description=str(m.get("description") or ""),
            created=(
                None if not isinstance(created, int)
                else __import__("datetime").datetime.fromtimestamp(created, tz=utcnow().tzinfo)
            ),
            context_length=m.get("context_length"),
            input_modalities=list(arch.get("input_modalities") or ["text"]),
            output_modalities=list(arch.get("output_modalities") or ["text"]),
            prompt_price_mtok=prompt, completion_price_mtok=completion,
            providers=[s for s in SERVING_PROVIDERS.get(author, [author]) if s in provider_slugs],
        ))
    return out


def import_snapshot(session: Session, directory: Path = CATALOG_DIR) -> tuple[int, int]:
    """Load the shipped catalogue (used by the demo seed). Returns (providers, models)."""
    policies = _load(directory / "provider-data-policies.json").get("providers", {})
    providers = parse_providers(_load(directory / "providers.json"), policies)
    models = parse_models(_load(directory / "models.json"), {p.slug for p in providers})
    for p in providers:
        session.merge(p)
    for m in models:
        session.merge(m)
    session.flush()
    return len(providers), len(models)


def list_providers(session: Session) -> list[Provider]:
    return list(session.exec(select(Provider).order_by(Provider.name)).all())


def list_models(session: Session) -> list[CatalogModel]:
    return list(session.exec(select(CatalogModel).order_by(CatalogModel.id)).all())
