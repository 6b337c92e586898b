"""The one decision function: every refusal code, the allowances, and that access changes
take effect on the next decision."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from kilo import access, apikeys, billing, members, organization, usage
from kilo.db import read_session, write_session
from kilo.gateway import STATUS, check_request_fields, clear_verdicts, decide, policy_version
from kilo.models import Member, Organization, Provider, utcnow
from kilo.permissions import system_actor

MODEL = "anthropic/claude-sonnet-4.5"


def _actor(username: str):  # noqa: ANN202
    with read_session() as s:
        return members.actor_for(members.get_member_by_username(s, username))


@pytest.fixture
def key(demo_url) -> str:
    with write_session() as s:
        _, secret = apikeys.create_api_key(s, actor=_actor("member"), name="laptop")
    return secret


def _decide(secret: str, model: str = MODEL, provider: str | None = None, org_id: int = 0):  # noqa: ANN202
    with read_session() as s:
        org_id = org_id or s.exec(select(Organization.id)).first()
        return decide(s, org_id=org_id, api_key=secret, model=model, provider=provider)


def test_an_allowed_request_carries_member_allowance_and_balance(key):
    d = _decide(key, provider="anthropic")
    assert d.allowed and d.status == 200 and d.code == ""
    assert d.member_email == _actor("member").email
    with read_session() as s:
        assert d.balance_micros == billing.balance_micros(s, org_id=d.org_id)
    assert d.touch  # first use: the caller records it


@pytest.mark.parametrize("secret", ["", "sk-other", "kilo_sk_" + "x" * 43, "kilo_sk_" + "x" * 500])
def test_unknown_keys_are_invalid(demo_url, secret):
    d = _decide(secret)
    assert (d.allowed, d.code, d.status) == (False, "invalid_key", 401)


def test_another_organizations_key_is_invalid_here(key):
    with write_session() as s:
        other = Organization(name="Other Co")
        s.add(other)
        s.flush()
        other_id = other.id
    assert _decide(key, org_id=other_id).code == "invalid_key"


def test_revoked_and_expired_keys(demo_url):
    member = _actor("member")
    with write_session() as s:
        k1, revoked = apikeys.create_api_key(s, actor=member, name="old")
        k2, expiring = apikeys.create_api_key(
            s, actor=member, name="short", expires_at=utcnow() + timedelta(hours=1)
        )
    with write_session() as s:
        apikeys.revoke_api_key(s, actor=_actor("admin"), key_id=k1.id)
        row = s.get(type(k2), k2.id)
        row.expires_at = utcnow() - timedelta(seconds=1)
        s.add(row)
    assert _decide(revoked).code == "key_revoked"
    d = _decide(expiring)
    assert d.code == "key_revoked" and "expired" in d.message


def test_a_removed_members_key_is_refused(key):
    with write_session() as s:
        members.remove_member(s, actor=_actor("owner"), member_id=_actor("member").id)
    d = _decide(key)
    assert (d.code, d.status) == ("member_removed", 401)


def test_model_access_changes_take_effect_at_once(key):
    owner = _actor("owner")
    with read_session() as s:
        default = s.exec(select(Organization.default_model)).first()
        other = next(m for m in access.allowed_model_ids(s, org_id=owner.org_id) if m != default)
    assert _decide(key, model=other).allowed
    with write_session() as s:
        access.change_access(s, actor=owner, change=access.AccessChange(disable_models=(other,)))
    d = _decide(key, model=other)
    assert (d.code, d.status) == ("model_not_allowed", 403)
    assert f"Model {other} is not allowed for Acme Robotics" in d.message
    assert "Model Access" in d.message
    with write_session() as s:
        access.change_access(s, actor=owner, change=access.AccessChange(enable_models=(other,)))
    assert _decide(key, model=other).allowed
    assert _decide(key, model="nobody/no-such-model").code == "model_not_allowed"


def test_a_disabled_provider_is_refused(key):
    with write_session() as s:
        access.change_access(
            s, actor=_actor("owner"), change=access.AccessChange(disable_providers=("anthropic",))
        )
    assert _decide(key, provider="anthropic").code == "provider_not_allowed"
    assert _decide(key, provider="no-such-provider").code == "provider_not_allowed"


def test_the_code_training_opt_out_refuses_training_providers(key):
    with write_session() as s:
        trainer = s.exec(select(Provider).where(Provider.training.is_(True))).first()
        assert trainer is not None, "the catalogue has a provider whose policy allows training"
        org = s.exec(select(Organization)).first()
        assert org.code_training_opt_out
        trainer_slug = trainer.slug
    d = _decide(key, provider=trainer_slug)
    assert (d.code, d.status) == ("provider_trains_on_data", 403)
    with write_session() as s:
        organization.set_policies(s, actor=_actor("owner"), code_training_opt_out=False)
    assert _decide(key, provider=trainer_slug).code != "provider_trains_on_data"


def test_a_model_served_only_by_training_providers_is_refused_with_the_reason(key):
    with write_session() as s:
        trainers = [
            p.slug for p in s.exec(select(Provider).where(Provider.training.is_(True))).all()
        ]
    verdict = access.evaluate(
        access.RuleSet({}),
        type("M", (), {"providers": trainers[:2]})(),
        "some/model",
        {slug: type("P", (), {"name": slug, "training": True})() for slug in trainers[:2]},
        True,
    )
    assert (verdict.allowed, verdict.code) == (False, "provider_trains_on_data")


def test_the_daily_limit_counts_todays_utc_spend(key):
    member = _actor("member")
    with write_session() as s:
        members.update_member(
            s, actor=_actor("owner"), member_id=member.id, daily_spend_limit_micros=1_000_000
        )
    before = _decide(key)
    assert before.allowed and before.daily_limit_micros == 1_000_000
    spent = before.spent_today_micros
    with write_session() as s:
        usage.record_usage(
            s,
            actor=system_actor(member.org_id, "Gateway"),
            member_id=member.id,
            model_id=MODEL,
            provider="anthropic",
            input_tokens=10,
            output_tokens=10,
            cost_usd="1.000001",
            latency_ms=100,
            external_id="over-the-limit",
        )
    d = _decide(key)
    assert (d.code, d.status) == ("daily_limit_reached", 429)
    assert d.spent_today_micros == spent + 1_000_001 and d.remaining_today_micros == 0
    assert "$1.00" in d.message and "UTC" in d.message


def test_no_credits_is_refused(key):
    with read_session() as s:
        org_id = s.exec(select(Organization.id)).first()
        balance = billing.balance_micros(s, org_id=org_id)
    with write_session() as s:
        billing.add_ledger_entry(
            s,
            actor=_actor("owner"),
            kind="adjustment",
            amount_micros=-balance,
            description="test: spend it all",
        )
    d = _decide(key)
    assert (d.code, d.status, d.balance_micros) == ("insufficient_credits", 402, 0)


def test_every_refusal_code_has_a_status():
    assert set(STATUS) == {
        "invalid_key",
        "key_revoked",
        "member_removed",
        "model_not_allowed",
        "provider_not_allowed",
        "provider_trains_on_data",
        "daily_limit_reached",
        "budget_exhausted",
        "insufficient_credits",
    }


@pytest.mark.parametrize(
    ("model", "provider", "mode", "problem"),
    [
        (None, None, None, "model"),
        ("", None, None, "model"),
        ("x" * 201, None, None, "model"),
        ("a b", None, None, "model"),
        (MODEL, 5, None, "provider"),
        (MODEL, "ok", "Code!", "mode"),
        (MODEL, "anthropic", "code", None),
    ],
)
def test_request_fields_are_bounded(model, provider, mode, problem):
    found = check_request_fields(model, provider, mode)
    assert (found is None) if problem is None else (problem in found)


def test_decide_reads_only(key):
    """The decision takes no write lock: last use is recorded apart (apikeys.mark_used)."""
    d = _decide(key)
    with write_session() as s:
        apikeys.mark_used(s, key_id=d.key_id)
    assert not _decide(key).touch
    with read_session() as s:
        assert s.exec(select(Member)).first() is not None


def _org_id() -> int:
    with read_session() as s:
        return s.exec(select(Organization.id)).first()


def _version() -> int:
    with read_session() as s:
        return policy_version(s, _org_id())


def _not_default() -> str:
    """An allowed model other than the default one (which cannot be disabled)."""
    with read_session() as s:
        default = s.exec(select(Organization.default_model)).first()
        return next(m for m in access.allowed_model_ids(s, org_id=_org_id()) if m != default)


def test_the_policy_version_grows_with_policy_changes_only(key):
    model = _not_default()
    before = _version()
    d = _decide(key, model=model)
    assert d.allowed and d.policy_version == before > 0
    member = _actor("member")
    with write_session() as s:  # spending is not a policy change
        usage.record_usage(
            s,
            actor=system_actor(member.org_id, "Gateway"),
            member_id=member.id,
            model_id=MODEL,
            provider="anthropic",
            input_tokens=1,
            output_tokens=1,
            cost_usd="0.000001",
            latency_ms=1,
        )
    assert _version() == before
    with write_session() as s:
        access.change_access(
            s, actor=_actor("owner"), change=access.AccessChange(disable_models=(model,))
        )
    disabled = _version()
    assert disabled > before
    refused = _decide(key, model=model)
    assert (refused.code, refused.policy_version) == ("model_not_allowed", disabled)
    with write_session() as s:
        key_id = apikeys.list_api_keys(s, actor=member)[0].id
        apikeys.revoke_api_key(s, actor=member, key_id=key_id)
    revoked = _version()
    assert revoked > disabled
    assert (_decide(key).code, _decide(key).policy_version) == ("key_revoked", revoked)
    assert _decide("kilo_sk_unknown").policy_version == revoked  # refusals carry it too


def test_kept_verdicts_serve_until_the_policy_changes(key, monkeypatch):
    """The model-access verdict is kept per policy version: asked once while nothing
    changes, and a model disabled in between is refused on the very next decision."""
    model = _not_default()
    clear_verdicts()
    calls = []
    real = access.is_model_allowed

    def counting(*args, **kwargs):  # noqa: ANN202
        calls.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(access, "is_model_allowed", counting)
    assert all(_decide(key, model=model).allowed for _ in range(3))
    assert calls == [model]
    with write_session() as s:
        access.change_access(
            s, actor=_actor("owner"), change=access.AccessChange(disable_models=(model,))
        )
    assert _decide(key, model=model).code == "model_not_allowed"
    assert calls == [model, model]
    with write_session() as s:
        organization.set_policies(s, actor=_actor("owner"), code_training_opt_out=False)
    assert _decide(key, model=model).code == "model_not_allowed"  # still disabled: asked again
    assert len(calls) == 3


def test_policy_version_of_an_organization_without_entries(db_url):
    with write_session() as s:
        org = Organization(name="Empty Co")
        s.add(org)
        s.flush()
        assert policy_version(s, org.id) == 0
