"""Server-side sessions, throttled sign-in, password rules, changes and reset links."""

from __future__ import annotations

from datetime import timedelta

import bcrypt
import pytest
from sqlmodel import select

from kilo import accounts, members, passwords, sessions
from kilo.db import read_session, write_session
from kilo.errors import Conflict, PermissionDenied, ValidationError
from kilo.models import AuditEntry, AuthSession, Member, SignInAttempt, utcnow
from tests.factories import PASSWORD, create_team


@pytest.fixture
def team(db_url):
    with write_session() as s:
        return create_team(s)


def _sign_in(username: str, password: str = PASSWORD, client: str = "") -> sessions.SignInResult:
    with write_session() as s:
        return sessions.sign_in(s, username=username, password=password, client=client)


def _resolve(token: str):  # noqa: ANN202
    with read_session() as s:
        return sessions.resolve(s, token)


def _actions() -> list[str]:
    with read_session() as s:
        return [e.action for e in s.exec(select(AuditEntry).order_by(AuditEntry.id)).all()]


def test_sign_in_starts_a_session_that_sign_out_ends(team):
    result = _sign_in(team["admin"].email)
    assert result.ok and result.actor.id == team["admin"].id
    assert _resolve(result.token)[0].role == "admin"
    with write_session() as s:
        assert sessions.sign_out(s, token=result.token).id == team["admin"].id
    assert _resolve(result.token) is None
    assert _actions()[-2:] == ["organization.user.login", "organization.user.logout"]


def test_username_is_case_insensitive_and_unknown_or_empty_input_is_refused(team):
    assert _sign_in(team["member"].email.upper()).ok
    assert not _sign_in("nobody@example.com").ok
    assert not _sign_in("", "").ok
    assert _sign_in(team["member"].email, "x" * 5000).message == (
        "Username or password is incorrect."
    )


def test_unknown_usernames_cost_one_bcrypt_check_like_known_ones(team, monkeypatch):
    calls = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda pw, h: calls.append(h) or real(pw, h))
    _sign_in("nobody@example.com", "whatever-password")
    _sign_in(team["owner"].email, "whatever-password")
    assert len(calls) == 2
    # the unknown username is checked against a hash of the real accounts' cost
    assert calls[0][:7] == bcrypt.gensalt()[:7]


def test_five_failures_lock_the_account_with_a_growing_delay(team, monkeypatch):
    # Every attempt at one instant, so the waits read exactly (on a slow machine a second
    # could pass between two attempts: "29 seconds").
    instant = utcnow()
    monkeypatch.setattr(sessions, "utcnow", lambda: instant)
    email = team["owner"].email
    for _ in range(sessions.MAX_FAILURES):
        assert _sign_in(email, "wrong-password").message == "Username or password is incorrect."
    refused = _sign_in(email)  # the right password, but throttled
    assert not refused.ok and "Too many failed sign-ins" in refused.message
    assert "30 seconds" in refused.message
    assert "Too many" in _sign_in(email).message
    assert "2 minutes" in _sign_in(email).message  # each refused try doubles the delay
    # unknown usernames are throttled alike (no hint that they do not exist)
    for _ in range(sessions.MAX_FAILURES):
        _sign_in("ghost@example.com", "wrong-password")
    assert "Too many" in _sign_in("ghost@example.com", "wrong-password").message
    # once the window has passed, the right password works again
    with write_session() as s:
        for attempt in s.exec(select(SignInAttempt)).all():
            attempt.at = attempt.at - timedelta(hours=1)
            s.add(attempt)
    assert _sign_in(email).ok
    failures = [a for a in _actions() if a == "organization.user.login_failed"]
    assert len(failures) == sessions.MAX_FAILURES + 3  # wrong ones and throttled ones


def test_one_client_address_guessing_many_usernames_is_throttled(team):
    for i in range(sessions.CLIENT_MAX_FAILURES):
        _sign_in(f"guess{i}@example.com", "wrong-password", client="203.0.113.9")
    assert "Too many" in _sign_in(team["member"].email, client="203.0.113.9").message
    assert _sign_in(team["member"].email, client="198.51.100.1").ok


