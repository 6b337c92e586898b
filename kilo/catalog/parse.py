"""The catalogue's file formats: parsing and checking OpenRouter JSON (nothing here writes).

The formats are OpenRouter's: `models.json` (`GET /api/v1/models`), `providers.json`
(`GET /api/v1/providers`) and `provider-data-policies.json` (each provider's default data
policy as OpenRouter last published it). A data-policy field nobody published stays
`None` and is shown as "unknown"; it is never guessed.

Which providers serve a model: OpenRouter's public models list does not say (a model's
`top_provider` holds limits of the best endpoint, not a provider slug). So an import uses,
in this order: a per-model `providers` list of provider slugs when the file has one (an
extension of the format; build it from `/api/v1/models/{id}/endpoints`), otherwise
`SERVING_PROVIDERS`, a hand-maintained, author-level approximation (see its comment).
Only slugs present in the providers list are kept. A model left without any is served, by
inference, by a provider with its author's slug when the catalogue has one: that rule is
applied when access is evaluated (`kilo.access.serving_providers`), not stored here.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from kilo.errors import ValidationError
from kilo.models import CatalogModel, Provider

MILLION = Decimal(1_000_000)
PRICE_PLACES = Decimal("0.000001")

# Model author (the part of the id before "/") -> provider slugs that serve that author's
# models on OpenRouter. Hand-maintained and AUTHOR-LEVEL: the author's own API (when it is
# an OpenRouter provider) plus the hosts commonly serving that author's open-weight models.
# It is an approximation: a host listed here need not offer every model of the author.
# Authors not listed get no stored provider; `kilo.access.serving_providers` then infers a
# provider with the author's own slug when there is one (shown as inferred).
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
POLICY_FIELDS = ("training", "retains_prompts", "can_publish")
POLICY_KEYS = (*POLICY_FIELDS, "retention_days")


def load_json(path: Path) -> Any:
    """A catalogue file's JSON, or a ValidationError that says what is wrong with the file."""
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
        for key in POLICY_FIELDS:
            if pol.get(key) is not None and not isinstance(pol[key], bool):
                raise ValidationError(f"{name}: {slug}.{key} must be true, false or null.")
        days = pol.get("retention_days")
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 0):
            raise ValidationError(f"{name}: {slug}.retention_days must be a whole number or null.")
        out[slug] = {k: pol.get(k) for k in POLICY_KEYS}
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
        slugs = SERVING_PROVIDERS.get(author, [])
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
