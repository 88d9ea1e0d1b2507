"""Rating: one price and quantity -> one line, rounded once, tiers as detail."""

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.pricing.charge_models import PriceModel, PriceSpec, Tier
from billing.pricing.errors import PricingError
from billing.pricing.periods import Period
from billing.pricing.rating import rate_price

D = Decimal
TIERS = (Tier(D(100), D("0.10")), Tier(D(1000), D("0.08")), Tier(None, D("0.05")))
JANUARY = Period(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))


def test_usage_line_is_rounded_once() -> None:
    line = rate_price(
        spec=PriceSpec(PriceModel.PER_UNIT, unit_amount=D("0.0004")),
        quantity=D(1_234_567),
        currency="USD",
        description="API requests",
        kind="usage",
        period=JANUARY,
    )
    assert line.amount == D("493.83")
    assert line.unit_amount == D("0.0004")
    assert line.quantity == D(1_234_567)
    assert (line.period_start, line.period_end) == (JANUARY.start, JANUARY.end)
    assert (line.description, line.kind) == ("API requests", "usage")


def test_tiered_price_is_one_line_with_its_tiers_as_detail() -> None:
    line = rate_price(
        spec=PriceSpec(PriceModel.GRADUATED, tiers=TIERS),
        quantity=D(1500),
        currency="USD",
        description="",
        kind="usage",
    )
    assert line.amount == D("107.00")
    assert [s.amount for s in line.slices] == [D("10.00"), D("72.00"), D("25.00")]
    assert line.unit_amount == D("0.071333333333")
    assert str(line.quantity) == "1500"
    assert line.period_start is None


def test_flat_fee_prorated_for_a_partial_first_period() -> None:
    line = rate_price(
        spec=PriceSpec(PriceModel.FLAT, amount=D("60.00")),
        quantity=D(1),
        currency="USD",
        description="Pro plan",
        kind="subscription",
        fraction=Fraction(17, 31),
    )
    assert line.amount == D("32.90")
    assert line.unit_amount == D("60.00")


def test_zero_quantity_tiered_line_has_no_unit_amount() -> None:
    line = rate_price(
        spec=PriceSpec(PriceModel.VOLUME, tiers=TIERS),
        quantity=D(0),
        currency="USD",
        description="",
        kind="usage",
    )
    assert (line.amount, line.unit_amount, line.slices) == (D(0), None, ())


def test_quantity_beyond_twelve_places_is_kept_to_twelve() -> None:
    line = rate_price(
        spec=PriceSpec(PriceModel.PER_UNIT, unit_amount=D(1)),
        quantity=D("0.0000000000015"),
        currency="USD",
        description="",
        kind="usage",
    )
    assert line.quantity == D("0.000000000002")


def test_negative_fraction_is_rejected() -> None:
    with pytest.raises(PricingError) as error:
        rate_price(
            spec=PriceSpec(PriceModel.FLAT, amount=D(1)),
            quantity=D(1),
            currency="USD",
            description="",
            kind="subscription",
            fraction=Fraction(-1, 2),
        )
    assert error.value.field == "fraction"


@given(
    st.decimals(min_value=0, max_value=10**6, places=4),
    st.decimals(min_value=0, max_value=10, places=6),
    st.sampled_from(["USD", "JPY", "KWD"]),
)
def test_rated_amount_is_the_exact_charge_rounded_once(
    quantity: Decimal, unit: Decimal, currency: str
) -> None:
    line = rate_price(
        spec=PriceSpec(PriceModel.PER_UNIT, unit_amount=unit),
        quantity=quantity,
        currency=currency,
        description="",
        kind="usage",
    )
    from billing.pricing.money import minor_unit, round_amount

    assert line.amount == round_amount(quantity * unit, currency)
    assert abs(line.amount - quantity * unit) <= minor_unit(currency) / 2
