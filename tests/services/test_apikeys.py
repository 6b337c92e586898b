"""Members' API keys and the organization's API tokens (kilo.apikeys): who may do what, the
input rules, the secret shown once (only its hash and first characters stored), the audit
entries written in the change's own transaction, and removing a member revoking their keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, col, select

from kilo import apikeys, members
from kilo.apikeys import KEY_PREFIX, MAX_KEYS_PER_MEMBER, SHOWN, secret_hash
from kilo.db import get_engine, read_session, write_session
from kilo.errors import NotFound, PermissionDenied, ValidationError
from kilo.models import ApiKey, AuditEntry, GatewayToken, utcnow
from kilo.permissions import Actor, system_actor
from tests.factories import create_team

ROLES = ("owner", "admin", "member")


@pytest.fixture
def team(db_url) -> dict[str, Actor]:
    with write_session() as s:
        return create_team(s)


@pytest.fixture
def other_team(db_url) -> dict[str, Actor]:
    with write_session() as s:
        return create_team(s)


def new_key(actor: Actor, name: str = "laptop", **kw) -> tuple[ApiKey, str]:  # noqa: ANN003
    with write_session() as s:
        return apikeys.create_api_key(s, actor=actor, name=name, **kw)


def new_token(actor: Actor, scope: str = "gateway", name: str = "gw") -> tuple[GatewayToken, str]:
    with write_session() as s:
        return apikeys.create_token(s, actor=actor, name=name, scope=scope)


def list_keys(actor: Actor, **kw) -> list[apikeys.KeyRow]:  # noqa: ANN003
    with read_session() as s:
        return apikeys.list_api_keys(s, actor=actor, **kw)


def revoke_key(actor: Actor, key_id: int) -> ApiKey:
    with write_session() as s:
        return apikeys.revoke_api_key(s, actor=actor, key_id=key_id)


def get_key(key_id: int) -> ApiKey:
    with read_session() as s:
        return s.get(ApiKey, key_id)


def entries(action: str | None = None) -> list[AuditEntry]:
    with read_session() as s:
        query = select(AuditEntry).order_by(col(AuditEntry.id))
        if action:
            query = query.where(AuditEntry.action == action)
        return list(s.exec(query).all())


# ---- members' keys: who may do what ------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_role_creates_lists_and_revokes_its_own_keys(team, role):
    actor = team[role]
    key, secret = new_key(actor, "Work laptop")
    assert secret.startswith(KEY_PREFIX) and len(secret) > 40
    assert key.member_id == actor.id and key.org_id == actor.org_id
    (row,) = list_keys(actor)
    assert (row.id, row.name, row.prefix, row.status) == (
        key.id,
        "Work laptop",
        key.prefix,
        "active",
    )
    assert (row.member_name, row.member_email) == (actor.name, actor.email)
    assert row.last_used_at is None and row.expires_at is None

    revoked = revoke_key(actor, key.id)
    assert revoked.revoked_at is not None
    assert list_keys(actor) == []
    assert [r.status for r in list_keys(actor, include_revoked=True)] == ["revoked"]


def test_own_list_holds_only_ones_own_keys(team):
    mine, _ = new_key(team["member"], "mine")
    new_key(team["admin"], "the admin's")
    assert [r.id for r in list_keys(team["member"])] == [mine.id]


def test_member_cannot_list_everyones_keys_or_revoke_anothers(team):
    admins, _ = new_key(team["admin"])
    with pytest.raises(PermissionDenied, match="member"):
        list_keys(team["member"], everyone=True)
    with pytest.raises(PermissionDenied, match="other members' API keys"):
        revoke_key(team["member"], admins.id)
    assert get_key(admins.id).revoked_at is None
    assert entries("gateway.key.revoke") == []


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_see_every_key_and_revoke_any(team, role):
    keys = {r: new_key(team[r], f"{r}'s key")[0] for r in ROLES}
    rows = list_keys(team[role], everyone=True)
    assert {r.id for r in rows} == {k.id for k in keys.values()}
    assert {r.member_email for r in rows} == {team[r].email for r in ROLES}
    for other in ROLES:
        if other != role:
            assert revoke_key(team[role], keys[other].id).revoked_at is not None
    (entry, *_) = entries("gateway.key.revoke")
    assert entry.actor_id == team[role].id
    assert len(entries("gateway.key.revoke")) == 2


def test_keys_of_another_organization_are_not_found(team, other_team):
    theirs, _ = new_key(other_team["member"])
    with pytest.raises(NotFound):
        revoke_key(team["owner"], theirs.id)
    with pytest.raises(NotFound):
        revoke_key(team["owner"], 999_999)
    assert [r.id for r in list_keys(team["owner"], everyone=True)] == []
    assert get_key(theirs.id).revoked_at is None


def test_the_system_actor_manages_keys_but_owns_none(team):
    system = system_actor(team["owner"].org_id)
    with pytest.raises(PermissionDenied, match="belong to members"):
        new_key(system)
    key, _ = new_key(team["member"])
    assert [r.id for r in list_keys(system, everyone=True)] == [key.id]
    assert revoke_key(system, key.id).revoked_at is not None
    assert entries("gateway.key.revoke")[0].actor_name == system.name


def test_revoking_twice_changes_nothing_more(team):
    key, _ = new_key(team["member"])
    first = revoke_key(team["member"], key.id).revoked_at
    assert revoke_key(team["admin"], key.id).revoked_at == first
    assert len(entries("gateway.key.revoke")) == 1


# ---- input rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Give the key a name"),
        ("   \t ", "Give the key a name"),
        ("x" * 101, "too long"),
        ("bad\x00name", "control characters"),
        ("bell\x07", "control characters"),
    ],
)
def test_bad_names_are_refused_and_nothing_is_stored(team, name, message):
    with pytest.raises(ValidationError, match=message):
        new_key(team["member"], name)
    with pytest.raises(ValidationError, match=message):
        new_token(team["admin"], name=name)
    with read_session() as s:
        assert s.exec(select(ApiKey)).all() == [] and s.exec(select(GatewayToken)).all() == []
    assert entries() == []


def test_names_are_trimmed_and_inner_spaces_collapsed(team):
    key, _ = new_key(team["member"], "  CI   job \n ")
    assert key.name == "CI job"
    assert new_key(team["member"], "é" * 100)[0].name == "é" * 100  # 100 characters is fine


@pytest.mark.parametrize(
    "expires_at",
    [
        datetime.now(UTC) - timedelta(minutes=1),  # the past
        datetime.now(UTC) + timedelta(days=367),  # over a year ahead
    ],
)
def test_expiry_must_be_ahead_and_within_a_year(team, expires_at):
    with pytest.raises(ValidationError, match="future and within a year"):
        new_key(team["member"], expires_at=expires_at)
    assert list_keys(team["member"], include_revoked=True) == []


def test_a_naive_expiry_is_refused(team):
    with pytest.raises(ValidationError, match="time zone"):
        new_key(team["member"], expires_at=datetime.now() + timedelta(days=1))  # noqa: DTZ005
    assert list_keys(team["member"], include_revoked=True) == []


def test_an_expiry_in_any_time_zone_is_stored_as_that_instant(team):
    when = (datetime.now(UTC) + timedelta(days=200)).astimezone(ZoneInfo("Asia/Kolkata"))
    when = when.replace(hour=23, minute=59, second=59, microsecond=0)
    key, _ = new_key(team["member"], expires_at=when)
    stored = get_key(key.id).expires_at
    assert stored == when and stored.utcoffset() is not None
    (row,) = list_keys(team["member"])
    assert row.status == "active" and row.expires_at == when


def test_a_key_past_its_expiry_is_listed_as_expired(team):
    key, _ = new_key(team["member"], expires_at=datetime.now(UTC) + timedelta(days=1))
    with write_session() as s:
        stored = s.get(ApiKey, key.id)
        stored.expires_at = utcnow() - timedelta(seconds=1)
        s.add(stored)
    assert [r.status for r in list_keys(team["member"])] == ["expired"]


def test_a_member_holds_at_most_twenty_keys_that_are_not_revoked(team):
    member = team["member"]
    made = [new_key(member, f"key {n}")[0] for n in range(MAX_KEYS_PER_MEMBER)]
    with write_session() as s:  # an expired key still counts until revoked
        stored = s.get(ApiKey, made[0].id)
        stored.expires_at = utcnow() - timedelta(days=1)
        s.add(stored)
    with pytest.raises(ValidationError, match=f"already have {MAX_KEYS_PER_MEMBER} active keys"):
        new_key(member, "one more")
    assert len(list_keys(member)) == MAX_KEYS_PER_MEMBER
    assert new_key(team["admin"], "another member's")[0]  # the cap is per member
    revoke_key(member, made[0].id)
    assert new_key(member, "one more")[0].name == "one more"


# ---- the secret: shown once, never stored ---------------------------------------------------


def _stored_text(session: Session) -> str:
    """Every column of every key, token and audit entry, as text."""
    rows = [
        *session.exec(select(ApiKey)).all(),
        *session.exec(select(GatewayToken)).all(),
        *session.exec(select(AuditEntry)).all(),
    ]
    return "\n".join(repr(row.model_dump()) for row in rows)


def test_secrets_are_never_stored_only_their_hash_and_prefix(team):
    key, key_secret = new_key(team["member"])
    gw, gw_secret = new_token(team["admin"], "gateway")
    rd, rd_secret = new_token(team["owner"], "read")
    for record, secret, prefix in (
        (key, key_secret, "kilo_sk_"),
        (gw, gw_secret, "kilo_gw_"),
        (rd, rd_secret, "kilo_rd_"),
    ):
        assert secret.startswith(prefix)
        assert record.prefix == secret[:SHOWN] and len(record.prefix) == SHOWN
        assert record.token_hash == secret_hash(secret) and len(record.token_hash) == 64
    with read_session() as s:
        stored = _stored_text(s)
    for secret in (key_secret, gw_secret, rd_secret):
        assert secret not in stored and secret[SHOWN:] not in stored
        assert secret[SHOWN : SHOWN + 8] not in stored  # nothing past the shown prefix


def test_every_secret_is_new(team):
    secrets_ = {new_key(team["member"], f"k{n}")[1] for n in range(5)}
    secrets_ |= {new_token(team["admin"], name=f"t{n}")[1] for n in range(5)}
    assert len(secrets_) == 10


# ---- audit ------------------------------------------------------------------------------------


def test_each_change_writes_its_audit_entry(team):
    key, _ = new_key(
        team["member"], "Work laptop", expires_at=datetime.now(UTC) + timedelta(days=30)
    )
    revoke_key(team["admin"], key.id)
    token, _ = new_token(team["owner"], "read", name="Finance")
    with write_session() as s:
        apikeys.revoke_token(s, actor=team["admin"], token_id=token.id)
    got = entries()
    assert [e.action for e in got] == [
        "gateway.key.create",
        "gateway.key.revoke",
        "gateway.token.create",
        "gateway.token.revoke",
    ]
    create, revoke, tcreate, trevoke = got
    assert create.actor_id == team["member"].id and create.target == team["member"].email
    assert "Work laptop" in create.message and key.prefix in create.message
    assert "expires" in create.message
    assert create.details == {
        "key_id": key.id,
        "member_id": team["member"].id,
        "prefix": key.prefix,
    }
    assert revoke.actor_id == team["admin"].id and revoke.target == team["member"].email
    assert team["member"].name in revoke.message and "revoked" in revoke.message
    assert tcreate.actor_id == team["owner"].id and tcreate.details["scope"] == "read"
    assert "Finance" in tcreate.message and token.prefix in tcreate.message
    assert trevoke.actor_id == team["admin"].id and trevoke.details["token_id"] == token.id


def _in_rolled_back_transaction(fn) -> None:  # noqa: ANN001
    """Run `fn(session)` in a writer's transaction, then roll it back."""
    engine = get_engine().execution_options(kilo_write=True)
    with Session(engine, expire_on_commit=False) as s:
        fn(s)
        s.flush()
        s.rollback()


