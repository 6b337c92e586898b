"""Altair chart builders: a DataFrame in, an `alt.Chart` out (no Streamlit here).

Every mark has a tooltip and every axis a title with its unit; pages draw them with
`ui.chart(builder, *args)` (the spec cached on the builder's arguments, as
`st.altair_chart(chart, width="stretch")` would draw it). Sections per tab, under banners.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, timedelta

import altair as alt
import pandas as pd

from kilo.chart_colors import AXIS_LABEL_LIMIT, color_encoding

# --------------------------------------------------------------------------------------
# Day axes (the Usage trends, the audit chart)
# --------------------------------------------------------------------------------------

MIN_DAYS_SHOWN = 7  # without a period, a day axis spans at least a week
MAX_DAY_TICKS = 12


def _datetime(day: date, hours: int = 0) -> alt.DateTime:
    return alt.DateTime(year=day.year, month=day.month, date=day.day, hours=hours)


def day_scale_and_axis(first: date, last: date, *, title: str = "Day (UTC)") -> dict:
    """`alt.X` keyword arguments for data per day from `first` to `last`: whole days, ticks
    only on days (each day up to `MAX_DAY_TICKS`, else every n-th) at noon, under each
    day's bar. Never hourly ticks, so a short period does not repeat a date."""
    days = (last - first).days + 1
    step = math.ceil(days / MAX_DAY_TICKS)
    ticks = [last - timedelta(days=i) for i in range(0, days, step)][::-1]
    fmt = "%d %b" if first.year == last.year else "%d %b %Y"
    return {
        "title": title,
        "scale": alt.Scale(domain=[_datetime(first), _datetime(last + timedelta(days=1))]),
        "axis": alt.Axis(
            values=[_datetime(d, 12) for d in ticks], format=fmt, labelAngle=0, grid=False
        ),
    }


def _day_span(days: pd.Series, start: date | None, end: date | None) -> tuple[date, date]:
    """The days to show: the period when given, else the data's days, at least
    `MIN_DAYS_SHOWN` of them (one busy day is not a full-width block)."""
    stamps = pd.to_datetime(days)
    last = end or stamps.max().date()
    first = start or min(stamps.min().date(), last - timedelta(days=MIN_DAYS_SHOWN - 1))
    return first, max(first, last)


# --------------------------------------------------------------------------------------
# Audit
# --------------------------------------------------------------------------------------


def audit_events_per_day(
    df: pd.DataFrame, *, start: date | None = None, end: date | None = None
) -> alt.Chart:
    """Stacked bars of audit events per UTC day, coloured by action group.

    `df` has one row per day and group: columns `day` (date), `group` (e.g.
    `organization.member`) and `events` (int). Bars are rectangles spanning most of their
    day on a continuous time axis, so quiet days show as gaps and long periods stay readable.
    """
    data = df.assign(day=pd.to_datetime(df["day"])).sort_values(["day", "group"])
    top = data.groupby("day")["events"].cumsum()
    data = data.assign(
        day_end=data["day"] + pd.Timedelta(hours=20), bottom=top - data["events"], top=top
    )
    return (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X("day:T", **day_scale_and_axis(*_day_span(data["day"], start, end))),
            x2="day_end:T",
            y=alt.Y("bottom:Q", title="Events (count)"),
            y2="top:Q",
            color=color_encoding("group", "Action group", sorted(data["group"].unique())),
            tooltip=[
                alt.Tooltip("day:T", title="Day (UTC)", format="%Y-%m-%d"),
                alt.Tooltip("group:N", title="Action group"),
                alt.Tooltip("events:Q", title="Events", format=","),
            ],
        )
        .properties(height=260)
    )


# --------------------------------------------------------------------------------------
# Usage
# --------------------------------------------------------------------------------------

