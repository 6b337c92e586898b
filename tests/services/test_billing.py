"""Ledger arithmetic, demo-mode purchases, refunds, adjustments, seats, alerts, details, PDFs."""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from kilo import billing, usage
from kilo.errors import Conflict, NotFound, PermissionDenied, ValidationError
from kilo.members import actor_for
from kilo.models import AuditEntry, Invoice, LedgerEntry, Organization, Payment, SeatChange
from kilo.permissions import system_actor
from tests.factories import (
    create_ledger_entry,
    create_member,
    create_org,
    create_team,
    create_top_up,
)

DEMO = None  # config=None forces demo mode whatever the environment says


def _usage(session, org_id, member_id, cost_micros, at=None):
    usage.insert_events(
        session,
        org_id=org_id,
        events=[
            {
                "at": at or datetime.now(UTC),
                "member_id": member_id,
                "model_id": "x/y",
                "provider": "p",
                "mode": "code",
                "input_tokens": 1,
                "output_tokens": 1,
                "cache_read_tokens": 0,
                "cache_write_tokens": 0,
                "cost_micros": cost_micros,
                "latency_ms": 10,
                "status": "success",
            }
        ],
    )


def _actions(session, org_id):
    return list(
        session.exec(
            select(AuditEntry.action).where(AuditEntry.org_id == org_id).order_by(AuditEntry.id)
        ).all()
    )


# ---- ledger arithmetic --------------------------------------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("promo"), st.integers(1, 10**11)),
        st.tuples(st.just("adjustment"), st.integers(-(10**11), 10**11).filter(bool)),
        st.tuples(
            st.just("purchase"), st.integers(billing.MIN_PURCHASE_CENTS, billing.MAX_PURCHASE_CENTS)
        ),
        st.tuples(st.just("usage"), st.integers(0, 10**9)),
        st.tuples(st.just("replay"), st.integers(0, 50)),
    ),
    max_size=12,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=OPS)
def test_balance_is_ledger_sum_minus_usage_and_replays_change_nothing(session, ops):
    org = create_org(session)
    owner = actor_for(create_member(session, org, "owner"))
    expected_ledger = expected_usage = 0
    refs: list[str] = []
    for kind, amount in ops:
        if kind in ("promo", "adjustment"):
            entry = billing.add_ledger_entry(
                session, actor=owner, kind=kind, amount_micros=amount, description="test"
            )
            refs.append(entry.external_ref)
            expected_ledger += amount
        elif kind == "purchase":
            start = billing.start_credit_purchase(
                session, actor=owner, amount_cents=amount, config=DEMO
            )
            refs.append(start.session_id)
            expected_ledger += amount * billing.MICROS_PER_CENT
        elif kind == "usage":
            _usage(session, org.id, owner.id, amount)
            expected_usage += amount
        elif kind == "refund":  # refund part of the newest refundable top-up, within balance
            rows = [r for r in billing.list_invoices(session, actor=owner) if r.refundable_cents]
            unused = billing.balance_micros(session, org_id=org.id) // billing.MICROS_PER_CENT
            cents = min(amount, rows[0].refundable_cents, unused) if rows else 0
            if cents > 0:
                billing.refund_purchase(
                    session, actor=owner, invoice_id=rows[0].id, amount_cents=cents, config=DEMO
                )
                expected_ledger -= cents * billing.MICROS_PER_CENT
        elif refs:  # replaying a used reference is refused and adds nothing
            with pytest.raises(Conflict):
                billing.add_ledger_entry(
                    session,
                    actor=owner,
                    kind="promo",
                    amount_micros=1,
                    description="replay",
                    external_ref=refs[amount % len(refs)],
                )
    session.flush()
    assert billing.ledger_total_micros(session, org_id=org.id) == expected_ledger
    assert billing.usage_cost_micros(session, org_id=org.id) == expected_usage
    assert billing.balance_micros(session, org_id=org.id) == expected_ledger - expected_usage
    statement = billing.list_ledger(session, actor=owner)
    assert sum(r.amount_micros for r in statement) == expected_ledger - expected_usage
    if statement:
        assert statement[0].balance_micros == expected_ledger - expected_usage
    session.rollback()


