"""Organization model access: which providers and models members may use, and the check.

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
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from types import SimpleNamespace

from sqlmodel import Session, col, or_, select

from kilo import audit
from kilo.catalog import ModelRow, ProviderRow
from kilo.errors import NotFound, ValidationError
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


def _is_pattern(subject: str) -> bool:
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
                if _is_pattern(subject):
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


def evaluate(
    rules: Rules,
    model: CatalogModel | None,
    model_id: str,
    providers: dict[str, Provider],
    opt_out: bool,
    provider: str | None = None,
) -> Verdict:
    """The verdict for `model_id` (optionally through `provider`) under `rules`."""
    if model is None:
        return Verdict(False, f"model {model_id} is not in the catalogue", MODEL_NOT_ALLOWED)
    if not rule_state(rules, MODEL, model_id):
        return Verdict(False, f"model {model_id} is disabled", MODEL_NOT_ALLOWED)
    if provider:
        return _provider_verdict(rules, providers.get(provider), provider, opt_out)
    if not model.providers:
        return Verdict(
            False,
            f"no provider in the catalogue is known to serve {model_id}",
            PROVIDER_NOT_ALLOWED,
        )
    refusals = []
    for slug in model.providers:
        verdict = _provider_verdict(rules, providers.get(slug), slug, opt_out)
        if verdict:
            return verdict
        refusals.append(verdict)
    # Every serving provider is excluded: say it is the opt-out only when it is the only cause.
    codes = {v.code for v in refusals}
    code = PROVIDER_TRAINS if codes == {PROVIDER_TRAINS} else PROVIDER_NOT_ALLOWED
    return Verdict(False, "; ".join(v.reason for v in refusals), code)


def _load_rules(session: Session, org_id: int, subjects: Iterable[str] | None = None) -> RuleSet:
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


def _providers(session: Session) -> dict[str, Provider]:
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
    slugs = [provider] if provider else list(served or [])
    providers = {
        slug: SimpleNamespace(name=name, training=training)
        for slug, name, training in session.exec(
            select(Provider.slug, Provider.name, Provider.training).where(
                col(Provider.slug).in_(slugs)
            )
        )
    }
    rules = _load_rules(session, org_id, [model_id, *slugs])
    return evaluate(rules, model, model_id, providers, opt_out, provider)


def allowed_model_ids(session: Session, *, org_id: int) -> list[str]:
    """Ids of all catalogue models the organization's members may use (one pass)."""
    org = session.get(Organization, org_id)
    if org is None:
        return []
    rules, providers = _load_rules(session, org_id), _providers(session)
    models = session.exec(select(CatalogModel).order_by(CatalogModel.id)).all()
    return [m.id for m in models if evaluate(rules, m, m.id, providers, org.code_training_opt_out)]


# --------------------------------------------------------------------------------------
# Reading: the tab's rows and summary
# --------------------------------------------------------------------------------------


def _org(session: Session, actor: Actor) -> Organization:
    ensure_allowed(actor, "access.view")
    org = session.get(Organization, actor.org_id)
    if org is None:
        raise NotFound("The organization does not exist.")
    return org


@dataclass(frozen=True)
class RuleInfo:
    kind: str  # provider | model
    subject: str
    enabled: bool
    is_pattern: bool
    created_at: datetime


def list_rules(session: Session, *, actor: Actor) -> list[RuleInfo]:
    """The organization's rules, patterns first."""
    _org(session, actor)
    rows = session.exec(select(AccessRule).where(AccessRule.org_id == actor.org_id)).all()
    out = [
        RuleInfo(r.subject_type, r.subject, r.allowed, _is_pattern(r.subject), r.created_at)
        for r in rows
    ]
    return sorted(out, key=lambda r: (not r.is_pattern, r.kind, r.subject))


def _provider_rows(
    rules: Rules, providers: dict[str, Provider], models: list[CatalogModel], opt_out: bool
) -> list[ProviderRow]:
    serves: dict[str, int] = {}
    for m in models:
        for s in m.providers:
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
                providers=tuple(m.providers),
                created=m.created,
                enabled=rule_state(rules, MODEL, m.id),
                allowed=verdict.allowed,
                reason=verdict.reason,
            )
        )
    return out


def _catalogue(session: Session) -> tuple[dict[str, Provider], list[CatalogModel]]:
    models = list(session.exec(select(CatalogModel).order_by(CatalogModel.id)).all())
    return _providers(session), models


def list_provider_rows(session: Session, *, actor: Actor) -> list[ProviderRow]:
    """Every catalogue provider with the organization's decision and its effect."""
    org = _org(session, actor)
    providers, models = _catalogue(session)
    return _provider_rows(
        _load_rules(session, org.id), providers, models, org.code_training_opt_out
    )


def list_model_rows(session: Session, *, actor: Actor) -> list[ModelRow]:
    """Every catalogue model with the organization's decision and whether it is usable."""
    org = _org(session, actor)
    providers, models = _catalogue(session)
    return _model_rows(_load_rules(session, org.id), providers, models, org.code_training_opt_out)


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
    org = _org(session, actor)
    rules = _load_rules(session, org.id)
    providers, models = _catalogue(session)
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


