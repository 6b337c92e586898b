"""The dashboard's HTTP API, served by the same process as the dashboard (`server.py`).

A thin layer: each endpoint reads the request (capped body, JSON, bearer token), calls one
`kilo` service and maps its answer or refusal to HTTP. Every error is JSON
`{"error": {"code": ..., "message": ...}}` with a stable code. The endpoints are listed in
the README ("HTTP API").
"""

from __future__ import annotations

import gc
import importlib
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from api import gateway, health, usage, webhooks
from api.core import error_response
from api.page_urls import PageBaseUrl

log = logging.getLogger("kilo.api")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Unknown paths and wrong methods under /api/, as JSON like every other error."""
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = {
        404: f"There is no API endpoint at {request.url.path}; see the README's HTTP API.",
        405: f"{request.method} is not allowed on {request.url.path}.",
    }.get(exc.status_code, str(exc.detail))
    return error_response(exc.status_code, code, message, headers=exc.headers)


class NoDelay:
    """Send each answer at once: turn Nagle's algorithm off on the request's connection.

    Streamlit binds the server's socket itself with protocol 0, so asyncio does not set
    TCP_NODELAY on the connections it accepts (it only does for IPPROTO_TCP sockets). uvicorn
    writes an answer's head and body separately, and with Nagle on the body waits for the
    client's delayed ACK: about 40 ms on every keep-alive request (authorize: 48 ms instead
    of 2 ms for one client; each of the ~80 files of Streamlit's frontend on a first visit;
    the websocket's messages of a script run). `server.py` puts it in front of every route:
    the API, Streamlit's pages and static files, and its websocket. The transport is reached
    through uvicorn's `receive`; where it is not there (another server), nothing is changed.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            transport = getattr(getattr(receive, "__self__", None), "transport", None)
            sock = transport.get_extra_info("socket") if transport is not None else None
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except OSError:  # the connection is already gone
                    pass
        await self.app(scope, receive, send)


def build_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/health", health.health, methods=["GET"]),
            Route("/v1/stripe/webhook", webhooks.stripe_webhook, methods=["POST"]),
            Route("/v1/gateway/authorize", gateway.authorize, methods=["POST"]),
            Route("/v1/gateway/usage", gateway.usage, methods=["POST"]),
            Route("/v1/gateway/policy", gateway.policy, methods=["GET"]),
            Route("/v1/usage", usage.usage, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error},
    )


def routes() -> list[BaseRoute]:
    """The routes to give `st.App`: everything under /api/."""
    return [Mount("/api", app=build_app())]


def middleware() -> list[Middleware]:
    """The middleware to give `st.App`, in front of the API and Streamlit's own routes."""
    return [Middleware(NoDelay), Middleware(PageBaseUrl)]


def _secrets() -> dict[str, Any]:
    try:
        import streamlit as st

        return st.secrets.to_dict()
    except Exception:  # noqa: BLE001  (no secrets.toml)
        return {}


def start() -> None:
    """At server start: migrate the database (so the API works before anyone opened the
    dashboard) and make the Stripe webhook secret and the SMTP settings of secrets.toml
    visible to `kilo` (the alerts runner e-mails before anyone opens the dashboard)."""
    from kilo import db, mail, stripe_gateway

    stripe_gateway.export_to_environ(_secrets())
    mail.export_to_environ(_secrets())
    try:
        db.migrate()
    except Exception:  # noqa: BLE001  (the dashboard shows it; /api/health answers 503)
        log.exception("migrating the database at start-up failed")


# The dashboard's pages import these on their first run; importing them at start-up lets
# `settle_heap` freeze them too.
PAGE_LIBRARIES = ("pandas", "altair", "pyarrow")


def settle_heap(preload: tuple[str, ...] = ()) -> None:
    """Import `preload`, collect, and take every object alive now (modules, classes, the
    libraries' tables) out of the garbage collector's full passes (`gc.freeze`): a full
    collection then walks only what was made since. In the dashboard's server beside a
    re-rendering Usage tab, the full passes went from 65-125 ms (every ~15 s) to 13-24 ms
    (every ~6 s); each one stops the API's answers too."""
    for name in preload:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()


@asynccontextmanager
async def lifespan(_app: object) -> AsyncIterator[None]:
    """Start-up, then the alerts' background runner (one thread per server process, every
    KILO_ALERTS_INTERVAL seconds; 0 turns it off), stopped when the server stops."""
    from kilo import alerts

    await run_in_threadpool(start)
    await run_in_threadpool(settle_heap, PAGE_LIBRARIES)
    alerts.start_background()
    try:
        yield
    finally:
        await run_in_threadpool(alerts.stop_background)
