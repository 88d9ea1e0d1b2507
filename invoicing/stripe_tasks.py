"""Celery tasks of the Stripe integration: thin wrappers around the services; ids in, may run twice.

Loaded by workers through ``CELERY_IMPORTS`` (settings) and by services through
``config.tasks_queue.task_enqueue`` (by name).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.utils import timezone

from invoicing.services import stripe_outbox, stripe_reconciliation, stripe_webhooks


@shared_task(bind=True, acks_late=True, ignore_result=True)
def stripe_outbox_deliver(self: Any, outbox_id: int) -> str:
    """One attempt at an outbox row; a failed attempt is tried again after the row's backoff."""
    row = stripe_outbox.stripe_outbox_deliver(outbox_id=outbox_id)
    if row is None:
        return "skipped"
    if row.next_attempt_at is not None and not self.request.is_eager:
        # eager (the demo, tests): no wait in the caller's request; the beat sweep tries again
        # a second late rather than early: an attempt before next_attempt_at is skipped as backing off
        countdown = max((row.next_attempt_at - timezone.now()).total_seconds(), 0) + 1
        stripe_outbox_deliver.apply_async((outbox_id,), countdown=countdown)
    return str(row.status)


@shared_task(ignore_result=True)
def stripe_outbox_sweep() -> dict[str, int]:
    """Celery beat, every minute: deliver due rows (retries, lost messages), re-apply failed events."""
    due = stripe_outbox.stripe_outbox_due()
    for outbox_id in due:
        stripe_outbox_deliver.delay(outbox_id)
    events = stripe_webhooks.stripe_events_to_retry()
    for event_id in events:
        stripe_event_apply.delay(event_id)
    return {"outbox": len(due), "events": len(events)}


@shared_task(acks_late=True, ignore_result=True)
def stripe_event_apply(event_id: int) -> str:
    """Apply a stored webhook event from the object's current state in Stripe."""
    row = stripe_webhooks.stripe_event_apply(event_id=event_id)
    return "skipped" if row is None else str(row.status)


@shared_task(ignore_result=True)
def stripe_reconcile_daily() -> dict[str, int]:
    """Celery beat, daily: compare invoices and payments with Stripe, keep and log every mismatch."""
    report = stripe_reconciliation.stripe_reconcile()
    return {"checked": report.checked, "mismatches": len(report.mismatches)}
