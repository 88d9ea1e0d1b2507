"""The pricing engine's one error: a field, a message and a code.

``PricingError`` is a ``ValueError`` so plain callers can treat it as bad input. Its ``code`` values are
spelled like ``config.errors.ErrorCode`` so a service can map it with ``ErrorCode(err.code)``; the engine
cannot import that module itself because it must stay free of Django and Celery.
"""

from __future__ import annotations

from enum import StrEnum


class PricingErrorCode(StrEnum):
    """Why a price, coupon or amount was rejected (values match ``config.errors.ErrorCode``)."""

    INVALID = "invalid"
    REQUIRED = "required"
    NEGATIVE_AMOUNT = "negative_amount"
    TIERS_INVALID = "tiers_invalid"
    UNKNOWN_CURRENCY = "unknown_currency"


class PricingError(ValueError):
    """Invalid pricing input; ``field`` names the offending input, e.g. ``"tiers[1].up_to"``."""

    def __init__(self, field: str, message: str, code: PricingErrorCode = PricingErrorCode.INVALID) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.code = code
