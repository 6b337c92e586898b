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
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from kilo_litellm.auth import proxy_router
from kilo_litellm.events import usage_event
from kilo_litellm.runtime import runtime

log = logging.getLogger("kilo_litellm")


def _provider(slo: dict[str, Any]) -> str:
    """The catalogue provider of the deployment that answered (`model_info.kilo_provider`),
    else LiteLLM's provider name."""
    deployment_id = slo.get("model_id")
    router = proxy_router()
    if router is not None and deployment_id:
        deployment = router.get_deployment(model_id=deployment_id)
        info = getattr(deployment, "model_info", None)
        provider = getattr(info, "kilo_provider", None) or (
            info.get("kilo_provider") if isinstance(info, dict) else None
        )
        if provider:
            return str(provider)
    return str(slo.get("custom_llm_provider") or "unknown")


class UsageLogger(CustomLogger):
    async def _record(self, kwargs: dict[str, Any], status: str) -> None:
        slo = kwargs.get("standard_logging_object")
        if not isinstance(slo, dict):
            return
        gateway = runtime()
        event = usage_event(
            slo, provider=_provider(slo), default_mode=gateway.settings.default_mode, status=status
        )
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
