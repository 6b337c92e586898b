"""The Organization tab's Budgets section (owners and admins): each monthly budget with
spent / budget, a progress bar and the forecast to the month's end, and the form that sets
or removes one. Everything goes through `kilo.budgets` (permission, audit, lock)."""

from __future__ import annotations

from datetime import date

import streamlit as st

import ui
from kilo import budgets, money
from kilo.permissions import Actor, allowed

SCOPE_LABELS = {
    "organization": "Organization",
    "team": "A team",
    "member": "A member (monthly limit)",
}


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_budgets(actor: Actor, today: date) -> list[budgets.BudgetStatus]:
    return ui.read(budgets.list_budgets, actor=actor, today=today)


def _title(b: budgets.BudgetStatus) -> str:
    if b.scope == "organization":
        return "Organization"
    return f"Team {b.name}" if b.scope == "team" else f"Member {b.name}"


def _show(b: budgets.BudgetStatus) -> None:
    kind = "hard: requests are refused once spent" if b.hard else "soft: never refuses"
    st.markdown(
        f"**{ui.md_escape(_title(b))}** · {ui.fmt_micros(b.amount_micros)} a month · {kind}"
    )
    if b.spent_micros is None:
        st.caption(
            "Spend hidden: per-member usage analytics are off (a team's or member's spend is "
            "per-member data)."
        )
        return
    share = b.spent_micros / b.amount_micros
    st.progress(
        min(share, 1.0),
        text=f"{ui.fmt_micros(b.spent_micros)} / {ui.fmt_micros(b.amount_micros)} "
        f"({share:.0%}) spent since {b.period_start:%d %b}",
    )
    projected = b.projected_micros or 0
    verdict = "over the budget" if projected > b.amount_micros else "within the budget"
    st.caption(
        f"Forecast by {b.period_end:%d %b}: {ui.fmt_micros(projected)} ({verdict}), at the "
        "last 7 days' average daily spend."
    )


def section(actor: Actor, *, today: date, teams: dict[int, str], members: dict[int, str]) -> None:
    """The Budgets section; `teams` and `members` map ids to labels for the form."""
    if not allowed(actor, "usage.view_all"):
        return
    st.subheader("Budgets")
    st.caption(
        "Monthly budgets (calendar month, UTC) for the organization, each team and any member. "
        "A hard budget makes the gateway refuse requests (budget_exhausted) once the month's "
        "spend reaches it; a soft one never refuses. Alerts (below) tell the alert channels "
        "when a budget reaches each threshold (50, 80 and 100% unless changed)."
    )
    listed = load_budgets(actor, today)
    if not listed:
        st.caption("No budgets.")
    for b in listed:
        _show(b)
    if allowed(actor, "budgets.manage"):
        _form(actor, listed, teams, members)


def _form(
    actor: Actor,
    listed: list[budgets.BudgetStatus],
    teams: dict[int, str],
    members: dict[int, str],
) -> None:
    with st.expander("Set or remove a budget", icon=":material/savings:"):
        scopes = ["organization", *(["team"] if teams else []), "member"]
        scope = st.radio(
            "For", scopes, format_func=SCOPE_LABELS.get, key="org_budget_scope", horizontal=True
        )
        target = None
        if scope == "team":
            target = st.selectbox("Team", list(teams), format_func=teams.get, key="org_budget_team")
        elif scope == "member":
            target = st.selectbox(
                "Member", list(members), format_func=members.get, key="org_budget_member"
            )
        amount = st.text_input(
            "Budget per month (USD)", key="org_budget_amount", placeholder="e.g. 500"
        )
        hard = st.toggle(
            "Hard: refuse requests once it is spent",
            key="org_budget_hard",
            help="Off: a soft budget, which never refuses; alerts still fire at its thresholds.",
        )
        if st.button("Save budget", type="primary", key="org_budget_save"):

            def save(s):  # noqa: ANN001, ANN202
                micros = money.parse_usd(amount)
                return budgets.set_budget(
                    s, actor=actor, scope=scope, scope_id=target, amount_micros=micros, hard=hard
                )

            if ui.run_action(save, success="Budget saved"):
                st.rerun()
        if listed:
            labels = {b.id: f"{_title(b)}: {money.usd(b.amount_micros)}" for b in listed}
            pick_col, remove_col = st.columns([4, 1], vertical_alignment="bottom")
            picked = pick_col.selectbox(
                "Budget",
                list(labels),
                format_func=labels.get,
                key="org_budget_pick",
                index=None,
                placeholder="Choose a budget to remove",
            )
            if remove_col.button(
                "Remove", key="org_budget_remove", disabled=picked is None, width="stretch"
            ):
                if ui.run_action(
                    lambda s: budgets.remove_budget(s, actor=actor, budget_id=picked) or True,
                    success="Budget removed",
                ):
                    st.rerun()
