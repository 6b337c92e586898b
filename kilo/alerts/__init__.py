"""Alerts: rules per organization, evaluated on a schedule, each alert recorded once and
delivered to the organization's channels (e-mail, Slack-compatible and signed webhooks) with
retries; the weekly summary. See the README's "Alerts" section."""

from kilo.alerts.channels import (
    KINDS,
    ChannelView,
    check_url,
    create_channel,
    list_channels,
    remove_channel,
)
from kilo.alerts.deliver import deliver_due
from kilo.alerts.evaluate import evaluate_org
from kilo.alerts.history import RULE_LABELS, AlertView, create_test_alert, list_alerts
from kilo.alerts.rules import Fired, due_alerts
from kilo.alerts.runner import background_interval, run_once, start_background, stop_background
from kilo.alerts.senders import SIGNATURE_HEADER, sign, verify
from kilo.alerts.settings import RuleSettings, get_settings, parse_thresholds, update_settings
from kilo.alerts.summary import get_weekly_summary, set_weekly_summary, summary_text

__all__ = [
    "KINDS",
    "RULE_LABELS",
    "SIGNATURE_HEADER",
    "AlertView",
    "ChannelView",
    "Fired",
    "RuleSettings",
    "background_interval",
    "check_url",
    "create_channel",
    "create_test_alert",
    "deliver_due",
    "due_alerts",
    "evaluate_org",
    "get_settings",
    "get_weekly_summary",
    "list_alerts",
    "list_channels",
    "parse_thresholds",
    "remove_channel",
    "run_once",
    "set_weekly_summary",
    "sign",
    "start_background",
    "stop_background",
    "summary_text",
    "update_settings",
    "verify",
]
