"""Members, invitations and organization settings: every action x role, refusals, rollback."""

from datetime import timedelta

import bcrypt
import pytest
from sqlmodel import select

from kilo import audit, billing, invitations, members, organization
from kilo.db import write_session
from kilo.errors import Conflict, NotFound, PermissionDenied, ValidationError
from kilo.models import AuditEntry, Invitation, Member, Organization, utcnow
from tests.factories import create_member, create_team


@pytest.fixture
def team(session):
    team = create_team(session)
    session.commit()
    return team


def actions(session, org_id):
    return [
        a
        for a in session.exec(
            select(AuditEntry.action).where(AuditEntry.org_id == org_id).order_by(AuditEntry.id)
        ).all()
    ]


# ---- invitations --------------------------------------------------------------------


@pytest.mark.parametrize("role,ok", [("owner", True), ("admin", True), ("member", False)])
def test_invite_by_role(session, team, role, ok):
    actor = team[role]
    if ok:
        inv, token = invitations.invite_member(session, actor=actor, email="New@Example.com")
        assert inv.email == "new@example.com"
        assert inv.token_hash == members.hash_token(token) and token not in inv.token_hash
        assert actions(session, actor.org_id)[-1] == "organization.member.invite"
    else:
        with pytest.raises(PermissionDenied, match="cannot manage members"):
            invitations.invite_member(session, actor=actor, email="new@example.com")


@pytest.mark.parametrize("email", ["", "nobody", "a@b", "a b@c.com", "x@y.c", "@example.com"])
def test_invite_rejects_malformed_email(session, team, email):
    with pytest.raises(ValidationError, match="not a valid email"):
        invitations.invite_member(session, actor=team["owner"], email=email)


def test_invite_rejects_duplicates_and_full_seats(session, team):
    owner = team["owner"]
    with pytest.raises(Conflict, match="already a member"):
        invitations.invite_member(session, actor=owner, email=team["member"].email)
    invitations.invite_member(session, actor=owner, email="a@example.com")
    with pytest.raises(Conflict, match="pending invitation"):
        invitations.invite_member(session, actor=owner, email="A@example.com")
    org = session.get(Organization, owner.org_id)
    org.seats = members.seats_in_use(session, org_id=org.id)
    with pytest.raises(Conflict, match="seats are taken"):
        invitations.invite_member(session, actor=owner, email="b@example.com")


def test_admin_cannot_invite_an_owner(session, team):
    with pytest.raises(ValidationError, match="Only an owner"):
        invitations.invite_member(session, actor=team["admin"], email="x@example.com", role="owner")


def test_accept_invitation_creates_member_once(session, team):
    inv, token = invitations.invite_member(
        session, actor=team["admin"], email="joiner@example.com", role="admin"
    )
    session.commit()
    member = invitations.accept_invitation(
        session, token=token, name="  Jo   Iner ", password="plenty-long-enough"
    )
    assert (member.name, member.role, member.username) == ("Jo Iner", "admin", "joiner@example.com")
    assert bcrypt.checkpw(b"plenty-long-enough", member.password_hash.encode())
    assert actions(session, team["owner"].org_id)[-1] == "organization.member.accept_invitation"
    session.commit()
    with pytest.raises(Conflict, match="already used"):
        invitations.accept_invitation(
            session, token=token, name="Again", password="plenty-long-enough"
        )


def test_accept_refuses_bad_expired_revoked_and_weak(session, team):
    owner = team["owner"]
    with pytest.raises(NotFound, match="not valid"):
        invitations.find_invitation(session, token="nonsense")
    inv, token = invitations.invite_member(session, actor=owner, email="late@example.com")
    inv.expires_at = utcnow() - timedelta(seconds=1)
    with pytest.raises(Conflict, match="expired"):
        invitations.find_invitation(session, token=token)
    inv2, token2 = invitations.invite_member(session, actor=owner, email="r@example.com")
    invitations.revoke_invitation(session, actor=owner, invitation_id=inv2.id)
    with pytest.raises(Conflict, match="revoked"):
        invitations.find_invitation(session, token=token2)
    with pytest.raises(Conflict, match="already used or revoked"):
        invitations.revoke_invitation(session, actor=owner, invitation_id=inv2.id)
    inv3, token3 = invitations.invite_member(session, actor=owner, email="w@example.com")
    with pytest.raises(ValidationError, match="at least 12"):
        invitations.accept_invitation(session, token=token3, name="W", password="short")
    with pytest.raises(ValidationError, match="empty"):
        invitations.accept_invitation(
            session, token=token3, name="   ", password="plenty-long-enough"
        )


