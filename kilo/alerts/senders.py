"""Sending one alert to one channel: e-mail (kilo.mail), a Slack-compatible incoming webhook
(POST {"text": ...}) or a generic JSON webhook signed with HMAC-SHA256.

The signed webhook's header is `X-Kilo-Signature: t=<unix seconds>,v1=<hex>` where `<hex>`
is HMAC-SHA256(key = the channel's secret, message = "<t>." + the raw request body). A
receiver recomputes it over the body bytes it received, compares with
`hmac.compare_digest`, and refuses a `t` more than 5 minutes from its clock (`verify` does
exactly that). Errors never carry a webhook URL or a secret (a Slack URL is itself a
credential), so they can be stored and logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from typing import Any

from kilo import mail
from kilo.errors import KiloError

SIGNATURE_HEADER = "X-Kilo-Signature"
TOLERANCE_SECONDS = 300
TIMEOUT_SECONDS = 10.0


class DeliveryError(Exception):
    """A channel did not take the alert; the message is safe to store and show."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Kilo-Signature` value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: float | None = None) -> bool:
    """What a receiver does: the header's HMAC matches the body and `t` is recent."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        return None  # a redirect is an answer we do not follow: the POST is not re-sent


_OPENER = urllib.request.build_opener(_NoRedirect)


def post_json(url: str, body: bytes, headers: dict[str, str] | None = None) -> None:
    """POST `body` as JSON; any 2xx answer is delivered, anything else a DeliveryError."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "Kilo-Alerts/1"}
        | (headers or {}),
    )
    try:
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"the receiver answered HTTP {exc.code}") from None
    except TimeoutError:
        raise DeliveryError("the receiver did not answer within 10 s") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"could not reach the receiver ({type(reason).__name__})") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"the receiver answered HTTP {status}")


def slack_escape(text: str) -> str:
    """Slack's three control characters escaped, so names in a message (a member called
    `<https://x|click>`) show as written rather than as links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def send(kind: str, target: str, secret: str, payload: dict[str, Any]) -> None:
    """Deliver `payload` (title, message and the alert's fields) through one channel."""
    if kind == "email":
        try:
            mail.send_mail(target, payload["title"], payload["text"])
        except KiloError as exc:
            raise DeliveryError(str(exc)[:400]) from None
    elif kind == "slack":
        text = f"*{slack_escape(payload['title'])}*\n{slack_escape(payload['message'])}"
        post_json(target, json.dumps({"text": text}).encode())
    elif kind == "webhook":
        body = webhook_body({k: v for k, v in payload.items() if k != "text"})
        post_json(target, body, {SIGNATURE_HEADER: sign(secret, int(time.time()), body)})
    else:
        raise DeliveryError(f"unknown channel kind {kind}")
