"""Amounts at the Stripe boundary: integers of the currency's minor unit (cents; yen as they are).

The one conversion of Ratecard's Decimal amounts to and from Stripe's integers; the rounding rule and
the ISO 4217 exponents live in ``billing.pricing.money``.
"""

from __future__ import annotations

from decimal import Decimal

from billing.pricing.money import from_minor_units, to_minor_units


def stripe_amount(amount: Decimal, currency: str) -> int:
    """``Decimal("107.00")`` USD -> ``10700``; ``Decimal("1500")`` JPY -> ``1500``. The amount must be
    rounded to the currency already (an invoice's amounts are)."""
    return to_minor_units(amount, currency.upper())


def amount_from_stripe(value: int, currency: str) -> Decimal:
    """Stripe's integer back to a Decimal in the currency (``10700`` USD -> ``Decimal("107.00")``)."""
    return from_minor_units(int(value), currency.upper())
