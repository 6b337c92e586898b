"""Alerts through AppTest: an admin sets the rules, adds channels (a signed webhook's secret
shown once), sends a test alert to a real HTTP receiver and sees it in the history; a member
sees no alert configuration; the weekly summary opt-in on the Account page."""

from __future__ import annotations

from sqlalchemy import select

from kilo import alerts, members
from kilo.db import read_session
from kilo.models import AlertChannel, AlertSettings, AuditEntry, Member
from tests.pages.helpers import open_page, texts
from tests.webhook_receiver import WebhookReceiver, receiver_verifies

ORG = "pages/organization.py"
ACCOUNT = "pages/account.py"


def _keys(at) -> set[str]:  # noqa: ANN001
    return {getattr(w, "key", None) for w in at.main if getattr(w, "key", None)}


def test_admin_sets_rules_adds_channels_and_sends_a_test_alert(demo_url):
    at = open_page("admin", ORG)
    assert not at.exception
    assert "Alerts" in [h.value for h in at.subheader]
    assert "No alerts yet." in texts(at)
    assert "does not check the rules on its own" in texts(at)  # no runner under AppTest
    at.text_input(key="org_alert_thresholds").input("50, lots")
    at.button(key="FormSubmitter:org_alert_rules-Save rules").click().run()
    assert "whole percentages" in texts(at)
    at.text_input(key="org_alert_thresholds").input("90, 75")
    at.number_input(key="org_alert_runway").set_value(14)
    at.button(key="FormSubmitter:org_alert_rules-Save rules").click().run()
    assert not at.exception
    with read_session() as s:
        row = s.execute(select(AlertSettings)).scalar_one()
    assert (row.budget_thresholds, row.runway_days) == ([75, 90], 14)

    with WebhookReceiver() as hook:
        at.radio(key="org_alert_kind").set_value("slack").run()
        at.text_input(key="org_alert_name").input("Ops")
        at.text_input(key="org_alert_target").input("ftp://nope")
        at.button(key="org_alert_add").click().run()
        assert "The webhook URL must start with" in texts(at)
        at.text_input(key="org_alert_target").input(hook.url("/slack"))
        at.button(key="org_alert_add").click().run()
        assert not at.exception
        at.radio(key="org_alert_kind").set_value("webhook").run()
        at.text_input(key="org_alert_name").input("Signed")
        at.text_input(key="org_alert_target").input(hook.url("/signed"))
        at.button(key="org_alert_add").click().run()
        assert not at.exception
        secret = at.code[0].value
        assert secret.startswith("whsec_")
        assert any("won't be shown again" in m.value for m in at.success)
        channels = at.dataframe[-1].value
        assert channels["Sends to"].tolist() == ["http://127.0.0.1:" + str(hook.port) + "/…"] * 2
        at.run()
        assert not [c for c in at.code if c.value.startswith("whsec_")]  # shown once

        with read_session() as s:
            signed_id = s.execute(
                select(AlertChannel.id).where(AlertChannel.name == "Signed")
            ).scalar_one()
        at.selectbox(key="org_alert_channel_pick").set_value(signed_id).run()
        at.button(key="org_alert_test").click().run()
        assert not at.exception
        [got] = hook.wait_for(1)
    assert got.path == "/signed"
    assert receiver_verifies(secret, got.headers["X-Kilo-Signature"], got.body)
    history = at.dataframe[-1].value
    assert history["Rule"].tolist() == ["Test alert"]
    assert history["Delivery"].tolist() == ["Signed: sent"]
    with read_session() as s:
        actions = s.execute(select(AuditEntry.action)).scalars().all()
    assert {"alerts.settings.change", "alerts.channel.create", "alerts.channel.test"} <= set(
        actions
    )


def test_a_member_sees_no_alert_configuration(demo_url):
    at = open_page("member", ORG)
    assert not at.exception
    assert "Alerts" not in [h.value for h in at.subheader]
    assert not {k for k in _keys(at) if k.startswith("org_alert")}
    account = open_page("member", ACCOUNT)
    assert not account.exception
    assert "Weekly summary" not in [h.value for h in account.subheader]


def test_an_admin_opts_in_to_the_weekly_summary(demo_url):
    at = open_page("admin", ACCOUNT)
    assert not at.exception
    at.toggle(key="account_weekly_summary").set_value(True).run()
    assert not at.exception
    with read_session() as s:
        admin = s.execute(select(Member).where(Member.username == "admin")).scalar_one()
        assert admin.weekly_summary
        assert alerts.get_weekly_summary(s, actor=members.actor_for(admin))
