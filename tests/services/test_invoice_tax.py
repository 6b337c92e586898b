"""Invoices fit for expense and tax reporting: the seller from settings (refused when missing,
a labelled demo seller for the demo), the tax rate and its rounding, the EU reverse charge,
the customer's billing country and VAT number, and what the PDF says about all of it."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlmodel import select

from kilo import billing
from kilo.billing.seller import check_tax_id, configured_seller, tax_treatment
from kilo.errors import PermissionDenied, ValidationError
from kilo.members import actor_for
from kilo.models import AuditEntry, Invoice, LedgerEntry, Member, Organization, Payment
from tests.conftest import SELLER
from tests.factories import create_team, create_top_up


def _pdf_text(data: bytes, tmp_path) -> str:
    path = tmp_path / "invoice.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def _customer(session, owner, *, country: str, tax_id: str) -> None:
    billing.update_billing_details(
        session,
        actor=owner,
        company="Acme Robotics GmbH",
        address="Invalidenstraße 117\n10115 Berlin",
        tax_id=tax_id,
        email="billing@acme.example",
        country=country,
    )


# ---- the seller -----------------------------------------------------------------------


def test_missing_seller_settings_are_named_and_the_pdf_refused(session, monkeypatch, tmp_path):
    team = create_team(session)
    invoice = create_top_up(session, team["owner"], 5_000)
    monkeypatch.setenv("KILO_SELLER_NAME", "Kilo Cloud Services Ltd")
    monkeypatch.setenv("KILO_SELLER_COUNTRY", "IE")
    with pytest.raises(billing.SellerNotConfigured) as refused:
        billing.invoice_pdf(session, actor=team["admin"], invoice_id=invoice.id)
    message = str(refused.value)
    for name in ("KILO_SELLER_ADDRESS", "KILO_SELLER_TAX_ID", "KILO_SELLER_CONTACT"):
        assert name in message
    assert "KILO_SELLER_NAME" not in message and "KILO_SELLER_COUNTRY" not in message
    assert "[seller]" in message and "secrets.toml" in message
    assert billing.missing_seller_settings() == [
        "KILO_SELLER_ADDRESS",
        "KILO_SELLER_TAX_ID",
        "KILO_SELLER_CONTACT",
    ]
    setup = billing.invoice_setup(session, actor=team["admin"])
    assert setup.seller is None and setup.problem == message


def test_a_configured_seller_is_printed_with_its_contact(session, seller_env, tmp_path):
    team = create_team(session)
    invoice = create_top_up(session, team["owner"], 5_000)
    seller = configured_seller()
    assert seller.address_lines == ("2 Harbour Road", "Dublin D02 AB12") and not seller.is_demo
    text = _pdf_text(
        billing.invoice_pdf(session, actor=team["admin"], invoice_id=invoice.id), tmp_path
    )
    for expected in (
        "From",
        "Kilo Cloud Services Ltd",
        "2 Harbour Road",
        "Dublin D02 AB12",
        "Ireland",
        "Tax ID: IE9876543W",
        "invoices@kilo.example",
        "Bill to",
        invoice.number,
    ):
        assert expected in text, expected
    assert "DEMO" not in text


def test_a_bad_seller_country_is_named(monkeypatch, seller_env):
    monkeypatch.setenv("KILO_SELLER_COUNTRY", "Ireland")
    with pytest.raises(billing.SellerNotConfigured, match="KILO_SELLER_COUNTRY is “IRELAND”"):
        configured_seller()


def test_the_demo_organization_prints_a_labelled_demo_seller(demo_url, tmp_path):
    from kilo.db import read_session

    with read_session() as s:
        owner = actor_for(s.exec(select(Member).where(Member.username == "owner")).one())
        setup = billing.invoice_setup(s, actor=owner)
        assert setup.seller == billing.DEMO_SELLER and setup.problem == ""
        seat = s.exec(select(Invoice).where(Invoice.kind == "seats")).first()
        text = _pdf_text(billing.invoice_pdf(s, actor=owner, invoice_id=seat.id), tmp_path)
    assert "DEMO — issued by the demo organization's sample seller; not a valid invoice." in text
    assert "Kilo Demo Seller Ltd (demo — not a real company)" in text
    # The demo customer is a German business with a VAT number; the demo seller is Irish.
    assert billing.REVERSE_CHARGE_NOTE in " ".join(text.split())
    assert "Tax (reverse charge)" in text


# ---- the tax rate and its rounding -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [("", "0"), ("19", "19"), (" 8.875 ", "8.875"), ("20%", "20"), ("0", "0"), ("100", "100")],
)
def test_tax_rate_setting(monkeypatch, text, rate):
    monkeypatch.setenv("KILO_TAX_RATE", text)
    assert billing.tax_rate() == Decimal(rate)


@pytest.mark.parametrize("text", ["abc", "-1", "100.5", "1.00001", "NaN", "Infinity", "1e400"])
def test_bad_tax_rate_names_the_setting(monkeypatch, text):
    monkeypatch.setenv("KILO_TAX_RATE", text)
    with pytest.raises(billing.SellerNotConfigured, match="KILO_TAX_RATE is"):
        billing.tax_rate()


@pytest.mark.parametrize(
    ("subtotal", "rate", "tax"),
    [
        (5_000, "19", 950),
        (1_001, "19", 190),  # 190.19
        (50, "1", 1),  # 0.5 cent: half up
        (-50, "1", -1),  # a credit: half away from zero
        (149, "1", 1),  # 1.49
        (1_000, "8.875", 89),  # 88.75
        (13_495, "21", 2_834),  # 2833.95
        (0, "19", 0),
    ],
)
def test_tax_cents_rounds_half_away_from_zero(subtotal, rate, tax):
    assert billing.tax_cents(subtotal, Decimal(rate)) == tax


# ---- reverse charge ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seller", "country", "tax_id", "reverse"),
    [
        ("IE", "DE", "DE812345678", True),  # EU business in another EU country
        ("IE", "GR", "EL123456789", True),  # Greece's VAT prefix is EL
        ("DE", "DE", "DE812345678", False),  # same country: domestic VAT
        ("IE", "DE", "", False),  # no VAT number: a consumer, VAT charged
        ("IE", "US", "12-3456789", False),  # outside the EU
        ("US", "DE", "DE812345678", False),  # the seller is not in the EU
        (None, "DE", "DE812345678", False),  # seller's country unknown
    ],
)
def test_reverse_charge_rule(monkeypatch, seller, country, tax_id, reverse):
    monkeypatch.setenv("KILO_TAX_RATE", "19")
    treatment = tax_treatment(
        seller_country=seller, customer_country=country, customer_tax_id=tax_id
    )
    assert (treatment.note == billing.REVERSE_CHARGE_NOTE) == reverse
    assert treatment.tax_cents(10_000) == (0 if reverse else 1_900)


def test_demo_purchase_adds_the_configured_tax(session, seller_env, monkeypatch, tmp_path):
    monkeypatch.setenv("KILO_TAX_RATE", "19")
    team = create_team(session)
    owner = team["owner"]
    _customer(session, owner, country="IE", tax_id="IE6388047V")  # same country as the seller
    start = billing.start_credit_purchase(session, actor=owner, amount_cents=5_000, config=None)
    invoice = session.exec(select(Invoice).where(Invoice.org_id == owner.org_id)).one()
    assert (invoice.subtotal_cents, invoice.tax_cents, invoice.total_cents) == (5_000, 950, 5_950)
    assert (invoice.tax_rate, invoice.tax_note) == ("19", "")
    payment = session.exec(select(Payment).where(Payment.external_ref == start.session_id)).one()
    assert payment.amount_cents == 5_950
    credits = session.exec(select(LedgerEntry).where(LedgerEntry.invoice_id == invoice.id)).one()
    assert credits.amount_micros == 5_000 * billing.MICROS_PER_CENT  # credits exclude the tax
    text = _pdf_text(billing.invoice_pdf(session, actor=owner, invoice_id=invoice.id), tmp_path)
    assert "Tax (19%)" in text and "$9.50" in text and "$59.50" in text
    assert "reverse charge" not in text


def test_eu_business_in_another_country_is_reverse_charged(
    session, seller_env, monkeypatch, tmp_path
):
    monkeypatch.setenv("KILO_TAX_RATE", "23")
    team = create_team(session)
    owner = team["owner"]
    _customer(session, owner, country="DE", tax_id="DE 812 345 678")
    assert session.get(Organization, owner.org_id).billing_tax_id == "DE812345678"
    billing.start_credit_purchase(session, actor=owner, amount_cents=5_000, config=None)
    invoice = session.exec(select(Invoice).where(Invoice.org_id == owner.org_id)).one()
    assert (invoice.tax_cents, invoice.total_cents) == (0, 5_000)
    assert invoice.tax_note == billing.REVERSE_CHARGE_NOTE
    text = _pdf_text(billing.invoice_pdf(session, actor=owner, invoice_id=invoice.id), tmp_path)
    flat = " ".join(text.split())
    assert "VAT reverse charge — Article 196 Council Directive 2006/112/EC" in flat
    assert "Tax (reverse charge) $0.00" in flat
    assert "Tax (23%)" not in text and "Tax (0%)" not in text
    # Fixed at issue: a later change of country does not rewrite the issued invoice.
    _customer(session, owner, country="IE", tax_id="IE6388047V")
    session.refresh(invoice)
    assert invoice.tax_note == billing.REVERSE_CHARGE_NOTE


# ---- the customer's country and VAT number ---------------------------------------------


@pytest.mark.parametrize(
    ("country", "tax_id", "match"),
    [
        ("XX", "", "not a country code"),
        ("Germany", "", "not a country code"),
        ("DE", "FR12345678901", "EU VAT number: DE followed by"),
        ("DE", "DE1", "EU VAT number"),
        ("GR", "GR123456789", "EL followed by"),
    ],
)
def test_billing_country_and_vat_number_are_checked(session, country, tax_id, match):
    owner = create_team(session)["owner"]
    with pytest.raises(ValidationError, match=match):
        _customer(session, owner, country=country, tax_id=tax_id)
    assert session.get(Organization, owner.org_id).billing_country == ""


def test_billing_country_change_is_audited(session):
    owner = create_team(session)["owner"]
    _customer(session, owner, country="de", tax_id="de812345678")
    org = session.get(Organization, owner.org_id)
    assert (org.billing_country, org.billing_tax_id) == ("DE", "DE812345678")
    entry = session.exec(
        select(AuditEntry).where(AuditEntry.action == "billing.details.change")
    ).one()
    assert entry.details["changes"]["billing_country"] == ["", "DE"]
    assert "country" in entry.message
    # Outside the EU any printable tax id is kept as typed.
    assert check_tax_id("US", " 12-3456789 ") == "12-3456789"


def test_only_owners_change_the_billing_country(session):
    team = create_team(session)
    with pytest.raises(PermissionDenied):
        _customer(session, team["admin"], country="DE", tax_id="")


def test_seller_settings_come_from_secrets_too(monkeypatch):
    from kilo.billing import seller

    for name in [*SELLER, "KILO_TAX_RATE"]:
        monkeypatch.setenv(name, "")  # restored (unset) after the test
    monkeypatch.setenv("KILO_SELLER_NAME", "From the environment")
    section = {key: "x" for key in seller.SECRET_KEYS} | {
        "name": "From secrets",
        "country": "ie",
        "tax_rate": 21,
    }
    seller.export_to_environ({"seller": section})
    assert configured_seller().name == "From the environment"  # the environment wins
    assert configured_seller().country == "IE"
    assert billing.tax_rate() == Decimal(21)


# ---- the parties, fixed at issue ---------------------------------------------------------

NEW_SELLER = {
    "KILO_SELLER_NAME": "Kilo Europe GmbH",
    "KILO_SELLER_ADDRESS": "Friedrichstraße 1 | 10117 Berlin",
    "KILO_SELLER_COUNTRY": "DE",
    "KILO_SELLER_TAX_ID": "DE999999999",
    "KILO_SELLER_CONTACT": "rechnung@kilo.example",
}


def test_an_issued_invoice_keeps_its_seller_and_customer(
    session, seller_env, monkeypatch, tmp_path
):
    """Changing the seller settings and the billing details after issue leaves the issued
    invoice's PDF as it was, word for word; an invoice issued afterwards prints the new
    ones; removing the seller settings does not take the issued invoice's PDF away."""
    monkeypatch.setenv("KILO_TAX_RATE", "19")
    team = create_team(session)
    owner = team["owner"]
    _customer(session, owner, country="IE", tax_id="IE6388047V")
    billing.start_credit_purchase(session, actor=owner, amount_cents=5_000, config=None)
    first = session.exec(select(Invoice).where(Invoice.org_id == owner.org_id)).one()
    before = _pdf_text(billing.invoice_pdf(session, actor=owner, invoice_id=first.id), tmp_path)
    for expected in ("Kilo Cloud Services Ltd", "2 Harbour Road", "Acme Robotics GmbH"):
        assert expected in before, expected
    assert "Tax (19%)" in before and "printed as set on" not in before

    for name, value in NEW_SELLER.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KILO_TAX_RATE", "21")
    billing.update_billing_details(
        session,
        actor=owner,
        company="Acme Robotique SAS",
        address="1 rue de Rivoli\n75001 Paris",
        tax_id="FR40303265045",
        email="factures@acme.example",
        country="FR",
    )
    after = _pdf_text(billing.invoice_pdf(session, actor=owner, invoice_id=first.id), tmp_path)
    assert after == before
    [row] = billing.list_invoices(session, actor=owner)
    assert (row.billed_to, row.seller_recorded, row.parties_note) == (
        "Acme Robotics GmbH",
        True,
        "",
    )

    billing.start_credit_purchase(session, actor=owner, amount_cents=5_000, config=None)
    second = session.exec(
        select(Invoice).where(Invoice.org_id == owner.org_id, Invoice.id != first.id)
    ).one()
    text = _pdf_text(billing.invoice_pdf(session, actor=owner, invoice_id=second.id), tmp_path)
    for expected in (
        "Kilo Europe GmbH",
        "Friedrichstraße 1",
        "Tax ID: DE999999999",
        "rechnung@kilo.example",
        "Acme Robotique SAS",
        "1 rue de Rivoli",
        "France",
        "Tax ID: FR40303265045",
        "Tax (reverse charge)",  # a French business invoiced by a German seller
    ):
        assert expected in text, expected
    for old in ("Kilo Cloud Services Ltd", "Acme Robotics GmbH", "Tax (19%)"):
        assert old not in text, old

    for name in NEW_SELLER:
        monkeypatch.delenv(name)
    assert billing.invoice_pdf(session, actor=owner, invoice_id=first.id)  # recorded seller
    assert (
        _pdf_text(billing.invoice_pdf(session, actor=owner, invoice_id=first.id), tmp_path)
        == before
    )