# --------------------------------------------------------------------------------------
# Changes: preview, apply (one audit entry with a readable diff)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessChange:
    """What to change. Ids/slugs are exact subjects; `patterns` sets pattern rules
    ((kind, pattern) -> True enable, False disable, None remove the rule)."""

    enable_models: tuple[str, ...] = ()
    disable_models: tuple[str, ...] = ()
    enable_providers: tuple[str, ...] = ()
    disable_providers: tuple[str, ...] = ()
    patterns: tuple[tuple[str, str, bool | None], ...] = ()


@dataclass(frozen=True)
class ChangePreview:
    """The effect of an `AccessChange`, shown before it is applied."""

    enabled_models: list[str] = field(default_factory=list)
    disabled_models: list[str] = field(default_factory=list)
    enabled_providers: list[str] = field(default_factory=list)
    disabled_providers: list[str] = field(default_factory=list)
    pattern_changes: list[str] = field(default_factory=list)  # "anthropic/* → disabled"
    unchanged: int = 0  # requested subjects already in the wanted state
    newly_usable: list[str] = field(default_factory=list)  # models members gain
    newly_blocked: list[str] = field(default_factory=list)  # models members lose
    problem: str = ""  # why it would be refused ("" when it can be applied)

    @property
    def changes_anything(self) -> bool:
        return bool(
            self.enabled_models
            or self.disabled_models
            or self.enabled_providers
            or self.disabled_providers
            or self.pattern_changes
        )

    def message(self, limit: int = 15) -> str:
        """The readable diff, e.g. "Disabled models: a, b; Enabled providers: x"."""
        parts = []
        for label, items in (
            ("Enabled models", self.enabled_models),
            ("Disabled models", self.disabled_models),
            ("Enabled providers", self.enabled_providers),
            ("Disabled providers", self.disabled_providers),
            ("Rules", self.pattern_changes),
        ):
            if items:
                more = f" and {len(items) - limit} more" if len(items) > limit else ""
                parts.append(f"{label}: {', '.join(items[:limit])}{more}")
        return "; ".join(parts) or "No change"


def _validate_subjects(
    change: AccessChange, providers: dict[str, Provider], model_ids: set[str]
) -> None:
    for mid in (*change.enable_models, *change.disable_models):
        if mid not in model_ids:
            raise ValidationError(f"Model {mid} is not in the catalogue; nothing was changed.")
    for slug in (*change.enable_providers, *change.disable_providers):
        if slug not in providers:
            raise ValidationError(f"Provider {slug} is not in the catalogue; nothing was changed.")
    both_m = set(change.enable_models) & set(change.disable_models)
    both_p = set(change.enable_providers) & set(change.disable_providers)
    if both_m or both_p:
        raise ValidationError(
            f"{sorted(both_m | both_p)[0]} is both enabled and disabled in one change."
        )
    for kind, pattern, _ in change.patterns:
        if kind not in (MODEL, PROVIDER):
            raise ValidationError("A rule applies to a model or a provider.")
        text = pattern.strip()
        if not text or len(text) > 200 or any(c.isspace() for c in text):
            raise ValidationError(
                f"“{pattern}” is not a valid rule: use an id or a pattern like anthropic/* "
                "(no spaces, at most 200 characters)."
            )
        if kind == MODEL and not _is_pattern(text) and text not in model_ids:
            raise ValidationError(f"Model {text} is not in the catalogue; nothing was changed.")
        if kind == PROVIDER and not _is_pattern(text) and text not in providers:
            raise ValidationError(f"Provider {text} is not in the catalogue; nothing was changed.")


def _set_exact(rules: Rules, kind: str, subject: str, enabled: bool) -> None:
    """Make `subject` enabled/disabled with as few rules as possible."""
    rules.pop((kind, subject), None)
    if rule_state(rules, kind, subject) != enabled:
        rules[(kind, subject)] = enabled


