"""Organization tab: profile, balance, seats, members, teams, invitations, default model,
policies; for owners and admins, budgets, alerts, every member's API keys and the
organization's API tokens."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

import ui
from kilo import access, accounts, apikeys, billing, mail, members, organization, teams, usage
from kilo.apikeys import KeyRow
from kilo.invitations import invite_member, list_invitations, resend_invitation, revoke_invitation
from kilo.permissions import ROLES, Actor, allowed
from ui import alerts as alerts_ui
from ui import api_keys, invitations, reset_links
from ui import budgets as budgets_ui
from ui import teams as teams_ui
from ui.seats import seats_form

actor = ui.guard("organization.view")
can_manage = allowed(actor, "members.manage")
can_settings = allowed(actor, "organization.settings.change")
is_owner_like = allowed(actor, "organization.seats.change")
can_manage_keys = allowed(actor, "keys.manage")
can_manage_tokens = allowed(actor, "gateway.tokens")
NEW_TOKEN = "org_new_token"  # session state: the new token's secret, for one run (ui.api_keys)


# ---- loaders (plain data, cached) ---------------------------------------------------


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_overview(actor: Actor) -> organization.Overview:
    return ui.read(organization.get_overview, actor=actor)


def build_member_rows(session, *, actor: Actor) -> tuple[list[dict], bool]:  # noqa: ANN001
    """The member list, with each member's last Kilo request and whether the actor may
    edit or remove them (and why not), decided by the services' own rules; and whether
    the last requests of every member are shown (else only the actor's own)."""
    last_requests = usage.last_request_hours(session, actor=actor)
    team_names = {t.id: t.name for t in teams.list_teams(session, actor=actor)}
    everyone = usage.sees_every_member(session, actor=actor)
    spent_today = usage.list_spent_today(session, actor=actor)  # one query, UTC day
    rows = []
    for m in members.list_members(session, actor=actor):
        limit = (
            "no limit"
            if m.daily_spend_limit_micros is None
            else ui.fmt_micros(m.daily_spend_limit_micros)
        )
        spent = ui.fmt_micros(spent_today.get(m.id, 0)) if everyone or m.id == actor.id else "—"
        rows.append(
            {
                "id": m.id,
                "Name": m.name,
                "Email": m.email,
                "Role": m.role,
                "Team": teams_ui.team_label(m.team_id, team_names),
                "team_id": m.team_id,
                "Joined": ui.local_time(m.joined_at),
                "Last request": ui.local_time(last_requests.get(m.id)),
                "Last sign-in": ui.local_time(m.last_active_at),
                "Spent today / daily limit": f"{spent} / {limit}",
                "limit_micros": m.daily_spend_limit_micros,
                "edit": members.can_manage(actor, m),
                "remove": members.can_remove(session, actor=actor, member=m),
            }
        )
    return rows, everyone


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_members(actor: Actor) -> tuple[list[dict], bool]:
    return ui.read(build_member_rows, actor=actor)


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_invitations(actor: Actor) -> pd.DataFrame:
    rows = [
        {
            "id": i.id,
            "Email": i.email,
            "Role": i.role,
            "Invited": ui.local_time(i.created_at),
            "Expires": ui.local_time(i.expires_at),
        }
        for i in ui.read(list_invitations, actor=actor)
    ]
    return pd.DataFrame(rows, columns=["id", "Email", "Role", "Invited", "Expires"])


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_allowed_models(org_id: int) -> list[str]:
    return ui.read(access.allowed_model_ids, org_id=org_id)


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_all_keys(actor: Actor) -> list[KeyRow]:
    return ui.read(apikeys.list_api_keys, actor=actor, everyone=True, include_revoked=True)


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_tokens(actor: Actor) -> pd.DataFrame:
    rows = [
        {
            "id": t.id,
            "Name": t.name,
            "Scope": t.scope,
            "Token": f"{t.prefix}…",
            "Created": ui.fmt_datetime(t.created_at),
            "Last used": ui.fmt_datetime(t.last_used_at) if t.last_used_at else "never",
        }
        for t in ui.read(apikeys.list_tokens, actor=actor)
    ]
    return pd.DataFrame(rows, columns=["id", "Name", "Scope", "Token", "Created", "Last used"])


# ---- dialogs ------------------------------------------------------------------------


@st.dialog("Create API token", on_dismiss=ui.close_dialog)
def create_token_dialog() -> None:
    name = st.text_input(
        "Name",
        max_chars=100,
        key="org_token_name",
        placeholder="e.g. production gateway, finance export",
        help="Say which program uses the token, to recognise it later.",
    )
    scope = st.radio(
        "Scope",
        list(api_keys.SCOPES),
        format_func=api_keys.SCOPES.get,
        key="org_token_scope",
    )
    st.caption("The token is shown once, right after you create it; only a hash is stored.")
    if st.button("Create token", type="primary", key="org_token_create"):
        created = ui.run_action(
            lambda s: apikeys.create_token(s, actor=actor, name=name, scope=scope)
        )
        if created is not None:
            token, secret = created
            api_keys.keep_new_secret(
                NEW_TOKEN, what="API token", name=token.name, prefix=token.prefix, secret=secret
            )
            ui.close_dialog()
            st.rerun()


@st.dialog("Invite a member", on_dismiss=ui.close_dialog)
def invite_dialog() -> None:
    email = st.text_input("Email", key="org_invite_email", placeholder="name@company.com")
    roles = list(ROLES) if actor.role == "owner" else ["member", "admin"]
    role = st.selectbox("Role", roles, index=roles.index("member"), key="org_invite_role")
    if mail.is_configured():
        st.caption(
            "The invitation is e-mailed with a single-use link that expires in 7 days; the "
            "link is also shown to you once."
        )
    else:
        st.caption(invitations.NOT_CONFIGURED)
    if st.button("Create invitation", type="primary", key="org_invite_submit"):
        result = ui.run_action(
            lambda s: invite_member(s, actor=actor, email=email, role=role),
            success=f"Invitation created for {email}",
        )
        if result is not None:
            invitations.deliver(actor, *result, kind="invite", email=True)
            ui.close_dialog()
            st.rerun()


@st.dialog("Revoke invitation", on_dismiss=ui.close_dialog)
def revoke_invitation_dialog(row: dict) -> None:
    st.write(f"Revoke the invitation for **{ui.md_escape(row['label'])}**?")
    st.caption("Its link stops working at once and its seat becomes free.")
    confirm_col, cancel_col = st.columns(2)
    if confirm_col.button("Revoke", type="primary", key="org_invite_revoke_confirm"):
        ok = ui.run_action(
            lambda s: revoke_invitation(s, actor=actor, invitation_id=row["id"]) or True,
            success=f"Revoked {row['label']}",
        )
        if ok:
            ui.close_dialog()
            st.rerun()
    if cancel_col.button("Cancel", key="org_invite_revoke_cancel"):
        ui.close_dialog()
        st.rerun()


@st.dialog("Edit member", on_dismiss=ui.close_dialog)
def edit_member_dialog(row: dict) -> None:
    name = st.text_input("Name", value=row["Name"], key="org_edit_name")
    role = st.selectbox(
        "Role",
        ROLES,
        index=ROLES.index(row["Role"]),
        key="org_edit_role",
        disabled=row["id"] == actor.id,
        help="Nobody can change their own role." if row["id"] == actor.id else None,
    )
    limit = st.text_input(
        "Daily spend limit (USD, empty for no limit)",
        value="" if row["limit_micros"] is None else ui.fmt_micros(row["limit_micros"])[1:],
        key="org_edit_limit",
    )
    if st.button("Save", type="primary", key="org_edit_save"):

        def change(s):  # noqa: ANN001, ANN202
            limit_micros = None if not limit.strip() else ui.dollars_to_micros(limit)
            return members.update_member(
                s,
                actor=actor,
                member_id=row["id"],
                name=name,
                role=role,
                daily_spend_limit_micros=limit_micros,
            )

        if ui.run_action(change, success=f"Saved {row['Email']}") is not None:
            ui.close_dialog()
            st.rerun()


@st.dialog("Remove member", on_dismiss=ui.close_dialog)
def remove_member_dialog(row: dict) -> None:
    st.write(
        f"Remove **{ui.md_escape(row['Name'])}** ({ui.md_escape(row['Email'])}, "
        f"{row['Role']}) from the organization?"
    )
    st.caption("Their usage history stays. Their seat becomes free.")
    if st.button("Remove", type="primary", key="org_remove_confirm"):
        ok = ui.run_action(
            lambda s: members.remove_member(s, actor=actor, member_id=row["id"]) or True,
            success=f"Removed {row['Email']}",
        )
        if ok:
            ui.close_dialog()
            st.rerun()


@st.dialog("Reset password", on_dismiss=ui.close_dialog)
def reset_password_dialog(row: dict) -> None:
    st.write(
        f"Create a password reset link for **{ui.md_escape(row['Name'])}** "
        f"({ui.md_escape(row['Email'])})?"
    )
    st.caption(
        "The link works once, for 24 hours; an earlier unused link stops working. Choosing a "
        "new password through it signs them out everywhere."
        + ("" if mail.is_configured() else " E-mail is not configured: copy the link to them.")
    )
    if st.button("Create link", type="primary", key="org_reset_confirm"):
        created = ui.run_action(
            lambda s: accounts.create_reset_link(s, actor=actor, member_id=row["id"])
        )
        if created is not None:
            _, token = created
            st.session_state["org_reset_link"] = reset_links.deliver(
                actor, row["id"], row["Email"], token
            )
    if outcome := st.session_state.get("org_reset_link"):
        reset_links.show(outcome, row["id"])


@st.dialog("Manage seats", on_dismiss=ui.close_dialog)
def seats_dialog() -> None:
    seats_form(
        actor,
        used=ov.seats_used,
        total=ov.seats_total,
        prefix="org",
        config=billing.resolve_config(),
    )


@st.dialog("Default model", on_dismiss=ui.close_dialog)
def default_model_dialog() -> None:
    options = load_allowed_models(actor.org_id)
    index = options.index(ov.default_model) if ov.default_model in options else None
    model = st.selectbox(
        "Model used when a member has not chosen one",
        options,
        index=index,
        key="org_default_model",
        placeholder="Choose an allowed model",
    )
    st.caption("Only models allowed on the Model Access tab can be chosen.")
    if st.button("Save", type="primary", key="org_default_model_save"):
        if (
            ui.run_action(
                lambda s: organization.set_default_model(s, actor=actor, model_id=model or ""),
                success=f"Default model: {model}",
            )
            is not None
        ):
            ui.close_dialog()
            st.rerun()


@st.dialog("Policy settings", on_dismiss=ui.close_dialog)
def policies_dialog() -> None:
    opt_out = st.toggle(
        "Code-training opt-out",
        value=ov.code_training_opt_out,
        key="org_policy_opt_out",
        help="Block providers whose data policy allows training on prompts.",
    )
    analytics = st.toggle(
        "Usage analytics",
        value=ov.usage_analytics_enabled,
        key="org_policy_analytics",
        help="Per-member usage insights for owners and admins.",
    )
    if st.button("Save", type="primary", key="org_policy_save"):
        if (
            ui.run_action(
                lambda s: organization.set_policies(
                    s, actor=actor, code_training_opt_out=opt_out, usage_analytics_enabled=analytics
                ),
                success="Policies saved",
            )
            is not None
        ):
            ui.close_dialog()
            st.rerun()


@st.dialog("Rename organization", on_dismiss=ui.close_dialog)
def rename_dialog() -> None:
    name = st.text_input("Organization name", value=ov.name, key="org_rename_value")
    if st.button("Save", type="primary", key="org_rename_save"):
        if (
            ui.run_action(
                lambda s: organization.rename_organization(s, actor=actor, name=name),
                success="Organization renamed",
            )
            is not None
        ):
            ui.close_dialog()
            st.rerun()


# ---- page ---------------------------------------------------------------------------

ov = load_overview(actor)
st.title(ui.md_escape(ov.name), anchor=False)
st.caption(
    f"Organization created {ui.fmt_datetime(ov.created_at, '%B %d, %Y')}"
    + (" · demo data" if ov.is_demo else "")
)

active_from, active_to = ov.active_window
c1, c2, c3, c4 = st.columns(4)
c1.metric(
    "Credit balance",
    ui.fmt_micros(ov.balance_micros),
    border=True,
    help="Credits bought minus usage cost, from the ledger.",
)
c2.metric(
    "Seats used",
    f"{ov.seats_used} / {ov.seats_total}",
    border=True,
    help="Members plus pending invitations, of the seats paid for.",
)
c3.metric(
    "Active members (7 days)",
    f"{ov.active_total} / {ov.members_total}",
    border=True,
    help=(
        f"Members with at least one Kilo request in the last {usage.ACTIVE_DAYS} days "
        f"(UTC days {active_from:%Y-%m-%d} to {active_to:%Y-%m-%d}), as the Usage tab's "
        "Active users (7 days); dashboard sign-ins do not count. "
        + " · ".join(f"{r}: {ov.active_by_role[r]} of {ov.members_by_role[r]}" for r in ROLES)
    ),
)
c4.metric(
    "Code training on prompts",
    "Opted out" if ov.code_training_opt_out else "Allowed",
    border=True,
    help=(
        "Code-training opt-out is on: model access excludes providers whose data policy "
        "allows training on prompts (see Model Access; providers with an unknown policy are "
        "not excluded automatically)."
        if ov.code_training_opt_out
        else "Code-training opt-out is off: model access may use providers whose data "
        "policy allows training on prompts (see Model Access)."
    ),
)

role_cols = st.columns(3)
for col, role in zip(role_cols, ROLES, strict=True):
    col.caption(
        f"**{role.title()}s**: {ov.members_by_role[role]} "
        f"({ov.active_by_role[role]} with Kilo requests in the last {usage.ACTIVE_DAYS} days)"
    )

training = (
    "opted out (providers whose data policy allows training on prompts are excluded from "
    "model access)"
    if ov.code_training_opt_out
    else "allowed (providers whose data policy allows training on prompts can be used)"
)
st.markdown(
    f"**Default model:** {ui.md_code(ov.default_model or 'none')} · **Code training:** {training} · "
    f"**Usage analytics:** {'on' if ov.usage_analytics_enabled else 'off'}"
)

st.subheader("Quick actions")
# (shown, label, icon, key, dialog opened; None = go to the Invoices tab). The row holds only
# the actions the actor's role allows, so no blank gaps where the others would be.
QUICK_ACTIONS = [
    (
        allowed(actor, "billing.purchase"),
        "Buy credits",
        ":material/add_card:",
        "org_buy_credits",
        None,
    ),
    (can_manage, "Invite member", ":material/person_add:", "org_invite_open", "invite"),
    (is_owner_like, "Manage seats", ":material/event_seat:", "org_seats_open", "seats"),
    (can_settings, "Default model", ":material/smart_toy:", "org_default_model_open", "model"),
    (can_settings, "Policies", ":material/policy:", "org_policies_open", "policies"),
    (can_settings, "Rename", ":material/edit:", "org_rename_open", "rename"),
]
quick = [action for action in QUICK_ACTIONS if action[0]]
if quick:
    for col, (_, label, icon, key, dialog) in zip(st.columns(len(quick)), quick, strict=True):
        if dialog is None:
            if col.button(label, icon=icon, key=key, width="stretch"):
                st.switch_page("pages/invoices.py")
        else:
            col.button(
                label,
                icon=icon,
                key=key,
                width="stretch",
                on_click=ui.open_dialog,
                args=(f"org_{dialog}",),
            )
else:
    st.caption("Only owners and admins can change the organization.")

invitations.banner(("invite",))

st.subheader("Members")
member_rows, all_last_requests = load_members(actor)
rows_by_id = {r["id"]: r for r in member_rows}
df = pd.DataFrame(member_rows)
query = st.text_input("Search members", key="org_member_search", placeholder="Name or email")
shown = df
if query:
    mask = df["Name"].str.contains(query, case=False, regex=False) | df["Email"].str.contains(
        query, case=False, regex=False
    )
    shown = df[mask]
st.dataframe(
    shown.drop(columns=["id", "team_id", "limit_micros", "edit", "remove"]),
    hide_index=True,
    width="stretch",
    placeholder="—",
    column_config={
        "Joined": st.column_config.DatetimeColumn(format="YYYY-MM-DD"),
        "Last request": st.column_config.DatetimeColumn(
            format="YYYY-MM-DD HH:mm",
            help="The hour of the member's latest Kilo request (start of that hour, in your "
            "time zone), from the hourly usage rollup.",
        ),
        "Last sign-in": st.column_config.DatetimeColumn(
            format="YYYY-MM-DD HH:mm", help="The member's latest sign-in to this dashboard."
        ),
        "Spent today / daily limit": st.column_config.TextColumn(
            help="The member's recorded spend of the current UTC day, against their daily "
            "spend limit (it resets at 00:00 UTC; the gateway refuses requests once it is "
            "reached).",
        ),
    },
)
st.caption(
    f"{len(shown)} of {len(df)} members"
    + (
        ""
        if all_last_requests
        else " · Last request and spend today are shown for your own row only (other "
        "members' usage needs the owner or admin role and per-member usage analytics "
        "turned on)."
    )
)

if can_manage and not df.empty:
    pick_col, edit_col, reset_col, remove_col = st.columns(
        [3, 1, 1.3, 1], vertical_alignment="bottom"
    )
    labels = {int(r.id): f"{r.Name} <{r.Email}>" for r in shown.itertuples()}
    picked = pick_col.selectbox(
        "Member",
        list(labels),
        format_func=labels.get,
        key="org_member_pick",
        index=None,
        placeholder="Choose a member to edit or remove",
    )
    if picked is not None:
        row = rows_by_id[picked]
        (can_edit, edit_reason), (can_remove, remove_reason) = row["edit"], row["remove"]
        edit_col.button(
            "Edit",
            icon=":material/edit:",
            key="org_member_edit",
            width="stretch",
            on_click=ui.open_dialog,
            args=("org_edit", row),
            disabled=not can_edit,
            help=edit_reason,
        )
        reset_col.button(
            "Reset password",
            icon=":material/lock_reset:",
            key="org_member_reset",
            width="stretch",
            on_click=ui.open_dialog,
            args=("org_reset", row),
            disabled=not can_edit or row["id"] == actor.id,
            help=edit_reason
            or ("Change your own password on the Account page." if row["id"] == actor.id else None),
        )
        remove_col.button(
            "Remove",
            icon=":material/person_remove:",
            key="org_member_remove",
            width="stretch",
            on_click=ui.open_dialog,
            args=("org_remove", row),
            disabled=not can_remove,
            help=remove_reason,
        )
        # Said up front, not only on Save: the same rules the services enforce.
        for reason in dict.fromkeys(r for r in (edit_reason, remove_reason) if r):
            st.caption(f":material/lock: {ui.md_escape(reason)}")

if can_manage:
    st.subheader("Pending invitations")
    mail_on = mail.is_configured()
    if not mail_on:
        st.caption(invitations.NOT_CONFIGURED)
    invitations.banner(("resend", "copy"))
    inv = load_invitations(actor)
    if inv.empty:
        st.caption("No pending invitations.")
    else:
        st.dataframe(inv.drop(columns=["id"]), hide_index=True, width="stretch")
        inv_labels = {int(r.id): f"{r.Email} ({r.Role})" for r in inv.itertuples()}
        rc1, rc2, rc3, rc4 = st.columns([3, 1, 1, 1], vertical_alignment="bottom")
        picked_inv = rc1.selectbox(
            "Invitation", list(inv_labels), format_func=inv_labels.get, key="org_invite_pick"
        )
        new_link = None
        if rc2.button(
            "Resend",
            icon=":material/forward_to_inbox:",
            key="org_invite_resend",
            width="stretch",
            disabled=not mail_on,
            help="E-mail a new link; the previous link stops working."
            if mail_on
            else "E-mail is not configured; use Copy link again.",
        ):
            new_link = "resend"
        if rc3.button(
            "Copy link again",
            icon=":material/link:",
            key="org_invite_copy",
            width="stretch",
            help="Only a hash of each link is stored, so the old link cannot be shown again: "
            "this issues a new link to copy, and the previous link stops working.",
        ):
            new_link = "copy"
        if new_link and picked_inv is not None:
            result = ui.run_action(
                lambda s: resend_invitation(s, actor=actor, invitation_id=picked_inv),
                success=f"New link for {inv_labels[picked_inv]}",
            )
            if result is not None:
                invitations.deliver(actor, *result, kind=new_link, email=new_link == "resend")
                st.rerun()
        if picked_inv is not None:
            rc4.button(
                "Revoke",
                icon=":material/block:",
                key="org_invite_revoke",
                width="stretch",
                on_click=ui.open_dialog,
                args=("org_revoke_invite", {"id": picked_inv, "label": inv_labels[picked_inv]}),
            )
        st.caption(
            "Links are single-use and shown only once (only a hash is stored): Resend and "
            "Copy link again issue a new link valid for 7 days, and the previous one stops "
            "working."
        )

teams_ui.section(actor, member_rows)
budgets_ui.section(
    actor,
    today=datetime.now(UTC).date(),
    teams={t.id: t.name for t in teams_ui.load_teams(actor)},
    members={r["id"]: f"{r['Name']} <{r['Email']}>" for r in member_rows},
)
alerts_ui.section(actor)

if can_manage_keys:
    st.subheader("API keys")
    st.caption(
        "Every member's API keys. Members create and revoke their own on the Account page; "
        "removing a member revokes theirs. Times in your time zone."
    )
    all_keys = load_all_keys(actor)
    live_keys = [k for k in all_keys if k.revoked_at is None]
    show_revoked = st.toggle(
        "Show revoked keys",
        key="org_keys_show_revoked",
        disabled=len(live_keys) == len(all_keys),
    )
    shown_keys = all_keys if show_revoked else live_keys
    if shown_keys:
        st.dataframe(
            api_keys.key_frame(shown_keys, with_member=True).drop(columns=["id"]),
            hide_index=True,
            width="stretch",
        )
    holders = len({k.member_id for k in live_keys})
    st.caption(
        f"{api_keys.plural(len(live_keys), 'key')} not revoked, held by "
        f"{api_keys.plural(holders, 'member')}"
        if live_keys
        else "No member has an API key that is not revoked."
    )
    if live_keys:
        key_labels = {k.id: api_keys.key_label(k, with_member=True) for k in live_keys}
        kc1, kc2 = st.columns([4, 1], vertical_alignment="bottom")
        api_keys.revoke_picker(
            kc1,
            kc2,
            key_labels,
            kind="key",
            prefix="org_key",
            dialog="org_revoke_key",
            label="API key",
            placeholder="Choose a key to revoke",
        )

if can_manage_tokens:
    st.subheader("API tokens")
    st.caption(api_keys.ABOUT_TOKENS)
    api_keys.show_new_secret(NEW_TOKEN)
    tokens = load_tokens(actor)
    if tokens.empty:
        st.caption("No API tokens.")
    else:
        st.dataframe(tokens.drop(columns=["id"]), hide_index=True, width="stretch")
    tc1, tc2, tc3 = st.columns([1.2, 3, 1], vertical_alignment="bottom")
    tc1.button(
        "Create API token",
        icon=":material/key:",
        key="org_token_open",
        width="stretch",
        on_click=ui.open_dialog,
        args=("org_create_token",),
    )
    if not tokens.empty:
        token_labels = {int(t.id): f"{t.Name} ({t.Scope}, {t.Token})" for t in tokens.itertuples()}
        api_keys.revoke_picker(
            tc2,
            tc3,
            token_labels,
            kind="token",
            prefix="org_token",
            dialog="org_revoke_token",
            label="API token",
            placeholder="Choose a token to revoke",
        )

DIALOGS = {
    "org_invite": invite_dialog,
    "org_seats": seats_dialog,
    "org_model": default_model_dialog,
    "org_policies": policies_dialog,
    "org_rename": rename_dialog,
    "org_edit": edit_member_dialog,
    "org_remove": remove_member_dialog,
    "org_reset": reset_password_dialog,
    "org_revoke_invite": revoke_invitation_dialog,
    "org_create_token": create_token_dialog,
    "org_revoke_key": lambda item: api_keys.revoke_key_dialog(actor, item),
    "org_revoke_token": lambda item: api_keys.revoke_token_dialog(actor, item),
    "org_delete_team": lambda item: teams_ui.delete_team_dialog(actor, item),
}
dialog_name, payload = ui.opened_dialog()
if dialog_name in DIALOGS:
    DIALOGS[dialog_name](*([] if payload is None else [payload]))
