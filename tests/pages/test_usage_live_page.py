"""Usage tab's live strip and request log, and the Organization tab's spend today, through
AppTest: figures equal raw sums, members never see another member's requests."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pandas as pd
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from kilo import usage
from kilo.db import read_session, write_session
from kilo.models import Member, Organization, UsageEvent
from kilo.permissions import system_actor
from tests.factories import create_member
from tests.pages.helpers import app_as, open_page, open_tab, texts

PAGE = "pages/usage.py"
ORG_PAGE = "pages/organization.py"


def _member(username: str) -> Member:
    with read_session() as s:
        return s.execute(select(Member).where(Member.username == username)).scalar_one()


def _record(member: Member, model: str, *, status: str = "success", ago_s: int = 60) -> str:
    """One request through the gateway's path; returns its id."""
    external_id = f"live-{model}-{member.id}-{status}-{ago_s}"
    with write_session() as s:
        usage.record_usage(
            s,
            actor=system_actor(member.org_id, "Gateway"),
            member_id=member.id,
            model_id=model,
            provider="anthropic",
            mode="debug",
            input_tokens=1234,
            output_tokens=56,
            cost_usd="0.004321",
            latency_ms=2500,
            status=status,
            at=datetime.now(UTC) - timedelta(seconds=ago_s),
            external_id=external_id,
        )
    return external_id


def _open_log(username: str) -> AppTest:
    """The Usage tab as `username`, on its Requests tab (only the open tab is built)."""
    return open_tab(open_page(username, PAGE), "Requests")


def _log_table(at) -> pd.DataFrame | None:
    tables = [d.value for d in at.dataframe if "Status" in d.value.columns]
    return tables[0] if tables else None


def _raw(since: datetime, member_id: int | None = None) -> tuple[int, int]:
    with read_session() as s:
        stmt = select(func.count(), func.coalesce(func.sum(UsageEvent.cost_micros), 0)).where(
            UsageEvent.at >= since, UsageEvent.at < since + timedelta(days=1)
        )
        if member_id is not None:
            stmt = stmt.where(UsageEvent.member_id == member_id)
        n, cost = s.execute(stmt).one()
    return int(n), int(cost)


def _metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_live_strip_equals_raw_events_of_the_hour_and_the_utc_day(demo_url):
    _record(_member("member"), "anthropic/claude-sonnet-4.5", ago_s=0)
    at = open_page("owner", PAGE)
    assert not at.exception
    caption = next(c.value for c in at.caption if c.value.startswith("Live,"))
    assert "the whole organization" in caption and "today since 00:00 UTC (the UTC day" in caption
    hour = int(re.search(r"this hour since (\d\d):00 UTC", caption).group(1))  # the page's
    day = datetime.now(UTC).date()
    today = _raw(datetime.combine(day, time(0), tzinfo=UTC))
    this_hour_start = datetime.combine(day, time(hour), tzinfo=UTC)
    with read_session() as s:
        n_hour, cost_hour = s.execute(
            select(func.count(), func.coalesce(func.sum(UsageEvent.cost_micros), 0)).where(
                UsageEvent.at >= this_hour_start,
                UsageEvent.at < this_hour_start + timedelta(hours=1),
            )
        ).one()
    from ui import fmt_micros

    assert _metric(at, "Requests today") == f"{today[0]:,}" and today[0] >= 1
    assert _metric(at, "Spend today") == fmt_micros(today[1])
    assert _metric(at, "Requests this hour") == f"{n_hour:,}"
    assert _metric(at, "Spend this hour") == fmt_micros(int(cost_hour))


def test_member_strip_counts_only_their_own_requests(demo_url):
    mia = _member("member")
    _record(mia, "anthropic/claude-sonnet-4.5", ago_s=0)
    _record(_member("admin"), "anthropic/claude-sonnet-4.5", ago_s=0)
    at = open_page("member", PAGE)
    assert not at.exception
    today = _raw(datetime.combine(datetime.now(UTC).date(), time(0), tzinfo=UTC), mia.id)
    from ui import fmt_micros

    assert _metric(at, "Your requests today") == f"{today[0]:,}"
    assert _metric(at, "Your spend today") == fmt_micros(today[1])
    assert "Live, your own requests only" in texts(at)


def test_admin_log_lists_the_newest_requests_of_every_member(demo_url):
    mia = _member("member")
    _record(mia, "test/live-model")
    _record(_member("admin"), "test/admin-model", ago_s=30)
    at = _open_log("admin")
    assert not at.exception
    log = _log_table(at)
    assert log is not None and "Member" in log.columns
    models = log["Model"].tolist()
    assert models.index("test/admin-model") < models.index("test/live-model")  # newest first
    assert log.iloc[models.index("test/admin-model")]["Member"] == "Arjun Mehta"
    second = log.iloc[models.index("test/live-model")]
    assert (second["Member"], second["Mode"], second["Provider"]) == (
        mia.name,
        "debug",
        "anthropic",
    )
    assert (second["Input tokens"], second["Output tokens"], second["Cost"]) == (
        1234,
        56,
        "$0.004321",
    )
    assert second["Latency (s)"] == 2.5 and second["Status"] == "success"
    assert log["Time"].is_monotonic_decreasing