USAGE_MEASURES = {
    # measure key -> (column in the data, axis title, tooltip format)
    "cost": ("cost_usd", "Spend (USD)", "$,.2f"),
    "requests": ("requests", "Requests (count)", ","),
    "tokens": ("tokens", "Tokens (input + output)", ","),
}
USAGE_DIMENSION_TITLES = {
    "model_id": "Model",
    "provider": "Provider",
    "mode": "Mode",
    "name": "Member",
    "team": "Team",
}
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
# Series a colour chart shows by name; the rest are summed into one grey "Other" series,
# so a legend stays readable (colours: `kilo.chart_colors`).
TOP_SERIES = 9


def top_and_other(
    df: pd.DataFrame, *, category: str, column: str, keys: tuple[str, ...] = ()
) -> pd.DataFrame:
    """The `TOP_SERIES` categories largest in `column` (a plot column: cost_usd, requests,
    tokens) overall; the others are summed per `keys` into one row named "Other (N)". Only
    the integer measures are summed; plot columns are derived from them afterwards."""
    totals = _usage_plot_columns(df).groupby(category, observed=True)[column].sum()
    if len(totals) <= TOP_SERIES + 1:
        return df
    rest = totals.sort_values(ascending=False).index[TOP_SERIES:]
    names = df[category].astype(object).where(~df[category].isin(rest), f"Other ({len(rest)})")
    measures = [
        c for c in df.columns if c not in (category, *keys) and pd.api.types.is_integer_dtype(df[c])
    ]
    merged = df.assign(**{category: names}).groupby([*keys, category], sort=False)[measures]
    return merged.sum().reset_index()


