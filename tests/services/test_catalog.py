"""Catalogue import (real OpenRouter files), validation, new-model policy, filters, CLI."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import func, select

from kilo import access, catalog
from kilo.__main__ import main
from kilo.catalog import CatalogFilter
from kilo.errors import PermissionDenied, ValidationError
from kilo.models import AccessRule, AuditEntry, CatalogModel, Provider
from kilo.permissions import system_actor
from tests.factories import create_org, create_team

SHIPPED = catalog.CATALOG_DIR
MODELS = SHIPPED / "models.json"
PROVIDERS = SHIPPED / "providers.json"
POLICIES = SHIPPED / "provider-data-policies.json"


def _count(session, table) -> int:
    return session.exec(select(func.count()).select_from(table)).one()


def _import_all(session, actor, models=MODELS):
    return catalog.import_catalog(
        session, actor=actor, models_path=models, providers_path=PROVIDERS, policies_path=POLICIES
    )


def _operator(actor):
    """The server operator (command line) acting in the actor's organization."""
    return system_actor(actor.org_id)


def _write(tmp_path: Path, name: str, doc: object) -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def _git_blob_id(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_shipped_snapshot_matches_the_blob_ids_in_sources():
    sources = (SHIPPED / "SOURCES.md").read_text()
    for path in (MODELS, PROVIDERS, POLICIES):
        assert _git_blob_id(path) in sources, f"{path.name} differs from SOURCES.md"
    # The two OpenRouter files are the upstream blobs (see /work/shared/real/SOURCES.md).
    assert _git_blob_id(MODELS) == "4444ff340c1f1fa19bc0140c304b59a035ce2b5d"
    assert _git_blob_id(PROVIDERS) == "533ceb9af7c155afcd9d955e44587fc4fe045a99"


def test_import_real_openrouter_catalogue(session):
    team = create_team(session)
    result = _import_all(session, _operator(team["admin"]))
    session.commit()
    assert (result.models, result.providers) == (356, 82)
    assert len(result.new_models) == 356 and result.removed_models == []
    assert _count(session, CatalogModel) == 356 and _count(session, Provider) == 82

    sonnet = session.get(CatalogModel, "anthropic/claude-sonnet-4.5")
    assert sonnet.name == "Anthropic: Claude Sonnet 4.5"
    assert sonnet.prompt_price_mtok == Decimal("3") and sonnet.completion_price_mtok == Decimal(
        "15"
    )
    assert sonnet.providers == ["anthropic", "amazon-bedrock", "google-vertex"]
    assert "image" in sonnet.input_modalities and sonnet.context_length >= 200_000
    # "-1" means "varies" (routers): stored as unknown, not as a negative price.
    auto = session.get(CatalogModel, "openrouter/auto")
    assert auto.prompt_price_mtok is None and auto.providers == []
    # A ":free" variant costs nothing.
    free = session.exec(select(CatalogModel).where(CatalogModel.id.like("%:free"))).first()
    assert free.prompt_price_mtok == 0

    deepseek = session.get(Provider, "deepseek")
    assert deepseek.training is True and deepseek.headquarters == "CN"
    google = session.get(Provider, "google-ai-studio")
    assert google.retains_prompts is True and google.retention_days == 55
    # Unknown data policy stays unknown, never guessed.
    stealth = session.get(Provider, "stealth")
    assert (stealth.training, stealth.retains_prompts, stealth.can_publish) == (None, None, None)

    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "catalog.import")).one()
    assert entry.actor_id is None and "356 models (356 new" in entry.message
    assert entry.details["models"] == 356


def test_every_model_provider_exists_and_unknown_ones_are_empty(session):
    catalog.import_snapshot(session)
    slugs = {p.slug for p in session.exec(select(Provider)).all()}
    models = session.exec(select(CatalogModel)).all()
    assert all(set(m.providers) <= slugs for m in models)
    unknown = [m.id for m in models if not m.providers]
    assert "openrouter/auto" in unknown
    assert len(unknown) < 60  # the author map covers the main authors


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("{not json", "not valid JSON"),
        ({"models": []}, 'expected an object with a "data" list'),
        ({"data": []}, "empty"),
        ({"data": [{"name": "x"}]}, 'no model id of the form "author/name"'),
        ({"data": [{"id": "a/b", "pricing": {"prompt": "cheap"}}]}, "is not a number"),
        ({"data": [{"id": "a/b"}, {"id": "a/b"}]}, "appears twice"),
        ({"data": [{"id": "a/b", "context_length": "big"}]}, "context_length"),
        (
            {"data": [{"id": "a/b", "architecture": {"input_modalities": "text"}}]},
            "input_modalities",
        ),
    ],
)
def test_bad_models_file_is_rejected_and_catalogue_unchanged(session, tmp_path, doc, message):
    team = create_team(session)
    _import_all(session, _operator(team["admin"]))
    session.commit()
    before = (_count(session, CatalogModel), _count(session, AuditEntry))
    bad = _write(tmp_path, "bad.json", doc)
    with pytest.raises(ValidationError, match=message):
        catalog.import_catalog(session, actor=_operator(team["admin"]), models_path=bad)
    session.rollback()
    assert (_count(session, CatalogModel), _count(session, AuditEntry)) == before


