"""Modes service: built-ins, overrides, custom modes, validation, audit, roles."""

from __future__ import annotations

import pytest
from sqlmodel import select

from kilo import audit, modes
from kilo.errors import NotFound, PermissionDenied, ValidationError
from kilo.models import AuditEntry, Mode
from kilo.modes import ModeConfig
from tests.factories import create_team


@pytest.fixture
def team(session):
    team = create_team(session)
    session.commit()
    return team


def _mode(**fields) -> ModeConfig:
    base = dict(
        slug="reviewer",
        name="Reviewer",
        role_definition="You review code.",
        groups=["read", ["edit", {"fileRegex": r"\.md$", "description": "Docs"}]],
    )
    return ModeConfig(**(base | fields))


def _audit(session, org_id):
    return session.exec(
        select(AuditEntry).where(AuditEntry.org_id == org_id).order_by(AuditEntry.id)
    ).all()


def _mode_rows(session, org_id):
    return session.exec(select(Mode).where(Mode.org_id == org_id)).all()


def test_builtins_have_kilo_code_definitions(session, team):
    views = modes.list_modes(session, actor=team["member"])
    assert [v.slug for v in views] == ["architect", "code", "ask", "debug", "orchestrator"]
    by = {v.slug: v for v in views}
    assert by["architect"].groups == [
        "read",
        ["edit", {"fileRegex": r"\.md$", "description": "Markdown files only"}],
        "browser",
        "mcp",
    ]
    assert by["code"].groups == ["read", "edit", "browser", "command", "mcp"]
    assert by["ask"].groups == ["read", "browser", "mcp"]
    assert by["debug"].groups == ["read", "edit", "browser", "command", "mcp"]
    assert by["orchestrator"].groups == []
    for v in views:
        assert v.kind == "built-in" and not v.overridden and not v.disabled
        assert v.name and v.role_definition.startswith("You are Kilo Code")
        assert v.when_to_use and v.description
    assert modes.can_edit_file(by["architect"].config(), "docs/plan.md")
    assert not modes.can_edit_file(by["architect"].config(), "src/app.py")
    assert not modes.can_edit_file(by["ask"].config(), "README.md")


def test_create_edit_duplicate_delete_custom_mode_with_audit(session, team):
    admin = team["admin"]
    view = modes.create_mode(session, actor=admin, mode=_mode())
    assert view.kind == "custom"
    modes.update_mode(
        session,
        actor=admin,
        slug="reviewer",
        mode=_mode(slug="code-reviewer", name="Code Reviewer"),
    )
    copy = modes.duplicate_mode(session, actor=admin, slug="code-reviewer")
    assert (copy.slug, copy.name) == ("code-reviewer-copy", "Code Reviewer (copy)")
    assert (
        modes.duplicate_mode(session, actor=admin, slug="code-reviewer").slug
        == "code-reviewer-copy-2"
    )
    built = modes.duplicate_mode(
        session, actor=admin, slug="debug", new_slug="deep-debug", new_name="Deep Debug"
    )
    assert built.kind == "custom" and built.groups == modes.builtin_default("debug").groups
    modes.delete_mode(session, actor=admin, slug="code-reviewer-copy")
    session.commit()
    slugs = [v.slug for v in modes.list_modes(session, actor=team["member"]) if v.kind == "custom"]
    assert sorted(slugs) == ["code-reviewer", "code-reviewer-copy-2", "deep-debug"]
    actions = [(e.action, e.target) for e in _audit(session, admin.org_id)]
    assert actions == [
        ("organization.mode.create", "reviewer"),
        ("organization.mode.update", "reviewer"),
        ("organization.mode.create", "code-reviewer-copy"),
        ("organization.mode.create", "code-reviewer-copy-2"),
        ("organization.mode.create", "deep-debug"),
        ("organization.mode.delete", "code-reviewer-copy"),
    ]
    sources = [e.details["source"] for e in _audit(session, admin.org_id)]
    assert sources == ["dashboard", "dashboard", "duplicate", "duplicate", "duplicate", "dashboard"]
    assert audit.verify_chain(session, org_id=admin.org_id).ok
    update = _audit(session, admin.org_id)[1]
    assert update.details["changes"]["slug"] == {"before": "reviewer", "after": "code-reviewer"}
    assert set(update.details["changes"]) == {"slug", "name"}


