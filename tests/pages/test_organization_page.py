"""Organization tab through AppTest, for each role."""

import runpy
from datetime import UTC, datetime, time, timedelta

import pytest
import streamlit as st
from sqlmodel import distinct, func, select
from streamlit.testing.v1 import AppTest

from kilo import billing, invitations, organization
from kilo.db import read_session, write_session
from kilo.models import AuditEntry, Invitation, Member, UsageEvent
from kilo.permissions import ROLES, system_actor
from tests.pages.helpers import APP, app_as, open_page, texts

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
    assert labels == [
        "Credit balance",
        "Seats used",
        "Active members (7 days)",
        "Code training on prompts",
    ]
    df = at.dataframe[0].value
    assert len(df) == 34 and {
        "Name",
        "Email",
        "Role",
        "Joined",
        "Last request",
        "Last sign-in",
        "Spent today / limit",
    } <= set(df.columns)
    assert has_button(at, "org_buy_credits") == (role == "owner")
    assert has_button(at, "org_seats_open") == (role == "owner")
    assert has_button(at, "org_invite_open") == (role != "member")
    assert has_button(at, "org_policies_open") == (role != "member")
    assert any(s.key == "org_member_pick" for s in at.selectbox) == (role != "member")


def test_the_member_table_has_a_width_for_every_column_and_fits_1440_px(demo_url):
    """Fixed widths, not the content's: a long e-mail ends in "…" instead of pushing the
    last column out of view (tests/e2e/test_organization_e2e.py checks it in Chromium)."""
    import json

    at = open_page("owner", PAGE)
    members = at.dataframe[0]
    config = json.loads(members.proto.columns)
    shown = list(members.value.columns)
    assert shown[-1] == "Spent today / limit"
    widths = {c: config[c]["width"] for c in shown}  # every shown column has one
    assert sum(widths.values()) <= 970  # the main area at 1440 px: 978 px
    assert config["Name"]["pinned"] is True


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


# ---- one meaning of "active"; smaller things (issue 15) -------------------------------


def org_id() -> int:
    with read_session() as s:
        return s.exec(select(Member.org_id)).first()


def metric(at, label):
    return next(m for m in at.metric if m.label == label)


def test_active_members_are_the_usage_tabs_active_users(demo_url):
    """Active = a Kilo request in the last 7 UTC days, on both tabs (not a sign-in)."""
    org = open_page("owner", PAGE)
    active = metric(org, "Active members (7 days)")
    count, total = active.value.split(" / ")
    usage_tab = open_page("owner", "pages/usage.py")
    assert count == metric(usage_tab, "Active users (7 days)").value
    today = datetime.now(UTC).date()
    since = datetime.combine(today - timedelta(days=6), time(0), tzinfo=UTC)
    with read_session() as s:  # independently, from the raw events
        by_role = dict(
            s.exec(
                select(Member.role, func.count(distinct(Member.id)))
                .join(UsageEvent, UsageEvent.member_id == Member.id)
                .where(UsageEvent.at >= since, Member.removed_at.is_(None))
                .group_by(Member.role)
            ).all()
        )
        signed_in = s.exec(select(func.count()).where(Member.last_active_at >= since)).one()
    assert int(count) == sum(by_role.values()) != signed_in
    assert total == "34"
    window = f"UTC days {today - timedelta(days=6):%Y-%m-%d} to {today:%Y-%m-%d}"
    assert window in active.help and "sign-ins do not count" in active.help
    captions = texts(org)
    for role in ROLES:
        assert f"({by_role.get(role, 0)} with Kilo requests in the last 7 days)" in captions


