"""Charge models: the worked examples, validation naming fields, and properties of each model."""

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.pricing.charge_models import (
    PriceModel,
    PriceSpec,
    PricingError,
    Tier,
    TierSlice,
    compute_charge,
    validate_price,
)
from billing.pricing.errors import PricingErrorCode
from billing.pricing.money import round_amount

D = Decimal
EXAMPLE_TIERS = (Tier(D(100), D("0.10")), Tier(D(1000), D("0.08")), Tier(None, D("0.05")))


# --- worked examples (DESIGN.md) ---------------------------------------------------------------


def test_graduated_1500_units_is_10_plus_72_plus_25() -> None:
    charge = compute_charge(PriceSpec(PriceModel.GRADUATED, tiers=EXAMPLE_TIERS), D(1500))
    assert charge.amount == D("107.00")
    assert [s.amount for s in charge.slices] == [D("10.00"), D("72.00"), D("25.00")]
    assert charge.slices == (
        TierSlice(0, D(1), D(100), D(100), D("0.10"), D(0), D("10.00")),
        TierSlice(1, D(101), D(1000), D(900), D("0.08"), D(0), D("72.00")),
        TierSlice(2, D(1001), D(1500), D(500), D("0.05"), D(0), D("25.00")),
    )


def test_volume_1500_units_all_at_the_last_tier_price() -> None:
    charge = compute_charge(PriceSpec(PriceModel.VOLUME, tiers=EXAMPLE_TIERS), D(1500))
    assert charge.amount == D("75.00")
    assert [(s.tier_index, s.quantity) for s in charge.slices] == [(2, D(1500))]


def test_package_of_100_for_5_rounds_250_units_up_to_3_packages() -> None:
    spec = PriceSpec(PriceModel.PACKAGE, package_size=100, package_amount=D("5.00"))
    assert compute_charge(spec, D(250)).amount == D("15.00")


def test_per_unit_sub_cent_price_is_exact_then_rounded_once() -> None:
    charge = compute_charge(PriceSpec(PriceModel.PER_UNIT, unit_amount=D("0.0004")), D(1_234_567))
    assert charge.amount == D("493.8268")
    assert round_amount(charge.amount, "USD") == D("493.83")


# --- more examples -------------------------------------------------------------------------------


def test_flat_charges_its_amount_even_for_quantity_zero() -> None:
    charge = compute_charge(PriceSpec(PriceModel.FLAT, amount=D("49.00")), D(0))
    assert charge.amount == D("49.00")
    assert charge.quantity == D(0)


def test_graduated_flat_amount_is_charged_once_when_a_unit_enters_the_tier() -> None:
    tiers = (Tier(D(10), D(1), flat_amount=D(5)), Tier(None, D(0), flat_amount=D(100)))
    spec = PriceSpec(PriceModel.GRADUATED, tiers=tiers)
    assert compute_charge(spec, D(0)).amount == D(0)
    assert compute_charge(spec, D(1)).amount == D(6)
    assert compute_charge(spec, D(10)).amount == D(15)
    assert compute_charge(spec, D("10.5")).amount == D(115)


def test_graduated_fractional_quantities_use_half_open_tiers() -> None:
    spec = PriceSpec(PriceModel.GRADUATED, tiers=EXAMPLE_TIERS)
    charge = compute_charge(spec, D("100.5"))
    assert charge.amount == D("10.04")
    assert [(s.first_unit, s.last_unit, s.quantity) for s in charge.slices] == [
        (D(0), D(100), D(100)),
        (D(100), D("100.5"), D("0.5")),
    ]
    assert charge.slices[1].lower_bound == D(100)


def test_volume_tier_boundary_is_inclusive_and_zero_costs_nothing() -> None:
    tiers = (Tier(D(100), D("0.10"), flat_amount=D(1)), Tier(None, D("0.05"), flat_amount=D(2)))
    spec = PriceSpec(PriceModel.VOLUME, tiers=tiers)
    assert compute_charge(spec, D(100)).amount == D("11.00")
    assert compute_charge(spec, D("100.01")).amount == D("7.0005")
    zero = compute_charge(spec, D(0))
    assert zero.amount == D(0)
    assert zero.slices == ()


