"""The dashboard's usage event for one LiteLLM call (`standard_logging_object`), and the
request's Kilo Code mode. No LiteLLM import: tested on its own."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

MODE_HEADER = "x-kilocode-mode"
_MODE = re.compile(r"^[a-z0-9-]{1,50}$")


def mode_slug(*candidates: object) -> str | None:
    """The first candidate that is a mode slug (lower-cased), or None."""
    for raw in candidates:
        if isinstance(raw, str) and _MODE.match(raw.strip().lower()):
            return raw.strip().lower()
    return None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _cost(value: Any) -> str:
    """LiteLLM's float cost as the plain decimal it prints (`repr`), so 0.000225 stays
    0.000225 (the dashboard rounds to micro-dollars, half-even)."""
    try:
        cost = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return "0"
    return format(cost, "f") if cost.is_finite() and cost > 0 else "0"  # never 1E-7


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return datetime.now(UTC)


def _mode(slo: dict[str, Any], default: str) -> str:
    metadata = slo.get("metadata") or {}
    headers = {k.lower(): v for k, v in (metadata.get("requester_custom_headers") or {}).items()}
    auth_meta = metadata.get("user_api_key_auth_metadata") or {}
    requester = metadata.get("requester_metadata") or {}
    return (
        mode_slug(auth_meta.get("kilo_mode"), headers.get(MODE_HEADER), requester.get("mode"))
        or default
    )


def usage_event(
    slo: dict[str, Any], *, provider: str, default_mode: str, status: str
) -> dict[str, Any] | None:
    """The dashboard's usage event for one call, or None when no member made it (the
    proxy's master key)."""
    metadata = slo.get("metadata") or {}
    email = metadata.get("user_api_key_user_id")
    if not isinstance(email, str) or "@" not in email:
        return None
    usage = metadata.get("usage_object") or {}
    details = usage.get("prompt_tokens_details") or {}
    start, end = slo.get("startTime"), slo.get("endTime")
    latency = (
        int(round((end - start) * 1000))
        if isinstance(start, int | float) and isinstance(end, int | float)
        else 0
    )
    return {
        "id": str(slo.get("litellm_call_id") or slo.get("id") or "")[:100],
        "timestamp": _when(start).isoformat(),
        "member_email": email,
        "model": slo.get("model_group") or slo.get("model"),
        "provider": provider,
        "mode": _mode(slo, default_mode),
        "input_tokens": _int(slo.get("prompt_tokens")),
        "output_tokens": _int(slo.get("completion_tokens")),
        "cache_read_tokens": _int(details.get("cached_tokens") if isinstance(details, dict) else 0),
        "cache_write_tokens": _int(usage.get("cache_creation_input_tokens")),
        "cost_usd": _cost(slo.get("response_cost")),
        "latency_ms": max(0, latency),
        "status": status,
    }
