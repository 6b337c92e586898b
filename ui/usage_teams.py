"""The Usage tab's team parts: the team filter's options and the Teams view (spend,
requests, tokens and active members per team, the trend by team, the team CSV). Team
figures are `kilo.usage`'s (each member's current team); the page shows them to owners and
admins while per-member analytics are on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pandas as pd
import streamlit as st

import ui
from kilo import charts, teams, usage
from kilo.chart_colors import series_colors
from kilo.permissions import Actor
from kilo.rollups.query import NO_TEAM_ID


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def team_options(actor: Actor) -> dict[int, str]:
    """Team id -> name for the filter, "No team" (id 0) last."""
    rows = ui.read(teams.list_teams, actor=actor)
    return {t.id: t.name for t in rows} | {NO_TEAM_ID: teams.NO_TEAM}


def teams_view(
    get: Callable[..., object], view: usage.UsageFilter, *, start: date, end: date, measure: str
) -> None:
    """The Teams tab; `get` is the page's cached loader of `kilo.usage` reads."""
    frame = get("get_team_usage", view)
    if frame.empty:
        st.info(
            "No team has usage in this view. Teams are made on the Organization tab; members "
            "without a team count as “No team”.",
            icon=":material/groups:",
        )
        return
    total = int(frame["cost_micros"].sum())
    colors = series_colors(frame["team"])  # one colour per team on the view's three charts
    left, right = st.columns(2)
    with left:
        st.subheader("Spend by team")
        ui.chart(charts.usage_ranked_bars, frame, category="team", measure="cost", colors=colors)
    with right:
        st.subheader("Requests by team")
        ui.chart(
            charts.usage_ranked_bars, frame, category="team", measure="requests", colors=colors
        )
    st.subheader("Per team")
    st.dataframe(
        pd.DataFrame(
            {
                "Team": frame["team"],
                "Spend": [ui.fmt_micros(int(c)) for c in frame["cost_micros"]],
                "Share of spend": frame["cost_micros"] / total if total else 0.0,
                "Requests": frame["requests"],
                "Errors": frame["errors"],
                "Tokens": frame["tokens"],
                "Active members": frame["active_members"],
            }
        ),
        hide_index=True,
        width="stretch",
        column_config={
            "Share of spend": st.column_config.NumberColumn(format="percent"),
            **{c: ui.count_column() for c in ("Requests", "Errors", "Tokens", "Active members")},
        },
    )
    st.caption(
        "Each member's usage counts in their current team (moving a member moves their past "
        "usage too); members without a team are “No team”. Active members: members with at "
        "least one request in the view."
    )
    st.subheader("Trend by team")
    trend = get("get_team_trend", view)
    if not trend.empty:
        ui.chart(  # over the whole period, like the Time tab's trend (not the data's days)
            charts.usage_daily_trend,
            trend.drop(columns=["team_id"]),
            stack="team",
            measure=measure,
            colors=colors,
            start=start,
            end=end,
        )
    st.download_button(
        "Download team CSV",
        data=lambda: get("export_team_csv", view),  # built when clicked
        file_name=f"usage-teams-{start}-{end}.csv",
        mime="text/csv",
        key="usage_teams_csv",
        icon=":material/download:",
    )
