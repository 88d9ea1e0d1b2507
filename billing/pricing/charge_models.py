"""Charge models: turn a price and a quantity into an exact, unrounded amount (Lago's charge models).

The amount is exact: it is computed in a context that raises on any inexact step, so the only rounding
in the life of a charge is the one ``money.round_amount`` applies to the finished invoice line.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction

from billing.pricing.errors import PricingError, PricingErrorCode
from billing.pricing.money import EXACT_CONTEXT, require_decimal
from billing.pricing.price_spec import ZERO, PriceModel, PriceSpec, Tier, validate_price

__all__ = [
    "Charge",
    "PriceModel",
    "PriceSpec",
    "PricingError",
    "Tier",
    "TierSlice",
    "compute_charge",
    "validate_price",
]


@dataclass(frozen=True)
class TierSlice:
    """The part of a tiered charge that fell into one tier (an invoice line's detail row).

    The slice covers the quantities ``(last_unit - quantity, last_unit]``. ``first_unit`` is for display:
    with whole quantities and whole tier bounds it is the number of the first unit in the slice (1, 101,
    1001...); with fractional ones (GB, hours) it is the slice's exclusive lower bound (0, 100, 1000...).
    """

    tier_index: int
    first_unit: Decimal
    last_unit: Decimal
    quantity: Decimal
    unit_amount: Decimal
    flat_amount: Decimal
    amount: Decimal

    @property
    def lower_bound(self) -> Decimal:
        """Exclusive lower bound of the slice on the quantity axis."""
        return self.last_unit - self.quantity


@dataclass(frozen=True)
class Charge:
    """The exact, UNROUNDED result of pricing one quantity (``amount`` includes any min/max clamp)."""

    quantity: Decimal
    amount: Decimal
    slices: tuple[TierSlice, ...] = ()
    minimum_applied: bool = False
    maximum_applied: bool = False


def _is_whole(value: Decimal) -> bool:
    return value == value.to_integral_value()


def _whole_units(tiers: tuple[Tier, ...], quantity: Decimal) -> bool:
    # Units are numbered 1, 2, 3... only when everything is a whole number; otherwise ranges are continuous.
    return _is_whole(quantity) and all(t.up_to is None or _is_whole(t.up_to) for t in tiers)


_Rated = tuple[Decimal, tuple[TierSlice, ...]]


def _flat(spec: PriceSpec, quantity: Decimal) -> _Rated:
    # The quantity is ignored on purpose: a flat fee with quantity 0 still charges; callers decide.
    assert spec.amount is not None
    return spec.amount, ()


def _per_unit(spec: PriceSpec, quantity: Decimal) -> _Rated:
    assert spec.unit_amount is not None
    return quantity * spec.unit_amount, ()


def _graduated(spec: PriceSpec, quantity: Decimal) -> _Rated:
    whole = _whole_units(spec.tiers, quantity)
    slices: list[TierSlice] = []
    total = ZERO
    lower = ZERO
    for index, tier in enumerate(spec.tiers):
        if quantity <= lower:
            break
        upper = quantity if tier.up_to is None else min(quantity, tier.up_to)
        units = upper - lower
        # A tier's flat amount is charged once, as soon as any unit falls in the tier.
        amount = units * tier.unit_amount + tier.flat_amount
        first = lower + 1 if whole else lower
        slices.append(TierSlice(index, first, upper, units, tier.unit_amount, tier.flat_amount, amount))
        total += amount
        if tier.up_to is None:
            break
        lower = tier.up_to
    return total, tuple(slices)


def _volume(spec: PriceSpec, quantity: Decimal) -> _Rated:
    if quantity == 0:
        return ZERO, ()
    index, tier = next((i, t) for i, t in enumerate(spec.tiers) if t.up_to is None or quantity <= t.up_to)
    amount = quantity * tier.unit_amount + tier.flat_amount
    first = Decimal(1) if _whole_units(spec.tiers, quantity) else ZERO
    return amount, (TierSlice(index, first, quantity, quantity, tier.unit_amount, tier.flat_amount, amount),)


def _package(spec: PriceSpec, quantity: Decimal) -> _Rated:
    assert spec.package_size is not None and spec.package_amount is not None
    # Fraction keeps the division exact, so 300 units / 100 is exactly 3 packages, never 3.0000...1 -> 4.
    packages = math.ceil(Fraction(quantity) / spec.package_size)
    return Decimal(packages) * spec.package_amount, ()


def _percentage(spec: PriceSpec, quantity: Decimal) -> _Rated:
    assert spec.percent is not None
    # scaleb(-2) divides by 100 by moving the exponent: exact by construction.
    return (quantity * spec.percent).scaleb(-2), ()


_RATERS: dict[PriceModel, Callable[[PriceSpec, Decimal], _Rated]] = {
    PriceModel.FLAT: _flat,
    PriceModel.PER_UNIT: _per_unit,
    PriceModel.GRADUATED: _graduated,
    PriceModel.VOLUME: _volume,
    PriceModel.PACKAGE: _package,
    PriceModel.PERCENTAGE: _percentage,
}


def compute_charge(spec: PriceSpec, quantity: Decimal) -> Charge:
    """Price ``quantity`` (>= 0, may be fractional) with ``spec``; the amount is exact and unrounded.

    ``minimum_amount`` / ``maximum_amount`` clamp the model's amount, whatever the quantity (a minimum
    applies even to a quantity of 0).
    """
    validate_price(spec)
    require_decimal(quantity, "quantity")
    if quantity < 0:
        raise PricingError("quantity", "must not be negative", PricingErrorCode.NEGATIVE_AMOUNT)
    with localcontext(EXACT_CONTEXT):
        amount, slices = _RATERS[PriceModel(spec.model)](spec, quantity)
        minimum_applied = spec.minimum_amount is not None and amount < spec.minimum_amount
        maximum_applied = spec.maximum_amount is not None and amount > spec.maximum_amount
        if spec.minimum_amount is not None and minimum_applied:
            amount = spec.minimum_amount
        if spec.maximum_amount is not None and maximum_applied:
            amount = spec.maximum_amount
    return Charge(quantity, amount, slices, minimum_applied, maximum_applied)