def test_purchase_replay_by_external_ref_is_recorded_once(session):
    team = create_team(session)
    org = session.get(Organization, team["owner"].org_id)
    kwargs = dict(
        org=org,
        actor=team["owner"],
        subtotal_cents=2_500,
        tax_cents=0,
        external_ref="stripe:checkout:cs_same",
        method="card",
        source="stripe",
    )
    assert billing.record_credit_purchase(session, **kwargs) is not None
    assert billing.record_credit_purchase(session, **kwargs) is None
    assert billing.balance_micros(session, org_id=org.id) == 25_000_000
    assert len(session.exec(select(Invoice).where(Invoice.org_id == org.id)).all()) == 1
    assert len(session.exec(select(Payment).where(Payment.org_id == org.id)).all()) == 1


# ---- demo purchases, refunds, adjustments ----------------------------------------------


def test_demo_purchase_records_credits_invoice_payment_and_audit(session):
    team = create_team(session)
    owner = team["owner"]
    start = billing.start_credit_purchase(session, actor=owner, amount_cents=5_000, config=DEMO)
    assert start.mode == "demo" and start.checkout_url is None
    assert billing.balance_micros(session, org_id=owner.org_id) == 50_000_000
    [inv] = billing.list_invoices(session, actor=owner)
    assert (inv.kind, inv.status, inv.total_cents, inv.refundable_cents) == (
        "top-up",
        "paid",
        5_000,
        5_000,
    )
    [pay] = billing.list_payments(session, actor=owner)
    assert (
        pay.status == "succeeded" and pay.amount_cents == 5_000 and pay.invoice_number == inv.number
    )
    [hist] = billing.list_purchase_history(session, actor=owner)
    assert hist.kind == "Credit purchase" and hist.amount_micros == 50_000_000
    assert "billing.credits.purchase" in _actions(session, owner.org_id)


@pytest.mark.parametrize("cents", [0, 999, 1_000_001, -5_000, 10.5, True])
def test_purchase_amount_limits(session, cents):
    team = create_team(session)
    with pytest.raises(ValidationError, match=r"\$10\.00 to \$10,000\.00"):
        billing.start_credit_purchase(session, actor=team["owner"], amount_cents=cents, config=DEMO)
    assert billing.balance_micros(session, org_id=team["owner"].org_id) == 0


@pytest.mark.parametrize("role", ["admin", "member"])
def test_only_owners_buy_refund_adjust_and_change_details(session, role):
    team = create_team(session)
    actor = team[role]
    with pytest.raises(PermissionDenied):
        billing.start_credit_purchase(session, actor=actor, amount_cents=5_000, config=DEMO)
    with pytest.raises(PermissionDenied):
        billing.add_ledger_entry(
            session, actor=actor, kind="promo", amount_micros=1, description="x"
        )
    with pytest.raises(PermissionDenied):
        billing.update_billing_details(
            session, actor=actor, company="X", address="", tax_id="", email=""
        )
    with pytest.raises(PermissionDenied):
        billing.set_low_balance_alert(session, actor=actor, threshold_micros=1)
    with pytest.raises(PermissionDenied):
        billing.change_seats(session, actor=actor, seats=30, config=DEMO)
    with pytest.raises(PermissionDenied):
        billing.refund_purchase(session, actor=actor, invoice_id=1, config=DEMO)


def test_admin_views_member_does_not(session):
    team = create_team(session)
    assert billing.list_invoices(session, actor=team["admin"]) == []
    billing.get_billing_summary(session, actor=team["admin"], config=DEMO)
    for fn in (
        billing.list_invoices,
        billing.list_payments,
        billing.list_purchase_history,
        billing.list_ledger,
    ):
        with pytest.raises(PermissionDenied):
            fn(session, actor=team["member"])


