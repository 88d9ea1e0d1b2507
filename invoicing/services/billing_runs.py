"""Billing runs: every subscription whose period ended by ``as_of`` is billed, in chunks, exactly once.

A run is a ``BillingRun`` row plus ``BillingRunChunk`` rows of a few hundred due subscriptions each
(billing_chunks.py: leases, exactly-once completion). Everything a run knows is in the database: the
broker only carries "bill chunk n" messages, and the sweep (``billing_runs_sweep``, Celery beat) queues
again what a killed worker, a dropped connection or a lost broker left behind, and closes runs. Closing
a run finalizes the drafts whose review window has passed and records the outcome once: ``completed``,
``completed_with_failures`` (subscriptions or drafts failed, subscriptions deferred) or ``failed`` (a
chunk gave up), with the reason.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from billing.models import Subscription
from billing.services.scheduled_changes import subscriptions_with_due_changes
from config.errors import ValidationFailed
from config.transient import is_transient
from invoicing.models import BillingRun, BillingRunChunk, BillingRunFailure, Invoice, InvoiceStatus
from invoicing.services.billing_chunks import (
    LIVE,
    OPEN,
    billing_chunk_bill,
    billing_chunk_claim,
    billing_chunk_fail,
    billing_chunks_renew,
    deferred_retry_delay,
    lease,
)
from invoicing.services.finalization import invoice_finalize, invoices_finalize

log = structlog.get_logger(__name__)

# how far a run's as_of may lie ahead of the wall clock (time zones, a run at the end of a day)
FUTURE_BILLING_LIMIT = timedelta(hours=24)


def chunk_size() -> int:
    return int(getattr(settings, "RATECARD_BILLING_CHUNK_SIZE", 500))


def due_subscriptions(as_of: datetime):  # type: ignore[no-untyped-def]
    return Subscription.objects.filter(status__in=LIVE).filter(
        Q(current_period_end__lte=as_of) | Q(pk__in=subscriptions_with_due_changes(as_of))
    )


def billing_run_create(*, as_of: datetime, user: Any = None) -> BillingRun:
    """Record a run; ``billing_run_execute`` (or the Celery task) does the work.

    A run may not bill ahead of the wall clock by more than a day (API.md): that would issue invoices for
    periods that have not ended. ``RATECARD_ALLOW_FUTURE_BILLING`` lifts the bound (tests, demos, backtests).
    """
    if as_of.tzinfo is None:
        raise ValidationFailed("as_of must carry a UTC offset.", field="as_of")
    if not settings.RATECARD_ALLOW_FUTURE_BILLING and as_of > timezone.now() + FUTURE_BILLING_LIMIT:
        raise ValidationFailed(
            f"as_of {as_of.isoformat()} is more than 24 hours ahead of the clock; billing runs bill what has "
            "ended (set RATECARD_ALLOW_FUTURE_BILLING=true for tests, demos and backtests).",
            field="as_of",
        )
    return BillingRun.objects.create(
        as_of=as_of, created_by=user if getattr(user, "is_authenticated", False) else None
    )


def billing_run_start(*, run_id: int) -> list[int] | None:
    """Mark the run running and write its chunk rows; the indexes of the chunks to queue.

    None when the run has started already (a redelivered task): its chunks are on their way, and the
    sweep queues any whose message was lost. The chunks carry a lease from the start, so chunks that
    were written but never queued are queued by the sweep once it expires.
    """
    with transaction.atomic():
        run = BillingRun.objects.select_for_update().get(pk=run_id)
        if run.status != BillingRun.Status.PENDING:
            return None
        return _split(run)


def _split(run: BillingRun) -> list[int]:
    run_id = run.pk
    ids = list(due_subscriptions(run.as_of).order_by("id").values_list("id", flat=True))
    size = chunk_size()
    expires = timezone.now() + lease()
    chunks = [
        BillingRunChunk(run=run, index=n, subscription_ids=ids[i : i + size], lease_expires_at=expires)
        for n, i in enumerate(range(0, len(ids), size))
    ]
    BillingRunChunk.objects.bulk_create(chunks)
    BillingRun.objects.filter(pk=run_id).update(
        status=BillingRun.Status.RUNNING,
        started_at=timezone.now(),
        subscriptions_due=len(ids),
        chunks_total=len(chunks),
        chunks_done=0,
    )
    log.info(
        "billing_run.started", run_id=run_id, as_of=run.as_of.isoformat(), due=len(ids), chunks=len(chunks)
    )
    return [c.index for c in chunks]


def billing_run_untaken_chunks(*, run_id: int) -> list[int]:
    """The indexes of a running run's chunks that no worker has taken yet."""
    return list(
        BillingRunChunk.objects.filter(
            run_id=run_id,
            run__status=BillingRun.Status.RUNNING,
            status=BillingRunChunk.Status.PENDING,
            attempts=0,
        )
        .order_by("index")
        .values_list("index", flat=True)
    )


