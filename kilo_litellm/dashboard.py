"""The dashboard's gateway API as the plugin calls it (HTTP, the organization's gateway
token): authorize a request, read the policy version, post usage batches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from kilo_litellm.settings import Settings

# The dashboard's refusal codes and the status the developer gets (kilo.gateway.STATUS).
REFUSALS = {
    "invalid_key": 401,
    "key_revoked": 401,
    "member_removed": 401,
    "model_not_allowed": 403,
    "provider_not_allowed": 403,
    "provider_trains_on_data": 403,
    "budget_exhausted": 402,
    "daily_limit_reached": 429,
    "insufficient_credits": 402,
    "invalid_request": 400,
}


class Unavailable(Exception):
    """The dashboard could not answer (down, unreachable, timed out, 5xx)."""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    status: int = 200
    code: str = ""
    message: str = ""
    member_email: str | None = None
    policy_version: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _version(data: Any) -> int | None:
    value = data.get("policy_version") if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Dashboard:
    def __init__(self, settings: Settings) -> None:
        self._client = httpx.AsyncClient(
            base_url=settings.dashboard_url,
            headers={"Authorization": f"Bearer {settings.gateway_token}"},
            timeout=settings.timeout,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )

    async def _post(self, path: str, payload: dict[str, Any]) -> httpx.Response:
        try:
            response = await self._client.post(path, json=payload)
        except httpx.HTTPError as exc:
            raise Unavailable(f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 500:
            raise Unavailable(f"HTTP {response.status_code}")
        return response

    async def authorize(
        self, *, api_key: str, model: str, provider: str | None, mode: str | None
    ) -> Decision:
        payload = {"api_key": api_key, "model": model, "provider": provider, "mode": mode}
        response = await self._post(
            "/api/v1/gateway/authorize", {k: v for k, v in payload.items() if v is not None}
        )
        try:
            data = response.json()
        except ValueError:
            raise Unavailable(f"HTTP {response.status_code} without JSON") from None
        if response.status_code == 200 and isinstance(data, dict) and data.get("allowed"):
            member = data.get("member") or {}
            return Decision(True, member_email=member.get("email"), policy_version=_version(data))
        error = data.get("error") if isinstance(data, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        if code not in REFUSALS:  # e.g. our own gateway token was revoked: not the member's fault
            raise Unavailable(f"HTTP {response.status_code} {code or ''}".strip())
        headers = {}
        if "retry-after" in response.headers:
            headers["Retry-After"] = response.headers["retry-after"]
        return Decision(
            False,
            status=REFUSALS[code],
            code=code,
            message=str(error.get("message", ""))[:500],
            policy_version=_version(error),
            headers=headers,
        )

    async def policy_version(self) -> int | None:
        try:
            response = await self._client.get("/api/v1/gateway/policy")
        except httpx.HTTPError as exc:
            raise Unavailable(f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 500:
            raise Unavailable(f"HTTP {response.status_code}")
        if response.status_code != 200:
            return None  # answered, without a version: decisions expire by their TTL
        try:
            return _version(response.json())
        except ValueError:
            raise Unavailable("policy answer without JSON") from None

    async def post_usage(self, events: list[dict[str, Any]]) -> tuple[int, Any]:
        """(status, JSON answer) of one batch; Unavailable when it may be retried later."""
        response = await self._post("/api/v1/gateway/usage", {"events": events})
        try:
            return response.status_code, response.json()
        except ValueError:
            raise Unavailable(f"HTTP {response.status_code} without JSON") from None

    async def close(self) -> None:
        await self._client.aclose()
