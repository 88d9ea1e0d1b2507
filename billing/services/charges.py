"""One-off charges (an onboarding fee, a professional-services day): owed once, on the next invoice or now."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from accounts.models import Customer
from billing.models import PendingLine, PendingLineKind
from billing.pricing import is_rounded, line_amount
from config.errors import ErrorCode, ValidationFailed


def one_off_charge_create(
    *,
    customer: Customer,
    description: str,
    unit_amount: Decimal,
    quantity: Decimal = Decimal(1),
    invoice_now: bool = False,
    at: datetime | None = None,
    user: Any = None,
) -> PendingLine:
    """Record a one-off charge of ``quantity`` x ``unit_amount``, rounded once, for ``customer``."""
    if not description.strip():
        raise ValidationFailed("Describe the charge.", field="description", code=ErrorCode.REQUIRED)
    if quantity <= 0:
        raise ValidationFailed("Quantity must be positive.", field="quantity")
    if unit_amount < 0:
        raise ValidationFailed(
            "A one-off charge is not negative; issue a credit note instead.",
            field="unit_amount",
            code=ErrorCode.NEGATIVE_AMOUNT,
        )
    # multiplied in money.py's context, never the thread's global one (which other code may change)
    amount = line_amount(quantity, unit_amount, customer.currency)
    if quantity == 1 and not is_rounded(unit_amount, customer.currency):
        raise ValidationFailed(f"More decimal places than {customer.currency} has.", field="unit_amount")
    if invoice_now and at is None:
        raise ValidationFailed("Give the time to invoice at.", field="at", code=ErrorCode.REQUIRED)
    return PendingLine.objects.create(
        customer=customer,
        kind=PendingLineKind.ONE_OFF,
        description=description.strip(),
        currency=customer.currency,
        quantity=quantity,
        unit_amount=unit_amount,
        amount=amount,
        period_start=at,
        period_end=at,
        invoice_now=invoice_now,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