def billing_run_chunk(*, run_id: int, index: int) -> dict[str, Any] | None:
    """Take and bill one chunk; None when it was done, failed, or is being billed by another worker."""
    if not billing_chunk_claim(run_id=run_id, index=index):
        return None
    return billing_chunk_bill(run_id=run_id, index=index)


def billing_run_close(*, run_id: int) -> BillingRun | None:
    """Close a run whose chunks are all done or failed: finalize due drafts, record the outcome. Once.

    None when the run is not ready (chunks open), closed already, or being closed by another process
    (``closing_until``: if that process dies, the sweep closes the run after the lease).
    """
    now = timezone.now()
    if BillingRunChunk.objects.filter(run_id=run_id, status__in=OPEN).exists():
        return None  # the common case after a chunk, answered without waiting for the run's row lock
    with transaction.atomic():
        run = BillingRun.objects.select_for_update().get(pk=run_id)
        if run.status != BillingRun.Status.RUNNING or run.chunks.filter(status__in=OPEN).exists():
            return None
        if run.closing_until is not None and run.closing_until > now:
            return None
        run.closing_until = now + lease()
        run.save(update_fields=["closing_until"])
    try:
        finalized = finalize_due_drafts(as_of=run.as_of, run=run)
    except Exception:
        # let the retried task (or the sweep) close it at once rather than after the lease
        BillingRun.objects.filter(pk=run_id).update(closing_until=None)
        raise
    with transaction.atomic():
        run = BillingRun.objects.select_for_update().get(pk=run_id)
        if run.status != BillingRun.Status.RUNNING:
            return run  # another closer finished first (our lease had expired)
        _record_outcome(run)
    log.info(
        "billing_run.finished",
        run_id=run.pk,
        status=run.status,
        invoices_created=run.invoices_created,
        failures=run.failures_count,
        deferred=run.deferred,
        finalized=finalized,
        reason=run.reason,
        duration_seconds=str(run.duration_seconds),
    )
    if run.status != BillingRun.Status.COMPLETED:
        log.error("billing_run.incomplete", run_id=run.pk, status=run.status, reason=run.reason)
    return run


def _record_outcome(run: BillingRun) -> None:
    """The run's final status and, unless plainly completed, the reason in words an operator can act on."""
    failed = list(run.chunks.filter(status=BillingRunChunk.Status.FAILED).order_by("index"))
    run.failures_count = run.failures.count()
    reasons = []
    if failed:
        unbilled = sum(len(c.subscription_ids) for c in failed)
        reasons.append(
            f"{len(failed)} of {run.chunks_total} chunks failed, {unbilled} subscriptions not billed "
            f"(chunk {failed[0].index}: {failed[0].last_error})"
        )
    if run.failures_count:
        reasons.append(f"{run.failures_count} failures (see failure_details)")
    if run.deferred:
        reasons.append(
            f"{run.deferred} subscriptions deferred: a concurrent change kept them locked; the next run bills them"
        )
    if failed:
        run.status = BillingRun.Status.FAILED
    elif reasons:
        run.status = BillingRun.Status.COMPLETED_WITH_FAILURES
    else:
        run.status = BillingRun.Status.COMPLETED
    run.reason = "; ".join(reasons)
    run.finished_at = timezone.now()
    run.closing_until = None
    if run.started_at:
        run.duration_seconds = Decimal(str(round((run.finished_at - run.started_at).total_seconds(), 3)))
    run.save(
        update_fields=[
            "status",
            "reason",
            "failures_count",
            "finished_at",
            "closing_until",
            "duration_seconds",
        ]
    )


def review_window() -> timedelta:
    return timedelta(hours=int(getattr(settings, "RATECARD_INVOICE_REVIEW_HOURS", 72)))