def _usage_plot_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Add plotting columns: dollars (float, display only) and total tokens."""
    out = df.copy()
    if "cost_micros" in out:
        out["cost_usd"] = out["cost_micros"].astype("int64") / 1_000_000
    if "input_tokens" in out and "output_tokens" in out:
        out["tokens"] = out["input_tokens"] + out["output_tokens"]
    return out


def _legend_order(data: pd.DataFrame, category: str, column: str) -> list[str]:
    """The series of a chart, largest first ("Other" last: see `color_encoding`)."""
    totals = data.groupby(category, observed=True)[column].sum().sort_values(ascending=False)
    return [str(n) for n in totals.index]


def usage_daily_trend(
    df: pd.DataFrame,
    *,
    stack: str = "model_id",
    measure: str = "cost",
    colors: Mapping[str, str] | None = None,
    start: date | None = None,
    end: date | None = None,
) -> alt.Chart:
    """Stacked bars per UTC day, coloured by `stack` (model_id/provider/mode) with the
    page's `colors` (`kilo.chart_colors.series_colors`); click the legend to highlight one
    series. The axis spans the period (`start`..`end`, else the data's days) with one tick
    per day at most. `df`: day, <stack>, cost_micros, requests, tokens."""
    column, title, fmt = USAGE_MEASURES[measure]
    data = top_and_other(df, category=stack, column=column, keys=("day",))
    data = _usage_plot_columns(data).assign(day=lambda d: pd.to_datetime(d["day"]))
    series = USAGE_DIMENSION_TITLES.get(stack, stack)
    pick = alt.selection_point(fields=[stack], bind="legend")
    order = _legend_order(data, stack, column)
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X(
                "yearmonthdate(day):T", **day_scale_and_axis(*_day_span(data["day"], start, end))
            ),
            y=alt.Y(f"sum({column}):Q", title=title, stack="zero"),
            color=color_encoding(stack, series, order, colors),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.2)),
            tooltip=[
                alt.Tooltip("yearmonthdate(day):T", title="Day (UTC)", format="%d %b %Y"),
                alt.Tooltip(f"{stack}:N", title=series),
                alt.Tooltip(f"sum({column}):Q", title=title, format=fmt),
            ],
        )
        .add_params(pick)
        .properties(height=340)
    )


RANKED_ROW_PX = 26  # per bar of a ranked chart; axes and title come on top
RANKED_AXES_PX = 80


def usage_ranked_bars(
    df: pd.DataFrame,
    *,
    category: str,
    measure: str,
    top: int = 15,
    colors: Mapping[str, str] | None = None,
) -> alt.Chart:
    """Horizontal bars of the `top` categories (model, provider, mode, member) by measure,
    each in its own colour when `colors` (a page's series colours) is given. Tall enough
    for every label (the page draws charts with their axes inside the given height)."""
    column, title, fmt = USAGE_MEASURES[measure]
    data = _usage_plot_columns(df).nlargest(top, column)
    label = USAGE_DIMENSION_TITLES.get(category, category)
    total = float(_usage_plot_columns(df)[column].sum()) or 1.0
    data = data.assign(share=data[column] / total)
    color = (
        alt.value("#4c78a8")
        if colors is None
        else color_encoding(category, label, data[category], colors, legend=False)
    )
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y(
                f"{category}:N",
                title=label,
                sort="-x",
                axis=alt.Axis(labelLimit=AXIS_LABEL_LIMIT, labelOverlap=False),
            ),
            x=alt.X(f"{column}:Q", title=title),
            color=color,
            tooltip=[
                alt.Tooltip(f"{category}:N", title=label),
                alt.Tooltip(f"{column}:Q", title=title, format=fmt),
                alt.Tooltip("share:Q", title="Share of total", format=".1%"),
            ],
        )
        .properties(height=RANKED_AXES_PX + RANKED_ROW_PX * max(len(data), 2))
    )


def usage_share_donut(
    df: pd.DataFrame,
    *,
    category: str,
    measure: str = "requests",
    colors: Mapping[str, str] | None = None,
) -> alt.Chart:
    """Donut of each category's share (e.g. provider mix by requests), largest first; past
    `TOP_SERIES` categories the rest are one "Other" slice (always grey)."""
    column, title, fmt = USAGE_MEASURES[measure]
    data = _usage_plot_columns(top_and_other(df, category=category, column=column))
    total = float(data[column].sum()) or 1.0
    data = data.assign(share=data[column] / total)
    label = USAGE_DIMENSION_TITLES.get(category, category)
    return (
        alt.Chart(data)
        .mark_arc(innerRadius=60)
        .encode(
            theta=alt.Theta(f"{column}:Q", title=title),
            order=alt.Order(f"{column}:Q", sort="descending"),
            color=color_encoding(category, label, _legend_order(data, category, column), colors),
            tooltip=[
                alt.Tooltip(f"{category}:N", title=label),
                alt.Tooltip(f"{column}:Q", title=title, format=fmt),
                alt.Tooltip("share:Q", title="Share", format=".1%"),
            ],
        )
        .properties(height=280)
    )


def usage_latency(df: pd.DataFrame) -> alt.Chart:
    """p50 and p95 latency per model, side by side; full model ids on the axis. `df`:
    model_id, latency_p50_ms, latency_p95_ms, requests."""
    data = df.dropna(subset=["latency_p50_ms"]).melt(
        id_vars=["model_id", "requests"],
        value_vars=["latency_p50_ms", "latency_p95_ms"],
        var_name="percentile",
        value_name="ms",
    )
    data["percentile"] = data["percentile"].map({"latency_p50_ms": "p50", "latency_p95_ms": "p95"})
    data["seconds"] = data["ms"] / 1000
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y(
                "model_id:N",
                title="Model",
                sort=alt.EncodingSortField("seconds", "max", "descending"),
                axis=alt.Axis(labelLimit=AXIS_LABEL_LIMIT, labelOverlap=False),
            ),
            x=alt.X("seconds:Q", title="Latency (seconds)"),
            yOffset=alt.YOffset("percentile:N"),
            color=alt.Color(
                "percentile:N",
                title="Percentile",
                scale=alt.Scale(domain=["p50", "p95"], range=["#4c78a8", "#9ecae9"]),
                legend=alt.Legend(orient="top"),
            ),
            tooltip=[
                alt.Tooltip("model_id:N", title="Model"),
                alt.Tooltip("percentile:N", title="Percentile"),
                alt.Tooltip("seconds:Q", title="Latency (s)", format=",.2f"),
                alt.Tooltip("requests:Q", title="Requests", format=","),
            ],
        )
        .properties(height=RANKED_AXES_PX + 40 + 34 * max(data["model_id"].nunique(), 2))
    )


def usage_heatmap(df: pd.DataFrame, *, measure: str = "requests") -> alt.Chart:
    """Weekday x hour (UTC) heatmap. `df`: weekday (0 = Monday), hour, requests,
    cost_micros, tokens."""
    column, title, fmt = USAGE_MEASURES[measure]
    data = _usage_plot_columns(df)
    if "tokens" not in data and "tokens" in df:
        data["tokens"] = df["tokens"]
    data = data.assign(day_name=data["weekday"].map(dict(enumerate(WEEKDAYS))))
    return (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X("hour:O", title="Hour of day (UTC)"),
            y=alt.Y("day_name:N", title="Weekday", sort=WEEKDAYS),
            color=alt.Color(f"{column}:Q", title=title, scale=alt.Scale(scheme="blues")),
            tooltip=[
                alt.Tooltip("day_name:N", title="Weekday"),
                alt.Tooltip("hour:O", title="Hour (UTC)"),
                alt.Tooltip(f"{column}:Q", title=title, format=fmt),
            ],
        )
        .properties(height=240)
    )


def usage_monthly(
    df: pd.DataFrame,
    *,
    by: str = "model_id",
    measure: str = "cost",
    colors: Mapping[str, str] | None = None,
) -> alt.Chart:
    """Month by month, stacked by `by` (past `TOP_SERIES`, the rest as "Other"), in the
    page's `colors`. `df`: month (YYYY-MM), <by>, measures."""
    column, title, fmt = USAGE_MEASURES[measure]
    data = _usage_plot_columns(top_and_other(df, category=by, column=column, keys=("month",)))
    label = USAGE_DIMENSION_TITLES.get(by, by)
    pick = alt.selection_point(fields=[by], bind="legend")
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("month:O", title="Month (UTC)", axis=alt.Axis(labelAngle=0)),
            y=alt.Y(f"sum({column}):Q", title=title),
            color=color_encoding(by, label, _legend_order(data, by, column), colors),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.2)),
            tooltip=[
                alt.Tooltip("month:O", title="Month"),
                alt.Tooltip(f"{by}:N", title=label),
                alt.Tooltip(f"sum({column}):Q", title=title, format=fmt),
            ],
        )
        .add_params(pick)
        .properties(height=320)
    )


