"""Altair chart builders: a DataFrame in, an `alt.Chart` out (no Streamlit here).

Every mark has a tooltip and every axis a title with its unit; pages draw them with
`st.altair_chart(chart, width="stretch")`. Sections per tab, under banners.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

# --------------------------------------------------------------------------------------
# Audit
# --------------------------------------------------------------------------------------


def audit_events_per_day(df: pd.DataFrame) -> alt.Chart:
    """Stacked bars of audit events per UTC day, coloured by action group.

    `df` has columns `day` (date), `group` (e.g. `organization.member`) and `events` (int).
    """
    data = df.assign(day=pd.to_datetime(df["day"]))
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("yearmonthdate(day):T", title="Day (UTC)"),
            y=alt.Y("sum(events):Q", title="Events (count)", stack="zero"),
            color=alt.Color("group:N", title="Action group"),
            tooltip=[
                alt.Tooltip("yearmonthdate(day):T", title="Day (UTC)"),
                alt.Tooltip("group:N", title="Action group"),
                alt.Tooltip("sum(events):Q", title="Events", format=","),
            ],
        )
        .properties(height=260)
    )
