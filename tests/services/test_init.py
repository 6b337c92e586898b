"""`python -m kilo init`: a real organization and its first owner; the demo switch."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from sqlmodel import col, select

from kilo import audit, demo, invitations, members, organization, sessions
from kilo.__main__ import main
from kilo.db import ROOT, read_session, write_session
from kilo.errors import Conflict, NotFound, ValidationError
from kilo.members import actor_for
from kilo.models import AuditEntry, CatalogModel, Invitation, Member, Organization

LINK = re.compile(r"(http\S+)/accept_invite\?token=(\S+)")


def init(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["init", *args])
    out, err = capsys.readouterr()
    return code, out, err


def token_of(out: str) -> str:
    match = LINK.search(out)
    assert match, out
    return match.group(2)


def orgs() -> list[Organization]:
    with read_session() as s:
        return list(s.exec(select(Organization).order_by(Organization.id)).all())


def test_init_creates_the_organization_and_a_single_use_owner_link(db_url, capsys, monkeypatch):
    monkeypatch.delenv("KILO_PUBLIC_URL", raising=False)
    code, out, err = init(
        capsys, "--org", "  Initech   GmbH ", "--owner-email", "Ada@Initech.EXAMPLE"
    )
    assert code == 0, err
    [org] = orgs()
    assert (org.name, org.seats, org.is_demo) == ("Initech GmbH", organization.DEFAULT_SEATS, False)
    assert f"Created organization “Initech GmbH” (id {org.id}, 10 seats)" in out
    assert LINK.search(out).group(1) == "http://localhost:8501"
    assert "ada@initech.example" in out and "Organization tab" in out
    token = token_of(out)
    with read_session() as s:
        [inv] = s.exec(select(Invitation)).all()
        assert (inv.org_id, inv.email, inv.role, inv.invited_by_id) == (
            org.id,
            "ada@initech.example",
            "owner",
            None,
        )
        assert inv.token_hash == members.hash_token(token) and token not in inv.token_hash
        assert s.exec(select(Member)).all() == []
        entries = s.exec(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert [(e.org_id, e.action, e.actor_name) for e in entries] == [
            (org.id, "organization.create", "System (CLI)"),
            (org.id, "organization.member.invite", "System (CLI)"),
        ]
        assert audit.verify_chain(s, org_id=org.id).ok
        # the catalogue is there, so Model Access and the default model work from the start
        assert s.exec(select(CatalogModel.id)).first() is not None
        assert organization.any_organization(s)


def test_the_owner_link_gives_an_owner_who_can_sign_in(db_url, capsys):
    code, out, _ = init(capsys, "--org", "Initech", "--owner-email", "ada@initech.example")
    assert code == 0
    token = token_of(out)
    with write_session() as s:
        owner = invitations.accept_invitation(
            s, token=token, name="Ada Lovelace", password="s3cret-pass-2026"
        )
    assert (owner.role, owner.username) == ("owner", "ada@initech.example")
    with write_session() as s:
        signed = sessions.sign_in(s, username="ada@initech.example", password="s3cret-pass-2026")
    assert signed.ok and signed.actor.role == "owner" and signed.actor.name == "Ada Lovelace"
    with read_session() as s:
        # the owner can run the organization: invite a member within the seats
        inv, _ = invitations.invite_member(s, actor=actor_for(owner), email="bob@initech.example")
        assert inv.org_id == owner.org_id
    with write_session() as s, pytest.raises(Conflict, match="already used"):
        invitations.accept_invitation(s, token=token, name="Mallory", password="another-pass-2026")


def test_a_second_organization_is_separate(db_url, capsys):
    assert init(capsys, "--org", "Initech", "--owner-email", "ada@initech.example")[0] == 0
    code, out, err = init(
        capsys, "--org", "Globex", "--owner-email", "hank@globex.example", "--seats", "3"
    )
    assert code == 0, err
    first, second = orgs()
    assert (second.name, second.seats) == ("Globex", 3)
    with write_session() as s:
        hank = invitations.accept_invitation(
            s, token=token_of(out), name="Hank", password="globex-pass-2026"
        )
    assert hank.org_id == second.id
    with read_session() as s:
        actor = actor_for(hank)
        assert [m.email for m in members.list_members(s, actor=actor)] == ["hank@globex.example"]
        assert (
            invitations.list_invitations(s, actor=actor) == []
        )  # Initech's pending one is not his
        initech_invite = s.exec(select(Invitation).where(Invitation.org_id == first.id)).one()
        with pytest.raises(NotFound):
            invitations.revoke_invitation(s, actor=actor, invitation_id=initech_invite.id)
        assert organization.get_organization(s, actor=actor).name == "Globex"
        for org in (first, second):
            actions = s.exec(
                select(AuditEntry.action).where(AuditEntry.org_id == org.id).order_by(AuditEntry.id)
            ).all()
            assert actions[:2] == ["organization.create", "organization.member.invite"]
            assert audit.verify_chain(s, org_id=org.id).ok
    # commands that act on one organization now need --org, and say which ones exist
    assert main(["modes-export"]) == 2
    err = capsys.readouterr().err
    assert "error: The database holds 2 organizations; choose one with --org ID" in err
    assert f"{first.id} (Initech), {second.id} (Globex)" in err
    assert main(["export-audit"]) == 2
    assert "choose one with --org ID" in capsys.readouterr().err
    assert main(["modes-export", "--org", str(second.id)]) == 0


def test_the_same_name_twice_is_refused(db_url, capsys):
    assert init(capsys, "--org", "Initech", "--owner-email", "ada@initech.example")[0] == 0
    code, out, err = init(capsys, "--org", " initech ", "--owner-email", "bob@initech.example")
    assert code == 2 and out == ""
    assert "error: An organization named “Initech” already exists" in err
    assert "nothing was created" in err
    assert len(orgs()) == 1
    with read_session() as s:
        assert len(s.exec(select(Invitation)).all()) == 1
        assert len(s.exec(select(AuditEntry)).all()) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org", "   ", "--owner-email", "a@b.example"], "organization name cannot be empty"),
        (["--org", "X\x00Y", "--owner-email", "a@b.example"], "control characters"),
        (["--org", "X" * 101, "--owner-email", "a@b.example"], "too long"),
        (["--org", "Initech", "--owner-email", "not-an-email"], "not a valid email"),
        (["--org", "Initech", "--owner-email", "a@b.example", "--seats", "0"], "Seats must"),
        (
            ["--org", "Initech", "--owner-email", "a@b.example", "--public-url", "kilo"],
            "public URL",
        ),
    ],
)
def test_bad_input_changes_nothing(db_url, capsys, args, message):
    code, out, err = init(capsys, *args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err
    assert orgs() == []


def test_an_owner_email_that_already_signs_in_is_refused(db_url, capsys):
    code, out, _ = init(capsys, "--org", "Initech", "--owner-email", "ada@initech.example")
    with write_session() as s:
        invitations.accept_invitation(
            s, token=token_of(out), name="Ada", password="s3cret-pass-2026"
        )
    code, _, err = init(capsys, "--org", "Globex", "--owner-email", "ADA@initech.example")
    assert code == 2
    assert "ada@initech.example already has an account (in “Initech”)" in err
    assert len(orgs()) == 1


def test_public_url_from_option_or_environment(db_url, capsys, monkeypatch):
    monkeypatch.setenv("KILO_PUBLIC_URL", "https://kilo.example.com/")
    _, out, _ = init(capsys, "--org", "A", "--owner-email", "a@a.example")
    assert LINK.search(out).group(1) == "https://kilo.example.com"
    _, out, _ = init(
        capsys, "--org", "B", "--owner-email", "b@b.example", "--public-url", "http://10.0.0.5:8501"
    )
    assert LINK.search(out).group(1) == "http://10.0.0.5:8501"


def test_new_link_replaces_an_unused_owner_link(db_url, capsys):
    _, out, _ = init(capsys, "--org", "Initech", "--owner-email", "ada@initech.exmaple")
    old = token_of(out)
    code, out, err = init(
        capsys, "--org", "initech", "--owner-email", "ada@initech.example", "--new-link"
    )
    assert code == 0, err
    assert "older links are revoked" in out
    new = token_of(out)
    with write_session() as s, pytest.raises(Conflict, match="revoked"):
        invitations.accept_invitation(s, token=old, name="Ada", password="s3cret-pass-2026")
    with write_session() as s:
        owner = invitations.accept_invitation(s, token=new, name="Ada", password="s3cret-pass-2026")
    assert (owner.email, owner.role) == ("ada@initech.example", "owner")
    with read_session() as s:
        actions = s.exec(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == [
        "organization.create",
        "organization.member.invite",
        "organization.member.revoke_invitation",
        "organization.member.invite",
        "organization.member.accept_invitation",
    ]
    code, _, err = init(
        capsys, "--org", "Initech", "--owner-email", "x@initech.example", "--new-link"
    )
    assert code == 2 and "already has an owner" in err
    code, _, err = init(capsys, "--org", "Nope", "--owner-email", "x@nope.example", "--new-link")
    assert code == 2 and "There is no organization named “Nope”" in err


def test_init_refuses_a_database_holding_the_demo_unless_told_to_remove_it(demo_url, capsys):
    code, _, err = init(capsys, "--org", "Initech", "--owner-email", "ada@initech.example")
    assert code == 2
    assert "holds the demo organization “Acme Robotics”" in err and "--remove-demo" in err
    assert [o.name for o in orgs()] == ["Acme Robotics"]
    code, out, err = init(
        capsys, "--org", "Initech", "--owner-email", "ada@initech.example", "--remove-demo"
    )
    assert code == 0, err
    assert [(o.name, o.is_demo) for o in orgs()] == [("Initech", False)]
    with read_session() as s:
        assert s.exec(select(Member)).all() == []
        assert s.exec(select(CatalogModel.id)).first() is not None


def test_remove_demo_refuses_when_a_real_organization_exists(db_url, capsys):
    with write_session() as s:
        s.add(Organization(name="Acme Robotics", is_demo=True))
        s.add(Organization(name="Real Inc"))
    code, _, err = init(capsys, "--org", "Initech", "--owner-email", "a@i.example", "--remove-demo")
    assert code == 2 and "only runs while the demo is the only organization" in err
    assert len(orgs()) == 2


def test_init_runs_as_a_command(db_url):
    env = os.environ | {"DATABASE_URL": db_url}
    done = subprocess.run(
        [sys.executable, "-m", "kilo", "init", "--org", "Initech", "--owner-email", "a@i.example"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "/accept_invite?token=" in done.stdout
    again = subprocess.run(
        [sys.executable, "-m", "kilo", "init", "--org", "Initech", "--owner-email", "b@i.example"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 2 and again.stderr.startswith("error: An organization named")


# ---- the demo switch -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "enabled"),
    [
        (None, True),
        ("", True),
        ("1", True),
        ("true", True),
        ("0", False),
        ("false", False),
        (" OFF ", False),
        ("no", False),
    ],
)
def test_demo_enabled_follows_kilo_demo(monkeypatch, value, enabled):
    if value is None:
        monkeypatch.delenv("KILO_DEMO", raising=False)
    else:
        monkeypatch.setenv("KILO_DEMO", value)
    assert demo.demo_enabled() is enabled


def test_demo_setting_in_secrets_wins_and_bad_values_are_refused(monkeypatch):
    monkeypatch.setenv("KILO_DEMO", "1")
    assert demo.demo_enabled({"app": {"demo": False}}) is False
    assert demo.demo_enabled({"app": {}}) is True  # not set there: the environment decides
    monkeypatch.setenv("KILO_DEMO", "maybe")
    with pytest.raises(ValidationError, match="KILO_DEMO is “maybe”; set it to 1"):
        demo.demo_enabled()


def _prepare(url: str) -> None:
    from ui import auth

    auth._prepare.clear()
    auth._prepare(url)


def test_start_up_with_the_demo_off_leaves_an_empty_database_empty(db_url, monkeypatch):
    monkeypatch.setenv("KILO_DEMO", "0")
    _prepare(db_url)
    assert orgs() == []
    with read_session() as s:
        assert not organization.any_organization(s)
    assert "python -m kilo init --org" in organization.NO_ORGANIZATION_HELP


def test_start_up_never_adds_the_demo_to_a_database_with_a_real_organization(
    db_url, capsys, monkeypatch
):
    monkeypatch.delenv("KILO_DEMO", raising=False)  # demo on
    assert init(capsys, "--org", "Initech", "--owner-email", "ada@initech.example")[0] == 0
    _prepare(db_url)
    assert [(o.name, o.is_demo) for o in orgs()] == [("Initech", False)]
    with read_session() as s:
        assert not s.exec(select(Member).where(col(Member.username) == "owner")).first()


def test_reseeding_the_demo_keeps_usage_ids_working(db_url):
    """`seed --reset` empties the database but keeps the usage id counter's row."""
    from datetime import UTC, datetime

    from kilo import usage
    from tests.factories import usage_event

    with write_session() as s:
        demo.seed(s)
    with write_session() as s:
        org = demo.seed(s, reset=True)
        member_id = s.exec(select(Member.id).where(Member.org_id == org.id)).first()
        assert (
            usage.insert_events(
                s, org_id=org.id, events=[usage_event(member_id, datetime.now(UTC))]
            )
            == 1
        )
