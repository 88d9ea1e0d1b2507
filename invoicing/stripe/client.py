"""The Stripe calls Ratecard makes, through ``stripe.StripeClient`` (base address from STRIPE_API_BASE).

Each function takes plain values and returns Stripe's object as a dict. Every write carries an
Idempotency-Key derived from our row ids (the caller passes it): Stripe returns the first result for
a repeated key, so a retried task never creates a second PaymentIntent. Errors are mapped to
``invoicing.stripe.errors``: transient ones (network, 5xx, rate limit) to ``StripeUnavailable``.
"""

from __future__ import annotations

import json
from typing import Any

import stripe
from django.conf import settings

from invoicing.stripe.errors import StripeDeclined, StripeDisabled, StripeRejected, StripeUnavailable

# seconds: a Stripe call holds an outbox row's lock, so it must not hang
TIMEOUT = 20


def stripe_enabled() -> bool:
    return bool(settings.STRIPE_API_KEY)


def _client() -> stripe.StripeClient:
    if not stripe_enabled():
        raise StripeDisabled("STRIPE_API_KEY is not set.")
    base = settings.STRIPE_API_BASE or None
    return stripe.StripeClient(
        settings.STRIPE_API_KEY,
        base_addresses={"api": base} if base else None,
        # the outbox retries with its own backoff and keys; the library must not retry behind it
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=TIMEOUT),
    )


def _call(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        result = fn(*args, **kwargs)
    except stripe.CardError as exc:
        json_body: dict[str, Any] = exc.json_body if isinstance(exc.json_body, dict) else {}
        body = json_body.get("error") or {}
        intent = body.get("payment_intent")
        raise StripeDeclined(
            exc.user_message or str(exc),
            code=str(exc.code or body.get("code") or ""),
            charge_id=str(body.get("charge") or ""),
            payment_intent_id=str((intent.get("id") if isinstance(intent, dict) else intent) or ""),
        ) from exc
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise StripeUnavailable(f"{exc.__class__.__name__}: {exc.user_message or exc}") from exc
    except stripe.StripeError as exc:
        status = exc.http_status
        if status is None or status >= 500 or status in (409, 429):
            raise StripeUnavailable(
                f"{exc.__class__.__name__} ({status}): {exc.user_message or exc}"
            ) from exc
        raise StripeRejected(
            f"{exc.__class__.__name__} ({status}): {exc.user_message or exc}",
            status=status,
            code=exc.code or "",
        ) from exc
    return result.to_dict()  # type: ignore[no-any-return]


def _options(idempotency_key: str | None) -> dict[str, Any]:
    return {"idempotency_key": idempotency_key} if idempotency_key else {}


def customer_create(*, params: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
    return _call(_client().v1.customers.create, params=params, options=_options(idempotency_key))


def customer_update(*, customer_id: str, params: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
    return _call(_client().v1.customers.update, customer_id, params=params, options=_options(idempotency_key))


def payment_method_attach(*, payment_method_id: str, customer_id: str) -> dict[str, Any]:
    """Attach a payment method to the customer and make it the default for invoices (off-session)."""
    client = _client()
    method = _call(client.v1.payment_methods.attach, payment_method_id, params={"customer": customer_id})
    _call(
        client.v1.customers.update,
        customer_id,
        params={"invoice_settings": {"default_payment_method": method["id"]}},
    )
    return method


def payment_intent_create(
    *,
    amount: int,
    currency: str,
    customer_id: str,
    payment_method_id: str,
    metadata: dict[str, str],
    idempotency_key: str,
) -> dict[str, Any]:
    """A PaymentIntent confirmed off-session against the customer's default card.

    Only parameters localstripe knows too (it answers 400 to e.g. ``description``): amount, currency,
    customer, payment_method, metadata, confirm, off_session. A decline raises ``StripeDeclined``.
    """
    params: dict[str, Any] = {
        "amount": amount,
        "currency": currency.lower(),
        "customer": customer_id,
        "payment_method": payment_method_id,
        "metadata": metadata,
        "confirm": True,
        "off_session": True,
    }
    return _call(_client().v1.payment_intents.create, params=params, options=_options(idempotency_key))


def payment_intent_retrieve(*, payment_intent_id: str) -> dict[str, Any]:
    return _call(_client().v1.payment_intents.retrieve, payment_intent_id)


def payment_intents_list(
    *, limit: int = 100, starting_after: str | None = None, created_gte: int | None = None
) -> dict[str, Any]:
    """A page of PaymentIntents, newest first; ``created_gte`` (Unix seconds) sends ``created[gte]``."""
    params: dict[str, Any] = {"limit": limit}
    if starting_after:
        params["starting_after"] = starting_after
    if created_gte is not None:
        params["created"] = {"gte": created_gte}
    return _call(_client().v1.payment_intents.list, params=params)


def customer_retrieve(*, customer_id: str) -> dict[str, Any]:
    return _call(_client().v1.customers.retrieve, customer_id)


def charge_retrieve(*, charge_id: str) -> dict[str, Any]:
    return _call(_client().v1.charges.retrieve, charge_id)


def refunds_list(*, payment_intent_id: str) -> dict[str, Any]:
    return _call(_client().v1.refunds.list, params={"payment_intent": payment_intent_id, "limit": 100})


def refund_create(
    *, payment_intent_id: str, amount: int, metadata: dict[str, str], idempotency_key: str
) -> dict[str, Any]:
    params = {"payment_intent": payment_intent_id, "amount": amount, "metadata": metadata}
    return _call(_client().v1.refunds.create, params=params, options=_options(idempotency_key))


def payment_method_retrieve(*, payment_method_id: str) -> dict[str, Any]:
    return _call(_client().v1.payment_methods.retrieve, payment_method_id)


def event_verify(*, payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event a webhook carries, once ``stripe.Webhook.construct_event`` verified its signature
    against ``STRIPE_WEBHOOK_SECRET``; ``StripeSignatureInvalid`` otherwise (nothing may be stored)."""
    from invoicing.stripe.errors import StripeSignatureInvalid

    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret or not signature:
        raise StripeSignatureInvalid("No Stripe-Signature header, or no STRIPE_WEBHOOK_SECRET configured.")
    try:
        stripe.Webhook.construct_event(payload, signature, secret)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        raise StripeSignatureInvalid(str(exc)) from exc
    # verified: the event exactly as Stripe sent it (plain JSON, what the ledger stores)
    event: dict[str, Any] = json.loads(payload)
    return event
