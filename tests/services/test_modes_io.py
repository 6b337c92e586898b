"""Modes import/export in Kilo Code's `customModes` format: real files, round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from kilo import modes
from kilo.errors import ValidationError
from kilo.models import AuditEntry, Mode
from kilo.modes import ModeConfig
from tests.factories import create_team

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
REAL_FILES = {"modes-1.yaml": 7, "modes-2.json": 2, "modes-3.yaml": 5}


def _real(name: str) -> str:
    path = REAL / name
    return path.read_text(encoding="utf-8")


@pytest.fixture
def team(session):
    team = create_team(session)
    session.commit()
    return team


def _audit(session, org_id):
    return session.exec(
        select(AuditEntry).where(AuditEntry.org_id == org_id).order_by(AuditEntry.id)
    ).all()


@pytest.mark.parametrize("name", sorted(REAL_FILES))
def test_real_files_parse_completely(name):
    parsed = modes.parse_document(_real(name))
    assert parsed.problems == []
    assert len(parsed.modes) == REAL_FILES[name]


def test_real_file_details_survive():
    roo = {m.slug: m for m in modes.parse_document(_real("modes-1.yaml")).modes}
    assert roo["translate"].name == "🌐 Translate"
    assert roo["translate"].groups[2] == [
        "edit",
        {
            "fileRegex": r"(.*\.(md|ts|tsx|js|jsx)$|.*\.json$)",
            "description": "Source code, translation files, and documentation",
        },
    ]
    assert "<initialization>" in roo["issue-writer"].role_definition
    kilo_json = {m.slug: m for m in modes.parse_document(_real("modes-2.json")).modes}
    regex = kilo_json["translate"].groups[1][1]["fileRegex"]
    assert regex == r"(src/i18n/locales/|src/package\.nls(\.\w+(-\w+)?)?\.json)"
    assert modes.can_edit_file(kilo_json["translate"], "src/package.nls.de.json")
    assert modes.can_edit_file(kilo_json["test"], "src/__tests__/x.ts")
    docs = {m.slug: m for m in modes.parse_document(_real("modes-3.yaml")).modes}["docs-specialist"]
    assert docs.groups[2][1]["fileRegex"] == r"\.(md|mdx|txt|rst|adoc)$|README$|CHANGELOG$"
    assert modes.can_edit_file(docs, "CHANGELOG") and not modes.can_edit_file(docs, "main.py")
    assert docs.role_definition.endswith("well-structured docs.\n")


@pytest.mark.parametrize("name", sorted(REAL_FILES))
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_real_files_import_then_export_then_import_is_lossless(session, team, name, fmt):
    admin = team["admin"]
    plan = modes.import_modes(session, actor=admin, text=_real(name))
    assert plan.count("create") == REAL_FILES[name]
    session.commit()
    exported = modes.export_modes(session, actor=admin, fmt=fmt)
    assert modes.parse_document(exported).modes == modes.parse_document(_real(name)).modes
    again = modes.plan_import(session, actor=admin, text=exported)
    assert again.ok and {i.action for i in again.items} == {"unchanged"}
    entries = _audit(session, admin.org_id)
    assert [e.action for e in entries] == ["organization.mode.create"] * REAL_FILES[name]
    assert all(e.message.endswith("(import)") for e in entries)
    assert all(e.details["source"] == "import" for e in entries)


def test_yaml_export_looks_like_kilo_code(session, team):
    modes.import_modes(session, actor=team["admin"], text=_real("modes-3.yaml"))
    text = modes.export_modes(session, actor=team["member"], fmt="yaml")
    assert text.startswith("customModes:\n  - slug: test-engineer\n")  # the file's order
    assert (
        "      - - edit\n        - fileRegex: \\.(md|mdx|txt|rst|adoc)$|README$|CHANGELOG$\n"
        "          description: Documentation files only\n" in text
    )
    assert "roleDefinition: |\n" in text  # multi-line text as a block, trailing newline kept
    data = json.loads(modes.export_modes(session, actor=team["member"], fmt="json"))
    assert data["customModes"][3]["groups"] == ["read", "browser"]


def test_import_preview_then_update_and_builtin_override(session, team):
    admin = team["admin"]
    modes.create_mode(
        session, actor=admin, mode=ModeConfig("test-engineer", "Old", "Old role", groups=["read"])
    )
    doc = _real("modes-3.yaml") + (
        "  - slug: architect\n    name: Architect\n    roleDefinition: Plan only.\n"
        "    groups: [read]\n"
    )
    plan = modes.plan_import(session, actor=admin, text=doc)
    actions = {i.slug: (i.kind, i.action) for i in plan.items}
    assert actions["test-engineer"] == ("custom", "update")
    assert actions["code-skeptic"] == ("custom", "create")
    assert actions["architect"] == ("built-in", "update")
    assert plan.ignored == ["source"]
    assert set(next(i for i in plan.items if i.slug == "test-engineer").changed) == {
        "name",
        "roleDefinition",
        "groups",
        "customInstructions",
    }
    session.commit()
    assert session.exec(select(Mode)).all()[0].name == "Old"  # a preview changes nothing
    modes.import_modes(session, actor=admin, text=doc)
    arch = modes.get_mode(session, actor=admin, slug="architect")
    assert arch.overridden and arch.role_definition == "Plan only."
    # Exporting adjusted built-ins lets another organization take them over unchanged.
    exported = modes.export_modes(session, actor=admin, fmt="yaml")
    other = create_team(session)
    modes.import_modes(session, actor=other["admin"], text=exported)
    assert [m.to_kilo() for m in modes.effective_modes(session, actor=other["member"])] == [
        m.to_kilo() for m in modes.effective_modes(session, actor=team["member"])
    ]


def test_full_export_includes_enabled_builtins_and_reimports_unchanged(session, team):
    admin = team["admin"]
    modes.set_builtin_disabled(session, actor=admin, slug="debug", disabled=True)
    text = modes.export_modes(session, actor=admin, fmt="json", include_builtins=True)
    slugs = [m["slug"] for m in json.loads(text)["customModes"]]
    assert slugs == ["architect", "code", "ask", "orchestrator"]
    assert yaml.safe_load(modes.export_modes(session, actor=admin)) == {"customModes": []}
    plan = modes.import_modes(session, actor=admin, text=text)
    assert {i.action for i in plan.items} == {"unchanged"}


def test_invalid_import_reports_every_mode_and_imports_nothing(session, team):
    admin = team["admin"]
    doc = """customModes:
  - slug: good
    name: Good
    roleDefinition: Fine.
    groups: [read]
  - slug: Bad_Slug
    name: Bad
    roleDefinition: x
    groups: [read]
  - slug: no-role
    name: No role
    groups:
      - - edit
        - fileRegex: "[unclosed"
  - slug: good
    name: Again
    roleDefinition: x
    groups: []
  - slug: yes-no
    name: yes
    roleDefinition: 42
    groups: [read, command, command]
