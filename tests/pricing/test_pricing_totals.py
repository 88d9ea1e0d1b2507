"""Invoice arithmetic: each figure is the exact sum of what it is made of."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.pricing.errors import PricingError
from billing.pricing.totals import InvoiceTotals, LineAmounts, invoice_totals

D = Decimal


def test_totals_follow_the_design_formulas() -> None:
    lines = [
        LineAmounts(D("60.00"), D("9.60")),
        LineAmounts(D("493.83"), D("79.01")),
        LineAmounts(D("-12.00"), D("-1.92"), is_discount=True),
    ]
    totals = invoice_totals(lines=lines, credits_available=D("50.00"), amount_paid=D("0.00"), currency="USD")
    assert totals == InvoiceTotals(
        subtotal=D("541.83"),
        discount=D("12.00"),
        tax=D("86.69"),
        total=D("628.52"),
        credits_applied=D("50.00"),
        amount_paid=D("0.00"),
        amount_due=D("578.52"),
    )


def test_credits_never_apply_to_a_negative_total() -> None:
    lines = [LineAmounts(D("-20.00"), D("0"))]
    totals = invoice_totals(lines=lines, credits_available=D("100"), amount_paid=D("0"), currency="USD")
    assert totals.credits_applied == 0
    assert totals.amount_due == D("-20.00")
    assert str(totals.credits_applied) == "0.00"


def test_empty_invoice_is_all_zeros() -> None:
    totals = invoice_totals(lines=[], credits_available=D(0), amount_paid=D(0), currency="JPY")
    assert totals == InvoiceTotals(*(D(0),) * 7)


def test_unrounded_line_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"lines\[1\]\.amount"):
        invoice_totals(
            lines=[LineAmounts(D("1.00"), D(0)), LineAmounts(D("1.005"), D(0))],
            credits_available=D(0),
            amount_paid=D(0),
            currency="USD",
        )
    with pytest.raises(ValueError, match=r"lines\[0\]\.amount"):
        invoice_totals(
            lines=[LineAmounts(D("1.5"), D(0))], credits_available=D(0), amount_paid=D(0), currency="JPY"
        )


def test_positive_discount_line_and_negative_credits_are_refused() -> None:
    with pytest.raises(PricingError) as error:
        invoice_totals(
            lines=[LineAmounts(D("5.00"), D(0), is_discount=True)],
            credits_available=D(0),
            amount_paid=D(0),
            currency="USD",
        )
    assert error.value.field == "lines[0].amount"
    with pytest.raises(PricingError) as error:
        invoice_totals(lines=[], credits_available=D("-1.00"), amount_paid=D(0), currency="USD")
    assert error.value.field == "credits_available"


money = st.decimals(min_value=-10_000, max_value=100_000, places=2)
positive_money = st.decimals(min_value=0, max_value=100_000, places=2)
lines_strategy = st.lists(
    st.one_of(
        st.builds(LineAmounts, amount=money, tax=money, is_discount=st.just(False)),
        st.builds(
            LineAmounts,
            amount=st.decimals(min_value=-10_000, max_value=0, places=2),
            tax=st.decimals(min_value=-2_000, max_value=0, places=2),
            is_discount=st.just(True),
        ),
    ),
    max_size=12,
)


@given(lines_strategy, positive_money, positive_money)
def test_invoice_identities_hold_exactly(lines: list[LineAmounts], credits: Decimal, paid: Decimal) -> None:
    totals = invoice_totals(lines=lines, credits_available=credits, amount_paid=paid, currency="USD")
    assert totals.subtotal == sum((line.amount for line in lines), D(0))
    assert totals.discount == -sum((line.amount for line in lines if line.is_discount), D(0))
    assert totals.discount >= 0
    assert totals.tax == sum((line.tax for line in lines), D(0))
    assert totals.total == totals.subtotal + totals.tax
    assert totals.credits_applied == min(credits, max(totals.total, D(0)))
    assert 0 <= totals.credits_applied <= credits
    assert totals.amount_due == totals.total - totals.credits_applied - totals.amount_paid
    for figure in (totals.subtotal, totals.discount, totals.tax, totals.total, totals.amount_due):
        assert figure.as_tuple().exponent == -2
