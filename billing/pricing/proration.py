"""Proration by the exact elapsed-time fraction of a period, as Stripe does.

The fraction is a ``Fraction`` of microseconds, so the parts of a period always add up to exactly 1.
A change inside a period gives two lines, each rated with ``rating.rate_price(fraction=...)`` and rounded
once: a credit for the unused part of what was paid and a charge for the rest of the period at the new
price or quantity (billing.services.subscription_prorations builds them).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from fractions import Fraction

from billing.pricing.money import MONEY_CONTEXT, require_decimal
from billing.pricing.periods import require_aware, to_utc

_MICROSECOND = timedelta(microseconds=1)


def _microseconds(delta: timedelta) -> int:
    return delta // _MICROSECOND


def proration_fraction(
    period_start: datetime, period_end: datetime, from_: datetime, to: datetime
) -> Fraction:
    """Exact share of ``[period_start, period_end)`` covered by ``[from_, to)`` (clamped to the period)."""
    for value, field in (
        (period_start, "period_start"),
        (period_end, "period_end"),
        (from_, "from_"),
        (to, "to"),
    ):
        require_aware(value, field)
    # Subtract in UTC: two datetimes sharing a tzinfo subtract as wall times, which is wrong across DST.
    start, end = to_utc(period_start), to_utc(period_end)
    if end <= start:
        raise ValueError("period_end: must be after period_start")
    if to_utc(to) < to_utc(from_):
        raise ValueError("to: must not be before from_")
    covered_start, covered_end = max(start, to_utc(from_)), min(end, to_utc(to))
    if covered_end <= covered_start:
        return Fraction(0)
    return Fraction(_microseconds(covered_end - covered_start), _microseconds(end - start))


def prorate(amount: Decimal, fraction: Fraction) -> Decimal:
    """``amount * fraction``, unrounded (exact when it fits 50 digits, else 50 significant digits)."""
    require_decimal(amount, "amount")
    if not isinstance(fraction, Fraction):
        raise TypeError(f"fraction: expected Fraction, got {type(fraction).__name__}")
    with localcontext(MONEY_CONTEXT):
        return amount * fraction.numerator / fraction.denominator
