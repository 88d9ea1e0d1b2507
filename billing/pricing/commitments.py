"""Minimum commitments: the true-up that lifts a period's rated usage to what was committed."""

from __future__ import annotations

from decimal import Decimal, localcontext
from fractions import Fraction

from billing.pricing.errors import PricingError, PricingErrorCode
from billing.pricing.money import MONEY_CONTEXT, require_decimal, round_amount

_ZERO = Decimal(0)
_FULL_PERIOD = Fraction(1)


def commitment_true_up(
    *, committed: Decimal, rated: Decimal, currency: str, fraction: Fraction = _FULL_PERIOD
) -> Decimal:
    """``max(0, committed x fraction - rated)``, rounded once.

    ``fraction`` prorates the commitment for a partial period. With ``rated`` already rounded, usage plus
    true-up equals the rounded prorated commitment exactly (1,000.00 committed, 640.00 rated -> 360.00).
    """
    require_decimal(committed, "committed")
    require_decimal(rated, "rated")
    if committed < 0:
        raise PricingError("committed", "must not be negative", PricingErrorCode.NEGATIVE_AMOUNT)
    if not isinstance(fraction, Fraction) or not 0 <= fraction <= 1:
        raise PricingError("fraction", "must be a Fraction between 0 and 1")
    with localcontext(MONEY_CONTEXT):
        shortfall = committed * fraction.numerator / fraction.denominator - rated
    return round_amount(max(shortfall, _ZERO), currency)
