"""Usage page through AppTest, per role: totals equal raw sums, scoping, URL filters, and
the inner tabs: only the open one is built, each is checked by opening it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from kilo.db import read_session, write_session
from kilo.models import Member, Organization, UsageEvent
from tests.pages.helpers import app_as, each_tab, open_page, open_tab, texts

PAGE = "pages/usage.py"


def _raw_spend(member_username: str | None = None) -> tuple[int, int]:
    """Spend (micros) and successful requests of the current calendar month from raw events."""
    today = datetime.now(UTC).date()
    lo = datetime.combine(today.replace(day=1), datetime.min.time(), tzinfo=UTC)
    hi = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    with read_session() as s:
        stmt = select(func.coalesce(func.sum(UsageEvent.cost_micros), 0), func.count()).where(
            UsageEvent.at >= lo, UsageEvent.at < hi, UsageEvent.status == "success"
        )
        if member_username:
            member_id = s.execute(
                select(Member.id).where(Member.username == member_username)
            ).scalar_one()
            stmt = stmt.where(UsageEvent.member_id == member_id)
        cost, n = s.execute(stmt).one()
    return int(cost), int(n)


def _metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _fmt(micros: int) -> str:
    from ui import fmt_micros

    return fmt_micros(micros)


def test_owner_sees_org_totals_equal_to_raw_events(demo_url):
    at = open_page("owner", PAGE)
    assert not at.exception
    cost, successful = _raw_spend()
    assert _metric(at, "Total spend") == _fmt(cost)
    assert _metric(at, "Successful requests") == f"{successful:,}"
    assert at.query_params["period"] == ["billing"] or at.query_params["period"] == "billing"
    body, charts = "", 0
    for _ in each_tab(at):
        assert not at.exception
        body += texts(at)
        charts += len(at.get("vega_lite_chart"))
    assert "Per-user statistics" in body and "Credit runway" in body
    assert charts >= 15


def test_member_sees_only_own_usage(demo_url):
    at = open_page("member", PAGE)
    assert not at.exception
    cost, successful = _raw_spend("member")
    assert _metric(at, "Total spend") == _fmt(cost)
    assert _metric(at, "Successful requests") == f"{successful:,}"
    body = ""
    for _ in each_tab(at):
        assert not at.exception
        body += texts(at)
    assert "Your usage by model" in body and "Forecast for this billing period" in body
    assert "Per-user statistics" not in body and "Credit runway" not in body
    assert not [w for w in at.multiselect if w.key == "usage_members"]


def test_analytics_off_replaces_per_user_views_with_notice(demo_url):
    with write_session() as s:
        org = s.execute(select(Organization)).scalar_one()
        org.usage_analytics_enabled = False
        s.add(org)
    at = open_page("admin", PAGE)
    assert not at.exception
    assert "Teams" not in [t.label for t in at.tabs]  # a team's figures are per-member sums
    body = ""
    for _ in each_tab(at):
        assert not at.exception
        body += texts(at)
    assert "usage analytics are turned off" in body
    assert "Per-user statistics" not in body
    assert not [w for w in at.multiselect if w.key == "usage_members"]


def test_filters_update_url_and_totals(demo_url):
    at = open_page("admin", PAGE)
    model = "anthropic/claude-sonnet-4.5"
    at.multiselect(key="usage_models").set_value([model])
    at.selectbox(key="usage_period").set_value("30d")
    at.run()
    assert not at.exception
    assert model in str(at.query_params["models"])
    assert "30d" in str(at.query_params["period"])
    today = datetime.now(UTC).date()
    lo = datetime.combine(today - timedelta(days=29), datetime.min.time(), tzinfo=UTC)
    with read_session() as s:
        cost = s.execute(
            select(func.coalesce(func.sum(UsageEvent.cost_micros), 0)).where(
                UsageEvent.at >= lo, UsageEvent.model_id == model
            )
        ).scalar()
    assert _metric(at, "Total spend") == _fmt(int(cost))


def test_view_from_shared_url(demo_url):
    model = "anthropic/claude-sonnet-4.5"
    at = app_as("admin")
    at.query_params["period"] = "7d"
    at.query_params["models"] = model
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception
    assert at.selectbox(key="usage_period").value == "7d"
    assert at.multiselect(key="usage_models").value == [model]


def _charts(at) -> list[dict]:
    import json

    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def _color_scales(at) -> list[tuple[str, dict[str, str]]]:
    """(colour field, name -> colour) of every chart coloured by series."""
    out = []
    for spec in _charts(at):
        color = spec.get("encoding", {}).get("color", {})
        scale = color.get("scale", {})
        if "domain" in scale and "range" in scale:
            out.append((color["field"], dict(zip(scale["domain"], scale["range"], strict=True))))
    return out


def test_every_chart_of_the_tab_gives_a_series_one_colour(demo_url):
    at = open_page("owner", PAGE)
    scales = [scale for _ in each_tab(at) for scale in _color_scales(at)]
    fields = {field for field, _ in scales}
    assert {"model_id", "provider", "mode"} <= fields
    for field in fields:
        seen: dict[str, str] = {}
        for f, scale in scales:
            if f != field:
                continue
            for name, colour in scale.items():
                assert seen.setdefault(name, colour) == colour, (field, name)
    model_charts = [s for f, s in scales if f == "model_id"]
    assert len(model_charts) >= 4  # ranked bars, daily trend, month by month, drill-down
    others = {c for _, s in scales for n, c in s.items() if n.startswith("Other")}
    assert len(others) <= 1  # "Other" is one grey everywhere


def test_stack_by_provider_also_stacks_the_month_chart(demo_url):
    at = open_tab(open_page("owner", PAGE), "Time")
    at.session_state["usage_trend_stack"] = "provider"
    at.run()
    assert not at.exception
    trend_and_month = [
        s
        for s in _charts(at)
        if s.get("encoding", {}).get("x", {}).get("title") in ("Day (UTC)", "Month (UTC)")
    ]
    by_axis = {
        s["encoding"]["x"]["title"]: s["encoding"]["color"]["field"] for s in trend_and_month
    }
    assert by_axis["Month (UTC)"] == "provider"


def test_token_columns_have_separators_and_the_per_user_table_fits(demo_url):
    import json

    at = open_page("owner", PAGE)
    tables = {tuple(d.value.columns)[:2]: d for _ in each_tab(at) for d in at.dataframe}
    per_user = tables[("Member", "Role")]
    assert list(per_user.value.columns[:6]) == [
        "Member",
        "Role",
        "Spend",
        "Share of spend",
        "Requests",
        "Errors",
    ]
    config = json.loads(per_user.proto.columns)
    assert config["Member"]["pinned"] is True
    for column in ("Input tokens", "Output tokens", "Requests"):
        assert config[column]["type_config"]["format"] == "localized", column
    main = [
        "Member",
        "Role",
        "Spend",
        "Share of spend",
        "Requests",
        "Errors",
        "Input tokens",
        "Output tokens",
        "Active days",
    ]
    assert sum(config[c]["width"] for c in main) <= 980  # the main area at 1440 px
    daily = tables[("Day (UTC)", "Requests")]
    assert json.loads(daily.proto.columns)["Input tokens"]["type_config"]["format"] == "localized"


def test_a_change_from_an_almost_empty_period_is_not_a_percentage(demo_url):
    at = open_page("owner", PAGE)
    at.selectbox(key="usage_period").set_value("90d").run()
    assert not at.exception
    for metric in at.metric:
        delta = metric.proto.delta or ""
        if "%" in delta:  # a percentage only against at least a tenth of the figure
            pct = float(delta.rsplit("(", 1)[1].rstrip("%)").replace(",", ""))
            assert pct <= 900, (metric.label, delta)
    spend = next(m for m in at.metric if m.label == "Total spend").proto.delta
    assert spend.startswith("+$") and "%" not in spend  # the demo's spend began ~3 months ago
    assert "at least a tenth of the current figure" in texts(at)


# ---- Inner tabs: only the open one is built; the open one is in the share link -----------

# A subheader only each tab shows (members: "My usage"; Teams: owners and admins).
TAB_MARKS = {
    "Models": "Most used models",
    "Time": "Daily trend",
    "Members": "Per-user statistics",
    "My usage": "Your usage by model",
    "Modes & forecast": "Forecast for this billing period",
    "Requests": "Recent requests",
    "Data": "Daily table behind this view",
    "Teams": "Spend by team",
}
TAB_LINKS = {
    "Models": None,  # the first tab: no `tab` parameter
    "Time": "time",
    "Members": "members",
    "My usage": "members",
    "Modes & forecast": "forecast",
    "Requests": "requests",
    "Data": "data",
    "Teams": "teams",
}


@pytest.mark.parametrize(
    ("username", "labels"),
    [
        ("owner", ["Models", "Time", "Members", "Modes & forecast", "Requests", "Data", "Teams"]),
        ("admin", ["Models", "Time", "Members", "Modes & forecast", "Requests", "Data", "Teams"]),
        ("member", ["Models", "Time", "My usage", "Modes & forecast", "Requests", "Data"]),
    ],
)
def test_only_the_open_tab_is_built_and_each_tab_renders(demo_url, username, labels):
    at = open_page(username, PAGE)
    assert not at.exception
    assert [t.label for t in at.tabs] == labels
    for label in [*labels[1:], labels[0]]:  # every tab, then back to the first
        open_tab(at, label)
        assert not at.exception, label
        headings = {h.value for h in at.subheader}
        assert TAB_MARKS[label] in headings, label
        others = {TAB_MARKS[other] for other in labels if other != label}
        assert not headings & others, (label, headings & others)  # closed tabs stay empty
        assert at.session_state["usage_tab"] == label
        if TAB_LINKS[label] is None:
            assert "tab" not in at.query_params, label
        else:
            assert TAB_LINKS[label] in str(at.query_params["tab"]), label
        assert "billing" in str(at.query_params["period"])  # the rest of the link stays


def test_a_shared_link_opens_its_tab_and_a_bad_one_the_first_with_a_notice(demo_url):
    at = app_as("admin")
    at.query_params["tab"] = "time"
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception
    assert at.session_state["usage_tab"] == "Time"
    assert "Daily trend" in [h.value for h in at.subheader]
    assert not at.warning
    for who, tab in (("admin", "nope"), ("member", "teams")):  # members have no Teams tab
        at = app_as(who)
        at.query_params["tab"] = tab
        at.run()
        at.switch_page(PAGE)
        at.run()
        assert not at.exception
        assert "Most used models" in [h.value for h in at.subheader]
        warning = " ".join(w.value for w in at.warning)
        assert "`tab`" in warning and f"“{tab}” is not one of" in warning


def test_a_closed_tab_keeps_its_choices(demo_url):
    """Closed tabs' widgets are not drawn; their values outlive that (and stay in the link)."""
    at = open_tab(open_page("owner", PAGE), "Time")
    at.segmented_control(key="usage_trend_measure").set_value("requests").run()
    open_tab(at, "Requests")
    at.segmented_control(key="usage_log_window").set_value("1h").run()
    open_tab(at, "Teams")  # its trend follows the Time tab's measure
    trend = next(s for s in _charts(at) if s["encoding"]["x"].get("title") == "Day (UTC)")
    assert trend["encoding"]["color"]["field"] == "team"
    assert trend["encoding"]["y"]["title"] == "Requests (count)"
    assert "1h" in str(at.query_params["log_window"])  # the closed log's window stays linked
    open_tab(at, "Time")
    assert at.segmented_control(key="usage_trend_measure").value == "requests"
    open_tab(at, "Requests")
    assert at.segmented_control(key="usage_log_window").value == "1h"
