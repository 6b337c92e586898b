"""Small input checks shared by the services."""

from __future__ import annotations

from kilo.errors import ValidationError


def check_printable(value: str, what: str, *, multiline: bool = False) -> str:
    """Refuse control characters (NUL and the like: PostgreSQL cannot store NUL in text)."""
    allowed = "\n" if multiline else ""
    if any(not ch.isprintable() and ch not in allowed for ch in value):
        raise ValidationError(
            f"{what} contains control characters; use letters, digits, spaces and punctuation."
        )
    return value
