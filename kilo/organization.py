"""Organization profile, policies and default model, and the overview the Organization tab shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlmodel import Session, col, func, select

from kilo import audit, usage
from kilo.errors import NotFound, ValidationError
from kilo.members import clean_name, seats_in_use
from kilo.models import Member, Organization
from kilo.permissions import ROLES, Actor, ensure_allowed


@dataclass(frozen=True)
class Overview:
    name: str
    created_at: datetime
    balance_micros: int
    low_balance_alert_micros: int
    seats_total: int
    seats_used: int
    members_by_role: dict[str, int]
    active_by_role: dict[str, int]  # with a Kilo request in `active_window`
    active_window: tuple[date, date]  # inclusive UTC days (kilo.usage.active_window)
    code_training_opt_out: bool
    usage_analytics_enabled: bool
    default_model: str | None
    is_demo: bool

    @property
    def members_total(self) -> int:
        return sum(self.members_by_role.values())

    @property
    def active_total(self) -> int:
        return sum(self.active_by_role.values())


def get_organization(session: Session, *, actor: Actor) -> Organization:
    ensure_allowed(actor, "organization.view")
    org = session.get(Organization, actor.org_id)
    if org is None:
        raise NotFound("The organization does not exist.")
    return org


def get_overview(session: Session, *, actor: Actor, today: date | None = None) -> Overview:
    """The Organization tab's figures. Active members are those with a Kilo request in the
    last 7 UTC days up to `today` (default: the current UTC day), as on the Usage tab."""
    from kilo.billing import balance_micros  # billing imports organization for seats

    org = get_organization(session, actor=actor)
    today = today or datetime.now(UTC).date()
    rows = session.exec(
        select(Member.role, func.count())
        .where(Member.org_id == org.id, col(Member.removed_at).is_(None))
        .group_by(Member.role)
    ).all()
    by_role = {r: 0 for r in ROLES} | {role: int(n) for role, n in rows}
    active = {r: 0 for r in ROLES} | usage.count_active_by_role(session, actor=actor, today=today)
    return Overview(
        name=org.name,
        created_at=org.created_at,
        balance_micros=balance_micros(session, org_id=org.id),
        low_balance_alert_micros=org.low_balance_alert_micros,
        seats_total=org.seats,
        seats_used=seats_in_use(session, org_id=org.id),
        members_by_role=by_role,
        active_by_role=active,
        active_window=usage.active_window(today),
        code_training_opt_out=org.code_training_opt_out,
        usage_analytics_enabled=org.usage_analytics_enabled,
        default_model=org.default_model,
        is_demo=org.is_demo,
    )


def rename_organization(session: Session, *, actor: Actor, name: str) -> Organization:
    ensure_allowed(actor, "organization.settings.change")
    org = get_organization(session, actor=actor)
    new = clean_name(name, "The organization name")
    if new == org.name:
        return org
    old, org.name = org.name, new
    session.add(org)
    audit.record(
        session,
        actor=actor,
        action="organization.settings.change",
        target="name",
        message=f"Organization name: {old} → {new}",
        details={"field": "name", "before": old, "after": new},
    )
    return org


def set_policies(
    session: Session,
    *,
    actor: Actor,
    code_training_opt_out: bool | None = None,
    usage_analytics_enabled: bool | None = None,
) -> Organization:
    """Data-collection policies. Opting out of code training blocks providers that train."""
    ensure_allowed(actor, "organization.settings.change")
    org = get_organization(session, actor=actor)
    changes = {}
    if code_training_opt_out is not None and code_training_opt_out != org.code_training_opt_out:
        changes["code_training_opt_out"] = [org.code_training_opt_out, code_training_opt_out]
    if (
        usage_analytics_enabled is not None
        and usage_analytics_enabled != org.usage_analytics_enabled
    ):
        changes["usage_analytics_enabled"] = [org.usage_analytics_enabled, usage_analytics_enabled]
    if not changes:
        return org
    if code_training_opt_out and org.default_model:
        from kilo.access import is_model_allowed

        org.code_training_opt_out = True
        verdict = is_model_allowed(session, org.id, org.default_model)
        if not verdict.allowed:
            raise ValidationError(
                f"Opting out of code training would block the default model {org.default_model} "
                f"({verdict.reason}); choose another default model first."
            )
    for field, (_, new) in changes.items():
        setattr(org, field, new)
    session.add(org)
    labels = {
        "code_training_opt_out": "Code-training opt-out",
        "usage_analytics_enabled": "Usage analytics",
    }
    audit.record(
        session,
        actor=actor,
        action="organization.settings.change",
        target="policies",
        message="; ".join(
            f"{labels[f]}: {_onoff(o)} → {_onoff(n)}" for f, (o, n) in changes.items()
        ),
        details={"changes": changes},
    )
    return org


def _onoff(value: bool) -> str:
    return "on" if value else "off"


def set_default_model(session: Session, *, actor: Actor, model_id: str) -> Organization:
    """The model new sessions use; it must be allowed by the organization's model access."""
    from kilo.access import is_model_allowed

    ensure_allowed(actor, "organization.settings.change")
    org = get_organization(session, actor=actor)
    model_id = (model_id or "").strip()
    if not model_id:
        raise ValidationError("Choose a default model.")
    verdict = is_model_allowed(session, org.id, model_id)
    if not verdict.allowed:
        raise ValidationError(f"{model_id} cannot be the default model: {verdict.reason}.")
    if model_id == org.default_model:
        return org
    old, org.default_model = org.default_model, model_id
    session.add(org)
    audit.record(
        session,
        actor=actor,
        action="organization.settings.change",
        target="default_model",
        message=f"Default model: {old or 'none'} → {model_id}",
        details={"field": "default_model", "before": old, "after": model_id},
    )
    return org
