"""Payments: recorded by finance (transfers, checks), and reflected from Stripe's PaymentIntents.

- ``payment_record_manual``: money received outside Stripe, never above what is due (400 on ``amount``).
- ``payment_failed_record``: a failed payment row (Stripe's message kept) and, while the invoice is
  open, its dunning starts (``invoice_payment_failed``). One row per (method, reference): a report
  that comes twice records it once.
- ``stripe_payment_intent_apply``: what a PaymentIntent's *current* state says, applied to its invoice
  (found by our id in its metadata): ``succeeded`` -> a succeeded payment (the invoice paid when nothing
  is left due); a failure (``requires_payment_method`` with ``last_payment_error``) -> a failed payment
  and dunning. The webhook task and the reconciliation both call it with the PaymentIntent fetched from
  Stripe, so the order events arrive in does not matter and applying twice changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.errors import Conflict, ValidationFailed
from invoicing.models import Invoice, InvoiceStatus, Payment, ReconciliationMismatch
from invoicing.services.dunning import invoice_payment_failed
from invoicing.services.payments import invoice_record_payment
from invoicing.stripe.amounts import amount_from_stripe

log = structlog.get_logger(__name__)

MANUAL_METHODS = (Payment.Method.BANK_TRANSFER, Payment.Method.CHECK, Payment.Method.OTHER)


def payment_record_manual(
    *, invoice_id: int, amount: Decimal, method: str, reference: str, at: datetime | None = None
) -> Payment:
    """A bank transfer, check or other payment received outside Stripe (API.md, ``POST
    /invoices/{id}/payments``). 400 on ``method`` for ``stripe`` (card payments come from Stripe)."""
    if method not in MANUAL_METHODS:
        raise ValidationFailed(
            f"Must be one of {', '.join(MANUAL_METHODS)} (card payments are recorded from Stripe).",
            field="method",
        )
    return invoice_record_payment(
        invoice_id=invoice_id, amount=amount, at=at or timezone.now(), method=method, reference=reference
    )


def payment_failed_record(
    *,
    invoice_id: int,
    amount: Decimal,
    at: datetime,
    method: str,
    reference: str,
    failure_message: str,
    stripe_payment_intent: str = "",
) -> Payment:
    """Record a failed payment once per (method, reference); dunning starts while the invoice is open."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        payment = Payment.objects.filter(
            method=method, reference=reference, status=Payment.Status.FAILED
        ).first()
        if payment is None:
            try:
                with transaction.atomic():
                    payment = Payment.objects.create(
                        invoice=invoice,
                        currency=invoice.currency,
                        amount=amount,
                        status=Payment.Status.FAILED,
                        method=method,
                        reference=reference,
                        stripe_payment_intent=stripe_payment_intent,
                        failure_reason=failure_message[:255],
                        occurred_at=at,
                    )
            except IntegrityError:
                payment = Payment.objects.get(
                    method=method, reference=reference, status=Payment.Status.FAILED
                )
            log.warning(
                "payment.failed",
                invoice_id=invoice.pk,
                customer_id=invoice.customer_id,
                payment_id=payment.pk,
                reference=reference,
                failure_message=failure_message,
            )
        if invoice.status == InvoiceStatus.OPEN:
            invoice_payment_failed(invoice_id=invoice.pk, at=at, reason=failure_message)
        return payment


def _stripe_time(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else timezone.now()


def intent_invoice_id(intent: dict[str, Any]) -> int | None:
    """Our invoice id from a PaymentIntent's metadata, or from the invoice that records it."""
    raw = (intent.get("metadata") or {}).get("ratecard_invoice_id")
    if raw and str(raw).isdigit():
        return int(raw)
    return Invoice.objects.filter(stripe_payment_intent_id=intent["id"]).values_list("id", flat=True).first()


def intent_charge(intent: dict[str, Any]) -> dict[str, Any] | None:
    """The PaymentIntent's latest charge when Stripe expanded it (localstripe always does)."""
    charge = intent.get("latest_charge")
    return charge if isinstance(charge, dict) else None


def mismatch_note(
    *, kind: str, stripe_object_id: str, detail: str, invoice_id: int | None, resolved: bool
) -> None:
    """Keep a difference with Stripe for finance (admin) and the logs; one row per (kind, object)."""
    ReconciliationMismatch.objects.update_or_create(
        kind=kind,
        stripe_object_id=stripe_object_id,
        defaults={
            "invoice_id": invoice_id,
            "detail": detail,
            "resolved": resolved,
            "found_at": timezone.now(),
        },
    )
    log.warning(
        "stripe.mismatch",
        kind=kind,
        stripe_object_id=stripe_object_id,
        invoice_id=invoice_id,
        detail=detail,
        resolved=resolved,
    )


def stripe_payment_intent_apply(*, intent: dict[str, Any]) -> str:
    """Apply a PaymentIntent's current state to its invoice (module docs); returns what it did:
    ``paid``, ``recorded`` (a partial payment), ``failed``, ``known`` (nothing new), ``no_invoice``,
    ``pending`` (not final yet) or ``mismatch`` (kept as a ReconciliationMismatch)."""
    invoice_id = intent_invoice_id(intent)
    if invoice_id is None or not Invoice.objects.filter(pk=invoice_id).exists():
        return "no_invoice"
    status = intent.get("status")
    currency = str(intent.get("currency", "")).upper()
    charge = intent_charge(intent) or {}
    at = _stripe_time(charge.get("created") or intent.get("created"))
    if status == "succeeded":
        received = int(intent.get("amount_received") or intent.get("amount") or 0)
        amount = amount_from_stripe(received, currency)
        known = Payment.objects.filter(
            method=Payment.Method.STRIPE,
            reference=intent["id"],
            status__in=[Payment.Status.SUCCEEDED, Payment.Status.REFUNDED],
        ).exists()
        if known:
            return "known"
        try:
            invoice_record_payment(
                invoice_id=invoice_id,
                amount=amount,
                at=at,
                method=Payment.Method.STRIPE,
                reference=intent["id"],
                stripe_payment_intent=intent["id"],
            )
        except (Conflict, ValidationFailed) as exc:
            # paid here by other means, or more than is due: money finance must look at
            mismatch_note(
                kind=ReconciliationMismatch.Kind.AMOUNT_DIFFERS,
                stripe_object_id=intent["id"],
                detail=f"Stripe collected {amount} {currency}; Ratecard could not record it: {exc}",
                invoice_id=invoice_id,
                resolved=False,
            )
            return "mismatch"
        paid = Invoice.objects.filter(pk=invoice_id, status=InvoiceStatus.PAID).exists()
        return "paid" if paid else "recorded"
    error = intent.get("last_payment_error") or {}
    if status in ("requires_payment_method", "canceled") and error:
        if Payment.objects.filter(
            method=Payment.Method.STRIPE, reference=intent["id"], status=Payment.Status.FAILED
        ).exists():
            return "known"
        payment_failed_record(
            invoice_id=invoice_id,
            amount=amount_from_stripe(int(intent["amount"]), currency),
            at=at,
            method=Payment.Method.STRIPE,
            reference=intent["id"],
            failure_message=str(error.get("message") or error.get("code") or "The payment failed."),
            stripe_payment_intent=intent["id"],
        )
        return "failed"
    return "pending"
