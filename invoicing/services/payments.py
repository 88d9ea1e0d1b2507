"""Payments recorded on an invoice: open or uncollectible -> paid when nothing is due any more.

Like every invoice state change it runs in ``transaction.atomic()``, locks the invoice row first and
re-checks its state after locking (``finalization.invoice_lock``). A paid invoice stops its dunning and
queues its PAID-stamped PDF after commit.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import structlog
from django.db import IntegrityError, transaction

from billing.pricing.money import is_rounded, round_amount
from config.errors import Conflict, ErrorCode, ValidationFailed
from invoicing.models import InvoiceStatus, Payment
from invoicing.services.dunning import dunning_resolve
from invoicing.services.finalization import invoice_lock, invoice_state_error
from invoicing.services.invoice_documents import invoice_documents_queue

log = structlog.get_logger(__name__)


def invoice_record_payment(
    *,
    invoice_id: int,
    amount: Decimal,
    at: datetime,
    method: str = Payment.Method.OTHER,
    reference: str = "",
    stripe_payment_intent: str = "",
) -> Payment:
    """Record a successful payment on an open or uncollectible invoice; fully paid -> ``paid``.

    With a ``reference`` (e.g. a bank transfer id or a PaymentIntent id) the call is idempotent: the
    same (method, reference) returns the payment recorded the first time. A payment above what is due
    is refused (400 on ``amount``).
    """
    if not isinstance(amount, Decimal):
        raise ValidationFailed("Must be a decimal amount.", field="amount")
    with transaction.atomic():
        invoice = invoice_lock(invoice_id)
        if reference:
            existing = Payment.objects.filter(
                method=method, reference=reference, status=Payment.Status.SUCCEEDED
            ).first()
            if existing is not None:
                if existing.invoice_id != invoice.pk:
                    raise Conflict(
                        f"Payment {method}/{reference} was recorded on another invoice.", field="reference"
                    )
                return existing
        if invoice.status not in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE):
            raise invoice_state_error(invoice, "paid")
        currency = invoice.currency
        if amount <= 0:
            raise ValidationFailed(
                "A payment must be positive.", field="amount", code=ErrorCode.NEGATIVE_AMOUNT
            )
        if not is_rounded(amount, currency):
            raise ValidationFailed(
                f"{amount} has more decimal places than {currency} allows.", field="amount"
            )
        if amount > invoice.amount_due:
            raise ValidationFailed(
                f"{amount} is more than the {round_amount(Decimal(invoice.amount_due), currency)} {currency} "
                f"due on invoice {invoice.number}.",
                field="amount",
            )
        try:
            with transaction.atomic():
                payment = Payment.objects.create(
                    invoice=invoice,
                    currency=currency,
                    amount=amount,
                    status=Payment.Status.SUCCEEDED,
                    method=method,
                    reference=reference,
                    stripe_payment_intent=stripe_payment_intent,
                    occurred_at=at,
                )
        except IntegrityError as exc:  # the same reference recorded concurrently on another invoice
            raise Conflict(f"Payment {method}/{reference} was recorded already.", field="reference") from exc
        invoice.amount_paid = round_amount(Decimal(invoice.amount_paid) + amount, currency)
        invoice.amount_due = round_amount(Decimal(invoice.amount_due) - amount, currency)
        fields = ["amount_paid", "amount_due", "updated_at"]
        if invoice.amount_due == 0:
            invoice.status = InvoiceStatus.PAID
            invoice.paid_at = at
            fields += ["status", "paid_at"]
        invoice.save(update_fields=fields)
        if invoice.status == InvoiceStatus.PAID:
            dunning_resolve(invoice=invoice)
            invoice_documents_queue(invoice_ids=[invoice.pk])  # the PAID-stamped PDF, after commit
        log.info(
            "invoice.payment_recorded",
            invoice_id=invoice.pk,
            customer_id=invoice.customer_id,
            number=invoice.number,
            payment_id=payment.pk,
            amount=str(amount),
            amount_due=str(invoice.amount_due),
            status=invoice.status,
        )
        return payment
