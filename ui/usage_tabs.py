"""Usage tab: the overview cards, the inner tabs' names, and the Models, Time, Modes &
forecast and Data tabs.

`get` is the page's cached loader of `kilo.usage` reads (cached per database, actor and
view); `view` the filter the page built from its widgets and URL.

The page builds only the open inner tab (`st.tabs(..., on_change="rerun")`: opening another
tab reruns the page). The widgets of a closed tab are not drawn, so they keep their value
with `persist_state="page"` (Streamlit would otherwise forget it), and a value another tab
needs (the Time tab's measure, for the Teams trend) is read from session state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pandas as pd
import streamlit as st

import ui
from kilo import charts, usage
from kilo.usage.change import describe_change

TAB_KEY = "usage_tab"  # the inner tabs' state: the open tab's label
DEFAULT_TAB = "models"
MEASURE_KEY = "usage_trend_measure"
DEFAULT_MEASURE = "cost"


def tab_labels(*, is_admin: bool, per_member: bool) -> dict[str, str]:
    """The inner tabs: the name in the share link (`tab=`) -> the tab's label."""
    labels = {
        "models": "Models",
        "time": "Time",
        "members": "Members" if is_admin else "My usage",
        "forecast": "Modes & forecast",
        "requests": "Requests",
        "data": "Data",
    }
    if per_member:  # a team's figures are its members' sums
        labels["teams"] = "Teams"
    return labels


def open_tab(labels: dict[str, str]) -> str:
    """The link name of the open inner tab (the first while none was chosen, or when the
    chosen one is gone, e.g. Teams after analytics were turned off)."""
    label = st.session_state.get(TAB_KEY)
    return next((name for name, lab in labels.items() if lab == label), DEFAULT_TAB)


def tab_link_params(labels: dict[str, str]) -> dict[str, str]:
    """The open inner tab (unless the first), for the page's share link."""
    name = open_tab(labels)
    return {"tab": "" if name == DEFAULT_TAB else name}


def trend_measure() -> str:
    """The measure chosen on the Time tab (kept while another tab is open)."""
    return st.session_state.get(MEASURE_KEY) or DEFAULT_MEASURE


def _delta(now: int, before: int, money: bool = False) -> str | None:
    """The card's change: `kilo.usage.change.describe_change` (percentage only when the
    previous period is not almost empty)."""
    if money:  # sub-cent differences (cost per request) keep four places
        return describe_change(now, before, lambda d: ui.fmt_micros(d, 4 if d < 10_000 else 2))
    return describe_change(now, before, ui.fmt_count)


def overview(
    get: Callable[..., object], view: usage.UsageFilter, *, billing: bool, today: date
) -> None:
    """The six cards with their change against the previous period, and the empty-view note."""
    overview = get("get_overview", view, billing=billing, today=today)
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
        "Successful requests",
        f"{cur['successful']:,}",
        _delta(cur["successful"], prev["successful"]),
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
        "Active users (7 days)",
        f"{cur['active_7d']:,}",
        _delta(cur["active_7d"], prev["active_7d"]),
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


def ranked_bars(frame: pd.DataFrame, category: str, measure: str, colors: dict) -> None:
    """`measure` ("requests" or "cost") by `category`, largest first, in the app's colours
    for that category; nothing when the view has no usage."""
    if not frame.empty:
        ui.chart(
            charts.usage_ranked_bars,
            frame,
            category=category,
            measure=measure,
            colors=colors[category],
        )


def models_tab(get: Callable[..., object], view: usage.UsageFilter, colors: dict) -> None:
    """Most used models, spend by model, provider mix, latency."""
    by_model = get("get_breakdown", view, by=("model_id",))
    by_provider = get("get_breakdown", view, by=("provider",))
    left, right = st.columns(2)
    with left:
        st.subheader("Most used models")
        ranked_bars(by_model, "model_id", "requests", colors)
    with right:
        st.subheader("Spend by model")
        ranked_bars(by_model, "model_id", "cost", colors)
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


def time_tab(
    get: Callable[..., object], view: usage.UsageFilter, colors: dict, *, start: date, end: date
) -> None:
    """Daily trend, weekly pattern, month by month."""
    st.subheader("Daily trend")
    c1, c2 = st.columns(2)
    stack = (
        c1.segmented_control(
            "Stack by",
            ["model_id", "provider"],
            default="model_id",
            format_func=charts.USAGE_DIMENSION_TITLES.get,
            key="usage_trend_stack",
            persist_state="page",
        )
        or "model_id"
    )
    measure = (
        c2.segmented_control(
            "Measure",
            list(charts.USAGE_MEASURES),
            default=DEFAULT_MEASURE,
            format_func=str.capitalize,
            key=MEASURE_KEY,
            persist_state="page",
        )
        or DEFAULT_MEASURE
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


def costs_tab(
    get: Callable[..., object],
    view: usage.UsageFilter,
    colors: dict,
    *,
    is_admin: bool,
    today: date,
) -> None:
    """Spend by mode, the billing period's forecast and, for owners and admins, the runway."""
    by_mode = get("get_breakdown", view, by=("mode",))
    st.subheader("Spend by mode")
    ranked_bars(by_mode, "mode", "cost", colors)
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


def data_tab(
    get: Callable[..., object], view: usage.UsageFilter, *, start: date, end: date, per_member: bool
) -> None:
    """The daily table behind the view and its CSV download."""
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
