"""Contract price overrides: a list price replaced by a negotiated one (pure; Decimal in, spec out).

Three kinds, as API.md's Contracts section names them: a custom ``unit_amount`` (flat: the amount;
per_unit: the unit price; package: the package amount), custom ``tiers`` (graduated / volume), or a
``percent_off`` the list price, applied to every amount of the price (tier amounts included) and kept
to the 12 places of a unit price — the invoice line is still rounded once, by ``rate_price``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal, localcontext

from billing.pricing.errors import PricingError
from billing.pricing.money import MONEY_CONTEXT, quantize_unit
from billing.pricing.price_spec import PriceModel, PriceSpec, Tier

_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class PriceOverride:
    """Exactly one of the three is set."""

    unit_amount: Decimal | None = None
    tiers: tuple[Tier, ...] | None = None
    percent_off: Decimal | None = None


def _off(value: Decimal | None, percent: Decimal) -> Decimal | None:
    if value is None:
        return None
    with localcontext(MONEY_CONTEXT):
        return quantize_unit(value * (_HUNDRED - percent) / _HUNDRED)


def override_error(spec: PriceSpec, override: PriceOverride) -> str | None:
    """Why ``override`` cannot apply to a price of this model (None when it can)."""
    given = [n for n in ("unit_amount", "tiers", "percent_off") if getattr(override, n) is not None]
    if len(given) != 1:
        return "Give exactly one of unit_amount, tiers or percent_off."
    if override.unit_amount is not None and spec.model not in (
        PriceModel.FLAT,
        PriceModel.PER_UNIT,
        PriceModel.PACKAGE,
    ):
        return f"A {spec.model} price takes tiers or percent_off, not unit_amount."
    if override.tiers is not None and spec.model not in (PriceModel.GRADUATED, PriceModel.VOLUME):
        return f"A {spec.model} price takes unit_amount or percent_off, not tiers."
    if override.percent_off is not None and not 0 <= override.percent_off <= _HUNDRED:
        return "percent_off must be between 0 and 100."
    if override.unit_amount is not None and override.unit_amount < 0:
        return "unit_amount must not be negative."
    return None


def apply_override(spec: PriceSpec, override: PriceOverride) -> PriceSpec:
    """The list price ``spec`` with ``override`` applied (raise PricingError when it does not fit)."""
    problem = override_error(spec, override)
    if problem is not None:
        raise PricingError("override", problem)
    if override.tiers is not None:
        return replace(spec, tiers=override.tiers)
    if override.unit_amount is not None:
        if spec.model == PriceModel.FLAT:
            return replace(spec, amount=override.unit_amount)
        if spec.model == PriceModel.PACKAGE:
            return replace(spec, package_amount=override.unit_amount)
        return replace(spec, unit_amount=override.unit_amount)
    percent = override.percent_off
    assert percent is not None
    return replace(
        spec,
        amount=_off(spec.amount, percent),
        unit_amount=_off(spec.unit_amount, percent),
        package_amount=_off(spec.package_amount, percent),
        tiers=tuple(
            Tier(
                t.up_to,
                _off(t.unit_amount, percent) or Decimal(0),
                _off(t.flat_amount, percent) or Decimal(0),
            )
            for t in spec.tiers
        ),
        minimum_amount=_off(spec.minimum_amount, percent),
        maximum_amount=_off(spec.maximum_amount, percent),
    )
