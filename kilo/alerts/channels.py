"""Where an organization's alerts go, configured by owners and admins (`alerts.manage`),
every change audited in the same transaction: e-mail addresses, Slack-compatible incoming
webhooks and signed JSON webhooks (a per-channel secret, shown once when it is created).

A webhook URL is http or https, at most 2,000 characters, with a host and no user name or
password in it. Lists and audit entries show a webhook as its scheme and host only: a Slack
incoming-webhook URL is itself a credential.
"""

from __future__ import annotations

import secrets as secrets_module
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlmodel import Session, select

from kilo import audit, mail
from kilo.db import lock_organization
from kilo.errors import NotFound, ValidationError
from kilo.models import AlertChannel, utcnow
from kilo.permissions import Actor, ensure_allowed
from kilo.validation import check_printable

KINDS = {
    "email": "E-mail",
    "slack": "Slack-compatible webhook",
    "webhook": "Signed JSON webhook",
}
MAX_CHANNELS = 20
MAX_URL = 2000
MAX_NAME = 60
SECRET_PREFIX = "whsec_"


@dataclass(frozen=True)
class ChannelView:
    id: int
    kind: str
    name: str
    shown_target: str  # the address, or a webhook's scheme and host
    created_at: datetime


def check_url(url: str) -> str:
    """A webhook URL: http(s), a host, no credentials, no spaces, at most MAX_URL long."""
    value = (url or "").strip()
    if not value:
        raise ValidationError("Give the webhook's URL.")
    if len(value) > MAX_URL:
        raise ValidationError(f"The webhook URL can be at most {MAX_URL} characters.")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValidationError("The webhook URL cannot contain spaces or control characters.")
    try:
        parts = urlsplit(value)
        port = parts.port  # raises on a bad port
    except ValueError:
        raise ValidationError("That is not a URL; it starts with https://.") from None
    del port
    if parts.scheme not in ("http", "https"):
        raise ValidationError("The webhook URL must start with https:// (or http://).")
    if not parts.hostname:
        raise ValidationError("The webhook URL needs a host, e.g. https://hooks.example.com/…")
    if parts.username is not None or parts.password is not None:
        raise ValidationError("Put no user name or password in the webhook URL.")
    return value


def shown_target(kind: str, target: str) -> str:
    if kind == "email":
        return target
    parts = urlsplit(target)
    return f"{parts.scheme}://{parts.netloc}/…"


def _view(c: AlertChannel) -> ChannelView:
    return ChannelView(c.id, c.kind, c.name, shown_target(c.kind, c.target), c.created_at)


def active_channels(session: Session, org_id: int) -> list[AlertChannel]:
    return list(
        session.exec(
            select(AlertChannel)
            .where(AlertChannel.org_id == org_id, AlertChannel.removed_at.is_(None))
            .order_by(AlertChannel.id)
        ).all()
    )


def list_channels(session: Session, *, actor: Actor) -> list[ChannelView]:
    ensure_allowed(actor, "alerts.manage")
    return [_view(c) for c in active_channels(session, actor.org_id)]


def create_channel(
    session: Session, *, actor: Actor, kind: str, name: str, target: str
) -> tuple[ChannelView, str | None]:
    """Add a channel; returns it and, for a signed webhook, its secret (shown once)."""
    ensure_allowed(actor, "alerts.manage")
    if kind not in KINDS:
        raise ValidationError(f"Unknown channel kind “{kind}”; use {', '.join(KINDS)}.")
    name = check_printable((name or "").strip(), "The channel's name")
    if not 1 <= len(name) <= MAX_NAME:
        raise ValidationError(f"The channel's name is 1–{MAX_NAME} characters.")
    target = mail.check_recipient(target) if kind == "email" else check_url(target)
    lock_organization(session, actor.org_id)  # the count below, then the insert
    if len(active_channels(session, actor.org_id)) >= MAX_CHANNELS:
        raise ValidationError(f"At most {MAX_CHANNELS} channels; remove one first.")
    secret = SECRET_PREFIX + secrets_module.token_urlsafe(32) if kind == "webhook" else ""
    channel = AlertChannel(org_id=actor.org_id, kind=kind, name=name, target=target, secret=secret)
    session.add(channel)
    session.flush()
    shown = shown_target(kind, target)
    audit.record(
        session,
        actor=actor,
        action="alerts.channel.create",
        target=name,
        message=f"Added the alert channel “{name}” ({KINDS[kind]}, {shown})",
        details={"channel_id": channel.id, "kind": kind, "target": shown},
    )
    return _view(channel), secret or None


def get_channel(session: Session, *, actor: Actor, channel_id: int) -> AlertChannel:
    channel = session.get(AlertChannel, channel_id)
    if channel is None or channel.org_id != actor.org_id or channel.removed_at is not None:
        raise NotFound("That alert channel no longer exists; refresh the page.")
    return channel


def remove_channel(session: Session, *, actor: Actor, channel_id: int) -> None:
    """Remove a channel: nothing more goes to it (deliveries still due fail as removed)."""
    ensure_allowed(actor, "alerts.manage")
    channel = get_channel(session, actor=actor, channel_id=channel_id)
    channel.removed_at = utcnow()
    channel.secret = ""  # no longer needed to sign anything
    session.add(channel)
    audit.record(
        session,
        actor=actor,
        action="alerts.channel.remove",
        target=channel.name,
        message=f"Removed the alert channel “{channel.name}” ({KINDS[channel.kind]})",
        details={"channel_id": channel.id, "kind": channel.kind},
    )
