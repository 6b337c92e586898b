"""Custom Modes import on the tab: a document is read only when "Preview import" is
pressed (never on every rerun), aliases and oversized documents get a clear message, and a
preview that no longer matches the input cannot be imported."""

from __future__ import annotations

import pytest
from sqlmodel import select

from kilo import modes
from kilo.db import read_session
from kilo.models import Mode
from tests.pages.helpers import open_page
from tests.pages.rendered import visible
from tests.services.test_modes_limits import ALIASED, VALID

PAGE = "pages/custom_modes.py"


@pytest.fixture
def parses(monkeypatch):
    """How many times a document was read."""
    calls = []
    real = modes.parse_document

    def counting(text: str) -> modes.ParsedDocument:
        calls.append(len(text))
        return real(text)

    monkeypatch.setattr(modes.service, "parse_document", counting)  # where plan_import reads it
    return calls


def errors(at) -> str:  # noqa: ANN001
    return "\n".join(visible(e.value) for e in at.error)


def test_typing_reads_nothing_until_preview(demo_url, parses):
    at = open_page("admin", PAGE)
    at.text_area(key="custom_modes_import_text").input(VALID).run()
    at.text_input(key="custom_modes_search").input("x").run()  # any other rerun
    assert parses == [] and not at.dataframe and not at.error
    at.button(key="custom_modes_import_preview_run").click().run()
    assert parses == [len(VALID)]
    assert at.dataframe[0].value["Slug"].tolist() == ["ok-mode"]
    at.text_input(key="custom_modes_search").input("").run()
    assert parses == [len(VALID)]  # the preview is kept, not recomputed
    # Edited after the preview: it must be previewed again before it can be imported.
    at.text_area(key="custom_modes_import_text").input(VALID.replace("Ok", "Okay")).run()
    assert any("changed since the preview" in c.value for c in at.caption)
    assert "custom_modes_import_submit" not in {b.key for b in at.button}
    at.button(key="custom_modes_import_preview_run").click().run()
    at.button(key="custom_modes_import_submit").click().run()
    assert not at.exception and not at.error
    assert "ok-mode" in custom_slugs()


def custom_slugs() -> set[str]:
    with read_session() as s:
        return set(s.exec(select(Mode.slug).where(Mode.builtin == False)).all())  # noqa: E712


def test_aliases_are_refused_with_a_message(demo_url):
    at = open_page("owner", PAGE)
    at.text_area(key="custom_modes_import_text").input(ALIASED).run()
    at.button(key="custom_modes_import_preview_run").click().run()
    assert not at.exception
    assert "uses a YAML anchor or alias (&name or *name) at line 2, column 5" in errors(at)
    assert at.button(key="custom_modes_import_submit").disabled


def test_pasted_documents_over_1_mb_are_refused(demo_url):
    at = open_page("owner", PAGE)
    area = at.text_area(key="custom_modes_import_text")
    assert area.max_chars == modes.MAX_DOCUMENT_BYTES
    at.text_area(key="custom_modes_import_text").input(VALID + "# " + "é" * 600_000).run()
    at.button(key="custom_modes_import_preview_run").click().run()
    assert not at.exception
    assert "larger than 1 MB, the limit" in errors(at)
