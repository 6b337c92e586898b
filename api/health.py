"""GET /api/health: the database answers and its schema is at the newest migration."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.core import endpoint, in_thread, log
from kilo import db


def check() -> JSONResponse:
    try:
        current = db.current_revisions()
    except Exception as exc:  # noqa: BLE001  (any driver error: unreachable, locked, ...)
        log.warning("health: the database cannot be reached: %s", exc)
        return JSONResponse(
            {
                "status": "error",
                "database": "unreachable",
                "error": {
                    "code": "database_unreachable",
                    "message": "The database cannot be reached; see the server log.",
                },
            },
            status_code=503,
        )
    head = db.head_revisions()
    if current != head:
        return JSONResponse(
            {
                "status": "error",
                "database": "ok",
                "migrations": "not_at_head" if current else "none",
                "current": list(current),
                "head": list(head),
                "error": {
                    "code": "migrations_not_at_head",
                    "message": f"The database is at revision {', '.join(current) or 'none'}, "
                    f"this code needs {', '.join(head)}; restart the server to migrate.",
                },
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "ok", "migrations": "head"})


@endpoint
async def health(request: Request) -> Response:
    return await in_thread(check)
