"""Coupons: which periods a coupon covers and how much it takes off (as Stripe's coupons behave).

A discount is one negative amount rounded once (``money.round_amount``) and never larger than what it
applies to, so a discounted total is never below zero. ``allocate_discount`` splits that one rounded
discount over the lines it covers (``discount_shares`` for a coupon line covering charges and credits),
so tax can be computed per line on the amount after its share of the discounts.
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

    Each share is the exact proportional share rounded down to the minor unit; the minor units left
    over go one each to the largest of the lines whose share was rounded (ties to the earlier line), as
    DESIGN.md says ("the remainder cent to the largest"). So the shares add up exactly to ``discount``,
    each is less than one minor unit from its exact share and none is larger than its amount (a share
    that was rounded down is below its amount, and a zero amount is never rounded).
    """
    require_rounded(discount, currency, "discount")
    if discount > 0:
        raise PricingError("discount", "must not be positive")
    for index, amount in enumerate(amounts):
        require_rounded(amount, currency, f"amounts[{index}]")
        if amount < 0:
            raise PricingError(f"amounts[{index}]", "must not be negative", PricingErrorCode.NEGATIVE_AMOUNT)
    minor = [to_minor_units(a, currency) for a in amounts]
    total = sum(minor)
    to_split = -to_minor_units(discount, currency)
    if to_split > total:
        raise PricingError("discount", "is larger than the amounts it applies to")
    if to_split == 0:
        return tuple(from_minor_units(0, currency) for _ in amounts)
    exact = [Fraction(to_split * m, total) for m in minor]
    shares = [math.floor(e) for e in exact]
    left = to_split - sum(shares)
    # fewer units are left than there are rounded shares; sorted() is stable: equal amounts, earlier first
    rounded = [i for i, e in enumerate(exact) if e != shares[i]]
    for index in sorted(rounded, key=lambda i: minor[i], reverse=True)[:left]:
        shares[index] += 1
    return tuple(from_minor_units(-s, currency) for s in shares)


def discount_shares(
    *, on_charges: Decimal, on_credits: Decimal, amounts: Sequence[Decimal], currency: str
) -> tuple[Decimal, ...]:
    """Each covered line's share of one coupon discount, aligned with the signed line ``amounts``.

    ``on_charges`` (<= 0) is what the coupon takes off the positive amounts and is split over them by
    ``allocate_discount``; ``on_credits`` (<= 0) is what it takes off the negative ones (credits for
    unused time), split over their sizes and returned as positive shares (a smaller credit). Zero
    amounts get 0. The shares add up to ``on_charges - on_credits``, the coupon line's own amount, and
    no line changes sign: tax is then computed on each ``amount + share`` (DESIGN.md).
    """
    for index, amount in enumerate(amounts):
        require_rounded(amount, currency, f"amounts[{index}]")
    charges = [i for i, a in enumerate(amounts) if a > 0]
    credits = [i for i, a in enumerate(amounts) if a < 0]
    out = [from_minor_units(0, currency) for _ in amounts]
    on_charge_lines = allocate_discount(
        discount=on_charges, amounts=[amounts[i] for i in charges], currency=currency
    )
    on_credit_lines = allocate_discount(
        discount=on_credits, amounts=[-amounts[i] for i in credits], currency=currency
    )
    for index, share in zip(charges, on_charge_lines, strict=True):
        out[index] = share
    for index, share in zip(credits, on_credit_lines, strict=True):
        out[index] = round_amount(-share, currency)
    return tuple(out)
