"""Organization tab: the member rows and table, the member dialogs (edit, remove, reset
password), and pending invitations (invite, resend, copy link again, revoke)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from kilo import accounts, mail, members, teams, usage
from kilo.invitations import invite_member, list_invitations, resend_invitation, revoke_invitation
from kilo.permissions import ROLES, Actor
from ui import invitations, reset_links
from ui import teams as teams_ui

SPENT_TODAY = "Spent today / limit"
# Column widths (px) of the Members table: together 962, within the main area at 1440 px
# (978 px with the sidebar open), so no column needs scrolling sideways. Room for a
# 36-character e-mail; a longer name, e-mail or team name ends in "…".
MEMBER_COLUMN_WIDTHS = {
    "Name": 130,
    "Email": 262,
    "Role": 62,
    "Team": 76,
    "Joined": 80,
    "Last request": 112,
    "Last sign-in": 112,
    SPENT_TODAY: 128,
}


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
                SPENT_TODAY: f"{spent} / {limit}",
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


@st.dialog("Invite a member", on_dismiss=ui.close_dialog)
def invite_dialog(actor: Actor) -> None:
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
def revoke_invitation_dialog(actor: Actor, row: dict) -> None:
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
def edit_member_dialog(actor: Actor, row: dict) -> None:
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
def remove_member_dialog(actor: Actor, row: dict) -> None:
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
def reset_password_dialog(actor: Actor, row: dict) -> None:
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


def members_section(actor: Actor, *, can_manage: bool) -> list[dict]:
    """The Members table with its search, and for managers the member picker with Edit,
    Reset password and Remove; returns the member rows."""
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
            "Name": st.column_config.TextColumn(width=MEMBER_COLUMN_WIDTHS["Name"], pinned=True),
            "Email": st.column_config.TextColumn(width=MEMBER_COLUMN_WIDTHS["Email"]),
            "Role": st.column_config.TextColumn(width=MEMBER_COLUMN_WIDTHS["Role"]),
            "Team": st.column_config.TextColumn(width=MEMBER_COLUMN_WIDTHS["Team"]),
            "Joined": st.column_config.DatetimeColumn(
                format="YYYY-MM-DD", width=MEMBER_COLUMN_WIDTHS["Joined"]
            ),
            "Last request": st.column_config.DatetimeColumn(
                format="YYYY-MM-DD HH:mm",
                width=MEMBER_COLUMN_WIDTHS["Last request"],
                help="The hour of the member's latest Kilo request (start of that hour, in your "
                "time zone), from the hourly usage rollup.",
            ),
            "Last sign-in": st.column_config.DatetimeColumn(
                format="YYYY-MM-DD HH:mm",
                width=MEMBER_COLUMN_WIDTHS["Last sign-in"],
                help="The member's latest sign-in to this dashboard.",
            ),
            SPENT_TODAY: st.column_config.TextColumn(
                width=MEMBER_COLUMN_WIDTHS[SPENT_TODAY],
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
                or (
                    "Change your own password on the Account page."
                    if row["id"] == actor.id
                    else None
                ),
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

    return member_rows


def invitations_section(actor: Actor) -> None:
    """Pending invitations with Resend, Copy link again and Revoke (for managers)."""
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