def test_without_a_record_the_current_parties_are_printed_and_labelled(
    session, seller_env, monkeypatch, tmp_path
):
    """An invoice issued before revision 0011 (no record) prints the current seller and
    customer with a note; one issued while the seller was not configured records its
    customer and prints the seller configured later, with a note saying so."""
    team = create_team(session)
    owner = team["owner"]
    legacy = create_top_up(session, owner, 5_000)
    legacy.parties = None  # what revision 0011 leaves on the invoices issued before it
    session.add(legacy)
    _customer(session, owner, country="DE", tax_id="DE812345678")
    text = " ".join(
        _pdf_text(billing.invoice_pdf(session, actor=owner, invoice_id=legacy.id), tmp_path).split()
    )
    today = f"{datetime.now(UTC):%Y-%m-%d}"
    assert "Acme Robotics GmbH" in text and "Kilo Cloud Services Ltd" in text
    assert (
        "This invoice was issued before the seller's and the customer's details were recorded "
        f"on invoices: both are printed as set on {today}."
    ) in text

    for name in SELLER:
        monkeypatch.delenv(name)
    unsold = create_top_up(session, owner, 6_000)  # issued while no seller is configured
    assert unsold.parties["seller"] is None
    with pytest.raises(billing.SellerNotConfigured, match="KILO_SELLER_NAME"):
        billing.invoice_pdf(session, actor=owner, invoice_id=unsold.id)
    rows = {r.id: r for r in billing.list_invoices(session, actor=owner)}
    assert not rows[unsold.id].seller_recorded and rows[unsold.id].billed_to == "Acme Robotics GmbH"
    assert "printed as set on" in rows[legacy.id].parties_note
    for name, value in NEW_SELLER.items():
        monkeypatch.setenv(name, value)
    _customer(session, owner, country="IE", tax_id="")
    _set_company(session, owner, "Someone Else Ltd")
    text = " ".join(
        _pdf_text(billing.invoice_pdf(session, actor=owner, invoice_id=unsold.id), tmp_path).split()
    )
    assert "Kilo Europe GmbH" in text and "Acme Robotics GmbH" in text
    assert "Someone Else Ltd" not in text
    assert (
        "The seller's details were not configured when this invoice was issued: they are "
        f"printed as set on {today}."
    ) in text


def _set_company(session, owner, company: str) -> None:
    org = session.get(Organization, owner.org_id)
    billing.update_billing_details(
        session,
        actor=owner,
        company=company,
        address=org.billing_address,
        tax_id=org.billing_tax_id,
        email=org.billing_email,
        country=org.billing_country,
    )


def test_a_stripe_invoice_records_its_parties_when_finalized(session, seller_env):
    from kilo.billing.stripe_invoices import upsert_stripe_invoice

    owner = create_team(session)["owner"]
    org = session.get(Organization, owner.org_id)
    inv = {"id": "in_parties", "status": "draft", "subtotal": 1_000, "total": 1_000}
    draft, _ = upsert_stripe_invoice(session, org=org, inv=inv)
    assert draft.parties is None  # not issued: the current details
    issued, _ = upsert_stripe_invoice(session, org=org, inv=inv | {"status": "open"})
    assert issued.parties["seller"]["name"] == SELLER["KILO_SELLER_NAME"]
    assert issued.parties["bill_to"]["company"] == org.name
