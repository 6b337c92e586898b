"""The Organization tab's Teams section: the teams with their members' count for everyone;
for owners and admins, creating, renaming and deleting teams and choosing each member's
team. Every change goes through `kilo.teams` (permission, audit, one transaction)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from kilo import teams
from kilo.permissions import Actor, allowed
from kilo.rollups.query import NO_TEAM_ID

NO_TEAM = teams.NO_TEAM


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_teams(actor: Actor) -> list[teams.TeamRow]:
    return ui.read(teams.list_teams, actor=actor)


def team_label(team_id: int | None, names: dict[int, str]) -> str:
    return NO_TEAM if team_id is None else names.get(team_id, NO_TEAM)


def section(actor: Actor, member_rows: list[dict]) -> None:
    """The Teams section. `member_rows` are the member list's rows (`id`, `Name`, `Email`,
    `team_id`), for the team picker."""
    st.subheader("Teams")
    rows = load_teams(actor)
    can_manage = allowed(actor, "teams.manage")
    st.caption(
        "Teams are cost centers: each member is in at most one team, or none. Usage by team "
        "(Usage tab) counts each member's spend in their current team, so moving a member "
        "moves their past usage too."
    )
    if rows:
        st.dataframe(
            pd.DataFrame({"Team": [t.name for t in rows], "Members": [t.members for t in rows]}),
            hide_index=True,
            width="stretch",
            key="org_teams_table",
        )
    else:
        st.caption("No teams yet.")
    if not can_manage:
        return
    names = {t.id: t.name for t in rows}
    new_col, create_col = st.columns([4, 1], vertical_alignment="bottom")
    new_name = new_col.text_input(
        "New team", max_chars=teams.MAX_NAME, key="org_team_new", placeholder="e.g. Platform"
    )
    if create_col.button("Create team", icon=":material/group_add:", key="org_team_create"):
        if ui.run_action(
            lambda s: teams.create_team(s, actor=actor, name=new_name),
            success=f"Created team {new_name.strip()}",
        ):
            st.session_state.pop("org_team_new", None)
            st.rerun()
    if rows:
        pick_col, rename_col, save_col, delete_col = st.columns(
            [2, 2, 1, 1], vertical_alignment="bottom"
        )
        picked = pick_col.selectbox(
            "Team",
            list(names),
            format_func=names.get,
            key="org_team_pick",
            index=None,
            placeholder="Choose a team to rename or delete",
        )
        renamed = rename_col.text_input(
            "New name", max_chars=teams.MAX_NAME, key="org_team_rename_value"
        )
        if save_col.button(
            "Rename", key="org_team_rename", disabled=picked is None, width="stretch"
        ):
            if ui.run_action(
                lambda s: teams.rename_team(s, actor=actor, team_id=picked, name=renamed),
                success=f"Renamed team {names[picked]}",
            ):
                st.rerun()
        delete_col.button(
            "Delete",
            icon=":material/delete:",
            key="org_team_delete",
            disabled=picked is None,
            width="stretch",
            on_click=ui.open_dialog,
            args=("org_delete_team", {"id": picked, "name": names.get(picked, "")}),
        )
    _assign_form(actor, member_rows, names)


def _assign_form(actor: Actor, member_rows: list[dict], names: dict[int, str]) -> None:
    if not member_rows or not names:
        return
    labels = {r["id"]: f"{r['Name']} <{r['Email']}> ({r['Team']})" for r in member_rows}
    choices = [NO_TEAM_ID, *names]  # not None: a selectbox shows None as "no choice"
    member_col, team_col, save_col = st.columns([3, 2, 1], vertical_alignment="bottom")
    member_id = member_col.selectbox(
        "Member",
        list(labels),
        format_func=labels.get,
        key="org_team_member",
        index=None,
        placeholder="Choose a member to put in a team",
    )
    team_id = team_col.selectbox(
        "Their team",
        choices,
        format_func=lambda t: team_label(t or None, names),
        key="org_team_member_team",
    )
    if save_col.button(
        "Save team", key="org_team_assign", disabled=member_id is None, width="stretch"
    ):
        if ui.run_action(
            lambda s: teams.assign_member(
                s, actor=actor, member_id=member_id, team_id=team_id or None
            ),
            success=f"{labels[member_id].split(' <')[0]}: team {team_label(team_id or None, names)}",
        ):
            st.rerun()


@st.dialog("Delete team", on_dismiss=ui.close_dialog)
def delete_team_dialog(actor: Actor, team: dict) -> None:
    st.write(f"Delete the team **{ui.md_escape(team['name'])}**?")
    st.caption(
        "Its members are left without a team (their usage then counts as “No team”) and the "
        "team's budget is removed."
    )
    if st.button("Delete", type="primary", key="org_team_delete_confirm"):
        if ui.run_action(
            lambda s: teams.delete_team(s, actor=actor, team_id=team["id"]) is not None,
            success=f"Deleted team {team['name']}",
        ):
            ui.close_dialog()
            st.rerun()
