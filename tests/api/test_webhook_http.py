"""POST /api/v1/stripe/webhook over HTTP: verified by STRIPE_WEBHOOK_SECRET alone (the
server runs without STRIPE_SECRET_KEY), replays change nothing, bad signatures change
nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import stripe
from sqlmodel import func, select

from kilo import billing, db
from kilo.models import AuditEntry, Invoice, Organization, Payment
from tests.api.conftest import WHSEC, Server, make_org
from tests.e2e.conftest import dashboard

REAL = Path(__file__).resolve().parents[1] / "data" / "stripe"
PATH = "/api/v1/stripe/webhook"


def _signed(payload: str, secret: str = WHSEC, **kw: int) -> dict[str, str]:
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, **kw)
    return {"Stripe-Signature": header, "Content-Type": "application/json"}


def _state(server: Server, org_id: int) -> tuple[int, int, int, int]:
    with db.read_session(server.db_url) as s:
        return (
            billing.balance_micros(s, org_id=org_id),
            s.exec(select(func.count()).select_from(Payment).where(Payment.org_id == org_id)).one(),
            s.exec(select(func.count()).select_from(Invoice).where(Invoice.org_id == org_id)).one(),
            s.exec(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.org_id == org_id)
            ).one(),
        )


def test_checkout_webhook_applies_once_and_bad_signatures_change_nothing(api_server):
    org = make_org(api_server, credits_micros=0)
    with db.write_session(api_server.db_url) as s:
        row = s.get(Organization, org.org_id)
        row.stripe_customer_id = "cus_00000000000000"  # the customer of Stripe's real event
    payload = (REAL / "stripe-checkout-session-completed.json").read_text()
    before = _state(api_server, org.org_id)

    # Bad signatures first: a wrong secret, a tampered body, an old timestamp, none at all.
    tampered = payload.replace("3000", "300000")
    bad = [
        (payload, _signed(payload, "whsec_someone_else")),
        (tampered, _signed(payload)),
        (payload, _signed(payload, timestamp=int(time.time()) - 3600)),
        (payload, {"Content-Type": "application/json"}),
    ]
    for body, headers in bad:
        reply = api_server.call("POST", PATH, body=body.encode(), headers=headers)
        assert (reply.status, reply.code) == (400, "invalid_signature")
    assert _state(api_server, org.org_id) == before

    reply = api_server.call("POST", PATH, body=payload.encode(), headers=_signed(payload))
    assert reply.status == 200
    assert reply.json() == {
        "received": True,
        "event_id": "evt_000000000000000000000000",
        "type": "checkout.session.completed",
        "outcome": "applied",
    }
    after = _state(api_server, org.org_id)
    assert after[0] == 30_000_000  # $30.00 of credits, once

    # Stripe retries deliveries: the same event again (a fresh signature) changes nothing.
    for _ in range(2):
        reply = api_server.call("POST", PATH, body=payload.encode(), headers=_signed(payload))
        assert (reply.status, reply.json()["outcome"]) == (200, "already applied")
    assert _state(api_server, org.org_id) == after


def test_invoice_paid_webhook_records_the_invoice_once(api_server):
    org = make_org(api_server, credits_micros=0)
    event = json.loads((REAL / "stripe-invoice-paid.json").read_text())
    event["data"]["object"]["customer"] = f"cus_api_{org.org_id}"
    with db.write_session(api_server.db_url) as s:
        row = s.get(Organization, org.org_id)
        row.stripe_customer_id = f"cus_api_{org.org_id}"
    payload = json.dumps(event)
    for expected in ("applied", "already applied"):
        reply = api_server.call("POST", PATH, body=payload.encode(), headers=_signed(payload))
        assert (reply.status, reply.json()["outcome"]) == (200, expected)
    _, payments, invoices, _ = _state(api_server, org.org_id)
    assert (payments, invoices) == (1, 1)


def test_a_signed_body_that_is_not_json_is_400(api_server):
    reply = api_server.call("POST", PATH, body=b"not json", headers=_signed("not json"))
    assert (reply.status, reply.code) == (400, "invalid_json")


def test_without_a_webhook_secret_the_endpoint_says_so(tmp_path):
    with dashboard(tmp_path, KILO_DEMO="0", STRIPE_WEBHOOK_SECRET="", STRIPE_SECRET_KEY="") as url:
        server = Server(url=url, db_url=f"sqlite:///{tmp_path / 'kilo.db'}")
        payload = (REAL / "stripe-checkout-session-completed.json").read_text()
        reply = server.call("POST", PATH, body=payload.encode(), headers=_signed(payload))
        assert (reply.status, reply.code) == (503, "webhook_not_configured")
        assert "STRIPE_WEBHOOK_SECRET" in reply.json()["error"]["message"]