def test_percentage_takes_percent_of_a_money_quantity() -> None:
    spec = PriceSpec(PriceModel.PERCENTAGE, percent=D("2.9"))
    assert compute_charge(spec, D("1000.00")).amount == D("29.0000")


def test_minimum_and_maximum_clamp_and_say_so() -> None:
    spec = PriceSpec(PriceModel.PER_UNIT, unit_amount=D("0.10"), minimum_amount=D(5), maximum_amount=D(20))
    low = compute_charge(spec, D(10))
    assert (low.amount, low.minimum_applied, low.maximum_applied) == (D(5), True, False)
    high = compute_charge(spec, D(1000))
    assert (high.amount, high.minimum_applied, high.maximum_applied) == (D(20), False, True)
    mid = compute_charge(spec, D(100))
    assert (mid.amount, mid.minimum_applied, mid.maximum_applied) == (D("10.00"), False, False)


def test_negative_quantity_is_rejected() -> None:
    with pytest.raises(PricingError) as error:
        compute_charge(PriceSpec(PriceModel.PER_UNIT, unit_amount=D(1)), D(-1))
    assert error.value.field == "quantity"


def test_float_quantity_is_refused() -> None:
    with pytest.raises(TypeError):
        compute_charge(PriceSpec(PriceModel.PER_UNIT, unit_amount=D(1)), 1.5)  # type: ignore[arg-type]


# --- validation names the field ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "field", "code"),
    [
        (
            PriceSpec(PriceModel.GRADUATED, tiers=(Tier(D(100), D(1)), Tier(D(50), D(1)), Tier(None, D(1)))),
            "tiers[1].up_to",
            PricingErrorCode.TIERS_INVALID,
        ),
        (
            PriceSpec(PriceModel.GRADUATED, tiers=(Tier(D(100), D(1)), Tier(D(100), D(1)), Tier(None, D(1)))),
            "tiers[1].up_to",
            PricingErrorCode.TIERS_INVALID,
        ),
        (
            PriceSpec(PriceModel.VOLUME, tiers=(Tier(D(0), D(1)), Tier(None, D(1)))),
            "tiers[0].up_to",
            PricingErrorCode.TIERS_INVALID,
        ),
        (
            PriceSpec(PriceModel.VOLUME, tiers=(Tier(None, D(1)), Tier(D(10), D(1)))),
            "tiers[0].up_to",
            PricingErrorCode.TIERS_INVALID,
        ),
        (
            PriceSpec(PriceModel.GRADUATED, tiers=(Tier(D(10), D(1)), Tier(D(20), D(1)))),
            "tiers[1].up_to",
            PricingErrorCode.TIERS_INVALID,
        ),
        (
            PriceSpec(PriceModel.GRADUATED, tiers=(Tier(D(10), D(-1)), Tier(None, D(1)))),
            "tiers[0].unit_amount",
            PricingErrorCode.NEGATIVE_AMOUNT,
        ),
        (
            PriceSpec(PriceModel.GRADUATED, tiers=(Tier(D(10), D(1)), Tier(None, D(1), D(-5)))),
            "tiers[1].flat_amount",
            PricingErrorCode.NEGATIVE_AMOUNT,
        ),
        (PriceSpec(PriceModel.GRADUATED), "tiers", PricingErrorCode.REQUIRED),
        (
            PriceSpec(PriceModel.PER_UNIT, unit_amount=D("-0.01")),
            "unit_amount",
            PricingErrorCode.NEGATIVE_AMOUNT,
        ),
        (PriceSpec(PriceModel.PER_UNIT), "unit_amount", PricingErrorCode.REQUIRED),
        (PriceSpec(PriceModel.FLAT, amount=D(-1)), "amount", PricingErrorCode.NEGATIVE_AMOUNT),
        (PriceSpec(PriceModel.FLAT), "amount", PricingErrorCode.REQUIRED),
        (PriceSpec(PriceModel.FLAT, amount=D(1), unit_amount=D(1)), "unit_amount", PricingErrorCode.INVALID),
        (
            PriceSpec(PriceModel.PER_UNIT, unit_amount=D("0.0000000000001")),
            "unit_amount",
            PricingErrorCode.INVALID,
        ),
        (
            PriceSpec(PriceModel.PACKAGE, package_size=0, package_amount=D(5)),
            "package_size",
            PricingErrorCode.INVALID,
        ),
        (PriceSpec(PriceModel.PACKAGE, package_size=10), "package_amount", PricingErrorCode.REQUIRED),
        (
            PriceSpec(PriceModel.PACKAGE, package_size=10, package_amount=D(-5)),
            "package_amount",
            PricingErrorCode.NEGATIVE_AMOUNT,
        ),
        (PriceSpec(PriceModel.PERCENTAGE), "percent", PricingErrorCode.REQUIRED),
        (PriceSpec(PriceModel.PERCENTAGE, percent=D(101)), "percent", PricingErrorCode.INVALID),
        (
            PriceSpec(PriceModel.FLAT, amount=D(1), minimum_amount=D(10), maximum_amount=D(5)),
            "minimum_amount",
            PricingErrorCode.INVALID,
        ),
        (
            PriceSpec(PriceModel.FLAT, amount=D(1), maximum_amount=D(-5)),
            "maximum_amount",
            PricingErrorCode.NEGATIVE_AMOUNT,
        ),
        (PriceSpec("tiered"), "model", PricingErrorCode.INVALID),  # type: ignore[arg-type]
    ],
)
def test_validation_error_names_the_field(spec: PriceSpec, field: str, code: PricingErrorCode) -> None:
    with pytest.raises(PricingError) as error:
        validate_price(spec)
    assert error.value.field == field
    assert error.value.code == code
    assert isinstance(error.value, ValueError)
    assert str(error.value).startswith(field)


