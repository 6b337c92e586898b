"""Organization tab through AppTest, for each role."""

import pytest
from sqlmodel import select

from kilo.db import read_session
from kilo.models import AuditEntry, Invitation, Member
from tests.pages.helpers import open_page, texts

PAGE = "pages/organization.py"


def button(at, key):
    return at.button(key=key)


def has_button(at, key):
    return any(b.key == key for b in at.button)


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_page_renders_for_every_role(demo_url, role):
    at = open_page(role, PAGE)
    assert not at.exception
    assert [t.value for t in at.title] == ["Acme Robotics"]
    labels = [m.label for m in at.metric]
    assert labels == ["Credit balance", "Seats used", "Active members (7 days)", "Data collection"]
    df = at.dataframe[0].value
    assert len(df) == 34 and {
        "Name",
        "Email",
        "Role",
        "Joined",
        "Last active",
        "Daily limit",
    } <= set(df.columns)
    assert has_button(at, "org_buy_credits") == (role == "owner")
    assert has_button(at, "org_seats_open") == (role == "owner")
    assert has_button(at, "org_invite_open") == (role != "member")
    assert has_button(at, "org_policies_open") == (role != "member")
    assert any(s.key == "org_member_pick" for s in at.selectbox) == (role != "member")


def test_invite_flow_shows_a_single_use_link(demo_url):
    at = open_page("admin", PAGE)
    button(at, "org_invite_open").click().run()
    at.text_input(key="org_invite_email").input("new.person@example.com")
    button(at, "org_invite_submit").click().run()
    assert not at.exception
    links = [c.value for c in at.code]
    assert len(links) == 1 and "/accept_invite?token=" in links[0]
    token = links[0].split("token=")[1]
    with read_session() as s:
        inv = s.exec(select(Invitation)).one()
        assert inv.email == "new.person@example.com" and token not in inv.token_hash
    assert "new.person@example.com" in at.dataframe[1].value["Email"].tolist()


def test_bad_invite_shows_message_and_changes_nothing(demo_url):
    at = open_page("owner", PAGE)
    button(at, "org_invite_open").click().run()
    at.text_input(key="org_invite_email").input("not-an-email")
    button(at, "org_invite_submit").click().run()
    assert not at.exception
    assert any("not a valid email" in e.value for e in at.error)
    with read_session() as s:
        assert s.exec(select(Invitation)).all() == []


def test_edit_member_role_in_dialog(demo_url):
    at = open_page("owner", PAGE)
    with read_session() as s:
        mia = s.exec(select(Member).where(Member.username == "member")).one()
    at.selectbox(key="org_member_pick").set_value(mia.id).run()
    button(at, "org_member_edit").click().run()
    at.selectbox(key="org_edit_role").set_value("admin")
    button(at, "org_edit_save").click().run()
    assert not at.exception
    with read_session() as s:
        assert s.get(Member, mia.id).role == "admin"
        last = s.exec(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert last.action == "organization.member.change_role" and "member → admin" in last.message


def test_seats_below_use_is_refused(demo_url):
    at = open_page("owner", PAGE)
    button(at, "org_seats_open").click().run()
    at.number_input(key="org_seats_value").set_value(5)
    button(at, "org_seats_submit").click().run()
    assert any("fewer than the 34 in use" in e.value for e in at.error)
    assert "34 / 40" in texts(at)


def test_member_opening_admin_page_url_is_refused(demo_url):
    at = open_page("member", "pages/audit_logs.py")
    assert not at.exception
    assert any("do not have access" in e.value for e in at.error)
    assert not at.dataframe


def test_user_text_is_shown_as_text(demo_url):
    from kilo import organization
    from kilo.db import write_session
    from kilo.permissions import system_actor

    with read_session() as s:
        org_id = s.exec(select(Member.org_id)).first()
    hostile = "<script>alert(1)</script> **bold** $x$ \\.md"
    with write_session() as s:
        organization.rename_organization(s, actor=system_actor(org_id), name=hostile)
    at = open_page("owner", PAGE)
    assert not at.exception
    title = at.title[0].value
    assert "\\*\\*bold\\*\\*" in title and "\\$x\\$" in title and "\\<script\\>" in title