def test_removal_role_change_and_expiry_end_sessions(team):
    admin, member = team["admin"], team["member"]
    a, m = _sign_in(admin.email), _sign_in(member.email)
    with write_session() as s:
        members.change_role(s, actor=team["owner"], member_id=admin.id, role="member")
    assert _resolve(a.token) is None
    again = _sign_in(admin.email)
    assert _resolve(again.token)[0].role == "member"  # the new role, read fresh
    with write_session() as s:
        members.remove_member(s, actor=team["owner"], member_id=member.id)
    assert _resolve(m.token) is None
    assert not _sign_in(member.email).ok
    with write_session() as s:
        row = s.exec(select(AuthSession).where(AuthSession.revoked_at.is_(None))).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        s.add(row)
    assert _resolve(again.token) is None


def test_change_password_keeps_this_session_and_ends_the_others(team):
    owner = team["owner"]
    here, there = _sign_in(owner.email), _sign_in(owner.email)
    with write_session() as s, pytest.raises(ValidationError, match="current password"):
        accounts.change_password(s, actor=owner, current="nope", new="a-much-better-one")
    with write_session() as s:
        ended = accounts.change_password(
            s, actor=owner, current=PASSWORD, new="a-much-better-one", keep_token=here.token
        )
    assert ended == 1
    assert _resolve(here.token) is not None and _resolve(there.token) is None
    assert not _sign_in(owner.email).ok and _sign_in(owner.email, "a-much-better-one").ok
    assert "organization.user.change_password" in _actions()


def test_sign_out_everywhere_ends_every_session(team):
    tokens = [_sign_in(team["member"].email).token for _ in range(3)]
    with write_session() as s:
        assert accounts.sign_out_everywhere(s, actor=team["member"]) == 3
    assert all(_resolve(t) is None for t in tokens)
    assert _actions()[-1] == "organization.user.sign_out_all"


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        (" leading-space-pass", "space"),
        ("trailing-space-pass ", "space"),
        ("short-pass", "at least 12"),
        ("x" * 73, "too long"),
        ("Password2026!", "too common"),
        ("qwertyuiopasdf", "too common"),
        ("aaaaaaaaaaaaaa", "too common"),
        ("123456789012", "too common"),
    ],
)
def test_weak_or_unusable_new_passwords_are_refused(password, reason):
    with pytest.raises(ValidationError, match=reason):
        passwords.check_new_password(password)


def test_e_mail_as_password_is_refused_and_a_good_phrase_accepted():
    with pytest.raises(ValidationError, match="too common"):
        passwords.check_new_password("jordan.smith2026", email="jordan.smith@example.com")
    assert passwords.check_new_password("tidal-orange-lantern") == "tidal-orange-lantern"


def test_reset_link_is_single_use_ends_sessions_and_is_audited(team):
    owner, admin, member = team["owner"], team["admin"], team["member"]
    live = _sign_in(member.email)
    with write_session() as s, pytest.raises(PermissionDenied):
        accounts.create_reset_link(s, actor=member, member_id=admin.id)
    with write_session() as s, pytest.raises(ValidationError, match="Only an owner"):
        accounts.create_reset_link(s, actor=admin, member_id=owner.id)
    with write_session() as s:
        _, first = accounts.create_reset_link(s, actor=admin, member_id=member.id)
    with write_session() as s:
        _, token = accounts.create_reset_link(s, actor=admin, member_id=member.id)
    with read_session() as s, pytest.raises(Conflict, match="newer"):
        accounts.find_reset(s, token=first)
    with write_session() as s, pytest.raises(ValidationError, match="at least 12"):
        accounts.reset_password(s, token=token, new_password="short")
    with write_session() as s:
        accounts.reset_password(s, token=token, new_password="a-fresh-long-password")
    assert _resolve(live.token) is None
    assert _sign_in(member.email, "a-fresh-long-password").ok
    with write_session() as s, pytest.raises(Conflict, match="already used"):
        accounts.reset_password(s, token=token, new_password="another-long-password")
    with read_session() as s:
        stored = s.exec(select(Member).where(Member.id == member.id)).one().password_hash
    assert token not in stored
    acts = _actions()
    assert acts.count("organization.member.password_reset_link") == 2
    assert "organization.user.password_reset" in acts


def test_expired_reset_link_is_refused(team):
    with write_session() as s:
        reset, token = accounts.create_reset_link(
            s, actor=team["owner"], member_id=team["member"].id
        )
        reset.expires_at = utcnow() - timedelta(minutes=1)
        s.add(reset)
    with write_session() as s, pytest.raises(Conflict, match="expired"):
        accounts.reset_password(s, token=token, new_password="a-fresh-long-password")
