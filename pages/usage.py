"""Usage tab: spend, requests, models, time patterns and members, over the rollups; a live
strip (this hour and today) and a log of the most recent requests (`ui.usage_live`).

Period, filters and the open inner tab live in the URL (`st.query_params`), so a view can
be shared; only the open inner tab is built (the others when they are opened). Members
see only their own usage; owners and admins see everyone's, and per-member views unless
the organization turned usage analytics off. All numbers come from `kilo.usage`, which
checks permissions and aggregates in SQL; money is shown from integer micro-dollars.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import streamlit as st

import ui
from kilo import usage
from kilo.chart_colors import series_colors
from kilo.db import database_url
from kilo.errors import ValidationError
from kilo.permissions import allowed
from ui import usage_live, usage_members, usage_tabs
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
tab_labels = usage_tabs.tab_labels(is_admin=is_admin, per_member=per_member)


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
    st.session_state[usage_tabs.TAB_KEY] = tab_labels[
        link.choice("tab", tab_labels, default=usage_tabs.DEFAULT_TAB)
    ]

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
            **usage_tabs.tab_link_params(tab_labels),
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

usage_tabs.overview(get, view, billing=period == "billing", today=today)

# Only the open tab is built; opening another one reruns the page (`ui.usage_tabs`).
tabs = dict(
    zip(
        tab_labels,
        st.tabs(list(tab_labels.values()), key=usage_tabs.TAB_KEY, on_change="rerun"),
        strict=True,
    )
)

if tabs["models"].open:
    with tabs["models"]:
        usage_tabs.models_tab(get, view, colors)
if tabs["time"].open:
    with tabs["time"]:
        usage_tabs.time_tab(get, view, colors, start=start, end=end)
if tabs["members"].open:
    with tabs["members"]:
        usage_members.members_tab(
            get,
            view,
            colors,
            is_admin=is_admin,
            analytics_on=analytics_on,
            start=start,
            end=end,
        )
if tabs["forecast"].open:
    with tabs["forecast"]:
        usage_tabs.costs_tab(get, view, colors, is_admin=is_admin, today=today)

# ---- Request log: the newest raw events of a recent window ---------------------------------
if tabs["requests"].open:
    with tabs["requests"]:
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

if tabs["data"].open:
    with tabs["data"]:
        usage_tabs.data_tab(get, view, start=start, end=end, per_member=per_member)

if "teams" in tabs and tabs["teams"].open:
    with tabs["teams"]:
        teams_view(get, view, start=start, end=end, measure=usage_tabs.trend_measure())