def test_demo_refund_removes_unused_credits_only_once(session):
    team = create_team(session)
    owner = team["owner"]
    inv = create_top_up(session, owner, 10_000)
    _usage(session, owner.org_id, owner.id, 70_000_000)  # $70 of the $100 spent
    with pytest.raises(ValidationError, match=r"Only \$30\.00 of credits are unused"):
        billing.refund_purchase(session, actor=owner, invoice_id=inv.id, config=DEMO)
    billing.refund_purchase(
        session, actor=owner, invoice_id=inv.id, amount_cents=2_000, config=DEMO
    )
    assert billing.balance_micros(session, org_id=owner.org_id) == 10_000_000
    [inv] = billing.list_invoices(session, actor=owner)
    assert inv.status == "paid" and inv.refunded_cents == 2_000 and inv.refundable_cents == 8_000
    refunds = [p for p in billing.list_payments(session, actor=owner) if p.status == "refunded"]
    assert [p.amount_cents for p in refunds] == [-2_000]
    with pytest.raises(ValidationError, match="Refund between"):
        billing.refund_purchase(
            session, actor=owner, invoice_id=inv.id, amount_cents=8_001, config=DEMO
        )
    assert "billing.refund" in _actions(session, owner.org_id)


def test_full_refund_marks_invoice_refunded(session):
    team = create_team(session)
    owner = team["owner"]
    inv = create_top_up(session, owner, 1_000)
    billing.refund_purchase(session, actor=owner, invoice_id=inv.id, config=DEMO)
    [inv] = billing.list_invoices(session, actor=owner)
    assert inv.status == "refunded" and inv.refundable_cents == 0
    assert billing.balance_micros(session, org_id=owner.org_id) == 0
    with pytest.raises(ValidationError, match="Only paid credit top-ups"):
        billing.refund_purchase(session, actor=owner, invoice_id=inv.id, config=DEMO)


def test_refund_of_another_orgs_invoice_is_not_found(session):
    a, b = create_team(session), create_team(session)
    inv = create_top_up(session, a["owner"], 1_000)
    with pytest.raises(NotFound):
        billing.refund_purchase(session, actor=b["owner"], invoice_id=inv.id, config=DEMO)
    with pytest.raises(NotFound):
        billing.invoice_pdf(session, actor=b["owner"], invoice_id=inv.id)


@pytest.mark.parametrize(
    ("kind", "amount", "reason", "match"),
    [
        ("purchase", 1, "x", "adjustment"),
        ("promo", -5, "x", "Promotional credits add"),
        ("adjustment", 0, "x", "non-zero"),
        ("adjustment", 10**15, "x", "non-zero"),
        ("adjustment", 5, "   ", "Give a reason"),
    ],
)
def test_adjustment_validation(session, kind, amount, reason, match):
    team = create_team(session)
    with pytest.raises(ValidationError, match=match):
        billing.add_ledger_entry(
            session, actor=team["owner"], kind=kind, amount_micros=amount, description=reason
        )
    assert billing.ledger_total_micros(session, org_id=team["owner"].org_id) == 0


def test_adjustment_is_audited_and_in_history(session):
    team = create_team(session)
    owner = team["owner"]
    billing.add_ledger_entry(
        session,
        actor=owner,
        kind="adjustment",
        amount_micros=-3_000_000,
        description="Correct double-counted request",
    )
    [row] = billing.list_purchase_history(session, actor=owner)
    assert row.kind == "Adjustment" and row.amount_micros == -3_000_000
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "billing.adjustment")).one()
    assert "-$3.00" in entry.message and "double-counted" in entry.message


# ---- runway, alert, details ----------------------------------------------------------


