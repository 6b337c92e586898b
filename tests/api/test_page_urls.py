"""`api.page_urls.PageBaseUrl`: a page's URL (`/usage`) tells Streamlit's frontend where the
app's root is, so it connects without first probing `/usage/_stcore/health`."""

from __future__ import annotations

import asyncio

import pytest

from api.page_urls import SCRIPT, PageBaseUrl, is_page_path, with_base_url

HTML = b"<!DOCTYPE html><html><head><title>Streamlit</title></head><body></body></html>"


@pytest.mark.parametrize(
    ("path", "base", "page"),
    [
        ("/usage", "", True),
        ("/model_access", "", True),
        ("/accept-invite", "", True),
        ("/", "", False),
        ("", "", False),
        ("/usage/", "", False),  # Streamlit redirects it to /usage
        ("/usage/extra", "", False),
        ("/favicon.png", "", False),
        ("/kilo/usage", "/kilo", True),
        ("/usage", "/kilo", False),
        ("/kilo", "/kilo", False),
    ],
)
def test_only_the_roots_pages_are_page_paths(path, base, page):  # noqa: ANN001
    assert is_page_path(path, base) is page


def test_the_script_comes_first_in_the_head():
    page = with_base_url(HTML)
    assert page == HTML.replace(b"<head>", b"<head>" + SCRIPT)
    assert with_base_url(b"no head here") is None
    # The root is the browser's URL without its last segment, behind any proxy prefix.
    assert b'location.pathname.replace(/[^/]*$/,"")' in SCRIPT


def _serve(path: str, *, content_type: bytes = b"text/html; charset=utf-8", chunks=(HTML,)):  # noqa: ANN001, ANN202
    """Run the middleware in front of an app that answers `chunks`; returns what was sent
    and the request headers the app saw."""
    seen: dict = {}
    sent: list[dict] = []

    async def app(scope, receive, send):  # noqa: ANN001, ANN202
        seen["headers"] = scope["headers"]
        total = sum(len(c) for c in chunks)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(total).encode()),
                    (b"cache-control", b"no-cache"),
                ],
            }
        )
        for i, chunk in enumerate(chunks):
            more = i < len(chunks) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    async def send(message):  # noqa: ANN001, ANN202
        sent.append(message)

    async def receive():  # noqa: ANN202
        return {"type": "http.request", "body": b""}

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": [(b"host", b"x"), (b"accept-encoding", b"gzip, br")],
    }
    asyncio.run(PageBaseUrl(app)(scope, receive, send))
    return sent, seen["headers"]


def test_a_page_gets_the_script_with_a_matching_length():
    sent, request_headers = _serve("/usage", chunks=(HTML[:20], HTML[20:]))
    start, body = sent[0], b"".join(m.get("body", b"") for m in sent[1:])
    assert body == with_base_url(HTML)
    headers = dict(start["headers"])
    assert headers[b"content-length"] == str(len(body)).encode()
    assert headers[b"cache-control"] == b"no-cache"
    # Asked uncompressed, so that the HTML can be changed.
    assert b"accept-encoding" not in dict(request_headers)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/", b"text/html"),  # the root: the frontend finds the server at once
        ("/static/js/index.js", b"text/javascript"),
        ("/usage", b"application/json"),  # not a page
    ],
)
def test_everything_else_passes_unchanged(path, content_type):  # noqa: ANN001
    sent, request_headers = _serve(path, content_type=content_type)
    assert b"".join(m.get("body", b"") for m in sent[1:]) == HTML
    assert dict(sent[0]["headers"])[b"content-length"] == str(len(HTML)).encode()
    if path == "/":
        assert dict(request_headers)[b"accept-encoding"] == b"gzip, br"


def test_the_server_answers_a_page_url_with_the_script(api_server):  # noqa: ANN001
    """The real server (Streamlit gzips a page's HTML when it may): the script is there, and
    not in the root's HTML."""
    page = api_server.call("GET", "/usage", headers={"Accept-Encoding": "gzip"})
    assert page.status == 200
    assert page.headers.get("content-encoding") is None
    assert int(page.headers["content-length"]) == len(page.body)
    assert page.body.count(SCRIPT) == 1 and b"<head>" + SCRIPT in page.body
    root = api_server.call("GET", "/", headers={"Accept-Encoding": "gzip"})
    assert root.status == 200 and SCRIPT not in root.body
    health = api_server.call("GET", "/api/health")
    assert health.status == 200 and health.json()["status"] == "ok"
