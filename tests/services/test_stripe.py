"""Stripe flows against the local fake server and Stripe's real webhook fixtures (no network)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import stripe
from sqlmodel import select

from kilo import billing, stripe_events
from kilo.errors import NotFound, ValidationError
from kilo.models import AuditEntry, CheckoutSession, Invoice, LedgerEntry, Organization, Payment
from kilo.stripe_gateway import PaymentProviderError, StripeConfig, stripe_config
from tests.factories import create_team
from tests.fake_stripe import FakeStripe, decode_form

REAL = Path(__file__).resolve().parent.parent / "data" / "stripe"  # see SOURCES.md there
WHSEC = "whsec_test_secret"


@pytest.fixture
def fake():
    with FakeStripe() as server:
        yield server


@pytest.fixture
def config(fake):
    return StripeConfig("sk_test_fake", webhook_secret=WHSEC, api_base=fake.url)


@pytest.fixture
def team(session):
    return create_team(session, seats=20, seat_price_cents=2_900)


def _signed(event: dict | str, secret: str = WHSEC) -> tuple[str, str]:
    payload = event if isinstance(event, str) else json.dumps(event)
    return payload, stripe.WebhookSignature.generate_signature_header(payload, secret)


def _balance(session, actor):
    return billing.balance_micros(session, org_id=actor.org_id)


# ---- configuration ----------------------------------------------------------------


def test_config_from_secrets_then_environment(monkeypatch):
    assert stripe_config() is None
    assert stripe_config({"STRIPE_SECRET_KEY": "sk_test_a"}).secret_key == "sk_test_a"
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_env")
    monkeypatch.setenv("STRIPE_API_BASE", "http://127.0.0.1:9")
    cfg = stripe_config({})
    assert (cfg.secret_key, cfg.api_base, cfg.test_mode) == (
        "sk_test_env",
        "http://127.0.0.1:9",
        True,
    )


def test_export_to_environ_keeps_existing_variables(monkeypatch):
    from kilo.stripe_gateway import export_to_environ

    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_env")
    export_to_environ({"stripe": {"secret_key": "sk_test_s", "webhook_secret": "whsec_s"}})
    cfg = stripe_config()
    assert (cfg.secret_key, cfg.webhook_secret) == ("sk_test_s", "whsec_env")
    monkeypatch.delenv("STRIPE_SECRET_KEY")


def test_decode_form_nests_like_stripe():
    assert decode_form("a[b][0][c]=1&a[b][1][c]=2&x=3") == {
        "a": {"b": [{"c": "1"}, {"c": "2"}]},
        "x": "3",
    }


# ---- checkout ---------------------------------------------------------------------


def test_checkout_creation_sends_amount_customer_and_metadata(session, fake, config, team):
    owner = team["owner"]
    start = billing.start_credit_purchase(
        session,
        actor=owner,
        amount_cents=25_000,
        return_url="https://dash.example/invoices",
        config=config,
    )
    assert start.mode == "stripe" and start.checkout_url.startswith(fake.url)
    [created] = fake.requests_to("POST", "/v1/checkout/sessions")
    assert created["mode"] == "payment"
    assert created["line_items"][0]["price_data"]["unit_amount"] == "25000"
    assert created["metadata"]["kilo_org_id"] == str(owner.org_id)
    assert (
        created["success_url"] == "https://dash.example/invoices?session_id={CHECKOUT_SESSION_ID}"
    )
    org = session.get(Organization, owner.org_id)
    assert created["customer"] == org.stripe_customer_id
    local = session.exec(select(CheckoutSession)).one()
    assert (local.status, local.amount_cents) == ("open", 25_000)
    assert _balance(session, owner) == 0  # nothing until paid


def test_return_before_payment_is_pending_then_paid_once(session, fake, config, team):
    owner = team["owner"]
    start = billing.start_credit_purchase(session, actor=owner, amount_cents=5_000, config=config)
    out = billing.complete_checkout(
        session, actor=owner, stripe_session_id=start.session_id, config=config
    )
    assert out.status == "pending" and _balance(session, owner) == 0
    fake.complete_session(start.session_id)
    out = billing.complete_checkout(
        session, actor=owner, stripe_session_id=start.session_id, config=config
    )
    assert out.status == "applied" and _balance(session, owner) == 50_000_000
    # Returning again, the webhook for the same session, and a sync change nothing.
    again = billing.complete_checkout(
        session, actor=team["admin"], stripe_session_id=start.session_id, config=config
    )
    assert again.status == "already_applied"
    payload, sig = _signed(
        fake.event("checkout.session.completed", fake.sessions[start.session_id])
    )
    assert (
        stripe_events.apply_webhook(payload, sig, WHSEC, session=session).outcome
        == "already applied"
    )
    report = stripe_events.sync_stripe(session, actor=owner, config=config)
    assert report.purchases_applied == 0
    assert _balance(session, owner) == 50_000_000
    pay = session.exec(select(Payment)).one()
    assert pay.stripe_payment_intent == fake.sessions[start.session_id]["payment_intent"]
    assert session.exec(select(CheckoutSession)).one().status == "complete"


def test_checkout_creation_failure_changes_nothing(session, fake, config, team):
    fake.fail_next(
        "/v1/checkout/sessions",
        status=400,
        type_="invalid_request_error",
        code="parameter_invalid",
        message="Invalid amount",
    )
    with pytest.raises(PaymentProviderError, match="Invalid amount"):
        billing.start_credit_purchase(
            session, actor=team["owner"], amount_cents=5_000, config=config
        )


def test_unreachable_stripe_is_a_clear_error(session, team):
    cfg = StripeConfig("sk_test_fake", api_base="http://127.0.0.1:9")
    with pytest.raises(PaymentProviderError, match="Stripe could not"):
        billing.start_credit_purchase(session, actor=team["owner"], amount_cents=5_000, config=cfg)


def test_expired_checkout_adds_nothing(session, fake, config, team):
    owner = team["owner"]
    start = billing.start_credit_purchase(session, actor=owner, amount_cents=5_000, config=config)
    fake.expire_session(start.session_id)
    report = stripe_events.sync_stripe(session, actor=owner, config=config)
    assert report.checkouts_expired == 1 and report.purchases_applied == 0
    assert session.exec(select(CheckoutSession)).one().status == "expired"
    assert _balance(session, owner) == 0


def test_other_orgs_checkout_is_refused(session, fake, config, team):
    other = create_team(session)
    start = billing.start_credit_purchase(
        session, actor=other["owner"], amount_cents=5_000, config=config
    )
    fake.complete_session(start.session_id)
    with pytest.raises(NotFound):
        billing.complete_checkout(
            session, actor=team["owner"], stripe_session_id=start.session_id, config=config
        )
    with pytest.raises(ValidationError):
        billing.complete_checkout(
            session, actor=team["owner"], stripe_session_id="nope", config=config
        )
    assert _balance(session, team["owner"]) == 0


def test_sync_applies_paid_sessions_found_only_in_stripe(session, fake, config, team):
    owner = team["owner"]
    start = billing.start_credit_purchase(session, actor=owner, amount_cents=7_500, config=config)
    fake.complete_session(start.session_id)
    # A session paid in Stripe that the dashboard lost track of (e.g. a crash after creation).
    org = session.get(Organization, owner.org_id)
    lost = fake._create_session(
        {
            "customer": org.stripe_customer_id,
            "mode": "payment",
            "metadata": {"kilo_org_id": str(org.id)},
            "line_items": [{"price_data": {"unit_amount": "1000"}}],
        }
    )[1]
    fake.complete_session(lost["id"])
    report = stripe_events.sync_stripe(session, actor=owner, config=config)
    assert report.purchases_applied == 2
    assert _balance(session, owner) == 85_000_000
    assert stripe_events.sync_stripe(session, actor=owner, config=config).purchases_applied == 0


# ---- webhooks ---------------------------------------------------------------------


def _real(name: str) -> str:
    return (REAL / name).read_text()


def test_real_checkout_completed_event_applies_once(session, team):
    owner = team["owner"]
    org = session.get(Organization, owner.org_id)
    org.stripe_customer_id = "cus_00000000000000"
    session.add(org)
    payload, sig = _signed(_real("stripe-checkout-session-completed.json"))
    result = stripe_events.apply_webhook(payload, sig, WHSEC, session=session)
    assert (result.event_type, result.outcome) == ("checkout.session.completed", "applied")
    assert _balance(session, owner) == 30_000_000  # 3000 cents
    entry = session.exec(select(LedgerEntry)).one()
    assert entry.external_ref == "stripe:checkout:cs_test_" + "0" * 58
    # Stripe retries deliveries: the same event again changes nothing.
    payload, sig = _signed(_real("stripe-checkout-session-completed.json"))
    assert (
        stripe_events.apply_webhook(payload, sig, WHSEC, session=session).outcome
        == "already applied"
    )
    assert _balance(session, owner) == 30_000_000
    actions = session.exec(select(AuditEntry.action)).all()
    assert actions.count("billing.credits.purchase") == 1


def test_real_invoice_paid_event_records_invoice_and_payment_once(session, team):
    owner = team["owner"]
    org = session.get(Organization, owner.org_id)
    org.stripe_customer_id = "cus_00000000000000"
    session.add(org)
    for expected in ("applied", "already applied"):
        payload, sig = _signed(_real("stripe-invoice-paid.json"))
        assert stripe_events.apply_webhook(payload, sig, WHSEC, session=session).outcome == expected
    inv = session.exec(select(Invoice)).one()
    assert (inv.number, inv.status, inv.total_cents, inv.kind) == (
        "EE1DF78D-0001",
        "paid",
        2_000,
        "other",
    )
    assert inv.lines == [
        {
            "description": "(created by Stripe CLI)",
            "quantity": 1,
            "unit_cents": 2_000,
            "amount_cents": 2_000,
        }
    ]
    pay = session.exec(select(Payment)).one()
    assert (pay.amount_cents, pay.stripe_charge_id) == (2_000, "ch_000000000000000000000000")
    assert _balance(session, owner) == 0  # a manual invoice is not a credit purchase
    rows = billing.list_invoices(session, actor=owner)
    assert rows[0].status == "paid"


def test_bad_signature_is_rejected_before_anything_changes(session, team):
    org = session.get(Organization, team["owner"].org_id)
    org.stripe_customer_id = "cus_00000000000000"
    session.add(org)
    payload, _ = _signed(_real("stripe-checkout-session-completed.json"))
    _, wrong = _signed(payload, secret="whsec_someone_else")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe_events.apply_webhook(payload, wrong, WHSEC, session=session)
    tampered, sig = _signed(payload)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe_events.apply_webhook(tampered.replace("3000", "300000"), sig, WHSEC, session=session)
    old = stripe.WebhookSignature.generate_signature_header(
        payload, WHSEC, timestamp=int(time.time()) - 3600
    )
    with pytest.raises(stripe.SignatureVerificationError):
        stripe_events.apply_webhook(payload, old, WHSEC, session=session)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe_events.apply_webhook(payload, None, WHSEC, session=session)
    assert session.exec(select(LedgerEntry)).all() == []


def test_subscription_checkout_links_the_subscription_once(session, fake, team):
    owner = team["owner"]
    cs = {
        "id": "cs_sub",
        "object": "checkout.session",
        "mode": "subscription",
        "subscription": "sub_new",
        "customer": "cus_new",
        "payment_status": "paid",
        "status": "complete",
        "metadata": {"kilo_org_id": str(owner.org_id)},
    }
    for expected in ("applied", "already applied"):
        payload, sig = _signed(fake.event("checkout.session.completed", cs))
        assert stripe_events.apply_webhook(payload, sig, WHSEC, session=session).outcome == expected
    assert session.get(Organization, owner.org_id).stripe_subscription_id == "sub_new"
    assert _balance(session, owner) == 0


def test_webhook_for_unknown_customer_is_ignored(session, team):
    payload, sig = _signed(_real("stripe-invoice-paid.json"))
    result = stripe_events.apply_webhook(payload, sig, WHSEC, session=session)
    assert result.outcome.startswith("ignored: no organization")
    assert session.exec(select(Invoice)).all() == []


def test_webhook_opens_its_own_transaction(db_url, monkeypatch):
    from kilo.db import read_session, write_session

    with write_session() as s:
        team = create_team(s)
        org = s.get(Organization, team["owner"].org_id)
        org.stripe_customer_id = "cus_00000000000000"
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WHSEC)
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_fake")
    payload, sig = _signed(_real("stripe-checkout-session-completed.json"))
    assert stripe_events.apply_webhook(payload, sig).outcome == "applied"
    with read_session() as s:
        assert billing.balance_micros(s, org_id=team["owner"].org_id) == 30_000_000


def test_webhook_needs_only_the_webhook_secret(db_url, monkeypatch):
    """A webhook-only server (no STRIPE_SECRET_KEY) verifies and applies events."""
    from kilo.db import read_session, write_session

    with write_session() as s:
        team = create_team(s)
        org = s.get(Organization, team["owner"].org_id)
        org.stripe_customer_id = "cus_00000000000000"
    monkeypatch.delenv("STRIPE_SECRET_KEY", raising=False)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", WHSEC)
    payload, sig = _signed(_real("stripe-checkout-session-completed.json"))
    assert stripe_events.apply_webhook(payload, sig).outcome == "applied"
    with read_session() as s:
        assert billing.balance_micros(s, org_id=team["owner"].org_id) == 30_000_000


def test_webhook_without_any_secret_is_refused_and_changes_nothing(session, team, monkeypatch):
    for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    payload, sig = _signed(_real("stripe-checkout-session-completed.json"))
    with pytest.raises(stripe_events.WebhookNotConfigured):
        stripe_events.apply_webhook(payload, sig, session=session)
    assert session.exec(select(LedgerEntry)).all() == []


def test_export_to_environ_copies_the_webhook_secret_without_a_key(monkeypatch):
    from kilo.stripe_gateway import export_to_environ, webhook_secret

    for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert webhook_secret() is None
    export_to_environ({"stripe": {"webhook_secret": "whsec_only"}})
    assert webhook_secret() == "whsec_only"
    assert stripe_config() is None  # still demo mode for payments


def test_invoice_payment_failed_marks_past_due_then_paid(session, fake, team):
    owner = team["owner"]
    org = session.get(Organization, owner.org_id)
    org.stripe_customer_id = "cus_seats"
    session.add(org)
    inv = fake.add_invoice(
        customer="cus_seats",
        number="SEAT-0001",
        status="open",
        subscription="sub_1",
        billing_reason="subscription_cycle",
        subtotal=58_000,
        total=58_000,
        amount_due=58_000,
        attempt_count=1,
        lines={
            "object": "list",
            "data": [
                {
                    "description": "20 × Seat",
                    "quantity": 20,
                    "amount": 58_000,
                    "price": {"unit_amount": 2_900},
                    "period": {"start": 1_764_547_200, "end": 1_767_225_600},
                }
            ],
        },
    )
    for expected in ("applied", "already applied"):
        payload, sig = _signed(fake.event("invoice.payment_failed", inv) | {"id": "evt_f1"})
        assert stripe_events.apply_webhook(payload, sig, WHSEC, session=session).outcome == expected
    [row] = billing.list_invoices(session, actor=owner)
    assert (row.status, row.kind, str(row.period_start)) == ("past due", "seats", "2025-12-01")
    failed = session.exec(select(Payment).where(Payment.status == "failed")).one()
    assert failed.amount_cents == 58_000 and "attempt 1" in failed.failure_message
    inv |= {
        "status": "paid",
        "amount_paid": 58_000,
        "attempt_count": 2,
        "status_transitions": {"paid_at": int(time.time())},
    }
    payload, sig = _signed(fake.event("invoice.paid", inv))
    assert stripe_events.apply_webhook(payload, sig, WHSEC, session=session).outcome == "applied"
    [row] = billing.list_invoices(session, actor=owner)
    assert row.status == "paid"
    assert _balance(session, owner) == 0  # seats are not credits


def test_credit_invoice_paid_adds_credits_once(session, fake, team):
    owner = team["owner"]
    inv = fake.add_invoice(
        customer="cus_x",
        status="paid",
        subtotal=100_000,
        total=100_000,
        amount_paid=100_000,
        metadata={"kilo_kind": "credits", "kilo_org_id": str(owner.org_id)},
    )
    for _ in range(2):
        payload, sig = _signed(fake.event("invoice.paid", inv))
        stripe_events.apply_webhook(payload, sig, WHSEC, session=session)
    assert _balance(session, owner) == 1_000_000_000
    assert billing.list_invoices(session, actor=owner)[0].kind == "top-up"


# ---- refunds ----------------------------------------------------------------------


def _paid_purchase(session, fake, config, owner, cents):
    start = billing.start_credit_purchase(session, actor=owner, amount_cents=cents, config=config)
    fake.complete_session(start.session_id)
    billing.complete_checkout(
        session, actor=owner, stripe_session_id=start.session_id, config=config
    )
    return session.exec(select(Invoice).where(Invoice.org_id == owner.org_id)).one()


def test_owner_refund_goes_through_stripe_and_webhook_does_not_double(session, fake, config, team):
    owner = team["owner"]
    inv = _paid_purchase(session, fake, config, owner, 10_000)
    billing.refund_purchase(
        session, actor=owner, invoice_id=inv.id, amount_cents=4_000, config=config
    )
    [refund] = fake.requests_to("POST", "/v1/refunds")
    assert refund["amount"] == "4000"
    assert _balance(session, owner) == 60_000_000
    charge = next(iter(fake.charges.values()))
    payload, sig = _signed(fake.event("charge.refunded", charge))
    assert (
        stripe_events.apply_webhook(payload, sig, WHSEC, session=session).outcome
        == "already applied"
    )
    assert _balance(session, owner) == 60_000_000
    # A further refund made in the Stripe dashboard arrives only by webhook.
    charge["amount_refunded"] = 10_000
    charge["refunded"] = True
    payload, sig = _signed(fake.event("charge.refunded", charge))
    assert stripe_events.apply_webhook(payload, sig, WHSEC, session=session).outcome == "applied"
    assert _balance(session, owner) == 0
    session.refresh(inv)
    assert (inv.status, inv.refunded_cents) == ("refunded", 10_000)
    refunds = session.exec(select(Payment).where(Payment.status == "refunded")).all()
    assert sorted(p.amount_cents for p in refunds) == [-6_000, -4_000]
    assert session.exec(select(AuditEntry.action)).all().count("billing.refund") == 2


def test_refund_refused_by_stripe_changes_nothing(session, fake, config, team):
    owner = team["owner"]
    inv = _paid_purchase(session, fake, config, owner, 5_000)
    fake.fail_next(
        "/v1/refunds",
        status=400,
        type_="invalid_request_error",
        code="charge_disputed",
        message="This charge is disputed",
    )
    with pytest.raises(PaymentProviderError, match="disputed"):
        billing.refund_purchase(session, actor=owner, invoice_id=inv.id, config=config)
    assert _balance(session, owner) == 50_000_000


def test_refund_of_unknown_charge_is_ignored(session, team):
    event = {
        "id": "evt_r",
        "type": "charge.refunded",
        "data": {
            "object": {
                "id": "ch_unknown",
                "object": "charge",
                "amount_refunded": 100,
                "payment_intent": "pi_unknown",
            }
        },
    }
    payload, sig = _signed(event)
    assert stripe_events.apply_webhook(payload, sig, WHSEC, session=session).outcome.startswith(
        "ignored"
    )


# ---- seats ------------------------------------------------------------------------


def test_seat_change_updates_subscription_quantity_with_proration(session, fake, config, team):
    owner = team["owner"]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    end = datetime(2026, 12, 1, tzinfo=UTC)
    sub = fake.add_subscription(
        customer="cus_s",
        quantity=20,
        unit_amount=3_000,
        period_start=int(start.timestamp()),
        period_end=int(end.timestamp()),
    )
    org = session.get(Organization, owner.org_id)
    org.stripe_customer_id, org.stripe_subscription_id = "cus_s", sub["id"]
    session.add(org)
    change = billing.change_seats(
        session, actor=owner, seats=26, config=config, now=start + timedelta(days=20)
    )  # 10 of 30 days left
    assert (change.source, change.prorated_cents) == ("stripe", 6 * 3_000 // 3)
    # Stripe bills the proration on its next invoice: no local invoice as well.
    assert change.invoice_id is None
    assert session.exec(select(Invoice).where(Invoice.org_id == owner.org_id)).all() == []
    [update] = fake.requests_to("POST", f"/v1/subscriptions/{sub['id']}")
    assert update["items"] == [{"id": sub["items"]["data"][0]["id"], "quantity": "26"}]
    assert update["proration_behavior"] == "create_prorations"
    assert sub["items"]["data"][0]["quantity"] == 26
    assert session.get(Organization, owner.org_id).seats == 26


def test_seat_change_refused_by_stripe_keeps_seats(session, fake, config, team):
    owner = team["owner"]
    sub = fake.add_subscription(
        customer="cus_s",
        quantity=20,
        unit_amount=3_000,
        period_start=int(time.time()) - 100,
        period_end=int(time.time()) + 1000,
    )
    org = session.get(Organization, owner.org_id)
    org.stripe_subscription_id = sub["id"]
    session.add(org)
    session.commit()
    fake.fail_next(f"/v1/subscriptions/{sub['id']}")
    with pytest.raises(PaymentProviderError, match="declined"):
        billing.change_seats(session, actor=owner, seats=30, config=config)
    session.rollback()
    assert session.get(Organization, owner.org_id).seats == 20
    assert sub["items"]["data"][0]["quantity"] == 20


def test_sync_links_subscription_and_reports_seat_mismatch(session, fake, config, team):
    owner = team["owner"]
    org = session.get(Organization, owner.org_id)
    org.stripe_customer_id = "cus_link"
    session.add(org)
    sub = fake.add_subscription(
        customer="cus_link", quantity=18, unit_amount=2_900, period_start=1, period_end=2
    )
    fake.add_invoice(
        customer="cus_link",
        number="L-1",
        status="open",
        subtotal=5_220,
        total=5_220,
        subscription=sub["id"],
    )
    report = stripe_events.sync_stripe(session, actor=owner, config=config)
    assert session.get(Organization, owner.org_id).stripe_subscription_id == sub["id"]
    assert any("18 seats" in n for n in report.notes)
    assert report.invoices_changed == 1
    assert stripe_events.sync_stripe(session, actor=owner, config=config).invoices_changed == 0


def test_seat_change_without_linked_subscription_is_local(session, fake, config, team):
    change = billing.change_seats(session, actor=team["owner"], seats=21, config=config)
    assert change.source == "local"
    assert fake.requests == []


# ---- CLI --------------------------------------------------------------------------


def test_cli_sync_stripe(db_url, fake, monkeypatch, capsys):
    from kilo.__main__ import main
    from kilo.db import read_session, write_session

    assert main(["sync-stripe"]) == 2
    assert "STRIPE_SECRET_KEY is not set" in capsys.readouterr().err
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_fake")
    monkeypatch.setenv("STRIPE_API_BASE", fake.url)
    with write_session() as s:
        team = create_team(s)
        start = billing.start_credit_purchase(s, actor=team["owner"], amount_cents=2_000)
    fake.complete_session(start.session_id)
    assert main(["sync-stripe"]) == 0
    assert "1 purchase(s) added" in capsys.readouterr().out
    assert main(["sync-stripe", "--org", str(team["owner"].org_id)]) == 0
    assert "0 purchase(s) added" in capsys.readouterr().out
    with read_session() as s:
        assert billing.balance_micros(s, org_id=team["owner"].org_id) == 20_000_000
    assert main(["sync-stripe", "--org", "999999"]) == 2


# ---- audit of Stripe links and invoice statuses -----------------------------------------


def _entries(session, org_id: int, action: str) -> list[AuditEntry]:
    return list(
        session.exec(
            select(AuditEntry)
            .where(AuditEntry.org_id == org_id, AuditEntry.action == action)
            .order_by(AuditEntry.id)
        ).all()
    )


def test_linking_a_stripe_customer_is_audited(session, fake, config, team):
    owner = team["owner"]
    billing.start_credit_purchase(session, actor=owner, amount_cents=5_000, config=config)
    customer = session.get(Organization, owner.org_id).stripe_customer_id
    [entry] = _entries(session, owner.org_id, "billing.customer.link")
    assert (entry.target, entry.actor_id) == (customer, owner.id)
    assert entry.details["before"] is None and entry.details["after"] == customer
    # A second purchase reuses the customer: nothing new to audit.
    billing.start_credit_purchase(session, actor=owner, amount_cents=5_000, config=config)
    assert len(_entries(session, owner.org_id, "billing.customer.link")) == 1


def test_customer_learnt_from_a_paid_checkout_is_audited(session, team):
    other = create_team(session)
    org_id = other["owner"].org_id
    event = {
        "id": "evt_link",
        "type": "checkout.session.completed",
        "data": {
            "object": {
                "id": "cs_link_1",
                "object": "checkout.session",
                "mode": "payment",
                "customer": "cus_learnt",
                "client_reference_id": str(org_id),
                "payment_status": "paid",
                "status": "complete",
                "currency": "usd",
                "amount_subtotal": 1_000,
                "amount_total": 1_000,
            }
        },
    }
    payload, sig = _signed(event)
    assert stripe_events.apply_webhook(payload, sig, WHSEC, session=session).outcome == "applied"
    assert session.get(Organization, org_id).stripe_customer_id == "cus_learnt"
    [entry] = _entries(session, org_id, "billing.customer.link")
    assert entry.target == "cus_learnt" and entry.actor_name == stripe_events.WEBHOOK_ACTOR
    assert "cs_link_1" in entry.message
    assert _entries(session, team["owner"].org_id, "billing.customer.link") == []


def test_sync_audits_invoice_status_changes(session, fake, config, team):
    owner = team["owner"]
    org = session.get(Organization, owner.org_id)
    org.stripe_customer_id = "cus_sync_audit"
    session.add(org)
    inv = fake.add_invoice(
        customer="cus_sync_audit", number="SA-1", status="open", subtotal=1_000, total=1_000
    )
    assert stripe_events.sync_stripe(session, actor=owner, config=config).invoices_changed == 1
    [imported] = _entries(session, owner.org_id, "billing.invoice.status_change")
    assert imported.target == "SA-1" and "imported from Stripe: open" in imported.message
    assert (imported.details["before"], imported.details["after"]) == (None, "open")
    inv["status"] = "void"  # voided in Stripe's dashboard
    assert stripe_events.sync_stripe(session, actor=owner, config=config).invoices_changed == 1
    changes = _entries(session, owner.org_id, "billing.invoice.status_change")
    assert len(changes) == 2 and changes[1].message == "Invoice SA-1: open → void (from Stripe)"
    assert (changes[1].details["before"], changes[1].details["after"]) == ("open", "void")
    assert changes[1].details["stripe_invoice_id"] == inv["id"]
    # Nothing changed in Stripe: nothing new in the log.
    assert stripe_events.sync_stripe(session, actor=owner, config=config).invoices_changed == 0
    assert len(_entries(session, owner.org_id, "billing.invoice.status_change")) == 2