def test_runway_uses_average_daily_spend_of_last_30_days(session):
    team = create_team(session)
    owner = team["owner"]
    today = date(2026, 11, 20)
    create_ledger_entry(session, owner.org_id, 1_000_000_000)
    noon = datetime(2026, 11, 20, 12, tzinfo=UTC)
    _usage(session, owner.org_id, owner.id, 60_000_000, at=noon)  # today
    _usage(session, owner.org_id, owner.id, 30_000_000, at=noon - timedelta(days=29))  # in
    _usage(session, owner.org_id, owner.id, 500_000_000, at=noon - timedelta(days=30))  # out
    s = billing.get_billing_summary(session, actor=owner, config=DEMO, today=today)
    assert s.avg_daily_spend_micros == 90_000_000 // 30
    assert s.balance_micros == 1_000_000_000 - 590_000_000
    assert s.runway_days == 410_000_000 // 3_000_000
    assert s.mode == "demo"
    assert billing.runway_days(5, 0) is None and billing.runway_days(-5, 3) == 0


def test_low_balance_alert_and_warning(session):
    team = create_team(session)
    owner, admin = team["owner"], team["admin"]
    assert billing.low_balance_warning(session, actor=owner) is None  # alert off by default
    billing.set_low_balance_alert(session, actor=owner, threshold_micros=50_000_000)
    msg = billing.low_balance_warning(session, actor=owner)
    assert msg and "Credits are used up" in msg and "Buy credits" in msg
    create_ledger_entry(session, owner.org_id, 20_000_000)
    msg = billing.low_balance_warning(session, actor=admin)
    assert "$20.00 left" in msg and "$50.00" in msg and "Ask an owner" in msg
    create_ledger_entry(session, owner.org_id, 30_000_000)
    assert billing.low_balance_warning(session, actor=team["member"]) is None
    with pytest.raises(ValidationError):
        billing.set_low_balance_alert(session, actor=owner, threshold_micros=-1)
    assert "billing.alert.change" in _actions(session, owner.org_id)


def test_billing_details_validated_and_audited(session):
    team = create_team(session)
    owner = team["owner"]
    with pytest.raises(ValidationError, match="not an email"):
        billing.update_billing_details(
            session, actor=owner, company="X", address="", tax_id="", email="nope"
        )
    with pytest.raises(ValidationError, match="too long"):
        billing.update_billing_details(
            session, actor=owner, company="X" * 201, address="", tax_id="", email=""
        )
    org = billing.update_billing_details(
        session,
        actor=owner,
        company="  ООО  Ромашка ",
        address=" Тверская 1 \n\n Москва ",
        tax_id="RU7700000000",
        email="billing@romashka.example",
    )
    assert org.billing_company == "ООО Ромашка" and org.billing_address == "Тверская 1\nМосква"
    entry = session.exec(
        select(AuditEntry).where(AuditEntry.action == "billing.details.change")
    ).one()
    assert entry.details["changes"]["billing_tax_id"] == ["", "RU7700000000"]


# ---- seats (demo mode) -----------------------------------------------------------------


def test_change_seats_demo_records_prorated_amount_and_history(session):
    team = create_team(session, seats=20, seat_price_cents=3_000)
    owner = team["owner"]
    now = datetime(2026, 11, 16, tzinfo=UTC)  # 15 of 30 days left
    change = billing.change_seats(session, actor=owner, seats=24, config=DEMO, now=now)
    assert (change.from_seats, change.to_seats, change.source) == (20, 24, "demo")
    assert change.prorated_cents == 4 * 3_000 // 2
    change = billing.change_seats(session, actor=owner, seats=22, config=DEMO, now=now)
    assert change.prorated_cents == -3_000
    history = billing.list_purchase_history(session, actor=owner)
    assert sorted((h.kind, h.amount_micros) for h in history) == [
        ("Seats added", 6_000 * billing.MICROS_PER_CENT),
        ("Seats removed", -3_000 * billing.MICROS_PER_CENT),
    ]
    assert session.get(Organization, owner.org_id).seats == 22
    assert _actions(session, owner.org_id).count("organization.seats.change") == 2