def test_valid_prices_pass_validation() -> None:
    validate_price(PriceSpec(PriceModel.GRADUATED, tiers=EXAMPLE_TIERS))
    validate_price(PriceSpec(PriceModel.VOLUME, tiers=(Tier(None, D("0.000000000001")),)))
    validate_price(PriceSpec(PriceModel.PACKAGE, package_size=1, package_amount=D(0)))
    validate_price(PriceSpec(PriceModel.FLAT, amount=D(0), minimum_amount=D(5), maximum_amount=D(5)))
    # A model stored as its plain string value (as a database column holds it) is accepted.
    validate_price(PriceSpec("per_unit", unit_amount=D("0.1")))  # type: ignore[arg-type]


def test_non_decimal_price_fields_are_refused() -> None:
    with pytest.raises(TypeError, match="unit_amount"):
        validate_price(PriceSpec(PriceModel.PER_UNIT, unit_amount=0.1))  # type: ignore[arg-type]


# --- properties ----------------------------------------------------------------------------------

unit_prices = st.decimals(min_value=0, max_value=100, places=6, allow_nan=False, allow_infinity=False)
flat_fees = st.one_of(st.just(D(0)), st.decimals(min_value=0, max_value=50, places=2))
quantities = st.decimals(min_value=0, max_value=100_000, places=3, allow_nan=False, allow_infinity=False)


@st.composite
def tier_lists(draw: st.DrawFn) -> tuple[Tier, ...]:
    bounds = sorted(
        draw(st.sets(st.decimals(min_value="0.001", max_value=50_000, places=3), min_size=0, max_size=4))
    )
    ups: list[Decimal | None] = [*bounds, None]
    return tuple(Tier(up, draw(unit_prices), draw(flat_fees)) for up in ups)


