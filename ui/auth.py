"""Sign-in, server-side sessions and the session cookie.

A password sign-in (`kilo.sessions.sign_in`: throttled, audited) starts a session on the
server; the browser keeps its random token in a cookie signed with the cookie key (HS256
JWT, through streamlit-authenticator's cookie component), and every script run looks the
token up in the database together with the member (`current_actor`), so sign-out, removal
and role changes take effect at once. streamlit-authenticator's own cookie is not used: it
carries only a username, cannot be revoked and its login form cannot throttle per account.

The cookie key comes from `.streamlit/secrets.toml` ([auth] cookie_key) or the
KILO_COOKIE_KEY environment variable; when neither is set a random key is generated
once and kept in data/.cookie_key. The example file's placeholder, and any key shorter
than 16 characters wherever it comes from, is refused.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import extra_streamlit_components as stx
import jwt
import streamlit as st

from kilo import catalog, demo, organization, sessions
from kilo.db import ROOT, database_url, migrate, read_session, write_session
from kilo.models import utcnow
from kilo.permissions import Actor

PLACEHOLDER_KEY = "replace-me-with-a-long-random-string"
KEY_FILE = ROOT / "data" / ".cookie_key"
COOKIE_NAME = "kilo_session"
SESSION_KEY = "kilo_session_token"  # st.session_state: this browser tab's session token
_COOKIE_OP = "_kilo_cookie_pending"  # st.session_state: ("set", value, expires) or ("delete",)


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


def _checked_key(key: str, where: str) -> str:
    if key.strip() == PLACEHOLDER_KEY or len(key.strip()) < 16:
        raise InsecureKeyError(
            f"The cookie key in {where} is still the example placeholder (or shorter than 16 "
            "characters). Set [auth] cookie_key in .streamlit/secrets.toml or KILO_COOKIE_KEY "
            'to a long random string, e.g. the output of: python -c "import secrets; '
            'print(secrets.token_urlsafe(32))"'
        )
    return key.strip()


def cookie_key(key_file: Path = KEY_FILE) -> str:
    if key := _secret("auth", "cookie_key"):
        return _checked_key(key, ".streamlit/secrets.toml")
    if key := os.environ.get("KILO_COOKIE_KEY"):
        return _checked_key(key, "KILO_COOKIE_KEY")
    if key_file.exists():
        return _checked_key(key_file.read_text(), str(key_file))
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def session_days() -> float:
    raw = _secret("auth", "session_days") or os.environ.get("KILO_SESSION_DAYS") or 1
    try:
        days = float(raw)
    except (TypeError, ValueError):
        days = 1.0
    return min(max(days, 1 / 24), 90.0) if days == days else 1.0  # 1 hour .. 90 days


@st.cache_resource(show_spinner="Preparing the database…")
def _prepare(url: str) -> None:
    migrate(url)
    with write_session(url) as session:
        # Only an empty database (no organization at all) gets the demo, and only while
        # the demo is on (KILO_DEMO / [app] demo in secrets).
        demo.seed_if_empty(session, secrets_mapping())
        # The model catalogue is the server operator's: an empty one gets the shipped snapshot.
        catalog.load_shipped_if_empty(session)


@st.cache_data(ttl=5, show_spinner=False)
def _has_organization(url: str) -> bool:
    with read_session(url) as session:
        return organization.any_organization(session)


def has_organization() -> bool:
    return _has_organization(database_url())


def prepare_database() -> None:
    """Migrate at start-up; an empty database gets the demo organization."""
    _prepare(database_url())


@st.cache_data(ttl=30, show_spinner=False)
def _is_demo(url: str) -> bool:
    from kilo.models import Organization

    with read_session(url) as session:
        from sqlmodel import select

        return any(o.is_demo for o in session.exec(select(Organization)).all())


def is_demo_database() -> bool:
    return _is_demo(database_url())


# ---- the signed-in actor -----------------------------------------------------------------


def _client() -> str:
    """The browser's address as Streamlit sees it ('' when unknown, e.g. under AppTest)."""
    try:
        return str(st.context.ip_address or "")[:64]
    except Exception:  # noqa: BLE001
        return ""


def _is_https() -> bool:
    try:
        if (st.context.url or "").startswith("https://"):
            return True
        return (st.context.headers.get("X-Forwarded-Proto") or "").lower() == "https"
    except Exception:  # noqa: BLE001
        return False


