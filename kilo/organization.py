"""Organizations: creating one with its first owner (`python -m kilo init`), the profile,
policies and default model, and the overview the Organization tab shows."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlmodel import Session, col, func, select

from kilo import audit, usage
from kilo.billing.ledger import balance_micros
from kilo.billing.seats import MAX_SEATS
from kilo.errors import Conflict, NotFound, ValidationError
from kilo.invitations import invite_member, revoke_invitation
from kilo.members import clean_name, normalise_email, seats_in_use
from kilo.models import CatalogModel, Invitation, Member, Organization
from kilo.permissions import ROLES, Actor, ensure_allowed, system_actor

DEFAULT_SEATS = 10
DEFAULT_PUBLIC_URL = "http://localhost:8501"
# What the sign-in page says while the database holds no organization and the demo is off.
NO_ORGANIZATION_HELP = (
    "This dashboard has no organization yet. On the server, create yours and its first "
    "owner with\n\n"
    '    python -m kilo init --org "Your company" --owner-email you@company.com\n\n'
    "then open the single-use link it prints to choose your name and password."
)


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


# ---- creating organizations ------------------------------------------------------------


@dataclass(frozen=True)
class NewOrganization:
    org: Organization
    invitation: Invitation
    token: str  # the owner's single-use invitation token, shown once


def any_organization(session: Session) -> bool:
    """Whether the database holds any organization (the demo or a real one)."""
    return session.exec(select(Organization.id).limit(1)).first() is not None


def _lock_organizations(session: Session) -> None:
    # Two concurrent `init`s must not both pass the duplicate-name check. SQLite writers
    # already hold the database write lock (BEGIN IMMEDIATE).
    if session.get_bind().dialect.name == "postgresql":
        session.exec(text("SELECT pg_advisory_xact_lock(6900000)"))


def _same_name(session: Session, name: str) -> Organization | None:
    key = name.casefold()
    for org in session.exec(select(Organization)).all():
        if " ".join(org.name.split()).casefold() == key:
            return org
    return None


def create_organization(
    session: Session,
    *,
    name: str,
    owner_email: str,
    seats: int = DEFAULT_SEATS,
    created_by: str = "System (CLI)",
) -> NewOrganization:
    """A new organization and a single-use invitation for its first owner.

    Only server-side code calls this (`python -m kilo init`): no dashboard role may create
    organizations. Refused when an organization of that name (ignoring case) exists, when
    the owner's e-mail already signs in to an organization (usernames are global), and
    while the database holds the demo organization, whose accounts share a published
    password. Audited as `organization.create` and `organization.member.invite` in the new
    organization's log. The model catalogue is loaded from the shipped snapshot if empty.
    """
    from kilo import catalog

    name = clean_name(name, "The organization name")
    owner_email = normalise_email(owner_email)
    if isinstance(seats, bool) or not isinstance(seats, int) or not 1 <= seats <= MAX_SEATS:
        raise ValidationError(f"Seats must be a whole number from 1 to {MAX_SEATS:,}.")
    _lock_organizations(session)
    demo = session.exec(select(Organization).where(col(Organization.is_demo))).first()
    if demo is not None:
        raise Conflict(
            f"The database holds the demo organization “{demo.name}”, whose accounts share a "
            "published password. Create real organizations in a database without it: add "
            "--remove-demo to delete the demo (everything in this database) first, or point "
            "DATABASE_URL at a new database."
        )
    existing = _same_name(session, name)
    if existing is not None:
        raise Conflict(
            f"An organization named “{existing.name}” already exists (id {existing.id}); "
            "nothing was created. Choose another name (or, if its first owner never joined, "
            "add --new-link for a new owner link)."
        )
    taken = session.exec(select(Member).where(Member.username == owner_email)).first()
    if taken is not None:
        other = session.get(Organization, taken.org_id)
        raise Conflict(
            f"{owner_email} already has an account (in “{other.name}”); an account belongs to "
            "one organization. Use another e-mail address for the owner."
        )
    if session.exec(select(CatalogModel.id).limit(1)).first() is None:
        catalog.import_snapshot(session)
    org = Organization(name=name, seats=seats)
    session.add(org)
    session.flush()
    actor = system_actor(org.id, created_by)
    audit.record(
        session,
        actor=actor,
        action="organization.create",
        target=name,
        message=f"Created organization {name} with {seats} seats; first owner {owner_email}",
        details={"name": name, "seats": seats, "owner_email": owner_email},
    )
    invitation, token = invite_member(session, actor=actor, email=owner_email, role="owner")
    return NewOrganization(org=org, invitation=invitation, token=token)


def new_owner_link(
    session: Session, *, name: str, owner_email: str, created_by: str = "System (CLI)"
) -> NewOrganization:
    """A new owner invitation for an organization whose first owner never joined.

    Pending owner invitations are revoked (the old links stop working). Refused once the
    organization has an owner: they invite further owners from the Organization tab.
    """
    name = clean_name(name, "The organization name")
    owner_email = normalise_email(owner_email)
    org = _same_name(session, name)
    if org is None:
        raise NotFound(
            f"There is no organization named “{name}”; leave out --new-link to create it."
        )
    owners = session.exec(
        select(Member.id).where(
            Member.org_id == org.id, Member.role == "owner", col(Member.removed_at).is_(None)
        )
    ).first()
    if owners is not None:
        raise Conflict(
            f"“{org.name}” already has an owner; they invite members and owners from the "
            "Organization tab."
        )
    actor = system_actor(org.id, created_by)
    for pending in session.exec(
        select(Invitation).where(
            Invitation.org_id == org.id,
            Invitation.role == "owner",
            col(Invitation.accepted_at).is_(None),
            col(Invitation.revoked_at).is_(None),
        )
    ).all():
        revoke_invitation(session, actor=actor, invitation_id=pending.id)
    invitation, token = invite_member(session, actor=actor, email=owner_email, role="owner")
    return NewOrganization(org=org, invitation=invitation, token=token)


def choose_org_id(session: Session, org_id: int | None) -> int:
    """The organization a command acts on: `--org ID`, or the only one in the database."""
    if org_id is not None:
        if session.get(Organization, org_id) is None:
            raise ValidationError(f"There is no organization with id {org_id}.")
        return org_id
    orgs = session.exec(select(Organization.id, Organization.name).order_by(Organization.id)).all()
    if len(orgs) == 1:
        return orgs[0][0]
    if not orgs:
        raise ValidationError(
            "The database holds no organization; create one with python -m kilo init."
        )
    listed = ", ".join(f"{i} ({n})" for i, n in orgs)
    raise ValidationError(
        f"The database holds {len(orgs)} organizations; choose one with --org ID: {listed}."
    )


# ---- command line ----------------------------------------------------------------------


def public_url(given: str | None) -> str:
    """--public-url, else KILO_PUBLIC_URL, else http://localhost:8501 (no trailing slash)."""
    url = (given or os.environ.get("KILO_PUBLIC_URL") or DEFAULT_PUBLIC_URL).strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise ValidationError(
            f"The public URL “{url}” must be the address members open, like "
            "https://kilo.example.com (http or https, no query)."
        )
    return url.rstrip("/")
