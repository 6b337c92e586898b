"""AppTest helpers: open the app as a demo account (login form skipped) on a given page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sqlmodel import select
from streamlit.testing.v1 import AppTest

from kilo import sessions
from kilo.db import write_session
from kilo.models import Member
from ui import auth

APP = str(Path(__file__).resolve().parents[2] / "app.py")

DEMO_NAMES = {"owner": "Olivia Bennett", "admin": "Arjun Mehta", "member": "Mia Schneider"}


def start_session(username: str) -> str:
    """A live server-side session for `username` (as a password sign-in would start)."""
    with write_session() as session:
        member = session.exec(select(Member).where(Member.username == username)).one()
        token, _ = sessions.start(session, member_id=member.id)
    return token


def app_as(username: str, timeout: float = 60) -> AppTest:
    """The app with `username` (owner/admin/member of the demo org) already signed in."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.session_state[auth.SESSION_KEY] = start_session(username)
    return at


def open_page(username: str, page: str, timeout: float = 60) -> AppTest:
    """Signed in as `username`, on `page` (e.g. "pages/usage.py"), after the first run."""
    at = app_as(username, timeout)
    at.run()
    at.switch_page(page)
    at.run()
    return at


def texts(at: AppTest) -> str:
    """All markdown, captions, metrics and messages of the page, for `in` checks."""
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += (
        [e.value for e in at.error] + [e.value for e in at.warning] + [e.value for e in at.info]
    )
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += (
        [e.value for e in at.title] + [e.value for e in at.header] + [e.value for e in at.subheader]
    )
    return "\n".join(str(p) for p in parts)


def open_tab(at: AppTest, label: str, key: str = "usage_tab") -> AppTest:
    """Open the tab `label` of the page's `st.tabs(key=key, on_change="rerun")` and rerun.
    AppTest has no click on a tab: the tabs' state is set as the browser would send it.
    (Only the open tab of such tabs is built, so a test opens each one it checks.)"""
    at.session_state[key] = label
    at.run()
    return at


def each_tab(at: AppTest, key: str = "usage_tab") -> Iterator[str]:
    """Open every tab of the page's stateful `st.tabs` in turn, yielding each label once its
    run is done."""
    for label in [t.label for t in at.tabs]:
        open_tab(at, label, key)
        yield label
