"""Organization model access: the check (`is_model_allowed`) and the Model Access tab's view.

`is_model_allowed` is the one check the gateway and the UI both call.

Rules (`AccessRule`) are per organization: a provider rule (slug or pattern) or a model
rule (id or pattern such as `anthropic/*` or `*:free`), each enable or disable. No rule
means enabled, so an organization without rules allows everything, including future
models, unless it blocks new models until approved (then an import adds a disable rule
for each new model id). For a subject the exact rule wins; otherwise the most specific
(longest) matching pattern; on a tie, disable wins.

A model is usable when its model rules enable it and at least one provider serving it is
enabled and, under the code-training opt-out, does not train on data. When the gateway
names the provider of a request, that provider is checked (the catalogue's serving
providers are an approximation; the gateway knows the real route).

Serving providers (`serving_providers`, the one place this is decided): the catalogue's
list for the model when it names any; otherwise the model's author (the id before "/",
e.g. `poolside` for `poolside/laguna-m.1`) when the catalogue has a provider with that
slug, marked as inferred; otherwise none, and the model is usable only through a provider
the gateway names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from types import SimpleNamespace

from sqlmodel import Session, col, or_, select

from kilo.catalog.query import ModelRow, ProviderRow
from kilo.errors import NotFound
from kilo.models import AccessRule, CatalogModel, Organization, Provider
from kilo.permissions import Actor, ensure_allowed

MODEL, PROVIDER = "model", "provider"


MODEL_NOT_ALLOWED = "model_not_allowed"
PROVIDER_NOT_ALLOWED = "provider_not_allowed"
PROVIDER_TRAINS = "provider_trains_on_data"


@dataclass(frozen=True)
class Verdict:
    """Whether a model may be used, and if not, why (a sentence fragment for messages)."""

    allowed: bool
    reason: str = ""
    # Why, for machines (the gateway's refusal codes): model_not_allowed,
    # provider_not_allowed or provider_trains_on_data; "" when allowed.
    code: str = ""

    def __bool__(self) -> bool:
        return self.allowed


# --------------------------------------------------------------------------------------
# Pure evaluation over an in-memory rule set (shared by the check, the tab and previews)
# --------------------------------------------------------------------------------------

Rules = dict[tuple[str, str], bool]  # (subject_type, subject) -> enabled


def is_pattern(subject: str) -> bool:
    """A subject with wildcards (`anthropic/*`, `*:free`) rather than an exact id or slug."""
    return any(c in subject for c in "*?[")


class RuleSet(dict):
    """Rules with the patterns of each kind indexed (rebuilt after any change)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self._index: dict[str, list[tuple[int, str, bool]]] | None = None

    def __setitem__(self, key: tuple[str, str], value: bool) -> None:
        self._index = None
        super().__setitem__(key, value)

    def pop(self, *args: object) -> object:
        self._index = None
        return super().pop(*args)

    def patterns(self, kind: str) -> list[tuple[int, str, bool]]:
        if self._index is None:
            self._index = {MODEL: [], PROVIDER: []}
            for (k, subject), enabled in self.items():
                if is_pattern(subject):
                    self._index.setdefault(k, []).append((len(subject), subject, enabled))
        return self._index.get(kind, [])


def rule_state(rules: Rules, kind: str, subject: str) -> bool:
    """Enabled (True) or disabled by the rules; no matching rule means enabled."""
    exact = rules.get((kind, subject))
    if exact is not None:
        return exact
    patterns = rules.patterns(kind) if isinstance(rules, RuleSet) else RuleSet(rules).patterns(kind)
    matches = [(n, enabled) for n, pattern, enabled in patterns if fnmatchcase(subject, pattern)]
    if not matches:
        return True
    # The longest (most specific) pattern decides; on equal length a disable wins.
    return max(matches, key=lambda m: (m[0], not m[1]))[1]


def _provider_verdict(rules: Rules, provider: Provider | None, slug: str, opt_out: bool) -> Verdict:
    if provider is None:
        return Verdict(False, f"provider {slug} is not in the catalogue", PROVIDER_NOT_ALLOWED)
    if not rule_state(rules, PROVIDER, slug):
        return Verdict(False, f"provider {provider.name} is disabled", PROVIDER_NOT_ALLOWED)
    if opt_out and provider.training:
        return Verdict(
            False,
            f"provider {provider.name} may train on data and code-training opt-out is on",
            PROVIDER_TRAINS,
        )
    return Verdict(True)


def author_of(model_id: str) -> str:
    """The author part of a model id: `anthropic` for `anthropic/claude-sonnet-4.5` (an
    OpenRouter alias's leading "~" dropped)."""
    return model_id.split("/", 1)[0].lstrip("~")


