"""kilo.money: exact parsing and formatting of micro-dollars and cents."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kilo import money
from kilo.errors import ValidationError


def test_formats_micros_and_cents_exactly():
    assert money.usd(1_234_560_000) == "$1,234.56"
    assert money.usd(-1_500_000) == "-$1.50"
    assert money.usd(5_000) == "$0.00" and money.usd(15_000) == "$0.02"  # half-even
    assert money.usd(1_234, 4) == "$0.0012"
    assert money.usd(-1) == "$0.00"  # no "-$0.00"
    assert money.usd_cents(123_456) == "$1,234.56"
    assert money.usd_cents(-500) == "-$5.00"
    assert money.usd_cents(1_200, "eur") == "EUR 12.00"


@given(st.integers(0, 10**18))
def test_six_places_parse_back_to_the_same_micros(micros):
    assert money.parse_usd(money.usd(micros, 6)) == micros


@given(st.integers(-(10**15), 10**15))
def test_cents_parse_back_to_the_same_cents(cents):
    text = money.usd_cents(abs(cents))
    assert money.parse_usd_cents(text) == abs(cents)
    signed = f"-{text}" if cents < 0 else text
    assert money.parse_usd(signed, signed=True) == cents * money.MICROS_PER_CENT


@pytest.mark.parametrize(
    ("text", "micros"),
    [("25", 25_000_000), ("12.50", 12_500_000), ("$1,000", 1_000_000_000), (" 7 ", 7_000_000)],
)
def test_parses_what_users_type(text, micros):
    assert money.parse_usd(text) == micros


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("abc", "not an amount in dollars"),
        ("", "not an amount in dollars"),
        ("NaN", "zero or more"),
        ("-5", "zero or more"),
    ],
)
def test_refuses_what_is_not_an_amount(text, match):
    with pytest.raises(ValidationError, match=match):
        money.parse_usd(text)


def test_signed_amounts_and_whole_cents():
    assert money.parse_usd("-2.50", signed=True) == -2_500_000
    assert money.parse_usd(" -$3 ", signed=True) == -3_000_000
    with pytest.raises(ValidationError, match="not an amount"):
        money.parse_usd("-abc", signed=True)
    assert money.parse_usd_cents("1,234.50") == 123_450
    with pytest.raises(ValidationError, match="whole cents"):
        money.parse_usd_cents("12.345")
