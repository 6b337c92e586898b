"""HTTP plumbing shared by the endpoints: JSON errors with stable codes, capped bodies,
JSON parsing and the organization's bearer tokens. No business rules live here."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio.to_thread
from anyio import CapacityLimiter
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kilo import apikeys
from kilo.db import get_engine, write_session
from kilo.models import utcnow

MAX_BODY = 1_048_576  # bytes of a request body (1 MiB)
log = logging.getLogger("kilo.api")

# The endpoints' work (it waits on the database) runs in worker threads, in bounded pools.
# More threads than useful only queue on a lock, and in the dashboard's server each one
# competes with the pages' script runs for the one interpreter. The gateway's decisions
# ("decide": authorize, policy) have a pool of their own, so they never wait behind usage
# batches, read-API exports or webhooks. Usage batches ("ingest") queue on the
# organization's lock: on PostgreSQL their round trips overlap (16 workers: 3,398 events/s,
# 4: 1,995), while SQLite has one writer and more threads only poll its lock (4 instead of
# Starlette's 40: 1,346 -> 2,300 events/s beside a rendering page, post p99 7.8 s -> 1.6 s).
WORKERS = 4
INGEST_WORKERS = {"postgresql": 16}
_pools: dict[str, CapacityLimiter] = {}


def pool_size(pool: str) -> int:
    if pool == "ingest":
        return INGEST_WORKERS.get(get_engine().dialect.name, WORKERS)
    return WORKERS


async def in_thread(fn: Callable[..., Any], *args: Any, pool: str = "other") -> Any:
    """`fn(*args)` in a worker thread of the API's bounded pool `pool` ("decide", "ingest"
    or "other")."""
    limiter = _pools.get(pool)
    if limiter is None:  # made on the server's event loop
        limiter = _pools[pool] = CapacityLimiter(pool_size(pool))
    return await anyio.to_thread.run_sync(functools.partial(fn, *args), limiter=limiter)


class ApiError(Exception):
    """An answer other than success: HTTP status, stable code, message for a developer."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers, self.extra = headers, extra

    def response(self) -> JSONResponse:
        return error_response(
            self.status, self.code, self.message, headers=self.headers, **self.extra
        )


def error_response(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, **extra}}, status_code=status, headers=headers
    )


INTERNAL_ERROR = (
    "The server could not answer this request; the error was logged. Nothing was changed."
)


def endpoint(
    fn: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Every endpoint answers JSON: its ApiErrors as they are, anything else as a logged
    500 `internal_error` (never a traceback)."""

    @functools.wraps(fn)
    async def wrapper(request: Request) -> Response:
        try:
            return await fn(request)
        except ApiError as exc:
            return exc.response()
        except Exception:  # noqa: BLE001
            log.exception("API %s %s failed", request.method, request.url.path)
            return error_response(500, "internal_error", INTERNAL_ERROR)

    return wrapper


def _too_large() -> ApiError:
    return ApiError(
        413,
        "body_too_large",
        f"The request body is over {MAX_BODY:,} bytes; send less per request "
        "(e.g. smaller usage batches).",
    )


async def read_body(request: Request) -> bytes:
    """The raw body, at most MAX_BODY bytes: a larger Content-Length is refused before
    reading, and reading stops as soon as the bytes received pass the cap."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.strip().isdigit():
            raise ApiError(400, "invalid_request", "The Content-Length header is not a number.")
        if int(length) > MAX_BODY:
            raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def parse_json(body: bytes) -> Any:
    """The body as JSON, or 400 `invalid_json` (NaN and Infinity are not JSON)."""
    if not body.strip():
        raise ApiError(400, "invalid_json", "The request body is empty; send a JSON object.")
    try:
        return json.loads(body, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, ...
        raise ApiError(
            400, "invalid_json", f"The request body is not valid JSON: {str(exc)[:200]}"
        ) from None


def json_object(body: bytes) -> dict[str, Any]:
    data = parse_json(body)
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", "The request body must be a JSON object.")
    return data


def bearer(request: Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


_TOKEN_HELP = {
    "gateway": "the organization's gateway token (kilo_gw_…)",
    "read": "the organization's read token (kilo_rd_…)",
}


def authenticate(session: Session, secret: str | None, *, scope: str) -> apikeys.TokenCaller:
    """The live API token of `scope`, or 401 `invalid_token`."""
    token = apikeys.authenticate_token(session, secret, scope=scope)
    if token is None:
        what = "is missing" if not secret else "is not valid (unknown, revoked or another scope)"
        raise ApiError(
            401,
            "invalid_token",
            f"The API token {what}. Send {_TOKEN_HELP[scope]} as `Authorization: Bearer "
            "<token>`; owners and admins create tokens in the dashboard.",
            headers={"WWW-Authenticate": 'Bearer realm="kilo"'},
        )
    return token


def record_use(*, token: apikeys.TokenCaller, key_id: int | None = None) -> apikeys.TokenCaller:
    """Write when the token (and a member's key) was last used, in a short transaction of
    its own after the answer was decided; the token at most once a minute. Returns the
    token as it is now (its `last_used_at` moved when it was written)."""
    touch = apikeys.needs_touch(token.last_used_at)
    if touch or key_id is not None:
        with write_session() as session:
            apikeys.mark_used(session, key_id=key_id, token_id=token.id if touch else None)
    return dataclasses.replace(token, last_used_at=utcnow()) if touch else token
