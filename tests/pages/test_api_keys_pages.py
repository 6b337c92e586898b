"""API keys and tokens in the dashboard, through AppTest: a member's own keys on the Account
page (the secret shown once, then never again; revoking asks first), and the owners' and
admins' sections on the Organization tab (every member's keys, the organization's tokens)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlmodel import select

from kilo import apikeys
from kilo.apikeys import secret_hash
from kilo.db import read_session, write_session
from kilo.members import actor_for
from kilo.models import ApiKey, AuditEntry, GatewayToken, Member
from tests.pages.helpers import open_page, texts

ACCOUNT = "pages/account.py"
ORGANIZATION = "pages/organization.py"


def member(username: str) -> Member:
    with read_session() as s:
        return s.exec(select(Member).where(Member.username == username)).one()


def create_key_for(username: str, name: str) -> ApiKey:
    with write_session() as s:
        actor = actor_for(s.exec(select(Member).where(Member.username == username)).one())
        key, _ = apikeys.create_api_key(s, actor=actor, name=name)
    return key


def keys_of(username: str) -> list[ApiKey]:
    with read_session() as s:
        return list(s.exec(select(ApiKey).where(ApiKey.member_id == member(username).id)).all())


def last_action() -> str:
    with read_session() as s:
        return s.exec(select(AuditEntry.action).order_by(AuditEntry.id.desc())).first()


def has_key(at, key: str) -> bool:
    return any(getattr(e, "key", None) == key for e in at.button) or any(
        getattr(e, "key", None) == key for e in at.selectbox
    )


def secrets_shown(at) -> list[str]:
    return [c.value for c in at.code]


# ---- Account page: the member's own keys ------------------------------------------------


def test_member_creates_a_key_that_is_shown_once(demo_url):
    at = open_page("member", ACCOUNT)
    assert not at.exception
    assert "You have no API keys." in texts(at)
    assert "gateway connected to this dashboard" in texts(at)
    at.button(key="account_key_open").click().run()
    at.text_input(key="account_key_name").input("Work laptop")
    at.button(key="account_key_create").click().run()
    assert not at.exception

    shown = secrets_shown(at)
    assert len(shown) == 1 and shown[0].startswith(apikeys.KEY_PREFIX)
    secret = shown[0]
    assert any("Copy it now: it won't be shown again" in s.value for s in at.success)
    (key,) = keys_of("member")
    assert key.token_hash == secret_hash(secret) and secret.startswith(key.prefix)
    assert key.expires_at is None and last_action() == "gateway.key.create"
    table = at.dataframe[-1].value
    assert table["Name"].tolist() == ["Work laptop"]
    assert table["Key"].tolist() == [f"{key.prefix}…"]
    assert table["Status"].tolist() == ["active"] and table["Expires"].tolist() == ["never"]
    assert "Member" not in table.columns  # one's own keys: no member column

    at.run()  # any rerun (or coming back to the page) no longer has the secret
    assert secrets_shown(at) == [] and not at.success
    assert secret not in texts(at) and secret not in repr(at.session_state)
    assert at.dataframe[-1].value["Name"].tolist() == ["Work laptop"]


def test_key_expiry_is_the_end_of_the_chosen_day_stored_in_utc(demo_url):
    at = open_page("member", ACCOUNT)
    at.button(key="account_key_open").click().run()
    day = datetime.now(UTC).date() + timedelta(days=30)
    at.text_input(key="account_key_name").input("CI")
    at.date_input(key="account_key_expiry").set_value(day)
    at.button(key="account_key_create").click().run()
    assert not at.exception
    (key,) = keys_of("member")
    # AppTest has no browser time zone: UTC.
    assert key.expires_at == datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
    assert at.dataframe[-1].value["Expires"].tolist() == [f"{day:%Y-%m-%d} 23:59"]


def test_bad_key_name_shows_the_message_and_creates_nothing(demo_url):
    at = open_page("member", ACCOUNT)
    at.button(key="account_key_open").click().run()
    at.text_input(key="account_key_name").input("   ")
    at.button(key="account_key_create").click().run()
    assert not at.exception
    assert any("Give the key a name" in e.value for e in at.error)
    assert keys_of("member") == [] and secrets_shown(at) == []


def test_member_revokes_own_key_after_confirming(demo_url):
    key = create_key_for("member", "Old laptop")
    at = open_page("member", ACCOUNT)
    at.selectbox(key="account_key_pick").set_value(key.id).run()
    at.button(key="account_key_revoke").click().run()
    assert "Revoke the API key" in texts(at)
    at.button(key="account_key_revoke_cancel").click().run()
    assert keys_of("member")[0].revoked_at is None  # cancelled: nothing changed

    at.button(key="account_key_revoke").click().run()
    at.button(key="account_key_revoke_confirm").click().run()
    assert not at.exception
    assert keys_of("member")[0].revoked_at is not None
    assert last_action() == "gateway.key.revoke"
    assert "You have no API keys." in texts(at)
    at.toggle(key="account_keys_show_revoked").set_value(True).run()
    assert at.dataframe[-1].value["Status"].iloc[0].startswith("revoked ")


def test_full_key_list_disables_create_and_says_why(demo_url):
    for n in range(apikeys.MAX_KEYS_PER_MEMBER):
        create_key_for("member", f"key {n}")
    at = open_page("member", ACCOUNT)
    assert at.button(key="account_key_open").disabled
    assert "the most allowed" in texts(at)


def test_account_page_lists_only_ones_own_keys(demo_url):
    create_key_for("admin", "Admin's key")
    create_key_for("member", "Mia's key")
    at = open_page("admin", ACCOUNT)
    assert at.dataframe[-1].value["Name"].tolist() == ["Admin's key"]


# ---- Organization tab: owners and admins --------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_only_owners_and_admins_see_the_keys_and_tokens_sections(demo_url, role):
    create_key_for("member", "Mia's key")
    at = open_page(role, ORGANIZATION)
    assert not at.exception
    headings = {h.value for h in at.subheader}
    admin = role != "member"
    assert ("API keys" in headings) == admin and ("API tokens" in headings) == admin
    for key in ("org_key_pick", "org_key_revoke", "org_token_open"):
        assert has_key(at, key) == admin
    assert any("Member" in d.value.columns and "Key" in d.value.columns for d in at.dataframe) == (
        admin
    )


def test_admin_sees_every_key_and_revokes_a_members_key(demo_url):
    mias = create_key_for("member", "Mia's laptop")
    create_key_for("owner", "Olivia's CI")
    at = open_page("admin", ORGANIZATION)
    assert not at.exception
    assert {"API keys", "API tokens"} <= {h.value for h in at.subheader}
    table = next(d.value for d in at.dataframe if "Member" in d.value.columns)
    assert sorted(table["Name"]) == ["Mia's laptop", "Olivia's CI"]
    assert set(table["Member"]) == {"Mia Schneider", "Olivia Bennett"}
    assert {"Email", "Key", "Created", "Last used", "Status"} <= set(table.columns)

    at.selectbox(key="org_key_pick").set_value(mias.id).run()
    at.button(key="org_key_revoke").click().run()
    assert "Mia Schneider" in texts(at)  # the confirmation names whose key it is
    at.button(key="org_key_revoke_confirm").click().run()
    assert not at.exception
    assert keys_of("member")[0].revoked_at is not None
    with read_session() as s:
        entry = s.exec(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry.action == "gateway.key.revoke" and entry.actor_name == "Arjun Mehta"
    table = next(d.value for d in at.dataframe if "Member" in d.value.columns)
    assert table["Name"].tolist() == ["Olivia's CI"]


def test_admin_creates_a_token_shown_once_and_revokes_it(demo_url):
    at = open_page("admin", ORGANIZATION)
    assert "No API tokens." in texts(at)
    at.button(key="org_token_open").click().run()
    at.text_input(key="org_token_name").input("Finance export")
    at.radio(key="org_token_scope").set_value("read")
    at.button(key="org_token_create").click().run()
    assert not at.exception
    shown = secrets_shown(at)
    assert len(shown) == 1 and shown[0].startswith("kilo_rd_")
    with read_session() as s:
        (token,) = s.exec(select(GatewayToken)).all()
        assert apikeys.authenticate_token(s, shown[0], scope="read").id == token.id
    assert token.token_hash == secret_hash(shown[0]) and token.scope == "read"
    assert last_action() == "gateway.token.create"
    table = next(d.value for d in at.dataframe if "Scope" in d.value.columns)
    assert table[["Name", "Scope", "Token"]].values.tolist() == [
        ["Finance export", "read", f"{token.prefix}…"]
    ]

    at.run()
    assert secrets_shown(at) == []  # shown once

    at.selectbox(key="org_token_pick").set_value(token.id).run()
    at.button(key="org_token_revoke").click().run()
    at.button(key="org_token_revoke_confirm").click().run()
    assert not at.exception
    with read_session() as s:
        assert s.get(GatewayToken, token.id).revoked_at is not None
    assert last_action() == "gateway.token.revoke"
    assert "No API tokens." in texts(at)


def test_a_bad_token_name_is_refused_with_its_message(demo_url):
    at = open_page("owner", ORGANIZATION)
    at.button(key="org_token_open").click().run()
    at.text_input(key="org_token_name").input("")
    at.button(key="org_token_create").click().run()
    assert not at.exception
    assert any("Give the key a name" in e.value for e in at.error)
    with read_session() as s:
        assert s.exec(select(GatewayToken)).all() == []


def test_key_names_are_shown_as_text(demo_url):
    from tests.pages.rendered import markdown_sources, page_text, to_html

    name = "**Boss** [re-login](https://evil.example/x) ![](https://evil.example/p.png)"
    at = open_page("admin", ACCOUNT)
    at.button(key="account_key_open").click().run()
    at.text_input(key="account_key_name").input(name)
    at.button(key="account_key_create").click().run()
    assert not at.exception

    def shown_as_text(at) -> str:  # noqa: ANN001
        for source in markdown_sources(at):
            html = to_html(source)
            assert "<a " not in html and "<img" not in html and "<strong>Boss" not in html
        return page_text(at)

    assert f"“{name}” created" in shown_as_text(at)
    at.selectbox(key="account_key_pick").set_value(keys_of("admin")[0].id).run()
    at.button(key="account_key_revoke").click().run()
    assert f"Revoke the API key {name}" in shown_as_text(at)
