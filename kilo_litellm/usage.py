"""Each request's usage, with LiteLLM's own figures, goes to the dashboard.

LiteLLM calls `async_log_success_event` / `async_log_failure_event` after each call with
`kwargs["standard_logging_object"]`: the call id (the event's id, so a resend is a
duplicate, not a second event), `response_cost` (a float: turned into a decimal string
exactly as printed), prompt/completion/cached tokens, the model group the client asked for
(the dashboard's model id), the provider, status and timing. The event is appended to the
spool at once and sent in batches by the runtime's sender.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from kilo_litellm.auth import _MODE, MODE_HEADER
from kilo_litellm.runtime import runtime

log = logging.getLogger("kilo_litellm")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _cost(value: Any) -> str:
    try:
        cost = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return "0"
    return str(cost) if cost.is_finite() and cost > 0 else "0"


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
    for raw in (auth_meta.get("kilo_mode"), headers.get(MODE_HEADER), requester.get("mode")):
        if isinstance(raw, str) and _MODE.match(raw.strip().lower()):
            return raw.strip().lower()
    return default


def _provider(slo: dict[str, Any]) -> str:
    """The catalogue provider of the deployment that answered (`model_info.kilo_provider`),
    else LiteLLM's provider name."""
    from kilo_litellm.auth import _router

    router = _router()
    deployment_id = slo.get("model_id")
    if router is not None and deployment_id:
        deployment = router.get_deployment(model_id=deployment_id)
        info = getattr(deployment, "model_info", None)
        provider = getattr(info, "kilo_provider", None) or (
            info.get("kilo_provider") if isinstance(info, dict) else None
        )
        if provider:
            return str(provider)
    return str(slo.get("custom_llm_provider") or "unknown")


def usage_event(slo: dict[str, Any], *, default_mode: str, status: str) -> dict[str, Any] | None:
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
        "provider": _provider(slo),
        "mode": _mode(slo, default_mode),
        "input_tokens": _int(slo.get("prompt_tokens")),
        "output_tokens": _int(slo.get("completion_tokens")),
        "cache_read_tokens": _int(details.get("cached_tokens") if isinstance(details, dict) else 0),
        "cache_write_tokens": _int(usage.get("cache_creation_input_tokens")),
        "cost_usd": _cost(slo.get("response_cost")),
        "latency_ms": max(0, latency),
        "status": status,
    }


class UsageLogger(CustomLogger):
    async def _record(self, kwargs: dict[str, Any], status: str) -> None:
        slo = kwargs.get("standard_logging_object")
        if not isinstance(slo, dict):
            return
        gateway = runtime()
        event = usage_event(slo, default_mode=gateway.settings.default_mode, status=status)
        if event is not None:
            gateway.record(event)

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        try:
            await self._record(kwargs, "success")
        except Exception:  # noqa: BLE001 - logging must never break the proxy's answer
            log.exception("kilo_litellm: could not spool a usage event")

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        try:
            await self._record(kwargs, "error")
        except Exception:  # noqa: BLE001
            log.exception("kilo_litellm: could not spool a usage event")


usage_logger = UsageLogger()
