"""Coupons: which periods they cover, how much they take off, and how a discount splits over lines."""

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.pricing.discounts import (
    CouponDuration,
    CouponSpec,
    allocate_discount,
    coupon_applies,
    discount_amount,
    validate_coupon,
)
from billing.pricing.errors import PricingError, PricingErrorCode
from billing.pricing.periods import Interval, anniversary_period

D = Decimal
TWENTY_PERCENT_FOR_3_MONTHS = CouponSpec(
    percent_off=D(20), amount_off=None, duration=CouponDuration.REPEATING, duration_in_months=3
)


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Australia/Sydney"])
def test_twenty_percent_for_three_months_gives_48_three_times_then_60(zone: str) -> None:
    anchor = datetime(2026, 1, 15, tzinfo=ZoneInfo(zone))
    invoices = []
    for index in range(5):
        period = anniversary_period(anchor=anchor, interval=Interval.MONTH, interval_count=1, index=index)
        charge = D("60.00")
        if coupon_applies(
            coupon=TWENTY_PERCENT_FOR_3_MONTHS,
            redeemed_at=anchor,
            period_start=period.start,
            first_period_start=anchor,
        ):
            charge += discount_amount(coupon=TWENTY_PERCENT_FOR_3_MONTHS, eligible=charge, currency="USD")
        invoices.append(charge)
    assert invoices == [D("48.00"), D("48.00"), D("48.00"), D("60.00"), D("60.00")]


def test_once_coupon_covers_only_the_first_period() -> None:
    once = CouponSpec(percent_off=None, amount_off=D("5.00"), duration=CouponDuration.ONCE)
    first = datetime(2026, 1, 1, tzinfo=UTC)
    kwargs = {"coupon": once, "redeemed_at": first, "first_period_start": first}
    assert coupon_applies(period_start=first, **kwargs)  # type: ignore[arg-type]
    assert not coupon_applies(period_start=datetime(2026, 2, 1, tzinfo=UTC), **kwargs)  # type: ignore[arg-type]


def test_forever_coupon_covers_every_period_from_the_first() -> None:
    forever = CouponSpec(percent_off=D(10), amount_off=None, duration=CouponDuration.FOREVER)
    first = datetime(2026, 1, 1, tzinfo=UTC)
    assert coupon_applies(
        coupon=forever,
        redeemed_at=first,
        period_start=datetime(2036, 1, 1, tzinfo=UTC),
        first_period_start=first,
    )
    assert not coupon_applies(
        coupon=forever,
        redeemed_at=first,
        period_start=datetime(2025, 12, 1, tzinfo=UTC),
        first_period_start=first,
    )


def test_amount_off_is_capped_at_the_eligible_amount() -> None:
    ten_off = CouponSpec(percent_off=None, amount_off=D("10.00"), duration=CouponDuration.ONCE)
    assert discount_amount(coupon=ten_off, eligible=D("25.00"), currency="USD") == D("-10.00")
    assert discount_amount(coupon=ten_off, eligible=D("4.00"), currency="USD") == D("-4.00")
    zero = discount_amount(coupon=ten_off, eligible=D("-3.00"), currency="USD")
    assert zero == 0
    assert str(zero) == "0.00"


def test_percent_discount_is_rounded_once_half_up() -> None:
    coupon = CouponSpec(percent_off=D("12.5"), amount_off=None, duration=CouponDuration.FOREVER)
    assert discount_amount(coupon=coupon, eligible=D("0.20"), currency="USD") == D("-0.03")
    assert discount_amount(coupon=coupon, eligible=D("999"), currency="JPY") == D("-125")


def test_unrounded_eligible_amount_is_refused() -> None:
    with pytest.raises(ValueError, match="eligible"):
        discount_amount(coupon=TWENTY_PERCENT_FOR_3_MONTHS, eligible=D("10.001"), currency="USD")


@pytest.mark.parametrize(
    ("spec", "field", "code"),
    [
        (CouponSpec(None, None, CouponDuration.ONCE), "percent_off", PricingErrorCode.REQUIRED),
        (CouponSpec(D(10), D(5), CouponDuration.ONCE), "percent_off", PricingErrorCode.REQUIRED),
        (CouponSpec(D(0), None, CouponDuration.ONCE), "percent_off", PricingErrorCode.INVALID),
        (CouponSpec(D("100.01"), None, CouponDuration.ONCE), "percent_off", PricingErrorCode.INVALID),
        (CouponSpec(None, D(-5), CouponDuration.ONCE), "amount_off", PricingErrorCode.NEGATIVE_AMOUNT),
        (CouponSpec(D(10), None, CouponDuration.REPEATING), "duration_in_months", PricingErrorCode.REQUIRED),
        (
            CouponSpec(D(10), None, CouponDuration.REPEATING, 0),
            "duration_in_months",
            PricingErrorCode.INVALID,
        ),
        (CouponSpec(D(10), None, CouponDuration.FOREVER, 3), "duration_in_months", PricingErrorCode.INVALID),
        (CouponSpec(D(10), None, "sometimes"), "duration", PricingErrorCode.INVALID),  # type: ignore[arg-type]
    ],
)
def test_coupon_validation_names_the_field(spec: CouponSpec, field: str, code: PricingErrorCode) -> None:
    with pytest.raises(PricingError) as error:
        validate_coupon(spec)
    assert (error.value.field, error.value.code) == (field, code)


def test_allocate_discount_splits_exactly_by_largest_remainder() -> None:
    shares = allocate_discount(
        discount=D("-10.00"), amounts=[D("10.00"), D("10.00"), D("10.00")], currency="USD"
    )
    assert shares == (D("-3.34"), D("-3.33"), D("-3.33"))
    assert allocate_discount(discount=D("-0.00"), amounts=[D("5.00")], currency="USD") == (D("0.00"),)


# --- properties ----------------------------------------------------------------------------------

eligible_amounts = st.decimals(min_value=-1000, max_value=100_000, places=2)
coupons = st.one_of(
    st.builds(
        CouponSpec,
        percent_off=st.decimals(min_value="0.01", max_value=100, places=2),
        amount_off=st.none(),
        duration=st.just(CouponDuration.FOREVER),
    ),
    st.builds(
        CouponSpec,
        percent_off=st.none(),
        amount_off=st.decimals(min_value="0.01", max_value=100_000, places=2),
        duration=st.just(CouponDuration.ONCE),
    ),
)


@given(coupons, eligible_amounts)
def test_discount_never_makes_the_eligible_amount_negative(coupon: CouponSpec, eligible: Decimal) -> None:
    discount = discount_amount(coupon=coupon, eligible=eligible, currency="USD")
    assert discount <= 0
    assert discount == discount.quantize(D("0.01"))
    if eligible > 0:
        assert eligible + discount >= 0
    else:
        assert discount == 0


@given(st.lists(st.decimals(min_value=0, max_value=10_000, places=2), min_size=1, max_size=8), st.data())
def test_allocated_shares_add_up_exactly_and_stay_within_each_line(
    amounts: list[Decimal], data: st.DataObject
) -> None:
    total = sum(amounts, D(0))
    discount = -data.draw(st.decimals(min_value=0, max_value=total, places=2))
    shares = allocate_discount(discount=discount, amounts=amounts, currency="USD")
    assert sum(shares, D(0)) == discount
    for amount, share in zip(amounts, shares, strict=True):
        assert share <= 0
        assert amount + share >= 0
