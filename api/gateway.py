"""The gateway's endpoints (gateway token): authorize one request, report usage events, and
the organization's policy version (for a gateway that caches decisions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.core import (
    ApiError,
    authenticate,
    bearer,
    endpoint,
    in_thread,
    json_object,
    read_body,
    record_use,
)
from kilo import apikeys, gateway, gateway_usage
from kilo.db import read_session, write_session
from kilo.errors import ValidationError
from kilo.permissions import system_actor
from kilo.usage_report import usd_text

AUTHORIZE_FIELDS = ("api_key", "model", "provider", "mode")


def _usd(micros: int | None) -> str | None:
    return None if micros is None else usd_text(micros)


def _seconds_to_utc_midnight() -> int:
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    return max(1, int((midnight - now).total_seconds()))


def _authorize_fields(data: dict[str, Any]) -> tuple[str, str, str | None, str | None]:
    unknown = sorted(str(k) for k in data if k not in AUTHORIZE_FIELDS)
    if unknown:
        raise ApiError(
            400,
            "invalid_request",
            f"Unknown field(s) {', '.join(unknown)[:200]}; send {', '.join(AUTHORIZE_FIELDS)}.",
        )
    api_key = data.get("api_key")
    if not isinstance(api_key, str):
        raise ApiError(
            400, "invalid_request", "api_key must be a string: the member's key (kilo_sk_…)."
        )
    problem = gateway.check_request_fields(
        data.get("model"), data.get("provider"), data.get("mode")
    )
    if problem:
        raise ApiError(400, "invalid_request", problem[0].upper() + problem[1:] + ".")
    return api_key, data["model"], data.get("provider"), data.get("mode")


def authorize_request(secret: str | None, body: bytes) -> JSONResponse:
    with read_session(autocommit=True) as session:
        token = apikeys.kept_token(session, secret, scope="gateway")
        token = token or authenticate(session, secret, scope="gateway")
        api_key, model, provider, mode = _authorize_fields(json_object(body))
        decision = gateway.decide(
            session,
            org_id=token.org_id,
            api_key=api_key,
            model=model,
            provider=provider,
            mode=mode,
        )
        if decision.policy_version != token.policy_version:
            # The organization changed since the token was read (it may have been revoked):
            # read it again before answering.
            apikeys.forget_token(session, secret)
            token = authenticate(session, secret, scope="gateway")
        token = record_use(token=token, key_id=decision.key_id if decision.touch else None)
        apikeys.keep_token(session, secret, token)
    if not decision.allowed:
        headers = None
        if decision.code == "daily_limit_reached":
            headers = {"Retry-After": str(_seconds_to_utc_midnight())}
        raise ApiError(
            decision.status,
            decision.code,
            decision.message,
            headers=headers,
            policy_version=decision.policy_version,
        )
    return JSONResponse(
        {
            "allowed": True,
            "member": {"id": decision.member_id, "email": decision.member_email},
            "daily_limit_usd": _usd(decision.daily_limit_micros),
            "spent_today_usd": _usd(decision.spent_today_micros),
            "remaining_today_usd": _usd(decision.remaining_today_micros),
            "balance_usd": _usd(decision.balance_micros),
            "policy_version": decision.policy_version,
        }
    )


def policy_answer(secret: str | None) -> JSONResponse:
    with read_session(autocommit=True) as session:
        token = authenticate(session, secret, scope="gateway")
        version = gateway.policy_version(session, token.org_id)
    record_use(token=token)
    return JSONResponse({"policy_version": version})


def record_usage_batch(secret: str | None, body: bytes) -> JSONResponse:
    with read_session(autocommit=True) as session:
        token = authenticate(session, secret, scope="gateway")
    data = json_object(body)
    unknown = sorted(str(k) for k in data if k != "events")
    if unknown or not isinstance(data.get("events"), list):
        raise ApiError(
            400,
            "invalid_request",
            'Send {"events": [...]}: a list of at most '
            f"{gateway_usage.MAX_EVENTS:,} usage events.",
        )
    actor = system_actor(token.org_id, name=f"API token {token.name}")
    try:
        with write_session() as session:
            result = gateway_usage.record_batch(session, actor=actor, events=data["events"])
    except gateway_usage.InvalidEvents as exc:
        raise ApiError(
            422,
            "invalid_events",
            str(exc),
            events=[{"index": i, "message": m} for i, m in exc.problems],
        ) from None
    except gateway_usage.TooManyEvents as exc:
        raise ApiError(413, "too_many_events", str(exc)) from None
    except ValidationError as exc:  # e.g. the organization's sums would overflow
        raise ApiError(422, "invalid_request", str(exc)) from None
    record_use(token=token)
    return JSONResponse({"stored": result.stored, "duplicates": result.duplicates})


@endpoint
async def authorize(request: Request) -> Response:
    body = await read_body(request)
    return await in_thread(authorize_request, bearer(request), body, pool="decide")


@endpoint
async def usage(request: Request) -> Response:
    body = await read_body(request)
    return await in_thread(record_usage_batch, bearer(request), body, pool="ingest")


@endpoint
async def policy(request: Request) -> Response:
    return await in_thread(policy_answer, bearer(request), pool="decide")
