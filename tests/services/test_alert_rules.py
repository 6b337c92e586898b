"""Each alert rule at its threshold and one cent below, on the real rollups; once per rule,
subject, threshold and period across repeated runs; who may change the rules (audited)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlmodel import select

from kilo import alerts, budgets, members
from kilo.db import read_session, write_session
from kilo.errors import PermissionDenied, ValidationError
from kilo.models import Alert, AuditEntry, Member
from kilo.permissions import system_actor
from kilo.rollups.store import insert_events
from tests.factories import create_ledger_entry, create_team, usage_event

CENT = 10_000
DOLLAR = 1_000_000
NOW = datetime.now(UTC)
TODAY = NOW.date()


@pytest.fixture
def people(db_url):
    with write_session() as s:
        return create_team(s)


def _spend(member_id: int, org_id: int, cost: int, day: date = TODAY) -> None:
    at = NOW - timedelta(seconds=1) if day == TODAY else datetime.combine(day, time(12), UTC)
    if day == TODAY and at.date() != TODAY:  # a run in the first second of the day
        at = NOW
    with write_session() as s:
        insert_events(s, org_id=org_id, events=[usage_event(member_id, at, cost_micros=cost)])


def _evaluate(org_id: int) -> list[str]:
    """The keys of the alerts this run recorded (not those that fired before)."""
    with write_session() as s:
        return [a.key for a in alerts.evaluate_org(s, org_id=org_id, now=NOW)]


def _quiet(org_id: int) -> None:
    """Only the rule under test: no anomaly alert (a first day's spend is one)."""
    with write_session() as s:
        alerts.update_settings(
            s,
            actor=system_actor(org_id),
            budget_thresholds=[50, 80, 100],
            runway_days=0,
            anomaly_enabled=False,
            anomaly_min_micros=0,
        )


@pytest.mark.parametrize("below", [0, CENT])
@pytest.mark.parametrize("scope", ["organization", "team", "member"])
def test_a_budget_threshold_fires_at_it_and_not_one_cent_below(people, scope, below):
    owner, member = people["owner"], people["member"]
    org_id = owner.org_id
    _quiet(org_id)
    with write_session() as s:
        scope_id = {"organization": org_id, "member": member.id}.get(scope)
        if scope == "team":
            from kilo import teams

            team = teams.create_team(s, actor=owner, name="Platform")
            teams.assign_member(s, actor=owner, member_id=member.id, team_id=team.id)
            scope_id = team.id
        budgets.set_budget(
            s, actor=owner, scope=scope, scope_id=scope_id, amount_micros=100 * DOLLAR, hard=False
        )
    _spend(member.id, org_id, 80 * DOLLAR - below)  # 80% of the budget, or a cent less
    keys = _evaluate(org_id)
    month = f"{TODAY:%Y-%m}"

    def key(pct: int, amount: int = 100 * DOLLAR) -> str:
        return f"budget|{scope}:{scope_id}|{pct}% of {amount}|{month}"

    assert keys == [key(50)] + ([] if below else [key(80)])
    assert _evaluate(org_id) == []  # once: a second run records nothing
    _spend(member.id, org_id, 20 * DOLLAR + below)  # now exactly 100%
    assert _evaluate(org_id) == [*([key(80)] if below else []), key(100)]
    with read_session() as s:
        alert = s.exec(select(Alert).where(Alert.key == key(100))).one()
    assert "reached 100%" in alert.title and "$100.00 of $100.00" in alert.message
    # A raised budget re-arms its thresholds: $100 is 50% of $200.
    with write_session() as s:
        budgets.set_budget(
            s, actor=owner, scope=scope, scope_id=scope_id, amount_micros=200 * DOLLAR, hard=False
        )
    assert _evaluate(org_id) == [key(50, 200 * DOLLAR)]


@pytest.mark.parametrize("below", [0, CENT])
def test_the_daily_limit_fires_at_it_and_not_one_cent_below(people, below):
    member = people["member"]
    _quiet(member.org_id)
    with write_session() as s:
        members.update_member(
            s, actor=people["owner"], member_id=member.id, daily_spend_limit_micros=5 * DOLLAR
        )
    _spend(member.id, member.org_id, 5 * DOLLAR - below)
    expected = [] if below else [f"daily_limit|member:{member.id}|{5 * DOLLAR}|{TODAY}"]
    assert _evaluate(member.org_id) == expected
    assert _evaluate(member.org_id) == []


@pytest.mark.parametrize("below", [0, CENT])
def test_the_balance_alert_fires_one_cent_below_the_amount_not_at_it(people, below):
    """Below an amount, like the low-balance warning every page shows (one setting)."""
    from kilo import billing

    owner, member = people["owner"], people["member"]
    _quiet(owner.org_id)
    with write_session() as s:
        credit = create_ledger_entry(s, owner.org_id, 30 * DOLLAR)
        billing.set_low_balance_alert(s, actor=owner, threshold_micros=20 * DOLLAR)
    _spend(member.id, owner.org_id, 10 * DOLLAR + below)  # balance $20, or $19.99
    expected = [f"balance|organization|{20 * DOLLAR}|credits-{credit.id}"] if below else []
    assert _evaluate(owner.org_id) == expected
    assert _evaluate(owner.org_id) == []
    if below:  # a top-up starts a new credit period: the alert can fire again
        with write_session() as s:
            again = create_ledger_entry(s, owner.org_id, CENT)
        _spend(member.id, owner.org_id, CENT)  # and spent: still $19.99
        assert _evaluate(owner.org_id) == [f"balance|organization|{20 * DOLLAR}|credits-{again.id}"]


@pytest.mark.parametrize("below", [0, CENT])
def test_the_runway_alert_fires_below_n_days_not_at_n(people, below):
    owner, member = people["owner"], people["member"]
    _quiet(owner.org_id)
    with write_session() as s:
        alerts.update_settings(
            s,
            actor=owner,
            budget_thresholds=[100],
            runway_days=10,
            anomaly_enabled=False,
            anomaly_min_micros=0,
        )
        credit = create_ledger_entry(s, owner.org_id, 40 * DOLLAR - below)
    _spend(member.id, owner.org_id, 30 * DOLLAR)  # $1 a day over billing's 30 days
    # balance $10 = 10 days at $1 a day (no alert), or $9.99 = 9 days (alert)
    expected = [f"runway|organization|10d|credits-{credit.id}"] if below else []
    assert _evaluate(owner.org_id) == expected


def _history(member_id: int, org_id: int, per_day: int) -> None:
    with write_session() as s:
        insert_events(
            s,
            org_id=org_id,
            events=[
                usage_event(
                    member_id,
                    datetime.combine(TODAY - timedelta(days=d), time(12), UTC),
                    cost_micros=per_day,
                )
                for d in range(1, 29)
            ],
        )


def _anomaly_settings(owner, minimum: int) -> None:  # noqa: ANN001
    with write_session() as s:
        alerts.update_settings(
            s,
            actor=owner,
            budget_thresholds=[100],
            runway_days=0,
            anomaly_enabled=True,
            anomaly_min_micros=minimum,
        )


@pytest.mark.parametrize("below", [0, CENT])
def test_an_anomaly_is_three_times_the_28_day_median_and_not_one_cent_less(people, below):
    owner, member = people["owner"], people["member"]
    _anomaly_settings(owner, DOLLAR)
    _history(member.id, owner.org_id, 10 * DOLLAR)  # median day: $10
    _spend(member.id, owner.org_id, 30 * DOLLAR - below)
    expected = (
        []
        if below
        else [f"anomaly|organization|3x|{TODAY}", f"anomaly|member:{member.id}|3x|{TODAY}"]
    )
    assert _evaluate(owner.org_id) == expected
    assert _evaluate(owner.org_id) == []


def test_an_anomaly_is_per_member_and_the_median_counts_days_without_usage(people):
    owner, admin, member = people["owner"], people["admin"], people["member"]
    _anomaly_settings(owner, DOLLAR)
    _history(member.id, owner.org_id, 10 * DOLLAR)  # the organization's median: $10
    # The admin had no usage before: their median is $0, so $2 today (>= the $1 minimum)
    # is an anomaly for them, while the organization's $12 is not 3 x $10.
    _spend(member.id, owner.org_id, 10 * DOLLAR)
    _spend(admin.id, owner.org_id, 2 * DOLLAR)
    assert _evaluate(owner.org_id) == [f"anomaly|member:{admin.id}|3x|{TODAY}"]


@pytest.mark.parametrize("below", [0, CENT])
def test_an_anomaly_needs_the_minimum_amount(people, below):
    owner, member = people["owner"], people["member"]
    _anomaly_settings(owner, 10 * DOLLAR)  # no history: the median is $0
    _spend(member.id, owner.org_id, 10 * DOLLAR - below)
    expected = (
        []
        if below
        else [f"anomaly|organization|3x|{TODAY}", f"anomaly|member:{member.id}|3x|{TODAY}"]
    )
    assert _evaluate(owner.org_id) == expected


def test_who_changes_the_rules_and_the_audit(people):
    with write_session() as s:
        with pytest.raises(PermissionDenied, match="manage alerts"):
            alerts.get_settings(s, actor=people["member"])
        defaults = alerts.get_settings(s, actor=people["admin"])
        assert defaults.budget_thresholds == (50, 80, 100) and defaults.anomaly_enabled
        alerts.update_settings(
            s,
            actor=people["admin"],
            budget_thresholds=alerts.parse_thresholds("90, 75%"),
            runway_days=7,
            anomaly_enabled=True,
            anomaly_min_micros=5 * DOLLAR,
        )
    with read_session() as s:
        entry = s.exec(
            select(AuditEntry).where(AuditEntry.action == "alerts.settings.change")
        ).one()
        assert entry.details["changes"]["budget_thresholds"] == [[50, 80, 100], [75, 90]]
        assert entry.details["changes"]["runway_days"] == [0, 7]
        assert s.exec(select(Member)).all()
    for text, message in [("", "at least one"), ("50, x", "whole percentages"), ("0", "1 to 1000")]:
        with pytest.raises(ValidationError, match=message):
            alerts.parse_thresholds(text)
    with pytest.raises(ValidationError, match="once only"):
        alerts.parse_thresholds("50,50")
    with write_session() as s, pytest.raises(ValidationError, match="Runway"):
        alerts.update_settings(
            s,
            actor=people["owner"],
            budget_thresholds=[50],
            runway_days=-1,
            anomaly_enabled=False,
            anomaly_min_micros=0,
        )