def test_audit_entries_share_the_changes_transaction(team):
    """Rolling back a change takes its audit entry with it, and the reverse: they commit
    together."""
    key, _ = new_key(team["member"])
    token, _ = new_token(team["admin"])
    before = len(entries())
    _in_rolled_back_transaction(lambda s: apikeys.create_api_key(s, actor=team["member"], name="x"))
    _in_rolled_back_transaction(
        lambda s: apikeys.revoke_api_key(s, actor=team["admin"], key_id=key.id)
    )
    _in_rolled_back_transaction(
        lambda s: apikeys.create_token(s, actor=team["admin"], name="y", scope="read")
    )
    _in_rolled_back_transaction(
        lambda s: apikeys.revoke_token(s, actor=team["admin"], token_id=token.id)
    )
    assert len(entries()) == before
    assert [r.id for r in list_keys(team["member"])] == [key.id]
    with read_session() as s:
        assert [t.id for t in apikeys.list_tokens(s, actor=team["admin"])] == [token.id]


# ---- removing a member ------------------------------------------------------------------------


def test_removing_a_member_revokes_their_keys(team):
    mine = [new_key(team["member"], f"k{n}")[0] for n in range(2)]
    already, _ = new_key(team["member"], "old")
    first_revoked = revoke_key(team["member"], already.id).revoked_at
    admins, _ = new_key(team["admin"])
    token, _ = new_token(team["admin"])
    with write_session() as s:
        members.remove_member(s, actor=team["admin"], member_id=team["member"].id)
    for key in mine:
        assert get_key(key.id).revoked_at is not None
    assert get_key(already.id).revoked_at == first_revoked  # untouched
    assert get_key(admins.id).revoked_at is None
    with read_session() as s:
        assert s.get(GatewayToken, token.id).revoked_at is None  # tokens are the organization's
    (removal,) = entries("organization.member.remove")
    assert removal.details["api_keys_revoked"] == 2 and "2 API keys revoked" in removal.message
    assert {
        r.status
        for r in list_keys(team["owner"], everyone=True, include_revoked=True)
        if r.member_id == team["member"].id
    } == {"revoked"}


