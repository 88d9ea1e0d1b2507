"""Refunds: money given back on a payment, always with a credit note that corrects the invoice.

``payment_refund`` (API.md ``POST /payments/{id}/refund``) in one transaction: a credit note for the
amount (``refund=True``: it lowers the invoice's ``amount_paid`` instead of reaching the credit
balance, so ``amount_due = total - credits_applied - amount_credited - amount_paid`` still holds), a
``Refund`` row, the payment's ``amount_refunded`` (``refunded`` once all of it is back) and, for a
card payment, an outbox row that creates the Stripe refund after commit (Idempotency-Key
``refund-<id>``, our refund id in its metadata).

``stripe_refunds_apply``: refunds made in Stripe itself (the dashboard) reach us by ``charge.refunded``
or the reconciliation: each Stripe refund we do not know (by its id, or ours in its metadata) gets the
same credit note and refund row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone

from billing.pricing.money import is_rounded, round_amount
from config.errors import Conflict, ErrorCode, NotFound, ValidationFailed
from invoicing.models import CreditNote, Invoice, Payment, Refund, StripeOutbox
from invoicing.services.credit_notes import credit_note_create
from invoicing.services.stripe_outbox import stripe_outbox_handler, stripe_outbox_queue
from invoicing.stripe import client as stripe_client
from invoicing.stripe.amounts import amount_from_stripe, stripe_amount

log = structlog.get_logger(__name__)


def _refund_locked(
    payment: Payment,
    *,
    amount: Decimal,
    reason: str,
    at: datetime,
    user: Any,
    stripe_refund_id: str | None,
) -> tuple[CreditNote, Refund]:
    currency = payment.currency
    if payment.status not in (Payment.Status.SUCCEEDED,):
        raise Conflict(
            f"Payment {payment.pk} is {payment.status}: only a succeeded payment can be refunded.",
            field="payment",
            code=ErrorCode.INVALID_STATE,
        )
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0:
        raise ValidationFailed(
            "A refund must be a positive amount.", field="amount", code=ErrorCode.NEGATIVE_AMOUNT
        )
    if not is_rounded(amount, currency):
        raise ValidationFailed(f"{amount} has more decimal places than {currency} allows.", field="amount")
    left = round_amount(Decimal(payment.amount) - Decimal(payment.amount_refunded), currency)
    if amount > left:
        raise ValidationFailed(
            f"{amount} {currency} is more than the {left} {currency} left to refund on this payment.",
            field="amount",
        )
    note = credit_note_create(
        invoice_id=payment.invoice_id, amount=amount, reason=reason, user=user, at=at, refund=True
    )
    card = payment.method == Payment.Method.STRIPE and bool(
        payment.stripe_payment_intent or payment.reference
    )
    refund = Refund.objects.create(
        payment=payment,
        invoice_id=payment.invoice_id,
        credit_note=note,
        currency=currency,
        amount=amount,
        reason=reason,
        status=Refund.Status.PENDING if card and not stripe_refund_id else Refund.Status.SUCCEEDED,
        stripe_refund_id=stripe_refund_id,
        refunded_at=at,
        created_by=user if getattr(user, "pk", None) else None,
    )
    payment.amount_refunded = round_amount(Decimal(payment.amount_refunded) + amount, currency)
    if payment.amount_refunded >= Decimal(payment.amount):
        payment.status = Payment.Status.REFUNDED
    payment.save(update_fields=["amount_refunded", "status"])
    log.info(
        "payment.refunded",
        payment_id=payment.pk,
        invoice_id=payment.invoice_id,
        refund_id=refund.pk,
        credit_note=note.number,
        amount=str(amount),
        stripe_refund_id=stripe_refund_id,
    )
    return note, refund


def payment_refund(
    *, payment_id: int, amount: Decimal, reason: str, at: datetime | None = None, user: Any = None
) -> tuple[CreditNote, Refund]:
    """Refund part or all of a succeeded payment (module docs). 400 on ``amount`` above what is left
    to refund, on ``reason`` when empty; 409 for a failed or fully refunded payment."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why the payment is refunded.", field="reason", code=ErrorCode.REQUIRED)
    with transaction.atomic():
        # the invoice first, then the payment: the lock order of every invoice write
        invoice_id = Payment.objects.filter(pk=payment_id).values_list("invoice_id", flat=True).first()
        if invoice_id is None:
            raise NotFound(f"No payment with id {payment_id}.", field="payment")

        Invoice.objects.select_for_update().get(pk=invoice_id)
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        note, refund = _refund_locked(
            payment, amount=amount, reason=reason, at=at or timezone.now(), user=user, stripe_refund_id=None
        )
        if refund.status == Refund.Status.PENDING:
            stripe_outbox_queue(
                kind=StripeOutbox.Kind.REFUND,
                key=f"refund-{refund.pk}",
                customer_id=payment.invoice.customer_id,
                invoice_id=payment.invoice_id,
                refund_id=refund.pk,
            )
        return note, refund


@stripe_outbox_handler(StripeOutbox.Kind.REFUND)
def _deliver_refund(row: StripeOutbox) -> None:
    assert row.refund_id is not None  # a refund row always names its refund
    refund = Refund.objects.select_for_update().select_related("payment").get(pk=row.refund_id)
    if refund.stripe_refund_id:
        row.stripe_id, row.outcome = refund.stripe_refund_id, "known"
        return
    payment = refund.payment
    created = stripe_client.refund_create(
        payment_intent_id=payment.stripe_payment_intent or payment.reference,
        amount=stripe_amount(Decimal(refund.amount), refund.currency),
        metadata={"ratecard_refund_id": str(refund.pk), "ratecard_invoice_id": str(refund.invoice_id)},
        idempotency_key=row.key,
    )
    refund.stripe_refund_id = created["id"]
    refund.status = (
        Refund.Status.SUCCEEDED if created.get("status") in ("succeeded", "pending") else Refund.Status.FAILED
    )
    refund.save(update_fields=["stripe_refund_id", "status"])
    row.stripe_id, row.outcome = created["id"], str(created.get("status", ""))


def stripe_refunds_apply(*, payment_intent_id: str, refunds: list[dict[str, Any]]) -> int:
    """Refunds Stripe reports on a PaymentIntent that Ratecard does not know yet: each gets a credit
    note and a refund row. Returns how many were new."""
    new = 0
    for item in sorted(refunds, key=lambda r: (r.get("created") or 0, r["id"])):
        if item.get("status") not in ("succeeded", "pending"):
            continue
        ours = (item.get("metadata") or {}).get("ratecard_refund_id")
        if Refund.objects.filter(stripe_refund_id=item["id"]).exists():
            continue
        if ours and str(ours).isdigit() and Refund.objects.filter(pk=int(ours)).exists():
            # our own refund whose outbox row has not saved Stripe's id yet: the same refund
            continue
        with transaction.atomic():
            payment = (
                Payment.objects.filter(method=Payment.Method.STRIPE, reference=payment_intent_id)
                .exclude(status=Payment.Status.FAILED)
                .first()
            )
            if payment is None:
                continue

            Invoice.objects.select_for_update().get(pk=payment.invoice_id)
            payment = Payment.objects.select_for_update().get(pk=payment.pk)
            at = (
                datetime.fromtimestamp(int(item["created"]), tz=UTC)
                if item.get("created")
                else timezone.now()
            )
            _refund_locked(
                payment,
                amount=amount_from_stripe(int(item["amount"]), payment.currency),
                reason=f"Refunded in Stripe ({item['id']})",
                at=at,
                user=None,
                stripe_refund_id=item["id"],
            )
            new += 1
    return new