def _cookie_token() -> str | None:
    """The session token in this browser's cookie, if its signature holds; else None."""
    try:
        raw = st.context.cookies.get(COOKIE_NAME)
    except Exception:  # noqa: BLE001  (no browser context)
        return None
    if not raw or len(raw) > 2000:
        return None
    try:
        claims = jwt.decode(raw, cookie_key(), algorithms=["HS256"])
    except Exception:  # noqa: BLE001  (foreign, forged, expired or malformed: not signed in)
        return None
    sid = claims.get("sid") if isinstance(claims, dict) else None
    return sid if isinstance(sid, str) else None


def current_actor() -> Actor | None:
    """The signed-in member, read fresh from the database on every run; None if signed out.

    The token comes from this tab's session state or, on a reload or a new tab, from the
    cookie. A session that was ended, has expired or whose member was removed gives None
    (and the stale cookie is deleted).
    """
    token = st.session_state.get(SESSION_KEY) or _cookie_token()
    if not token:
        st.session_state.pop("actor", None)
        return None
    with read_session() as session:
        found = sessions.resolve(session, token)
    if found is None:
        _forget()
        return None
    actor, auth_row = found
    if utcnow() - auth_row.last_seen_at >= sessions.TOUCH_EVERY:
        with write_session() as session:
            sessions.touch(session, auth_row)
    st.session_state[SESSION_KEY] = token
    st.session_state["actor"] = actor
    return actor


def _forget() -> None:
    st.session_state.pop(SESSION_KEY, None)
    st.session_state.pop("actor", None)
    if _cookie_token() is not None or st.session_state.get(_COOKIE_OP, ("",))[0] == "set":
        st.session_state[_COOKIE_OP] = ("delete",)


# ---- sign-in and sign-out (button callbacks: they run before the script, so the cookie
# change is rendered by a run that completes; an st.rerun() would drop it) ---------------


def _submit_sign_in() -> None:
    username = str(st.session_state.get("signin_username") or "")
    password = str(st.session_state.get("signin_password") or "")
    st.session_state["signin_password"] = ""
    days = session_days()
    with write_session() as session:
        result = sessions.sign_in(
            session, username=username, password=password, client=_client(), days=days
        )
    if not result.ok:
        st.session_state["signin_error"] = result.message
        return
    st.session_state.pop("signin_error", None)
    st.session_state[SESSION_KEY] = result.token
    st.session_state["actor"] = result.actor
    value = jwt.encode(
        {"sid": result.token, "exp": int(result.expires_at.timestamp())},
        cookie_key(),
        algorithm="HS256",
    )
    st.session_state[_COOKIE_OP] = ("set", value, result.expires_at)
    st.cache_data.clear()


def sign_in_form() -> None:
    """Username and password; a failure shows why (wrong, or throttled) and nothing else."""
    with st.form("sign_in", clear_on_submit=False):
        st.text_input("Username", key="signin_username", max_chars=254)
        st.text_input("Password", type="password", key="signin_password", max_chars=1024)
        st.form_submit_button("Sign in", type="primary", on_click=_submit_sign_in)
    if error := st.session_state.pop("signin_error", None):
        st.error(error, icon=":material/error:")


def sign_out() -> None:
    """End this tab's session on the server (audited) and delete the cookie."""
    token = st.session_state.get(SESSION_KEY)
    if token:
        with write_session() as session:
            sessions.sign_out(session, token=token)
    _forget()
    st.session_state[_COOKIE_OP] = ("delete",)
    st.cache_data.clear()


def signed_in() -> bool:
    return bool(st.session_state.get(SESSION_KEY))


def apply_cookie() -> None:
    """Render the pending cookie change (set after sign-in, delete after sign-out).

    It stays rendered with the same arguments on later runs (the component acts only when
    they change), so a rerun triggered meanwhile cannot drop it.
    """
    op = st.session_state.get(_COOKIE_OP)
    if not op:
        return
    cookies = stx.CookieManager(key="kilo_cookie_all")
    if op[0] == "set":
        _, value, expires = op
        cookies.set(
            COOKIE_NAME,
            value,
            key="kilo_cookie_op",
            expires_at=expires,  # aware: the browser reads the ISO time with its zone
            secure=_is_https() or None,
            same_site="strict",
        )
    else:
        try:
            cookies.delete(COOKIE_NAME, key="kilo_cookie_op")
        except KeyError:  # the component had not reported the browser's cookies yet
            pass
