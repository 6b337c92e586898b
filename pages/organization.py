"""Organization tab: profile, balance, seats, members, teams, invitations, default model,
policies; for owners and admins, budgets, alerts, every member's API keys and the
organization's API tokens."""

from __future__ import annotations

from datetime import UTC, datetime

import streamlit as st

import ui
from kilo.permissions import allowed
from ui import alerts as alerts_ui
from ui import api_keys, invitations, org_members, org_settings
from ui import budgets as budgets_ui
from ui import teams as teams_ui

actor = ui.guard("organization.view")
can_manage = allowed(actor, "members.manage")
can_manage_keys = allowed(actor, "keys.manage")
can_manage_tokens = allowed(actor, "gateway.tokens")

ov = org_settings.load_overview(actor)
st.title(ui.md_escape(ov.name), anchor=False)
st.caption(
    f"Organization created {ui.fmt_datetime(ov.created_at, '%B %d, %Y')}"
    + (" · demo data" if ov.is_demo else "")
)

org_settings.overview(ov)

org_settings.quick_actions(actor)

invitations.banner(("invite",))

member_rows = org_members.members_section(actor, can_manage=can_manage)
if can_manage:
    org_members.invitations_section(actor)

teams_ui.section(actor, member_rows)
budgets_ui.section(
    actor,
    today=datetime.now(UTC).date(),
    teams={t.id: t.name for t in teams_ui.load_teams(actor)},
    members={r["id"]: f"{r['Name']} <{r['Email']}>" for r in member_rows},
)
alerts_ui.section(actor)

if can_manage_keys:
    api_keys.org_keys_section(actor)
if can_manage_tokens:
    api_keys.org_tokens_section(actor)

DIALOGS = {
    "org_invite": lambda: org_members.invite_dialog(actor),
    "org_seats": lambda: org_settings.seats_dialog(actor, ov),
    "org_model": lambda: org_settings.default_model_dialog(actor, ov),
    "org_policies": lambda: org_settings.policies_dialog(actor, ov),
    "org_rename": lambda: org_settings.rename_dialog(actor, ov),
    "org_edit": lambda row: org_members.edit_member_dialog(actor, row),
    "org_remove": lambda row: org_members.remove_member_dialog(actor, row),
    "org_reset": lambda row: org_members.reset_password_dialog(actor, row),
    "org_revoke_invite": lambda row: org_members.revoke_invitation_dialog(actor, row),
    "org_create_token": lambda: api_keys.create_token_dialog(actor),
    "org_revoke_key": lambda item: api_keys.revoke_key_dialog(actor, item),
    "org_revoke_token": lambda item: api_keys.revoke_token_dialog(actor, item),
    "org_delete_team": lambda item: teams_ui.delete_team_dialog(actor, item),
}
dialog_name, payload = ui.opened_dialog()
if dialog_name in DIALOGS:
    DIALOGS[dialog_name](*([] if payload is None else [payload]))