def test_search_matches_slug_name_and_description(session, team):
    modes.create_mode(session, actor=team["owner"], mode=_mode(description="Checks PRs"))
    found = modes.list_modes(session, actor=team["member"], search="prs")
    assert [v.slug for v in found] == ["reviewer"]
    assert [v.slug for v in modes.list_modes(session, actor=team["member"], search="ARCH")] == [
        "architect"
    ]
    assert modes.list_modes(session, actor=team["member"], search="zzz") == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"slug": "Bad Slug"}, "lower-case letters, digits and dashes"),
        ({"slug": "a" * 51}, "the limit is 50"),
        ({"slug": ""}, "slug is required"),
        ({"name": ""}, "name is required"),
        ({"name": "x" * 101}, "the limit is 100"),
        ({"role_definition": "   "}, "roleDefinition is required"),
        ({"groups": ["read", "read"]}, "listed more than once"),
        ({"groups": ["read", ["read", {"description": "again"}]]}, "listed more than once"),
        ({"groups": ["write"]}, "“write” is not a tool group"),
        ({"groups": [["edit", {"fileRegex": "(unclosed"}]]}, "not a valid regular expression"),
        ({"groups": [["edit", {"fileregex": r"\.md$"}]]}, "unknown option fileregex"),
        ({"groups": [["edit", "\\.md$"]]}, "options must be a mapping"),
        ({"custom_instructions": "a\x00b"}, "NUL character"),
        ({"slug": "code"}, "slug of the built-in Code mode"),
    ],
)
def test_invalid_modes_are_refused_and_nothing_is_stored(session, team, fields, message):
    with pytest.raises(ValidationError, match=message):
        modes.create_mode(session, actor=team["admin"], mode=_mode(**fields))
    session.rollback()
    assert _mode_rows(session, team["admin"].org_id) == []
    assert _audit(session, team["admin"].org_id) == []


def test_every_problem_is_named_at_once():
    with pytest.raises(ValidationError) as err:
        modes.validate_mode(_mode(slug="Bad!", name="", groups=["x", "read", "read"]))
    text = str(err.value)
    for part in (
        "slug “Bad!”",
        "name is required",
        "“x” is not a tool group",
        "listed more than once",
    ):
        assert part in text


def test_duplicate_slug_in_org_is_refused_but_free_in_another_org(session, team):
    modes.create_mode(session, actor=team["admin"], mode=_mode())
    with pytest.raises(ValidationError, match="already exists"):
        modes.create_mode(session, actor=team["owner"], mode=_mode(name="Other"))
    other = create_team(session)
    modes.create_mode(session, actor=other["admin"], mode=_mode())
    modes.create_mode(session, actor=team["admin"], mode=_mode(slug="second"))
    with pytest.raises(ValidationError, match="already exists"):
        modes.update_mode(session, actor=team["admin"], slug="second", mode=_mode())


def test_empty_group_options_are_normalised_and_js_named_groups_compile(session, team):
    view = modes.create_mode(
        session,
        actor=team["admin"],
        mode=_mode(
            groups=[["read", {}], ["edit", {"fileRegex": r"(?<ext>\.md)$", "description": ""}]]
        ),
    )
    assert view.groups == ["read", ["edit", {"fileRegex": r"(?<ext>\.md)$"}]]
    assert modes.can_edit_file(view.config(), "a/b.md")


