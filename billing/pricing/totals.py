"""Invoice arithmetic from DESIGN.md "Money rules", exactly:

- subtotal = sum of the line amounts, discount lines (negative) included;
- discount = what the discount lines take off, reported as a NON-NEGATIVE number (their absolute value);
- tax = sum of the lines' taxes (each already rounded per line, on the line's amount after its share of
  the discounts: ``discounts.discount_shares``; a discount line split that way carries tax 0);
- total = subtotal + tax;
- credits_applied = min(credits_available, max(total, 0)) — prepaid credits apply after tax;
- amount_due = total - credits_applied - amount_paid. DESIGN.md's formula also subtracts
  ``amount_credited``, the credit notes issued against the invoice: always 0 here, since only a
  finalized invoice is credited (``invoicing.services.credit_notes`` keeps it).

Inputs must already be rounded to the currency (each line was rounded once when it was rated), so every
figure is the exact sum of what it is made of and nothing is rounded here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from billing.pricing.errors import PricingError, PricingErrorCode
from billing.pricing.money import MONEY_CONTEXT, require_rounded, round_amount

_ZERO = Decimal(0)


@dataclass(frozen=True)
class LineAmounts:
    """What ``invoice_totals`` needs of a line: its rounded amount and tax; discount lines are <= 0."""

    amount: Decimal
    tax: Decimal
    is_discount: bool = False


@dataclass(frozen=True)
class InvoiceTotals:
    """An invoice's figures; ``discount`` is non-negative (the amount taken off)."""

    subtotal: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal
    credits_applied: Decimal
    amount_paid: Decimal
    amount_due: Decimal


def invoice_totals(
    *, lines: Sequence[LineAmounts], credits_available: Decimal, amount_paid: Decimal, currency: str
) -> InvoiceTotals:
    """The invoice's totals (see the module docstring); raises ValueError on an unrounded input."""
    for index, line in enumerate(lines):
        require_rounded(line.amount, currency, f"lines[{index}].amount")
        require_rounded(line.tax, currency, f"lines[{index}].tax")
        if line.is_discount and line.amount > 0:
            raise PricingError(f"lines[{index}].amount", "a discount line must not be positive")
    for value, field in ((credits_available, "credits_available"), (amount_paid, "amount_paid")):
        require_rounded(value, currency, field)
        if value < 0:
            raise PricingError(field, "must not be negative", PricingErrorCode.NEGATIVE_AMOUNT)
    with localcontext(MONEY_CONTEXT):
        subtotal = sum((line.amount for line in lines), _ZERO)
        discount = -sum((line.amount for line in lines if line.is_discount), _ZERO)
        tax = sum((line.tax for line in lines), _ZERO)
        total = subtotal + tax
        credits_applied = min(credits_available, max(total, _ZERO))
        amount_due = total - credits_applied - amount_paid

    # round_amount only evens out the exponent (10 vs 10.00): every value is already on the minor unit.
    def show(value: Decimal) -> Decimal:
        return round_amount(value, currency)

    return InvoiceTotals(
        subtotal=show(subtotal),
        discount=show(discount),
        tax=show(tax),
        total=show(total),
        credits_applied=show(credits_applied),
        amount_paid=show(amount_paid),
        amount_due=show(amount_due),
    )
