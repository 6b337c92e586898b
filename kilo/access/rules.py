"""Organization model access rules: listing them and changing them (preview, apply, audit).

Every change is previewed first (`preview_access_change`: what changes, which models members
gain or lose) and applied by `change_access`, which writes one audit entry with the readable
diff. How rules decide is in `kilo.access.evaluate`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, select

from kilo import audit
from kilo.access.evaluate import (
    MODEL,
    PROVIDER,
    Rules,
    RuleSet,
    evaluate,
    is_pattern,
    load_catalogue,
    load_providers,
    load_rules,
    org_of_viewer,
    rule_state,
)
from kilo.errors import ValidationError
from kilo.members import actor_for
from kilo.models import AccessRule, Organization, Provider
from kilo.permissions import Actor, ensure_allowed

# --------------------------------------------------------------------------------------
# Reading: the organization's rules
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleInfo:
    kind: str  # provider | model
    subject: str
    enabled: bool
    is_pattern: bool
    created_at: datetime


def list_rules(session: Session, *, actor: Actor) -> list[RuleInfo]:
    """The organization's rules, patterns first."""
    org_of_viewer(session, actor)
    rows = session.exec(select(AccessRule).where(AccessRule.org_id == actor.org_id)).all()
    out = [
        RuleInfo(r.subject_type, r.subject, r.allowed, is_pattern(r.subject), r.created_at)
        for r in rows
    ]
    return sorted(out, key=lambda r: (not r.is_pattern, r.kind, r.subject))


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
        if kind == MODEL and not is_pattern(text) and text not in model_ids:
            raise ValidationError(f"Model {text} is not in the catalogue; nothing was changed.")
        if kind == PROVIDER and not is_pattern(text) and text not in providers:
            raise ValidationError(f"Provider {text} is not in the catalogue; nothing was changed.")


def set_exact(rules: Rules, kind: str, subject: str, enabled: bool) -> None:
    """Make `subject` enabled/disabled with as few rules as possible."""
    rules.pop((kind, subject), None)
    if rule_state(rules, kind, subject) != enabled:
        rules[(kind, subject)] = enabled


def _plan(
    session: Session, org: Organization, change: AccessChange
) -> tuple[Rules, Rules, ChangePreview]:
    providers, models = load_catalogue(session)
    by_id = {m.id: m for m in models}
    _validate_subjects(change, providers, set(by_id))
    old = load_rules(session, org.id)
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
            set_exact(new, kind, subject, enabled)

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
    org = org_of_viewer(session, actor)
    ensure_allowed(actor, "access.change")
    return _plan(session, org, change)[2]


def change_access(
    session: Session, *, actor: Actor, change: AccessChange, at: datetime | None = None
) -> ChangePreview:
    """Apply a change; one `organization.model_access.change` audit entry with the diff.

    Refused (nothing changed) when it would block the default model or changes nothing.
    """
    org = org_of_viewer(session, actor)
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
    org = org_of_viewer(session, actor)
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
    actor = actor_for(owner)
    unknown = sorted(s for s, p in load_providers(session).items() if p.training is None)
    change_access(
        session,
        actor=actor,
        change=AccessChange(
            disable_providers=tuple(unknown),
            patterns=((MODEL, "*:free", False),),
        ),
        at=org.created_at + timedelta(days=1),
    )