def test_member_cannot_revoke(session, team):
    inv, _ = invitations.invite_member(session, actor=team["owner"], email="x@example.com")
    with pytest.raises(PermissionDenied):
        invitations.revoke_invitation(session, actor=team["member"], invitation_id=inv.id)


# ---- roles and profiles -------------------------------------------------------------


def test_change_role_rules(session, team):
    owner, admin, member = team["owner"], team["admin"], team["member"]
    m = members.change_role(session, actor=admin, member_id=member.id, role="admin")
    assert m.role == "admin"
    entry = session.exec(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry.action == "organization.member.change_role"
    assert "member → admin" in entry.message
    with pytest.raises(ValidationError, match="your own role"):
        members.change_role(session, actor=admin, member_id=admin.id, role="member")
    with pytest.raises(ValidationError, match="Only an owner"):
        members.change_role(session, actor=admin, member_id=owner.id, role="member")
    with pytest.raises(ValidationError, match="Only an owner can make"):
        members.change_role(session, actor=admin, member_id=member.id, role="owner")
    with pytest.raises(ValidationError, match="Unknown role"):
        members.change_role(session, actor=owner, member_id=member.id, role="king")
    with pytest.raises(PermissionDenied):
        members.change_role(session, actor=member, member_id=admin.id, role="member")


def test_last_owner_cannot_be_demoted_or_removed(session, team):
    owner = team["owner"]
    org = session.get(Organization, owner.org_id)
    other = create_member(session, org, "owner")
    # Two owners: one may demote the other, then the remaining one is the last.
    members.change_role(session, actor=owner, member_id=other.id, role="admin")
    other_actor = members.actor_for(other)
    with pytest.raises(ValidationError, match="Only an owner"):
        members.change_role(session, actor=other_actor, member_id=owner.id, role="member")
    system = audit_system(owner.org_id)
    with pytest.raises(Conflict, match="last owner"):
        members.change_role(session, actor=system, member_id=owner.id, role="admin")
    with pytest.raises(Conflict, match="last owner"):
        members.remove_member(session, actor=system, member_id=owner.id)


def audit_system(org_id):
    from kilo.permissions import system_actor

    return system_actor(org_id)


def test_update_member_profile_and_limit(session, team):
    m = members.update_member(
        session,
        actor=team["owner"],
        member_id=team["member"].id,
        name="Renamed Person",
        daily_spend_limit_micros=25_000_000,
    )
    assert (m.name, m.daily_spend_limit_micros) == ("Renamed Person", 25_000_000)
    entry = session.exec(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry.action == "organization.member.update"
    with pytest.raises(ValidationError, match="empty"):
        members.update_member(session, actor=team["owner"], member_id=m.id, name=" ")
    with pytest.raises(ValidationError, match="zero or more"):
        members.update_member(
            session, actor=team["owner"], member_id=m.id, daily_spend_limit_micros=-1
        )


def test_remove_member(session, team):
    owner, admin, member = team["owner"], team["admin"], team["member"]
    with pytest.raises(PermissionDenied):
        members.remove_member(session, actor=member, member_id=admin.id)
    with pytest.raises(ValidationError, match="yourself"):
        members.remove_member(session, actor=admin, member_id=admin.id)
    members.remove_member(session, actor=admin, member_id=member.id)
    assert [m.id for m in members.list_members(session, actor=owner)] == sorted(
        [owner.id, admin.id], key=lambda i: session.get(Member, i).name
    )
    with pytest.raises(NotFound):
        members.remove_member(session, actor=admin, member_id=member.id)


def test_removed_member_can_be_invited_back(session, team):
    owner, member = team["owner"], team["member"]
    members.remove_member(session, actor=owner, member_id=member.id)
    _, token = invitations.invite_member(session, actor=owner, email=member.email)
    back = invitations.accept_invitation(
        session, token=token, name="Back Again", password="plenty-long-enough"
    )
    assert back.id == member.id and back.removed_at is None


def test_other_orgs_members_are_invisible(session, team):
    stranger = create_team(session)["member"]
    with pytest.raises(NotFound):
        members.update_member(session, actor=team["owner"], member_id=stranger.id, name="X")


# ---- organization settings and seats -----------------------------------------------


def test_rename_and_policies(session, team):
    owner, member = team["owner"], team["member"]
    organization.rename_organization(session, actor=owner, name="  New   Name ")
    assert organization.get_organization(session, actor=member).name == "New Name"
    with pytest.raises(ValidationError, match="cannot be empty"):
        organization.rename_organization(session, actor=owner, name="   ")
    with pytest.raises(PermissionDenied):
        organization.rename_organization(session, actor=member, name="Nope")
    organization.set_policies(session, actor=team["admin"], usage_analytics_enabled=False)
    entry = session.exec(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry.action == "organization.settings.change"
    assert entry.message == "Usage analytics: on → off"
    with pytest.raises(PermissionDenied):
        organization.set_policies(session, actor=member, code_training_opt_out=False)


def test_default_model_must_be_in_catalogue(session, team):
    with pytest.raises(ValidationError, match="not in the catalogue"):
        organization.set_default_model(session, actor=team["owner"], model_id="nope/nothing")


@pytest.mark.parametrize("role,ok", [("owner", True), ("admin", False), ("member", False)])
def test_seats_by_role(session, team, role, ok):
    if ok:
        change = billing.change_seats(session, actor=team[role], seats=30)
        assert (change.from_seats, change.to_seats) == (20, 30)
    else:
        with pytest.raises(PermissionDenied):
            billing.change_seats(session, actor=team[role], seats=30)


def test_seats_never_below_use(session, team):
    owner = team["owner"]
    invitations.invite_member(session, actor=owner, email="p@example.com")
    with pytest.raises(ValidationError, match="fewer than the 4 in use"):
        billing.change_seats(session, actor=owner, seats=3)
    billing.change_seats(session, actor=owner, seats=4)
    for bad in (0, -5, 10_001):
        with pytest.raises(ValidationError):
            billing.change_seats(session, actor=owner, seats=bad)


def test_overview_counts(session, team):
    ov = organization.get_overview(session, actor=team["member"])
    assert ov.members_by_role == {"owner": 1, "admin": 1, "member": 1}
    assert ov.seats_used == 3 and ov.seats_total == 20 and ov.balance_micros == 0


def test_failed_action_rolls_back_entirely(db_url, team):
    """A service that fails after writing part of its change leaves nothing behind."""
    owner = team["owner"]
    with pytest.raises(ValidationError), write_session(db_url) as s:
        invitations.invite_member(s, actor=owner, email="ok@example.com")
        invitations.invite_member(s, actor=owner, email="broken")
    with write_session(db_url) as s:
        assert s.exec(select(Invitation)).all() == []
        assert "organization.member.invite" not in actions(s, owner.org_id)


def test_audit_chain_holds_across_changes(session, team):
    invitations.invite_member(session, actor=team["owner"], email="c@example.com")
    organization.rename_organization(session, actor=team["admin"], name="Chained")
    session.commit()
    report = audit.verify_chain(session, org_id=team["owner"].org_id)
    assert report.ok and report.checked == 2


def test_can_manage_and_can_remove_tell_what_the_changes_would_do(session, team):
    """The up-front verdicts are the rules update_member and remove_member enforce."""
    org = session.get(Organization, team["owner"].org_id)
    other_owner = create_member(session, org, "owner")
    people = [session.get(Member, a.id) for a in team.values()] + [other_owner]
    for actor in team.values():
        for person in people:
            edit_ok, edit_reason = members.can_manage(actor, person)
            remove_ok, remove_reason = members.can_remove(session, actor=actor, member=person)
            assert (edit_reason is None) == edit_ok and (remove_reason is None) == remove_ok
            with session.begin_nested() as attempt:
                try:
                    members.update_member(session, actor=actor, member_id=person.id, name="X Y")
                except (PermissionDenied, ValidationError) as exc:
                    assert not edit_ok and str(exc) == edit_reason
                else:
                    assert edit_ok
                attempt.rollback()
            with session.begin_nested() as attempt:
                try:
                    members.remove_member(session, actor=actor, member_id=person.id)
                except (PermissionDenied, ValidationError, Conflict) as exc:
                    assert not remove_ok and str(exc) == remove_reason
                else:
                    assert remove_ok
                attempt.rollback()
    admin = team["admin"]
    assert members.can_manage(admin, other_owner) == (
        False,
        "Only an owner can change or remove another owner.",
    )
    assert members.can_remove(session, actor=admin, member=people[1])[1].startswith(
        "You cannot remove yourself"
    )
    assert not members.can_manage(team["member"], people[2])[0]