"""
    plan = modes.plan_import(session, actor=admin, text=doc)
    text = "\n".join(plan.problems)
    assert "Mode 2 (“Bad_Slug”): slug “Bad_Slug” may only contain" in text
    assert "Mode 3 (“no-role”): roleDefinition is required." in text
    assert "Mode 3 (“no-role”): group 1 (edit): fileRegex “[unclosed” is not a valid" in text
    assert "Mode 4 (“good”): the slug is also used by mode 1" in text
    assert "Mode 5 (“yes-no”): roleDefinition must be text, not a number" in text
    assert "Mode 5 (“yes-no”): group 3: “command” is listed more than once" in text
    assert "name" not in [p for p in plan.problems if "Mode 5" in p and "name must" in p]
    with pytest.raises(ValidationError, match="Nothing was imported"):
        modes.import_modes(session, actor=admin, text=doc)
    session.rollback()
    assert session.exec(select(Mode)).all() == []
    assert _audit(session, admin.org_id) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The file is empty"),
        ("customModes: [", "not valid YAML or JSON at line 1"),
        ('{"customModes": 3}', "customModes must be a list"),
        ("- slug: a", "Expected a customModes document"),
        ("customModes: []", "lists no modes"),
        ("customModes:\n  - just-a-string\n", "Mode 1: expected a mode"),
        ("customModes:\n  - slug: a\n    name: A\n    roleDefinition: r\n", "groups is required"),
    ],
)
def test_malformed_documents_get_clear_messages(session, team, text, message):
    plan = modes.plan_import(session, actor=team["admin"], text=text)
    assert not plan.ok and message in "\n".join(plan.problems)


def test_yaml_12_scalars_stay_text():
    parsed = modes.parse_document(
        "customModes:\n  - slug: on\n    name: Yes\n    roleDefinition: 2024-01-01\n"
        "    description: 1:20\n    groups: []\n"
    )
    assert parsed.problems == []
    mode = parsed.modes[0]
    assert (mode.slug, mode.name, mode.role_definition, mode.description) == (
        "on",
        "Yes",
        "2024-01-01",
        "1:20",
    )


# --- property: export -> import is lossless -------------------------------------------

_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60
)
_slug = st.from_regex(r"[a-z0-9-]{1,50}", fullmatch=True).filter(
    lambda s: s not in modes.BUILTIN_SLUGS
)
_name = _text.filter(lambda s: s.strip() and len(s) <= 100)
_regex = st.sampled_from(
    [
        r"\.md$",
        r"^src/.*\.(ts|tsx)$",
        r"(a|b)\\c",
        "x: y # z",
        "'\"",
        r"\.(md|mdx)$|README$",
        "-",
        "0o17",
        "yes",
    ]
)
_group = st.sampled_from(modes.TOOL_GROUPS)


@st.composite
def _groups(draw):
    names = draw(st.lists(_group, unique=True, max_size=5))
    out = []
    for name in names:
        opts = {}
        if draw(st.booleans()):
            opts["fileRegex"] = draw(_regex)
        if draw(st.booleans()):
            opts["description"] = draw(_text.filter(bool))
        out.append([name, opts] if opts else name)
    return out


@st.composite
def _modes(draw):
    slugs = draw(st.lists(_slug, unique=True, min_size=1, max_size=4))
    return [
        ModeConfig(
            slug,
            draw(_name),
            draw(_text.filter(lambda s: s.strip())),
            draw(_text),
            draw(_text),
            draw(_text),
            draw(_groups()),
        )
        for slug in slugs
    ]


@settings(max_examples=300, deadline=None)
@given(mode_list=_modes(), fmt=st.sampled_from(["yaml", "json"]))
def test_document_round_trip_is_lossless(mode_list, fmt):
    for mode in mode_list:
        assert modes.validate_mode(mode) == mode
    parsed = modes.parse_document(modes.dump_document(mode_list, fmt))
    assert parsed.problems == []
    assert parsed.modes == mode_list


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mode_list=_modes())
def test_database_round_trip_is_lossless(session, mode_list):
    team = create_team(session)
    modes.import_modes(session, actor=team["admin"], text=modes.dump_document(mode_list, "yaml"))
    exported = modes.export_modes(session, actor=team["member"], fmt="yaml")
    assert sorted(modes.parse_document(exported).modes, key=lambda m: m.slug) == sorted(
        mode_list, key=lambda m: m.slug
    )
    session.rollback()
