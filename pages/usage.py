"""Usage tab: spend, requests, models, time patterns and members, over the rollups; a live
strip (this hour and today) and a log of the most recent requests (`ui.usage_live`).

Period and filters live in the URL (`st.query_params`), so a view can be shared. Members
see only their own usage; owners and admins see everyone's, and per-member views unless
the organization turned usage analytics off. All numbers come from `kilo.usage`, which
checks permissions and aggregates in SQL; money is shown from integer micro-dollars.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import streamlit as st

import ui
from kilo import charts, usage
from kilo.chart_colors import series_colors
from kilo.db import database_url
from kilo.errors import ValidationError
from kilo.permissions import allowed
from kilo.usage.change import describe_change
from ui import usage_live
from ui.url_state import LinkParams
from ui.usage_teams import team_options, teams_view

actor = ui.guard("usage.view_own")
is_admin = allowed(actor, "usage.view_all")
today = datetime.now(UTC).date()
URL = database_url()


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load(
    name: str, url: str, actor_key: tuple, f: usage.UsageFilter | None = None, **kwargs: object
) -> object:
    """Any read service of kilo.usage, cached per database, actor and view."""
    if f is not None:
        kwargs["f"] = f
    return ui.read(getattr(usage, name), actor=actor, **kwargs)


ACTOR_KEY = (actor.id, actor.org_id, actor.role)


def get(name: str, f: usage.UsageFilter | None = None, **kwargs: object) -> object:
    return load(name, URL, ACTOR_KEY, f, **kwargs)


analytics_on = bool(get("is_analytics_enabled"))
per_member = is_admin and analytics_on


# ---- Period and filters, mirrored in the URL ---------------------------------------------
EARLIEST_DAY = date(2000, 1, 1)
MAX_RANGE_DAYS = 3 * 366  # the longest custom range usage.resolve_period accepts
URL_VALUE_CHARS = 200  # a model, provider or mode in the URL
link = LinkParams()


def _range_from_link() -> tuple[date, date] | None:
    """The custom range of a shared link, clamped to what the page can show; None: default."""
    start = link.day("from", lo=EARLIEST_DAY, hi=today, default=None)
    end = link.day("to", lo=EARLIEST_DAY, hi=today, default=None)
    for name, value in (("from", start), ("to", end)):
        if value is None and link.raw(name) in (None, ""):
            link.note(name, "missing (a custom range needs from and to); using the last 30 days.")
    if start is None or end is None:
        return None
    if start > end:
        link.note("from", f"{start:%Y-%m-%d} is after {end:%Y-%m-%d}; using the last 30 days.")
        return None
    if (end - start).days > MAX_RANGE_DAYS:
        start = end - timedelta(days=MAX_RANGE_DAYS)
        link.note("from", f"the range is longer than 3 years; it starts on {start:%Y-%m-%d}.")
    return start, end


link_read = "usage_period" not in st.session_state
if link_read:  # first run: take the view from the URL
    st.session_state["usage_period"] = link.choice("period", usage.PERIODS, default="billing")
    if st.session_state["usage_period"] == "custom" and (range_ := _range_from_link()):
        st.session_state["usage_range"] = range_
    for dim in ("models", "providers", "modes"):
        st.session_state[f"usage_{dim}"] = link.items(
            dim, max_chars=URL_VALUE_CHARS, comma_separated=True
        )
    st.session_state["usage_members"] = link.integers("members", comma_separated=True)
    st.session_state["usage_teams"] = link.integers("teams", comma_separated=True)
    usage_live.read_log_link(link)

st.title("Usage")
if is_admin:
    st.caption("Spend and activity of the whole organization. Days and hours are UTC.")
else:
    st.caption("Your own usage (members see only their own). Days and hours are UTC.")
link_notices = st.container()  # the member filter adds its notice below, once it is known
with link_notices:
    link.show()
usage_live.live_strip()

# Wide filters, so chips show full model ids, provider slugs and member names at 1440 px:
# period, range and modes; then models and providers; then members (a row of its own).
cols = st.columns([1.2, 1.6, 2.2])
wide = st.columns([3, 2])
period = cols[0].selectbox(
    "Period", list(usage.PERIODS), format_func=usage.PERIODS.get, key="usage_period"
)
custom = None
if period == "custom":
    # Seeded through session state only (a link's range, else the last 30 days): a widget
    # given both a value and session state makes Streamlit warn.
    st.session_state.setdefault("usage_range", (today - timedelta(days=29), today))
    custom = cols[1].date_input("Range (UTC days)", max_value=today, key="usage_range")
try:
    if period == "custom":
        if not isinstance(custom, tuple | list) or len(custom) != 2:
            st.info("Choose the last day of the range.", icon=":material/date_range:")
            st.stop()
        start, end = usage.resolve_period("custom", today=today, start=custom[0], end=custom[1])
    else:
        start, end = usage.resolve_period(period, today=today)
except ValidationError as exc:
    st.error(ui.md_escape(exc), icon=":material/error:")
    st.stop()
if period != "custom":
    cols[1].markdown(f"**{start:%d %b %Y} – {end:%d %b %Y}**")

options = get("list_filter_options", start=start - timedelta(days=365), end=end)
for key, dim in (
    ("usage_models", "model_id"),
    ("usage_providers", "provider"),
    ("usage_modes", "mode"),
):  # keep URL values that are not in the list
    extra = [v for v in st.session_state.get(key, []) if v not in options[dim]]
    options[dim] = options[dim] + extra
models = wide[0].multiselect(
    "Models", options["model_id"], key="usage_models", placeholder="All models"
)
providers = wide[1].multiselect(
    "Providers", options["provider"], key="usage_providers", placeholder="All providers"
)
modes = cols[2].multiselect("Modes", options["mode"], key="usage_modes", placeholder="All modes")
members: list[int] = []
team_filter: list[int] = []
if per_member:
    member_labels = dict(options["members"])
    wanted = st.session_state.get("usage_members", [])
    st.session_state["usage_members"] = [m for m in wanted if m in member_labels]
    if link_read and len(st.session_state["usage_members"]) < len(wanted):
        link.note("members", "an id that is not a member with usage here; ignored.")
    member_col, team_col = st.columns([2, 1])
    team_labels = team_options(actor)
    wanted_teams = st.session_state.get("usage_teams", [])
    st.session_state["usage_teams"] = [t for t in wanted_teams if t in team_labels]
    if link_read and len(st.session_state["usage_teams"]) < len(wanted_teams):
        link.note("teams", "an id that is not a team of this organization; ignored.")
    team_filter = team_col.multiselect(
        "Teams",
        list(team_labels),
        format_func=team_labels.get,
        key="usage_teams",
        placeholder="All teams",
        help="Members currently in these teams (their whole history).",
    )
    members = member_col.multiselect(
        "Members",
        list(member_labels),
        format_func=member_labels.get,
        key="usage_members",
        placeholder="All members",
    )
elif is_admin:
    st.session_state["usage_members"] = []
with link_notices:
    link.show()

st.query_params.from_dict(
    {
        k: v
        for k, v in {
            "period": period,
            "from": start.isoformat() if period == "custom" else "",
            "to": end.isoformat() if period == "custom" else "",
            "models": ",".join(models),
            "providers": ",".join(providers),
            "modes": ",".join(modes),
            "members": ",".join(str(m) for m in members),
            "teams": ",".join(str(t) for t in team_filter),
            **usage_live.log_link_params(),
        }.items()
        if v
    }
)
# One colour per model, provider and mode on every chart of the page (kilo.chart_colors).
colors = {dim: series_colors(options[dim]) for dim in ("model_id", "provider", "mode")}
view = usage.UsageFilter(
    start=start,
    end=end,
    members=tuple(members),
    models=tuple(models),
    providers=tuple(providers),
    modes=tuple(modes),
    teams=tuple(team_filter),
)


# ---- Overview ------------------------------------------------------------------------
def _delta(now: int, before: int, money: bool = False) -> str | None:
    """The card's change: `kilo.usage.change.describe_change` (percentage only when the
    previous period is not almost empty)."""
    if money:  # sub-cent differences (cost per request) keep four places
        return describe_change(now, before, lambda d: ui.fmt_micros(d, 4 if d < 10_000 else 2))
    return describe_change(now, before, ui.fmt_count)


overview = get("get_overview", view, billing=period == "billing", today=today)
cur, prev = overview["current"], overview["previous"]
prev_span = overview["previous_period"]
metric_cols = st.columns(6)
metric_cols[0].metric(
    "Total spend",
    ui.fmt_micros(cur["spend_micros"]),
    _delta(cur["spend_micros"], prev["spend_micros"], money=True),
    delta_color="inverse",
)
metric_cols[1].metric(
    "Successful requests", f"{cur['successful']:,}", _delta(cur["successful"], prev["successful"])
)
metric_cols[2].metric(
    "Avg cost / request",
    ui.fmt_micros(cur["avg_cost_micros"], 4),
    _delta(cur["avg_cost_micros"], prev["avg_cost_micros"], money=True),
    delta_color="inverse",
)
metric_cols[3].metric(
    "Input tokens",
    ui.fmt_count(cur["input_tokens"]),
    _delta(cur["input_tokens"], prev["input_tokens"]),
    help=f"{cur['input_tokens']:,} input tokens",
)
metric_cols[4].metric(
    "Output tokens",
    ui.fmt_count(cur["output_tokens"]),
    _delta(cur["output_tokens"], prev["output_tokens"]),
    help=f"{cur['output_tokens']:,} output tokens",
)
metric_cols[5].metric(
    "Active users (7 days)", f"{cur['active_7d']:,}", _delta(cur["active_7d"], prev["active_7d"])
)
st.caption(
    f"Changes compare with {prev_span['start']:%d %b %Y} – {prev_span['end']:%d %b %Y}, "
    "as a percentage only when that period had at least a tenth of the current figure "
    "(else the absolute change; “new” when it had none). "
    "Average cost is per successful request."
)

if cur["requests"] == 0:
    st.info(
        "No usage in this period for these filters. Choose a longer period or clear "
        "filters; usage arrives from the Kilo gateway or `python -m kilo ingest FILE`.",
        icon=":material/query_stats:",
    )

tabs = st.tabs(
    [
        "Models",
        "Time",
        "Members" if is_admin else "My usage",
        "Modes & forecast",
        "Requests",
        "Data",
    ]
    + (["Teams"] if per_member else [])  # a team's figures are its members' sums
)
tab_models, tab_time, tab_members, tab_costs, tab_requests, tab_data = tabs[:6]

# ---- Models --------------------------------------------------------------------------
with tab_models:
    by_model = get("get_breakdown", view, by=("model_id",))
    by_provider = get("get_breakdown", view, by=("provider",))
    left, right = st.columns(2)
    with left:
        st.subheader("Most used models")
        if not by_model.empty:
            ui.chart(
                charts.usage_ranked_bars,
                by_model,
                category="model_id",
                measure="requests",
                colors=colors["model_id"],
            )
    with right:
        st.subheader("Spend by model")
        if not by_model.empty:
            ui.chart(
                charts.usage_ranked_bars,
                by_model,
                category="model_id",
                measure="cost",
                colors=colors["model_id"],
            )
    left, right = st.columns(2)
    with left:
        st.subheader("Provider mix")
        if not by_provider.empty:
            ui.chart(
                charts.usage_share_donut,
                by_provider,
                category="provider",
                colors=colors["provider"],
            )
    perf = get("get_model_performance", view)
    with right:
        st.subheader("Latency per model")
        if not perf.empty:
            ui.chart(charts.usage_latency, perf)
    st.subheader("Performance per model")
    if not perf.empty:
        st.dataframe(
            pd.DataFrame(
                {
                    "Model": perf["model_id"],
                    "Requests": perf["requests"],
                    "Error rate": perf["error_rate"],
                    "Spend": [ui.fmt_micros(int(c)) for c in perf["cost_micros"]],
                    "p50 latency (s)": perf["latency_p50_ms"] / 1000,
                    "p95 latency (s)": perf["latency_p95_ms"] / 1000,
                    "Output tokens/s": perf["output_tokens_per_s"],
                }
            ),
            hide_index=True,
            width="stretch",
            column_config={
                "Model": st.column_config.TextColumn(pinned=True),
                "Requests": ui.count_column(),
                "Error rate": st.column_config.NumberColumn(format="percent"),
                "p50 latency (s)": st.column_config.NumberColumn(format="%.2f"),
                "p95 latency (s)": st.column_config.NumberColumn(format="%.2f"),
                "Output tokens/s": st.column_config.NumberColumn(format="%.1f"),
            },
        )
        st.caption(
            "Latency percentiles are read from a histogram kept on ingest (exact to "
            "the bucket: 250 ms steps up to 3 s, wider above). Output tokens per second "
            "= output tokens ÷ total request time."
        )

# ---- Time ----------------------------------------------------------------------------
with tab_time:
    st.subheader("Daily trend")
    c1, c2 = st.columns(2)
    stack = (
        c1.segmented_control(
            "Stack by",
            ["model_id", "provider"],
            default="model_id",
            format_func=charts.USAGE_DIMENSION_TITLES.get,
            key="usage_trend_stack",
        )
        or "model_id"
    )
    measure = (
        c2.segmented_control(
            "Measure",
            list(charts.USAGE_MEASURES),
            default="cost",
            format_func=str.capitalize,
            key="usage_trend_measure",
        )
        or "cost"
    )
    trend = get("get_breakdown", view, by=(stack,), daily=True)
    if not trend.empty:
        ui.chart(
            charts.usage_daily_trend,
            trend,
            stack=stack,
            measure=measure,
            colors=colors[stack],
            start=start,
            end=end,
        )
    st.subheader("Weekly pattern")
    heat = get("get_heatmap", view)
    ui.chart(charts.usage_heatmap, heat, measure=measure)
    st.subheader("Month by month")
    monthly = get("get_monthly", view, months=6, by=stack)
    if not monthly.empty:
        ui.chart(charts.usage_monthly, monthly, by=stack, measure=measure, colors=colors[stack])
        st.caption("The six calendar months up to the period's end, with the filters above.")

# ---- Members -------------------------------------------------------------------------
with tab_members:
    if not is_admin:
        st.subheader("Your usage by model")
        if not by_model.empty:
            ui.chart(
                charts.usage_ranked_bars,
                by_model,
                category="model_id",
                measure="cost",
                colors=colors["model_id"],
            )
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
                "Member", list(names), format_func=names.get, key="usage_drill_member"
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

# ---- Modes, forecast, runway -----------------------------------------------------------
with tab_costs:
    by_mode = get("get_breakdown", view, by=("mode",))
    st.subheader("Spend by mode")
    if not by_mode.empty:
        ui.chart(
            charts.usage_ranked_bars,
            by_mode,
            category="mode",
            measure="cost",
            colors=colors["mode"],
        )
    forecast = get("get_forecast", view, today=today)
    st.subheader("Forecast for this billing period")
    f1, f2, f3 = st.columns(3)
    f1.metric(
        f"Spent since {forecast['period_start']:%d %b}", ui.fmt_micros(forecast["spent_micros"])
    )
    f2.metric("Current rate (last 7 days)", f"{ui.fmt_micros(forecast['daily_rate_micros'])}/day")
    f3.metric(
        f"Projected by {forecast['period_end']:%d %b}", ui.fmt_micros(forecast["projected_micros"])
    )
    st.caption(
        "Projection = spend so far + the last 7 days' average daily spend × the "
        f"{forecast['remaining_days']} remaining day(s); the filters above apply."
    )
    if is_admin:
        runway = get("get_credit_runway", today=today)
        st.subheader("Credit runway")
        r1, r2 = st.columns(2)
        r1.metric("Credit balance", ui.fmt_micros(runway["balance_micros"]))
        if runway["days"] is None:
            r2.metric("Runway", "No recent spend")
        else:
            r2.metric(
                "Runway",
                f"{runway['days']:,.0f} days",
                help=f"At {ui.fmt_micros(runway['daily_rate_micros'])}/day (the whole "
                f"organization's last {runway['window_days']} days).",
            )
            st.caption(
                f"At the current rate the balance runs out around {runway['runs_out']:%d %b %Y}."
            )

# ---- Request log: the newest raw events of a recent window ---------------------------------
with tab_requests:
    usage_live.request_log_tab(
        actor,
        usage.RequestLogFilter(
            members=tuple(members),
            models=tuple(models),
            providers=tuple(providers),
            modes=tuple(modes),
        ),
        everyone=per_member,  # others' requests: owners and admins while analytics are on
        analytics_off=is_admin and not analytics_on,
    )

# ---- Data behind the view -------------------------------------------------------------
with tab_data:
    st.subheader("Daily table behind this view")
    st.download_button(
        "Download CSV",
        data=lambda: get("export_csv", view),  # built only when clicked: it can be large
        file_name=f"usage-{start}-{end}.csv",
        mime="text/csv",
        key="usage_export_csv",
        icon=":material/download:",
    )
    by_day = get("get_breakdown", view, by=(), daily=True)
    if not by_day.empty:
        st.dataframe(
            pd.DataFrame(
                {
                    "Day (UTC)": by_day["day"],
                    "Requests": by_day["requests"],
                    "Errors": by_day["errors"],
                    "Spend": [ui.fmt_micros(int(c)) for c in by_day["cost_micros"]],
                    "Input tokens": by_day["input_tokens"],
                    "Output tokens": by_day["output_tokens"],
                }
            ).sort_values("Day (UTC)", ascending=False),
            hide_index=True,
            width="stretch",
            column_config={
                c: ui.count_column()
                for c in ("Requests", "Errors", "Input tokens", "Output tokens")
            },
        )
    st.caption(
        "The CSV has one row per day × "
        + ("member × " if per_member else "")
        + "model × provider × mode, with exact costs (cost_usd = cost_micros ÷ 1,000,000)."
    )

if per_member:
    with tabs[6]:
        teams_view(get, view, start=start, end=end, measure=measure)