def serving_providers(
    model_id: str, listed: Iterable[str], known: Iterable[str] | dict
) -> tuple[tuple[str, ...], bool]:
    """The providers serving a model and whether they are inferred (module docstring):
    the catalogue's `listed` slugs when there are any, else the author when `known` (the
    catalogue's provider slugs) has it, else none."""
    listed = tuple(listed or ())
    if listed:
        return listed, False
    author = author_of(model_id)
    return ((author,), True) if author in known else ((), False)


def evaluate(
    rules: Rules,
    model: CatalogModel | None,
    model_id: str,
    providers: dict[str, Provider],
    opt_out: bool,
    provider: str | None = None,
) -> Verdict:
    """The verdict for `model_id` (optionally through `provider`) under `rules`.
    `providers` holds at least the catalogue providers that may serve the model (its
    listed ones, else its author's)."""
    if model is None:
        return Verdict(False, f"model {model_id} is not in the catalogue", MODEL_NOT_ALLOWED)
    if not rule_state(rules, MODEL, model_id):
        return Verdict(False, f"model {model_id} is disabled", MODEL_NOT_ALLOWED)
    if provider:
        return _provider_verdict(rules, providers.get(provider), provider, opt_out)
    slugs, _ = serving_providers(model_id, model.providers, providers)
    if not slugs:
        return Verdict(
            False,
            f"no provider in the catalogue is known to serve {model_id}",
            PROVIDER_NOT_ALLOWED,
        )
    refusals = []
    for slug in slugs:
        verdict = _provider_verdict(rules, providers.get(slug), slug, opt_out)
        if verdict:
            return verdict
        refusals.append(verdict)
    # Every serving provider is excluded: say it is the opt-out only when it is the only cause.
    codes = {v.code for v in refusals}
    code = PROVIDER_TRAINS if codes == {PROVIDER_TRAINS} else PROVIDER_NOT_ALLOWED
    return Verdict(False, "; ".join(v.reason for v in refusals), code)


def load_rules(session: Session, org_id: int, subjects: Iterable[str] | None = None) -> RuleSet:
    """The organization's rules; with `subjects`, only those exact ones plus all patterns."""
    query = select(AccessRule.subject_type, AccessRule.subject, AccessRule.allowed).where(
        AccessRule.org_id == org_id
    )
    if subjects is not None:
        query = query.where(
            or_(
                col(AccessRule.subject).in_(list(subjects)),
                col(AccessRule.subject).contains("*"),
                col(AccessRule.subject).contains("?"),
                col(AccessRule.subject).contains("["),
            )
        )
    return RuleSet({(kind, subject): enabled for kind, subject, enabled in session.exec(query)})


def load_providers(session: Session) -> dict[str, Provider]:
    """The catalogue's providers by slug."""
    return {p.slug: p for p in session.exec(select(Provider)).all()}


def is_model_allowed(
    session: Session, org_id: int, model_id: str, provider: str | None = None
) -> Verdict:
    """Allowed, or the reason it is not (model disabled, provider disabled, training under
    the code-training opt-out, not in the catalogue). Used by the gateway and the UI."""
    opt_out = session.exec(
        select(Organization.code_training_opt_out).where(Organization.id == org_id)
    ).first()
    if opt_out is None:
        return Verdict(False, f"organization {org_id} does not exist", MODEL_NOT_ALLOWED)
    served = session.exec(select(CatalogModel.providers).where(CatalogModel.id == model_id)).first()
    model = None if served is None else SimpleNamespace(providers=served)
    # The listed providers, or the author (serving_providers infers it when it exists).
    slugs = [provider] if provider else list(served or []) or [author_of(model_id)]
    providers = {
        slug: SimpleNamespace(name=name, training=training)
        for slug, name, training in session.exec(
            select(Provider.slug, Provider.name, Provider.training).where(
                col(Provider.slug).in_(slugs)
            )
        )
    }
    rules = load_rules(session, org_id, [model_id, *slugs])
    return evaluate(rules, model, model_id, providers, opt_out, provider)


def allowed_model_ids(session: Session, *, org_id: int) -> list[str]:
    """Ids of all catalogue models the organization's members may use (one pass)."""
    org = session.get(Organization, org_id)
    if org is None:
        return []
    rules, providers = load_rules(session, org_id), load_providers(session)
    models = session.exec(select(CatalogModel).order_by(CatalogModel.id)).all()
    return [m.id for m in models if evaluate(rules, m, m.id, providers, org.code_training_opt_out)]


# --------------------------------------------------------------------------------------
# Reading: the tab's rows and summary
# --------------------------------------------------------------------------------------


