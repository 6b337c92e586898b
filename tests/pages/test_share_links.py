"""Crafted share links: every query parameter of every page is checked. A bad value gives a
warning naming the parameter and the default (or the nearest value in range), never an
exception; good links still work."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from kilo import audit
from kilo.audit import SYSTEM_ACTOR_ID
from kilo.db import read_session, write_session
from kilo.models import Member
from kilo.permissions import system_actor
from tests.pages.helpers import app_as
from tests.pages.rendered import plain, to_html

LONG = "x" * 5_000
HUGE_NUMBER = "9" * 5_000  # int() refuses more than 4,300 digits


def open_link(username: str, page: str, params: dict[str, str | list[str]]):
    """Signed in as `username`, then open `page` with `params`, as a shared link would."""
    at = app_as(username)
    at.run()
    at.switch_page(page)
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    return at


def warnings(at) -> str:  # noqa: ANN001
    return "\n".join(plain(w.value) for w in at.warning)


def assert_refused(at, *names: str) -> None:  # noqa: ANN001
    assert not at.exception, at.exception
    for warning in at.warning:  # the refused value is quoted as text
        assert "<a " not in to_html(warning.value) and "<img" not in to_html(warning.value)
    text = warnings(at)
    assert "could not be used" in text
    for name in names:
        assert f"{name}:" in text, (name, text)


def assert_clean(at) -> None:  # noqa: ANN001
    assert not at.exception, at.exception
    assert "could not be used" not in warnings(at)


def utc_today() -> date:
    return datetime.now(UTC).date()


# ---- Audit Logs ------------------------------------------------------------------------

AUDIT = "pages/audit_logs.py"


DEFAULT_FROM = object()  # the default period's first day (90 days up to today)
TODAY = object()
ANYONE = -1


@pytest.mark.parametrize(
    ("params", "refused", "expected"),
    [
        ({"from": "yesterday"}, ["from"], {"audit_logs_from_date": DEFAULT_FROM}),
        (
            {"from": "2026-13-45T99:99", "to": "2026-02-30T10:00"},
            ["from", "to"],
            {"audit_logs_from_date": DEFAULT_FROM},
        ),
        ({"from": "0001-01-01T00:00"}, ["from"], {"audit_logs_from_date": date(2000, 1, 1)}),
        (
            {"from": "2026-06-02T00:00", "to": "2026-06-01T00:00"},  # ends before it starts
            ["from"],
            {"audit_logs_from_date": DEFAULT_FROM},
        ),
        ({"to": LONG}, ["to"], {"audit_logs_to_date": TODAY}),
        ({"actor": "²"}, ["actor"], {"audit_logs_actor": ANYONE}),  # str.isdigit says yes
        ({"actor": HUGE_NUMBER}, ["actor"], {"audit_logs_actor": ANYONE}),
        ({"actor": "424242"}, ["actor"], {"audit_logs_actor": ANYONE}),  # not in this log
        ({"q": LONG}, ["q"], {"audit_logs_search": ""}),
        ({"q": "admin\x00"}, ["q"], {"audit_logs_search": ""}),  # PostgreSQL refuses NUL
        (
            {"action": ["organization.user.login", "DROP TABLE", LONG]},
            ["action"],
            {"audit_logs_actions": ["organization.user.login"]},
        ),
    ],
)
def test_audit_bad_parameters_fall_back(demo_url, params, refused, expected):
    at = open_link("admin", AUDIT, params)
    assert_refused(at, *refused)
    for key, value in expected.items():
        if value is DEFAULT_FROM:
            value = utc_today() - timedelta(days=89)
        elif value is TODAY:
            value = utc_today()
        assert at.session_state[key] == value, key
    assert at.dataframe or any("No events match" in i.value for i in at.info)


def test_audit_link_far_in_the_future_is_clamped_and_good_links_work(demo_url):
    with read_session() as s:
        owner = s.exec(select(Member).where(Member.username == "owner")).one()
    with write_session() as s:  # the log has an entry by the system: `actor=system` names it
        audit.record(s, actor=system_actor(owner.org_id), action="catalog.import", message="x")
    at = open_link("owner", AUDIT, {"to": "9999-12-31T23:59"})  # OverflowError before
    assert_refused(at, "to")
    assert at.date_input(key="audit_logs_to_date").value == utc_today() + timedelta(days=1)
    assert at.dataframe  # the entries are listed
    # A good link is taken as it is, without a warning.
    start = f"{utc_today() - timedelta(days=10):%Y-%m-%d}T08:15"
    params = {"from": start, "actor": str(owner.id), "q": "invit", "action": ["a.b"]}
    at = open_link("owner", AUDIT, params)
    assert_clean(at)
    assert at.date_input(key="audit_logs_from_date").value == utc_today() - timedelta(days=10)
    assert at.selectbox(key="audit_logs_actor").value == owner.id
    assert at.text_input(key="audit_logs_search").value == "invit"
    assert at.multiselect(key="audit_logs_actions").value == ["a.b"]
    at = open_link("owner", AUDIT, {"actor": "system"})
    assert_clean(at)
    assert at.selectbox(key="audit_logs_actor").value == SYSTEM_ACTOR_ID


# ---- Usage -------------------------------------------------------------------------------

USAGE = "pages/usage.py"


def test_usage_custom_range_past_today_is_clamped_and_good_links_work(demo_url):
    link = {"period": "custom", "from": "2026-01-01", "to": "2030-01-01"}
    at = open_link("admin", USAGE, link)  # StreamlitValueAboveMaxError before
    assert_refused(at, "to")
    start, end = at.date_input(key="usage_range").value
    assert end == utc_today()
    assert start == min(date(2026, 1, 1), utc_today())
    assert any(m.label == "Total spend" for m in at.metric)
    # A good link is taken as it is, without a warning.
    today = utc_today()
    start = today - timedelta(days=12)
    at = open_link("admin", USAGE, {"period": "custom", "from": f"{start}", "to": f"{today}"})
    assert_clean(at)
    assert at.date_input(key="usage_range").value == (start, today)


@pytest.mark.parametrize(
    ("params", "refused"),
    [
        ({"period": "fortnight"}, ["period"]),
        ({"period": LONG}, ["period"]),
        ({"period": "![p](https://evil.example/p.png)\n\n# Hi"}, ["period"]),
        ({"period": "custom", "from": "soon", "to": "2026-02-30"}, ["from", "to"]),
        ({"period": "custom", "from": "2020-01-01"}, ["to"]),  # half a range
        ({"period": "custom", "from": "1900-01-01", "to": "1901-01-01"}, ["from", "to"]),
        ({"members": "²"}, ["members"]),
        ({"members": HUGE_NUMBER}, ["members"]),
        ({"members": "424242"}, ["members"]),
        ({"models": "x" * 300}, ["models"]),
        ({"providers": ",".join(str(i) for i in range(80))}, ["providers"]),
        ({"modes": "code\x00"}, ["modes"]),
    ],
)
def test_usage_bad_parameters_fall_back(demo_url, params, refused):
    at = open_link("owner", USAGE, params)
    assert_refused(at, *refused)
    if "period" in refused:
        assert at.selectbox(key="usage_period").value == "billing"
    if "members" in refused:
        assert at.multiselect(key="usage_members").value == []
    if "models" in refused:
        assert at.multiselect(key="usage_models").value == []
    if "providers" in refused:
        assert len(at.multiselect(key="usage_providers").value) == 50
    assert any(m.label == "Total spend" for m in at.metric)


def test_usage_reversed_or_too_long_range(demo_url):
    today = utc_today()
    reversed_ = {"period": "custom", "from": f"{today}", "to": f"{today - timedelta(days=3)}"}
    at = open_link("admin", USAGE, reversed_)
    assert_refused(at, "from")
    assert at.date_input(key="usage_range").value == (today - timedelta(days=29), today)
    long = {"period": "custom", "from": f"{today - timedelta(days=5 * 365)}", "to": f"{today}"}
    at = open_link("admin", USAGE, long)
    assert_refused(at, "from")
    assert at.date_input(key="usage_range").value == (today - timedelta(days=3 * 366), today)
    assert not at.error


# ---- Model Access -----------------------------------------------------------------------

ACCESS = "pages/model_access.py"


@pytest.mark.parametrize(
    ("params", "refused"),
    [
        ({"training": "maybe", "retains": LONG}, ["training", "retains"]),
        ({"publish": "YES"}, ["publish"]),
        ({"hq": ["US", "ZZZZZZZZZZZZ", "Atlantis"]}, ["hq"]),
        ({"dc": [str(i) for i in range(80)]}, ["dc"]),
        ({"q": "y" * 101, "qp": "a\x07b"}, ["q", "qp"]),
        ({"enabled": "yes"}, ["enabled"]),
    ],
)
def test_model_access_bad_parameters_fall_back(demo_url, params, refused):
    at = open_link("member", ACCESS, params)
    assert_refused(at, *refused)
    if "training" in refused:
        assert at.selectbox(key="model_access_f_training").value == "any"
    if "hq" in refused:
        assert at.multiselect(key="model_access_f_hq").value == ["US"]
    if "q" in refused:
        assert at.text_input(key="model_access_m_search").value == ""
    if "enabled" in refused:
        assert at.toggle(key="model_access_f_enabled").value is False
    assert at.dataframe


# ---- Invoices and the invitation page ---------------------------------------------------

INVOICES = "pages/invoices.py"


@pytest.mark.parametrize(
    ("params", "refused"),
    [
        ({"session_id": "'; DROP TABLE invoice; --"}, ["session_id"]),
        ({"session_id": "cs_" + "a" * 1_000}, ["session_id"]),
        ({"checkout": "done"}, ["checkout"]),
    ],
)
def test_invoices_bad_return_parameters_are_dropped(demo_url, params, refused):
    at = open_link("owner", INVOICES, params)
    assert_refused(at, *refused)
    assert not at.error and not at.success
    assert dict(at.query_params) == {}  # one-shot parameters leave the URL
    assert at.dataframe  # the invoices are listed


def test_invitation_link_with_a_malformed_token(demo_url):
    from streamlit.testing.v1 import AppTest

    from tests.pages.helpers import APP

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/accept_invite.py")
    at.query_params["token"] = "<script>" + LONG
    at.run()
    assert_refused(at, "token")
    assert any("needs the invitation link" in e.value for e in at.error)
