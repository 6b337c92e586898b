"""Reading and filtering the catalogue: its providers and models, the Model Access tab's rows
and filters. The rows carry the organization's decision, which `kilo.access` evaluates."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, select

from kilo.catalog.parse import POLICY_FIELDS
from kilo.errors import ValidationError
from kilo.models import CatalogModel, Provider


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
    providers: tuple[str, ...]  # serving providers (`kilo.access.serving_providers`)
    created: datetime | None
    enabled: bool  # the organization's model rules allow it
    allowed: bool  # usable now through at least one allowed provider
    reason: str
    providers_inferred: bool = False  # the provider is the model's author, not a listed one


ANY = "any"


def price_label(price: Decimal | None) -> str:
    """A USD price per million tokens, one format everywhere: at least two decimals, more
    only when the price has them ($0.80, $1.25, $0.0375, $150.00); "—" when unknown."""
    if price is None:
        return "—"
    places = max(2, -min(0, price.normalize().as_tuple().exponent))
    return f"${price:,.{places}f}"


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
        for key in POLICY_FIELDS:
            if getattr(self, key) not in (ANY, "yes", "no"):
                raise ValidationError(f"The {key} filter must be any, yes or no.")
        if self.price_of not in ("prompt", "completion"):
            raise ValidationError("The price filter applies to prompt or completion prices.")
        if (
            self.price_min is not None
            and self.price_max is not None
            and self.price_min > self.price_max
        ):
            raise ValidationError(
                f"The minimum price ({price_label(self.price_min)}) is above the maximum "
                f"({price_label(self.price_max)}), so no model could match: lower the minimum "
                "or raise the maximum."
            )

    @property
    def has_provider_criteria(self) -> bool:
        return any(getattr(self, k) != ANY for k in POLICY_FIELDS) or bool(
            self.headquarters or self.datacenters
        )


def _policy_ok(value: bool | None, wanted: str) -> bool:
    return wanted == ANY or (value is not None and value == (wanted == "yes"))


def provider_matches_policy(p: Any, f: CatalogFilter) -> bool:
    """Data-policy and location criteria only (shared by both views)."""
    if not all(_policy_ok(getattr(p, k), getattr(f, k)) for k in POLICY_FIELDS):
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