def test_member_list_shows_last_request_and_last_sign_in(demo_url):
    at = open_page("owner", PAGE)
    df = at.dataframe[0].value
    assert {"Last request", "Last sign-in"} <= set(df.columns) and "Last active" not in df
    daniel = df[df["Name"] == "Daniel Okafor"].iloc[0]
    with read_session() as s:
        member = s.exec(select(Member).where(Member.name == "Daniel Okafor")).one()
        latest = s.exec(select(func.max(UsageEvent.at)).where(UsageEvent.member_id == member.id))
        latest = latest.one()
    # The hour of his latest request (AppTest has no browser time zone: UTC).
    hour = latest.astimezone(UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    assert daniel["Last request"].to_pydatetime() == hour
    assert daniel["Last sign-in"].to_pydatetime() == member.last_active_at.replace(tzinfo=None)
    assert daniel["Last request"].date() > daniel["Last sign-in"].date()  # issue 15's case


def test_member_sees_only_their_own_last_request(demo_url):
    at = open_page("member", PAGE)
    df = at.dataframe[0].value
    known = df[df["Last request"].notna()]
    assert known["Name"].tolist() == ["Mia Schneider"]
    assert df["Last sign-in"].notna().all()
    assert "Last request and spend today are shown for your own row only" in texts(at)


def test_low_balance_warning_shows_once(demo_url):
    with write_session() as s:
        billing.set_low_balance_alert(
            s, actor=system_actor(org_id()), threshold_micros=2_000 * 1_000_000
        )
    at = app_as("owner")
    at.run()  # through app.py, whose frame warns on every page; the default page is this tab
    assert not at.exception
    assert [t.value for t in at.title] == ["Acme Robotics"]
    warnings = [w.value for w in at.warning if "alert" in w.value]
    assert len(warnings) == 1 and "Credits are low" in warnings[0]


def quick_action_row(at):
    """The columns of the row holding the quick-action buttons."""
    for block in at.main.children.values():
        columns = list(getattr(block, "children", {}).values())
        keys = [
            getattr(child, "key", None)
            for column in columns
            for child in getattr(column, "children", {}).values()
        ]
        if "org_invite_open" in keys:
            return columns
    return []


QUICK_ACTIONS = {
    "owner": [
        "org_buy_credits",
        "org_invite_open",
        "org_seats_open",
        "org_default_model_open",
        "org_policies_open",
        "org_rename_open",
    ],
    "admin": ["org_invite_open", "org_default_model_open", "org_policies_open", "org_rename_open"],
}


def test_quick_actions_have_no_blank_gaps(demo_url):
    """The row holds exactly the role's actions, one button per column: as admin no blank
    columns where the owner-only buttons would be; as member no row at all."""
    for role, keys in QUICK_ACTIONS.items():
        at = open_page(role, PAGE)
        row = quick_action_row(at)
        contents = [[child.key for child in column.children.values()] for column in row]
        assert contents == [[key] for key in keys], role
    at = open_page("member", PAGE)
    assert quick_action_row(at) == []
    assert not any(b.key in QUICK_ACTIONS["owner"] for b in at.button)
    assert "Only owners and admins can change the organization." in texts(at)


def pick(at, name):
    with read_session() as s:
        member_id = s.exec(select(Member.id).where(Member.name == name)).one()
    at.selectbox(key="org_member_pick").set_value(member_id).run()
    return at


def test_admin_sees_why_an_owner_cannot_be_edited_or_removed(demo_url):
    at = pick(open_page("admin", PAGE), "Daniel Okafor")  # an owner
    assert not at.exception
    reason = "Only an owner can change or remove another owner"
    for key in ("org_member_edit", "org_member_remove"):
        assert at.button(key=key).disabled and reason in at.button(key=key).help
    assert reason in texts(at)
    pick(at, "Mia Schneider")  # a member: both allowed
    assert not at.button(key="org_member_edit").disabled
    assert not at.button(key="org_member_remove").disabled
    assert reason not in texts(at)
    pick(at, "Arjun Mehta")  # themselves: edit yes, remove no
    assert not at.button(key="org_member_edit").disabled
    assert at.button(key="org_member_remove").disabled
    assert "You cannot remove yourself" in at.button(key="org_member_remove").help
    at = pick(open_page("owner", PAGE), "Daniel Okafor")  # an owner may touch another owner
    assert not at.button(key="org_member_edit").disabled
    assert not at.button(key="org_member_remove").disabled


def test_code_training_tile_says_what_is_opted_out(demo_url):
    at = open_page("admin", PAGE)
    tile = metric(at, "Code training on prompts")
    assert tile.value == "Opted out"  # the demo opts out
    assert "excludes providers whose data policy allows training on prompts" in tile.help
    assert (
        "**Code training:** opted out (providers whose data policy allows training on "
        "prompts are excluded from model access)" in texts(at)
    )
    with write_session() as s:
        organization.set_policies(s, actor=system_actor(org_id()), code_training_opt_out=False)
    st.cache_data.clear()  # as a write through the page does
    at = open_page("admin", PAGE)
    assert metric(at, "Code training on prompts").value == "Allowed"
    assert "**Code training:** allowed" in texts(at)


@pytest.fixture
def through_app_py(monkeypatch):
    """Every AppTest run executes app.py and its st.navigation, as a server does. (With a
    pages/ folder AppTest runs a page's script alone once a test switched to it; there the
    pages/ files, not app.py's signed-out pages, are registered.)"""
    from streamlit.runtime.scriptrunner import script_runner

    monkeypatch.setattr(
        script_runner, "_mpa_v1", lambda main: runpy.run_path(main, run_name="__main__")
    )


def test_accept_page_links_to_sign_in_inside_the_app(demo_url, through_app_py):
    with write_session() as s:
        _, token = invitations.invite_member(
            s, actor=system_actor(org_id()), email="joiner@example.com"
        )
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()  # signed out
    at.switch_page("pages/accept_invite.py")
    at.query_params["token"] = token
    at.run()
    at.text_input(key="accept_name").input("Joiner")
    at.text_input(key="accept_password").input("joiner-pass-1")
    at.text_input(key="accept_confirm").input("joiner-pass-1")
    next(b for b in at.button if b.label == "Join").click().run()
    assert not at.exception
    assert any("Welcome!" in s.value for s in at.success)
    assert not at.get("link_button")  # a link button opens a new browser tab
    (link,) = at.page_link
    assert link.value == "Go to sign in" and not link.proto.external
    # Following the link (what the browser does with its page hash) shows the sign-in form.
    at._page_hash = link.proto.page_script_hash
    at.run()
    assert not at.exception
    assert {t.label for t in at.text_input} >= {"Username", "Password"}
