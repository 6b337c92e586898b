"""One colour per model, provider, mode or action group, the same on every chart.

A chart's colours come from `series_colors(names)`: each name takes the palette slot its
stable hash (BLAKE2, not Python's salted `hash`) points at, or the next free one, taking the
names in sorted order. So the colour of a name depends only on the set of names it is
assigned with, never on which chart draws it, how its series rank or which period is shown:
a page builds the map once from all the names its filters offer and passes it to every
chart. Up to `len(PALETTE)` names get distinct colours; past that, colours repeat. "Other"
(the series that sums what a chart does not show by name) is always the same grey and never
a palette colour.

`color_encoding` turns the map into an Altair colour channel whose scale has an explicit
domain and range (the names present in the chart, in legend order), with legend labels
long enough for full model ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import altair as alt

# Tableau 20 without its two greys (grey is "Other"), plus two more distinct hues.
PALETTE = (
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#e45756",
    "#b279a2",
    "#439894",
    "#b79a20",
    "#9e765f",
    "#d67195",
    "#1f3a93",
    "#9ecae9",
    "#ffbf79",
    "#88d27a",
    "#ff9d98",
    "#d6a5c9",
    "#83bcb6",
    "#f2cf5b",
    "#d8b5a5",
    "#fcbfd2",
    "#17becf",
)
OTHER_COLOR = "#9d9d9d"
OTHER = "Other"  # a chart's "Other" series is named "Other" or "Other (N)"
LEGEND_LABEL_LIMIT = 400  # pixels: the longest model ids fit
AXIS_LABEL_LIMIT = 320


def is_other(name: object) -> bool:
    """The series that sums the names a chart does not show ("Other", "Other (12)")."""
    text = str(name)
    return text == OTHER or (text.startswith(f"{OTHER} (") and text.endswith(")"))


def _slot(name: str) -> int:
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % len(PALETTE)


def series_colors(names: Iterable[object]) -> dict[str, str]:
    """A colour for each name (see the module docstring); "Other" is always `OTHER_COLOR`."""
    out: dict[str, str] = {}
    used: set[int] = set()
    for name in sorted({str(n) for n in names if not is_other(n)}):
        slot = _slot(name)
        if len(used) < len(PALETTE):
            while slot in used:
                slot = (slot + 1) % len(PALETTE)
        used.add(slot)
        out[name] = PALETTE[slot]
    return out


def color_of(name: object, colors: Mapping[str, str]) -> str:
    """The colour of `name` in `colors`; grey for "Other"; by its own hash when missing."""
    if is_other(name):
        return OTHER_COLOR
    return colors.get(str(name)) or PALETTE[_slot(str(name))]


def color_encoding(
    field: str,
    title: str,
    present: Iterable[object],
    colors: Mapping[str, str] | None = None,
    *,
    legend: bool = True,
) -> alt.Color:
    """A nominal colour channel on `field` with an explicit scale: `present` (the names in
    the chart, in legend order; "Other" is moved last) mapped to their colours in `colors`
    (a page's `series_colors`; when None, the colours of `present` alone)."""
    names = list(dict.fromkeys(str(n) for n in present))
    names = [n for n in names if not is_other(n)] + [n for n in names if is_other(n)]
    colors = series_colors(names) if colors is None else colors
    return alt.Color(
        f"{field}:N",
        title=title,
        scale=alt.Scale(domain=names, range=[color_of(n, colors) for n in names]),
        sort=names,
        legend=alt.Legend(labelLimit=LEGEND_LABEL_LIMIT, symbolLimit=0) if legend else None,
    )