def _plan(
    session: Session, org: Organization, change: AccessChange
) -> tuple[Rules, Rules, ChangePreview]:
    providers, models = _catalogue(session)
    by_id = {m.id: m for m in models}
    _validate_subjects(change, providers, set(by_id))
    old = _load_rules(session, org.id)
    new = RuleSet(old)
    for kind, pattern, enabled in change.patterns:
        key = (kind, pattern.strip())
        if enabled is None:
            new.pop(key, None)
        else:
            new[key] = enabled
    for kind, ids, enabled in (
        (MODEL, change.enable_models, True),
        (MODEL, change.disable_models, False),
        (PROVIDER, change.enable_providers, True),
        (PROVIDER, change.disable_providers, False),
    ):
        for subject in dict.fromkeys(ids):
            _set_exact(new, kind, subject, enabled)

    def flips(kind: str, subjects: Iterable[str]) -> tuple[list[str], list[str]]:
        on, off = [], []
        for s in subjects:
            before, after = rule_state(old, kind, s), rule_state(new, kind, s)
            if before != after:
                (on if after else off).append(s)
        return on, off

    en_m, dis_m = flips(MODEL, by_id)
    en_p, dis_p = flips(PROVIDER, sorted(providers))
    pattern_changes = []
    for kind, pattern, _ in change.patterns:
        key = (kind, pattern.strip())
        if old.get(key) != new.get(key):
            state = {True: "enabled", False: "disabled", None: "rule removed"}[new.get(key)]
            pattern_changes.append(f"{kind} {key[1]} → {state}")
    touched = (
        set(change.enable_models)
        | set(change.disable_models)
        | set(change.enable_providers)
        | set(change.disable_providers)
    )
    unchanged = len(touched - set(en_m) - set(dis_m) - set(en_p) - set(dis_p))
    opt_out = org.code_training_opt_out
    gained, lost = [], []
    for m in models:
        before = evaluate(old, m, m.id, providers, opt_out).allowed
        after = evaluate(new, m, m.id, providers, opt_out).allowed
        if before != after:
            (gained if after else lost).append(m.id)
    problem = ""
    if org.default_model:
        dm = by_id.get(org.default_model)
        before = evaluate(old, dm, org.default_model, providers, opt_out)
        after = evaluate(new, dm, org.default_model, providers, opt_out)
        if before and not after:
            problem = (
                f"This would block the default model {org.default_model} ({after.reason}). "
                "Choose another default model on the Organization tab first."
            )
    preview = ChangePreview(
        enabled_models=en_m,
        disabled_models=dis_m,
        enabled_providers=en_p,
        disabled_providers=dis_p,
        pattern_changes=pattern_changes,
        unchanged=unchanged,
        newly_usable=gained,
        newly_blocked=lost,
        problem=problem,
    )
    return old, new, preview


def preview_access_change(session: Session, *, actor: Actor, change: AccessChange) -> ChangePreview:
    """What `change_access` would do, without changing anything."""
    org = _org(session, actor)
    ensure_allowed(actor, "access.change")
    return _plan(session, org, change)[2]


def change_access(
    session: Session, *, actor: Actor, change: AccessChange, at: datetime | None = None
) -> ChangePreview:
    """Apply a change; one `organization.model_access.change` audit entry with the diff.

    Refused (nothing changed) when it would block the default model or changes nothing.
    """
    org = _org(session, actor)
    ensure_allowed(actor, "access.change")
    old, new, preview = _plan(session, org, change)
    if preview.problem:
        raise ValidationError(preview.problem)
    if not preview.changes_anything and old == new:
        raise ValidationError("Nothing to change: everything chosen is already in that state.")
    rows = {
        (r.subject_type, r.subject): r
        for r in session.exec(select(AccessRule).where(AccessRule.org_id == org.id)).all()
    }
    for key, row in rows.items():
        if key not in new:
            session.delete(row)
        elif new[key] != row.allowed:
            row.allowed = new[key]
            session.add(row)
    for key, enabled in new.items():
        if key not in rows:
            session.add(
                AccessRule(org_id=org.id, subject_type=key[0], subject=key[1], allowed=enabled)
            )
    session.flush()
    details = {
        "enabled_models": preview.enabled_models,
        "disabled_models": preview.disabled_models,
        "enabled_providers": preview.enabled_providers,
        "disabled_providers": preview.disabled_providers,
        "rules": preview.pattern_changes,
        "newly_usable": len(preview.newly_usable),
        "newly_blocked": len(preview.newly_blocked),
    }
    audit.record(
        session,
        actor=actor,
        action="organization.model_access.change",
        target="model access",
        message=preview.message(),
        details=details,
        at=at,
    )
    return preview


def set_new_model_policy(session: Session, *, actor: Actor, auto_allow: bool) -> Organization:
    """New catalogue models: allowed automatically, or blocked until an admin enables them."""
    org = _org(session, actor)
    ensure_allowed(actor, "access.change")
    if org.auto_allow_new_models == auto_allow:
        return org
    label = {True: "allowed automatically", False: "blocked until approved"}
    message = f"New models: {label[org.auto_allow_new_models]} → {label[auto_allow]}"
    org.auto_allow_new_models = auto_allow
    session.add(org)
    audit.record(
        session,
        actor=actor,
        action="organization.model_access.change",
        target="new models",
        message=message,
        details={"field": "auto_allow_new_models", "before": not auto_allow, "after": auto_allow},
    )
    return org


def seed_demo(session: Session, org: Organization, owner: object, rng: object) -> None:
    """Demo decisions: providers with an unknown data policy and `:free` variants disabled."""
    from kilo.members import actor_for

    actor = actor_for(owner)
    unknown = sorted(s for s, p in _providers(session).items() if p.training is None)
    change_access(
        session,
        actor=actor,
        change=AccessChange(
            disable_providers=tuple(unknown),
            patterns=((MODEL, "*:free", False),),
        ),
        at=org.created_at + timedelta(days=1),
    )
