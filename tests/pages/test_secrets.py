"""Secrets: placeholder cookie keys are refused, keys are generated once, nothing in plain text."""

import logging

import pytest
from sqlalchemy import inspect, text
from streamlit.testing.v1 import AppTest

from kilo import invitations
from kilo.db import get_engine, write_session
from tests.factories import create_team
from tests.pages.helpers import APP
from ui import auth


def test_placeholder_cookie_key_refuses_to_start(demo_url, monkeypatch):
    monkeypatch.setenv("KILO_COOKIE_KEY", auth.PLACEHOLDER_KEY)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("placeholder" in e.value for e in at.error)
    assert not any(t.label == "Password" for t in at.text_input)


def test_example_secrets_file_holds_the_placeholder():
    from pathlib import Path

    example = Path(APP).parent / ".streamlit" / "secrets.toml.example"
    assert f'cookie_key = "{auth.PLACEHOLDER_KEY}"' in example.read_text()


def test_missing_key_is_generated_once(tmp_path, monkeypatch):
    monkeypatch.delenv("KILO_COOKIE_KEY", raising=False)
    key_file = tmp_path / ".cookie_key"
    first = auth.cookie_key(key_file)
    assert len(first) >= 32 and auth.cookie_key(key_file) == first
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_short_key_is_refused(monkeypatch):
    monkeypatch.setenv("KILO_COOKIE_KEY", "short")
    with pytest.raises(auth.InsecureKeyError):
        auth.cookie_key()


def test_sessions_expire_after_a_day_by_default(monkeypatch):
    monkeypatch.delenv("KILO_SESSION_DAYS", raising=False)
    assert auth.session_days() == 1


def test_passwords_and_tokens_never_stored_or_logged_in_plain_text(db_url, caplog):
    caplog.set_level(logging.DEBUG)
    password = "Sup3r-secret-pass"
    with write_session(db_url) as s:
        team = create_team(s)
        _, token = invitations.invite_member(s, actor=team["owner"], email="new@example.com")
    with write_session(db_url) as s:
        invitations.accept_invitation(s, token=token, name="New Person", password=password)
    engine = get_engine(db_url)
    dump = []
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):  # noqa: S608
                dump.append(" ".join(str(v) for v in row))
    everything = "\n".join(dump) + caplog.text
    assert token not in everything
    assert password not in everything
