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
    discount_shares,
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


def test_allocate_discount_gives_the_remainder_cent_to_the_largest_line() -> None:
    shares = allocate_discount(
        discount=D("-10.00"), amounts=[D("10.00"), D("10.00"), D("10.00")], currency="USD"
    )
    assert shares == (D("-3.34"), D("-3.33"), D("-3.33"))  # equal lines: the earlier one
    assert allocate_discount(discount=D("-0.00"), amounts=[D("5.00")], currency="USD") == (D("0.00"),)
    # 3.00 over 9.99 and 20.00: 0.9993 and 2.0007 round down to 0.99 and 2.00; the cent goes to 20.00
    # although 0.9993 has the larger remainder (DESIGN.md: "the remainder cent to the largest")
    assert allocate_discount(discount=D("-3.00"), amounts=[D("9.99"), D("20.00")], currency="USD") == (
        D("-0.99"),
        D("-2.01"),
    )
    assert allocate_discount(discount=D("-151"), amounts=[D("1005")], currency="JPY") == (D("-151"),)
    # a zero line gets nothing, even when cents are left over
    assert allocate_discount(
        discount=D("-0.02"), amounts=[D("0.01"), D("0.00"), D("0.01"), D("0.01")], currency="USD"
    ) == (D("-0.01"), D("0.00"), D("-0.01"), D("0.00"))


def test_discount_shares_split_a_coupon_over_charges_and_credits() -> None:
    # 15% off 30.05 (4.51) and off a 15.03 credit (2.25): the coupon line is -4.51 + 2.25 = -2.26
    shares = discount_shares(
        on_charges=D("-4.51"),
        on_credits=D("-2.25"),
        amounts=[D("30.05"), D("0.00"), D("-15.03")],
        currency="USD",
    )
    assert shares == (D("-4.51"), D("0.00"), D("2.25"))
    with pytest.raises(PricingError) as error:
        discount_shares(on_charges=D("-1.00"), on_credits=D(0), amounts=[D("0.50")], currency="USD")
    assert error.value.field == "discount"


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
def test_allocated_shares_add_up_exactly_stay_within_each_line_and_a_cent_of_proportional(
    amounts: list[Decimal], data: st.DataObject
) -> None:
    total = sum(amounts, D(0))
    discount = -data.draw(st.decimals(min_value=0, max_value=total, places=2))
    shares = allocate_discount(discount=discount, amounts=amounts, currency="USD")
    assert sum(shares, D(0)) == discount
    up, down = [], []  # lines whose exact share was rounded up / down to the cent
    for amount, share in zip(amounts, shares, strict=True):
        assert share <= 0
        assert amount + share >= 0
        exact = -discount * amount / total if total else D(0)
        assert abs(-share - exact) < D("0.01")
        if -share > exact:
            up.append(amount)
        elif -share < exact:
            down.append(amount)
    # the leftover cents went to the largest of the rounded lines
    assert not up or not down or min(up) >= max(down)


signed_amounts = st.lists(st.decimals(min_value=-10_000, max_value=10_000, places=2), min_size=1, max_size=8)


@given(signed_amounts, st.data())
def test_discount_shares_add_up_to_the_coupon_line_and_never_flip_a_line(
    amounts: list[Decimal], data: st.DataObject
) -> None:
    charges = sum((a for a in amounts if a > 0), D(0))
    credits = -sum((a for a in amounts if a < 0), D(0))
    on_charges = -data.draw(st.decimals(min_value=0, max_value=charges, places=2))
    on_credits = -data.draw(st.decimals(min_value=0, max_value=credits, places=2))
    shares = discount_shares(on_charges=on_charges, on_credits=on_credits, amounts=amounts, currency="USD")
    assert sum(shares, D(0)) == on_charges - on_credits
    for amount, share in zip(amounts, shares, strict=True):
        assert share == share.quantize(D("0.01"))
        if amount > 0:
            assert -amount <= share <= 0
        elif amount < 0:
            assert 0 <= share <= -amount
        else:
            assert share == 0