def test_bad_providers_or_policies_file_is_rejected(session, tmp_path):
    team = create_team(session)
    bad_providers = _write(tmp_path, "p.json", {"data": [{"slug": "Bad Slug", "name": "x"}]})
    with pytest.raises(ValidationError, match="no valid slug"):
        catalog.import_catalog(
            session,
            actor=_operator(team["admin"]),
            models_path=MODELS,
            providers_path=bad_providers,
        )
    bad_policy = _write(tmp_path, "pol.json", {"providers": {"openai": {"training": "no"}}})
    with pytest.raises(ValidationError, match="true, false or null"):
        catalog.import_catalog(
            session,
            actor=_operator(team["admin"]),
            models_path=MODELS,
            providers_path=PROVIDERS,
            policies_path=bad_policy,
        )
    with pytest.raises(ValidationError, match="does not exist"):
        catalog.import_catalog(
            session, actor=_operator(team["admin"]), models_path=tmp_path / "none.json"
        )
    session.rollback()
    assert _count(session, CatalogModel) == 0 and _count(session, Provider) == 0


def test_new_models_follow_each_organizations_setting(session, tmp_path):
    open_org = create_org(session, auto_allow_new_models=True)
    strict_org = create_org(session, auto_allow_new_models=False)
    catalog.import_snapshot(session)
    session.commit()
    doc = json.loads(MODELS.read_text())
    gone = doc["data"].pop()["id"]
    new = dict(doc["data"][0], id="anthropic/claude-next", name="Anthropic: Claude Next")
    doc["data"].append(new)
    result = catalog.import_catalog(
        session, actor=system_actor(strict_org.id), models_path=_write(tmp_path, "models.json", doc)
    )
    session.commit()
    assert result.new_models == ["anthropic/claude-next"] and result.removed_models == [gone]
    assert session.get(CatalogModel, gone) is None
    assert access.is_model_allowed(session, open_org.id, "anthropic/claude-next").allowed
    verdict = access.is_model_allowed(session, strict_org.id, "anthropic/claude-next")
    assert not verdict.allowed and "disabled" in verdict.reason
    # Models the strict org already had are untouched.
    assert access.is_model_allowed(session, strict_org.id, "anthropic/claude-sonnet-4.5").allowed
    entries = session.exec(select(AuditEntry).where(AuditEntry.action == "catalog.import")).all()
    assert {e.org_id for e in entries} == {open_org.id, strict_org.id}
    strict_entry = next(e for e in entries if e.org_id == strict_org.id)
    assert "blocked until approved (1)" in strict_entry.message
    rule = session.exec(select(AccessRule).where(AccessRule.org_id == strict_org.id)).one()
    assert (rule.subject, rule.allowed) == ("anthropic/claude-next", False)


def test_import_refuses_to_drop_a_default_model(session, tmp_path):
    team = create_team(session, default_model="anthropic/claude-sonnet-4.5")
    catalog.import_snapshot(session)
    session.commit()
    doc = json.loads(MODELS.read_text())
    doc["data"] = [m for m in doc["data"] if m["id"] != "anthropic/claude-sonnet-4.5"]
    with pytest.raises(ValidationError, match="default model"):
        catalog.import_catalog(
            session, actor=_operator(team["owner"]), models_path=_write(tmp_path, "m.json", doc)
        )
    session.rollback()
    assert session.get(CatalogModel, "anthropic/claude-sonnet-4.5") is not None


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_no_member_of_any_organization_may_import(session, tmp_path, role):
    """The catalogue is shared: org A's admin must not rewrite org B's training policies."""
    team_a = create_team(session)
    team_b = create_team(session, code_training_opt_out=True)
    catalog.import_snapshot(session)
    session.commit()
    assert session.get(Provider, "deepseek").training is True
    assert not access.is_model_allowed(
        session, team_b["owner"].org_id, "deepseek/deepseek-v3.2", "deepseek"
    ).allowed
    policies = _write(tmp_path, "policies.json", {"providers": {"deepseek": {"training": False}}})
    before = _count(session, AuditEntry)
    with pytest.raises(PermissionDenied, match="No role can import the model catalogue"):
        catalog.import_catalog(
            session, actor=team_a[role], models_path=MODELS, policies_path=policies
        )
    session.rollback()
    assert session.get(Provider, "deepseek").training is True
    assert _count(session, AuditEntry) == before
    # The server operator (command line) may, and every organization's log records it.
    catalog.import_catalog(
        session, actor=_operator(team_a["owner"]), models_path=MODELS, policies_path=policies
    )
    session.commit()
    assert session.get(Provider, "deepseek").training is False
    entries = session.exec(select(AuditEntry).where(AuditEntry.action == "catalog.import")).all()
    assert {e.org_id for e in entries} == {team_a["owner"].org_id, team_b["owner"].org_id}
    assert all(e.actor_id is None for e in entries)


