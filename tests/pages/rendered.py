"""What a reader sees of the Markdown a page sends: rendered by a CommonMark parser.

Streamlit renders Markdown in the browser (remark, CommonMark plus GFM); markdown-it-py
follows the same CommonMark rules for escapes, code spans, links, images and HTML, so tests
can check the text a viewer reads and that no link or image comes out of user text.
"""

from __future__ import annotations

import html
import re

from markdown_it import MarkdownIt

_COMMONMARK = MarkdownIt("commonmark")


def to_html(markdown: str) -> str:
    return _COMMONMARK.render(markdown)


def plain(markdown: str) -> str:
    """The rendered text (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", to_html(markdown))).strip()


def visible(markdown: str) -> str:
    """The text a reader sees: `plain` without the invisible word joiners that keep GFM
    from linking bare URLs (kilo.markdown.escape)."""
    return plain(markdown).replace("\u2060", "")


def markdown_sources(at) -> list[str]:  # noqa: ANN001
    """Every Markdown body of the page: markdown, captions, messages, titles."""
    kinds = ("markdown", "caption", "error", "warning", "info", "success", "title", "subheader")
    return [str(e.value) for kind in kinds for e in getattr(at, kind)]


def page_text(at) -> str:  # noqa: ANN001
    """All the page's Markdown as the reader sees it."""
    return "\n".join(visible(m) for m in markdown_sources(at))
