"""Usage page through AppTest, per role: totals equal raw sums, scoping, URL filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from kilo.db import read_session, write_session
from kilo.models import Member, Organization, UsageEvent
from tests.pages.helpers import open_page, texts

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
    body = texts(at)
    assert "Per-user statistics" in body and "Credit runway" in body
    assert len(at.get("vega_lite_chart")) >= 8
    assert at.query_params["period"] == ["billing"] or at.query_params["period"] == "billing"


def test_member_sees_only_own_usage(demo_url):
    at = open_page("member", PAGE)
    assert not at.exception
    cost, successful = _raw_spend("member")
    assert _metric(at, "Total spend") == _fmt(cost)
    assert _metric(at, "Successful requests") == f"{successful:,}"
    body = texts(at)
    assert "Per-user statistics" not in body and "Credit runway" not in body
    assert not [w for w in at.multiselect if w.key == "usage_members"]


def test_analytics_off_replaces_per_user_views_with_notice(demo_url):
    with write_session() as s:
        org = s.execute(select(Organization)).scalar_one()
        org.usage_analytics_enabled = False
        s.add(org)
    at = open_page("admin", PAGE)
    assert not at.exception
    body = texts(at)
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
    from tests.pages.helpers import app_as

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
