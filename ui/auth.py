"""Sign-in with streamlit-authenticator, credentials from the members table.

The cookie key comes from `.streamlit/secrets.toml` ([auth] cookie_key) or the
KILO_COOKIE_KEY environment variable; when neither is set a random key is generated
once and kept in data/.cookie_key. The example file's placeholder is refused.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import streamlit as st
import streamlit_authenticator as stauth

from kilo import demo, members
from kilo.db import ROOT, database_url, migrate, read_session, write_session
from kilo.permissions import Actor

PLACEHOLDER_KEY = "replace-me-with-a-long-random-string"
KEY_FILE = ROOT / "data" / ".cookie_key"
COOKIE_NAME = "kilo_dashboard_auth"


class InsecureKeyError(RuntimeError):
    pass


def _secret(section: str, key: str) -> str | None:
    try:
        return st.secrets.get(section, {}).get(key)
    except Exception:  # noqa: BLE001  (no secrets.toml at all)
        return None


def secrets_mapping() -> dict:
    """st.secrets as a plain dict ({} when there is no secrets.toml)."""
    try:
        return st.secrets.to_dict()
    except Exception:  # noqa: BLE001
        return {}


def cookie_key(key_file: Path = KEY_FILE) -> str:
    key = _secret("auth", "cookie_key") or os.environ.get("KILO_COOKIE_KEY")
    if key:
        if key.strip() == PLACEHOLDER_KEY or len(key.strip()) < 16:
            raise InsecureKeyError(
                "The cookie key is still the example placeholder (or shorter than 16 "
                "characters). Set [auth] cookie_key in .streamlit/secrets.toml or KILO_COOKIE_KEY "
                'to a long random string, e.g. the output of: python -c "import secrets; '
                'print(secrets.token_urlsafe(32))"'
            )
        return key
    if key_file.exists():
        return key_file.read_text().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def session_days() -> float:
    return float(_secret("auth", "session_days") or os.environ.get("KILO_SESSION_DAYS") or 1)


@st.cache_resource(show_spinner="Preparing the database…")
def _prepare(url: str) -> None:
    migrate(url)
    with write_session(url) as session:
        # Only an empty database (no organization at all) gets the demo, and only while
        # the demo is on (KILO_DEMO / [app] demo in secrets).
        demo.seed_if_empty(session, secrets_mapping())


def prepare_database() -> None:
    """Migrate at start-up; an empty database gets the demo organization."""
    _prepare(database_url())


@st.cache_data(ttl=30, show_spinner=False)
def _credentials(url: str) -> dict:
    with read_session(url) as session:
        return members.login_credentials(session)


@st.cache_data(ttl=30, show_spinner=False)
def _is_demo(url: str) -> bool:
    from kilo.models import Organization

    with read_session(url) as session:
        from sqlmodel import select

        return any(o.is_demo for o in session.exec(select(Organization)).all())


def is_demo_database() -> bool:
    return _is_demo(database_url())


def authenticator() -> stauth.Authenticate:
    return stauth.Authenticate(
        _credentials(database_url()), COOKIE_NAME, cookie_key(), session_days(), auto_hash=False
    )


def resolve_actor() -> Actor | None:
    """The signed-in member as an Actor; None if the account no longer exists."""
    username = st.session_state.get("username")
    actor = st.session_state.get("actor")
    if actor is not None and st.session_state.get("actor_username") == username:
        return actor
    with read_session() as session:
        member = members.get_member_by_username(session, username or "")
        actor = members.actor_for(member) if member else None
    if actor is None:
        return None
    with write_session() as session:
        members.record_login(session, actor=actor)
    st.session_state["actor"] = actor
    st.session_state["actor_username"] = username
    return actor


def sign_out(auth: stauth.Authenticate) -> None:
    actor = st.session_state.get("actor")
    if actor is not None:
        with write_session() as session:
            members.record_logout(session, actor=actor)
    auth.logout(location="unrendered")
    for key in ("actor", "actor_username"):
        st.session_state.pop(key, None)
    st.cache_data.clear()
