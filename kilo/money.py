"""Money: the one place that parses and formats micro-dollars and cents.

Usage costs, credits and the ledger are integer micro-dollars (1 USD = 1,000,000);
invoices and payments are integer cents, as Stripe counts them. Conversions here are
exact (Decimal, half-even rounding where a figure is shortened for display); nothing
goes through a float.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from kilo.errors import ValidationError

MICROS_PER_DOLLAR = 1_000_000
CENTS_PER_DOLLAR = 100
MICROS_PER_CENT = MICROS_PER_DOLLAR // CENTS_PER_DOLLAR


def usd(micros: int, places: int = 2) -> str:
    """Micro-dollars as exact dollars, e.g. -1_500_000 -> -$1.50, 1_234_560_000 -> $1,234.56.

    Rounded half-even to `places` decimals (four show a sub-cent cost per request).
    """
    value = (Decimal(micros) / MICROS_PER_DOLLAR).quantize(
        Decimal(1).scaleb(-places), ROUND_HALF_EVEN
    )
    return f"{'-' if value < 0 else ''}${abs(value):,.{places}f}"


def usd_cents(cents: int, currency: str = "usd") -> str:
    """Cents as money: $1,234.56, -$5.00; another currency as its code, e.g. EUR 12.00."""
    value = Decimal(cents) / CENTS_PER_DOLLAR
    symbol = "$" if currency.lower() == "usd" else f"{currency.upper()} "
    return f"{'-' if value < 0 else ''}{symbol}{abs(value):,.2f}"


def parse_usd(text: str, *, signed: bool = False) -> int:
    """A dollar amount typed by a user (`25`, `12.50`, `$1,000`) as micro-dollars, exactly.

    Refused (ValidationError): anything that is not a plain amount, and negative amounts
    unless `signed`, where a leading minus (`-10`) makes the result negative.
    """
    if signed:
        stripped = (text or "").strip()
        if stripped.startswith("-"):
            return -parse_usd(stripped.removeprefix("-"))
        text = stripped
    cleaned = (text or "").strip().replace(",", "").removeprefix("$")
    try:
        value = Decimal(cleaned)
    except Exception:  # noqa: BLE001
        raise ValidationError(f"“{text}” is not an amount in dollars (like 25 or 12.50).") from None
    if not value.is_finite() or value < 0:
        raise ValidationError("The amount must be zero or more.")
    return int((value * MICROS_PER_DOLLAR).to_integral_value())


def parse_usd_cents(text: str) -> int:
    """A dollar amount typed by a user as whole cents; more than two decimals are refused."""
    micros = parse_usd(text)
    if micros % MICROS_PER_CENT:
        raise ValidationError("Use whole cents (at most two decimals).")
    return micros // MICROS_PER_CENT
