"""Custom Modes tab through AppTest, for each role."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from kilo.db import read_session
from kilo.models import AuditEntry, Mode
from tests.pages.helpers import open_page, texts
from tests.pages.rendered import plain

PAGE = "pages/custom_modes.py"
REAL = Path(__file__).resolve().parents[1] / "data" / "real"


def keys(at, kind="button"):
    return {w.key for w in getattr(at, kind)}


def custom_rows():
    with read_session() as s:
        return {m.slug: m for m in s.exec(select(Mode).where(Mode.builtin == False)).all()}  # noqa: E712


def mode_audit():
    with read_session() as s:
        return [
            (e.action, e.target)
            for e in s.exec(
                select(AuditEntry)
                .where(AuditEntry.action.startswith("organization.mode."))
                .order_by(AuditEntry.id)
            ).all()
        ]


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_page_renders_for_every_role(demo_url, role):
    at = open_page(role, PAGE)
    assert not at.exception
    page = texts(at)
    assert "Custom Modes" in page
    for name in (
        "Architect",
        "Code",
        "Ask",
        "Debug",
        "Orchestrator",
        "Test Engineer",
        "Security Reviewer",
    ):
        assert f"**{name}**" in page or name in page
    assert "Adjusted" in page  # the demo adjusts architect
    editing = {"custom_modes_new", "custom_modes_edit_code", "custom_modes_delete_test-engineer"}
    assert (editing <= keys(at)) == (role != "member")
    assert ("custom_modes_import_text" in keys(at, "text_area")) == (role != "member")
    assert ("custom_modes_enabled_code" in keys(at, "toggle")) == (role != "member")
    if role == "member":
        assert "Owners and admins change modes" in page
    # Everyone can export.
    downloads = [e for e in at.get("download_button")]
    assert len(downloads) == 2
    assert any("customModes:" in c.value and "test-engineer" in c.value for c in at.code)


def test_search_filters_custom_modes(demo_url):
    at = open_page("member", PAGE)
    at.text_input(key="custom_modes_search").input("security").run()
    page = texts(at)
    assert "Security Reviewer" in page and "Test Engineer" not in page
    at.text_input(key="custom_modes_search").input("nothing-like-this").run()
    assert "No custom mode matches" in texts(at)


def test_create_mode_in_dialog_with_preview(demo_url):
    at = open_page("admin", PAGE)
    at.button(key="custom_modes_new").click().run()
    p = "custom_modes_form_new"
    at.text_input(key=f"{p}_slug").input("docs-writer")
    at.text_input(key=f"{p}_name").input("📝 Docs Writer")
    at.text_area(key=f"{p}_role").input("You write documentation.")
    at.checkbox(key=f"{p}_group_edit").check().run()
    at.text_input(key=f"{p}_edit_regex").input(r"\.mdx?$")
    at.text_input(key=f"{p}_edit_regex_desc").input("Docs only").run()
    assert any(
        "only files whose path matches `\\.mdx?$` (Docs only)" in m.value for m in at.markdown
    )
    at.button(key="custom_modes_form_save").click().run()
    assert not at.exception and not at.error
    row = custom_rows()["docs-writer"]
    assert row.name == "📝 Docs Writer"
    assert row.groups == ["read", ["edit", {"fileRegex": r"\.mdx?$", "description": "Docs only"}]]
    assert mode_audit()[-1] == ("organization.mode.create", "docs-writer")
    assert "custom_modes_form_save" not in keys(at)  # dialog closed


def test_bad_input_shows_message_and_stores_nothing(demo_url):
    at = open_page("owner", PAGE)
    before = mode_audit()
    at.button(key="custom_modes_new").click().run()
    p = "custom_modes_form_new"
    at.text_input(key=f"{p}_slug").input("Bad Slug")
    at.text_input(key=f"{p}_name").input("Bad")
    at.checkbox(key=f"{p}_group_edit").check().run()
    at.text_input(key=f"{p}_edit_regex").input("(unclosed").run()
    at.button(key="custom_modes_form_save").click().run()
    assert not at.exception
    message = "\n".join(plain(e.value) for e in at.error)  # as the reader sees it
    assert "lower-case letters, digits and dashes" in message
    assert "roleDefinition is required" in message
    assert "not a valid regular expression" in message
    assert "bad-slug" not in custom_rows() and "Bad Slug" not in custom_rows()
    assert mode_audit() == before
    assert "custom_modes_form_save" in keys(at)  # the dialog stays open to fix the input


def test_edit_duplicate_delete_custom_mode(demo_url):
    at = open_page("admin", PAGE)
    at.button(key="custom_modes_edit_test-engineer").click().run()
    at.text_input(key="custom_modes_form_test-engineer_name").input("QA Engineer")
    at.button(key="custom_modes_form_save").click().run()
    assert not at.error
    assert custom_rows()["test-engineer"].name == "QA Engineer"
    # Saving changed only the name: groups keep their order and options.
    assert custom_rows()["test-engineer"].groups[0:2] == ["read", "command"]

    at.button(key="custom_modes_duplicate_test-engineer").click().run()
    assert at.text_input(key="custom_modes_dup_slug").value == "test-engineer-copy"
    at.button(key="custom_modes_dup_submit").click().run()
    assert custom_rows()["test-engineer-copy"].name == "QA Engineer (copy)"

    at.button(key="custom_modes_delete_test-engineer-copy").click().run()
    at.button(key="custom_modes_delete_confirm").click().run()
    assert "test-engineer-copy" not in custom_rows()
    assert mode_audit()[-3:] == [
        ("organization.mode.update", "test-engineer"),
        ("organization.mode.create", "test-engineer-copy"),
        ("organization.mode.delete", "test-engineer-copy"),
    ]


def test_reset_and_disable_builtin(demo_url):
    at = open_page("owner", PAGE)
    at.button(key="custom_modes_reset_architect").click().run()
    at.button(key="custom_modes_reset_confirm").click().run()
    assert not at.error
    assert "custom_modes_reset_architect" not in keys(at)
    at.toggle(key="custom_modes_enabled_ask").set_value(False).run()
    assert not at.exception
    with read_session() as s:
        ask = s.exec(select(Mode).where(Mode.slug == "ask")).one()
        assert ask.disabled and ask.builtin
        assert s.exec(select(Mode).where(Mode.slug == "architect")).first() is None
    assert "disabled" in texts(at)


def test_import_preview_and_import(demo_url):
    at = open_page("admin", PAGE)
    doc = (REAL / "modes-3.yaml").read_text()
    at.text_area(key="custom_modes_import_text").input(doc).run()
    assert not at.dataframe  # nothing is read before "Preview import"
    at.button(key="custom_modes_import_preview_run").click().run()
    preview = at.dataframe[0].value  # the only table on the page
    assert preview.set_index("Slug")["Action"].to_dict() == {
        "test-engineer": "update",
        "code-skeptic": "create",
        "code-simplifier": "create",
        "code-reviewer": "create",
        "docs-specialist": "create",
    }
    assert "Not kept (editor-only fields): source" in texts(at)
    at.button(key="custom_modes_import_submit").click().run()
    assert not at.exception and not at.error
    assert {"code-skeptic", "docs-specialist"} <= set(custom_rows())
    assert custom_rows()["test-engineer"].name == "Test Engineer"


def test_invalid_import_lists_problems_and_cannot_be_submitted(demo_url):
    at = open_page("owner", PAGE)
    before = set(custom_rows())
    at.text_area(key="custom_modes_import_text").input(
        "customModes:\n  - slug: ok-mode\n    name: Ok\n    roleDefinition: r\n    groups: []\n"
        "  - slug: BAD\n    name: Bad\n    roleDefinition: r\n    groups: [read, fly]\n"
    ).run()
    at.button(key="custom_modes_import_preview_run").click().run()
    message = "\n".join(plain(e.value) for e in at.error)  # as the reader sees it
    assert "Mode 2 (“BAD”): slug “BAD” may only contain" in message
    assert "Mode 2 (“BAD”): group 2: “fly” is not a tool group" in message
    assert at.button(key="custom_modes_import_submit").disabled
    assert set(custom_rows()) == before


def test_preview_tab_explains_tools_and_tests_paths(demo_url):
    at = open_page("member", PAGE)
    at.selectbox(key="custom_modes_preview_mode").set_value("ask").run()
    page = texts(at)
    assert "Read files: any file." in page and "Cannot edit files, run terminal commands." in page
    at.selectbox(key="custom_modes_preview_mode").set_value("architect").run()
    at.text_input(key="custom_modes_preview_path").input("docs/adr/0001-x.md").run()
    assert "Architect **may** edit `docs/adr/0001-x.md`." in texts(at)
    at.text_input(key="custom_modes_preview_path").input("src/main.py").run()
    assert "Architect **may not** edit `src/main.py`." in texts(at)


def test_problem_messages_keep_regex_backslashes(demo_url):
    at = open_page("admin", PAGE)
    at.text_area(key="custom_modes_import_text").input(
        "customModes:\n  - slug: docs\n    name: Docs\n    roleDefinition: r\n"
        '    groups:\n      - - edit\n        - fileRegex: "\\\\.md($"\n'
    ).run()
    at.button(key="custom_modes_import_preview_run").click().run()
    message = "\n".join(plain(e.value) for e in at.error)  # as the reader sees it
    # Markdown would eat a lone backslash; the page escapes it so `\.md($` reads as written.
    assert "fileRegex “\\.md($”" in message
