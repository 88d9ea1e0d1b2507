"""Celery tasks: thin wrappers around the services. Ids in; every task may run twice safely.

Billing-run tasks are ``acks_late`` with ``reject_on_worker_lost``: a message is acknowledged only after
its task finished, and one whose pool process was killed (an out-of-memory kill) goes back to the queue.
Transient database and broker errors are retried with backoff; when the retries are spent, the chunk is
failed with its reason. Whatever still falls through (a message lost with the broker) the beat sweep
finds in the database and queues again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from celery import Task, shared_task
from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from config.transient import TRANSIENT_ERRORS
from invoicing.models import BillingRun
from invoicing.services import billing_chunks, billing_runs, billing_sweep
from invoicing.services.dunning import dunning_run
from invoicing.services.email_outbox import email_deliver, email_outbox_due
from invoicing.services.invoice_documents import invoice_documents_render
from invoicing.services.late_usage import drafts_usage_refresh

log = structlog.get_logger(__name__)

RECOVERING: dict[str, Any] = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,  # nobody reads results; publishing then needs the broker only
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 5,
}


def billing_run_enqueue(run_id: int) -> bool:
    """Queue a committed run; False when the broker is unreachable (the sweep starts the run later)."""
    try:
        run_billing.apply_async((run_id,), retry=False)
    except Exception as exc:  # the run row is the outbox: nothing is lost, the sweep queues it
        log.warning("billing_run.not_queued", run_id=run_id, error=f"{exc.__class__.__name__}: {exc}")
        return False
    return True


def billing_run_launch(*, as_of: datetime, user: Any = None) -> BillingRun:
    """Create a run and start it, the one way the API and the admin both use.

    Without a broker (eager Celery, the demo) the run has finished when this returns; with a worker the
    run is queued after commit (the committed run row is the outbox: if the broker is down the sweep
    queues it later). Raises the service's ``ValidationFailed`` for an ``as_of`` out of bounds.
    """
    run = billing_runs.billing_run_create(as_of=as_of, user=user)
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return billing_runs.billing_run_execute(run_id=run.pk)
    run_id = run.pk
    transaction.on_commit(lambda: billing_run_enqueue(run_id))
    return run


@shared_task(**RECOVERING)
def run_billing(run_id: int) -> dict[str, Any]:
    """Write a run's chunk rows and queue a task per chunk; the last chunk to finish closes the run."""
    indexes = billing_runs.billing_run_start(run_id=run_id)
    if indexes is None:
        # started already: this is a retry or a redelivery, maybe after queueing failed half-way;
        # queue again the chunks nobody took yet (a chunk queued twice is billed once)
        indexes = billing_runs.billing_run_untaken_chunks(run_id=run_id)
    if not indexes:
        billing_runs.billing_run_close(run_id=run_id)
        return {"run": run_id, "chunks": 0}
    for index in indexes:
        bill_chunk.delay(run_id, index)
    return {"run": run_id, "chunks": len(indexes)}