def test_members_view_and_export_but_cannot_change(session, team):
    member = team["member"]
    modes.create_mode(session, actor=team["admin"], mode=_mode())
    assert modes.export_modes(session, actor=member).startswith("customModes:")
    assert modes.plan_import(session, actor=member, text="customModes: []").problems
    for call in (
        lambda: modes.create_mode(session, actor=member, mode=_mode(slug="x")),
        lambda: modes.update_mode(session, actor=member, slug="reviewer", mode=_mode()),
        lambda: modes.delete_mode(session, actor=member, slug="reviewer"),
        lambda: modes.duplicate_mode(session, actor=member, slug="reviewer"),
        lambda: modes.reset_builtin(session, actor=member, slug="code"),
        lambda: modes.set_builtin_disabled(session, actor=member, slug="code", disabled=True),
        lambda: modes.import_modes(session, actor=member, text=modes.DEMO_MODES),
    ):
        with pytest.raises(PermissionDenied, match="cannot change modes"):
            call()


def test_adjust_reset_and_disable_builtin(session, team):
    owner = team["owner"]
    architect = modes.builtin_default("architect")
    architect.groups[1] = ["edit", {"fileRegex": r"\.(md|puml)$", "description": "Docs"}]
    view = modes.update_mode(session, actor=owner, slug="architect", mode=architect)
    assert view.overridden and view.kind == "built-in"
    assert modes.get_mode(session, actor=team["member"], slug="architect").groups[1][1] == {
        "fileRegex": r"\.(md|puml)$",
        "description": "Docs",
    }
    with pytest.raises(ValidationError, match="cannot change"):
        modes.update_mode(
            session,
            actor=owner,
            slug="architect",
            mode=modes.builtin_default("architect").__class__(
                **{**architect.__dict__, "slug": "architect-2"}
            ),
        )
    with pytest.raises(ValidationError, match="cannot be deleted"):
        modes.delete_mode(session, actor=owner, slug="architect")

    modes.set_builtin_disabled(session, actor=owner, slug="architect", disabled=True)
    modes.set_builtin_disabled(session, actor=owner, slug="ask", disabled=True)
    effective = [m.slug for m in modes.effective_modes(session, actor=team["member"])]
    assert effective == ["code", "debug", "orchestrator"]

    reset = modes.reset_builtin(session, actor=owner, slug="architect")
    assert not reset.overridden and reset.disabled  # reset keeps the disabled switch
    assert modes.get_mode(session, actor=owner, slug="architect").config() == modes.builtin_default(
        "architect"
    )
    modes.set_builtin_disabled(session, actor=owner, slug="architect", disabled=False)
    modes.set_builtin_disabled(session, actor=owner, slug="ask", disabled=False)
    # Back to Kilo Code's defaults: no rows left.
    assert _mode_rows(session, owner.org_id) == []
    changes = [e.details.get("change") for e in _audit(session, owner.org_id)]
    assert changes == ["adjust", "disable", "disable", "reset", "enable", "enable"]
    assert {e.action for e in _audit(session, owner.org_id)} == {"organization.mode.update"}
    # Saving a built-in unchanged writes nothing.
    modes.update_mode(session, actor=owner, slug="code", mode=modes.builtin_default("code"))
    assert len(_audit(session, owner.org_id)) == 6
    with pytest.raises(NotFound):
        modes.reset_builtin(session, actor=owner, slug="reviewer")


def test_effective_modes_list_custom_after_builtins(session, team):
    modes.create_mode(session, actor=team["admin"], mode=_mode())
    eff = modes.effective_modes(session, actor=team["member"])
    assert [m.slug for m in eff][-1] == "reviewer"
    assert len(eff) == 6


def test_describe_mode_in_plain_words():
    lines = modes.describe_mode(modes.builtin_default("architect"))
    assert "Read files: any file." in lines
    assert any("only files whose path matches `\\.md$` (Markdown files only)" in x for x in lines)
    assert lines[-1] == "Cannot run terminal commands."
    assert modes.describe_mode(modes.builtin_default("orchestrator"))[0].startswith("No tools")
    assert (
        modes.tools_summary(modes.builtin_default("architect").groups)
        == "read, edit (Markdown files only), browser, mcp"
    )
