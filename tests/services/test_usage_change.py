"""The rule for a change against the previous period (kilo.usage.change)."""

from __future__ import annotations

import pytest

from kilo.money import usd
from kilo.usage.change import describe_change


def test_nothing_before_is_new_and_nothing_at_all_is_no_change():
    assert describe_change(0, 0) is None
    assert describe_change(5, 0) == "new"


def test_an_almost_empty_previous_period_gives_the_absolute_change_only():
    # $738.05 now against $7.03 before: +10,398.6 % would mean nothing.
    assert describe_change(745_080_000, 7_030_000, usd) == "+$738.05"
    assert describe_change(1_001, 100) == "+901"  # just past a tenth: absolute
    assert describe_change(1_000, 100) == "+900 (+900.0%)"  # exactly a tenth: percentage


def test_ordinary_changes_give_the_absolute_change_and_the_percentage():
    assert describe_change(27_940_000, 28_930_000, usd) == "-$0.99 (-3.4%)"
    assert describe_change(1_765, 1_798) == "-33 (-1.8%)"
    assert describe_change(10, 10) == "+0 (+0.0%)"
    assert describe_change(1, 1_000) == "-999 (-99.9%)"  # falls keep their percentage


def test_negative_figures_are_refused():
    with pytest.raises(ValueError):
        describe_change(-1, 5)
