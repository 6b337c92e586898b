"""Sign-in through the real form, server-side sessions, sign-out, throttling, stale roles."""

from sqlmodel import select
from streamlit.testing.v1 import AppTest

from kilo import members
from kilo.db import read_session, write_session
from kilo.models import AuditEntry, AuthSession
from kilo.permissions import system_actor
from tests.pages.helpers import APP, app_as, texts
from ui import auth


def login(at: AppTest, username: str, password: str) -> AppTest:
    at.run()
    next(t for t in at.text_input if t.label == "Username").input(username)
    next(t for t in at.text_input if t.label == "Password").input(password)
    next(b for b in at.button if b.label == "Sign in").click()
    at.run()
    return at


def _actions(since_id: int = 0) -> list[str]:
    with read_session() as s:
        return [
            e.action
            for e in s.exec(
                select(AuditEntry).where(AuditEntry.id > since_id).order_by(AuditEntry.id)
            ).all()
        ]


def _last_audit_id() -> int:
    with read_session() as s:
        return s.exec(select(AuditEntry.id).order_by(AuditEntry.id.desc())).first() or 0


def test_login_page_shows_demo_accounts(demo_url):
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert "kilo-demo" in texts(at)
    assert [b.label for b in at.button] == ["Sign in"]  # one word: "Sign in", not "Login"


def test_owner_signs_in_with_the_real_form_and_sees_all_tabs(demo_url):
    before = _last_audit_id()
    at = login(AppTest.from_file(APP, default_timeout=60), "owner", "kilo-demo")
    assert not at.exception
    assert at.session_state["actor"].role == "owner"
    assert "Acme Robotics" in [t.value for t in at.title]
    assert _actions(before) == ["organization.user.login"]
    with read_session() as s:
        live = s.exec(select(AuthSession).where(AuthSession.revoked_at.is_(None))).all()
    token = at.session_state[auth.SESSION_KEY]
    assert [x.token_hash for x in live] == [auth.sessions.token_hash(token)]
    assert token not in {x.token_hash for x in live}  # only the hash is stored


def test_reruns_are_not_sign_ins(demo_url):
    """A restored session (rerun, reload) writes no login audit entry."""
    at = login(AppTest.from_file(APP, default_timeout=60), "owner", "kilo-demo")
    before = _last_audit_id()
    for _ in range(3):
        at.run()
    assert "organization.user.login" not in _actions(before)


def test_wrong_password_is_refused_and_audited(demo_url):
    before = _last_audit_id()
    at = login(AppTest.from_file(APP, default_timeout=60), "owner", "wrong-password")
    assert auth.SESSION_KEY not in at.session_state
    assert "Username or password is incorrect." in [e.value for e in at.error]
    assert _actions(before) == ["organization.user.login_failed"]
    with read_session() as s:
        entry = s.exec(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert "wrong-password" not in entry.message + str(entry.details)


def test_sign_out_ends_the_session_on_the_server(demo_url):
    at = login(AppTest.from_file(APP, default_timeout=60), "owner", "kilo-demo")
    token = at.session_state[auth.SESSION_KEY]
    before = _last_audit_id()
    next(b for b in at.button if b.label == "Sign out").click()
    at.run()
    # (AppTest reruns the page script, not app.py: the page refuses; a server shows the form)
    assert "Your session has ended" in texts(at) and not at.dataframe
    assert _actions(before) == ["organization.user.logout"]
    with read_session() as s:
        assert auth.sessions.resolve(s, token) is None
    # the same token (a copied cookie) no longer signs anyone in
    again = AppTest.from_file(APP, default_timeout=60)
    again.session_state[auth.SESSION_KEY] = token
    again.run()
    assert [b.label for b in again.button] == ["Sign in"]


def test_password_guessing_is_throttled(demo_url):
    at = AppTest.from_file(APP, default_timeout=60)
    for _ in range(6):
        login(at, "owner", "not-the-password")
    login(at, "owner", "kilo-demo")  # the right one, but too late
    assert auth.SESSION_KEY not in at.session_state
    assert any("Too many failed sign-ins" in e.value for e in at.error)


def _removed_or_demoted(change) -> AppTest:  # noqa: ANN001
    at = app_as("admin")
    at.run()
    at.switch_page("pages/organization.py")
    at.run()
    assert not at.exception
    with write_session() as s:
        admin = members.get_member_by_username(s, "admin")
        change(s, admin.id, system_actor(admin.org_id))
    return at


def test_removed_admin_loses_access_on_the_next_run(demo_url):
    at = _removed_or_demoted(lambda s, mid, a: members.remove_member(s, actor=a, member_id=mid))
    at.run()
    assert "Your session has ended" in texts(at)
    at.switch_page("pages/audit_logs.py")
    at.run()
    assert not any(e.label == "Export" for e in at.button)
    assert "Your session has ended" in texts(at)


def test_demoted_admin_loses_admin_pages_and_actions(demo_url):
    at = _removed_or_demoted(
        lambda s, mid, a: members.change_role(s, actor=a, member_id=mid, role="member")
    )
    at.run()
    assert not any("Invite" in b.label for b in at.button)
    at.switch_page("pages/audit_logs.py")
    at.run()
    assert not at.dataframe
    assert "AuditEntry" not in texts(at)
