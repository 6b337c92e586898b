"""Invoices tab through AppTest, for each role, in demo mode and against the fake Stripe."""

from __future__ import annotations

import pytest
from sqlmodel import select

from kilo import billing
from kilo.db import read_session
from kilo.models import AuditEntry, Invoice, Member, Organization
from tests.fake_stripe import FakeStripe
from tests.pages.helpers import open_page, texts
from tests.pages.rendered import plain

PAGE = "pages/invoices.py"


@pytest.fixture(autouse=True)
def _no_stripe(monkeypatch):
    for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE"):
        monkeypatch.delenv(name, raising=False)


def has_button(at, key):
    return any(b.key == key for b in at.button)


def org_balance():
    with read_session() as s:
        org = s.exec(select(Organization)).first()
        return billing.balance_micros(s, org_id=org.id)


def audit_actions():
    with read_session() as s:
        return list(s.exec(select(AuditEntry.action)).all())


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_page_renders_for_owner_and_admin(demo_url, role):
    at = open_page(role, PAGE)
    assert not at.exception
    assert [t.value for t in at.title] == ["Invoices & billing"]
    page = texts(at)
    assert "Demo mode — no real payment" in page
    assert [m.label for m in at.metric] == [
        "Available credits",
        "Runway",
        "Average daily spend",
        "Seats",
    ]
    assert at.metric[0].value == billing.usd(org_balance())
    assert at.metric[1].value.endswith(" days")
    invoices, payments, history, ledger = (d.value for d in at.dataframe)
    assert {"Number", "Date", "Period", "Kind", "Amount", "Status"} <= set(invoices.columns)
    assert {"Seats", "Credit top-up"} <= set(invoices["Kind"])
    assert {"paid", "open"} <= set(invoices["Status"])
    assert set(payments["Status"]) == {"succeeded", "failed", "refunded"}
    assert {"paid", "open", "void", "refunded"} <= set(invoices["Status"])
    assert {"Credit purchase", "Seats added", "Promotional credit", "Refund", "Adjustment"} <= set(
        history["Type"]
    )
    assert "Usage (derived)" in set(ledger["Kind"])
    assert "Acme Robotics GmbH" in at.text[0].value and "DE812345678" in at.text[0].value
    assert len(at.get("download_button")) == 1
    assert has_button(at, "inv_buy_50") == (role == "owner")
    assert has_button(at, "inv_seats_open") == (role == "owner")
    assert has_button(at, "inv_details_open") == (role == "owner")
    assert has_button(at, "inv_adjust_open") == (role == "owner")


def test_member_has_no_access(demo_url):
    at = open_page("member", PAGE)
    assert not at.exception
    assert "do not have access" in texts(at)
    assert len(at.dataframe) == 0 and len(at.metric) == 0


def test_owner_buys_demo_credits_with_a_preset(demo_url):
    before = org_balance()
    at = open_page("owner", PAGE)
    at.button(key="inv_buy_50").click().run()
    assert "Demo mode — no real payment" in texts(at)
    at.button(key="inv_buy_confirm").click().run()
    assert not at.exception
    assert org_balance() == before + 50_000_000
    assert at.metric[0].value == billing.usd(before + 50_000_000)
    assert at.dataframe[0].value["Amount"].iloc[0] == "$50.00"
    with read_session() as s:
        newest = s.exec(select(Invoice).order_by(Invoice.id.desc())).first()
    assert at.selectbox(key="inv_pdf_pick").value == newest.id  # preselected for download
    assert audit_actions().count("billing.credits.purchase") == 7  # 6 seeded + this one


def test_custom_amount_outside_limits_is_refused(demo_url):
    before = org_balance()
    at = open_page("owner", PAGE)
    at.text_input(key="inv_buy_custom").input("5")
    at.button(key="inv_buy_custom_go").click().run()
    assert any("$10.00 to $10,000.00" in plain(e.value) for e in at.error)  # not LaTeX
    assert not has_button(at, "inv_buy_confirm")
    at.text_input(key="inv_buy_custom").input("12.345")
    at.button(key="inv_buy_custom_go").click().run()
    assert any("whole cents" in e.value for e in at.error)
    at.text_input(key="inv_buy_custom").input("1,234.50")
    at.button(key="inv_buy_custom_go").click().run()
    at.button(key="inv_buy_confirm").click().run()
    assert org_balance() == before + 1_234_500_000


