"""The only module that talks to Stripe: configuration, a client, and plain-dict calls.

Stripe is configured by `STRIPE_SECRET_KEY` (and `STRIPE_WEBHOOK_SECRET` for webhooks,
optional `STRIPE_API_BASE` for a self-hosted proxy or the tests' fake server). Pages may
pass a mapping such as `st.secrets` to `stripe_config()`; the environment is the fallback.
Without a secret key the dashboard runs in a labelled demo mode (see `kilo.billing`):
services take `config=USE_ENV` (read the environment), None (demo mode) or a StripeConfig.

Every function returns plain dicts (Stripe objects converted), so billing logic treats
API responses and webhook payloads alike. Stripe failures become `PaymentProviderError`
with a message meant for the user.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import stripe

from kilo.errors import KiloError

ENV_KEYS = ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE")


class PaymentProviderError(KiloError):
    """Stripe refused a request or could not be reached; nothing was changed locally."""


@dataclass(frozen=True)
class StripeConfig:
    secret_key: str
    webhook_secret: str | None = None
    api_base: str | None = None

    @property
    def test_mode(self) -> bool:
        return self.secret_key.startswith(("sk_test_", "rk_test_"))


class UseEnv:
    def __repr__(self) -> str:
        return "USE_ENV"


USE_ENV: Any = UseEnv()  # default for `config`: read Stripe settings from the environment


def _setting(secrets: Mapping[str, Any] | None, name: str) -> str | None:
    """One Stripe setting: top-level `NAME` or `[stripe] name` in `secrets`, else the
    environment."""
    value = None
    if secrets is not None:
        try:  # top-level STRIPE_SECRET_KEY, or secret_key in a [stripe] section
            section = secrets.get("stripe") or {}
            value = secrets.get(name) or section.get(name.removeprefix("STRIPE_").lower())
        except Exception:  # noqa: BLE001  (st.secrets without a secrets.toml)
            value = None
    value = value or os.environ.get(name)
    return str(value).strip() if value else None


def stripe_config(secrets: Mapping[str, Any] | None = None) -> StripeConfig | None:
    """Stripe settings from `secrets` (e.g. st.secrets) or the environment; None: demo mode.

    In secrets.toml either top-level `STRIPE_SECRET_KEY = "..."` or a `[stripe]` section
    with `secret_key`, `webhook_secret`, `api_base`.
    """

    def get(name: str) -> str | None:
        return _setting(secrets, name)

    key = get("STRIPE_SECRET_KEY")
    if not key:
        return None
    return StripeConfig(
        secret_key=key, webhook_secret=get("STRIPE_WEBHOOK_SECRET"), api_base=get("STRIPE_API_BASE")
    )


def resolve_config(config: StripeConfig | None | UseEnv = USE_ENV) -> StripeConfig | None:
    """`USE_ENV` reads the environment; None forces demo mode; a StripeConfig is used as is."""
    return stripe_config() if isinstance(config, UseEnv) else config


def webhook_secret(secrets: Mapping[str, Any] | None = None) -> str | None:
    """STRIPE_WEBHOOK_SECRET (or `[stripe] webhook_secret`), with or without a secret key:
    verifying a webhook needs only this, so a webhook-only server needs no API key."""
    return _setting(secrets, "STRIPE_WEBHOOK_SECRET")


def export_to_environ(secrets: Mapping[str, Any] | None) -> None:
    """Copy Stripe settings found in `secrets` (st.secrets) into the environment, once at
    start-up, so services called without an explicit config (seat changes on the
    Organization tab, webhooks) see the same settings. Existing variables win. The
    webhook secret is copied even without a secret key."""
    config = stripe_config(secrets)
    values = {"STRIPE_WEBHOOK_SECRET": webhook_secret(secrets)}
    if config is not None:
        values |= {"STRIPE_SECRET_KEY": config.secret_key, "STRIPE_API_BASE": config.api_base}
    for name, value in values.items():
        if value and not os.environ.get(name):
            os.environ[name] = value


def client(config: StripeConfig) -> stripe.StripeClient:
    kwargs: dict[str, Any] = {"max_network_retries": 0 if config.api_base else 2}
    if config.api_base:
        kwargs["base_addresses"] = {"api": config.api_base.rstrip("/")}
    return stripe.StripeClient(config.secret_key, **kwargs)


def plain(obj: Any) -> Any:
    """A Stripe object (or list of them) as plain dicts and lists."""
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict(recursive=True)
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [plain(v) for v in obj]
    return obj


def _call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return plain(fn(*args, **kwargs))
    except stripe.StripeError as exc:
        detail = exc.user_message or getattr(exc, "_message", None) or str(exc)
        raise PaymentProviderError(
            f"Stripe could not {what}: {detail}. Nothing was changed; try again, or check the "
            "Stripe settings (STRIPE_SECRET_KEY)."
        ) from exc


def create_customer(config: StripeConfig, *, name: str, email: str | None, org_id: int) -> dict:
    params: dict[str, Any] = {"name": name, "metadata": {"kilo_org_id": str(org_id)}}
    if email:
        params["email"] = email
    return _call(
        "create the customer",
        client(config).v1.customers.create,
        params,
        {"idempotency_key": f"kilo-customer-{org_id}"},
    )


def create_checkout_session(
    config: StripeConfig,
    *,
    customer: str,
    amount_cents: int,
    org_id: int,
    success_url: str,
    cancel_url: str,
    idempotency_key: str,
) -> dict:
    """A hosted Checkout page for a one-off credit purchase of `amount_cents` (USD)."""
    params = {
        "mode": "payment",
        "customer": customer,
        "client_reference_id": str(org_id),
        "success_url": success_url,
        "cancel_url": cancel_url,
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": "usd",
                    "unit_amount": amount_cents,
                    "product_data": {"name": "Kilo Gateway credits"},
                },
            }
        ],
        "metadata": {
            "kilo_org_id": str(org_id),
            "kilo_kind": "credits",
            "amount_cents": str(amount_cents),
        },
        "payment_intent_data": {"metadata": {"kilo_org_id": str(org_id), "kilo_kind": "credits"}},
    }
    return _call(
        "start the checkout",
        client(config).v1.checkout.sessions.create,
        params,
        {"idempotency_key": idempotency_key},
    )


def retrieve_checkout_session(config: StripeConfig, session_id: str) -> dict:
    return _call("look up the checkout", client(config).v1.checkout.sessions.retrieve, session_id)


def list_checkout_sessions(config: StripeConfig, *, customer: str, limit: int = 100) -> list[dict]:
    page = _call(
        "list checkouts",
        client(config).v1.checkout.sessions.list,
        {"customer": customer, "limit": limit},
    )
    return page.get("data", [])


def retrieve_subscription(config: StripeConfig, subscription_id: str) -> dict:
    return _call(
        "look up the subscription", client(config).v1.subscriptions.retrieve, subscription_id
    )


def list_subscriptions(config: StripeConfig, *, customer: str) -> list[dict]:
    page = _call(
        "list subscriptions",
        client(config).v1.subscriptions.list,
        {"customer": customer, "status": "active", "limit": 10},
    )
    return page.get("data", [])


def update_subscription_quantity(
    config: StripeConfig, *, subscription_id: str, item_id: str, quantity: int, idempotency_key: str
) -> dict:
    params = {
        "items": [{"id": item_id, "quantity": quantity}],
        "proration_behavior": "create_prorations",
    }
    return _call(
        "change the subscription",
        client(config).v1.subscriptions.update,
        subscription_id,
        params,
        {"idempotency_key": idempotency_key},
    )


def create_refund(
    config: StripeConfig, *, payment_intent: str, amount_cents: int, idempotency_key: str
) -> dict:
    return _call(
        "refund the payment",
        client(config).v1.refunds.create,
        {"payment_intent": payment_intent, "amount": amount_cents},
        {"idempotency_key": idempotency_key},
    )


def list_invoices(config: StripeConfig, *, customer: str, limit: int = 100) -> list[dict]:
    page = _call(
        "list invoices", client(config).v1.invoices.list, {"customer": customer, "limit": limit}
    )
    return page.get("data", [])


def verify_webhook(payload: bytes | str, sig_header: str | None, secret: str) -> None:
    """Check a webhook's signature (and its age); raises `stripe.SignatureVerificationError`."""
    stripe.Webhook.construct_event(payload, sig_header, secret)