def test_startup_loads_the_shipped_catalogue_only_into_an_empty_one(session, tmp_path):
    strict = create_org(session, auto_allow_new_models=False)
    session.commit()
    result = catalog.load_shipped_if_empty(session)
    session.commit()
    assert result is not None and result.models == 356 and result.blocked_new == {strict.id: 0}
    # The first catalogue blocks nothing, even where new models wait for approval.
    assert access.is_model_allowed(session, strict.id, "anthropic/claude-sonnet-4.5").allowed
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "catalog.import")).one()
    assert entry.org_id == strict.id and entry.actor_name == catalog.STARTUP_ACTOR
    # A catalogue the operator imported is never replaced at start-up.
    doc = json.loads(MODELS.read_text())
    doc["data"] = doc["data"][:50]
    catalog.import_catalog(
        session, actor=system_actor(strict.id), models_path=_write(tmp_path, "m.json", doc)
    )
    session.commit()
    assert catalog.load_shipped_if_empty(session) is None
    assert _count(session, CatalogModel) == 50


def test_cli_import_and_bad_file(db_url, tmp_path, capsys):
    assert (
        main(
            [
                "catalog",
                "import",
                str(MODELS),
                "--providers",
                str(PROVIDERS),
                "--policies",
                str(POLICIES),
            ]
        )
        == 0
    )
    assert "356 models" in capsys.readouterr().out
    bad = _write(tmp_path, "bad.json", '{"data": [{"id": "x/y", "pricing": {"prompt": "?"}}]}')
    assert main(["catalog", "import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "x/y" in err and "not a number" in err
    # Re-importing the same file changes nothing but the import time.
    assert main(["catalog", "import", str(MODELS)]) == 0
    assert "0 new, 0 removed" in capsys.readouterr().out


# ---- filters --------------------------------------------------------------------------


@pytest.fixture
def rows(session):
    team = create_team(session)
    catalog.import_snapshot(session)
    session.commit()
    owner = team["owner"]
    providers = access.list_provider_rows(session, actor=owner)
    models = access.list_model_rows(session, actor=owner)
    return providers, models, {p.slug: p for p in providers}


def test_provider_filters(rows):
    providers, _, _ = rows
    f = catalog.filter_providers
    assert {p.slug for p in f(providers, CatalogFilter(training="yes"))} == {"deepseek", "nvidia"}
    no_training = f(providers, CatalogFilter(training="no"))
    assert len(no_training) == 68  # 70 known minus 2 that train; unknown matches only "any"
    assert all(p.training is False for p in no_training)
    retains = f(providers, CatalogFilter(retains_prompts="yes"))
    assert len(retains) == 31 and all(p.retains_prompts for p in retains)
    assert f(providers, CatalogFilter(can_publish="yes")) == []
    assert len(f(providers, CatalogFilter())) == 82
    cn = f(providers, CatalogFilter(headquarters=("CN",)))
    assert cn and all(p.headquarters == "CN" for p in cn)
    fi = f(providers, CatalogFilter(datacenters=("FI",)))
    assert fi and all("FI" in p.datacenters for p in fi)
    assert [p.slug for p in f(providers, CatalogFilter(search="ANTHROP"))] == ["anthropic"]
    # Under the opt-out (default on), training providers are not usable.
    usable = f(providers, CatalogFilter(enabled_only=True))
    assert {"deepseek", "nvidia"}.isdisjoint(p.slug for p in usable) and len(usable) == 80


def test_model_filters(rows):
    _, models, by_slug = rows

    def ids(**kw):
        return {m.id for m in catalog.filter_models(models, CatalogFilter(**kw), by_slug)}

    assert len(ids()) == 356
    audio_out = ids(output_modalities=("audio",))
    assert audio_out and all("audio" in m.output_modalities for m in models if m.id in audio_out)
    vision = ids(input_modalities=("image", "file"))
    assert "anthropic/claude-sonnet-4.5" in vision
    big = ids(context_min=1_000_000)
    assert big and all(m.context_length >= 1_000_000 for m in models if m.id in big)
    small = ids(context_max=8192)
    assert all(m.context_length <= 8192 for m in models if m.id in small)
    cheap = ids(price_min=Decimal(0), price_max=Decimal("0.5"))
    assert "openrouter/auto" not in cheap  # unknown price is excluded once a range is set
    assert all(Decimal(0) <= m.prompt_price_mtok <= Decimal("0.5") for m in models if m.id in cheap)
    pricey_output = ids(price_min=Decimal(60), price_of="completion")
    assert all(m.completion_price_mtok >= 60 for m in models if m.id in pricey_output)
    # Provider criteria: a model matches when one of its providers matches.
    training = ids(training="yes")
    assert "deepseek/deepseek-v3.2" in training and "anthropic/claude-sonnet-4.5" not in training
    us_hq = ids(headquarters=("US",))
    assert "anthropic/claude-sonnet-4.5" in us_hq and "openrouter/auto" not in us_hq
    assert ids(search="sonnet-4.5") >= {"anthropic/claude-sonnet-4.5"}
    usable = ids(enabled_only=True)
    assert "openrouter/auto" not in usable and "anthropic/claude-sonnet-4.5" in usable


def test_filter_rejects_bad_choice():
    with pytest.raises(ValidationError):
        CatalogFilter(training="maybe")
