"""Dunning: what happens after a payment fails, on a schedule, until the invoice is paid.

A failed payment marks the invoice past due and starts the schedule (``RATECARD_DUNNING_SCHEDULE_DAYS``,
e.g. reminders 3, 7 and 14 days after the failure). Each step e-mails the customer once. After the last
step the customer's subscriptions on that invoice become ``past_due``, or are canceled, per
``RATECARD_DUNNING_FINAL_ACTION``. Paying late restores ``past_due`` subscriptions to ``active``.
Steps are idempotent: the step number is advanced under a row lock, and each step's reminder is an
outbox row unique per (invoice, ``dunning``, step) written in the same transaction and sent after it
commits, so a rollback sends nothing and a task that runs twice sends nothing twice.

Each step of a ``charge_automatically`` customer with a default card also tries the card again: a new
collection attempt through the Stripe outbox (``stripe_sync.invoice_collect_retry``: the next key
``invoice-<id>-payment-<n>``, a new PaymentIntent after commit), none while an earlier attempt may still
take the money. Its success marks the invoice paid and restores the subscriptions, as any payment does.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import transaction

from billing.models import Subscription, SubscriptionStatus
from billing.services.subscription_status import (
    subscription_cancel_at_period_end,
    subscriptions_past_due_clear,
    subscriptions_past_due_set,
)
from config.errors import Conflict, ErrorCode
from invoicing.models import EmailOutbox, Invoice, InvoiceLine, InvoiceStatus
from invoicing.services.documents import amount_for_customer, invoice_recipients
from invoicing.services.email_outbox import email_queue
from invoicing.services.stripe_sync import invoice_collect_retry

log = structlog.get_logger(__name__)


def schedule_days() -> list[int]:
    return sorted(int(d) for d in getattr(settings, "RATECARD_DUNNING_SCHEDULE_DAYS", [3, 7, 14]))


def final_action() -> str:
    return str(getattr(settings, "RATECARD_DUNNING_FINAL_ACTION", "past_due"))


def invoice_payment_failed(*, invoice_id: int, at: datetime, reason: str = "") -> Invoice:
    """Record a failed payment: the invoice is past due and its dunning schedule starts (once)."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        if invoice.status != InvoiceStatus.OPEN:
            raise Conflict(
                f"Invoice {invoice} is {invoice.status}; only an open invoice can fail to be paid.",
                code=ErrorCode.INVALID_STATE,
            )
        if invoice.payment_failed_at is None:
            invoice.payment_failed_at = at
            invoice.dunning_step = 0
            days = schedule_days()
            invoice.next_dunning_at = at + timedelta(days=days[0]) if days else None
            invoice.save(update_fields=["payment_failed_at", "dunning_step", "next_dunning_at", "updated_at"])
            log.warning(
                "invoice.payment_failed",
                invoice_id=invoice.pk,
                customer_id=invoice.customer_id,
                reason=reason,
            )
    return invoice


def _subscriptions_of(invoice: Invoice) -> list[int]:
    ids = set(
        InvoiceLine.objects.filter(invoice=invoice, subscription__isnull=False).values_list(
            "subscription_id", flat=True
        )
    )
    if invoice.subscription_id:
        ids.add(invoice.subscription_id)
    return sorted(ids)


def _remind(invoice: Invoice, step: int, total_steps: int) -> None:
    recipients = invoice_recipients(invoice.customer)
    if not recipients:
        return
    last = step == total_steps
    due = amount_for_customer(invoice, invoice.amount_due)  # as the invoice PDF shows it
    subject = f"{'Final notice' if last else 'Reminder'}: invoice {invoice.number} is past due"
    body = (
        f"Hello {invoice.customer.name},\n\n"
        f"we could not collect payment for invoice {invoice.number} ({due} due).\n"
        f"Please update your payment details or pay the invoice.\n"
        + ("This is the last reminder before your service is interrupted.\n" if last else "")
        + f"\n{settings.RATECARD_SELLER['name']}\n"
    )
    email_queue(
        invoice=invoice,
        kind=EmailOutbox.Kind.DUNNING,
        step=step,
        recipients=recipients,
        subject=subject,
        body=body,
    )


def dunning_run(*, as_of: datetime) -> int:
    """Take every due dunning step up to ``as_of``; return the number of steps taken."""
    days = schedule_days()
    taken = 0
    due = list(
        Invoice.objects.filter(status=InvoiceStatus.OPEN, next_dunning_at__lte=as_of)
        .order_by("id")
        .values_list("id", flat=True)
    )
    for invoice_id in due:
        with transaction.atomic():
            invoice = Invoice.objects.select_for_update().select_related("customer").get(pk=invoice_id)
            # re-check after the lock: another worker may have taken this step, or the invoice was paid
            if (
                invoice.status != InvoiceStatus.OPEN
                or invoice.next_dunning_at is None
                or invoice.next_dunning_at > as_of
            ):
                continue
            assert invoice.payment_failed_at is not None
            first_step = invoice.dunning_step + 1
            # a scheduler that was down catches up: every step that fell due is taken, in order
            while invoice.next_dunning_at is not None and invoice.next_dunning_at <= as_of:
                invoice.dunning_step += 1
                step = invoice.dunning_step
                _remind(invoice, step, len(days))
                if step < len(days):
                    invoice.next_dunning_at = invoice.payment_failed_at + timedelta(days=days[step])
                else:
                    invoice.next_dunning_at = None
                    _final_step(invoice, as_of)
                taken += 1
                log.info("dunning.step", invoice_id=invoice.pk, customer_id=invoice.customer_id, step=step)
            invoice.save(update_fields=["dunning_step", "next_dunning_at", "updated_at"])
            # the card is tried again: one new attempt, however many steps the catch-up took
            invoice_collect_retry(
                invoice_id=invoice.pk,
                reason=f"dunning step {first_step}-{invoice.dunning_step}",
                needs_card=True,
            )
    return taken


def _final_step(invoice: Invoice, as_of: datetime) -> None:
    sub_ids = _subscriptions_of(invoice)
    if final_action() == "cancel":
        live = Subscription.objects.filter(pk__in=sub_ids).exclude(status=SubscriptionStatus.CANCELED)
        for sub_id in sorted(live.values_list("pk", flat=True)):
            subscription_cancel_at_period_end(subscription_id=sub_id)
        log.warning("dunning.subscriptions_canceled", invoice_id=invoice.pk, subscriptions=sub_ids)
        return
    subscriptions_past_due_set(subscription_ids=sub_ids, at=as_of)
    log.warning("dunning.subscriptions_past_due", invoice_id=invoice.pk, subscriptions=sub_ids)


def dunning_resolve(*, invoice: Invoice) -> None:
    """After an invoice is paid: stop its dunning and restore its past-due subscriptions if nothing else is
    owed. ``invoice`` is the caller's locked row; the change is saved through it, so history records it."""
    if invoice.next_dunning_at is not None:
        invoice.next_dunning_at = None
        invoice.save(update_fields=["next_dunning_at", "updated_at"])
    for sub_id in _subscriptions_of(invoice):
        still_failing = (
            Invoice.objects.filter(
                status=InvoiceStatus.OPEN, payment_failed_at__isnull=False, lines__subscription_id=sub_id
            )
            .exclude(pk=invoice.pk)
            .exists()
        )
        if not still_failing:
            subscriptions_past_due_clear(subscription_ids=[sub_id])
