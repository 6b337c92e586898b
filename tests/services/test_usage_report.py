"""`kilo.usage_report`: the read API's parameters and figures."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from kilo import gateway_usage, organization, usage, usage_report
from kilo.members import actor_for
from kilo.permissions import system_actor
from kilo.usage_report import AnalyticsOff, InvalidParameter, ReportQuery, parse_query, usd_text
from tests.factories import create_member, create_org

TODAY = date(2026, 5, 20)


def test_usd_text_is_exact():
    assert usd_text(0) == "0.000000"
    assert usd_text(12_345_678) == "12.345678"
    assert usd_text(-1) == "-0.000001"
    assert usd_text(10**18) == "1000000000000.000000"


def test_parse_query_defaults_and_values():
    assert parse_query([], today=TODAY) == ReportQuery(date(2026, 5, 1), TODAY, "day", "json")
    q = parse_query(
        [("from", "2026-01-01"), ("to", "2026-01-31"), ("group_by", "member"), ("format", "csv")],
        today=TODAY,
    )
    assert q == ReportQuery(date(2026, 1, 1), date(2026, 1, 31), "member", "csv")
    assert parse_query([("to", "2026-03-10")], today=TODAY).start == date(2026, 3, 1)


@pytest.mark.parametrize(
    "pairs,parameter",
    [
        ([("from", "2026-5-1")], "from"),
        ([("to", "2026-02-30")], "to"),
        ([("from", "2026-05-02"), ("to", "2026-05-01")], "from"),
        ([("from", "2025-05-01"), ("to", "2026-05-02")], "to"),
        ([("group_by", "user")], "group_by"),
        ([("format", "")], "format"),
        ([("limit", "5")], "limit"),
        ([("to", "2026-05-01"), ("to", "2026-05-02")], "to"),
    ],
)
def test_parse_query_names_the_bad_parameter(pairs, parameter):
    with pytest.raises(InvalidParameter) as caught:
        parse_query(pairs, today=TODAY)
    assert caught.value.parameter == parameter


@pytest.fixture
def org_with_usage(session):
    org = create_org(session)
    owner = actor_for(create_member(session, org, "owner", email="=cmd@example.com"))
    gw = system_actor(org.id)
    events = [
        {
            "id": f"e{n}",
            "timestamp": f"2026-05-{1 + n % 4:02d}T08:00:00Z",
            "member_email": "=cmd@example.com",
            "model": "=HYPERLINK(x)" if n % 3 == 0 else "openai/gpt-5",
            "provider": "openai",
            "input_tokens": n,
            "output_tokens": 2 * n,
            "cost_usd": f"1.{n:06d}",
            "latency_ms": n,
            "status": "success",
        }
        for n in range(1, 30)
    ]
    gateway_usage.record_batch(session, actor=gw, events=events)
    session.commit()
    return org, owner, gw


@pytest.mark.parametrize("group_by", list(usage_report.GROUPS))
def test_report_figures_are_the_usage_services(session, org_with_usage, group_by):
    org, _, gw = org_with_usage
    query = ReportQuery(date(2026, 5, 1), date(2026, 5, 31), group_by)
    report = usage_report.build_report(session, actor=gw, query=query)
    totals = usage.get_totals(session, actor=gw, f=usage.UsageFilter(query.start, query.end))
    assert report.totals["requests"] == totals["requests"] == 29
    assert report.totals["cost_micros"] == totals["cost_micros"]
    assert report.totals["cost_usd"] == usd_text(totals["cost_micros"])
    assert sum(r["cost_micros"] for r in report.rows) == totals["cost_micros"]
    assert report.as_json()["rows"] == report.rows


def test_report_csv_is_spreadsheet_safe(session, org_with_usage):
    _, _, gw = org_with_usage
    query = ReportQuery(date(2026, 5, 1), date(2026, 5, 31), "model", "csv")
    text = usage_report.build_report(session, actor=gw, query=query).as_csv()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["model_id"] for r in rows} == {"'=HYPERLINK(x)", "openai/gpt-5"}
    member = usage_report.build_report(
        session, actor=gw, query=ReportQuery(query.start, query.end, "member", "csv")
    ).as_csv()
    assert "'=cmd@example.com" in member


def test_per_member_report_only_while_analytics_are_on(session, org_with_usage):
    _, owner, gw = org_with_usage
    organization.set_policies(session, actor=owner, usage_analytics_enabled=False)
    query = ReportQuery(date(2026, 5, 1), date(2026, 5, 31), "member")
    with pytest.raises(AnalyticsOff):
        usage_report.build_report(session, actor=gw, query=query)
    by_model = ReportQuery(query.start, query.end, "model")
    assert usage_report.build_report(session, actor=gw, query=by_model).rows
