"""Enforcement: is_model_allowed, rules and wildcards, opt-out, default model, audit diff."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import func, select

from kilo import access, catalog, organization
from kilo.access import MODEL, PROVIDER, AccessChange, rule_state
from kilo.errors import PermissionDenied, ValidationError
from kilo.models import AccessRule, AuditEntry, Organization
from tests.factories import create_team

SONNET = "anthropic/claude-sonnet-4.5"
DEEPSEEK = "deepseek/deepseek-v3.2"


@pytest.fixture
def team(session):
    team = create_team(session, default_model=SONNET, code_training_opt_out=False)
    catalog.import_snapshot(session)
    session.commit()
    return team


def allowed(session, team, model_id, provider=None):
    return access.is_model_allowed(session, team["owner"].org_id, model_id, provider)


def change(session, actor, **kw):
    result = access.change_access(session, actor=actor, change=AccessChange(**kw))
    session.commit()
    return result


def audit_entries(session, action="organization.model_access.change"):
    return session.exec(
        select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
    ).all()


def test_no_rules_allows_everything_served(session, team):
    assert allowed(session, team, SONNET) == access.Verdict(True, "")
    assert allowed(session, team, SONNET, "amazon-bedrock").allowed
    verdict = allowed(session, team, "acme/not-a-model")
    assert not verdict and verdict.reason == "model acme/not-a-model is not in the catalogue"
    assert "no provider in the catalogue" in allowed(session, team, "openrouter/auto").reason
    assert "not in the catalogue" in allowed(session, team, SONNET, "nobody").reason


def test_disabled_model_and_provider_reasons(session, team):
    admin = team["admin"]
    change(session, admin, disable_models=("openai/gpt-5.4",))
    assert allowed(session, team, "openai/gpt-5.4").reason == "model openai/gpt-5.4 is disabled"
    change(session, admin, disable_providers=("anthropic",))
    # Still served through Bedrock and Vertex; but not through Anthropic itself.
    assert allowed(session, team, SONNET).allowed
    assert allowed(session, team, SONNET, "anthropic").reason == "provider Anthropic is disabled"
    change(session, admin, disable_providers=("xai",))
    assert allowed(session, team, "x-ai/grok-4.3").reason == "provider xAI is disabled"


def test_wildcards_and_exact_exceptions(session, team):
    admin = team["admin"]
    change(session, admin, patterns=((MODEL, "openai/*", False),))
    assert not allowed(session, team, "openai/gpt-5.4")
    assert "disabled" in allowed(session, team, "openai/gpt-5.4-mini").reason
    assert allowed(session, team, SONNET)
    # An exact rule beats the pattern.
    change(session, admin, enable_models=("openai/gpt-5.4-mini",))
    assert allowed(session, team, "openai/gpt-5.4-mini")
    assert not allowed(session, team, "openai/gpt-5.4")
    # A more specific pattern beats a broader one; equal specificity: disable wins.
    rules = {(MODEL, "*"): False, (MODEL, "openai/gpt-5*"): True}
    assert rule_state(rules, MODEL, "openai/gpt-5.4") and not rule_state(rules, MODEL, "x/y")
    assert not rule_state({(MODEL, "a/*"): True, (MODEL, "*/b"): False}, MODEL, "a/b")
    # Removing the pattern restores everything except what is exact-ruled.
    change(session, admin, patterns=((MODEL, "openai/*", None),))
    assert allowed(session, team, "openai/gpt-5.4")
    messages = [e.message for e in audit_entries(session)]
    assert (
        messages[0].startswith("Disabled models: openai/")
        and "Rules: model openai/* → disabled" in messages[0]
    )
    assert messages[1] == "Enabled models: openai/gpt-5.4-mini"
    assert "Rules: model openai/* → rule removed" in messages[2]


def test_provider_wildcard(session, team):
    change(session, team["admin"], patterns=((PROVIDER, "google-*", False),))
    verdict = allowed(session, team, "google/gemini-2.5-pro")
    assert not verdict and "provider Google is disabled" in verdict.reason
    assert "AI Studio is disabled" in verdict.reason


def test_code_training_opt_out_excludes_training_providers(session, team):
    org = session.get(Organization, team["owner"].org_id)
    assert allowed(session, team, DEEPSEEK, "deepseek")
    org.code_training_opt_out = True
    session.add(org)
    session.commit()
    verdict = allowed(session, team, DEEPSEEK, "deepseek")
    assert verdict.reason == "provider DeepSeek may train on data and code-training opt-out is on"
    assert allowed(session, team, DEEPSEEK)  # other hosts do not train
    rows = {p.slug: p for p in access.list_provider_rows(session, actor=team["member"])}
    assert rows["deepseek"].enabled and not rows["deepseek"].allowed
    summary = access.get_summary(session, actor=team["member"])
    assert summary.training_providers == ["DeepSeek", "Nvidia"]


def test_default_model_must_stay_allowed(session, team):
    admin = team["admin"]
    rules_before = session.exec(select(func.count()).select_from(AccessRule)).one()
    for kw in (
        {"disable_models": (SONNET,)},
        {"patterns": ((MODEL, "anthropic/*", False),)},
        {"disable_providers": ("anthropic", "amazon-bedrock", "google-vertex")},
    ):
        preview = access.preview_access_change(session, actor=admin, change=AccessChange(**kw))
        assert "default model anthropic/claude-sonnet-4.5" in preview.problem
        with pytest.raises(ValidationError, match="Choose another default model"):
            access.change_access(session, actor=admin, change=AccessChange(**kw))
        session.rollback()
    assert session.exec(select(func.count()).select_from(AccessRule)).one() == rules_before
    assert audit_entries(session) == []
    # Two of three providers may go: the default model is still served.
    change(session, admin, disable_providers=("anthropic", "amazon-bedrock"))
    assert allowed(session, team, SONNET)


def test_bulk_preview_then_apply_writes_one_audit_entry(session, team):
    admin = team["admin"]
    change(session, admin, disable_models=("qwen/qwen3-coder",))
    qwen = tuple(m.id for m in catalog.list_models(session) if m.author == "qwen")
    preview = access.preview_access_change(
        session, actor=admin, change=AccessChange(disable_models=qwen)
    )
    assert preview.unchanged == 1 and len(preview.disabled_models) == len(qwen) - 1
    assert "qwen/qwen3-coder" in qwen and "qwen/qwen3-coder" not in preview.newly_blocked
    assert preview.problem == "" and len(preview.newly_blocked) == len(qwen) - 1
    assert len(audit_entries(session)) == 1  # the preview wrote nothing
    applied = change(session, admin, disable_models=qwen)
    entries = audit_entries(session)
    assert len(entries) == 2
    assert entries[-1].message.startswith("Disabled models: qwen/")
    assert entries[-1].message.endswith(f"and {len(qwen) - 1 - 15} more")
    assert len(entries[-1].details["disabled_models"]) == len(applied.disabled_models)
    with pytest.raises(ValidationError, match="Nothing to change"):
        access.change_access(session, actor=admin, change=AccessChange(disable_models=qwen))
    session.rollback()
    # Enabling again removes the rules rather than piling up allow rules.
    change(session, admin, enable_models=qwen)
    assert session.exec(select(func.count()).select_from(AccessRule)).one() == 0


def test_unknown_subjects_and_bad_patterns_are_refused(session, team):
    admin = team["admin"]
    for kw, msg in [
        ({"disable_models": ("nope/x",)}, "not in the catalogue"),
        ({"enable_providers": ("nope",)}, "not in the catalogue"),
        ({"patterns": ((MODEL, "has space/*", False),)}, "not a valid rule"),
        ({"enable_models": (SONNET,), "disable_models": (SONNET,)}, "both"),
    ]:
        with pytest.raises(ValidationError, match=msg):
            access.change_access(session, actor=admin, change=AccessChange(**kw))
        session.rollback()


def test_members_can_view_but_not_change(session, team):
    member = team["member"]
    assert len(access.list_model_rows(session, actor=member)) == 356
    with pytest.raises(PermissionDenied):
        access.change_access(
            session, actor=member, change=AccessChange(disable_models=("openai/gpt-5.4",))
        )
    with pytest.raises(PermissionDenied):
        access.preview_access_change(session, actor=member, change=AccessChange())
    with pytest.raises(PermissionDenied):
        access.set_new_model_policy(session, actor=member, auto_allow=False)


def test_new_model_policy_setting_is_audited(session, team):
    access.set_new_model_policy(session, actor=team["owner"], auto_allow=False)
    session.commit()
    org = session.get(Organization, team["owner"].org_id)
    assert org.auto_allow_new_models is False
    entry = audit_entries(session)[-1]
    assert entry.message == "New models: allowed automatically → blocked until approved"


def test_allowed_model_ids_agrees_with_the_single_check(session, team):
    change(
        session, team["admin"], disable_providers=("mistral",), patterns=((MODEL, "*:free", False),)
    )
    org_id = team["owner"].org_id
    ids = set(access.allowed_model_ids(session, org_id=org_id))
    for m in catalog.list_models(session):
        assert (m.id in ids) == access.is_model_allowed(session, org_id, m.id).allowed


def test_default_model_setting_uses_the_same_check(session, team):
    change(session, team["admin"], disable_models=("openai/gpt-5.4",))
    with pytest.raises(ValidationError, match="model openai/gpt-5.4 is disabled"):
        organization.set_default_model(session, actor=team["admin"], model_id="openai/gpt-5.4")


# ---- rule algebra (no database) -------------------------------------------------------

SUBJECTS = ["a/x", "a/y", "b/x", "b/y:free"]
PATTERNS = ["a/*", "*/x", "*", "*:free", "b/*"]


@given(
    rules=st.dictionaries(
        st.tuples(st.just(MODEL), st.sampled_from(SUBJECTS + PATTERNS)), st.booleans()
    ),
    subject=st.sampled_from(SUBJECTS),
    want=st.booleans(),
)
def test_setting_one_subject_changes_only_that_subject(rules, subject, want):
    before = {s: rule_state(rules, MODEL, s) for s in SUBJECTS}
    new = access.RuleSet(rules)
    access.set_exact(new, MODEL, subject, want)
    assert rule_state(new, MODEL, subject) is want
    assert {s: rule_state(new, MODEL, s) for s in SUBJECTS if s != subject} == {
        s: v for s, v in before.items() if s != subject
    }
    # Minimal: an exact rule is only kept when the patterns alone would disagree.
    if (MODEL, subject) in new:
        without = {k: v for k, v in new.items() if k != (MODEL, subject)}
        assert rule_state(without, MODEL, subject) is not want


POOLSIDE = "poolside/laguna-xs.2:free"  # author "poolside" is a catalogue provider, not listed


def test_a_model_without_listed_providers_is_served_by_its_author_when_a_provider(session, team):
    from kilo.models import CatalogModel

    stored = session.get(CatalogModel, POOLSIDE)
    assert stored.providers == []  # the import lists none: inferred when access is evaluated
    assert access.serving_providers(POOLSIDE, [], {"poolside", "openai"}) == (("poolside",), True)
    assert access.serving_providers("~poolside/x", [], {"poolside"}) == (("poolside",), True)
    assert access.serving_providers(SONNET, ["anthropic"], {"anthropic"}) == (("anthropic",), False)
    assert access.serving_providers("nobody/x", [], {"poolside"}) == ((), False)

    # The gateway's check and the tab's rows agree, and follow the provider's rules.
    assert allowed(session, team, POOLSIDE).allowed
    rows = {r.id: r for r in access.list_model_rows(session, actor=team["owner"])}
    assert rows[POOLSIDE].allowed and rows[POOLSIDE].providers == ("poolside",)
    assert rows[POOLSIDE].providers_inferred and not rows[SONNET].providers_inferred
    change(session, team["admin"], disable_providers=("poolside",))
    verdict = allowed(session, team, POOLSIDE)
    assert not verdict and verdict.reason == "provider Poolside is disabled"
    rows = {r.id: r for r in access.list_model_rows(session, actor=team["owner"])}
    assert not rows[POOLSIDE].allowed
    assert POOLSIDE not in access.allowed_model_ids(session, org_id=team["owner"].org_id)
    # An author that is no catalogue provider infers nothing: usable only through a
    # provider the gateway names.
    assert "no provider in the catalogue" in allowed(session, team, "microsoft/phi-4").reason
    assert allowed(session, team, "microsoft/phi-4", "azure").allowed
