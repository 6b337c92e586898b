"""The Organization tab's Alerts section (owners and admins): the rules, the channels (add,
remove, send a test alert), the alert history with each delivery's status; and the Account
page's weekly summary opt-in. Everything goes through `kilo.alerts` (permission, audit)."""

from __future__ import annotations

import streamlit as st

import ui
from kilo import alerts, mail, money
from kilo.permissions import Actor, allowed

NEW_SECRET = "org_alert_new_secret"  # session state: a new webhook's secret, for one run
TARGET_LABELS = {
    "email": "E-mail address",
    "slack": "Incoming webhook URL",
    "webhook": "Webhook URL (receives signed JSON)",
}


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_settings(actor: Actor) -> alerts.RuleSettings:
    return ui.read(alerts.get_settings, actor=actor)


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_channels(actor: Actor) -> list[alerts.ChannelView]:
    return ui.read(alerts.list_channels, actor=actor)


@st.cache_data(ttl=ui.CACHE_TTL, show_spinner=False)
def load_history(actor: Actor) -> list[alerts.AlertView]:
    return ui.read(alerts.list_alerts, actor=actor, limit=100)


def section(actor: Actor) -> None:
    if not allowed(actor, "alerts.manage"):
        return
    with st.container(key="org_alerts"):
        _section(actor)


def _section(actor: Actor) -> None:
    st.subheader("Alerts")
    st.caption(
        "Alerts for budgets (each threshold once a month), members' daily limits, a low "
        "balance or runway, and unusual spend (at least 3× the median day of the previous 28 "
        "days, above a minimum), each sent once to every channel below, retried when a "
        "channel fails."
    )
    interval = alerts.background_interval()
    if interval:
        st.caption(f"This server checks the rules every {interval} seconds.")
    else:
        st.caption(
            ":material/schedule: This server process does not check the rules on its own "
            "(KILO_ALERTS_INTERVAL=0, or the dashboard was started without server.py): run "
            "`python -m kilo alerts run` from cron."
        )
    _rules(actor)
    _channels(actor)
    _history(actor)


def _rules(actor: Actor) -> None:
    rules = load_settings(actor)
    with st.expander("Rules", icon=":material/tune:"):
        with st.form("org_alert_rules"):
            thresholds = st.text_input(
                "Budget thresholds (% of each monthly budget)",
                value=", ".join(str(t) for t in rules.budget_thresholds),
                key="org_alert_thresholds",
            )
            runway = st.number_input(
                "Alert when credits last fewer than (days; 0 = off)",
                min_value=0,
                max_value=365,
                value=rules.runway_days,
                step=1,
                key="org_alert_runway",
            )
            anomaly = st.toggle(
                "Spend anomaly alerts", value=rules.anomaly_enabled, key="org_alert_anomaly"
            )
            minimum = st.text_input(
                "Anomaly minimum (USD a day)",
                value=money.usd(rules.anomaly_min_micros).lstrip("$").replace(",", ""),
                key="org_alert_min",
            )
            saved = st.form_submit_button("Save rules", type="primary")
        low = rules.low_balance_micros
        st.caption(
            f"Low-balance alert: below {ui.fmt_micros(low)}." if low else "Low-balance alert: off."
        )
        st.caption(
            "The amount is the low-balance alert owners set on the Invoices tab (the same "
            "setting as the warning every page shows)."
        )
    if saved:

        def save(s):  # noqa: ANN001, ANN202
            return alerts.update_settings(
                s,
                actor=actor,
                budget_thresholds=alerts.parse_thresholds(thresholds),
                runway_days=int(runway),
                anomaly_enabled=anomaly,
                anomaly_min_micros=money.parse_usd(minimum),
            )

        if ui.run_action(save, success="Alert rules saved"):
            st.rerun()


