"""Rating: one price and one quantity become one invoice line, rounded ONCE.

A tiered price is one line too, its tiers kept as detail (``slices``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from billing.pricing.charge_models import Charge, PriceModel, PriceSpec, TierSlice, compute_charge
from billing.pricing.errors import PricingError
from billing.pricing.money import (
    MONEY_CONTEXT,
    limit_unit_places,
    quantize_unit,
    require_decimal,
    round_amount,
)
from billing.pricing.periods import Period
from billing.pricing.proration import prorate

_FULL_PERIOD = Fraction(1)


@dataclass(frozen=True)
class RatedLine:
    """An invoice line as the engine produces it; ``amount`` is rounded once to the currency."""

    description: str
    kind: str
    quantity: Decimal
    unit_amount: Decimal | None
    amount: Decimal
    period_start: datetime | None
    period_end: datetime | None
    slices: tuple[TierSlice, ...] = ()


def shown_unit_amount(spec: PriceSpec, charge: Charge) -> Decimal | None:
    """The unit price to show: the price's own for per_unit/flat, else the average (12 places) or None."""
    clamped = charge.minimum_applied or charge.maximum_applied
    model = PriceModel(spec.model)
    if model is PriceModel.PER_UNIT and not clamped:
        return spec.unit_amount
    if model is PriceModel.FLAT and not clamped:
        return spec.amount
    if charge.quantity == 0:
        return None
    return quantize_unit(MONEY_CONTEXT.divide(charge.amount, charge.quantity))


def rate_price(
    *,
    spec: PriceSpec,
    quantity: Decimal,
    currency: str,
    description: str,
    kind: str,
    period: Period | None = None,
    fraction: Fraction = _FULL_PERIOD,
) -> RatedLine:
    """Price ``quantity`` with ``spec``, scale by ``fraction`` (a prorated in-advance fee), round once.

    The quantity is kept to 12 decimal places (the money rules' precision for quantities) before pricing.
    ``unit_amount`` on the line is the list price even when ``fraction`` prorates the amount.
    """
    require_decimal(quantity, "quantity")
    if not isinstance(fraction, Fraction) or fraction < 0:
        raise PricingError("fraction", "must be a non-negative Fraction")
    charge = compute_charge(spec, limit_unit_places(quantity))
    amount = round_amount(prorate(charge.amount, fraction), currency)
    return RatedLine(
        description=description,
        kind=kind,
        quantity=charge.quantity,
        unit_amount=shown_unit_amount(spec, charge),
        amount=amount,
        period_start=period.start if period is not None else None,
        period_end=period.end if period is not None else None,
        slices=charge.slices,
    )
