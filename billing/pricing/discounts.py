"""Coupons: which periods a coupon covers and how much it takes off (as Stripe's coupons behave).

A discount is one negative amount rounded once (``money.round_amount``) and never larger than what it
applies to, so a discounted total is never below zero. ``allocate_discount`` splits that one rounded
discount over the lines it covers, so tax can be computed per line on the amount after discounts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from enum import StrEnum
from fractions import Fraction

from billing.pricing.errors import PricingError, PricingErrorCode
from billing.pricing.money import (
    MONEY_CONTEXT,
    from_minor_units,
    require_decimal,
    require_rounded,
    round_amount,
    to_minor_units,
)
from billing.pricing.periods import Interval, add_interval, require_aware, to_utc

_ZERO = Decimal(0)


class CouponDuration(StrEnum):
    """How long a coupon keeps applying once redeemed."""

    ONCE = "once"
    REPEATING = "repeating"
    FOREVER = "forever"


@dataclass(frozen=True)
class CouponSpec:
    """Exactly one of ``percent_off`` (0 < p <= 100) or ``amount_off`` (> 0, in the invoice currency).

    ``duration_in_months`` is required for (and only for) ``repeating`` coupons.
    """

    percent_off: Decimal | None
    amount_off: Decimal | None
    duration: CouponDuration
    duration_in_months: int | None = None


def validate_coupon(spec: CouponSpec) -> None:
    """Raise ``PricingError`` naming the first invalid field of ``spec``."""
    if (spec.percent_off is None) == (spec.amount_off is None):
        raise PricingError(
            "percent_off", "give exactly one of percent_off and amount_off", PricingErrorCode.REQUIRED
        )
    if spec.percent_off is not None:
        require_decimal(spec.percent_off, "percent_off")
        if not 0 < spec.percent_off <= 100:
            raise PricingError("percent_off", "must be more than 0 and at most 100")
    if spec.amount_off is not None:
        require_decimal(spec.amount_off, "amount_off")
        if spec.amount_off <= 0:
            raise PricingError("amount_off", "must be more than 0", PricingErrorCode.NEGATIVE_AMOUNT)
    try:
        duration = CouponDuration(spec.duration)
    except ValueError:
        raise PricingError("duration", f"unknown coupon duration {spec.duration!r}") from None
    months = spec.duration_in_months
    if duration is CouponDuration.REPEATING:
        if months is None:
            raise PricingError(
                "duration_in_months", "required for a repeating coupon", PricingErrorCode.REQUIRED
            )
        if not isinstance(months, int) or isinstance(months, bool) or months < 1:
            raise PricingError("duration_in_months", "must be a whole number of at least 1")
    elif months is not None:
        raise PricingError("duration_in_months", f"not used by a {duration} coupon")


def coupon_applies(
    *, coupon: CouponSpec, redeemed_at: datetime, period_start: datetime, first_period_start: datetime
) -> bool:
    """Whether the coupon covers the period starting at ``period_start``.

    ``first_period_start`` is the start of the first period the coupon was applied to; it never covers an
    earlier period. once: only that period; repeating N: periods starting before ``redeemed_at`` + N
    months (months on ``redeemed_at``'s wall clock); forever: every period from then on.
    """
    validate_coupon(coupon)
    require_aware(redeemed_at, "redeemed_at")
    require_aware(period_start, "period_start")
    require_aware(first_period_start, "first_period_start")
    start = to_utc(period_start)
    if start < to_utc(first_period_start):
        return False
    duration = CouponDuration(coupon.duration)
    if duration is CouponDuration.ONCE:
        return start == to_utc(first_period_start)
    if duration is CouponDuration.REPEATING:
        assert coupon.duration_in_months is not None
        ends = add_interval(redeemed_at, Interval.MONTH, coupon.duration_in_months)
        return start < to_utc(ends)
    return True


def discount_amount(*, coupon: CouponSpec, eligible: Decimal, currency: str) -> Decimal:
    """The discount on ``eligible`` (already rounded), as a NEGATIVE amount rounded once.

    Never more than ``eligible``: a fixed amount is capped at it; nothing is taken off ``eligible <= 0``.
    """
    validate_coupon(coupon)
    require_rounded(eligible, currency, "eligible")
    if eligible <= 0:
        return round_amount(_ZERO, currency)
    if coupon.percent_off is not None:
        with localcontext(MONEY_CONTEXT):
            off = round_amount(eligible * coupon.percent_off / 100, currency)
    else:
        assert coupon.amount_off is not None
        off = require_rounded(coupon.amount_off, currency, "amount_off")
    off = min(off, eligible)
    # Negate only a non-zero amount: -Decimal("0.00") would print as "-0.00".
    return round_amount(-off if off else off, currency)


def allocate_discount(*, discount: Decimal, amounts: Sequence[Decimal], currency: str) -> tuple[Decimal, ...]:
    """Split ``discount`` (<= 0, rounded) over ``amounts`` (>= 0, rounded) in proportion to them.

    Each share is rounded to the minor unit and the shares add up exactly to ``discount`` (largest
    remainder, ties to the earlier line), so tax can be computed on each line after its share.
    """
    require_rounded(discount, currency, "discount")
    if discount > 0:
        raise PricingError("discount", "must not be positive")
    for index, amount in enumerate(amounts):
        require_rounded(amount, currency, f"amounts[{index}]")
        if amount < 0:
            raise PricingError(f"amounts[{index}]", "must not be negative", PricingErrorCode.NEGATIVE_AMOUNT)
    total = sum(to_minor_units(a, currency) for a in amounts)
    to_split = -to_minor_units(discount, currency)
    if to_split > total:
        raise PricingError("discount", "is larger than the amounts it applies to")
    if to_split == 0:
        return tuple(from_minor_units(0, currency) for _ in amounts)
    exact = [Fraction(to_split * to_minor_units(a, currency), total) for a in amounts]
    shares = [math.floor(e) for e in exact]
    left = to_split - sum(shares)
    # Hand the remaining minor units to the largest remainders; sorted() is stable, so ties go first-come.
    for index in sorted(range(len(exact)), key=lambda i: exact[i] - shares[i], reverse=True)[:left]:
        shares[index] += 1
    return tuple(from_minor_units(-s, currency) for s in shares)
