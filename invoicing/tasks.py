"""Celery tasks: thin wrappers around the services. Ids in; every task may run twice safely."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from celery import shared_task
from django.utils import timezone

from invoicing.services import billing_runs


@shared_task(acks_late=True)
def run_billing(run_id: int) -> dict[str, Any]:
    """Split a billing run into chunk tasks; the last chunk to finish closes the run."""
    chunks = billing_runs.billing_run_start(run_id=run_id)
    if chunks is None:
        return {"run": run_id, "chunks": "already started"}
    if not chunks:
        run = billing_runs.billing_run_finish(run_id=run_id)
        return {"run": run.pk, "chunks": 0}
    for index, ids in enumerate(chunks):
        bill_chunk.delay(run_id, index, ids)
    return {"run": run_id, "chunks": len(chunks)}


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def bill_chunk(run_id: int, chunk_index: int, subscription_ids: list[int]) -> dict[str, int]:
    """Bill one chunk (one transaction, SKIP LOCKED); close the run after its last chunk."""
    counts = billing_runs.billing_run_chunk(run_id=run_id, subscription_ids=subscription_ids)
    if billing_runs.billing_run_chunk_done(run_id=run_id, chunk_index=chunk_index):
        billing_runs.billing_run_finish(run_id=run_id)
    return counts


@shared_task
def scheduled_billing_run(as_of: str | None = None) -> int:
    """Celery beat's entry point: a run as of now (the scheduler's clock is the business time here)."""
    when = datetime.fromisoformat(as_of) if as_of else timezone.now()
    run = billing_runs.billing_run_create(as_of=when)
    run_billing.delay(run.pk)
    return run.pk


@shared_task
def scheduled_dunning(as_of: str | None = None) -> int:
    """Celery beat: take the dunning steps that are due."""
    from invoicing.services.dunning import dunning_run

    return dunning_run(as_of=datetime.fromisoformat(as_of) if as_of else timezone.now())


@shared_task(acks_late=True)
def render_invoice_documents(invoice_ids: list[int]) -> int:
    """After a finalization, payment or void commits: store each invoice's current PDF (once)."""
    from invoicing.services.invoice_documents import invoice_documents_render

    return invoice_documents_render(invoice_ids=invoice_ids)


@shared_task(bind=True, acks_late=True, max_retries=None)
def send_email(self: Any, outbox_id: int) -> str:
    """Send one outbox row; a failed attempt is retried with the row's backoff (the row counts them)."""
    from invoicing.services.email_outbox import email_deliver

    row = email_deliver(outbox_id=outbox_id)
    if row is None:
        return "skipped"
    if row.next_attempt_at is not None and not self.request.is_eager:
        # eager (the demo, tests): no retry in the caller's request; the beat sweep retries instead
        raise self.retry(countdown=max((row.next_attempt_at - timezone.now()).total_seconds(), 1))
    return str(row.status)


@shared_task
def email_outbox_sweep() -> int:
    """Celery beat: send the pending e-mails whose next attempt is due (retries, lost messages)."""
    from invoicing.services.email_outbox import email_outbox_due

    due = email_outbox_due()
    for outbox_id in due:
        send_email.delay(outbox_id)
    return len(due)


@shared_task(acks_late=True)
def refresh_drafts_usage(invoice_ids: list[int]) -> int:
    """Late usage inside the grace window: re-rate the drafts it belongs to (a rerun changes nothing)."""
    from invoicing.services.late_usage import drafts_usage_refresh

    return drafts_usage_refresh(invoice_ids=invoice_ids)
