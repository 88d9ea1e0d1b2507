"""Stripe's failures as Ratecard sees them: try again later, a declined card, or a request to fix."""

from __future__ import annotations


class StripeDisabled(Exception):
    """``STRIPE_API_KEY`` is unset: Stripe is off (the demo)."""


class StripeUnavailable(Exception):
    """Connection refused, a timeout, a 5xx or a rate limit: the outbox tries again later."""


class StripeDeclined(Exception):
    """The card was declined (402). The PaymentIntent exists in Stripe and reports the failure."""

    def __init__(self, message: str, *, code: str = "", charge_id: str = "", payment_intent_id: str = ""):
        super().__init__(message)
        self.message = message
        self.code = code
        self.charge_id = charge_id
        self.payment_intent_id = payment_intent_id


class StripeRejected(Exception):
    """Stripe refused the request itself (4xx other than a decline): retrying the same call won't help."""

    def __init__(self, message: str, *, status: int | None = None, code: str = ""):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class StripeSignatureInvalid(Exception):
    """A webhook whose ``Stripe-Signature`` does not verify (or has none)."""
