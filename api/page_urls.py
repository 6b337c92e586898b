"""A tab opened from its URL (`/usage`) connects at once instead of after a failed probe.

Streamlit's frontend does not know where the app's root is. Loaded from `/usage`, it first
looks for the server under `/usage/` (`/usage/_stcore/health` and `/host-config`: two
404s), then waits 100 ms before it tries `/`: 130-150 ms on every tab's URL load before
the websocket opens. The frontend reads the root from `window.__streamlit.BACKEND_BASE_URL`
when a page sets it, so `PageBaseUrl` adds that to the HTML Streamlit answers for a page's
URL: the URL without its last segment. It does so only where the server saw a one-segment
path (`/usage`, after Streamlit's `server.baseUrlPath`), which is the app's root plus a
page name, behind any proxy prefix: the browser's root is then its URL minus that segment.
Every other answer (the root `/`, files, the API, errors) passes unchanged.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_PATH = re.compile(r"/[A-Za-z0-9_-]+")  # one segment: a page's url_path (no dots: files)
SCRIPT = (
    b"<script>window.__streamlit=Object.assign({BACKEND_BASE_URL:"
    b'location.origin+location.pathname.replace(/[^/]*$/,"")},window.__streamlit)</script>'
)


def _base_url_path() -> str:
    try:
        from streamlit import config

        base = str(config.get_option("server.baseUrlPath") or "")
    except Exception:  # noqa: BLE001  (outside a Streamlit server)
        base = ""
    base = base.strip("/")
    return f"/{base}" if base else ""


def is_page_path(path: str, base: str = "") -> bool:
    """Whether `path` (as the server sees it) is the app's root plus one segment."""
    if base:
        if not path.startswith(base + "/"):
            return False
        path = path[len(base) :]
    return PAGE_PATH.fullmatch(path) is not None


def with_base_url(html: bytes) -> bytes | None:
    """The page with the script first in its head; None when it has no head."""
    head = html.find(b"<head>")
    if head < 0:
        return None
    at = head + len(b"<head>")
    return html[:at] + SCRIPT + html[at:]


class PageBaseUrl:
    """Tell the frontend where the app's root is in the HTML of a page's URL (see above)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") != "GET"
            or not is_page_path(scope.get("path", ""), _base_url_path())
        ):
            await self.app(scope, receive, send)
            return
        # Uncompressed (Streamlit gzips a page's HTML, not the root's): 8 kB on the wire.
        scope = {
            **scope,
            "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"],
        }
        start: Message | None = None
        chunks: list[bytes] = []

        async def send_page(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = {k.lower(): v for k, v in message.get("headers", [])}
                if (
                    message.get("status") == 200
                    and headers.get(b"content-type", b"").startswith(b"text/html")
                    and b"content-encoding" not in headers
                ):
                    start = message  # held until the body is complete
                    return
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                html = b"".join(chunks)
                body = with_base_url(html) or html
                headers = [
                    (k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"
                ]
                headers.append((b"content-length", str(len(body)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            await send(message)

        await self.app(scope, receive, send_page)
