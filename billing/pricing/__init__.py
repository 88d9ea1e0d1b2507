"""Ratecard's pure pricing engine: Decimal in, Decimal out; no Django, no database, no clock.

The one rounding rule lives in ``money.round_amount``. Modules: ``money`` (currencies, rounding),
``price_spec`` / ``charge_models`` (price models and tiers), ``periods``, ``proration``, ``discounts``,
``commitments``, ``tax``, ``totals``, ``rating``.
"""

from billing.pricing.charge_models import Charge, TierSlice, compute_charge
from billing.pricing.commitments import commitment_true_up
from billing.pricing.discounts import (
    CouponDuration,
    CouponSpec,
    allocate_discount,
    coupon_applies,
    discount_amount,
    discount_shares,
    validate_coupon,
)
from billing.pricing.errors import PricingError, PricingErrorCode
from billing.pricing.money import (
    UNIT_PLACES,
    from_minor_units,
    is_rounded,
    line_amount,
    minor_unit_exponent,
    plain_amount,
    quantize_unit,
    round_amount,
    to_minor_units,
)
from billing.pricing.periods import (
    Interval,
    Period,
    add_interval,
    anniversary_period,
    anniversary_period_containing,
    calendar_first_period,
    calendar_period_containing,
    calendar_periods_between,
    periods_between,
)
from billing.pricing.price_spec import PriceModel, PriceSpec, Tier, validate_price
from billing.pricing.proration import prorate, proration_fraction
from billing.pricing.rating import RatedLine, rate_price
from billing.pricing.tax import line_tax
from billing.pricing.totals import InvoiceTotals, LineAmounts, invoice_totals

__all__ = [
    "UNIT_PLACES",
    "Charge",
    "CouponDuration",
    "CouponSpec",
    "Interval",
    "InvoiceTotals",
    "LineAmounts",
    "Period",
    "PriceModel",
    "PriceSpec",
    "PricingError",
    "PricingErrorCode",
    "RatedLine",
    "Tier",
    "TierSlice",
    "add_interval",
    "allocate_discount",
    "anniversary_period",
    "anniversary_period_containing",
    "calendar_first_period",
    "calendar_period_containing",
    "calendar_periods_between",
    "commitment_true_up",
    "compute_charge",
    "coupon_applies",
    "discount_amount",
    "discount_shares",
    "from_minor_units",
    "invoice_totals",
    "is_rounded",
    "line_amount",
    "line_tax",
    "minor_unit_exponent",
    "periods_between",
    "plain_amount",
    "prorate",
    "proration_fraction",
    "quantize_unit",
    "rate_price",
    "round_amount",
    "to_minor_units",
    "validate_coupon",
    "validate_price",
]
