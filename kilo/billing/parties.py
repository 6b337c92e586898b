"""The parties an invoice names: its seller and its customer (the bill-to block).

An issued invoice is a record for expense and tax reporting, so it keeps the details it was
issued with: `record_parties` takes the seller (the `KILO_SELLER_*` settings, or the demo's
sample seller) and the organization's billing details when the invoice is numbered, in the
issuing transaction, and `Invoice.parties` holds them. The tax treatment is fixed at the same
moment in `Invoice.tax_rate` and `tax_note`. The PDF and the Invoices tab print the recorded
details, whatever the settings or the billing details say later.

Where there is no record, the current details are printed: a Stripe draft (not issued yet);
an invoice issued while the seller was not configured (its seller only); an invoice issued
before revision 0011 (both). An issued invoice printed with current details says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from kilo.billing.countries import country_name
from kilo.billing.seller import Seller, SellerNotConfigured, seller_for
from kilo.models import Invoice, Organization, utcnow


@dataclass(frozen=True)
class BillTo:
    company: str  # the billing company, else the organization's name
    address_lines: tuple[str, ...]
    country: str  # ISO 3166-1 alpha-2, or ""
    tax_id: str
    email: str

    def lines(self) -> list[str]:
        """The bill-to block of an invoice, top to bottom."""
        lines = [self.company, *self.address_lines]
        country = country_name(self.country) if self.country else ""
        if country and country not in lines:
            lines.append(country)
        if self.tax_id:
            lines.append(f"Tax ID: {self.tax_id}")
        if self.email:
            lines.append(self.email)
        return lines


def current_bill_to(org: Organization) -> BillTo:
    """The organization's billing details as they are now."""
    return BillTo(
        company=org.billing_company or org.name,
        address_lines=tuple(org.billing_address.splitlines()),
        country=org.billing_country,
        tax_id=org.billing_tax_id,
        email=org.billing_email,
    )


def _current_seller(org: Organization) -> tuple[Seller | None, str]:
    try:
        return seller_for(is_demo=org.is_demo), ""
    except SellerNotConfigured as exc:
        return None, str(exc)


def record_parties(org: Organization) -> dict[str, Any]:
    """What an invoice issued now to `org` records: the seller (None while it is not
    configured) and the bill-to details, as JSON-ready values."""
    seller, _ = _current_seller(org)
    return {
        "seller": asdict(seller) if seller is not None else None,
        "bill_to": asdict(current_bill_to(org)),
    }


def _seller_from(record: dict[str, Any]) -> Seller:
    return Seller(
        name=record["name"],
        address_lines=tuple(record["address_lines"]),
        country=record["country"],
        tax_id=record["tax_id"],
        contact=record["contact"],
        is_demo=bool(record.get("is_demo", False)),
    )


def _bill_to_from(record: dict[str, Any]) -> BillTo:
    return BillTo(
        company=record["company"],
        address_lines=tuple(record["address_lines"]),
        country=record["country"],
        tax_id=record["tax_id"],
        email=record["email"],
    )


@dataclass(frozen=True)
class PrintedParties:
    """The seller and the customer an invoice prints, and where they come from."""

    seller: Seller | None  # None: not recorded and not configured now (no PDF: `problem`)
    bill_to: BillTo
    seller_recorded: bool  # the seller as recorded at issue
    bill_to_recorded: bool  # the customer as recorded at issue
    note: str  # an issued invoice printed with current details says which and why; else ""
    problem: str = ""  # why there is no seller, naming the settings to set

    @property
    def recorded(self) -> bool:
        return self.seller_recorded and self.bill_to_recorded


def printed_parties(
    invoice: Invoice, org: Organization, *, today: date | None = None
) -> PrintedParties:
    """The parties of `invoice` as recorded when it was issued, the current ones where
    nothing was recorded (a draft, an invoice from before the record, or one issued while
    the seller was not configured), with a note saying so on an issued invoice."""
    record = invoice.parties or {}
    seller_record, bill_to_record = record.get("seller"), record.get("bill_to")
    if seller_record:
        seller, problem = _seller_from(seller_record), ""
    else:
        seller, problem = _current_seller(org)
    bill_to = _bill_to_from(bill_to_record) if bill_to_record else current_bill_to(org)
    note = ""
    if invoice.status != "draft":  # a draft is not issued: current details, nothing to say
        on = f"{today or utcnow().date():%Y-%m-%d}"
        if not bill_to_record:
            note = (
                "This invoice was issued before the seller's and the customer's details were "
                f"recorded on invoices: both are printed as set on {on}."
            )
        elif not seller_record:
            note = (
                "The seller's details were not configured when this invoice was issued: they "
                f"are printed as set on {on}."
            )
    return PrintedParties(
        seller=seller,
        bill_to=bill_to,
        seller_recorded=bool(seller_record),
        bill_to_recorded=bool(bill_to_record),
        note=note,
        problem=problem,
    )
