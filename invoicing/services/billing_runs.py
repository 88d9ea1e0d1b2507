"""Billing runs: every subscription whose period ended by ``as_of`` is billed, in chunks, exactly once.

A run is a ``BillingRun`` row plus chunk tasks of a few hundred due subscriptions each. A chunk takes its
subscriptions with ``SELECT ... FOR UPDATE SKIP LOCKED ORDER BY id`` in one transaction, so two workers
(or two runs) never bill the same subscription at once, and a worker killed mid-chunk leaves nothing
half-written: its transaction rolls back and the redelivered task (acks_late) does the chunk again.
After billing, drafts whose review window has passed are finalized.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from billing.models import Subscription, SubscriptionStatus
from billing.services.scheduled_changes import subscriptions_with_due_changes
from invoicing.models import BillingRun, BillingRunFailure, Invoice, InvoiceStatus
from invoicing.services.scheduled_changes import merge_results, subscriptions_apply_scheduled
from invoicing.services.subscription_billing import bill_subscriptions

log = structlog.get_logger(__name__)

# how far a run's as_of may lie ahead of the wall clock (time zones, a run at the end of a day)
FUTURE_BILLING_LIMIT = timedelta(hours=24)
LIVE = (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


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
    from config.errors import ValidationFailed

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


def billing_run_start(*, run_id: int) -> list[list[int]] | None:
    """Mark the run running and split its due subscriptions into chunks of ids.

    None when the run has started already (a redelivered task): its chunks are on their way.
    """
    with transaction.atomic():
        run = BillingRun.objects.select_for_update().get(pk=run_id)
        if run.status != BillingRun.Status.PENDING:
            return None
        return _split(run)


def _split(run: BillingRun) -> list[list[int]]:
    run_id = run.pk
    ids = list(due_subscriptions(run.as_of).order_by("id").values_list("id", flat=True))
    size = chunk_size()
    chunks = [ids[i : i + size] for i in range(0, len(ids), size)]
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
    return chunks


def billing_run_chunk(*, run_id: int, subscription_ids: list[int]) -> dict[str, int]:
    """Bill one chunk in one transaction; subscriptions another worker holds are skipped (it bills them)."""
    run = BillingRun.objects.get(pk=run_id)
    with transaction.atomic():
        early = subscriptions_apply_scheduled(subscription_ids=subscription_ids, as_of=run.as_of, run=run)
        locked = (
            Subscription.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("customer", "plan_version", "plan_version__plan", "coupon")
            .filter(pk__in=subscription_ids, status__in=LIVE, current_period_end__lte=run.as_of)
            .order_by("id")
        )
        subs = list(locked)
        result = merge_results(early, bill_subscriptions(subs=subs, as_of=run.as_of, run=run))
        BillingRunFailure.objects.bulk_create(
            BillingRunFailure(run=run, subscription_id=s, customer_id=c, error=e[:2000])
            for s, c, e in result.failures
        )
        BillingRun.objects.filter(pk=run_id).update(
            subscriptions_billed=F("subscriptions_billed") + result.billed_subscriptions,
            invoices_created=F("invoices_created") + len(result.created_invoice_ids),
            failures_count=F("failures_count") + len(result.failures),
        )
    for sub_id, customer_id, error in result.failures:
        log.error(
            "billing_run.subscription_failed",
            run_id=run_id,
            subscription_id=sub_id,
            customer_id=customer_id,
            error=error,
        )
    return {
        "billed": result.billed_subscriptions,
        "invoices": len(result.created_invoice_ids),
        "failures": len(result.failures),
    }


def billing_run_chunk_done(*, run_id: int, chunk_index: int) -> bool:
    """Count a chunk once, even when its task runs twice; True when it was the run's last chunk.

    Called after the chunk's transaction committed. A marker in the cache (Redis in production) makes
    the count idempotent: a task redelivered after its commit finds the marker and counts nothing.
    """
    run = BillingRun.objects.get(pk=run_id)
    # ids restart in a new database that shares the cache: the creation instant makes the key unique
    key = f"billing-run:{run_id}:{run.created_at.timestamp()}"
    if cache.add(f"{key}:chunk:{chunk_index}", 1, timeout=7 * 24 * 3600):
        BillingRun.objects.filter(pk=run_id).update(chunks_done=F("chunks_done") + 1)
        run.refresh_from_db(fields=["chunks_done", "chunks_total"])
    return run.chunks_done >= run.chunks_total and cache.add(f"{key}:finishing", 1, timeout=3600)


def billing_run_finish(*, run_id: int) -> BillingRun:
    """Finalize drafts whose review window passed, then record the run's outcome and duration."""
    run = BillingRun.objects.get(pk=run_id)
    finalized = finalize_due_drafts(as_of=run.as_of)
    run.refresh_from_db()
    run.finished_at = timezone.now()
    if run.started_at:
        run.duration_seconds = Decimal(str(round((run.finished_at - run.started_at).total_seconds(), 3)))
    run.status = (
        BillingRun.Status.COMPLETED_WITH_FAILURES if run.failures_count else BillingRun.Status.COMPLETED
    )
    run.save(update_fields=["finished_at", "duration_seconds", "status"])
    log.info(
        "billing_run.finished",
        run_id=run.pk,
        status=run.status,
        invoices_created=run.invoices_created,
        failures=run.failures_count,
        finalized=finalized,
        duration_seconds=str(run.duration_seconds),
    )
    if run.failures_count:
        log.error("billing_run.failures", run_id=run.pk, failures=run.failures_count)
    return run


