"""Alerts delivered through real receivers: an aiosmtpd SMTP server, a Slack-compatible
webhook and a signed JSON webhook on a real HTTP server (the signature checked as a receiver
would); once across repeated runs; a channel that fails, is retried with backoff and is
delivered once; test alerts; channels' permissions, validation and audit; the weekly summary."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from kilo import alerts, budgets
from kilo.alerts.deliver import BACKOFF_SECONDS, MAX_ATTEMPTS
from kilo.db import read_session, write_session
from kilo.errors import PermissionDenied, ValidationError
from kilo.models import Alert, AlertChannel, AlertDelivery, AuditEntry, utcnow
from kilo.rollups.store import insert_events
from tests import smtp_server as smtp
from tests.factories import create_team, usage_event
from tests.webhook_receiver import WebhookReceiver, receiver_verifies

smtp_server = smtp.smtp_server
DOLLAR = 1_000_000


@pytest.fixture
def people(db_url):
    with write_session() as s:
        people = create_team(s)
        # One rule under test: the organization's budget at 100% (no anomaly alerts).
        alerts.update_settings(
            s,
            actor=people["owner"],
            budget_thresholds=[100],
            runway_days=0,
            anomaly_enabled=False,
            anomaly_min_micros=0,
        )
        budgets.set_budget(
            s, actor=people["owner"], scope="organization", amount_micros=DOLLAR, hard=False
        )
    return people


def _channel(actor, kind: str, target: str, name: str = "Ops") -> tuple[int, str | None]:  # noqa: ANN001
    with write_session() as s:
        view, secret = alerts.create_channel(s, actor=actor, kind=kind, name=name, target=target)
    return view.id, secret


def _overspend(people) -> None:  # noqa: ANN001
    member = people["member"]
    with write_session() as s:
        event = usage_event(member.id, utcnow() - timedelta(seconds=1), cost_micros=2 * DOLLAR)
        insert_events(s, org_id=member.org_id, events=[event])


def _deliveries() -> list[AlertDelivery]:
    with read_session() as s:
        return list(s.exec(select(AlertDelivery).order_by(AlertDelivery.id)).all())


def test_a_signed_webhook_and_a_slack_webhook_receive_the_alert_once(people):
    with WebhookReceiver() as hook:
        _, secret = _channel(people["admin"], "webhook", hook.url("/signed"), "Signed")
        _channel(people["admin"], "slack", hook.url("/slack"), "Slack")
        _overspend(people)
        for _ in range(3):  # repeated runs: one alert, one delivery each
            counts = alerts.run_once()
        got = hook.wait_for(2)
        assert counts == {"alerts": 0, "sent": 0, "pending": 0, "failed": 0, "errors": 0}
        assert len(hook.received()) == 2
    signed = next(r for r in got if r.path == "/signed")
    slack = next(r for r in got if r.path == "/slack")
    header = signed.headers["X-Kilo-Signature"]
    assert secret.startswith("whsec_") and receiver_verifies(secret, header, signed.body)
    assert not receiver_verifies("whsec_wrong", header, signed.body)
    assert not receiver_verifies(secret, header, signed.body + b" ")
    assert alerts.verify(secret, header, signed.body)
    body = signed.json()
    assert body["rule"] == "budget" and body["threshold"] == "100% of 1000000"
    assert body["title"].startswith("The monthly budget of") and "reached 100%" in body["title"]
    assert set(slack.json()) == {"text"} and "reached 100%" in slack.json()["text"]
    assert [(d.status, d.attempts) for d in _deliveries()] == [("sent", 1), ("sent", 1)]
    with read_session() as s:
        assert len(s.exec(select(Alert)).all()) == 1


def test_the_email_channel_sends_through_smtp(people, smtp_server):
    _channel(people["owner"], "email", "finance@example.com", "Finance")
    _overspend(people)
    assert alerts.run_once()["sent"] == 1
    msg = smtp_server.wait_for(1)[0]
    assert msg["To"] == "finance@example.com" and "reached 100%" in msg["Subject"]
    assert "$2.00 of $1.00" in smtp_server.text(msg)
    alerts.run_once()
    assert len(smtp_server.messages) == 1


def test_a_failing_channel_is_retried_with_backoff_and_delivered_once(people):
    with WebhookReceiver(statuses=[500, 503]) as hook:
        _channel(people["admin"], "slack", hook.url())
        _overspend(people)
        start = utcnow()
        assert alerts.run_once(now=start) == {
            "alerts": 1,
            "sent": 0,
            "pending": 1,
            "failed": 0,
            "errors": 0,
        }
        [d] = _deliveries()
        assert (d.status, d.attempts, d.last_error) == (
            "pending",
            1,
            "the receiver answered HTTP 500",
        )
        assert d.next_attempt_at == start + timedelta(seconds=BACKOFF_SECONDS[0])
        # Not due yet: nothing is sent.
        assert alerts.run_once(now=start + timedelta(seconds=30))["pending"] == 0
        assert len(hook.received()) == 1
        later = start + timedelta(seconds=BACKOFF_SECONDS[0])
        assert alerts.run_once(now=later)["pending"] == 1  # 503
        even_later = later + timedelta(seconds=BACKOFF_SECONDS[1])
        assert alerts.run_once(now=even_later)["sent"] == 1  # the receiver recovered
        for hours in (1, 5, 24):
            alerts.run_once(now=even_later + timedelta(hours=hours))
        assert len(hook.received()) == 3
    [d] = _deliveries()
    assert (d.status, d.attempts, d.last_error) == ("sent", 3, "")
    assert d.sent_at is not None


def test_an_unreachable_channel_gives_up_after_the_last_attempt(people):
    with WebhookReceiver() as hook:
        url = hook.url()
    _channel(people["admin"], "webhook", url)  # the receiver is gone: connection refused
    _overspend(people)
    now = utcnow()
    for attempt in range(MAX_ATTEMPTS):
        alerts.run_once(now=now)
        [d] = _deliveries()
        assert d.attempts == attempt + 1 and "could not reach" in d.last_error
        assert url not in d.last_error
        now = d.next_attempt_at
    assert d.status == "failed"
    alerts.run_once(now=now + timedelta(days=1))
    assert _deliveries()[0].attempts == MAX_ATTEMPTS
    with read_session() as s:
        shown = alerts.list_alerts(s, actor=people["admin"])
    assert shown[0].deliveries[0].status == "failed"
    assert "failed" in shown[0].delivery_summary


def test_a_test_alert_reaches_the_channel_and_is_in_the_history(people):
    with WebhookReceiver() as hook:
        channel_id, secret = _channel(people["owner"], "webhook", hook.url())
        with write_session() as s:
            alert_id = alerts.create_test_alert(s, actor=people["admin"], channel_id=channel_id)
        assert alerts.deliver_due(alert_id=alert_id)["sent"] == 1
        [got] = hook.wait_for(1)
    assert receiver_verifies(secret, got.headers["X-Kilo-Signature"], got.body)
    assert got.json()["rule"] == "test"
    with read_session() as s:
        [shown] = alerts.list_alerts(s, actor=people["owner"])
        audit = s.exec(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert shown.rule == "test" and shown.deliveries[0].status == "sent"
    assert "alerts.channel.test" in audit
    with write_session() as s, pytest.raises(PermissionDenied):
        alerts.create_test_alert(s, actor=people["member"], channel_id=channel_id)


def test_channels_are_for_owners_and_admins_checked_and_audited(people):
    with write_session() as s:
        with pytest.raises(PermissionDenied, match="manage alerts"):
            alerts.create_channel(
                s, actor=people["member"], kind="email", name="x", target="a@example.com"
            )
        with pytest.raises(PermissionDenied):
            alerts.list_channels(s, actor=people["member"])
        with pytest.raises(PermissionDenied):
            alerts.list_alerts(s, actor=people["member"])
    bad = [
        ("slack", "ftp://example.com/x", "https://"),
        ("slack", "https://" + "a" * 2000 + ".com", "at most 2000"),
        ("webhook", "https://user:pw@example.com/", "no user name"),
        ("webhook", "https:///path", "needs a host"),
        ("webhook", "https://exa mple.com/", "spaces"),
        ("webhook", "", "Give the webhook"),
        ("email", "not-an-address", "not an e-mail address"),
        ("sms", "123", "Unknown channel kind"),
    ]
    for kind, target, message in bad:
        with write_session() as s, pytest.raises(ValidationError, match=message):
            alerts.create_channel(s, actor=people["admin"], kind=kind, name="x", target=target)
    secret_url = "https://hooks.slack.com/services/T000/B000/SECRETPART"
    channel_id, secret = _channel(people["admin"], "slack", secret_url)
    assert secret is None
    with write_session() as s:
        [view] = alerts.list_channels(s, actor=people["owner"])
        assert view.shown_target == "https://hooks.slack.com/…"
        alerts.remove_channel(s, actor=people["owner"], channel_id=channel_id)
        assert alerts.list_channels(s, actor=people["owner"]) == []
    with read_session() as s:
        entries = s.exec(
            select(AuditEntry).where(AuditEntry.action.startswith("alerts.channel"))
        ).all()
        assert [e.action for e in entries] == ["alerts.channel.create", "alerts.channel.remove"]
        assert all("SECRETPART" not in (e.message + str(e.details)) for e in entries)
        assert s.get(AlertChannel, channel_id).removed_at is not None


def test_a_removed_channel_gets_nothing_more(people):
    with WebhookReceiver() as hook:
        channel_id, _ = _channel(people["admin"], "slack", hook.url())
        _overspend(people)
        with write_session() as s:
            from kilo.alerts.evaluate import evaluate_org

            evaluate_org(s, org_id=people["admin"].org_id, now=utcnow())
            alerts.remove_channel(s, actor=people["admin"], channel_id=channel_id)
        alerts.run_once()
        assert hook.received() == []
    [d] = _deliveries()
    assert (d.status, d.last_error) == ("failed", "the channel was removed")


def test_the_weekly_summary_goes_once_a_week_to_those_who_opted_in(people, smtp_server):
    owner, admin = people["owner"], people["admin"]
    with write_session() as s:
        alerts.set_weekly_summary(s, actor=admin, enabled=True)
        with pytest.raises(PermissionDenied):
            alerts.set_weekly_summary(s, actor=people["member"], enabled=True)
    week_ago = utcnow() - timedelta(days=3)
    with write_session() as s:
        insert_events(
            s,
            org_id=owner.org_id,
            events=[
                usage_event(owner.id, week_ago, model_id="anthropic/claude", cost_micros=3 * DOLLAR)
            ],
        )
    now = utcnow()
    alerts.run_once(now=now)
    alerts.run_once(now=now)
    [msg] = smtp_server.wait_for(1)
    assert msg["To"] == admin.email and "weekly summary" in msg["Subject"]
    text = smtp_server.text(msg)
    assert "Spend: $3.00" in text and "anthropic/claude: $3.00" in text
    assert "No team: $3.00" in text and "the monthly budget of" in text
    alerts.run_once(now=now + timedelta(days=7))  # the next ISO week
    assert len(smtp_server.wait_for(2)) == 2
    with read_session() as s:
        actions = s.exec(select(AuditEntry.action)).all()
    assert "alerts.summary.change" in actions


def test_slack_text_shows_names_as_written():
    from kilo.alerts.senders import slack_escape

    assert slack_escape("Ann <ann@x.com> & <https://evil|click>") == (
        "Ann &lt;ann@x.com&gt; &amp; &lt;https://evil|click&gt;"
    )


def test_the_alerts_run_command_evaluates_and_delivers(people, capsys):
    from kilo.__main__ import main

    with WebhookReceiver() as hook:
        _channel(people["admin"], "slack", hook.url())
        _overspend(people)
        assert main(["alerts", "run"]) == 0
        assert (
            "1 new alert(s); deliveries: 1 sent, 0 to retry, 0 failed." in capsys.readouterr().out
        )
        assert main(["alerts", "run"]) == 0
        assert "0 new alert(s); deliveries: 0 sent" in capsys.readouterr().out
        assert len(hook.received()) == 1


def test_the_background_runner_starts_once_and_stops(people, monkeypatch):
    monkeypatch.setenv("KILO_ALERTS_INTERVAL", "0")
    assert alerts.start_background() is False and alerts.background_interval() is None
    monkeypatch.setenv("KILO_ALERTS_INTERVAL", "soon")
    assert alerts.start_background() is False
    monkeypatch.setenv("KILO_ALERTS_INTERVAL", "3600")
    with WebhookReceiver() as hook:
        _channel(people["admin"], "slack", hook.url())
        _overspend(people)
        try:
            assert alerts.start_background() and alerts.start_background()  # one thread
            assert alerts.background_interval() == 3600
            hook.wait_for(1)  # its first run is at once
        finally:
            alerts.stop_background()
    assert alerts.background_interval() is None
    assert len(hook.received()) == 1
