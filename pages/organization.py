"""Organization tab: profile, balance, seats, members, invitations, default model, policies."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from kilo import access, billing, members, organization
from kilo.permissions import ROLES, Actor, allowed
from ui.seats import seats_form

actor = ui.guard("organization.view")
can_manage = allowed(actor, "members.manage")
can_settings = allowed(actor, "organization.settings.change")
is_owner_like = allowed(actor, "organization.seats.change")


# ---- loaders (plain data, cached) ---------------------------------------------------


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_overview(actor: Actor) -> organization.Overview:
    return ui.read(organization.get_overview, actor=actor)


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_members(actor: Actor) -> list[dict]:
    return [
        {
            "id": m.id,
            "Name": m.name,
            "Email": m.email,
            "Role": m.role,
            "Joined": ui.local_time(m.joined_at),
            "Last active": ui.local_time(m.last_active_at),
            "Daily limit": ui.fmt_micros(m.daily_spend_limit_micros)
            if m.daily_spend_limit_micros is not None
            else "No limit",
            "limit_micros": m.daily_spend_limit_micros,
        }
        for m in ui.read(members.list_members, actor=actor)
    ]


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
        for i in ui.read(members.list_invitations, actor=actor)
    ]
    return pd.DataFrame(rows, columns=["id", "Email", "Role", "Invited", "Expires"])


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_allowed_models(org_id: int) -> list[str]:
    return ui.read(access.allowed_model_ids, org_id=org_id)


def invitation_link(token: str) -> str:
    base = ui.public_base_url()
    return f"{base}/accept_invite?token={token}"


# ---- dialogs ------------------------------------------------------------------------


@st.dialog("Invite a member", on_dismiss=ui.close_dialog)
def invite_dialog() -> None:
    email = st.text_input("Email", key="org_invite_email", placeholder="name@company.com")
    roles = list(ROLES) if actor.role == "owner" else ["member", "admin"]
    role = st.selectbox("Role", roles, index=roles.index("member"), key="org_invite_role")
    st.caption("The link is single-use and expires in 7 days. It is shown only once.")
    if st.button("Create invitation", type="primary", key="org_invite_submit"):
        result = ui.run_action(
            lambda s: members.invite_member(s, actor=actor, email=email, role=role),
            success=f"Invitation created for {email}",
        )
        if result is not None:
            st.session_state["org_last_invite"] = (result[0].email, invitation_link(result[1]))
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
    help=" · ".join(f"{r}: {ov.active_by_role[r]} of {ov.members_by_role[r]}" for r in ROLES),
)
c4.metric(
    "Data collection",
    "Opted out" if ov.code_training_opt_out else "Allowed",
    border=True,
    help="Code-training opt-out blocks providers that may train on prompts.",
)
if ov.balance_micros < ov.low_balance_alert_micros:
    st.warning(
        ui.md_escape(
            f"The credit balance ({ui.fmt_micros(ov.balance_micros)}) is below "
            f"the alert threshold of {ui.fmt_micros(ov.low_balance_alert_micros)}."
        ),
        icon=":material/warning:",
    )

role_cols = st.columns(3)
for col, role in zip(role_cols, ROLES, strict=True):
    col.caption(
        f"**{role.title()}s**: {ov.members_by_role[role]} "
        f"({ov.active_by_role[role]} active in the last 7 days)"
    )

st.markdown(
    f"**Default model:** {ui.md_code(ov.default_model or 'none')} · "
    f"**Code-training opt-out:** {'on' if ov.code_training_opt_out else 'off'} · "
    f"**Usage analytics:** {'on' if ov.usage_analytics_enabled else 'off'}"
)

st.subheader("Quick actions")
qa = st.columns(6)
if allowed(actor, "billing.purchase") and qa[0].button(
    "Buy credits", icon=":material/add_card:", key="org_buy_credits", width="stretch"
):
    st.switch_page("pages/invoices.py")
quick = [
    (can_manage, 1, "Invite member", ":material/person_add:", "org_invite_open", "invite"),
    (is_owner_like, 2, "Manage seats", ":material/event_seat:", "org_seats_open", "seats"),
    (can_settings, 3, "Default model", ":material/smart_toy:", "org_default_model_open", "model"),
    (can_settings, 4, "Policies", ":material/policy:", "org_policies_open", "policies"),
    (can_settings, 5, "Rename", ":material/edit:", "org_rename_open", "rename"),
]
for shown, col, label, icon, key, dialog in quick:
    if shown:
        qa[col].button(
            label,
            icon=icon,
            key=key,
            width="stretch",
            on_click=ui.open_dialog,
            args=(f"org_{dialog}",),
        )
if not (can_manage or can_settings):
    st.caption("Only owners and admins can change the organization.")

last_invite = st.session_state.get("org_last_invite")
if last_invite:
    st.success(
        f"Send this single-use link to {ui.md_escape(last_invite[0])}. It is shown only "
        "once and expires in 7 days.",
        icon=":material/mail:",
    )
    st.code(last_invite[1], language=None)
    if st.button("Done", key="org_invite_done"):
        del st.session_state["org_last_invite"]
        st.rerun()

st.subheader("Members")
member_rows = load_members(actor)
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
    shown.drop(columns=["id", "limit_micros"]),
    hide_index=True,
    width="stretch",
    column_config={
        "Joined": st.column_config.DatetimeColumn(format="YYYY-MM-DD"),
        "Last active": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
    },
)
st.caption(f"{len(shown)} of {len(df)} members")

if can_manage and not df.empty:
    pick_col, edit_col, remove_col = st.columns([3, 1, 1], vertical_alignment="bottom")
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
        edit_col.button(
            "Edit",
            icon=":material/edit:",
            key="org_member_edit",
            width="stretch",
            on_click=ui.open_dialog,
            args=("org_edit", row),
        )
        remove_col.button(
            "Remove",
            icon=":material/person_remove:",
            key="org_member_remove",
            width="stretch",
            on_click=ui.open_dialog,
            args=("org_remove", row),
        )

if can_manage:
    st.subheader("Pending invitations")
    inv = load_invitations(actor)
    if inv.empty:
        st.caption("No pending invitations.")
    else:
        st.dataframe(inv.drop(columns=["id"]), hide_index=True, width="stretch")
        inv_labels = {int(r.id): f"{r.Email} ({r.Role})" for r in inv.itertuples()}
        rc1, rc2 = st.columns([3, 1], vertical_alignment="bottom")
        to_revoke = rc1.selectbox(
            "Invitation", list(inv_labels), format_func=inv_labels.get, key="org_invite_pick"
        )
        if rc2.button("Revoke", key="org_invite_revoke", width="stretch") and to_revoke:
            if ui.run_action(
                lambda s: (
                    members.revoke_invitation(s, actor=actor, invitation_id=to_revoke) or True
                ),
                success=f"Revoked {inv_labels[to_revoke]}",
            ):
                st.rerun()

DIALOGS = {
    "org_invite": invite_dialog,
    "org_seats": seats_dialog,
    "org_model": default_model_dialog,
    "org_policies": policies_dialog,
    "org_rename": rename_dialog,
    "org_edit": edit_member_dialog,
    "org_remove": remove_member_dialog,
}
dialog_name, payload = ui.opened_dialog()
if dialog_name in DIALOGS:
    DIALOGS[dialog_name](*([] if payload is None else [payload]))