def finalize_due_drafts(*, as_of: datetime, run: BillingRun | None = None) -> int:
    """Finalize every draft whose billing date is a review window (the late-usage grace) before ``as_of``.

    Drafts are finalized in batches (one lock of the number sequence per batch, set-based writes); a batch
    that fails is retried one draft at a time, so one bad draft stays a draft alone and, inside a run, is
    recorded as the run's failure (once per run and invoice). A transient error (the database went away)
    is raised: the caller retries the close.
    """
    if not getattr(settings, "RATECARD_AUTO_FINALIZE", True):
        return 0
    cutoff = as_of - review_window()
    drafts = dict(
        Invoice.objects.filter(status=InvoiceStatus.DRAFT, billing_date__lte=cutoff)
        .order_by("id")
        .values_list("id", "customer_id")
    )
    ids = list(drafts)
    done = 0
    retry: list[int] = []
    size = chunk_size()
    for start in range(0, len(ids), size):
        _still_closing(run)
        batch = ids[start : start + size]
        try:
            done += len(invoices_finalize(invoice_ids=batch, at=as_of))
        except Exception as exc:  # one bad draft fails its batch: retried one by one below
            if is_transient(exc):
                raise
            log.warning(
                "invoice.batch_finalize_failed", invoices=len(batch), error=f"{exc.__class__.__name__}: {exc}"
            )
            retry += batch
    for invoice_id in retry:
        _still_closing(run)
        try:
            invoice_finalize(invoice_id=invoice_id, at=as_of)
            done += 1
        except Exception as exc:  # one bad draft must not stop the rest
            if is_transient(exc):
                raise
            error = f"{exc.__class__.__name__}: {exc}"
            log.error("invoice.finalize_failed", invoice_id=invoice_id, error=error)
            if run is not None:
                BillingRunFailure.objects.bulk_create(
                    [
                        BillingRunFailure(
                            run=run,
                            invoice_id=invoice_id,
                            customer_id=drafts[invoice_id],
                            error=f"finalizing invoice {invoice_id}: {error}"[:2000],
                        )
                    ],
                    ignore_conflicts=True,
                )
    return done


def _still_closing(run: BillingRun | None) -> None:
    """Renew the closing lease, so no other process starts closing this run while this one works."""
    if run is not None:
        BillingRun.objects.filter(pk=run.pk).update(closing_until=timezone.now() + lease())


def billing_run_execute(*, run_id: int) -> BillingRun:
    """Run the whole billing run in this process, on the database alone (the command and eager Celery).

    Chunk rows and leases work as with workers: the leases of the chunks still to do are renewed as
    this process goes, so a sweep leaves them alone while it lives and finishes the run if it dies.
    """
    started = time.monotonic()
    billing_run_start(run_id=run_id)
    seen: set[int] = set()
    while True:
        todo = list(
            BillingRunChunk.objects.filter(run_id=run_id, status__in=OPEN)
            .exclude(index__in=seen)
            .order_by("index")
            .values_list("index", "retry_round")
        )
        if not todo:
            break
        for index, retry_round in todo:
            seen.add(index)
            if retry_round:
                time.sleep(deferred_retry_delay())  # give the concurrent change time to commit
            billing_chunks_renew(run_id=run_id)
            try:
                billing_run_chunk(run_id=run_id, index=index)
            except Exception as exc:  # the chunk's own transaction rolled back; the run goes on
                if is_transient(exc):
                    raise
                billing_chunk_fail(run_id=run_id, index=index, error=f"{exc.__class__.__name__}: {exc}")
    run = billing_run_close(run_id=run_id) or BillingRun.objects.get(pk=run_id)
    log.info(
        "billing_run.executed",
        run_id=run_id,
        seconds=round(time.monotonic() - started, 3),
        db=connection.vendor,
    )
    return run


def billing_run_billed(*, run_id: int) -> list[dict[str, Any]]:
    """What a run billed: the invoices it created, their count and the sum of their totals per currency."""
    rows = (
        Invoice.objects.filter(billing_run_id=run_id)
        .values("currency")
        .annotate(count=Count("id"), amount=Sum("total"))
        .order_by("currency")
    )
    return [
        {"currency": r["currency"], "count": r["count"], "amount": r["amount"] or Decimal(0)} for r in rows
    ]
