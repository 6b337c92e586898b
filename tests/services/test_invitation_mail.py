"""Invitations by e-mail, against a real SMTP server: the link in the received message is the
one that accepts the invitation; resending revokes the old link; permissions and audit."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import select

from kilo import audit, invitations, mail, members
from kilo.errors import Conflict, NotFound, PermissionDenied, ValidationError
from kilo.models import AuditEntry, Invitation, Organization, utcnow
from tests import smtp_server as smtp
from tests.factories import create_member, create_team

smtp_server, no_mail = smtp.smtp_server, smtp.no_mail  # fixtures
BASE = "https://kilo.example.com"


@pytest.fixture
def team(session):
    team = create_team(session, name="Acme <Robotics> & Co")
    session.commit()
    return team


def token_of(link: str) -> str:
    assert link.startswith(f"{BASE}/accept_invite?token="), link
    return parse_qs(urlsplit(link).query)["token"][0]


def invite_and_email(session, actor, email, role="member"):
    inv, token = invitations.invite_member(session, actor=actor, email=email, role=role)
    session.commit()  # the e-mail goes out after the invitation is stored
    invitations.email_invitation(
        session, actor=actor, invitation_id=inv.id, token=token, base_url=BASE + "/"
    )
    return inv, token


def last_entry(session, org_id) -> AuditEntry:
    return session.exec(
        select(AuditEntry).where(AuditEntry.org_id == org_id).order_by(AuditEntry.id.desc())
    ).first()


def test_invitation_email_link_accepts_the_invitation(session, team, smtp_server):
    admin = team["admin"]
    inv, _ = invite_and_email(session, admin, "New.Person@Example.com", role="admin")
    (msg,) = smtp_server.wait_for(1)
    assert msg["To"] == "new.person@example.com"
    assert (
        msg["Subject"] == f"{admin.name} invited you to Acme <Robotics> & Co on Kilo for Enterprise"
    )
    text, html = smtp_server.text(msg), smtp_server.html(msg)
    assert f"{admin.name} invited you to join Acme <Robotics> & Co" in text and "as admin" in text
    assert f"{inv.expires_at:%Y-%m-%d %H:%M} UTC" in text
    assert "Acme &lt;Robotics&gt; &amp; Co" in html and "<Robotics>" not in html
    link = smtp_server.link(msg)
    assert f'href="{link}"' in html
    member = invitations.accept_invitation(
        session, token=token_of(link), name="New Person", password="long-enough-1"
    )
    session.commit()
    assert (member.email, member.role) == ("new.person@example.com", "admin")
    with pytest.raises(Conflict, match="already used"):
        invitations.find_invitation(session, token=token_of(link))


def test_not_configured_keeps_the_invitation(session, team, no_mail):
    inv, token = invitations.invite_member(session, actor=team["owner"], email="x@example.com")
    session.commit()
    with pytest.raises(mail.MailNotConfigured, match="not configured"):
        invitations.email_invitation(
            session, actor=team["owner"], invitation_id=inv.id, token=token, base_url=BASE
        )
    assert invitations.find_invitation(session, token=token).id == inv.id


def test_email_invitation_checks_permission_token_and_state(session, team, smtp_server):
    owner, member = team["owner"], team["member"]
    inv, token = invitations.invite_member(session, actor=owner, email="x@example.com")
    session.commit()
    kwargs = {"invitation_id": inv.id, "base_url": BASE}
    with pytest.raises(PermissionDenied):
        invitations.email_invitation(session, actor=member, token=token, **kwargs)
    with pytest.raises(NotFound):  # a token of another invitation, or none
        invitations.email_invitation(session, actor=owner, token="forged", **kwargs)
    other = create_team(session)
    session.commit()
    with pytest.raises(NotFound):  # another organization's admin
        invitations.email_invitation(session, actor=other["owner"], token=token, **kwargs)
    with pytest.raises(ValidationError, match="KILO_PUBLIC_URL"):
        invitations.email_invitation(
            session, actor=owner, token=token, **kwargs | {"base_url": "x"}
        )
    invitations.revoke_invitation(session, actor=owner, invitation_id=inv.id)
    session.commit()
    with pytest.raises(Conflict, match="revoked"):
        invitations.email_invitation(session, actor=owner, token=token, **kwargs)
    assert smtp_server.messages == []


def test_resend_revokes_the_old_link_and_emails_a_new_one(session, team, smtp_server):
    owner, admin = team["owner"], team["admin"]
    old, old_token = invite_and_email(session, owner, "late@example.com", role="admin")
    old_link = smtp_server.link(smtp_server.wait_for(1)[0])
    seats = members.seats_in_use(session, org_id=owner.org_id)
    old.expires_at = utcnow() + timedelta(hours=1)  # almost expired: the new one gets 7 days
    session.add(old)
    session.commit()

    new, new_token = invitations.resend_invitation(session, actor=admin, invitation_id=old.id)
    session.commit()
    invitations.email_invitation(
        session, actor=admin, invitation_id=new.id, token=new_token, base_url=BASE
    )
    assert (new.email, new.role, new.invited_by_id) == ("late@example.com", "admin", admin.id)
    assert new.id != old.id and new_token != old_token
    assert new.expires_at > utcnow() + invitations.INVITATION_TTL - timedelta(minutes=1)
    assert members.seats_in_use(session, org_id=owner.org_id) == seats  # same seat
    assert [i.id for i in invitations.list_invitations(session, actor=owner)] == [new.id]

    entry = last_entry(session, owner.org_id)
    assert entry.action == "organization.member.resend_invitation"
    assert (entry.actor_id, entry.target) == (admin.id, "late@example.com")
    assert entry.details == {
        "invitation_id": new.id,
        "previous_invitation_id": old.id,
        "email": "late@example.com",
        "role": "admin",
    }
    assert "previous link was revoked" in entry.message
    assert audit.verify_chain(session, org_id=owner.org_id).ok

    _, second = smtp_server.wait_for(2)
    new_link = smtp_server.link(second)
    assert token_of(new_link) == new_token and new_link != old_link
    assert admin.name in second["Subject"]
    with pytest.raises(Conflict, match="revoked"):  # the old e-mail's link is refused
        invitations.accept_invitation(
            session, token=token_of(old_link), name="Late", password="long-enough-1"
        )
    member = invitations.accept_invitation(
        session, token=token_of(new_link), name="Late Comer", password="long-enough-1"
    )
    assert member.role == "admin"


def test_resend_refusals(session, team, no_mail):
    owner, admin, member = team["owner"], team["admin"], team["member"]
    inv, _ = invitations.invite_member(session, actor=owner, email="x@example.com")
    boss, _ = invitations.invite_member(
        session, actor=owner, email="boss@example.com", role="owner"
    )
    session.commit()
    with pytest.raises(PermissionDenied, match="cannot manage members"):
        invitations.resend_invitation(session, actor=member, invitation_id=inv.id)
    with pytest.raises(ValidationError, match="Only an owner"):
        invitations.resend_invitation(session, actor=admin, invitation_id=boss.id)
    other = create_team(session)
    with pytest.raises(NotFound):
        invitations.resend_invitation(session, actor=other["owner"], invitation_id=inv.id)
    with pytest.raises(NotFound):
        invitations.resend_invitation(session, actor=owner, invitation_id=10_000)
    session.rollback()

    invitations.resend_invitation(session, actor=owner, invitation_id=inv.id)
    session.commit()
    with pytest.raises(Conflict, match="already used or revoked"):  # resent once already
        invitations.resend_invitation(session, actor=owner, invitation_id=inv.id)

    late, _ = invitations.invite_member(session, actor=owner, email="late@example.com")
    late.expires_at = utcnow() - timedelta(seconds=1)
    session.add(late)
    session.commit()
    with pytest.raises(Conflict, match="expired; invite them again"):
        invitations.resend_invitation(session, actor=owner, invitation_id=late.id)

    accepted, token = invitations.invite_member(session, actor=owner, email="in@example.com")
    invitations.accept_invitation(session, token=token, name="In", password="long-enough-1")
    session.commit()
    with pytest.raises(Conflict, match="already used or revoked"):
        invitations.resend_invitation(session, actor=owner, invitation_id=accepted.id)
    session.rollback()
    # Refusals changed nothing: no invitation was added, no entry written.
    pending = {i.email for i in invitations.list_invitations(session, actor=owner)}
    assert pending == {"x@example.com", "boss@example.com"}
    actions = session.exec(
        select(AuditEntry.action).where(
            AuditEntry.action == "organization.member.resend_invitation"
        )
    ).all()
    assert len(actions) == 1


def test_owner_resends_an_owner_invitation(session, team, no_mail):
    owner = team["owner"]
    boss, _ = invitations.invite_member(
        session, actor=owner, email="boss@example.com", role="owner"
    )
    new, token = invitations.resend_invitation(session, actor=owner, invitation_id=boss.id)
    assert new.role == "owner" and invitations.find_invitation(session, token=token).id == new.id
    assert session.get(Invitation, boss.id).revoked_at is not None


def test_removed_member_invited_again_by_mail(session, team, smtp_server):
    """A removed member's e-mail can be invited; the mailed link brings the same row back."""
    owner = team["owner"]
    org = session.get(Organization, owner.org_id)
    gone = create_member(session, org, email="back@example.com")
    members.remove_member(session, actor=owner, member_id=gone.id)
    session.commit()
    invite_and_email(session, owner, "back@example.com")
    link = smtp_server.link(smtp_server.wait_for(1)[0])
    back = invitations.accept_invitation(
        session, token=token_of(link), name="Back Again", password="long-enough-1"
    )
    assert back.id == gone.id and back.removed_at is None
