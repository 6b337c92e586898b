"""The Stripe settings as `kilo.stripe_gateway` (app.py exports them at start-up); the code
lives in `kilo.billing.stripe_gateway`."""

from kilo.billing.stripe_gateway import (
    ENV_KEYS,
    PaymentProviderError,
    StripeConfig,
    export_to_environ,
    stripe_config,
    webhook_secret,
)

__all__ = [
    "ENV_KEYS",
    "PaymentProviderError",
    "StripeConfig",
    "export_to_environ",
    "stripe_config",
    "webhook_secret",
]
