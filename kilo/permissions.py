"""Roles, actions and the one check every service makes: `ensure_allowed(actor, action)`.

Hiding a page or a button is presentation; this module is the authorisation.
"""

from __future__ import annotations

from dataclasses import dataclass

from kilo.errors import PermissionDenied

ROLES = ("owner", "admin", "member")
SYSTEM = "system"  # command-line and gateway processes: trusted, run on the server

_ALL = frozenset({"owner", "admin", "member"})
_ADMINS = frozenset({"owner", "admin"})
_OWNER = frozenset({"owner"})
# No role: only the server operator, through the command line (a system actor). The model
# catalogue is shared by every organization in the database, so no organization's member
# may change it.
_OPERATOR = frozenset[str]()

# action -> roles allowed. Keep in step with the role table in README.md.
ACTIONS: dict[str, frozenset[str]] = {
    "organization.view": _ALL,
    "organization.settings.change": _ADMINS,  # name, policies, default model
    "organization.seats.change": _OWNER,
    "members.view": _ALL,
    "members.manage": _ADMINS,  # invite, revoke, remove, change role, edit profile
    "teams.manage": _ADMINS,  # create, rename, delete teams; put members in a team
    "budgets.manage": _ADMINS,  # monthly budgets of the organization, teams and members
    "usage.view_own": _ALL,
    "usage.view_all": _ADMINS,  # all members' usage, per-user insights
    "usage.ingest": _ADMINS,
    "access.view": _ALL,
    "access.change": _ADMINS,
    "catalog.import": _OPERATOR,  # python -m kilo catalog import, on the server
    "modes.view": _ALL,
    "modes.change": _ADMINS,
    "audit.view": _ADMINS,
    "billing.view": _ADMINS,  # invoices view/download, payment history
    "billing.purchase": _OWNER,  # buy credits
    "billing.change": _OWNER,  # billing details, refunds, adjustments, alert threshold
    "keys.own": _ALL,  # create, list and revoke one's own gateway API keys
    "keys.manage": _ADMINS,  # see every member's keys, revoke any
    "gateway.tokens": _ADMINS,  # create and revoke the organization's API tokens
    "alerts.manage": _ADMINS,  # alert rules, channels, test alerts, history, weekly summary
}

_ACTION_LABELS = {
    "organization.settings.change": "change organization settings",
    "organization.seats.change": "change the number of seats",
    "members.manage": "manage members and invitations",
    "teams.manage": "manage teams",
    "budgets.manage": "manage budgets",
    "usage.view_all": "see other members' usage",
    "usage.ingest": "import usage",
    "access.change": "change model access",
    "catalog.import": "import the model catalogue",
    "modes.change": "change modes",
    "audit.view": "view the audit log",
    "billing.view": "view invoices and payments",
    "billing.purchase": "buy credits",
    "billing.change": "change billing settings",
    "keys.own": "manage API keys",
    "keys.manage": "manage other members' API keys",
    "gateway.tokens": "manage the organization's API tokens",
    "alerts.manage": "manage alerts",
}


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in member, or the system (CLI, gateway)."""

    id: int | None
    org_id: int
    role: str
    name: str
    email: str

    @property
    def is_system(self) -> bool:
        return self.role == SYSTEM


def system_actor(org_id: int, name: str = "System (CLI)") -> Actor:
    return Actor(id=None, org_id=org_id, role=SYSTEM, name=name, email="")


def allowed(actor: Actor, action: str) -> bool:
    if action not in ACTIONS:
        raise KeyError(f"Unknown action {action!r}")
    return actor.is_system or actor.role in ACTIONS[action]


def ensure_allowed(actor: Actor, action: str) -> None:
    if not allowed(actor, action):
        label = _ACTION_LABELS.get(action, action)
        if not ACTIONS[action]:
            raise PermissionDenied(
                f"No role can {label}; the server operator does it with `python -m kilo` "
                "on the server."
            )
        needed = " or ".join(sorted(ACTIONS[action], key=ROLES.index))
        raise PermissionDenied(
            f"Your role ({actor.role}) cannot {label}; this needs the {needed} role."
        )
