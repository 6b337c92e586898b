"""Delivery: send each due delivery once, retrying failures with backoff.

A runner claims a delivery before sending it: one UPDATE moves it from `pending` (or a
`sending` claim whose lease ran out: a runner that died mid-send) to `sending`, with the
lease's end in `next_attempt_at`, and only the runner whose UPDATE changed the row sends.
The send happens outside any transaction (a slow receiver holds no lock); the outcome is
written after it: `sent`, or `pending` again at the next backoff step, or `failed` after
MAX_ATTEMPTS. A runner that dies between sending and recording leaves the claim to expire,
and the delivery is sent again then: at least once in that one case, exactly once otherwise.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import select

from kilo.alerts.senders import DeliveryError, send
from kilo.db import read_session, write_session
from kilo.models import Alert, AlertChannel, AlertDelivery, utcnow

log = logging.getLogger("kilo.alerts")

BACKOFF_SECONDS = (60, 300, 900, 3600, 3 * 3600)  # after attempts 1, 2, 3, 4, 5
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
LEASE_SECONDS = 120
BATCH = 200


def _due(now: datetime):  # noqa: ANN202
    d = AlertDelivery
    return (d.next_attempt_at <= now) & or_(d.status == "pending", d.status == "sending")


def _claim(delivery_id: int, now: datetime, url: str | None) -> dict | None:
    """Claim one delivery for this runner; what to send, or None (another runner has it)."""
    d = AlertDelivery
    with write_session(url) as session:
        claimed = session.execute(
            update(d)
            .where(d.id == delivery_id, _due(now))
            .values(
                status="sending",
                attempts=d.attempts + 1,
                next_attempt_at=now + timedelta(seconds=LEASE_SECONDS),
            )
        ).rowcount
        if claimed != 1:
            return None
        delivery = session.get(AlertDelivery, delivery_id)
        alert = session.get(Alert, delivery.alert_id)
        secret, removed = "", False
        if delivery.channel_id is not None:
            channel = session.get(AlertChannel, delivery.channel_id)
            removed = channel is None or channel.removed_at is not None
            secret = channel.secret if channel else ""
        payload = {
            "id": alert.id,
            "org_id": alert.org_id,
            "rule": alert.rule,
            "subject": alert.subject,
            "threshold": alert.threshold,
            "period": alert.period,
            "title": alert.title,
            "message": alert.message,
            "details": alert.details,
            "created_at": alert.created_at.isoformat(),
            "text": alert.details.get("text") or alert.message,
        }
        return {
            "kind": delivery.kind,
            "target": delivery.target,
            "secret": secret,
            "removed": removed,
            "attempts": delivery.attempts,
            "payload": payload,
        }


def _record(delivery_id: int, *, error: str | None, attempts: int, now: datetime, url) -> str:  # noqa: ANN001
    if error is None:
        values = {"status": "sent", "sent_at": utcnow(), "last_error": ""}
    elif attempts >= MAX_ATTEMPTS or error == "the channel was removed":
        values = {"status": "failed", "last_error": error[:500]}
    else:
        retry = now + timedelta(seconds=BACKOFF_SECONDS[attempts - 1])
        values = {"status": "pending", "last_error": error[:500], "next_attempt_at": retry}
    with write_session(url) as session:
        session.execute(
            update(AlertDelivery).where(AlertDelivery.id == delivery_id).values(**values)
        )
    return values["status"]


def deliver_due(
    *, url: str | None = None, now: datetime | None = None, alert_id: int | None = None
) -> dict[str, int]:
    """Send every delivery due at `now` (only `alert_id`'s when given); counts by outcome."""
    now = now or utcnow()
    with read_session(url) as session:
        stmt = select(AlertDelivery.id).where(_due(now)).order_by(AlertDelivery.id).limit(BATCH)
        if alert_id is not None:
            stmt = stmt.where(AlertDelivery.alert_id == alert_id)
        ids = list(session.exec(stmt).all())
    counts = {"sent": 0, "pending": 0, "failed": 0}
    for delivery_id in ids:
        job = _claim(delivery_id, now, url)
        if job is None:
            continue
        error = None
        if job["removed"]:
            error = "the channel was removed"
        else:
            try:
                send(job["kind"], job["target"], job["secret"], job["payload"])
            except DeliveryError as exc:
                error = str(exc)
            except Exception:  # a bug: keep the runner going, retry later
                log.exception("delivery %s failed", delivery_id)
                error = "unexpected error (logged on the server)"
        if error:
            log.warning("alert delivery %s (%s) failed: %s", delivery_id, job["kind"], error)
        status = _record(delivery_id, error=error, attempts=job["attempts"], now=now, url=url)
        counts[status] += 1
    return counts
