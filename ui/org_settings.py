"""Organization tab: the overview (metrics, roles, settings line), the quick actions and
their dialogs (seats, default model, policies, rename)."""

from __future__ import annotations

import streamlit as st

import ui
from kilo import access, billing, organization, usage
from kilo.permissions import ROLES, Actor, allowed
from ui.seats import seats_form


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_overview(actor: Actor) -> organization.Overview:
    return ui.read(organization.get_overview, actor=actor)


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_allowed_models(org_id: int) -> list[str]:
    return ui.read(access.allowed_model_ids, org_id=org_id)


@st.dialog("Manage seats", on_dismiss=ui.close_dialog)
def seats_dialog(actor: Actor, ov: organization.Overview) -> None:
    seats_form(
        actor,
        used=ov.seats_used,
        total=ov.seats_total,
        prefix="org",
        config=billing.resolve_config(),
    )


@st.dialog("Default model", on_dismiss=ui.close_dialog)
def default_model_dialog(actor: Actor, ov: organization.Overview) -> None:
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
def policies_dialog(actor: Actor, ov: organization.Overview) -> None:
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
def rename_dialog(actor: Actor, ov: organization.Overview) -> None:
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


def overview(ov: organization.Overview) -> None:
    """The metrics row, members by role and the settings line."""
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


def quick_actions(actor: Actor) -> None:
    """The row of quick actions the actor's role allows; each opens its dialog."""
    can_manage = allowed(actor, "members.manage")
    can_settings = allowed(actor, "organization.settings.change")
    is_owner_like = allowed(actor, "organization.seats.change")
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
