"""User text reaches the pages as text: a mode's fields, member names and the import preview
cannot make links, remote images or formatting in anyone's browser. The page's Markdown is
rendered with a CommonMark parser and must hold no link and no image."""

from __future__ import annotations

from sqlmodel import select

from kilo import modes
from kilo.db import write_session
from kilo.members import actor_for
from kilo.models import Member
from kilo.modes import ModeConfig
from tests.pages.helpers import open_page
from tests.pages.rendered import markdown_sources, page_text, to_html, visible

PAGE = "pages/custom_modes.py"
EVIL = "https://evil.example"
TRAP = ModeConfig(
    slug="trap",
    name=f"**Boss** [urgent]({EVIL}/n)",
    role_definition="r",
    when_to_use=f"<img src={EVIL}/w.png> then [re-login]({EVIL}/login)",
    description=f"![]({EVIL}/pixel.png) `` [docs]({EVIL}/d) ``",
    groups=[
        "read",
        [
            "edit",
            {
                # The old preview put this in a ``code span``: doubled backticks closed it.
                "fileRegex": f"``x`` ![r]({EVIL}/r.png) ``",
                "description": f"[Log in again]({EVIL}/login) ![]({EVIL}/track.png)",
            },
        ],
    ],
)


def _create_trap() -> None:
    with write_session() as s:
        owner = actor_for(s.exec(select(Member).where(Member.username == "owner")).one())
        modes.create_mode(s, actor=owner, mode=TRAP)


def _assert_no_link_or_image(at) -> None:  # noqa: ANN001
    for source in markdown_sources(at):
        html = to_html(source)
        assert "<a " not in html and "<img" not in html, (source, html)


def test_preview_shows_a_modes_tricks_as_written(demo_url):
    _create_trap()
    at = open_page("member", PAGE)  # every member sees the Preview tab
    at.selectbox(key="custom_modes_preview_mode").set_value("trap").run()
    assert not at.exception
    _assert_no_link_or_image(at)
    seen = page_text(at)
    assert TRAP.name in seen  # the Modes tab and the Preview heading
    assert TRAP.description in seen and TRAP.when_to_use in seen
    edit = TRAP.groups[1][1]
    assert (
        f"Edit files: only files whose path matches {edit['fileRegex']} ({edit['description']})."
        in seen
    )
    at.text_input(key="custom_modes_preview_path").input(f"``a`` [p]({EVIL})").run()
    _assert_no_link_or_image(at)
    assert f"may not edit ``a`` [p]({EVIL})." in page_text(at)


def test_import_preview_escapes_the_documents_field_names(demo_url):
    at = open_page("admin", PAGE)
    at.text_area(key="custom_modes_import_text").input(
        "customModes:\n  - slug: ok-mode\n    name: Ok\n    roleDefinition: r\n"
        f"    groups: []\n    '![x]({EVIL}/field.png)': 1\n"
    ).run()
    at.button(key="custom_modes_import_preview_run").click().run()
    assert not at.exception
    _assert_no_link_or_image(at)
    assert f"Not kept (editor-only fields): ![x]({EVIL}/field.png)" in page_text(at)


def test_success_toasts_show_typed_names_as_written(demo_url):
    at = open_page("admin", PAGE)
    at.button(key="custom_modes_duplicate_test-engineer").click().run()
    name = f"![]({EVIL}/toast.png) [x]({EVIL})"
    at.text_input(key="custom_modes_dup_name").input(name)
    at.button(key="custom_modes_dup_submit").click().run()
    assert not at.exception and not at.error
    [toast] = at.toast
    assert "<img" not in to_html(toast.value) and "<a " not in to_html(toast.value)
    assert visible(toast.value) == f"Created mode {name}"
