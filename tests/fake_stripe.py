"""A small local fake of the Stripe API, for tests that must never reach the network.

It speaks the wire format the `stripe` library uses (form-encoded requests with nested
`a[b][0][c]` keys, JSON responses with an `object` field, JSON errors) for the endpoints
kilo calls: customers, checkout sessions, subscriptions, refunds and invoices. Tests drive
the "customer" side with `complete_session`, `expire_session`, `add_subscription` and
`fail_next`, and build webhook events with `event(...)`.

    with FakeStripe() as fake:
        config = StripeConfig("sk_test_fake", webhook_secret="whsec_x", api_base=fake.url)
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

API_KEY_PREFIX = "sk_test_"


def decode_form(body: str) -> dict[str, Any]:
    """`a[b][0][c]=1&x=2` -> {"a": {"b": [{"c": "1"}]}, "x": "2"} (lists from digit keys)."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def listify(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: listify(v) for k, v in node.items()}
            if node and all(k.isdigit() for k in node):
                return [node[k] for k in sorted(node, key=int)]
        return node

    return listify(root)


class FakeStripe:
    """The fake server and its in-memory state (one instance per test)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.customers: dict[str, dict] = {}
        self.sessions: dict[str, dict] = {}
        self.subscriptions: dict[str, dict] = {}
        self.charges: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.invoices: dict[str, dict] = {}
        self.requests: list[tuple[str, str, dict]] = []
        self._failures: list[tuple[str, int, dict]] = []
        self._idempotent: dict[str, tuple[int, dict]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # ---- lifecycle ------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeStripe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- test controls ----------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):06d}"

    def fail_next(
        self,
        path_prefix: str,
        *,
        status: int = 402,
        message: str = "Your card was declined.",
        code: str = "card_declined",
        type_: str = "card_error",
    ) -> None:
        """Make the next request whose path starts with `path_prefix` fail like Stripe does."""
        self._failures.append(
            (path_prefix, status, {"error": {"type": type_, "code": code, "message": message}})
        )

    def complete_session(self, session_id: str) -> dict:
        """The customer paid on the hosted Checkout page."""
        cs = self.sessions[session_id]
        pi = self.new_id("pi")
        charge = {
            "id": self.new_id("ch"),
            "object": "charge",
            "amount": cs["amount_total"],
            "amount_refunded": 0,
            "currency": "usd",
            "customer": cs["customer"],
            "payment_intent": pi,
            "refunded": False,
            "status": "succeeded",
            "paid": True,
            "metadata": dict(cs["metadata"]),
            "invoice": None,
        }
        self.charges[charge["id"]] = charge
        cs.update(status="complete", payment_status="paid", payment_intent=pi)
        return cs

    def expire_session(self, session_id: str) -> dict:
        self.sessions[session_id].update(status="expired", url=None)
        return self.sessions[session_id]

    def add_subscription(
        self, *, customer: str, quantity: int, unit_amount: int, period_start: int, period_end: int
    ) -> dict:
        sub_id = self.new_id("sub")
        item = {
            "id": self.new_id("si"),
            "object": "subscription_item",
            "quantity": quantity,
            "subscription": sub_id,
            "current_period_start": period_start,
            "current_period_end": period_end,
            "price": {
                "id": self.new_id("price"),
                "object": "price",
                "currency": "usd",
                "unit_amount": unit_amount,
                "recurring": {"interval": "month"},
            },
        }
        sub = {
            "id": sub_id,
            "object": "subscription",
            "customer": customer,
            "status": "active",
            "items": {
                "object": "list",
                "data": [item],
                "has_more": False,
                "url": f"/v1/subscription_items?subscription={sub_id}",
            },
        }
        self.subscriptions[sub_id] = sub
        return sub

    def add_invoice(self, **fields: Any) -> dict:
        inv = {
            "id": self.new_id("in"),
            "object": "invoice",
            "currency": "usd",
            "status": "open",
            "lines": {"object": "list", "data": [], "has_more": False},
            "created": int(time.time()),
            "metadata": {},
        } | fields
        self.invoices[inv["id"]] = inv
        return inv

    def event(self, type_: str, obj: dict) -> dict:
        """A webhook event wrapping `obj` (a copy), as Stripe would send it."""
        return {
            "id": self.new_id("evt"),
            "object": "event",
            "api_version": "2026-10-28",
            "created": int(time.time()),
            "livemode": False,
            "type": type_,
            "data": {"object": json.loads(json.dumps(obj))},
        }

    def requests_to(self, method: str, path: str) -> list[dict]:
        return [p for m, pth, p in self.requests if m == method and pth == path]

    # ---- HTTP -------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def _respond(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", fake.new_id("req"))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                if method == "POST":
                    length = int(self.headers.get("Content-Length") or 0)
                    params = decode_form(self.rfile.read(length).decode())
                else:
                    params = decode_form(parts.query)
                auth = self.headers.get("Authorization", "")
                if not auth.startswith(f"Bearer {API_KEY_PREFIX}"):
                    self._respond(
                        401,
                        {
                            "error": {
                                "type": "invalid_request_error",
                                "message": "Invalid API Key provided.",
                            }
                        },
                    )
                    return
                with fake._lock:
                    fake.requests.append((method, parts.path, params))
                    for i, (prefix, status, body) in enumerate(fake._failures):
                        if parts.path.startswith(prefix):
                            del fake._failures[i]
                            self._respond(status, body)
                            return
                    key = self.headers.get("Idempotency-Key")
                    if method == "POST" and key and key in fake._idempotent:
                        self._respond(*fake._idempotent[key])
                        return
                    status, body = fake._route(method, parts.path, params)
                    if method == "POST" and key and status < 500:
                        fake._idempotent[key] = (status, body)
                self._respond(status, body)

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

        return Handler

    def _list(self, items: list[dict], path: str) -> tuple[int, dict]:
        return 200, {"object": "list", "data": items, "has_more": False, "url": path}

    @staticmethod
    def _missing(what: str, ident: str) -> tuple[int, dict]:
        return 404, {
            "error": {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "message": f"No such {what}: '{ident}'",
            }
        }

    def _route(self, method: str, path: str, p: dict) -> tuple[int, dict]:
        seg = path.strip("/").split("/")[1:]  # drop "v1"
        if seg == ["customers"] and method == "POST":
            cus = {
                "id": self.new_id("cus"),
                "object": "customer",
                "name": p.get("name"),
                "email": p.get("email"),
                "metadata": p.get("metadata", {}),
            }
            self.customers[cus["id"]] = cus
            return 200, cus
        if seg == ["checkout", "sessions"] and method == "POST":
            return self._create_session(p)
        if seg == ["checkout", "sessions"] and method == "GET":
            items = [
                s
                for s in self.sessions.values()
                if not p.get("customer") or s["customer"] == p["customer"]
            ]
            return self._list(sorted(items, key=lambda s: s["created"], reverse=True), path)
        if seg[:2] == ["checkout", "sessions"] and len(seg) == 3 and method == "GET":
            cs = self.sessions.get(seg[2])
            return (200, cs) if cs else self._missing("checkout.session", seg[2])
        if seg == ["subscriptions"] and method == "GET":
            items = [
                s
                for s in self.subscriptions.values()
                if s["customer"] == p.get("customer")
                and s["status"] == p.get("status", s["status"])
            ]
            return self._list(items, path)
        if seg[:1] == ["subscriptions"] and len(seg) == 2:
            sub = self.subscriptions.get(seg[1])
            if sub is None:
                return self._missing("subscription", seg[1])
            if method == "POST":
                for change in p.get("items", []):
                    for item in sub["items"]["data"]:
                        if item["id"] == change.get("id"):
                            item["quantity"] = int(change["quantity"])
            return 200, sub
        if seg == ["refunds"] and method == "POST":
            return self._create_refund(p)
        if seg == ["invoices"] and method == "GET":
            items = [i for i in self.invoices.values() if i.get("customer") == p.get("customer")]
            return self._list(items, path)
        return 404, {
            "error": {
                "type": "invalid_request_error",
                "message": f"Unrecognized request URL ({method}: {path}).",
            }
        }

    def _create_session(self, p: dict) -> tuple[int, dict]:
        try:
            line = p["line_items"][0]
            amount = int(line["price_data"]["unit_amount"]) * int(line.get("quantity", 1))
        except (KeyError, IndexError, ValueError):
            return 400, {
                "error": {"type": "invalid_request_error", "message": "line_items is required."}
            }
        cs_id = self.new_id("cs_test")
        cs = {
            "id": cs_id,
            "object": "checkout.session",
            "mode": p.get("mode"),
            "amount_subtotal": amount,
            "amount_total": amount,
            "currency": "usd",
            "customer": p.get("customer"),
            "client_reference_id": p.get("client_reference_id"),
            "metadata": p.get("metadata", {}),
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "created": int(time.time()),
            "success_url": p.get("success_url"),
            "cancel_url": p.get("cancel_url"),
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "payment_method_types": ["card"],
            "url": f"{self.url}/pay/{cs_id}",
        }
        self.sessions[cs_id] = cs
        return 200, cs

    def _create_refund(self, p: dict) -> tuple[int, dict]:
        charge = next(
            (c for c in self.charges.values() if c["payment_intent"] == p.get("payment_intent")),
            None,
        )
        if charge is None:
            return self._missing("payment_intent", str(p.get("payment_intent")))
        amount = int(p.get("amount") or charge["amount"] - charge["amount_refunded"])
        if amount <= 0 or charge["amount_refunded"] + amount > charge["amount"]:
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "amount_too_large",
                    "message": f"Refund amount (${amount / 100:.2f}) is greater "
                    "than unrefunded amount on charge.",
                }
            }
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        refund = {
            "id": self.new_id("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "payment_intent": charge["payment_intent"],
            "currency": "usd",
            "status": "succeeded",
        }
        self.refunds[refund["id"]] = refund
        return 200, refund