def review_window() -> timedelta:
    return timedelta(hours=int(getattr(settings, "RATECARD_INVOICE_REVIEW_HOURS", 72)))


def finalize_due_drafts(*, as_of: datetime) -> int:
    """Finalize every draft whose billing date is a review window (the late-usage grace) before ``as_of``."""
    if not getattr(settings, "RATECARD_AUTO_FINALIZE", True):
        return 0
    from invoicing.services.finalization import invoice_finalize, invoices_finalize
    from invoicing.services.subscription_billing import refresh_draft_usage

    cutoff = as_of - review_window()
    ids = list(
        Invoice.objects.filter(status=InvoiceStatus.DRAFT, billing_date__lte=cutoff)
        .order_by("id")
        .values_list("id", flat=True)
    )
    done = 0
    retry: list[int] = []
    size = chunk_size()
    for start in range(0, len(ids), size):
        # a batch per transaction: one lock of the number sequence, set-based reads and writes
        batch = ids[start : start + size]
        try:
            done += len(invoices_finalize(invoice_ids=batch, at=as_of))
        except Exception as exc:  # one bad draft fails its batch: retry it one by one below
            log.warning(
                "invoice.batch_finalize_failed", invoices=len(batch), error=f"{exc.__class__.__name__}: {exc}"
            )
            retry += batch
    for invoice_id in retry:
        try:
            with transaction.atomic():
                refresh_draft_usage(invoice_id=invoice_id)
                invoice_finalize(invoice_id=invoice_id, at=as_of)
            done += 1
        except Exception as exc:  # one bad draft must not stop the rest; it is logged and stays draft
            log.error(
                "invoice.finalize_failed", invoice_id=invoice_id, error=f"{exc.__class__.__name__}: {exc}"
            )
    return done


def billing_run_execute(*, run_id: int) -> BillingRun:
    """Run the whole billing run in this process (the management command and eager Celery)."""
    started = time.monotonic()
    for index, chunk in enumerate(billing_run_start(run_id=run_id) or []):
        billing_run_chunk(run_id=run_id, subscription_ids=chunk)
        billing_run_chunk_done(run_id=run_id, chunk_index=index)
    run = billing_run_finish(run_id=run_id)
    log.info(
        "billing_run.executed",
        run_id=run_id,
        seconds=round(time.monotonic() - started, 3),
        db=connection.vendor,
    )
    return run
