"""A real HTTP server for tests that receives webhooks: http.server in a thread of this
process on a free port, keeping every request (path, headers, raw body).

    with WebhookReceiver(statuses=[500, 200]) as hook:   # answers 500, then 200 for the rest
        ...deliver to hook.url("/slack")...
        hook.wait_for(1)[0].json()

`hook.verified(secret)` checks each request's X-Kilo-Signature the way a receiver would:
recompute HMAC-SHA256 over "<t>." + the raw body with the shared secret, compare in constant
time, and refuse a timestamp more than 5 minutes away.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def receiver_verifies(secret: str, header: str, body: bytes, now: float | None = None) -> bool:
    """Written from the README's description, independently of kilo.alerts.verify."""
    try:
        fields = dict(item.split("=", 1) for item in header.split(","))
        timestamp, signature = int(fields["t"]), fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > 300:
        return False
    expected = hmac.new(
        secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, signature)


class WebhookReceiver:
    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.requests.append(Received(self.path, dict(self.headers), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.requests)

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.received()) >= count:
                return self.received()
            time.sleep(0.05)
        raise AssertionError(f"expected {count} request(s), got {len(self.received())}")