def test_change_seats_refuses_below_use_and_same(session):
    team = create_team(session, seats=5)
    with pytest.raises(ValidationError, match="fewer than the 3 in use"):
        billing.change_seats(session, actor=team["owner"], seats=2, config=DEMO)
    with pytest.raises(ValidationError, match="already has 5"):
        billing.change_seats(session, actor=team["owner"], seats=5, config=DEMO)
    assert session.exec(select(SeatChange)).all() == []


def test_prorate_cents_is_exact_and_bounded():
    start = datetime(2026, 11, 1, tzinfo=UTC)
    end = datetime(2026, 12, 1, tzinfo=UTC)
    assert billing.prorate_cents(3, 2_900, start, end, start) == 8_700
    assert billing.prorate_cents(3, 2_900, start, end, end + timedelta(days=3)) == 0
    assert billing.prorate_cents(-1, 2_900, start, end, start + timedelta(days=10)) == -1_933


def test_system_actor_may_change_seats(session):
    org = create_org(session, seats=3)
    change = billing.change_seats(session, actor=system_actor(org.id), seats=4, config=DEMO)
    assert change.actor_id is None


# ---- PDF -----------------------------------------------------------------------------


def _pdf_text(data: bytes, tmp_path) -> str:
    path = tmp_path / "invoice.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_invoice_pdf_has_details_lines_and_non_latin_text(session, tmp_path, seller_env):
    team = create_team(session)
    owner = team["owner"]
    billing.update_billing_details(
        session,
        actor=owner,
        company="ООО «Ромашка» — Αθήνα GmbH",
        address="Invalidenstraße 117\n10115 Berlin",
        tax_id="DE812345678",
        email="billing@romashka.example",
    )
    inv = create_top_up(session, owner, 123_456)
    data = billing.invoice_pdf(session, actor=team["admin"], invoice_id=inv.id)
    assert data.startswith(b"%PDF-")
    text = _pdf_text(data, tmp_path)
    for expected in (
        "INVOICE",
        inv.number,
        "ООО «Ромашка» — Αθήνα GmbH",
        "Invalidenstraße 117",
        "Tax ID: DE812345678",
        "billing@romashka.example",
        "Kilo Gateway credits",
        "$1,234.56",
        "PAID",
        "Credit top-up",
    ):
        assert expected in text, expected
    with pytest.raises(PermissionDenied):
        billing.invoice_pdf(session, actor=team["member"], invoice_id=inv.id)


def test_invoice_pdf_of_demo_seat_invoice(demo_url, tmp_path):
    from kilo.db import read_session
    from kilo.models import Member

    with read_session() as s:
        owner = actor_for(s.exec(select(Member).where(Member.username == "owner")).one())
        seat = s.exec(select(Invoice).where(Invoice.kind == "seats")).first()
        text = _pdf_text(billing.invoice_pdf(s, actor=owner, invoice_id=seat.id), tmp_path)
    assert "Acme Robotics GmbH" in text and "Invalidenstraße 117" in text
    assert "Kilo for Enterprise seat" in text and "Seats subscription" in text


def test_demo_ledger_has_purchases_promo_and_usage(demo_url):
    from kilo.db import read_session
    from kilo.models import Member

    with read_session() as s:
        owner = actor_for(s.exec(select(Member).where(Member.username == "owner")).one())
        rows = billing.list_ledger(s, actor=owner)
        kinds = {r.kind for r in rows}
        assert {"purchase", "promo", "usage"} <= kinds
        assert rows[0].balance_micros == billing.balance_micros(s, org_id=owner.org_id)
        assert len(s.exec(select(LedgerEntry)).all()) >= 6
