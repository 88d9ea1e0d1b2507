"""What a price is: its model, tiers and bounds, and the rules a valid price obeys.

``validate_price`` names the offending field the way the API reports it (``"tiers[1].up_to"``), so the
catalog screens and the REST API can point at the exact input.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from billing.pricing.errors import PricingError, PricingErrorCode
from billing.pricing.money import quantize_unit, require_decimal

ZERO = Decimal(0)


class PriceModel(StrEnum):
    """How a quantity becomes an amount."""

    FLAT = "flat"
    PER_UNIT = "per_unit"
    GRADUATED = "graduated"
    VOLUME = "volume"
    PACKAGE = "package"
    PERCENTAGE = "percentage"


@dataclass(frozen=True)
class Tier:
    """One price tier; ``up_to`` is its INCLUSIVE upper bound (None for the last, unbounded tier).

    Tier k covers the quantities in ``(previous up_to, up_to]``; the first tier starts above 0.
    """

    up_to: Decimal | None
    unit_amount: Decimal
    flat_amount: Decimal = ZERO


@dataclass(frozen=True)
class PriceSpec:
    """A price, model by model:

    - flat: ``amount`` whatever the quantity;
    - per_unit: ``quantity * unit_amount``;
    - graduated / volume: ``tiers``;
    - package: ``ceil(quantity / package_size) * package_amount``;
    - percentage: ``quantity * percent / 100`` where the quantity is itself a money amount.

    ``minimum_amount`` / ``maximum_amount`` clamp the result of any model. Fields a model does not use
    must stay unset (None / empty): a flat price carrying a unit amount is ambiguous, so it is rejected.
    """

    model: PriceModel
    amount: Decimal | None = None
    unit_amount: Decimal | None = None
    tiers: tuple[Tier, ...] = ()
    package_size: int | None = None
    package_amount: Decimal | None = None
    percent: Decimal | None = None
    minimum_amount: Decimal | None = None
    maximum_amount: Decimal | None = None


# The fields each model needs; every other model-specific field must be unset.
_REQUIRED_FIELDS: dict[PriceModel, frozenset[str]] = {
    PriceModel.FLAT: frozenset({"amount"}),
    PriceModel.PER_UNIT: frozenset({"unit_amount"}),
    PriceModel.GRADUATED: frozenset({"tiers"}),
    PriceModel.VOLUME: frozenset({"tiers"}),
    PriceModel.PACKAGE: frozenset({"package_size", "package_amount"}),
    PriceModel.PERCENTAGE: frozenset({"percent"}),
}
_MODEL_FIELDS = ("amount", "unit_amount", "tiers", "package_size", "package_amount", "percent")


def check_unit_value(value: Decimal, field: str) -> Decimal:
    """A non-negative Decimal with at most 12 decimal places (prices, bounds); raise PricingError else."""
    require_decimal(value, field)
    if value < 0:
        raise PricingError(field, "must not be negative", PricingErrorCode.NEGATIVE_AMOUNT)
    if quantize_unit(value) != value:
        raise PricingError(field, "must have at most 12 decimal places")
    return value


def _check_model_fields(spec: PriceSpec, model: PriceModel) -> None:
    required = _REQUIRED_FIELDS[model]
    for field in _MODEL_FIELDS:
        value = getattr(spec, field)
        is_set = value is not None and value != ()
        if field in required and not is_set:
            raise PricingError(field, f"required for a {model} price", PricingErrorCode.REQUIRED)
        if field not in required and is_set:
            raise PricingError(field, f"not used by a {model} price")


def _check_tiers(tiers: tuple[Tier, ...]) -> None:
    last = len(tiers) - 1
    previous = ZERO
    for index, tier in enumerate(tiers):
        prefix = f"tiers[{index}]"
        if not isinstance(tier, Tier):
            raise PricingError(prefix, "must be a Tier", PricingErrorCode.TIERS_INVALID)
        check_unit_value(tier.unit_amount, f"{prefix}.unit_amount")
        check_unit_value(tier.flat_amount, f"{prefix}.flat_amount")
        if tier.up_to is None:
            if index != last:
                raise PricingError(
                    f"{prefix}.up_to", "only the last tier may be unbounded", PricingErrorCode.TIERS_INVALID
                )
            continue
        if index == last:
            raise PricingError(
                f"{prefix}.up_to", "the last tier must be unbounded (None)", PricingErrorCode.TIERS_INVALID
            )
        check_unit_value(tier.up_to, f"{prefix}.up_to")
        if tier.up_to <= previous:
            what = "must be positive" if index == 0 else "must be greater than the previous tier's up_to"
            raise PricingError(f"{prefix}.up_to", what, PricingErrorCode.TIERS_INVALID)
        previous = tier.up_to


def validate_price(spec: PriceSpec) -> None:
    """Raise ``PricingError`` naming the first invalid field of ``spec``; return None if it is valid."""
    try:
        model = PriceModel(spec.model)
    except ValueError:
        raise PricingError("model", f"unknown price model {spec.model!r}") from None
    _check_model_fields(spec, model)
    for field in ("amount", "unit_amount", "package_amount", "percent", "minimum_amount", "maximum_amount"):
        value = getattr(spec, field)
        if value is not None:
            check_unit_value(value, field)
    if model in (PriceModel.GRADUATED, PriceModel.VOLUME):
        _check_tiers(spec.tiers)
    if model is PriceModel.PACKAGE:
        size = spec.package_size
        # bool is an int subclass; a package of True units is a bug, not a size of 1.
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise PricingError("package_size", "must be a whole number of at least 1")
    if model is PriceModel.PERCENTAGE and spec.percent is not None and spec.percent > 100:
        raise PricingError("percent", "must be between 0 and 100")
    if (
        spec.minimum_amount is not None
        and spec.maximum_amount is not None
        and spec.minimum_amount > spec.maximum_amount
    ):
        raise PricingError("minimum_amount", "must not exceed maximum_amount")
