"""Audit Logs tab (AppTest): per role, filters in the URL, paging, chart, export, chain status."""

from __future__ import annotations

import json

import pytest
import streamlit as st
from sqlalchemy import text
from sqlmodel import select

from kilo import audit
from kilo.audit.actions import AUDIT_ACTIONS
from kilo.db import write_session
from kilo.members import actor_for
from kilo.models import AuditEntry, Member
from tests.pages.helpers import app_as, open_page, texts

PAGE = "pages/audit_logs.py"


def _org_actor(username: str):
    with write_session() as s:
        return actor_for(s.exec(select(Member).where(Member.username == username)).one())


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Loaders are cached per actor; each test has its own database.
    st.cache_data.clear()


def _param(at, name: str) -> str:
    value = at.query_params[name]
    return value[0] if isinstance(value, list) else value


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owner_and_admin_see_the_log(demo_url, role):
    at = open_page(role, PAGE)
    assert not at.exception
    page = texts(at)
    assert "Audit Logs" in page
    assert any("Hash chain intact" in e.value for e in at.success)
    with write_session() as s:
        head = s.exec(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).one()
    assert [c.value for c in at.code] == [f"{head.id}:{head.hash}"]  # the anchor to keep
    assert "Events in the period" in page
    table = at.dataframe[0].value
    # Time, action and message first, sized to fit 1440 px (no horizontal scrolling for them).
    assert list(table.columns) == ["Time", "Action", "Details", "Actor", "Target", "Data", "Entry"]
    widths = {k: v.get("width") for k, v in json.loads(at.dataframe[0].proto.columns).items()}
    longest = max(len(a) for a in AUDIT_ACTIONS)
    assert widths["Action"] >= 7 * longest  # about 7 px a character in the grid
    assert sum(widths[c] for c in ("Time", "Action", "Details", "Actor")) <= 980
    assert len(table) > 0
    times = list(table["Time"])
    assert times == sorted(times, reverse=True)  # newest first
    # Opening a page is not a sign-in: it writes no entry of its own.
    assert head.action in set(table["Action"])
    assert at.get("vega_lite_chart"), "the per-day chart is drawn"
    assert {b.proto.label for b in at.get("download_button")} == {
        "Download CSV",
        "Download JSON Lines",
    }


def test_member_is_refused(demo_url):
    at = open_page("member", PAGE)
    assert not at.exception
    assert "You do not have access to this page" in texts(at)
    assert not at.dataframe and not at.get("download_button")


def test_filters_come_from_and_go_to_the_url(demo_url):
    owner = _org_actor("owner")
    with write_session() as s:
        audit.record(
            s,
            actor=owner,
            action="organization.settings.change",
            target="name",
            message="Organization name: Acme → =Evil Corp",
        )
    at = app_as("owner")
    at.run()
    at.switch_page(PAGE)
    at.query_params["action"] = ["organization.settings.change"]
    at.query_params["q"] = "evil corp"
    at.run()
    assert not at.exception
    assert at.multiselect(key="audit_logs_actions").value == ["organization.settings.change"]
    assert at.text_input(key="audit_logs_search").value == "evil corp"
    table = at.dataframe[0].value
    assert list(table["Details"]) == ["Organization name: Acme → =Evil Corp"]
    assert "Events in the period 1" in texts(at)
    # Changing a widget writes the URL.
    at.text_input(key="audit_logs_search").input("nothing matches this").run()
    assert _param(at, "q") == "nothing matches this"
    assert "No events match these filters" in texts(at)


def test_actor_filter_and_paging(demo_url):
    at = open_page("admin", PAGE)
    at.selectbox(key="audit_logs_page_size").select(25).run()
    first = list(at.dataframe[0].value["Entry"])
    assert len(first) == 25
    at.button(key="audit_logs_older").click().run()
    second = list(at.dataframe[0].value["Entry"])
    assert second and not set(first) & set(second)
    at.button(key="audit_logs_newer").click().run()
    assert list(at.dataframe[0].value["Entry"]) == first
    owner = _org_actor("owner")
    at.selectbox(key="audit_logs_actor").select(owner.id).run()
    actors = set(at.dataframe[0].value["Actor"])
    assert actors == {f"{owner.name} <{owner.email}>"}
    assert _param(at, "actor") == str(owner.id)


def test_bad_period_shows_a_message(demo_url):
    at = open_page("owner", PAGE)
    start = at.date_input(key="audit_logs_from_date").value
    at.date_input(key="audit_logs_to_date").set_value(start.replace(year=start.year - 1)).run()
    assert not at.exception
    assert "ends before it starts" in texts(at)


def test_broken_chain_is_shown(demo_url):
    with write_session() as s:
        bad = s.exec(select(AuditEntry.id).order_by(AuditEntry.id).offset(3).limit(1)).one()
        s.execute(text("UPDATE auditentry SET message = 'rewritten' WHERE id = :i"), {"i": bad})
    at = open_page("owner", PAGE)
    assert not at.exception
    assert f"Hash chain broken at entry #{bad}" in texts(at)


def test_export_uses_the_page_filters(demo_url):
    at = open_page("owner", PAGE)
    at.multiselect(key="audit_logs_actions").set_value(["organization.member.invite"]).run()
    total = int(
        next(m.value for m in at.metric if m.label == "Events in the period").replace(",", "")
    )
    page_filters = at.session_state["audit_logs_signature"][0]
    assert page_filters.actions == ("organization.member.invite",) and page_filters.start
    with write_session() as s:
        lines = (
            audit.export_file(s, actor=_org_actor("owner"), filters=page_filters, fmt="jsonl")
            .decode()
            .splitlines()
        )
    assert total and len(lines) == total
    assert all(json.loads(line)["action"] == "organization.member.invite" for line in lines)


def test_filters_survive_a_visit_to_another_page(demo_url):
    at = open_page("admin", PAGE)
    default_from = at.date_input(key="audit_logs_from_date").value
    at.switch_page("pages/organization.py")
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception
    assert at.date_input(key="audit_logs_from_date").value == default_from
    assert at.dataframe[0].value.shape[0] > 0