def test_stripe_checkout_and_return_add_credits_once(demo_url, monkeypatch):
    with FakeStripe() as fake:
        monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_fake")
        monkeypatch.setenv("STRIPE_API_BASE", fake.url)
        before = org_balance()
        at = open_page("owner", PAGE)
        assert "Demo mode" not in texts(at) and "Stripe test mode" in texts(at)
        at.button(key="inv_buy_100").click().run()
        at.button(key="inv_buy_confirm").click().run()
        assert not at.exception
        [cs] = fake.sessions.values()
        assert cs["amount_total"] == 10_000
        links = at.get("link_button")
        assert len(links) == 1 and links[0].proto.url == cs["url"]
        assert org_balance() == before
        fake.complete_session(cs["id"])
        for expected in ("$100.00 of credits added.", "already added"):
            at.query_params["session_id"] = cs["id"]
            at.run()
            assert not at.exception
            assert any(expected in plain(m.value) for m in at.success)
            assert org_balance() == before + 100_000_000


def test_owner_changes_seats_and_sees_history(demo_url):
    at = open_page("owner", PAGE)
    at.button(key="inv_seats_open").click().run()
    at.number_input(key="inv_seats_value").set_value(45).run()
    at.button(key="inv_seats_submit").click().run()
    assert not at.exception
    with read_session() as s:
        assert s.exec(select(Organization)).first().seats == 45
    history = at.dataframe[2].value
    assert history["Type"].iloc[0] == "Seats added" and "40 → 45" in history["Description"].iloc[0]


def test_owner_refunds_part_of_a_top_up(demo_url):
    at = open_page("owner", PAGE)
    at.button(key="inv_buy_50").click().run()
    at.button(key="inv_buy_confirm").click().run()
    before = org_balance()
    newest = at.dataframe[0].value["Number"].iloc[0]
    with read_session() as s:
        newest_id = s.exec(select(Invoice.id).where(Invoice.number == newest)).one()
    at.selectbox(key="inv_pdf_pick").set_value(newest_id).run()
    at.button(key="inv_refund_open").click().run()
    at.text_input(key="inv_refund_amount").input("20").run()
    at.button(key="inv_refund_confirm").click().run()
    assert not at.exception
    assert org_balance() == before - 20_000_000
    assert at.dataframe[0].value["Refunded"].iloc[0] == "$20.00"
    assert at.dataframe[0].value["Number"].iloc[0] == newest
    assert "billing.refund" in audit_actions()


def test_owner_edits_billing_details_and_alert(demo_url):
    at = open_page("owner", PAGE)
    at.button(key="inv_details_open").click().run()
    at.text_input(key="inv_details_company").input("Acme Роботикс GmbH")
    at.text_input(key="inv_details_email").input("broken")
    at.button(key="inv_details_save").click().run()
    assert any("not an email" in e.value for e in at.error)
    at.text_input(key="inv_details_email").input("ap@acme.example")
    at.button(key="inv_details_save").click().run()
    assert not at.exception
    assert "Acme Роботикс GmbH" in at.text[0].value
    at.button(key="inv_alert_open").click().run()
    at.text_input(key="inv_alert_value").input("1000000").run()
    at.button(key="inv_alert_save").click().run()
    with read_session() as s:
        owner = s.exec(select(Member).where(Member.username == "owner")).one()
        org = s.get(Organization, owner.org_id)
        assert org.low_balance_alert_micros == 1_000_000 * 1_000_000
        assert org.billing_email == "ap@acme.example"
    assert "below it" in texts(at)
    assert {"billing.details.change", "billing.alert.change"} <= set(audit_actions())
