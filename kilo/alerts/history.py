"""The alert history owners and admins see, and the test alert they send to a channel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from kilo import audit
from kilo.alerts.channels import KINDS, get_channel, shown_target
from kilo.alerts.evaluate import record_alert
from kilo.alerts.rules import Fired
from kilo.models import Alert, AlertChannel, AlertDelivery, utcnow
from kilo.permissions import Actor, ensure_allowed

RULE_LABELS = {
    "budget": "Budget",
    "daily_limit": "Daily limit",
    "balance": "Low balance",
    "runway": "Runway",
    "anomaly": "Spend anomaly",
    "test": "Test alert",
    "weekly_summary": "Weekly summary",
}


@dataclass(frozen=True)
class DeliveryView:
    channel: str  # the channel's name, or the summary's recipient
    kind: str
    status: str  # pending | sending | sent | failed
    attempts: int
    last_error: str
    next_attempt_at: datetime | None
    sent_at: datetime | None


@dataclass(frozen=True)
class AlertView:
    id: int
    created_at: datetime
    rule: str
    title: str
    message: str
    deliveries: list[DeliveryView]

    @property
    def delivery_summary(self) -> str:
        if not self.deliveries:
            return "no channel"
        return ", ".join(
            f"{d.channel}: {d.status}" + (f" ({d.attempts} attempts)" if d.attempts > 1 else "")
            for d in self.deliveries
        )


def list_alerts(session: Session, *, actor: Actor, limit: int = 100) -> list[AlertView]:
    """The organization's latest alerts, newest first, with each delivery's status."""
    ensure_allowed(actor, "alerts.manage")
    alerts = session.exec(
        select(Alert)
        .where(Alert.org_id == actor.org_id)
        .order_by(Alert.created_at.desc(), Alert.id.desc())
        .limit(max(1, min(limit, 1000)))
    ).all()
    if not alerts:
        return []
    rows = session.execute(
        select(AlertDelivery, AlertChannel.name)
        .outerjoin(AlertChannel, AlertChannel.id == AlertDelivery.channel_id)
        .where(AlertDelivery.alert_id.in_([a.id for a in alerts]))
        .order_by(AlertDelivery.id)
    ).all()
    by_alert: dict[int, list[DeliveryView]] = {}
    for d, channel_name in rows:
        pending = d.status in ("pending", "sending")
        by_alert.setdefault(d.alert_id, []).append(
            DeliveryView(
                channel=channel_name or shown_target(d.kind, d.target),
                kind=d.kind,
                status=d.status,
                attempts=d.attempts,
                last_error=d.last_error,
                next_attempt_at=d.next_attempt_at if pending else None,
                sent_at=d.sent_at,
            )
        )
    return [
        AlertView(a.id, a.created_at, a.rule, a.title, a.message, by_alert.get(a.id, []))
        for a in alerts
    ]


def create_test_alert(session: Session, *, actor: Actor, channel_id: int) -> int:
    """A test alert to one channel, recorded in the history and audited; its id. The caller
    delivers it after the commit (`deliver_due(alert_id=...)`)."""
    ensure_allowed(actor, "alerts.manage")
    channel = get_channel(session, actor=actor, channel_id=channel_id)
    now = utcnow()
    fired = Fired(
        rule="test",
        subject=f"channel:{channel.id}",
        threshold="-",
        period=now.isoformat(),
        title=f"Test alert from Kilo for Enterprise ({channel.name})",
        message=f"{actor.name} sent this test alert to the channel “{channel.name}”. Alerts "
        "for budgets, limits, the balance and unusual spend will arrive here.",
    )
    alert = record_alert(
        session,
        org_id=actor.org_id,
        fired=fired,
        now=now,
        recipients=[(channel.id, channel.kind, channel.target)],
    )
    audit.record(
        session,
        actor=actor,
        action="alerts.channel.test",
        target=channel.name,
        message=f"Sent a test alert to “{channel.name}” ({KINDS[channel.kind]})",
        details={"channel_id": channel.id, "alert_id": alert.id},
    )
    return alert.id
