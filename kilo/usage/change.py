"""How a figure changed against the previous period, as the Usage tab's cards show it.

The rule (also in the README, "Usage"):

- nothing now and nothing before: no change is shown;
- nothing before: "new";
- the previous period had less than a tenth of the current figure (a rise of more than
  +900 %): only the absolute change ("+$738.05"), since a percentage of an almost empty
  period ("+10,501.6 %") says nothing;
- otherwise: the absolute change and the percentage ("+$0.99 (+3.4%)"). Falls are always
  given with their percentage: at most -100 %.
"""

from __future__ import annotations

from collections.abc import Callable

# The previous figure must be at least this share of the current one for a percentage.
MIN_BASE_RATIO = 10


def describe_change(now: int, before: int, fmt: Callable[[int], str] = "{:,}".format) -> str | None:
    """The change from `before` to `now` (non-negative integers: counts, micro-dollars) as
    text for a metric's delta, by the rule above; `fmt` formats an absolute difference."""
    if now < 0 or before < 0:
        raise ValueError("changes are described for non-negative figures only")
    if before == 0:
        return None if now == 0 else "new"
    diff = now - before
    absolute = f"{'+' if diff >= 0 else '-'}{fmt(abs(diff))}"
    if before * MIN_BASE_RATIO < now:
        return absolute
    return f"{absolute} ({diff / before:+.1%})"
