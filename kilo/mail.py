"""Outgoing e-mail over SMTP: settings, one `send_mail`, and the messages the dashboard sends.

Settings come from the environment (`KILO_SMTP_HOST`, `KILO_SMTP_PORT`, `KILO_SMTP_USER`,
`KILO_SMTP_PASSWORD`, `KILO_SMTP_FROM`, `KILO_SMTP_SECURITY`), read at every send so that
tests and a changed configuration take effect at once. `.streamlit/secrets.toml` may hold
them in an `[smtp]` section instead: `export_to_environ(st.secrets)` copies that section into
the environment once at start-up (variables already set win), since `kilo` never imports
Streamlit.

Without `KILO_SMTP_HOST`, mail is not configured: `send_mail` raises `MailNotConfigured`
and callers fall back to showing links to copy. A failed delivery raises `MailError` with a
message meant for the user (the details go to the log).
"""

from __future__ import annotations

import html
import logging
import os
import re
import smtplib
import socket
import ssl
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any

from kilo.errors import KiloError, ValidationError
from kilo.secrets_env import export_section

log = logging.getLogger("kilo.mail")

SECURITY_MODES = ("starttls", "ssl", "none")
TIMEOUT_SECONDS = 15.0
MAX_SUBJECT = 250
MAX_BODY = 200_000  # characters, text and HTML each: these are short notices, not newsletters
PRODUCT = "Kilo for Enterprise"
# One plain address: what the dashboard accepts as a member e-mail (no display name, no list).
_ADDRESS_RE = re.compile(r"^[A-Za-z0-9._%+'-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
# [smtp] key in secrets.toml -> environment variable
SECRET_KEYS = {
    "host": "KILO_SMTP_HOST",
    "port": "KILO_SMTP_PORT",
    "user": "KILO_SMTP_USER",
    "password": "KILO_SMTP_PASSWORD",
    "from": "KILO_SMTP_FROM",
    "security": "KILO_SMTP_SECURITY",
}


class MailNotConfigured(KiloError):
    """No SMTP server is configured (or its settings are incomplete); nothing was sent."""


class MailError(KiloError):
    """The SMTP server could not be reached or refused the message; nothing was sent."""


@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int
    sender: str  # the From header, e.g. "Kilo <noreply@example.com>"
    security: str = "starttls"
    user: str | None = None
    password: str | None = None

    def __repr__(self) -> str:  # never print the password (logs, tracebacks)
        return (
            f"MailSettings(host={self.host!r}, port={self.port}, sender={self.sender!r}, "
            f"security={self.security!r}, user={self.user!r})"
        )


@dataclass(frozen=True)
class MailMessage:
    """A composed message: subject, plain text and HTML alternative."""

    subject: str
    text: str
    html: str


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def mail_settings() -> MailSettings | None:
    """SMTP settings from the environment; None when `KILO_SMTP_HOST` is not set.

    Raises `MailNotConfigured` naming the setting to fix when the host is set but the rest
    is incomplete or invalid.
    """
    host = _env("KILO_SMTP_HOST")
    if host is None:
        return None
    security = (_env("KILO_SMTP_SECURITY") or "starttls").lower()
    if security not in SECURITY_MODES:
        raise MailNotConfigured(
            f"KILO_SMTP_SECURITY is “{security}”; use one of {', '.join(SECURITY_MODES)}."
        )
    port_text = _env("KILO_SMTP_PORT") or ("465" if security == "ssl" else "587")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise MailNotConfigured(f"KILO_SMTP_PORT is “{port_text}”; use a port number (e.g. 587).")
    sender = _env("KILO_SMTP_FROM")
    if sender is None:
        raise MailNotConfigured(
            "KILO_SMTP_FROM is not set: the sender address, e.g. "
            "“Kilo <noreply@example.com>”, is required when KILO_SMTP_HOST is set."
        )
    _, sender_address = parseaddr(sender)
    if "\n" in sender or "\r" in sender or not _ADDRESS_RE.match(sender_address):
        raise MailNotConfigured(
            f"KILO_SMTP_FROM is “{sender}”; use an address such as noreply@example.com "
            "or “Kilo <noreply@example.com>”."
        )
    user, password = _env("KILO_SMTP_USER"), os.environ.get("KILO_SMTP_PASSWORD") or None
    if password and not user:
        raise MailNotConfigured("KILO_SMTP_PASSWORD is set but KILO_SMTP_USER is not.")
    return MailSettings(
        host=host,
        port=int(port_text),
        sender=sender,
        security=security,
        user=user,
        password=password,
    )


def is_configured() -> bool:
    """True when `KILO_SMTP_HOST` is set. Incomplete settings then fail at `send_mail`, with
    a message naming the setting, rather than silently falling back to copied links."""
    return _env("KILO_SMTP_HOST") is not None


def export_to_environ(secrets: Mapping[str, Any] | None) -> None:
    """Copy the `[smtp]` section of `secrets` (st.secrets as a dict) into the environment,
    once at start-up, so `kilo` services see it. Variables already set win."""
    export_section(secrets, "smtp", SECRET_KEYS)


# ---- sending ------------------------------------------------------------------------


def check_recipient(to: str) -> str:
    """One plain address (no display name, no list, no line breaks), or ValidationError."""
    address = (to or "").strip()
    if len(address) > 254 or not _ADDRESS_RE.match(address):
        raise ValidationError(f"“{to}” is not an e-mail address mail can be sent to.")
    return address


def _check_subject(subject: str) -> str:
    cleaned = " ".join((subject or "").split())
    if not cleaned:
        raise ValidationError("An e-mail needs a subject.")
    if len(cleaned) > MAX_SUBJECT or any(not ch.isprintable() for ch in cleaned):
        raise ValidationError(
            f"The e-mail subject must be at most {MAX_SUBJECT} printable characters."
        )
    return cleaned


def build_message(
    settings: MailSettings, to: str, subject: str, text: str, html_body: str | None = None
) -> EmailMessage:
    """The message as sent: plain text, plus an HTML alternative when given."""
    to, subject = check_recipient(to), _check_subject(subject)
    for what, body in (("text", text), ("HTML", html_body or "")):
        if len(body) > MAX_BODY:
            raise ValidationError(f"The e-mail {what} is too long (at most {MAX_BODY} characters).")
    if not (text or "").strip():
        raise ValidationError("An e-mail needs a plain-text body.")
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain=parseaddr(settings.sender)[1].rsplit("@", 1)[-1])
    msg["Auto-Submitted"] = "auto-generated"  # no vacation auto-replies to a no-reply sender
    msg.set_content(text)
    if html_body:
        msg.add_alternative(html_body, subtype="html")
    return msg


