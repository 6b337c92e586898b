"""POST /api/v1/stripe/webhook: Stripe's events, verified by their signature alone."""

from __future__ import annotations

import stripe
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.core import ApiError, endpoint, in_thread, read_body
from kilo import stripe_events


def apply(body: bytes, signature: str | None) -> JSONResponse:
    try:
        result = stripe_events.apply_webhook(body, signature)
    except stripe_events.WebhookNotConfigured:
        raise ApiError(
            503,
            "webhook_not_configured",
            "This server has no Stripe webhook secret (STRIPE_WEBHOOK_SECRET), so it cannot "
            "verify webhooks; nothing was changed.",
        ) from None
    except stripe.SignatureVerificationError:
        raise ApiError(
            400,
            "invalid_signature",
            "The Stripe-Signature header does not match this body and the webhook secret "
            "(or its timestamp is too old); nothing was changed.",
        ) from None
    except ValueError:  # signed, but not JSON: construct_event parses after verifying
        raise ApiError(400, "invalid_json", "The webhook body is not valid JSON.") from None
    return JSONResponse(
        {
            "received": True,
            "event_id": result.event_id,
            "type": result.event_type,
            "outcome": result.outcome,
        }
    )


@endpoint
async def stripe_webhook(request: Request) -> Response:
    # The raw bytes: the signature covers the body exactly as sent.
    body = await read_body(request)
    return await in_thread(apply, body, request.headers.get("stripe-signature"))
