"""Text placed inside Markdown, shown exactly as written (pure; no Streamlit).

Streamlit renders GitHub-flavoured Markdown (plus LaTeX, colours and icons) in st.markdown,
captions, messages, toasts, titles and labels. A member's name, a mode's description or a
model id placed there could otherwise format itself, hide, or become a link or a remote
image that every viewer's browser loads. `escape` backslash-escapes every ASCII punctuation
mark Markdown gives a meaning to and breaks the bare `http://` / `www.` links GFM would make
clickable; `code` makes an inline code span that no backtick run inside can close early.
"""

from __future__ import annotations

import re

# Every character that starts or ends Markdown, GFM, LaTeX or Streamlit syntax: emphasis,
# code, links and images ([ ] ( ) !), HTML and entities (< > &), headings and setext
# underlines (# = -), lists (+ - . )), quotes (>), tables (|), strike (~), math ($),
# colours and icons (:).
_SPECIAL = frozenset("\\`*_{}[]()<>#+-=.!|$~:&")
# GFM links bare `http(s)://...` and `www....` after parsing, escapes or not (Streamlit's
# remark-gfm finds them in the text). An invisible word joiner breaks the pattern.
_BARE_LINK = re.compile(r"(?i)(?:https?(?=://)|www(?=\.))")
_WORD_JOINER = "\u2060"
_LINE_BREAKS = re.compile(r"[\r\n]+")


def escape(text: object) -> str:
    """`text` as Markdown that renders as exactly these characters, with no link or image.

    E-mail addresses stay as they are (GFM shows them as mailto links of the same text).
    """
    value = _BARE_LINK.sub(lambda m: m.group(0) + _WORD_JOINER, str(text))
    return "".join("\\" + ch if ch in _SPECIAL else ch for ch in value)


def code(text: object) -> str:
    """`text` as an inline code span: its fence is longer than any backtick run inside.

    Line breaks become spaces (a code span cannot hold a blank line: the paragraph would
    end and the rest be read as Markdown).
    """
    value = _LINE_BREAKS.sub(" ", str(text))
    if not value:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest or value[0] in " `" or value[-1] in " `" else ""
    if not value.strip(" "):  # only spaces: CommonMark strips no padding then, so add none
        pad = ""
    return f"{fence}{pad}{value}{pad}{fence}"
