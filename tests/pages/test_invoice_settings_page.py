"""Invoices tab (AppTest): no PDF without a seller outside the demo, with the settings to set
named; the seller and the tax shown under Billing details; the customer's country and VAT
number edited and checked; a seat change's invoice in the list with the period's note."""

from __future__ import annotations

import pytest
from sqlmodel import select

from kilo.db import read_session, write_session
from kilo.models import AuditEntry, Invoice, Organization
from tests.pages.helpers import open_page, texts
from tests.pages.rendered import plain

PAGE = "pages/invoices.py"


@pytest.fixture(autouse=True)
def _no_stripe(monkeypatch):
    for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE"):
        monkeypatch.delenv(name, raising=False)


def _not_demo() -> None:
    """The demo database as a real organization's whose invoices were issued before their
    parties were recorded (revision 0011): their PDFs need a configured seller."""
    with write_session() as s:
        org = s.exec(select(Organization)).one()
        org.is_demo = False
        s.add(org)
        for invoice in s.exec(select(Invoice)).all():
            invoice.parties = None
            s.add(invoice)


def test_without_a_seller_no_pdf_and_the_missing_settings_are_named(demo_url, monkeypatch):
    _not_demo()
    monkeypatch.setenv("KILO_SELLER_NAME", "Kilo Cloud Services Ltd")
    at = open_page("admin", PAGE)
    assert not at.exception
    assert len(at.get("download_button")) == 0
    assert at.button(key="inv_pdf_unavailable").disabled
    errors = " ".join(plain(e.value) for e in at.error)
    for name in (
        "KILO_SELLER_ADDRESS",
        "KILO_SELLER_COUNTRY",
        "KILO_SELLER_TAX_ID",
        "KILO_SELLER_CONTACT",
    ):
        assert name in errors, name
    assert "KILO_SELLER_NAME" not in errors
    assert "The operator must set" in errors
    # The Billing details tab says the same where the seller would be.
    assert any("KILO_SELLER_ADDRESS" in plain(w.value) for w in at.warning)


def test_an_invoice_with_its_seller_recorded_needs_no_seller_settings(demo_url):
    """The demo's invoices recorded the demo seller when issued: made a real organization
    without seller settings, the issued invoices' PDFs stay available, billed to the
    customer recorded then; the next invoice's seller is what is missing."""
    with write_session() as s:
        org = s.exec(select(Organization)).one()
        org.is_demo = False
        org.billing_company = "Renamed Later GmbH"
        s.add(org)
    at = open_page("owner", PAGE)
    assert not at.exception
    assert len(at.get("download_button")) == 1 and not at.error
    assert set(at.dataframe[0].value["Billed to"]) == {"Acme Robotics GmbH"}
    assert any("KILO_SELLER_NAME" in plain(w.value) for w in at.warning)  # the next invoice's


def test_an_invoice_without_a_record_says_it_prints_current_details(demo_url, seller_env):
    _not_demo()
    at = open_page("owner", PAGE)
    assert not at.exception
    assert any("printed as set on" in plain(c.value) for c in at.caption)


def test_with_a_seller_the_pdf_is_offered_and_the_seller_shown(demo_url, seller_env, monkeypatch):
    _not_demo()
    monkeypatch.setenv("KILO_TAX_RATE", "23")
    at = open_page("owner", PAGE)
    assert not at.exception
    assert len(at.get("download_button")) == 1 and not at.error
    seller = "\n".join(t.value for t in at.text)
    assert "Kilo Cloud Services Ltd" in seller and "Tax ID: IE9876543W" in seller
    # The demo customer: a German business with a VAT number; the seller is Irish.
    assert "VAT reverse charge — Article 196 Council Directive 2006/112/EC" in plain(texts(at))


def test_demo_shows_its_labelled_demo_seller(demo_url):
    at = open_page("owner", PAGE)
    assert len(at.get("download_button")) == 1
    assert "Kilo Demo Seller Ltd (demo — not a real company)" in "\n".join(t.value for t in at.text)
    assert "sample seller" in texts(at)
    at.button(key="inv_buy_50").click().run()  # the purchase dialog says what tax is added
    assert "no VAT is charged" in plain(texts(at))


def test_owner_sets_country_and_vat_number_checked_and_audited(demo_url):
    at = open_page("owner", PAGE)
    at.button(key="inv_details_open").click().run()
    assert at.selectbox(key="inv_details_country").value == "DE"
    at.selectbox(key="inv_details_country").set_value("FR")
    at.text_input(key="inv_details_tax_id").input("DE812345678")
    at.button(key="inv_details_save").click().run()
    assert any("For a customer in France" in plain(e.value) for e in at.error)
    at.text_input(key="inv_details_tax_id").input("FR 40 303 265 045")
    at.button(key="inv_details_save").click().run()
    assert not at.exception and not at.error
    with read_session() as s:
        org = s.exec(select(Organization)).one()
        assert (org.billing_country, org.billing_tax_id) == ("FR", "FR40303265045")
        entry = s.exec(
            select(AuditEntry)
            .where(AuditEntry.action == "billing.details.change")
            .order_by(AuditEntry.id.desc())
        ).first()
    assert entry.details["changes"]["billing_country"] == ["DE", "FR"]
    assert "France" in at.text[0].value


def test_a_seat_change_is_invoiced_and_noted_on_the_open_invoice(demo_url):
    at = open_page("owner", PAGE)
    at.button(key="inv_seats_open").click().run()
    at.number_input(key="inv_seats_value").set_value(45).run()
    at.button(key="inv_seats_submit").click().run()
    assert not at.exception
    invoices = at.dataframe[0].value
    with read_session() as s:
        newest = s.exec(select(Invoice).order_by(Invoice.id.desc())).first()
        open_seats = s.exec(
            select(Invoice).where(Invoice.kind == "seats", Invoice.status == "open")
        ).all()
    top = invoices.iloc[0]
    assert top["Number"] == newest.number and top["Note"].startswith("Seats 40 → 45 from ")
    notes = dict(zip(invoices["Number"], invoices["Note"], strict=True))
    period = [i for i in open_seats if i.id != newest.id and i.period_start <= newest.period_start]
    assert period and f"45 seats from {newest.issued_at:%Y-%m-%d}" in notes[period[0].number]
    assert newest.number in notes[period[0].number]
