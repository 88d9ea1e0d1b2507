"""Exclusive tax on one invoice line, rounded once per line (the invoice's tax is the sum of these)."""

from __future__ import annotations

from decimal import Decimal, localcontext

from billing.pricing.errors import PricingError, PricingErrorCode
from billing.pricing.money import MONEY_CONTEXT, require_decimal, round_amount


def line_tax(*, amount: Decimal, rate_percent: Decimal, currency: str) -> Decimal:
    """Tax on ``amount`` (after its discounts) at ``rate_percent``, rounded once; negative for credits."""
    require_decimal(amount, "amount")
    require_decimal(rate_percent, "rate_percent")
    if rate_percent < 0:
        raise PricingError("rate_percent", "must not be negative", PricingErrorCode.NEGATIVE_AMOUNT)
    with localcontext(MONEY_CONTEXT):
        return round_amount(amount * rate_percent / 100, currency)