def org_of_viewer(session: Session, actor: Actor) -> Organization:
    """The actor's organization, once the actor may view model access."""
    ensure_allowed(actor, "access.view")
    org = session.get(Organization, actor.org_id)
    if org is None:
        raise NotFound("The organization does not exist.")
    return org


def _provider_rows(
    rules: Rules, providers: dict[str, Provider], models: list[CatalogModel], opt_out: bool
) -> list[ProviderRow]:
    serves: dict[str, int] = {}
    for m in models:
        for s in serving_providers(m.id, m.providers, providers)[0]:
            serves[s] = serves.get(s, 0) + 1
    out = []
    for p in sorted(providers.values(), key=lambda p: p.name.lower()):
        verdict = _provider_verdict(rules, p, p.slug, opt_out)
        out.append(
            ProviderRow(
                slug=p.slug,
                name=p.name,
                headquarters=p.headquarters,
                datacenters=tuple(p.datacenters or ()),
                training=p.training,
                retains_prompts=p.retains_prompts,
                retention_days=p.retention_days,
                can_publish=p.can_publish,
                privacy_policy_url=p.privacy_policy_url,
                models=serves.get(p.slug, 0),
                enabled=rule_state(rules, PROVIDER, p.slug),
                allowed=verdict.allowed,
                reason=verdict.reason,
            )
        )
    return out


def _model_rows(
    rules: Rules, providers: dict[str, Provider], models: list[CatalogModel], opt_out: bool
) -> list[ModelRow]:
    out = []
    for m in models:
        verdict = evaluate(rules, m, m.id, providers, opt_out)
        slugs, inferred = serving_providers(m.id, m.providers, providers)
        out.append(
            ModelRow(
                id=m.id,
                name=m.name,
                author=m.author,
                context_length=m.context_length,
                input_modalities=tuple(m.input_modalities),
                output_modalities=tuple(m.output_modalities),
                prompt_price_mtok=m.prompt_price_mtok,
                completion_price_mtok=m.completion_price_mtok,
                providers=slugs,
                providers_inferred=inferred,
                created=m.created,
                enabled=rule_state(rules, MODEL, m.id),
                allowed=verdict.allowed,
                reason=verdict.reason,
            )
        )
    return out


def load_catalogue(session: Session) -> tuple[dict[str, Provider], list[CatalogModel]]:
    """The catalogue's providers by slug and its models by id."""
    models = list(session.exec(select(CatalogModel).order_by(CatalogModel.id)).all())
    return load_providers(session), models


def list_provider_rows(session: Session, *, actor: Actor) -> list[ProviderRow]:
    """Every catalogue provider with the organization's decision and its effect."""
    org = org_of_viewer(session, actor)
    providers, models = load_catalogue(session)
    return _provider_rows(load_rules(session, org.id), providers, models, org.code_training_opt_out)


def list_model_rows(session: Session, *, actor: Actor) -> list[ModelRow]:
    """Every catalogue model with the organization's decision and whether it is usable."""
    org = org_of_viewer(session, actor)
    providers, models = load_catalogue(session)
    return _model_rows(load_rules(session, org.id), providers, models, org.code_training_opt_out)


@dataclass(frozen=True)
class AccessSummary:
    code_training_opt_out: bool
    training_providers: list[str]  # names of providers whose policy allows training
    unknown_policy_providers: list[str]  # names with an unknown training policy
    default_model: str | None
    default_verdict: Verdict | None
    auto_allow_new_models: bool
    models_total: int
    models_allowed: int
    providers_total: int
    providers_allowed: int
    catalogue_imported_at: datetime | None


def get_summary(session: Session, *, actor: Actor) -> AccessSummary:
    """Headline facts of the tab: opt-out effect, default model, counts."""
    org = org_of_viewer(session, actor)
    rules = load_rules(session, org.id)
    providers, models = load_catalogue(session)
    opt_out = org.code_training_opt_out
    prow = _provider_rows(rules, providers, models, opt_out)
    mrow = _model_rows(rules, providers, models, opt_out)
    default = None
    if org.default_model:
        default = evaluate(
            rules,
            next((m for m in models if m.id == org.default_model), None),
            org.default_model,
            providers,
            opt_out,
        )
    return AccessSummary(
        code_training_opt_out=opt_out,
        training_providers=sorted(p.name for p in providers.values() if p.training),
        unknown_policy_providers=sorted(p.name for p in providers.values() if p.training is None),
        default_model=org.default_model,
        default_verdict=default,
        auto_allow_new_models=org.auto_allow_new_models,
        models_total=len(mrow),
        models_allowed=sum(r.allowed for r in mrow),
        providers_total=len(prow),
        providers_allowed=sum(r.allowed for r in prow),
        catalogue_imported_at=max((m.imported_at for m in models), default=None),
    )
