"""Billing: credits, ledger, purchases, refunds, seats, invoices and Stripe.

With Stripe configured (`kilo.billing.stripe_gateway.stripe_config()`), purchases go
through Stripe Checkout and seat changes update the subscription quantity; without a key
the dashboard is in demo mode and records purchases and seat changes locally.

    ledger.py           balance, runway, ledger entries and their idempotency keys
    account.py          the Invoices tab's summary, low-balance alert, billing details
    invoices.py         invoices, payments and purchase history; seat notes; PDFs
    issue.py            issuing an invoice: its number (gap-free series) and tax
    seller.py           the seller and tax-rate settings, the tax treatment (reverse charge)
    parties.py          the seller and customer an invoice prints, recorded at issue
    countries.py        ISO country codes, EU VAT prefixes
    purchases.py        buying credits (demo or Stripe Checkout), recording a purchase
    refunds.py          refunds of top-ups (the owner's, and those Stripe reports)
    seats.py            seat changes, prorated
    pdf.py              the invoice PDF (fpdf2)
    stripe_gateway.py   the only module that talks to Stripe
    stripe_invoices.py  Stripe invoices and their payments into the local records
    stripe_events.py    webhooks (also importable as `kilo.stripe_events`)
    stripe_sync.py      `python -m kilo sync-stripe` (the command is in `kilo.cli.billing`)
    demo.py             billing's part of the demo organization

The names below are the ones pages, tests and the README use as `kilo.billing.<name>`.
"""

from kilo.billing.account import (
    MAX_ALERT_MICROS,
    BillingSummary,
    get_billing_summary,
    low_balance_warning,
    set_low_balance_alert,
    update_billing_details,
)
from kilo.billing.invoices import (
    INVOICE_KIND_LABELS,
    INVOICE_STATUS_LABELS,
    HistoryRow,
    InvoiceRow,
    InvoiceSetup,
    PaymentRow,
    display_status,
    get_invoice,
    invoice_pdf,
    invoice_setup,
    list_invoices,
    list_payments,
    list_purchase_history,
    seat_change_notes,
)
from kilo.billing.issue import invoice_series, issue_invoice, issue_number
from kilo.billing.ledger import (
    LEDGER_KIND_LABELS,
    MANUAL_KINDS,
    MAX_ADJUSTMENT_MICROS,
    RUNWAY_WINDOW_DAYS,
    LedgerRow,
    add_ledger_entry,
    average_daily_spend_micros,
    balance_expression,
    balance_micros,
    get_credit_runway,
    ledger_total_micros,
    list_ledger,
    runway_days,
    usage_cost_micros,
)
from kilo.billing.purchases import (
    MAX_PURCHASE_CENTS,
    MIN_PURCHASE_CENTS,
    PRESET_PURCHASE_CENTS,
    CheckoutOutcome,
    PurchaseStart,
    apply_checkout_session,
    check_purchase_amount,
    complete_checkout,
    record_credit_purchase,
    start_credit_purchase,
)
from kilo.billing.refunds import record_refund, refund_purchase
from kilo.billing.seats import MAX_SEATS, change_seats, prorate_cents
from kilo.billing.seller import (
    DEMO_SELLER,
    REVERSE_CHARGE_NOTE,
    Seller,
    SellerNotConfigured,
    TaxTreatment,
    missing_seller_settings,
    org_tax_treatment,
    tax_cents,
    tax_rate,
)
from kilo.billing.stripe_gateway import (
    USE_ENV,
    PaymentProviderError,
    StripeConfig,
    resolve_config,
    stripe_config,
)
from kilo.money import MICROS_PER_CENT, usd, usd_cents

__all__ = [
    "DEMO_SELLER",
    "REVERSE_CHARGE_NOTE",
    "Seller",
    "SellerNotConfigured",
    "TaxTreatment",
    "InvoiceSetup",
    "invoice_setup",
    "invoice_series",
    "issue_invoice",
    "issue_number",
    "missing_seller_settings",
    "org_tax_treatment",
    "seat_change_notes",
    "tax_cents",
    "tax_rate",
    "INVOICE_KIND_LABELS",
    "INVOICE_STATUS_LABELS",
    "LEDGER_KIND_LABELS",
    "MANUAL_KINDS",
    "MAX_ADJUSTMENT_MICROS",
    "MAX_ALERT_MICROS",
    "MAX_PURCHASE_CENTS",
    "MAX_SEATS",
    "MICROS_PER_CENT",
    "MIN_PURCHASE_CENTS",
    "PRESET_PURCHASE_CENTS",
    "RUNWAY_WINDOW_DAYS",
    "USE_ENV",
    "BillingSummary",
    "CheckoutOutcome",
    "HistoryRow",
    "InvoiceRow",
    "LedgerRow",
    "PaymentProviderError",
    "PaymentRow",
    "PurchaseStart",
    "StripeConfig",
    "add_ledger_entry",
    "apply_checkout_session",
    "average_daily_spend_micros",
    "balance_expression",
    "balance_micros",
    "change_seats",
    "check_purchase_amount",
    "complete_checkout",
    "display_status",
    "get_billing_summary",
    "get_credit_runway",
    "get_invoice",
    "invoice_pdf",
    "ledger_total_micros",
    "list_invoices",
    "list_ledger",
    "list_payments",
    "list_purchase_history",
    "low_balance_warning",
    "prorate_cents",
    "record_credit_purchase",
    "record_refund",
    "refund_purchase",
    "resolve_config",
    "runway_days",
    "set_low_balance_alert",
    "start_credit_purchase",
    "stripe_config",
    "update_billing_details",
    "usage_cost_micros",
    "usd",
    "usd_cents",
]
