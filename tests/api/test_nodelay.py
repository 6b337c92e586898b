"""`api.NoDelay`: the server's connections (the API, Streamlit's pages and files, its
websocket) send each answer at once (TCP_NODELAY), although Streamlit's listening socket
(protocol 0) leaves asyncio to keep Nagle's algorithm on."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

import api
from api import NoDelay


class _Cycle:
    """Stands for uvicorn's request cycle: `receive` is its bound method."""

    def __init__(self, transport: object) -> None:
        self.transport = transport

    async def receive(self) -> dict:
        return {"type": "http.request", "body": b""}


class _Transport:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, name: str) -> object:
        return self.sock if name == "socket" else None


def _pair() -> tuple[socket.socket, socket.socket, socket.socket]:
    listener = socket.socket(family=socket.AF_INET)  # protocol 0, as Streamlit binds it
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    return listener, client, accepted


@pytest.mark.parametrize("kind", ["http", "websocket"])
def test_the_connection_gets_tcp_nodelay_and_the_request_goes_on(kind):  # noqa: ANN001
    listener, client, accepted = _pair()
    try:
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        called = []

        async def app(scope, receive, send):  # noqa: ANN001, ANN202
            called.append(scope["path"])

        cycle = _Cycle(_Transport(accepted))
        asyncio.run(NoDelay(app)({"type": kind, "path": "/x"}, cycle.receive, None))
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert called == ["/x"]
    finally:
        for s in (client, accepted, listener):
            s.close()


def test_without_a_transport_nothing_changes():
    called = []

    async def app(scope, receive, send):  # noqa: ANN001, ANN202
        called.append(scope["type"])

    async def receive() -> dict:
        return {}

    asyncio.run(NoDelay(app)({"type": "http", "path": "/"}, receive, None))
    asyncio.run(NoDelay(app)({"type": "lifespan"}, receive, None))
    assert called == ["http", "lifespan"]


def test_the_server_puts_it_in_front_of_every_route():
    """server.py gives `api.middleware()` to st.App: it wraps Streamlit's routes too."""
    assert NoDelay in [m.cls for m in api.middleware()]
    server = Path(api.__file__).resolve().parent.parent / "server.py"
    assert "middleware=api.middleware()" in server.read_text()