@settings(max_examples=200, deadline=None)
@given(tier_lists(), quantities)
def test_graduated_total_is_the_sum_of_contiguous_slices(tiers: tuple[Tier, ...], quantity: Decimal) -> None:
    charge = compute_charge(PriceSpec(PriceModel.GRADUATED, tiers=tiers), quantity)
    assert charge.amount == sum((s.amount for s in charge.slices), D(0))
    assert sum((s.quantity for s in charge.slices), D(0)) == quantity
    lower = D(0)
    for expected_index, piece in enumerate(charge.slices):
        assert piece.tier_index == expected_index
        assert piece.lower_bound == lower
        assert piece.amount == piece.quantity * piece.unit_amount + piece.flat_amount
        lower = piece.last_unit
    assert lower == quantity


@settings(max_examples=200, deadline=None)
@given(tier_lists(), quantities, quantities)
def test_graduated_never_decreases_as_quantity_grows(tiers: tuple[Tier, ...], a: Decimal, b: Decimal) -> None:
    spec = PriceSpec(PriceModel.GRADUATED, tiers=tiers)
    low, high = sorted((a, b))
    assert compute_charge(spec, low).amount <= compute_charge(spec, high).amount


@given(unit_prices, flat_fees, quantities)
def test_volume_and_graduated_agree_with_a_single_tier(
    unit: Decimal, flat: Decimal, quantity: Decimal
) -> None:
    tiers = (Tier(None, unit, flat),)
    graduated = compute_charge(PriceSpec(PriceModel.GRADUATED, tiers=tiers), quantity)
    volume = compute_charge(PriceSpec(PriceModel.VOLUME, tiers=tiers), quantity)
    assert graduated.amount == volume.amount


@given(tier_lists(), quantities)
def test_volume_prices_every_unit_at_one_tier(tiers: tuple[Tier, ...], quantity: Decimal) -> None:
    charge = compute_charge(PriceSpec(PriceModel.VOLUME, tiers=tiers), quantity)
    if quantity == 0:
        assert charge.amount == 0
        return
    (piece,) = charge.slices
    tier = tiers[piece.tier_index]
    previous = tiers[piece.tier_index - 1].up_to if piece.tier_index else D(0)
    assert previous is not None and previous < quantity
    assert tier.up_to is None or quantity <= tier.up_to
    assert charge.amount == quantity * tier.unit_amount + tier.flat_amount


@given(
    quantities,
    st.integers(min_value=1, max_value=10_000),
    st.decimals(min_value=0, max_value=1000, places=2),
)
def test_package_amount_is_ceil_of_quantity_over_size(quantity: Decimal, size: int, amount: Decimal) -> None:
    spec = PriceSpec(PriceModel.PACKAGE, package_size=size, package_amount=amount)
    assert compute_charge(spec, quantity).amount == math.ceil(Fraction(quantity) / size) * amount


@given(
    unit_prices,
    quantities,
    st.one_of(st.none(), st.decimals(min_value=0, max_value=1000, places=2)),
    st.one_of(st.none(), st.decimals(min_value=0, max_value=1000, places=2)),
)
def test_minimum_and_maximum_clamps_hold(
    unit: Decimal, quantity: Decimal, minimum: Decimal | None, maximum: Decimal | None
) -> None:
    if minimum is not None and maximum is not None and minimum > maximum:
        minimum, maximum = maximum, minimum
    spec = PriceSpec(PriceModel.PER_UNIT, unit_amount=unit, minimum_amount=minimum, maximum_amount=maximum)
    charge = compute_charge(spec, quantity)
    raw = quantity * unit
    if minimum is not None:
        assert charge.amount >= minimum
        assert charge.minimum_applied == (raw < minimum)
    if maximum is not None:
        assert charge.amount <= maximum
        assert charge.maximum_applied == (raw > maximum)
    if not (charge.minimum_applied or charge.maximum_applied):
        assert charge.amount == raw
