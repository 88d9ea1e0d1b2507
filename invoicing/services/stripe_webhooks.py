"""Stripe's webhook events: stored once, applied by a task from the object's current state.

``stripe_event_store`` (the webhook view, after ``invoicing.stripe.client.event_verify`` checked the
signature) writes the event once by its Stripe id — the ledger of processed events: a redelivery finds
the row and changes nothing — and queues ``stripe_event_apply`` after commit, so the view answers fast.

``stripe_event_apply`` does not trust the event's copy of the object: it fetches the PaymentIntent
as it is now and applies that (``payments.stripe_payment_intent_apply``), so an older event arriving
after a newer one, or the same event twice, leaves the state the newest one left. Refunds
(``charge.refunded``) are read from Stripe's list of the PaymentIntent's refunds. Disputes come from
the event itself (localstripe has no dispute API) and a dispute's status only moves to a newer event's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.tasks_queue import task_enqueue
from invoicing.models import Invoice, Payment, PaymentDispute, StripeEvent
from invoicing.services.payment_outcomes import intent_charge, stripe_payment_intent_apply
from invoicing.services.payment_refunds import stripe_refunds_apply
from invoicing.stripe import client as stripe_client
from invoicing.stripe.amounts import amount_from_stripe
from invoicing.stripe_monitoring import webhook_lag_observe

log = structlog.get_logger(__name__)

APPLY_TASK = "invoicing.stripe_tasks.stripe_event_apply"
PAYMENT_INTENT_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "payment_intent.processing",
)
CHARGE_EVENTS = ("charge.succeeded", "charge.failed", "charge.refunded", "charge.refund.updated")
# an event that keeps failing stays failed in the admin after this many attempts
MAX_APPLY_ATTEMPTS = 10
DISPUTE_EVENTS = ("charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed")


def _when(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _queue_apply(event_id: int) -> None:
    def send() -> None:
        try:
            task_enqueue(APPLY_TASK, event_id)
        except Exception as exc:  # the broker is away: the sweep applies received events later
            log.warning("stripe_event.not_queued", event_id=event_id, error=str(exc))

    transaction.on_commit(send)


def stripe_event_store(*, event: dict[str, Any]) -> tuple[StripeEvent, bool]:
    """Store a verified event once (by Stripe's id) and apply it after commit; (row, created)."""
    obj = (event.get("data") or {}).get("object") or {}
    row = StripeEvent(
        stripe_id=event["id"],
        type=str(event.get("type", "")),
        object_id=str(obj.get("id", "")),
        payload=event,
        stripe_created=_when(event.get("created")),
    )
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        return StripeEvent.objects.get(stripe_id=event["id"]), False
    _queue_apply(row.pk)
    log.info("stripe_event.received", event_id=row.stripe_id, type=row.type, object_id=row.object_id)
    return row, True


def _intent_id_of(event_type: str, obj: dict[str, Any]) -> str:
    if event_type.startswith("payment_intent."):
        return str(obj.get("id", ""))
    return str(obj.get("payment_intent") or "")


def _apply_intent(intent_id: str, *, with_refunds: bool) -> str:
    intent = stripe_client.payment_intent_retrieve(payment_intent_id=intent_id)
    outcome = stripe_payment_intent_apply(intent=intent)
    if with_refunds:
        charge = intent_charge(intent) or {}
        refunded = int(charge.get("amount_refunded") or 0)
        if refunded or not charge:
            refunds = stripe_client.refunds_list(payment_intent_id=intent_id).get("data") or []
            outcome += f", {stripe_refunds_apply(payment_intent_id=intent_id, refunds=refunds)} refund(s)"
    return outcome


def _apply_dispute(obj: dict[str, Any], event_at: datetime) -> str:
    intent_id = str(obj.get("payment_intent") or "")
    payment = None
    if intent_id:
        payment = (
            Payment.objects.filter(method=Payment.Method.STRIPE, reference=intent_id)
            .exclude(status=Payment.Status.FAILED)
            .first()
        )
    invoice_id = payment.invoice_id if payment else None
    if invoice_id is None and intent_id:
        invoice_id = (
            Invoice.objects.filter(stripe_payment_intent_id=intent_id).values_list("id", flat=True).first()
        )
    if invoice_id is None:
        return "no_invoice"
    currency = str(obj.get("currency", "")).upper() or Invoice.objects.get(pk=invoice_id).currency
    with transaction.atomic():
        dispute = PaymentDispute.objects.select_for_update().filter(stripe_dispute_id=obj["id"]).first()
        if dispute is not None and dispute.last_event_at > event_at:
            return "older"
        values = {
            "invoice_id": invoice_id,
            "payment": payment,
            "currency": currency,
            "amount": amount_from_stripe(int(obj.get("amount") or 0), currency),
            "reason": str(obj.get("reason") or ""),
            "status": str(obj.get("status") or "needs_response"),
            "last_event_at": event_at,
        }
        if dispute is None:
            PaymentDispute.objects.create(
                stripe_dispute_id=obj["id"], opened_at=_when(obj.get("created")) or event_at, **values
            )
        else:
            for name, value in values.items():
                setattr(dispute, name, value)
            dispute.save()
    log.warning("stripe.dispute", dispute_id=obj["id"], invoice_id=invoice_id, status=values["status"])
    return f"dispute {values['status']}"


def stripe_event_apply(*, event_id: int) -> StripeEvent | None:
    """Apply a stored event (module docs); None when another worker holds it or it is done. A failure
    (Stripe unreachable to fetch the object) is kept on the row, and the sweep tries again."""
    with transaction.atomic():
        row = (
            StripeEvent.objects.select_for_update(skip_locked=True)
            .filter(pk=event_id, status__in=[StripeEvent.Status.RECEIVED, StripeEvent.Status.FAILED])
            .first()
        )
        if row is None:
            return None
        row.attempts += 1
        obj = (row.payload.get("data") or {}).get("object") or {}
        try:
            with transaction.atomic():
                if row.type in PAYMENT_INTENT_EVENTS or row.type in CHARGE_EVENTS:
                    intent_id = _intent_id_of(row.type, obj)
                    outcome = (
                        _apply_intent(intent_id, with_refunds=row.type.startswith("charge.refund"))
                        if intent_id
                        else "no_payment_intent"
                    )
                    row.status = StripeEvent.Status.APPLIED
                elif row.type in DISPUTE_EVENTS:
                    outcome = _apply_dispute(obj, row.stripe_created or timezone.now())
                    row.status = StripeEvent.Status.APPLIED
                else:
                    outcome = "ignored"
                    row.status = StripeEvent.Status.IGNORED
        except Exception as exc:  # Stripe away, a bug: recorded, retried by the sweep
            row.status = StripeEvent.Status.FAILED
            row.last_error = f"{exc.__class__.__name__}: {exc}"[:2000]
            log.warning("stripe_event.failed", event_id=row.stripe_id, type=row.type, error=row.last_error)
        else:
            row.applied_at = timezone.now()
            row.last_error = ""
            webhook_lag_observe(
                event_type=row.type, stripe_created=row.stripe_created, applied_at=row.applied_at
            )
            log.info("stripe_event.applied", event_id=row.stripe_id, type=row.type, outcome=outcome)
        row.save()
        return row


def stripe_events_to_retry(*, limit: int = 200) -> list[int]:
    """Events whose last attempt failed, or that were never applied (a lost task message)."""
    stale = timezone.now() - timedelta(minutes=2)
    return list(
        StripeEvent.objects.filter(
            status__in=[StripeEvent.Status.RECEIVED, StripeEvent.Status.FAILED],
            received_at__lte=stale,
            attempts__lt=MAX_APPLY_ATTEMPTS,
        )
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
