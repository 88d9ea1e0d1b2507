"""Proration: exact time fractions, two lines rounded once each, parts that add up exactly."""

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.pricing.errors import PricingError
from billing.pricing.money import MONEY_CONTEXT, round_amount
from billing.pricing.proration import (
    days_in,
    price_change_prorations,
    prorate,
    proration_credit,
    proration_fraction,
    quantity_change_prorations,
)

D = Decimal
BERLIN = ZoneInfo("Europe/Berlin")
APRIL = (datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))  # 30 days


def test_seat_upgrade_at_half_period_credits_90_and_charges_135() -> None:
    credit, charge = quantity_change_prorations(
        unit_amount=D("18.00"),
        old_quantity=D(10),
        new_quantity=D(15),
        period_start=APRIL[0],
        period_end=APRIL[1],
        at=datetime(2026, 4, 16, tzinfo=UTC),
        currency="USD",
        name="Seat",
    )
    assert credit.amount == D("-90.00")
    assert charge.amount == D("135.00")
    assert credit.amount + charge.amount == D("45.00")
    assert credit.fraction == charge.fraction == Fraction(15, 30)
    assert (credit.quantity, charge.quantity) == (D(10), D(15))
    assert credit.period_start == datetime(2026, 4, 16, tzinfo=UTC)
    assert credit.period_end == APRIL[1]
    assert credit.description == "Unused time on 10 x Seat after 16 Apr 2026"
    assert charge.description == "Remaining time on 15 x Seat after 16 Apr 2026"
    assert str(credit.amount) == "-90.00"


def test_plan_change_credits_old_price_and_charges_new_one() -> None:
    credit, charge = price_change_prorations(
        old_amount=D("30.00"),
        new_amount=D("100.00"),
        period_start=APRIL[0],
        period_end=APRIL[1],
        at=datetime(2026, 4, 21, tzinfo=UTC),
        currency="USD",
        old_name="Starter",
        new_name="Pro",
    )
    assert credit.amount == D("-10.00")
    assert charge.amount == D("33.33")
    assert credit.description == "Unused time on Starter after 21 Apr 2026"
    assert charge.description == "Remaining time on Pro after 21 Apr 2026"


def test_each_proration_line_is_rounded_once() -> None:
    # 10.00 x 1/3 = 3.333... -> 3.33 (not 10.00 rounded per day and summed).
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=3)
    line = proration_credit(
        quantity=D(1),
        unit_amount=D("10.00"),
        period_start=start,
        period_end=end,
        at=start + timedelta(days=2),
        currency="USD",
    )
    assert line.fraction == Fraction(1, 3)
    assert line.amount == D("-3.33")


def test_change_outside_the_period_is_rejected() -> None:
    with pytest.raises(ValueError, match="at"):
        quantity_change_prorations(
            unit_amount=D(1),
            old_quantity=D(1),
            new_quantity=D(2),
            period_start=APRIL[0],
            period_end=APRIL[1],
            at=APRIL[1],
            currency="USD",
        )


def test_negative_quantity_is_rejected_naming_it() -> None:
    with pytest.raises(PricingError) as error:
        proration_credit(
            quantity=D(-1),
            unit_amount=D(1),
            period_start=APRIL[0],
            period_end=APRIL[1],
            at=APRIL[0],
            currency="USD",
        )
    assert error.value.field == "quantity"


def test_fraction_is_by_elapsed_time_across_dst() -> None:
    # March 2026 in Berlin lasts 30 days 23 hours; the first day is 24 of those 743 hours.
    start, end = datetime(2026, 3, 1, tzinfo=BERLIN), datetime(2026, 4, 1, tzinfo=BERLIN)
    assert proration_fraction(start, end, start, datetime(2026, 3, 2, tzinfo=BERLIN)) == Fraction(24, 743)
    assert days_in(start, end) == D("31.00")
    assert days_in(start, datetime(2026, 3, 16, 12, tzinfo=BERLIN)) == D("15.50")


def test_fraction_clamps_to_the_period_and_needs_aware_datetimes() -> None:
    start, end = APRIL
    assert proration_fraction(start, end, start - timedelta(days=5), end + timedelta(days=5)) == 1
    assert proration_fraction(start, end, end, end + timedelta(days=1)) == 0
    with pytest.raises(ValueError, match="aware"):
        proration_fraction(start, end, datetime(2026, 4, 2), end)
    with pytest.raises(ValueError, match="period_end"):
        proration_fraction(end, start, start, end)


def test_prorate_keeps_fifty_significant_digits() -> None:
    assert prorate(D("10.00"), Fraction(1, 2)) == D("5")
    assert prorate(D(1), Fraction(1, 3)) == D("0." + "3" * 50)


period_seconds = st.integers(min_value=1, max_value=400 * 24 * 3600)


@settings(max_examples=200, deadline=None)
@given(
    length=period_seconds,
    raw_cuts=st.lists(st.integers(min_value=0, max_value=10**12), max_size=8),
    price=st.decimals(min_value=0, max_value=100_000, places=2),
    zone=st.sampled_from(["UTC", "America/New_York", "Europe/Berlin", "Australia/Sydney"]),
)
def test_prorated_parts_of_a_period_add_up_to_the_full_price(
    length: int, raw_cuts: list[int], price: Decimal, zone: str
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC).astimezone(ZoneInfo(zone))
    end = start + timedelta(seconds=length)
    total_us = length * 1_000_000
    points = sorted({c % (total_us + 1) for c in raw_cuts} | {0, total_us})
    bounds = [start + timedelta(microseconds=p) for p in points]
    fractions = [proration_fraction(start, end, a, b) for a, b in itertools.pairwise(bounds)]
    assert sum(fractions, Fraction(0)) == 1
    # Exact before rounding: the parts as Fractions add up to the price.
    assert sum((Fraction(price) * f for f in fractions), Fraction(0)) == Fraction(price)
    # As 50-digit Decimals they add up to the price within the last digits kept, far below a cent.
    parts = [prorate(price, f) for f in fractions]
    with localcontext(MONEY_CONTEXT):
        total = sum(parts, D(0))
        assert abs(total - price) <= D("1e-40")
    assert round_amount(total, "USD") == round_amount(price, "USD")