def test_removing_a_member_without_keys_says_nothing_about_keys(team):
    with write_session() as s:
        members.remove_member(s, actor=team["admin"], member_id=team["member"].id)
    (removal,) = entries("organization.member.remove")
    assert removal.details["api_keys_revoked"] == 0 and "API key" not in removal.message


# ---- the organization's API tokens --------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin"])
@pytest.mark.parametrize("scope", ["gateway", "read"])
def test_owners_and_admins_create_list_and_revoke_tokens(team, role, scope):
    actor = team[role]
    token, secret = new_token(actor, scope, name="Production")
    assert secret.startswith(apikeys.TOKEN_PREFIXES[scope])
    assert (token.scope, token.created_by_id, token.org_id) == (scope, actor.id, actor.org_id)
    with write_session() as s:
        assert [t.id for t in apikeys.list_tokens(s, actor=actor)] == [token.id]
        assert apikeys.revoke_token(s, actor=actor, token_id=token.id).revoked_at is not None
    with read_session() as s:
        assert apikeys.list_tokens(s, actor=actor) == []


def test_members_cannot_see_create_or_revoke_tokens(team):
    token, _ = new_token(team["admin"])
    with pytest.raises(PermissionDenied, match="API tokens"):
        new_token(team["member"])
    with read_session() as s, pytest.raises(PermissionDenied):
        apikeys.list_tokens(s, actor=team["member"])
    with pytest.raises(PermissionDenied), write_session() as s:
        apikeys.revoke_token(s, actor=team["member"], token_id=token.id)
    with read_session() as s:
        assert s.get(GatewayToken, token.id).revoked_at is None
        assert len(s.exec(select(GatewayToken)).all()) == 1
    assert [e.action for e in entries()] == ["gateway.token.create"]


