"""The HTTP API alone, in a process of its own: `python -m api` (`make api`).

The dashboard's server (`server.py`) serves the same routes under /api/. There, each
dashboard page's script run shares one Python interpreter with the API, so a busy gateway
and the pages slow each other; this process answers only the API and can run on another
host or with more workers (the README's HTTP API section, with the figures measured). Both
processes use the same database and the same code; the alerts' runner stays in the
dashboard's server.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool

from api import routes, settle_heap, start


@asynccontextmanager
async def lifespan(_app: object) -> AsyncIterator[None]:
    """Start-up as the dashboard's server does it (migrations under their lock, the Stripe
    webhook secret and SMTP settings of secrets.toml), without the alerts' runner."""
    await run_in_threadpool(start)
    # Reading secrets.toml imports Streamlit, whose logging set-up gives uvicorn's access
    # logger a handler again: a line per request, a cost on the gateway's path.
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    settle_heap()
    yield


app = Starlette(routes=routes(), lifespan=lifespan)