class ChunkTask(Task):  # type: ignore[misc]
    """Records why an attempt failed on the chunk row, and fails the chunk when retries are spent."""

    def on_retry(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # a connection the error left broken is replaced before the next attempt (a worker does this
        # before each task too; this covers retries run in the same process)
        close_old_connections()
        billing_chunks.billing_chunk_note_error(
            run_id=args[0], index=args[1], error=f"{exc.__class__.__name__}: {exc}"
        )

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        run_id, index = args[0], args[1]
        try:
            if billing_chunks.billing_chunk_fail(
                run_id=run_id, index=index, error=f"{exc.__class__.__name__}: {exc}"
            ):
                billing_runs.billing_run_close(run_id=run_id)
        except Exception as again:  # the database is away too: the sweep fails the chunk after its lease
            log.error("billing_run.chunk_fail_not_saved", run_id=run_id, chunk=index, error=str(again))


@shared_task(base=ChunkTask, **RECOVERING)
def bill_chunk(run_id: int, chunk_index: int, *_legacy: Any) -> dict[str, Any] | None:
    """Bill one chunk (one transaction, SKIP LOCKED); close the run after its last chunk."""
    outcome = billing_runs.billing_run_chunk(run_id=run_id, index=chunk_index)
    if outcome and outcome["follow_up"] is not None:
        # subscriptions a concurrent change held: try them again once it has had time to commit
        bill_chunk.apply_async(
            (run_id, outcome["follow_up"]), countdown=billing_chunks.deferred_retry_delay()
        )
    billing_runs.billing_run_close(run_id=run_id)
    return outcome


@shared_task(**{**RECOVERING, "max_retries": 2})
def billing_runs_sweep() -> dict[str, Any]:
    """Celery beat, every minute: queue again what was lost, close runs that are done (services docs)."""
    found = billing_sweep.billing_runs_sweep()
    for run_id in found.runs_to_start:
        run_billing.delay(run_id)
    for run_id, index in found.chunks_to_queue:
        bill_chunk.delay(run_id, index)
    closed = [run_id for run_id in found.runs_to_close if billing_runs.billing_run_close(run_id=run_id)]
    return {
        "started": found.runs_to_start,
        "queued": [list(c) for c in found.chunks_to_queue],
        "closed": closed,
    }


@shared_task
def scheduled_billing_run(as_of: str | None = None) -> int:
    """Celery beat's entry point: a run as of now (the scheduler's clock is the business time here)."""
    when = datetime.fromisoformat(as_of) if as_of else timezone.now()
    with transaction.atomic():
        run = billing_runs.billing_run_create(as_of=when)
        transaction.on_commit(lambda: billing_run_enqueue(run.pk))
    return run.pk


@shared_task
def scheduled_dunning(as_of: str | None = None) -> int:
    """Celery beat: take the dunning steps that are due."""
    return dunning_run(as_of=datetime.fromisoformat(as_of) if as_of else timezone.now())


@shared_task(acks_late=True)
def render_invoice_documents(invoice_ids: list[int]) -> int:
    """After a finalization, payment or void commits: store each invoice's current PDF (once)."""
    return invoice_documents_render(invoice_ids=invoice_ids)


@shared_task(bind=True, acks_late=True, max_retries=None)
def send_email(self: Any, outbox_id: int) -> str:
    """Send one outbox row; a failed attempt is retried with the row's backoff (the row counts them)."""
    row = email_deliver(outbox_id=outbox_id)
    if row is None:
        return "skipped"
    if row.next_attempt_at is not None and not self.request.is_eager:
        # eager (the demo, tests): no retry in the caller's request; the beat sweep retries instead
        raise self.retry(countdown=max((row.next_attempt_at - timezone.now()).total_seconds(), 1))
    return str(row.status)


@shared_task(bind=True, acks_late=True)
def send_emails(self: Any, outbox_ids: list[int]) -> dict[str, int]:
    """Send a batch of outbox rows (a billing run's invoices: one message per batch, not per e-mail); a
    row whose attempt failed is retried on its own with its backoff, as ``send_email`` does."""
    outcomes: dict[str, int] = {}
    for outbox_id in outbox_ids:
        row = email_deliver(outbox_id=outbox_id)
        outcome = "skipped" if row is None else str(row.status)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if row is not None and row.next_attempt_at is not None and not self.request.is_eager:
            countdown = max((row.next_attempt_at - timezone.now()).total_seconds(), 1)
            send_email.apply_async((outbox_id,), countdown=countdown)
    return outcomes


@shared_task
def email_outbox_sweep() -> int:
    """Celery beat: send the pending e-mails whose next attempt is due (retries, lost messages)."""
    due = email_outbox_due()
    for outbox_id in due:
        send_email.delay(outbox_id)
    return len(due)


@shared_task(acks_late=True)
def refresh_drafts_usage(invoice_ids: list[int]) -> int:
    """Late usage inside the grace window: re-rate the drafts it belongs to (a rerun changes nothing)."""
    return drafts_usage_refresh(invoice_ids=invoice_ids)
