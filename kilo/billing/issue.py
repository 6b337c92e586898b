"""Issuing invoices: the number, taken in issue order from the series' counter, and what is
fixed at issue: the tax treatment and the parties (seller and customer, `kilo.billing.parties`).

A series is one organization's invoices of one calendar year, numbered `K<org>-<year>-<n>`
from 1 without gaps. The counter row (`InvoiceCounter`) is read and advanced under the
organization's lock in the transaction that inserts the invoice: two invoices issued at the
same moment get consecutive numbers, and a transaction that rolls back gives its number back.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from sqlmodel import Session, select

from kilo.billing.parties import record_parties
from kilo.billing.seller import org_tax_treatment
from kilo.db import lock_organization
from kilo.models import Invoice, InvoiceCounter, Organization

_NUMBER = re.compile(r"^K\d+-\d{4}-(\d+)$")


def invoice_series(org_id: int, at: datetime) -> str:
    return f"K{org_id}-{at:%Y}"


def _highest_issued(session: Session, org_id: int, series: str) -> int:
    """The highest number already in `series` (0 if none): where a counter starts for
    invoices recorded before counters existed; their numbers are kept as they are."""
    numbers = session.exec(
        select(Invoice.number).where(
            Invoice.org_id == org_id, Invoice.number.startswith(f"{series}-")
        )
    ).all()
    found = [int(m.group(1)) for n in numbers if (m := _NUMBER.match(n))]
    return max(found, default=0)


def issue_number(session: Session, *, org_id: int, at: datetime) -> str:
    """The next number of the organization's series for `at`'s year, in issue order."""
    lock_organization(session, org_id)  # one issuer at a time per organization
    series = invoice_series(org_id, at)
    counter = session.get(InvoiceCounter, (org_id, series))
    if counter is None:
        counter = InvoiceCounter(
            org_id=org_id, series=series, last_number=_highest_issued(session, org_id, series)
        )
    counter.last_number += 1
    session.add(counter)
    session.flush()
    return f"{series}-{counter.last_number:05d}"


def issue_invoice(
    session: Session,
    *,
    org: Organization,
    kind: str,
    at: datetime,
    lines: list[dict],
    status: str,
    period_start: date | None = None,
    period_end: date | None = None,
    paid_at: datetime | None = None,
    tax_cents: int | None = None,
) -> Invoice:
    """A new invoice numbered now, with the seller's and the organization's billing details
    recorded as they are now (what its PDF prints from then on). `tax_cents` None: the tax
    follows the organization's treatment (rate or reverse charge, `kilo.billing.seller`);
    else the amount a payment provider computed, kept as is."""
    subtotal = sum(int(line["amount_cents"]) for line in lines)
    rate, note = None, ""
    if tax_cents is None:
        treatment = org_tax_treatment(org)
        tax_cents = treatment.tax_cents(subtotal)
        rate, note = treatment.rate_text, treatment.note
    number = issue_number(session, org_id=org.id, at=at)  # takes the organization's lock
    invoice = Invoice(
        org_id=org.id,
        number=number,
        kind=kind,
        issued_at=at,
        period_start=period_start or at.date(),
        period_end=period_end or at.date(),
        status=status,
        subtotal_cents=subtotal,
        tax_cents=tax_cents,
        tax_rate=rate,
        tax_note=note,
        total_cents=subtotal + tax_cents,
        paid_at=paid_at,
        lines=lines,
        parties=record_parties(org),
    )
    session.add(invoice)
    session.flush()
    return invoice
