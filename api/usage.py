"""GET /api/v1/usage (read token): the Usage tab's figures as JSON or CSV."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.core import ApiError, authenticate, bearer, endpoint, in_thread, record_use
from kilo import usage_report
from kilo.db import read_session
from kilo.permissions import system_actor


def report(secret: str | None, pairs: list[tuple[str, str]]) -> Response:
    with read_session() as session:
        token = authenticate(session, secret, scope="read")
        try:
            query = usage_report.parse_query(pairs)
            result = usage_report.build_report(
                session,
                actor=system_actor(token.org_id, name=f"API token {token.name}"),
                query=query,
            )
        except usage_report.InvalidParameter as exc:
            raise ApiError(400, "invalid_parameter", str(exc), parameter=exc.parameter) from None
        except usage_report.AnalyticsOff as exc:
            raise ApiError(403, "analytics_off", str(exc)) from None
    record_use(token=token)
    if query.fmt == "csv":
        name = f"usage_{query.start}_{query.end}_by_{query.group_by}.csv"
        return Response(
            result.as_csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return JSONResponse(result.as_json())


@endpoint
async def usage(request: Request) -> Response:
    return await in_thread(report, bearer(request), request.query_params.multi_items())
