"""Credit notes: the only way to correct a finalized invoice (DESIGN.md "Money rules").

``credit_note_create`` credits part or all of an open or paid invoice, never more than is left
creditable on it: ``creditable = invoice.total - sum(its credit notes)``. It takes a gap-free number of
its own sequence (``CN-2026-000001``) under the same row lock scheme as invoices.

Every credit note adds its amount to the invoice's ``amount_credited`` (like ``amount_paid``, a field
that moves after finalization), so ``amount_due = total - credits_applied - amount_credited -
amount_paid`` (DESIGN.md) reads from the invoice alone. Where the credit goes:
- an **open** invoice with something due: the credit first reduces ``amount_due``; when nothing is left
  due the invoice becomes ``paid``. What exceeds the amount due goes to the customer's credit balance;
- a **paid** invoice: all of it goes to the customer's credit balance (a negative
  ``BalanceTransaction``), which the customer's next finalized invoice consumes as ``credits_applied``.
  ``amount_due`` never goes below 0: what was credited beyond what was due is that balance
  transaction (linked to the note and the invoice), and the formula above then gives minus it.
Refunding money to a card is Stripe's business (another issue), not this function's.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.models import Customer
from billing.pricing.money import is_rounded, round_amount
from config.errors import Conflict, ErrorCode, NotFound, ValidationFailed
from invoicing.models import BalanceTransaction, CreditNote, Invoice, InvoiceStatus
from invoicing.services.documents import CREDIT_NOTE_PREFIX, document_number, document_year

log = structlog.get_logger(__name__)

ZERO = Decimal(0)
CREDITABLE_STATUSES = (InvoiceStatus.OPEN, InvoiceStatus.PAID)


def invoice_credited(*, invoice: Invoice) -> Decimal:
    """What the invoice's credit notes add up to (what ``credit_note_create`` keeps in ``amount_credited``)."""
    value = CreditNote.objects.filter(invoice=invoice).aggregate(s=Sum("amount"))["s"]
    return round_amount(Decimal(value or 0), invoice.currency)


def invoice_creditable(*, invoice: Invoice) -> Decimal:
    """What is left creditable on the invoice: its total minus its credit notes (never below 0)."""
    left = round_amount(Decimal(invoice.total), invoice.currency) - invoice_credited(invoice=invoice)
    return max(left, ZERO)


def credit_note_create(
    *,
    invoice_id: int,
    amount: Decimal,
    reason: str,
    user: Any = None,
    at: datetime | None = None,
    refund: bool = False,
) -> CreditNote:
    """Credit ``amount`` of an open or paid invoice (see the module docs for where it goes).

    Raises ``ValidationFailed`` on ``amount`` (not positive, more places than the currency has, above
    what is creditable) or ``reason`` (empty); ``Conflict`` on ``invoice`` for a draft, void or
    uncollectible invoice; ``NotFound`` for an unknown invoice. Writes nothing when it raises.

    ``refund=True`` (``invoicing.services.payment_refunds``): the money goes back to the payer, so the
    credit neither reduces what is due nor reaches the credit balance: it lowers ``amount_paid`` (net of
    refunds) by the same amount, and ``amount_due`` stays as it was.
    """
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise ValidationFailed("Must be a decimal amount.", field="amount")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why the invoice is credited.", field="reason", code=ErrorCode.REQUIRED)
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().filter(pk=invoice_id).first()
        if invoice is None:
            raise NotFound(f"No invoice with id {invoice_id}.", field="invoice")
        name = invoice.number or f"draft #{invoice.pk}"
        if invoice.status not in CREDITABLE_STATUSES:
            hint = " Finalize it first, or change the draft." if invoice.status == InvoiceStatus.DRAFT else ""
            raise Conflict(
                f"Invoice {name} is {invoice.status}: only an open or paid invoice can be credited.{hint}",
                field="invoice",
                code=ErrorCode.INVALID_STATE,
            )
        currency = invoice.currency
        if amount <= 0:
            raise ValidationFailed(
                "A credit note's amount must be positive.", field="amount", code=ErrorCode.NEGATIVE_AMOUNT
            )
        if not is_rounded(amount, currency):
            raise ValidationFailed(
                f"{amount} has more decimal places than {currency} allows.", field="amount"
            )
        amount = round_amount(amount, currency)
        creditable = invoice_creditable(invoice=invoice)
        if amount > creditable:
            raise ValidationFailed(
                f"{amount} {currency} is more than the {creditable} {currency} left creditable on invoice "
                f"{name}.",
                field="amount",
            )
        issued_at = at or timezone.now()
        note = CreditNote.objects.create(
            number=document_number(kind=CREDIT_NOTE_PREFIX, year=document_year(issued_at)),
            invoice=invoice,
            customer_id=invoice.customer_id,
            currency=currency,
            amount=amount,
            reason=reason,
            issued_at=issued_at,
            created_by=user if getattr(user, "pk", None) else None,
        )
        due = Decimal(invoice.amount_due)
        reduces_due = min(amount, due) if invoice.status == InvoiceStatus.OPEN and due > 0 else ZERO
        if refund:
            reduces_due = ZERO
        to_balance = ZERO if refund else amount - reduces_due
        invoice.amount_credited = round_amount(Decimal(invoice.amount_credited) + amount, currency)
        fields = ["amount_credited", "updated_at"]
        if refund:
            invoice.amount_paid = round_amount(Decimal(invoice.amount_paid) - amount, currency)
            fields.append("amount_paid")
        if reduces_due:
            invoice.amount_due = round_amount(due - reduces_due, currency)
            fields.append("amount_due")
            if invoice.amount_due == 0:
                invoice.status = InvoiceStatus.PAID
                invoice.paid_at = issued_at
                fields += ["status", "paid_at"]
        invoice.save(update_fields=fields)
        if to_balance:
            customer = Customer.objects.select_for_update().get(pk=invoice.customer_id)
            BalanceTransaction.objects.create(
                customer=customer,
                currency=currency,
                amount=-to_balance,
                invoice=invoice,
                credit_note=note,
                description=f"Credit note {note.number} for invoice {invoice.number}",
            )
        log.info(
            "credit_note.created",
            credit_note_id=note.pk,
            number=note.number,
            invoice_id=invoice.pk,
            customer_id=invoice.customer_id,
            amount=str(amount),
            reduced_amount_due=str(reduces_due),
            to_balance=str(to_balance),
            user_id=getattr(user, "pk", None),
        )
        return note
