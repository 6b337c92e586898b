"""Spreadsheet-safe CSV: every CSV file the application produces is written through here.

A spreadsheet program runs a cell that starts with `=`, `+`, `-` or `@` as a formula (and
a leading tab or carriage return can hide such a start), so a member who calls themselves
`=HYPERLINK(...)` would otherwise plant a live link or formula in an admin's export
(CSV/formula injection). `neutralise` prefixes such a text cell with an apostrophe, which
spreadsheets show as text and do not evaluate.

Only text is neutralised. Numbers passed as numbers (int, float, Decimal, numpy scalars)
are written unchanged, so a negative amount -1.5 stays the number -1.5. Text that merely
looks like a number ("-1") is still text and gets the apostrophe: the writer cannot know
where text came from, and an apostrophe on harmless text is the safe mistake.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Make a text cell inert in spreadsheets: a leading = + - @ tab or CR gets an apostrophe.
    Anything that is not text (numbers, None) is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_deep(value: Any) -> Any:
    """`neutralise` every text value inside dicts and lists (for JSON Lines exports)."""
    if isinstance(value, dict):
        return {k: neutralise_deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [neutralise_deep(v) for v in value]
    return neutralise(value)


class SafeWriter:
    """`csv.writer` whose rows are neutralised cell by cell."""

    def __init__(self, stream: Any, **fmtparams: Any) -> None:
        self._writer = csv.writer(stream, **fmtparams)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([neutralise(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(stream: Any, *, lineterminator: str = "\n", **fmtparams: Any) -> SafeWriter:
    """A spreadsheet-safe CSV writer on a text stream (the one way the app writes CSV)."""
    return SafeWriter(stream, lineterminator=lineterminator, **fmtparams)


def _cell(value: Any) -> Any:
    # Missing values as empty cells, as pandas writes them.
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def frame_to_csv(frame: pd.DataFrame, *, lineterminator: str = "\n") -> str:
    """A DataFrame (header, then its rows, no index) as spreadsheet-safe CSV text."""
    out = io.StringIO()
    w = writer(out, lineterminator=lineterminator)
    w.writerow([str(c) for c in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        w.writerow([_cell(v) for v in row])
    return out.getvalue()