def test_log_filters_go_into_the_url_and_narrow_the_rows(demo_url):
    _record(_member("member"), "test/live-model", status="error")
    at = _open_log("admin")
    at.multiselect(key="usage_log_status").set_value(["error"])
    at.run()
    assert not at.exception
    assert "error" in str(at.query_params["log_status"])
    log = _log_table(at)
    assert set(log["Status"]) == {"error"} and "test/live-model" in set(log["Model"])
    at.multiselect(key="usage_models").set_value(["anthropic/claude-sonnet-4.5"])
    at.segmented_control(key="usage_log_window").set_value("1h")
    at.run()
    assert "1h" in str(at.query_params["log_window"])
    log = _log_table(at)
    assert log is None or "test/live-model" not in set(log["Model"])


def test_member_never_sees_another_members_requests(demo_url):
    mia = _member("member")
    _record(mia, "test/mine", ago_s=0)  # newer than the demo's events, seeded up to its start
    _record(_member("admin"), "test/not-mine", ago_s=10)
    _record(_member("owner"), "test/not-mine-either", ago_s=20)
    at = _open_log("member")
    assert not at.exception
    log = _log_table(at)
    assert "Member" not in log.columns
    assert log.iloc[0]["Model"] == "test/mine"
    assert not {"test/not-mine", "test/not-mine-either"} & set(log["Model"])
    with read_session() as s:  # every row is one of hers: as many as her raw events
        since = datetime.now(UTC) - timedelta(hours=24)
        hers = s.execute(
            select(func.count()).where(UsageEvent.member_id == mia.id, UsageEvent.at >= since)
        ).scalar()
    assert len(log) == min(hers, usage.DEFAULT_LOG_ROWS)
    # A shared link naming another member's id changes nothing for her.
    at = app_as("member")
    at.query_params["members"] = str(_member("admin").id)
    at.query_params["tab"] = "requests"
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception
    assert not {"test/not-mine", "test/not-mine-either"} & set(_log_table(at)["Model"])


def test_analytics_off_shows_admins_only_their_own_requests(demo_url):
    _record(_member("member"), "test/members-model")
    _record(_member("admin"), "test/admins-model", ago_s=5)
    with write_session() as s:
        org = s.execute(select(Organization)).scalar_one()
        org.usage_analytics_enabled = False
    at = _open_log("admin")
    assert not at.exception
    log = _log_table(at)
    assert "Member" not in log.columns and "test/members-model" not in set(log["Model"])
    assert "test/admins-model" in set(log["Model"])
    assert "only your own requests are listed" in texts(at)


def test_no_requests_says_so(demo_url):
    with write_session() as s:
        org = s.execute(select(Organization)).scalar_one()
        newcomer = create_member(s, org, username="newcomer")
    assert newcomer.id
    at = _open_log("newcomer")
    assert not at.exception
    assert _log_table(at) is None
    assert (
        "No requests in the last 24 hours. Requests appear here as the gateway records them."
        in texts(at)
    )
    assert _metric(at, "Your requests today") == "0"


def test_bad_log_parameters_fall_back_with_a_notice(demo_url):
    at = app_as("admin")
    at.query_params["log_window"] = "7d"
    at.query_params["log_status"] = "ok,error"
    at.query_params["tab"] = "requests"  # the log's tab, opened from the link
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception
    assert at.segmented_control(key="usage_log_window").value == "24h"
    assert at.multiselect(key="usage_log_status").value == ["error"]
    warning = " ".join(w.value for w in at.warning)
    assert "log_window" in warning and "log_status" in warning


def test_organization_members_show_spent_today_against_their_limit(demo_url):
    mia = _member("member")
    with write_session() as s:
        s.get(Member, mia.id).daily_spend_limit_micros = 5_000_000
    _record(mia, "test/live-model", ago_s=0)
    today = datetime.combine(datetime.now(UTC).date(), time(0), tzinfo=UTC)
    _, spent = _raw(today, mia.id)
    from ui import fmt_micros

    expected = f"{fmt_micros(spent)} / $5.00"
    at = open_page("owner", ORG_PAGE)
    assert not at.exception
    df = at.dataframe[0].value
    column = "Spent today / limit"
    assert df.set_index("Name").loc[mia.name, column] == expected
    owner = _member("owner")
    _, owner_spent = _raw(today, owner.id)
    assert df.set_index("Name").loc[owner.name, column].startswith(fmt_micros(owner_spent))
    # A member sees their own spend, and no one else's.
    at = open_page("member", ORG_PAGE)
    df = at.dataframe[0].value.set_index("Name")
    assert df.loc[mia.name, column] == expected
    others = df.drop(index=mia.name)[column]
    assert others.str.startswith("— / ").all()
