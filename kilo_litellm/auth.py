"""Every request to the proxy is decided by the dashboard (`custom_auth`).

The member's Kilo API key (`kilo_sk_…`, what Kilo Code sends as its API key) is the
proxy's key: the hook asks the dashboard's one decision function
(`POST /api/v1/gateway/authorize`, through the decision cache) whether this key may call
the requested model now, and answers a refusal with the dashboard's status and message
(401 key, 403 policy, 429 daily limit, 402 credits or budget, 503 dashboard unreachable).
An allowed request goes on under the member's e-mail as LiteLLM's user id, which the usage
logger reports back. The proxy's master key keeps LiteLLM's admin routes working.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from fastapi import Request
from litellm.proxy._types import LitellmUserRoles, ProxyException, UserAPIKeyAuth
from litellm.proxy.common_utils.http_parsing_utils import _read_request_body

from kilo_litellm.dashboard import Decision
from kilo_litellm.events import MODE_HEADER, mode_slug
from kilo_litellm.runtime import runtime


def proxy_router() -> Any:
    from litellm.proxy import proxy_server

    return proxy_server.llm_router


def provider_of(model: str) -> str | None:
    """The catalogue provider serving `model` on this proxy: `model_info.kilo_provider` of
    its deployments when they agree (None lets the dashboard check every serving one)."""
    router = proxy_router()
    if router is None:
        return None
    providers = {
        (d.get("model_info") or {}).get("kilo_provider")
        for d in router.get_model_list(model_name=model) or []
    }
    return providers.pop() if len(providers) == 1 and None not in providers else None


def any_model() -> str | None:
    router = proxy_router()
    names = router.get_model_names() if router is not None else []
    return names[0] if names else None


def mode_of(request: Request, body: dict[str, Any]) -> str:
    """The Kilo Code mode of the request: the `x-kilocode-mode` header (Kilo Code sends it to
    Kilo's own gateway; with the OpenAI Compatible provider a member can add it as a custom
    header), else `metadata.mode` of the body, else KILO_DEFAULT_MODE."""
    metadata = body.get("metadata")
    return (
        mode_slug(
            request.headers.get(MODE_HEADER),
            metadata.get("mode") if isinstance(metadata, dict) else None,
        )
        or runtime().settings.default_mode
    )


def refusal(decision: Decision) -> ProxyException:
    return ProxyException(
        message=decision.message,
        type=decision.code,
        param=None,
        code=decision.status,
        openai_code=decision.code,
        headers=dict(decision.headers) or None,
    )


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    from litellm.proxy import proxy_server

    master = proxy_server.master_key
    if master and hmac.compare_digest(api_key.encode(), str(master).encode()):
        return UserAPIKeyAuth(api_key=api_key, user_role=LitellmUserRoles.PROXY_ADMIN)
    gateway = runtime()
    body = await _read_request_body(request) if request.method == "POST" else {}
    model = body.get("model") if isinstance(body, dict) else None
    if not isinstance(model, str) or not model:
        # No model (e.g. GET /v1/models): only the key is checked. The dashboard checks the
        # key before anything else, so any refusal other than the key's own is a valid key.
        probe = any_model()
        if probe is None:
            raise ProxyException("This gateway serves no models.", "kilo_no_models", None, 503)
        decision = await gateway.decisions.decide(api_key, probe, None, None)
        if not decision.allowed and decision.status in (401, 503):
            raise refusal(decision)
        return UserAPIKeyAuth(token=key_hash(api_key), user_id=decision.member_email)
    mode = mode_of(request, body)
    decision = await gateway.decisions.decide(api_key, model, provider_of(model), mode)
    if not decision.allowed:
        raise refusal(decision)
    return UserAPIKeyAuth(
        token=key_hash(api_key), user_id=decision.member_email, metadata={"kilo_mode": mode}
    )


def key_hash(api_key: str) -> str:
    """What LiteLLM logs as the key (`token`): its SHA-256, as LiteLLM hashes its own keys.
    Passing the hash instead of `api_key` also skips LiteLLM's key parsing (~0.4 ms)."""
    return hashlib.sha256(api_key.encode()).hexdigest()