def _channels(actor: Actor) -> None:
    st.markdown("**Channels**")
    new = st.session_state.pop(NEW_SECRET, None)
    if new:
        st.success(
            f"Channel “{ui.md_escape(new['name'])}” added. **Copy its signing secret now: it "
            "won't be shown again.** Your receiver checks each request's X-Kilo-Signature "
            "with it (see the README's Alerts section).",
            icon=":material/key:",
        )
        st.code(new["secret"], language=None)
    channels = load_channels(actor)
    if channels:
        st.dataframe(
            [
                {
                    "Name": c.name,
                    "Kind": alerts.KINDS[c.kind],
                    "Sends to": c.shown_target,
                    "Added": ui.fmt_datetime(c.created_at),
                }
                for c in channels
            ],
            hide_index=True,
            width="stretch",
        )
        labels = {c.id: f"{c.name} ({alerts.KINDS[c.kind]})" for c in channels}
        pick, test_col, remove_col = st.columns([3, 1.2, 1], vertical_alignment="bottom")
        picked = pick.selectbox(
            "Channel",
            list(labels),
            format_func=labels.get,
            key="org_alert_channel_pick",
            index=None,
            placeholder="Choose a channel",
        )
        if test_col.button(
            "Send test alert", key="org_alert_test", disabled=picked is None, width="stretch"
        ):
            _send_test(actor, picked, labels[picked])
        if remove_col.button(
            "Remove", key="org_alert_remove", disabled=picked is None, width="stretch"
        ):
            if ui.run_action(
                lambda s: alerts.remove_channel(s, actor=actor, channel_id=picked) or True,
                success=f"Removed {labels[picked]}",
            ):
                st.rerun()
    else:
        st.caption("No channels: alerts are recorded in the history below only.")
    with st.expander("Add a channel", icon=":material/add_alert:"):
        kind = st.radio(
            "Kind",
            list(alerts.KINDS),
            format_func=alerts.KINDS.get,
            key="org_alert_kind",
            horizontal=True,
        )
        if kind == "email" and not mail.is_configured():
            st.caption(
                ":material/mail_off: E-mail is not configured on this server (KILO_SMTP_HOST, "
                "see the README's E-mail section): alerts to an e-mail channel fail until it is."
            )
        name = st.text_input("Name", key="org_alert_name", max_chars=60)
        target = st.text_input(TARGET_LABELS[kind], key="org_alert_target", max_chars=2000)
        if st.button("Add channel", type="primary", key="org_alert_add"):
            result = ui.run_action(
                lambda s: alerts.create_channel(
                    s, actor=actor, kind=kind, name=name, target=target
                ),
                success=f"Added the channel {name.strip()}",
            )
            if result:
                view, secret = result
                if secret:
                    st.session_state[NEW_SECRET] = {"name": view.name, "secret": secret}
                st.rerun()


def _send_test(actor: Actor, channel_id: int, label: str) -> None:
    alert_id = ui.run_action(
        lambda s: alerts.create_test_alert(s, actor=actor, channel_id=channel_id)
    )
    if alert_id is None:
        return
    counts = alerts.deliver_due(alert_id=alert_id)  # at once, not at the next run
    st.cache_data.clear()
    if counts["sent"]:
        ui.queue_toast(f"Test alert sent to {label}")
        st.rerun()
    st.warning(
        f"The test alert to {ui.md_escape(label)} was not delivered; see the history below "
        "for the error. It is retried automatically.",
        icon=":material/warning:",
    )


def _history(actor: Actor) -> None:
    st.markdown("**Alert history**")
    history = load_history(actor)
    if not history:
        st.caption("No alerts yet.")
        return
    st.dataframe(
        [
            {
                "Time": ui.fmt_datetime(a.created_at),
                "Rule": alerts.RULE_LABELS.get(a.rule, a.rule),
                "Alert": a.title,
                "Delivery": a.delivery_summary,
                "Last error": "; ".join(d.last_error for d in a.deliveries if d.last_error),
                "Next attempt": ui.fmt_datetime(
                    min(
                        (d.next_attempt_at for d in a.deliveries if d.next_attempt_at), default=None
                    )
                ),
            }
            for a in history
        ],
        hide_index=True,
        width="stretch",
    )
    st.caption("The latest 100 alerts, newest first; times in your time zone.")


def weekly_summary_toggle(actor: Actor) -> None:
    """The Account page's opt-in (owners and admins)."""
    if not allowed(actor, "alerts.manage"):
        return
    st.subheader("Weekly summary")
    current = ui.read(alerts.get_weekly_summary, actor=actor)
    if not mail.is_configured():
        st.caption(
            "E-mail is not configured on this server (KILO_SMTP_HOST), so the summary cannot "
            "be sent until it is."
        )
    wanted = st.toggle(
        "E-mail me a weekly summary (spend, top teams and models, budgets, anomalies)",
        value=current,
        key="account_weekly_summary",
    )
    if wanted != current:
        if ui.run_action(
            lambda s: alerts.set_weekly_summary(s, actor=actor, enabled=wanted),
            success="Weekly summary " + ("on" if wanted else "off"),
        ):
            st.rerun()
