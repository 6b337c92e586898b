"""`kilo.stripe_events.apply_webhook` is the webhook entry point the README documents for
deployments; the code lives in `kilo.billing.stripe_events` (sync in `kilo.billing.stripe_sync`)."""

from kilo.billing.stripe_events import (
    WebhookNotConfigured,
    WebhookResult,
    apply_event,
    apply_webhook,
    charge_refunded,
)
from kilo.billing.stripe_invoices import (
    WEBHOOK_ACTOR,
    invoice_paid,
    invoice_payment_failed,
    upsert_stripe_invoice,
)
from kilo.billing.stripe_sync import SyncReport, sync_stripe

__all__ = [
    "WEBHOOK_ACTOR",
    "SyncReport",
    "WebhookNotConfigured",
    "WebhookResult",
    "apply_event",
    "apply_webhook",
    "charge_refunded",
    "invoice_paid",
    "invoice_payment_failed",
    "sync_stripe",
    "upsert_stripe_invoice",
]
