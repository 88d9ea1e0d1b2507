"""Proration: exact time fractions, two lines rounded once each, parts that add up exactly."""

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.pricing.money import MONEY_CONTEXT, round_amount
from billing.pricing.price_spec import PriceModel, PriceSpec
from billing.pricing.proration import (
    prorate,
    proration_fraction,
)
from billing.pricing.rating import rate_price

D = Decimal
BERLIN = ZoneInfo("Europe/Berlin")
APRIL = (datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))  # 30 days


def _prorated(spec: PriceSpec, quantity: Decimal, at: datetime, sign: int = 1) -> Decimal:
    """What billing charges for the rest of April from ``at`` (billing.services.subscription_prorations)."""
    fraction = proration_fraction(APRIL[0], APRIL[1], at, APRIL[1])
    line = rate_price(
        spec=spec, quantity=quantity, currency="USD", description="", kind="proration", fraction=fraction
    )
    return sign * line.amount


def test_seat_upgrade_at_half_period_credits_90_and_charges_135() -> None:
    seat = PriceSpec(model=PriceModel.PER_UNIT, unit_amount=D("18.00"))
    at = datetime(2026, 4, 16, tzinfo=UTC)
    assert proration_fraction(APRIL[0], APRIL[1], at, APRIL[1]) == Fraction(15, 30)
    credit, charge = _prorated(seat, D(10), at, sign=-1), _prorated(seat, D(15), at)
    assert (credit, charge) == (D("-90.00"), D("135.00"))
    assert credit + charge == D("45.00")


def test_plan_change_credits_old_price_and_charges_new_one() -> None:
    at = datetime(2026, 4, 21, tzinfo=UTC)
    starter = PriceSpec(model=PriceModel.FLAT, amount=D("30.00"))
    pro = PriceSpec(model=PriceModel.FLAT, amount=D("100.00"))
    assert _prorated(starter, D(1), at, sign=-1) == D("-10.00")
    assert _prorated(pro, D(1), at) == D("33.33")


def test_each_proration_line_is_rounded_once() -> None:
    # 10.00 x 1/3 = 3.333... -> 3.33 (not 10.00 rounded per day and summed).
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=3)
    fraction = proration_fraction(start, end, start + timedelta(days=2), end)
    assert fraction == Fraction(1, 3)
    assert round_amount(prorate(D("10.00"), fraction), "USD") == D("3.33")


def test_fraction_is_by_elapsed_time_across_dst() -> None:
    # March 2026 in Berlin lasts 30 days 23 hours; the first day is 24 of those 743 hours.
    start, end = datetime(2026, 3, 1, tzinfo=BERLIN), datetime(2026, 4, 1, tzinfo=BERLIN)
    assert proration_fraction(start, end, start, datetime(2026, 3, 2, tzinfo=BERLIN)) == Fraction(24, 743)


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