def send_mail(to: str, subject: str, text: str, html: str | None = None) -> None:
    """Send one message to one recipient, once (no retries), waiting at most TIMEOUT_SECONDS
    for the server. Raises `MailNotConfigured`, `ValidationError` (bad recipient, subject or
    body) or `MailError` (server unreachable or refusing)."""
    settings = mail_settings()
    if settings is None:
        raise MailNotConfigured(
            "E-mail is not configured: set KILO_SMTP_HOST and KILO_SMTP_FROM (or [smtp] in "
            ".streamlit/secrets.toml). Nothing was sent."
        )
    msg = build_message(settings, to, subject, text, html)
    where = f"{settings.host}:{settings.port}"
    try:
        _deliver(settings, msg)
    except smtplib.SMTPAuthenticationError as exc:
        log.warning("SMTP login to %s failed: %s", where, exc)
        raise MailError(
            f"The mail server {where} refused the user name or password "
            "(KILO_SMTP_USER / KILO_SMTP_PASSWORD). Nothing was sent."
        ) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        log.warning("SMTP server %s refused %s: %s", where, to, exc)
        raise MailError(f"The mail server {where} refused the recipient {to}.") from exc
    except smtplib.SMTPNotSupportedError as exc:
        log.warning("SMTP server %s: %s", where, exc)
        raise MailError(
            f"The mail server {where} does not offer {settings.security.upper()} "
            "(KILO_SMTP_SECURITY); set it to match the server. Nothing was sent."
        ) from exc
    except smtplib.SMTPResponseException as exc:
        log.warning("SMTP server %s refused the message: %s", where, exc)
        reason = exc.smtp_error.decode(errors="replace") if exc.smtp_error else ""
        raise MailError(
            f"The mail server {where} refused the message ({exc.smtp_code} {reason}). "
            "Nothing was sent."
        ) from exc
    except ssl.SSLError as exc:  # e.g. an untrusted or expired certificate
        log.warning("TLS with SMTP server %s failed: %r", where, exc)
        reason = getattr(exc, "verify_message", None) or exc.reason or str(exc)
        raise MailError(
            f"The secure connection to the mail server {where} failed ({reason}). Check "
            "KILO_SMTP_SECURITY and the server's certificate. Nothing was sent."
        ) from exc
    except (smtplib.SMTPException, OSError) as exc:  # refused, timed out, DNS...
        log.warning("SMTP server %s unreachable: %r", where, exc)
        reason = (
            "timed out" if isinstance(exc, socket.timeout) else (str(exc) or type(exc).__name__)
        )
        raise MailError(
            f"Could not reach the mail server {where} ({reason}). Check KILO_SMTP_HOST, "
            "KILO_SMTP_PORT and KILO_SMTP_SECURITY."
        ) from exc
    log.info("mail sent to %s: %s", to, msg["Subject"])


