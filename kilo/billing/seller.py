"""Who issues the invoices and at what tax rate: settings read at every use, and the tax
treatment of an invoice (a rate, or the EU reverse charge).

Settings (environment; or `[seller]` in .streamlit/secrets.toml with the keys name, address,
country, tax_id, contact, tax_rate, which `export_to_environ(st.secrets)` copies into the
environment at start-up, variables already set winning, as for `[smtp]`):

    KILO_SELLER_NAME      legal name printed as the seller
    KILO_SELLER_ADDRESS   postal address; lines separated by newlines or " | "
    KILO_SELLER_COUNTRY   ISO 3166-1 alpha-2 code of the seller's country (e.g. IE)
    KILO_SELLER_TAX_ID    the seller's tax id (an EU VAT number for an EU seller)
    KILO_SELLER_CONTACT   where customers write about invoices (e-mail or phone)
    KILO_TAX_RATE         tax in percent added to invoices this app issues (e.g. 19, 8.875);
                          unset: 0

Without the five seller settings an invoice of a real organization is not rendered (the
caller gets `SellerNotConfigured` naming what is missing); the demo organization's invoices
carry a labelled demo seller instead.

Tax rule: tax = subtotal x rate / 100 on the invoice's subtotal, in integer cents, rounded
half away from zero (ROUND_HALF_UP: 0.5 cent up, -0.5 cent down). A customer with an EU VAT
number in an EU country other than the seller's (an EU seller) pays no tax: the invoice says
why (`REVERSE_CHARGE_NOTE`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from kilo.billing.countries import COUNTRIES, EU_VAT_PREFIXES, country_name
from kilo.errors import KiloError, ValidationError
from kilo.models import Organization
from kilo.secrets_env import export_section

REVERSE_CHARGE_NOTE = "VAT reverse charge — Article 196 Council Directive 2006/112/EC"
MAX_TAX_RATE = Decimal(100)
# [seller] key in secrets.toml -> environment variable
SECRET_KEYS = {
    "name": "KILO_SELLER_NAME",
    "address": "KILO_SELLER_ADDRESS",
    "country": "KILO_SELLER_COUNTRY",
    "tax_id": "KILO_SELLER_TAX_ID",
    "contact": "KILO_SELLER_CONTACT",
    "tax_rate": "KILO_TAX_RATE",
}
# An EU VAT number: the country's prefix, then 2 to 13 letters or digits (no spaces).
_VAT_BODY = re.compile(r"^[A-Z0-9]{2,13}$")


class SellerNotConfigured(KiloError):
    """The seller's details (or the tax rate) are missing or invalid: no final invoice."""


@dataclass(frozen=True)
class Seller:
    name: str
    address_lines: tuple[str, ...]
    country: str  # ISO 3166-1 alpha-2
    tax_id: str
    contact: str
    is_demo: bool = False

    def lines(self) -> list[str]:
        """The seller block of an invoice, top to bottom."""
        return [
            self.name,
            *self.address_lines,
            country_name(self.country),
            f"Tax ID: {self.tax_id}",
            self.contact,
        ]


DEMO_SELLER = Seller(
    name="Kilo Demo Seller Ltd (demo — not a real company)",
    address_lines=("1 Example Quay", "Dublin D02 X000"),
    country="IE",
    tax_id="IE0000000DEMO",
    contact="billing@seller.example",
    is_demo=True,
)


def _settings() -> dict[str, str]:
    return {
        "KILO_SELLER_NAME": os.environ.get("KILO_SELLER_NAME", "").strip(),
        "KILO_SELLER_ADDRESS": os.environ.get("KILO_SELLER_ADDRESS", "").strip(),
        "KILO_SELLER_COUNTRY": os.environ.get("KILO_SELLER_COUNTRY", "").strip().upper(),
        "KILO_SELLER_TAX_ID": os.environ.get("KILO_SELLER_TAX_ID", "").strip(),
        "KILO_SELLER_CONTACT": os.environ.get("KILO_SELLER_CONTACT", "").strip(),
    }


def missing_seller_settings() -> list[str]:
    """The seller settings that are not set, in the order the README lists them."""
    return [name for name, value in _settings().items() if not value]


def configured_seller() -> Seller:
    """The seller from the settings, or `SellerNotConfigured` naming every missing one."""
    values = _settings()
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise SellerNotConfigured(
            "Invoices cannot be issued as final documents: the seller's details are not "
            f"configured. The operator must set {', '.join(missing)} (environment variables, "
            "or name / address / country / tax_id / contact under [seller] in "
            ".streamlit/secrets.toml) and restart the dashboard."
        )
    country = values["KILO_SELLER_COUNTRY"]
    if country not in COUNTRIES:
        raise SellerNotConfigured(
            f"KILO_SELLER_COUNTRY is “{country}”; use a two-letter ISO 3166 country code "
            "such as IE or DE."
        )
    address = re.split(r"\n|\s\|\s|\\n", values["KILO_SELLER_ADDRESS"])
    return Seller(
        name=values["KILO_SELLER_NAME"],
        address_lines=tuple(line.strip() for line in address if line.strip()),
        country=country,
        tax_id=values["KILO_SELLER_TAX_ID"],
        contact=values["KILO_SELLER_CONTACT"],
    )


