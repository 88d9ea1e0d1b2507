"""Minimum commitment true-ups and per-line exclusive tax."""

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.pricing.commitments import commitment_true_up
from billing.pricing.errors import PricingError
from billing.pricing.money import round_amount
from billing.pricing.tax import line_tax

D = Decimal


def test_commitment_of_1000_with_640_rated_trues_up_360() -> None:
    assert commitment_true_up(committed=D("1000.00"), rated=D("640.00"), currency="USD") == D("360.00")


def test_no_true_up_when_usage_exceeds_the_commitment() -> None:
    result = commitment_true_up(committed=D("1000.00"), rated=D("1200.00"), currency="USD")
    assert result == 0
    assert str(result) == "0.00"


def test_partial_period_prorates_the_commitment() -> None:
    true_up = commitment_true_up(
        committed=D("1000.00"), rated=D("100.00"), currency="USD", fraction=Fraction(1, 3)
    )
    assert true_up == D("233.33")


def test_negative_commitment_is_rejected() -> None:
    with pytest.raises(PricingError) as error:
        commitment_true_up(committed=D("-1"), rated=D(0), currency="USD")
    assert error.value.field == "committed"


@given(
    st.decimals(min_value=0, max_value=1_000_000, places=2),
    st.decimals(min_value=0, max_value=1_000_000, places=2),
    st.fractions(min_value=0, max_value=1, max_denominator=10**9),
)
def test_usage_plus_true_up_is_at_least_the_rounded_prorated_commitment(
    committed: Decimal, rated: Decimal, fraction: Fraction
) -> None:
    true_up = commitment_true_up(committed=committed, rated=rated, currency="USD", fraction=fraction)
    assert true_up >= 0
    prorated = Fraction(committed) * fraction
    if Fraction(rated) < prorated:
        assert rated + true_up == round_amount(D(prorated.numerator) / D(prorated.denominator), "USD")
    else:
        assert true_up == 0


def test_line_tax_is_rounded_once_per_line() -> None:
    assert line_tax(amount=D("19.99"), rate_percent=D("8.875"), currency="USD") == D("1.77")
    assert line_tax(amount=D("-10.00"), rate_percent=D(20), currency="EUR") == D("-2.00")
    assert line_tax(amount=D(999), rate_percent=D(10), currency="JPY") == D(100)
    with pytest.raises(PricingError):
        line_tax(amount=D(1), rate_percent=D(-1), currency="USD")
