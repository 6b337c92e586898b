"""Usage tab: the Members tab (My usage for members): concentration, top users,
per-user statistics and CSV, drill-down into a member."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pandas as pd
import streamlit as st

import ui
from kilo import charts, usage
from ui import usage_tabs


def members_tab(
    get: Callable[..., object],
    view: usage.UsageFilter,
    colors: dict,
    *,
    is_admin: bool,
    analytics_on: bool,
    start: date,
    end: date,
) -> None:
    """Owners and admins: per-member views (unless analytics are off); members: their own."""
    if not is_admin:
        st.subheader("Your usage by model")
        by_model = get("get_breakdown", view, by=("model_id",))  # the Models tab's, cached
        usage_tabs.ranked_bars(by_model, "model_id", "cost", colors)
    elif not analytics_on:
        st.info(
            "Per-member usage analytics are turned off for this organization, so "
            "per-user statistics, top users and member drill-down are hidden. Owners and "
            "admins can turn them on in Organization settings.",
            icon=":material/visibility_off:",
        )
    else:
        stats = get("list_member_usage", view)
        if stats.empty:
            st.info("No member used Kilo in this view.")
        else:
            conc = usage.spend_concentration(stats["cost_micros"])
            m1, m2, m3 = st.columns(3)
            m1.metric("Members with usage", f"{conc['members']:,}")
            m2.metric("Spend of the top 10 % of members", f"{conc['top10_share']:.0%}")
            m3.metric(
                "Gini coefficient of spend",
                f"{conc['gini']:.2f}",
                help="0 = everyone spends the same, 1 = one member spends everything.",
            )
            left, right = st.columns(2)
            with left:
                st.subheader("Top users by requests")
                ui.chart(
                    charts.usage_ranked_bars, stats, category="name", measure="requests", top=10
                )
            with right:
                st.subheader("Top users by spend")
                ui.chart(charts.usage_ranked_bars, stats, category="name", measure="cost", top=10)
            st.subheader("How concentrated spend is")
            ui.chart(charts.usage_concentration, stats["cost_micros"])
            st.subheader("Per-user statistics")
            # The main columns first, sized to fit 1440 px without scrolling; e-mail last.
            table = pd.DataFrame(
                {
                    "Member": stats["name"],
                    "Role": stats["role"],
                    "Spend": [ui.fmt_micros(int(c)) for c in stats["cost_micros"]],
                    "Share of spend": stats["share_of_spend"],
                    "Requests": stats["requests"],
                    "Errors": stats["errors"],
                    "Input tokens": stats["input_tokens"],
                    "Output tokens": stats["output_tokens"],
                    "Active days": stats["active_days"],
                    "Successful": stats["successful"],
                    "E-mail": stats["email"],
                }
            )
            st.dataframe(
                table,
                hide_index=True,
                width="stretch",
                column_config={
                    "Member": st.column_config.TextColumn(width=150, pinned=True),
                    "Role": st.column_config.TextColumn(width=70),
                    "Spend": st.column_config.TextColumn(width=90),
                    "Share of spend": st.column_config.NumberColumn(format="percent", width=105),
                    "Requests": ui.count_column(80),
                    "Errors": ui.count_column(60),
                    "Input tokens": ui.count_column(110),
                    "Output tokens": ui.count_column(110),
                    "Active days": ui.count_column(80),
                    "Successful": ui.count_column(85),
                },
            )
            st.download_button(
                "Download per-user CSV",
                # Built on click, spreadsheet-safe (member names are theirs to choose).
                data=lambda: get("export_member_csv", view),
                file_name=f"usage-members-{start}-{end}.csv",
                mime="text/csv",
                key="usage_members_csv",
                icon=":material/download:",
            )
            st.subheader("Drill down into a member")
            names = dict(zip(stats["member_id"].astype(int), stats["name"], strict=True))
            chosen = st.selectbox(
                "Member",
                list(names),
                format_func=names.get,
                key="usage_drill_member",
                persist_state="page",  # kept while another tab is open
            )
            if chosen is not None:
                one = usage.UsageFilter(
                    start=start,
                    end=end,
                    members=(int(chosen),),
                    models=view.models,
                    providers=view.providers,
                    modes=view.modes,
                )
                row = stats[stats["member_id"] == chosen].iloc[0]
                d1, d2, d3 = st.columns(3)
                d1.metric("Spend", ui.fmt_micros(int(row["cost_micros"])))
                d2.metric("Requests", f"{int(row['requests']):,}")
                d3.metric("Active days", f"{int(row['active_days']):,}")
                member_trend = get("get_breakdown", one, by=("model_id",), daily=True)
                if not member_trend.empty:
                    ui.chart(
                        charts.usage_daily_trend,
                        member_trend,
                        measure="cost",
                        colors=colors["model_id"],
                        start=start,
                        end=end,
                    )
