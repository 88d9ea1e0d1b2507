"""Invoice state changes: finalize (number, snapshot, PDF), void, mark uncollectible, record a payment.

Every function here runs in ``transaction.atomic()``, locks the invoice row first (then, where the
credit balance moves, the customer row: always in that order, so two of these never deadlock) and
re-checks the state after locking.

Finalization (DESIGN.md "How data flows" step 3), all in one transaction:

1. the draft's totals are recomputed from its lines (``invoice_recalculate``);
2. the customer's credit balance is applied after tax: ``credits_applied = min(balance, total)``,
   recorded as a ``BalanceTransaction`` of ``+credits_applied`` (credit consumed);
3. a **credit invoice** (``total < 0``, e.g. a cancellation credit bigger than the usage) moves its
   negative total to the customer's credit balance: ``credits_applied = total`` (a *negative* figure,
   "credited to the balance"), a ``BalanceTransaction`` of ``total`` (negative = credit owed to the
   customer), ``amount_due = 0``. So ``credits_applied`` is signed — positive: taken from the balance,
   negative: given to it — and ``amount_due = total - credits_applied - amount_paid`` holds exactly
   for every invoice at finalization (``amount_credited`` is 0 until a credit note is issued);
4. a gap-free number ``INV-<year>-000001`` from the locked ``NumberSequence`` row of the issue year;
5. ``issued_at`` (``at`` or now), ``due_at = issued_at + net_terms_days``, status ``open`` — or
   ``paid`` at once when nothing is due (credits covered it, or a zero/credit invoice);
6. the customer's billing details and the seller (``settings.RATECARD_SELLER``) copied onto it;
7. the PDF rendered from those snapshots and stored on the invoice.

Finalizing an invoice that is already finalized (open, paid, uncollectible) returns it unchanged, so
a retried task or a double click is harmless; a void invoice is a 409.

Voiding: ``open`` / ``uncollectible`` -> ``void``; the number stays (it is never reused). A draft
cannot be voided (409: delete it or finalize it first — a void document must have been issued); a
paid or partly paid invoice, or one with credit notes, cannot be voided either (409: issue a credit
note for what is left). Credits the invoice consumed go back to the customer's balance.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Customer
from billing.pricing.money import is_rounded, round_amount
from config.errors import Conflict, ErrorCode, NotFound, ValidationFailed
from invoicing.models import BalanceTransaction, Invoice, InvoiceStatus, Payment
from invoicing.services.documents import (
    INVOICE_PREFIX,
    customer_snapshot,
    document_number,
    document_year,
    seller_snapshot,
)
from invoicing.services.drafts import customer_credit_balance, invoice_recalculate
from invoicing.services.dunning import dunning_resolve
from invoicing.services.pdf import invoice_pdf
from invoicing.services.subscription_billing import refresh_draft_usage

log = structlog.get_logger(__name__)

ZERO = Decimal(0)
FINALIZED = (InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE)


def _locked_invoice(invoice_id: int) -> Invoice:
    invoice = Invoice.objects.select_for_update().filter(pk=invoice_id).first()
    if invoice is None:
        raise NotFound(f"No invoice with id {invoice_id}.", field="invoice")
    return invoice


def _state_error(invoice: Invoice, action: str, hint: str = "") -> Conflict:
    name = invoice.number or f"draft #{invoice.pk}"
    return Conflict(
        f"Invoice {name} is {invoice.status}: it cannot be {action}.{(' ' + hint) if hint else ''}",
        field="invoice",
        code=ErrorCode.INVALID_STATE,
    )


def invoice_finalize(*, invoice_id: int, at: datetime | None = None, user: Any = None) -> Invoice:
    """Finalize a draft: credits, number, dates, snapshots and PDF in one transaction (module docs).

    Idempotent for an invoice that is already finalized; ``Conflict`` (409) for a void one.
    """
    with transaction.atomic():
        invoice = _locked_invoice(invoice_id)
        if invoice.status in FINALIZED:
            return invoice
        if invoice.status != InvoiceStatus.DRAFT:
            raise _state_error(invoice, "finalized")
        # late usage that arrived inside the grace window lands on the draft before it is frozen
        refresh_draft_usage(invoice_id=invoice.pk)
        invoice.refresh_from_db()
        customer = Customer.objects.select_for_update().get(pk=invoice.customer_id)
        currency = invoice.currency
        balance = round_amount(customer_credit_balance(customer_id=customer.pk, currency=currency), currency)
        invoice = invoice_recalculate(invoice=invoice, credits_available=balance)
        total = Decimal(invoice.total)
        if total < 0:
            # a credit invoice: its negative total becomes credit on the customer's balance
            invoice.credits_applied = total
            invoice.amount_due = round_amount(total - total - Decimal(invoice.amount_paid), currency)
        issued_at = at or timezone.now()
        invoice.number = document_number(kind=INVOICE_PREFIX, year=document_year(issued_at))
        invoice.issued_at = issued_at
        invoice.due_at = issued_at + timedelta(days=invoice.net_terms_days)
        invoice.customer_snapshot = customer_snapshot(customer)
        invoice.seller_snapshot = seller_snapshot()
        if invoice.amount_due <= 0:
            invoice.status = InvoiceStatus.PAID
            invoice.paid_at = issued_at
        else:
            invoice.status = InvoiceStatus.OPEN
        credits_applied = Decimal(invoice.credits_applied)
        if credits_applied:
            BalanceTransaction.objects.create(
                customer=customer,
                currency=currency,
                amount=credits_applied,
                invoice=invoice,
                description=(
                    f"Applied to invoice {invoice.number}"
                    if credits_applied > 0
                    else f"Credit from invoice {invoice.number}"
                ),
            )
        # the PDF shows the figures above, so it is rendered last, before the one save
        invoice.customer = customer
        invoice.pdf = invoice_pdf(invoice=invoice)
        invoice.save()
        log.info(
            "invoice.finalized",
            invoice_id=invoice.pk,
            customer_id=invoice.customer_id,
            number=invoice.number,
            total=str(total),
            credits_applied=str(credits_applied),
            amount_due=str(invoice.amount_due),
            status=invoice.status,
            user_id=getattr(user, "pk", None),
        )
        return invoice


def invoice_void(*, invoice_id: int, at: datetime | None = None, user: Any = None) -> Invoice:
    """Void an open or uncollectible invoice; it keeps its number. Idempotent for a void invoice."""
    with transaction.atomic():
        invoice = _locked_invoice(invoice_id)
        if invoice.status == InvoiceStatus.VOID:
            return invoice
        if invoice.status == InvoiceStatus.DRAFT:
            raise _state_error(invoice, "voided", "Delete the draft or finalize it first.")
        if invoice.status == InvoiceStatus.PAID:
            raise _state_error(invoice, "voided", "Issue a credit note instead.")
        if invoice.amount_paid > 0:
            raise _state_error(invoice, "voided", "It is partly paid: issue a credit note instead.")
        if invoice.credit_notes.exists():
            raise _state_error(invoice, "voided", "It has credit notes: credit what is left instead.")
        credits_applied = Decimal(invoice.credits_applied)
        if credits_applied:
            customer = Customer.objects.select_for_update().get(pk=invoice.customer_id)
            BalanceTransaction.objects.create(
                customer=customer,
                currency=invoice.currency,
                amount=-credits_applied,
                invoice=invoice,
                description=f"Returned from voided invoice {invoice.number}",
            )
        invoice.status = InvoiceStatus.VOID
        invoice.voided_at = at or timezone.now()
        invoice.amount_due = ZERO
        invoice.save(update_fields=["status", "voided_at", "amount_due", "updated_at"])
        log.info(
            "invoice.voided",
            invoice_id=invoice.pk,
            customer_id=invoice.customer_id,
            number=invoice.number,
            credits_returned=str(credits_applied),
            user_id=getattr(user, "pk", None),
        )
        return invoice


def invoice_mark_uncollectible(*, invoice_id: int, at: datetime | None = None, user: Any = None) -> Invoice:
    """An open invoice nobody expects to be paid: ``uncollectible`` (it can still be paid or voided)."""
    with transaction.atomic():
        invoice = _locked_invoice(invoice_id)
        if invoice.status == InvoiceStatus.UNCOLLECTIBLE:
            return invoice
        if invoice.status != InvoiceStatus.OPEN:
            raise _state_error(invoice, "marked uncollectible")
        invoice.status = InvoiceStatus.UNCOLLECTIBLE
        invoice.marked_uncollectible_at = at or timezone.now()
        invoice.save(update_fields=["status", "marked_uncollectible_at", "updated_at"])
        log.info(
            "invoice.marked_uncollectible",
            invoice_id=invoice.pk,
            customer_id=invoice.customer_id,
            number=invoice.number,
            amount_due=str(invoice.amount_due),
            user_id=getattr(user, "pk", None),
        )
        return invoice


def invoice_record_payment(
    *,
    invoice_id: int,
    amount: Decimal,
    at: datetime,
    method: str = "manual",
    reference: str = "",
) -> Payment:
    """Record a successful payment on an open or uncollectible invoice; fully paid -> ``paid``.

    With a ``reference`` (e.g. a bank transfer id or a PaymentIntent id) the call is idempotent: the
    same (method, reference) returns the payment recorded the first time. A payment above what is due
    is refused (400 on ``amount``).
    """
    if not isinstance(amount, Decimal):
        raise ValidationFailed("Must be a decimal amount.", field="amount")
    with transaction.atomic():
        invoice = _locked_invoice(invoice_id)
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
            raise _state_error(invoice, "paid")
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
