"""kilo.markdown: user text inside Markdown reads exactly as written and never becomes a
link, an image, HTML or formatting. Checked by rendering with a CommonMark parser, plus
the pattern Streamlit's GFM uses to turn bare URLs into links."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kilo import markdown
from tests.pages.rendered import plain, to_html, visible

# Streamlit's remark-gfm links these in the text after Markdown is parsed (so after escapes).
GFM_BARE_LINK = re.compile(r"(https?://|www(?=\.))", re.IGNORECASE)
TRICKS = [
    "[Log in again](https://evil.example/login)",
    "![](https://evil.example/pixel.png)",
    "<img src=https://evil.example/p.png>",
    "<a href='https://evil.example'>x</a>",
    "``x`` ![p](https://evil.example/r.png) ``",
    "[ref]: https://evil.example\n[x][ref]",
    "&lt;b&gt; &#96; &amp;",
    "**bold** _it_ ~~gone~~ `code` $x^2$ :red[red] :material/home:",
    "# Heading\n\n---\n\n> quote\n\n1. one\n- two\n\nTitle\n===",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "visit https://evil.example or www.evil.example now",
    "\\[not a link\\](https://evil.example)",
]
# Printable ASCII with every Markdown mark; single-line (a line break is a space in Markdown).
TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)


@pytest.mark.parametrize("text", TRICKS)
def test_tricks_render_as_plain_text(text):
    html = to_html(markdown.escape(text))
    for tag in ("<a", "<img", "<code", "<strong", "<em", "<h1", "<h2", "<hr", "<blockquote"):
        assert tag not in html, (tag, html)
    assert "<ol" not in html and "<ul" not in html and "<pre" not in html
    assert not GFM_BARE_LINK.search(plain(markdown.escape(text)))
    assert " ".join(visible(markdown.escape(text)).split()) == " ".join(text.split())


@given(TEXT)
def test_any_line_renders_exactly_as_written(text):
    escaped = markdown.escape(text)
    html = to_html(escaped)
    assert re.fullmatch(r"(<p>[^<]*</p>\n)?", html), html  # one paragraph of text, no tags
    assert visible(escaped) == text.strip()
    assert not GFM_BARE_LINK.search(plain(escaped))


@pytest.mark.parametrize("text", [*TRICKS, "a ` b", "`` ``` `", " spaced ", "`edge`"])
def test_code_spans_hold_any_backticks(text):
    html = to_html("x " + markdown.code(text) + " y")
    one_line = re.sub(r"[\r\n]+", " ", text)  # a code span is one line
    assert html == f"<p>x <code>{_html_text(one_line)}</code> y</p>\n", html


@given(TEXT)
def test_any_code_span_holds_its_text(text):
    if not text:
        assert markdown.code(text) == ""
        return
    html = to_html("x " + markdown.code(text) + " y")
    assert html == f"<p>x <code>{_html_text(text)}</code> y</p>\n", html


def _html_text(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )
