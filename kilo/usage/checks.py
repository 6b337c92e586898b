"""Checks of one usage event, shared by the gateway call and file import.

The per-request maxima (README, "Usage import") are far above any real request, and low
enough that no sum can overflow a 64-bit integer (see `kilo.rollups.store.MAX_ORG_TOTAL`).
`check_event` raises ValueError naming the first bad field; callers turn it into a
ValidationError (the gateway) or a line of the import's problem report (files).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal

STATUSES = ("success", "error")
MODE_RE = re.compile(r"^[a-z0-9-]{1,50}$")

MAX_TOKENS = 1_000_000_000  # each of input, output, cache-read and cache-write tokens
MAX_LATENCY_MS = 86_400_000  # one day
MAX_COST_USD = Decimal(10_000)


PLAIN_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


def _shown(text: str) -> str:
    """A value for an error message, cut short (a file can hold a huge cell)."""
    return text if len(text) <= 40 else text[:40] + "…"


def parse_cost_micros(value: object) -> int:
    """A USD amount as integer micro-dollars, rounded half-even below a micro-dollar.

    Text must be a plain decimal (`0.001234`): exponent forms (`1.2E-05`, what a
    spreadsheet makes of a small cost, with digits lost), NaN and Infinity are refused.
    Numbers (int, Decimal, float, as from a JSON file or a gateway) are taken as they are.
    Raises ValueError, with the reason, for anything that is not an amount between $0 and
    MAX_COST_USD.
    """
    if isinstance(value, bool):
        raise ValueError(f"cost “{value}” is not an amount of US dollars")
    if isinstance(value, int):
        amount = Decimal(value)
        shown = str(value) if abs(value) < 10**40 else "a number of more than 40 digits"
    elif isinstance(value, Decimal):
        amount, shown = value, _shown(str(value))
    elif isinstance(value, float):
        amount, shown = Decimal(repr(value)), repr(value)
    else:
        text = str(value if value is not None else "").strip()
        shown = _shown(text)
        if not PLAIN_DECIMAL.fullmatch(text):
            if re.fullmatch(r"[+-]?s?(nan|inf|infinity)", text, re.IGNORECASE):
                raise ValueError(f"cost “{shown}” is not a number of US dollars")
            if re.fullmatch(r"[+-]?[0-9.]+[eE][+-]?[0-9]+", text):
                raise ValueError(
                    f"cost “{shown}” is in exponent notation; write a plain decimal like "
                    "0.001234 (a spreadsheet may have rounded it: export the cost as text)"
                )
            if text.startswith("-"):
                raise ValueError(f"cost “{shown}” must be zero or a positive amount")
            raise ValueError(
                f"cost “{shown}” is not a decimal number of US dollars (like 0.001234)"
            )
        amount = Decimal(text)
    if not amount.is_finite():
        raise ValueError(f"cost “{shown}” is not a number of US dollars")
    if amount < 0:
        raise ValueError(f"cost “{shown}” must be zero or a positive amount")
    if amount > MAX_COST_USD:
        raise ValueError(f"cost “{shown}” is over the maximum of ${MAX_COST_USD:,} for one request")
    try:
        return int((amount * 1_000_000).quantize(Decimal(1), ROUND_HALF_EVEN))
    except ArithmeticError:  # the caller's decimal context may trap more than the default
        raise ValueError(f"cost “{shown}” is not a usable amount of US dollars") from None


def _int(value: object, name: str, maximum: int) -> int:
    """A whole number from 0 to `maximum`; ValueError naming the field otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number")
    if isinstance(value, int):
        number = value
    else:
        text = str(value if value is not None else "").strip()
        if not re.fullmatch(r"[0-9]+", text):
            raise ValueError(f"{name} “{_shown(text)}” is not a whole number of zero or more")
        if len(text.lstrip("0")) > len(str(maximum)):
            raise ValueError(f"{name} “{_shown(text)}” is over the maximum of {maximum:,}")
        number = int(text)
    if number < 0:
        raise ValueError(f"{name} must be zero or more")
    if number > maximum:
        shown = f"{number:,}" if number < 10**30 else "a number of more than 30 digits"
        raise ValueError(f"{name} {shown} is over the maximum of {maximum:,}")
    return number


def _timestamp(value: object, *, assume_utc: bool = False) -> datetime:
    if isinstance(value, datetime):
        at = value
    else:
        text = str(value or "").strip()
        try:
            at = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"timestamp “{text}” is not ISO 8601 (like 2026-05-01T14:03:00Z)"
            ) from None
    if at.tzinfo is None:
        if not assume_utc:
            raise ValueError(
                f"timestamp “{value}” has no time zone; add Z or an offset like +02:00"
            )
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC)


def _text(value: object, name: str, max_len: int) -> str:
    text = str(value if value is not None else "").strip()
    if not text:
        raise ValueError(f"{name} is missing")
    if len(text) > max_len:
        raise ValueError(f"{name} is longer than {max_len} characters")
    if not text.isprintable():
        raise ValueError(f"{name} contains control characters")
    return text


def check_event(
    *,
    at: object,
    member_id: int,
    model_id: object,
    provider: object,
    mode: object,
    input_tokens: object,
    output_tokens: object,
    cache_read_tokens: object = 0,
    cache_write_tokens: object = 0,
    cost: object,
    latency_ms: object,
    status: object,
    external_id: object = None,
    assume_utc: bool = False,
) -> dict:
    """Check one event's fields; raises ValueError naming the first bad field."""
    mode_text = str(mode or "code").strip().lower()
    if not MODE_RE.match(mode_text):
        raise ValueError(f"mode “{mode}” must be a mode slug (lowercase letters, digits, -)")
    status_text = str(status or "").strip().lower()
    if status_text not in STATUSES:
        raise ValueError(f"status “{status}” must be success or error")
    ext = str(external_id).strip() if external_id not in (None, "") else None
    if ext is not None and len(ext) > 100:
        raise ValueError("id is longer than 100 characters")
    return {
        "at": _timestamp(at, assume_utc=assume_utc),
        "member_id": member_id,
        "model_id": _text(model_id, "model", 200),
        "provider": _text(provider, "provider", 100),
        "mode": mode_text,
        "input_tokens": _int(input_tokens, "input_tokens", MAX_TOKENS),
        "output_tokens": _int(output_tokens, "output_tokens", MAX_TOKENS),
        "cache_read_tokens": _int(cache_read_tokens or 0, "cache_read_tokens", MAX_TOKENS),
        "cache_write_tokens": _int(cache_write_tokens or 0, "cache_write_tokens", MAX_TOKENS),
        "cost_micros": parse_cost_micros(cost),
        "latency_ms": _int(latency_ms, "latency_ms", MAX_LATENCY_MS),
        "status": status_text,
        "external_id": ext,
    }