def seller_for(*, is_demo: bool) -> Seller:
    """The demo organization's labelled demo seller, else the configured one."""
    return DEMO_SELLER if is_demo else configured_seller()


def tax_rate() -> Decimal:
    """KILO_TAX_RATE in percent (0 when unset); `SellerNotConfigured` when it is not a
    number from 0 to 100."""
    text = os.environ.get("KILO_TAX_RATE", "").strip().removesuffix("%").strip()
    if not text:
        return Decimal(0)
    try:
        rate = Decimal(text)
    except InvalidOperation:
        rate = Decimal("NaN")
    if not rate.is_finite() or not 0 <= rate <= MAX_TAX_RATE or rate.as_tuple().exponent < -4:
        raise SellerNotConfigured(
            f"KILO_TAX_RATE is “{text}”; set the tax rate in percent from 0 to 100 with at "
            "most four decimals (e.g. 19 or 8.875)."
        )
    return rate.normalize() if rate else Decimal(0)


def tax_cents(subtotal_cents: int, rate: Decimal) -> int:
    """Tax on a subtotal in cents: subtotal x rate / 100, rounded half away from zero."""
    exact = Decimal(subtotal_cents) * rate / 100
    return int(exact.quantize(Decimal(1), ROUND_HALF_UP))


# ---- the customer's country and VAT number ---------------------------------------------


def check_country(code: str) -> str:
    """ "" or a known ISO 3166-1 alpha-2 code (upper case), else ValidationError."""
    code = (code or "").strip().upper()
    if code and code not in COUNTRIES:
        raise ValidationError(
            f"“{code}” is not a country code; use the two-letter ISO 3166 code (e.g. DE, FR, US)."
        )
    return code


def is_eu_vat_id(country: str, tax_id: str) -> bool:
    """Whether `tax_id` has the form of an EU VAT number of `country` (an EU member)."""
    prefix = EU_VAT_PREFIXES.get(country)
    if prefix is None or not tax_id.upper().startswith(prefix):
        return False
    return bool(_VAT_BODY.match(tax_id.upper()[len(prefix) :]))


def check_tax_id(country: str, tax_id: str) -> str:
    """A customer in an EU country gives its VAT number there (prefix, then 2–13 letters or
    digits; spaces, dots and dashes dropped), or no tax id; elsewhere any printable text."""
    tax_id = (tax_id or "").strip()
    prefix = EU_VAT_PREFIXES.get(country)
    if not tax_id or prefix is None:
        return tax_id
    compact = re.sub(r"[\s.\-]", "", tax_id).upper()
    if not is_eu_vat_id(country, compact):
        raise ValidationError(
            f"For a customer in {country_name(country)}, the tax ID must be its EU VAT number: "
            f"{prefix} followed by 2 to 13 letters or digits (e.g. {prefix}123456789)."
        )
    return compact


@dataclass(frozen=True)
class TaxTreatment:
    rate: Decimal  # percent; 0 under the reverse charge
    note: str = ""  # printed instead of the tax line (reverse charge), else ""

    def tax_cents(self, subtotal_cents: int) -> int:
        return 0 if self.note else tax_cents(subtotal_cents, self.rate)

    @property
    def rate_text(self) -> str:
        return format(self.rate, "f")


def tax_treatment(
    *, seller_country: str | None, customer_country: str, customer_tax_id: str
) -> TaxTreatment:
    """The reverse charge for an EU business customer in another EU country than an EU
    seller; otherwise the configured rate (`tax_rate()`)."""
    if (
        seller_country in EU_VAT_PREFIXES
        and customer_country in EU_VAT_PREFIXES
        and customer_country != seller_country
        and is_eu_vat_id(customer_country, customer_tax_id)
    ):
        return TaxTreatment(rate=Decimal(0), note=REVERSE_CHARGE_NOTE)
    return TaxTreatment(rate=tax_rate())


def org_tax_treatment(org: Organization) -> TaxTreatment:
    """The treatment of an invoice issued now to `org`. Without a
    configured seller country the reverse charge cannot be decided: the rate applies."""
    if org.is_demo:
        seller_country: str | None = DEMO_SELLER.country
    else:
        country = _settings()["KILO_SELLER_COUNTRY"]
        seller_country = country if country in COUNTRIES else None
    return tax_treatment(
        seller_country=seller_country,
        customer_country=org.billing_country,
        customer_tax_id=org.billing_tax_id,
    )


def export_to_environ(secrets: Mapping[str, Any] | None) -> None:
    """Copy the `[seller]` section of `secrets` (st.secrets) into the environment, once at
    start-up, so `kilo` services see it. Variables already set win."""
    export_section(secrets, "seller", SECRET_KEYS)
