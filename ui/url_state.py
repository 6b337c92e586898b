"""Share links: a page's query parameters, parsed, validated and clamped in one place.

A page reads every parameter of its URL through a `LinkParams`. A value that is malformed,
unknown, too long or out of range never raises: the page gets the default (or the nearest
value in range), and `show()` tells the viewer in one warning which parameter was set aside
and why. A missing parameter is not a problem: it simply gives the default.

    link = LinkParams()
    period = link.choice("period", PERIODS, default="billing")
    ...
    st.title("Usage")
    link.show()
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime
from typing import TypeVar

import streamlit as st

from ui import md_code, md_escape

MAX_VALUE_CHARS = 200  # a parameter value longer than this is refused, whatever it is
MAX_ITEMS = 50  # values of one list parameter
_SHOWN_CHARS = 40  # of a refused value, in the warning
T = TypeVar("T")

_INTEGER = re.compile(r"[0-9]{1,18}")  # ASCII digits only: str.isdigit accepts "²"
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MINUTE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def quoted(value: str) -> str:
    """A value from the URL, shortened and escaped, for a notice."""
    short = value if len(value) <= _SHOWN_CHARS else value[: _SHOWN_CHARS - 1] + "…"
    printable = _CONTROL.sub("\ufffd", short)  # a line break would end the notice's line
    return f"“{md_escape(printable)}”"


class LinkParams:
    """Reads `st.query_params`; collects a notice for every value it sets aside."""

    def __init__(self) -> None:
        self.notices: list[str] = []

    # ---- reading -----------------------------------------------------------------------

    def raw(self, name: str) -> str | None:
        """The parameter's last value as given (None when absent); a page rarely needs it."""
        values = st.query_params.get_all(name)
        return values[-1] if values else None

    def note(self, name: str, message: str) -> None:
        """Record why `name` was set aside (`message` is Markdown: escape what the URL gave)."""
        self.notices.append(f"{md_code(name)}: {message}")

    def _given(self, name: str) -> str | None:
        value = self.raw(name)
        if value is None or value == "":
            return None
        if len(value) > MAX_VALUE_CHARS:
            self.note(name, f"the value is longer than {MAX_VALUE_CHARS} characters; ignored.")
            return None
        return value

    # ---- kinds of values ---------------------------------------------------------------

    def choice(self, name: str, choices: Collection[str], default: str) -> str:
        """One of `choices`, else `default`."""
        listed = ", ".join(md_code(c) for c in choices)
        return self.lookup(name, {c: c for c in choices}, default, f"one of {listed}")

    def lookup(self, name: str, values: Mapping[str, T], default: T, expected: str) -> T:
        """`values[value]`, else `default`; `expected` (Markdown) says what would be known."""
        value = self._given(name)
        if value is None:
            return default
        if value in values:
            return values[value]
        self.note(name, f"{quoted(value)} is not {expected}; using the default.")
        return default

    def text(self, name: str, *, max_chars: int, pattern: re.Pattern[str] | None = None) -> str:
        """Free text of at most `max_chars` characters, without control characters and
        matching `pattern` when given; else ""."""
        value = self.raw(name)
        if value is None or value == "":
            return ""
        if len(value) > max_chars:
            self.note(name, f"the text is longer than {max_chars} characters; ignored.")
        elif _CONTROL.search(value):  # e.g. NUL, which PostgreSQL refuses in any text
            self.note(name, "the text contains control characters; ignored.")
        elif pattern is not None and not pattern.fullmatch(value):
            self.note(name, f"{quoted(value)} does not have the expected form; ignored.")
        else:
            return value
        return ""

    def day(self, name: str, *, lo: date, hi: date, default: date | None) -> date | None:
        """A `YYYY-MM-DD` day, clamped to [lo, hi]; `default` when it is not a day."""
        value = self._given(name)
        if value is None:
            return default
        try:
            parsed = date.fromisoformat(value) if _DAY.fullmatch(value) else None
        except ValueError:
            parsed = None
        if parsed is None:
            self.note(name, f"{quoted(value)} is not a day (YYYY-MM-DD); using the default.")
            return default
        return self._clamped(name, parsed, lo, hi, f"{lo:%Y-%m-%d}", f"{hi:%Y-%m-%d}")

    def minute(
        self, name: str, *, lo: datetime, hi: datetime, default: datetime | None
    ) -> datetime | None:
        """A naive `YYYY-MM-DDTHH:MM` time, clamped to [lo, hi]; `default` when malformed."""
        value = self._given(name)
        if value is None:
            return default
        try:
            parsed = datetime.fromisoformat(value) if _MINUTE.fullmatch(value) else None
        except ValueError:
            parsed = None
        if parsed is None:
            self.note(name, f"{quoted(value)} is not a time (YYYY-MM-DDTHH:MM); using the default.")
            return default
        fmt = "%Y-%m-%d %H:%M"
        return self._clamped(name, parsed, lo, hi, lo.strftime(fmt), hi.strftime(fmt))

    def _clamped(self, name, value, lo, hi, lo_text: str, hi_text: str):  # noqa: ANN001, ANN202
        if value < lo:
            self.note(name, f"before {lo_text}, the earliest this page shows; using {lo_text}.")
            return lo
        if value > hi:
            self.note(name, f"after {hi_text}, the latest this page shows; using {hi_text}.")
            return hi
        return value

    def items(
        self,
        name: str,
        *,
        max_chars: int = 100,
        allowed: Iterable[str] | None = None,
        pattern: re.Pattern[str] | None = None,
        comma_separated: bool = False,
    ) -> list[str]:
        """A list: repeated parameters, or one comma-separated value. Values that are too
        long, hold control characters, do not match `pattern` or are not `allowed` are
        dropped; so is anything past MAX_ITEMS. Duplicates are dropped silently."""
        raw = st.query_params.get_all(name)
        if comma_separated:
            raw = [v for value in raw for v in value.split(",")]
        raw = [v for v in raw if v]
        if len(raw) > MAX_ITEMS:
            self.note(name, f"more than {MAX_ITEMS} values; the rest are ignored.")
            raw = raw[:MAX_ITEMS]
        known = None if allowed is None else set(allowed)
        kept: list[str] = []
        for value in raw:
            if (
                len(value) > max_chars
                or _CONTROL.search(value)
                or (pattern is not None and not pattern.fullmatch(value))
                or (known is not None and value not in known)
            ):
                self.note(name, f"{quoted(value)} is not a value this page knows; ignored.")
            elif value not in kept:
                kept.append(value)
        return kept

    def integers(self, name: str, *, comma_separated: bool = False) -> list[int]:
        """Whole numbers (ids): `items` of ASCII digits."""
        values = self.items(name, max_chars=18, pattern=_INTEGER, comma_separated=comma_separated)
        return [int(v) for v in values]

    # ---- telling the viewer ------------------------------------------------------------

    def show(self) -> None:
        """One warning naming every parameter set aside (nothing when all were fine)."""
        if not self.notices:
            return
        st.warning(
            "Some settings in this page's link could not be used, so defaults are shown "
            "instead:\n" + "\n".join(f"- {n}" for n in self.notices),
            icon=":material/link_off:",
        )
        self.notices = []