def _deliver(settings: MailSettings, msg: EmailMessage) -> None:
    context = ssl.create_default_context()
    if settings.security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=TIMEOUT_SECONDS, context=context
        )
    else:
        smtp = smtplib.SMTP(settings.host, settings.port, timeout=TIMEOUT_SECONDS)
    with smtp:
        if settings.security == "starttls":
            smtp.starttls(context=context)
        if settings.user:
            smtp.login(settings.user, settings.password or "")
        smtp.send_message(msg)


# ---- messages -----------------------------------------------------------------------


def _one_line(value: str) -> str:
    return " ".join(str(value).split())


def _page(paragraphs: list[str], link: str, button: str) -> str:
    """A minimal HTML e-mail: escaped paragraphs and one button-like link."""
    href = html.escape(link, quote=True)
    body = "".join(f'<p style="margin:0 0 16px">{p}</p>' for p in paragraphs)
    return (
        '<!doctype html><html><body style="font-family:Arial,Helvetica,sans-serif;'
        'font-size:15px;line-height:1.5;color:#1f2328">'
        f"{body}"
        f'<p style="margin:24px 0"><a href="{href}" style="background:#1f6feb;color:#ffffff;'
        f'padding:10px 18px;border-radius:6px;text-decoration:none">{html.escape(button)}</a></p>'
        f'<p style="margin:0 0 16px;font-size:13px;color:#59636e">If the button does not work, '
        f'open this link:<br><a href="{href}">{html.escape(link)}</a></p>'
        "</body></html>"
    )


def invitation_message(
    *, org_name: str, inviter: str | None, role: str, link: str, expires_at: datetime
) -> MailMessage:
    """The invitation e-mail: who invites, to which organization and role, the link and its
    expiry (UTC). User text is escaped in the HTML part."""
    org, who = _one_line(org_name), _one_line(inviter) if inviter else None
    expires = f"{expires_at:%Y-%m-%d %H:%M} UTC"
    opening = (
        f"{who} invited you to join {org} on {PRODUCT} as {role}."
        if who
        else f"You are invited to join {org} on {PRODUCT} as {role}."
    )
    subject = (f"{who} invited you to {org} on {PRODUCT}" if who else f"Your invitation to {org}")[
        :MAX_SUBJECT
    ]
    closing = (
        f"The link works once and expires on {expires}. If you did not expect this "
        "invitation, ignore this e-mail."
    )
    text = (
        f"Hello,\n\n{opening}\n\nOpen this link to choose your name and password:\n{link}\n\n"
        f"{closing}\n"
    )
    html_body = _page(
        [
            "Hello,",
            html.escape(opening),
            "Open the link below to choose your name and password.",
            html.escape(closing),
        ],
        link,
        "Accept the invitation",
    )
    return MailMessage(subject=subject, text=text, html=html_body)


def reset_message(*, org_name: str, issuer: str, link: str, expires_at: datetime) -> MailMessage:
    """The password-reset e-mail: who issued the link, for which organization, its expiry."""
    org, who = _one_line(org_name), _one_line(issuer)
    expires = f"{expires_at:%Y-%m-%d %H:%M} UTC"
    opening = f"{who} sent you a link to choose a new password for {org} on {PRODUCT}."
    closing = (
        f"The link works once and expires on {expires}. Choosing a new password signs you out "
        "everywhere. If you did not ask for this, tell your administrator."
    )
    text = f"Hello,\n\n{opening}\n\nOpen this link to choose it:\n{link}\n\n{closing}\n"
    html_body = _page(
        ["Hello,", html.escape(opening), "Open the link below to choose it.", html.escape(closing)],
        link,
        "Choose a new password",
    )
    return MailMessage(
        subject=f"Reset your {PRODUCT} password ({org})"[:MAX_SUBJECT], text=text, html=html_body
    )


def check_message() -> MailMessage:
    """A short message to check the configuration (`python -m kilo mail-test`)."""
    text = f"This is a test message from {PRODUCT}. Mail is configured correctly.\n"
    return MailMessage(
        subject=f"{PRODUCT}: test message",
        text=text,
        html=f"<!doctype html><html><body><p>{html.escape(text.strip())}</p></body></html>",
    )


def load_secrets_file(path: Path | None = None) -> None:
    """For commands (no Streamlit): export `[smtp]` of .streamlit/secrets.toml, if present."""
    path = path or Path(__file__).resolve().parent.parent / ".streamlit" / "secrets.toml"
    try:
        with path.open("rb") as fh:
            export_to_environ(tomllib.load(fh))
    except FileNotFoundError:
        return
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MailNotConfigured(f"{path} could not be read: {exc}") from exc