def usage_concentration(costs: pd.Series) -> alt.Chart:
    """Lorenz curve of spend across members: the share of spend held by the top x % of
    members (a diagonal would be perfectly even)."""
    values = sorted((int(c) for c in costs), reverse=True)
    total = sum(values) or 1
    n = len(values)
    running = 0
    rows = [{"members_share": 0.0, "spend_share": 0.0, "members": 0}]
    for i, v in enumerate(values, 1):
        running += v
        rows.append({"members_share": i / n, "spend_share": running / total, "members": i})
    data = pd.DataFrame(rows)
    line = (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "members_share:Q",
                title="Top members (share of active members)",
                axis=alt.Axis(format="%"),
            ),
            y=alt.Y("spend_share:Q", title="Share of spend (%)", axis=alt.Axis(format="%")),
            tooltip=[
                alt.Tooltip("members:Q", title="Top members (count)"),
                alt.Tooltip("members_share:Q", title="Share of members", format=".0%"),
                alt.Tooltip("spend_share:Q", title="Share of spend", format=".1%"),
            ],
        )
    )
    even = (
        alt.Chart(pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0], "label": ["even spread"] * 2}))
        .mark_line(strokeDash=[4, 4], color="gray")
        .encode(x="x:Q", y="y:Q", tooltip=[alt.Tooltip("label:N", title="Reference")])
    )
    return (even + line).properties(height=260)
