"""Evaluation: record each alert the rules call for once, with one delivery per channel.

The once-only step is the insert of the alert's key, unique per organization
(`uq_alert_org_key`), with ON CONFLICT DO NOTHING: of two runners evaluating at the same
moment (the server's background task and `python -m kilo alerts run` from cron, or two
servers) exactly one inserts it and creates its deliveries, in the same transaction; the
other inserts nothing. On PostgreSQL the second insert waits for the first transaction and
then skips; on SQLite the write transaction (BEGIN IMMEDIATE) lets one writer in at a time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from kilo.alerts.channels import active_channels
from kilo.alerts.rules import Fired, due_alerts
from kilo.alerts.settings import settings_for
from kilo.db import read_session, write_session
from kilo.models import Alert, AlertDelivery, Organization, utcnow


def record_alert(
    session: Session,
    *,
    org_id: int,
    fired: Fired,
    now: datetime,
    recipients: list[tuple[int | None, str, str]],
) -> Alert | None:
    """Insert the alert unless its key fired before; with it, a pending delivery to each
    recipient (channel id or None, kind, target). None when it had already fired."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(Alert)
        .values(
            org_id=org_id,
            key=fired.key[:300],
            rule=fired.rule,
            subject=fired.subject[:100],
            threshold=fired.threshold[:40],
            period=fired.period[:40],
            title=fired.title[:250],
            message=fired.message,
            details=fired.details,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["org_id", "key"])
        .returning(Alert.id)
    )
    alert_id = session.execute(stmt).scalar()
    if alert_id is None:
        return None
    for channel_id, kind, target in recipients:
        session.add(
            AlertDelivery(
                alert_id=alert_id,
                channel_id=channel_id,
                kind=kind,
                target=target,
                next_attempt_at=now,
            )
        )
    session.flush()
    return session.get(Alert, alert_id)


def evaluate_org(session: Session, *, org_id: int, now: datetime) -> list[Alert]:
    """Record the organization's new alerts (in the caller's transaction); the new ones."""
    rules = settings_for(session, org_id)
    recipients = [(c.id, c.kind, c.target) for c in active_channels(session, org_id)]
    new = []
    for fired in due_alerts(session, org_id=org_id, rules=rules, today=now.date()):
        alert = record_alert(session, org_id=org_id, fired=fired, now=now, recipients=recipients)
        if alert is not None:
            new.append(alert)
    return new


def evaluate_all(*, url: str | None = None, now: datetime | None = None) -> int:
    """Evaluate every organization, each in its own transaction; the number of new alerts."""
    now = now or utcnow()
    with read_session(url) as session:
        org_ids = list(session.exec(select(Organization.id).order_by(Organization.id)).all())
    count = 0
    for org_id in org_ids:
        with write_session(url) as session:
            count += len(evaluate_org(session, org_id=org_id, now=now))
    return count
