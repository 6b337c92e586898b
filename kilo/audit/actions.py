"""Every audit action the application records, with a one-line description.

`tests/test_docs.py` fails when an action recorded anywhere in `kilo/` is missing here or from
the README's list, so this registry is complete. Action names are dotted: the first two parts
are the action's group (`action_group`), which the Audit Logs chart counts by.
"""

from __future__ import annotations

AUDIT_ACTIONS: dict[str, str] = {
    # organization
    "organization.create": "An organization was created (kilo init, the demo seed).",
    "organization.settings.change": "The organization's name, policies or default model changed.",
    "organization.seats.change": "The number of paid seats changed.",
    "organization.model_access.change": "Provider or model rules, or the new-model setting, changed.",
    "organization.usage.import": "Usage events were imported from a file.",
    # members
    "organization.member.invite": "Someone was invited to join the organization.",
    "organization.member.resend_invitation": "A pending invitation got a new link.",
    "organization.member.revoke_invitation": "A pending invitation was revoked.",
    "organization.member.accept_invitation": "An invitee accepted and became a member.",
    "organization.member.change_role": "A member's role changed.",
    "organization.member.update": "A member's settings changed (e.g. the daily spend limit).",
    "organization.member.remove": "A member was removed from the organization.",
    "organization.member.password_reset_link": "An owner or admin issued a password reset link.",
    # teams and budgets
    "organization.team.create": "A team (cost center) was created.",
    "organization.team.rename": "A team was renamed.",
    "organization.team.delete": "A team was deleted (its members became unassigned).",
    "organization.team.assign": "A member was put in a team, moved, or taken out of one.",
    "organization.budget.set": "A monthly budget (organization, team or member) was set or changed.",
    "organization.budget.remove": "A monthly budget was removed.",
    # alerts
    "alerts.settings.change": "The alert rules changed (budget thresholds, runway, anomaly).",
    "alerts.channel.create": "An alert channel (e-mail, Slack or signed webhook) was added.",
    "alerts.channel.remove": "An alert channel was removed.",
    "alerts.channel.test": "A test alert was sent to a channel.",
    "alerts.summary.change": "An owner or admin turned their weekly summary e-mail on or off.",
    # sign-in and accounts
    "organization.user.login": "A member signed in with their password.",
    "organization.user.login_failed": "A sign-in failed (wrong password or throttled).",
    "organization.user.logout": "A member signed out.",
    "organization.user.sign_out_all": "A member ended all of their sessions.",
    "organization.user.change_password": "A member changed their password.",
    "organization.user.password_reset": "A member set a new password through a reset link.",
    # modes
    "organization.mode.create": "A custom mode was created.",
    "organization.mode.update": "A custom mode was changed.",
    "organization.mode.delete": "A custom mode was deleted.",
    # gateway API keys and tokens
    "gateway.key.create": "A member created one of their API keys.",
    "gateway.key.revoke": "An API key was revoked (by its member, an owner or an admin).",
    "gateway.token.create": "An owner or admin created an organization API token.",
    "gateway.token.revoke": "An owner or admin revoked an organization API token.",
    # catalogue
    "catalog.import": "The model catalogue was imported (one entry in every organization).",
    # billing
    "billing.credits.checkout": "A Stripe Checkout for credits was started.",
    "billing.credits.purchase": "Credits were bought.",
    "billing.refund": "A credit purchase was refunded.",
    "billing.adjustment": "An owner added a promotional credit or a manual adjustment.",
    "billing.alert.change": "The low-balance alert changed.",
    "billing.details.change": "The billing details changed.",
    "billing.customer.link": "The organization was linked to its Stripe customer.",
    "billing.subscription.link": "The organization was linked to its Stripe subscription.",
    "billing.invoice.paid": "A Stripe invoice was paid.",
    "billing.invoice.payment_failed": "A Stripe invoice payment failed.",
    "billing.invoice.status_change": "A Stripe invoice was imported or its status changed.",
}


def action_group(action: str) -> str:
    """The first two dotted parts of an action: `organization.member.invite` -> `organization.member`."""
    return ".".join(action.split(".")[:2])
