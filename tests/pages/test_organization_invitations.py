"""Organization tab, invitations section, through AppTest with a real SMTP server: invitations
are e-mailed when mail is configured, resent or copied again as a new link, and revoking
asks for confirmation."""

from __future__ import annotations

import re

import pytest
from sqlmodel import col, select

from kilo import invitations
from kilo.db import read_session
from kilo.errors import Conflict
from kilo.models import AuditEntry, Invitation
from tests import smtp_server as smtp
from tests.pages.helpers import open_page, texts

smtp_server, no_mail = smtp.smtp_server, smtp.no_mail  # fixtures
PAGE = "pages/organization.py"
BASE = "https://kilo.example.com"


@pytest.fixture(autouse=True)
def public_url(monkeypatch):
    monkeypatch.setenv("KILO_PUBLIC_URL", BASE)


def invite(at, email: str):
    at.button(key="org_invite_open").click().run()
    at.text_input(key="org_invite_email").input(email)
    at.button(key="org_invite_submit").click().run()
    assert not at.exception
    return at


def shown_link(at) -> str:
    links = [c.value for c in at.code]
    assert len(links) == 1, links
    return links[0]


def token_of(link: str) -> str:
    assert link.startswith(f"{BASE}/accept_invite?token="), link
    return link.split("token=", 1)[1]


def pending(email: str) -> list[Invitation]:
    with read_session() as s:
        return [i for i in s.exec(select(Invitation).where(Invitation.email == email)).all()]


def page_messages(at) -> str:
    """The page's texts and messages as the reader sees them (Markdown escapes removed)."""
    shown = texts(at) + "\n".join(e.value for e in [*at.success, *at.warning])
    return re.sub(r"\\(.)", r"\1", shown)


def test_invite_with_mail_configured_emails_the_link(demo_url, smtp_server):
    at = invite(open_page("admin", PAGE), "new.person@example.com")
    assert "Invitation e-mailed to new.person@example.com" in page_messages(at)
    (msg,) = smtp_server.wait_for(1)
    assert msg["To"] == "new.person@example.com"
    assert "Arjun Mehta invited you to Acme Robotics" in msg["Subject"]
    link = smtp_server.link(msg)
    assert shown_link(at) == link  # the same link is shown once to the admin
    with read_session() as s:
        assert (
            invitations.find_invitation(s, token=token_of(link)).email == "new.person@example.com"
        )


def test_invite_without_mail_says_so_and_shows_the_link(demo_url, no_mail):
    at = open_page("admin", PAGE)
    assert "E-mail is not configured" in texts(at)
    at = invite(at, "new.person@example.com")
    assert "E-mail is not configured, so nothing was e-mailed" in page_messages(at)
    assert token_of(shown_link(at))
    assert at.button(key="org_invite_resend").disabled  # only "Copy link again" then


def test_failed_email_keeps_the_invitation_and_shows_the_link(demo_url, no_mail, monkeypatch):
    monkeypatch.setenv("KILO_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("KILO_SMTP_PORT", str(smtp.free_port()))  # nothing listens there
    monkeypatch.setenv("KILO_SMTP_FROM", "noreply@example.com")
    monkeypatch.setenv("KILO_SMTP_SECURITY", "none")
    at = invite(open_page("owner", PAGE), "new.person@example.com")
    warning = page_messages(at)
    assert "The invitation was created, but the e-mail to new.person@example.com could" in warning
    assert "Could not reach the mail server 127" in warning
    with read_session() as s:
        inv = invitations.find_invitation(s, token=token_of(shown_link(at)))
        assert inv.email == "new.person@example.com"


def test_resend_emails_a_new_link_and_revokes_the_old(demo_url, smtp_server):
    at = invite(open_page("admin", PAGE), "late@example.com")
    old_link = smtp_server.link(smtp_server.wait_for(1)[0])
    at.button(key="org_invite_done").click().run()
    at.button(key="org_invite_resend").click().run()
    assert not at.exception
    assert "A new invitation link was e-mailed to late@example.com" in page_messages(at)
    _, second = smtp_server.wait_for(2)
    new_link = smtp_server.link(second)
    assert new_link != old_link and shown_link(at) == new_link
    with read_session() as s:
        with pytest.raises(Conflict, match="revoked"):
            invitations.find_invitation(s, token=token_of(old_link))
        assert invitations.find_invitation(s, token=token_of(new_link)).email == "late@example.com"
        entry = s.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc())).first()
        assert entry.action == "organization.member.resend_invitation"
    assert len(at.dataframe[1].value) == 1  # still one pending invitation


def test_copy_link_again_is_a_new_link_not_emailed(demo_url, smtp_server):
    at = invite(open_page("owner", PAGE), "copy@example.com")
    old_link = shown_link(at)
    at.button(key="org_invite_done").click().run()
    at.button(key="org_invite_copy").click().run()
    assert not at.exception
    assert "the previous link no longer works" in page_messages(at).lower()
    new_link = shown_link(at)
    assert new_link != old_link
    assert len(smtp_server.wait_for(1)) == 1  # only the invitation itself was e-mailed
    with read_session() as s:
        with pytest.raises(Conflict, match="revoked"):
            invitations.find_invitation(s, token=token_of(old_link))
        assert invitations.find_invitation(s, token=token_of(new_link))


def test_revoking_asks_for_confirmation(demo_url, no_mail):
    at = invite(open_page("admin", PAGE), "gone@example.com")
    at.button(key="org_invite_done").click().run()
    at.button(key="org_invite_revoke").click().run()
    assert not at.exception
    assert "Revoke the invitation for" in texts(at)
    (inv,) = pending("gone@example.com")
    assert inv.revoked_at is None  # nothing happens before the confirmation
    at.button(key="org_invite_revoke_cancel").click().run()
    assert pending("gone@example.com")[0].revoked_at is None
    assert not any(b.key == "org_invite_revoke_confirm" for b in at.button)
    at.button(key="org_invite_revoke").click().run()
    at.button(key="org_invite_revoke_confirm").click().run()
    assert not at.exception
    assert pending("gone@example.com")[0].revoked_at is not None
    assert "No pending invitations." in texts(at)