def test_the_system_actor_manages_tokens(team):
    system = system_actor(team["owner"].org_id)
    token, _ = new_token(system, "read")
    assert token.created_by_id is None
    with write_session() as s:
        assert apikeys.revoke_token(s, actor=system, token_id=token.id).revoked_at is not None


def test_token_scope_must_be_gateway_or_read(team):
    for scope in ("admin", "", "GATEWAY", "write"):
        with pytest.raises(ValidationError, match="scope"):
            new_token(team["owner"], scope)
    with read_session() as s:
        assert s.exec(select(GatewayToken)).all() == []


def test_tokens_of_another_organization_are_not_found_nor_listed(team, other_team):
    theirs, _ = new_token(other_team["owner"])
    with pytest.raises(NotFound), write_session() as s:
        apikeys.revoke_token(s, actor=team["owner"], token_id=theirs.id)
    with read_session() as s:
        assert apikeys.list_tokens(s, actor=team["owner"]) == []
        assert s.get(GatewayToken, theirs.id).revoked_at is None


def test_revoking_a_token_twice_writes_one_entry(team):
    token, _ = new_token(team["admin"])
    for _ in range(2):
        with write_session() as s:
            apikeys.revoke_token(s, actor=team["owner"], token_id=token.id)
    assert len(entries("gateway.token.revoke")) == 1


# ---- authenticate_token -------------------------------------------------------------------------


def authenticate(secret: str | None, scope: str) -> GatewayToken | None:
    with read_session() as s:
        return apikeys.authenticate_token(s, secret, scope=scope)


@pytest.mark.parametrize("scope", ["gateway", "read"])
def test_a_live_token_authenticates_for_its_own_scope_only(team, scope):
    token, secret = new_token(team["admin"], scope)
    found = authenticate(secret, scope)
    assert found is not None and found.id == token.id and found.org_id == team["admin"].org_id
    other = "read" if scope == "gateway" else "gateway"
    assert authenticate(secret, other) is None


def test_a_revoked_token_does_not_authenticate(team):
    token, secret = new_token(team["admin"])
    with write_session() as s:
        apikeys.revoke_token(s, actor=team["admin"], token_id=token.id)
    assert authenticate(secret, "gateway") is None


def test_a_wrong_secret_does_not_authenticate(team):
    token, secret = new_token(team["admin"])
    key, key_secret = new_key(team["member"])
    for bad in (
        None,
        "",
        secret[:-1],
        secret + "x",
        secret.upper(),
        "kilo_gw_" + "a" * 43,
        secret + "a" * apikeys.MAX_SECRET,  # over the length cap: not even looked up
        key_secret,  # a member's key is not a token
        token.token_hash,  # nor is the stored hash
    ):
        assert authenticate(bad, "gateway") is None, bad


def test_a_token_with_a_forged_scope_prefix_does_not_authenticate(team):
    """A gateway token's random part behind the read prefix is another secret."""
    _, secret = new_token(team["admin"], "gateway")
    assert authenticate("kilo_rd_" + secret.removeprefix("kilo_gw_"), "read") is None
