"""One chunk of a billing run: taken under a lease, billed in one transaction, counted exactly once.

A chunk row (``BillingRunChunk``) is the chunk's whole state. Taking it (``billing_chunk_claim``) commits
``running``, one more attempt and a lease; billing it (``billing_chunk_bill``) locks the row again, bills
its subscriptions and turns it ``done`` in the same transaction as the writes, so a worker killed or cut
from the database at any instant leaves either nothing or the whole chunk, and a redelivered or re-queued
task finds the chunk done and does nothing.

Subscriptions are taken with ``FOR UPDATE SKIP LOCKED``: one that a concurrent change holds is not waited
for but retried in a follow-up chunk a little later; after ``RATECARD_BILLING_DEFERRED_RETRIES`` rounds it
is counted as ``deferred`` on the run (the next run bills it), never silently skipped.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from billing.models import Subscription, SubscriptionStatus
from config.monitoring import count_after_commit
from config.transient import is_transient
from invoicing.models import BillingRun, BillingRunChunk, BillingRunFailure
from invoicing.monitoring import SUBSCRIPTIONS_BILLED
from invoicing.services.scheduled_changes import merge_results, subscriptions_apply_scheduled
from invoicing.services.subscription_billing import BillResult, bill_subscriptions

log = structlog.get_logger(__name__)

LIVE = (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
OPEN = (BillingRunChunk.Status.PENDING, BillingRunChunk.Status.RUNNING)
SUB_RELATED = ("customer", "plan_version", "plan_version__plan", "coupon")


def lease() -> timedelta:
    """How long a taken chunk may run before the sweep hands it to another worker."""
    return timedelta(seconds=settings.RATECARD_BILLING_LEASE_SECONDS)


def max_attempts() -> int:
    return int(settings.RATECARD_BILLING_CHUNK_MAX_ATTEMPTS)


def deferred_retries() -> int:
    return int(settings.RATECARD_BILLING_DEFERRED_RETRIES)


def deferred_retry_delay() -> float:
    """Seconds (a duration, not money) before subscriptions a concurrent change held are tried again."""
    return settings.RATECARD_BILLING_DEFERRED_RETRY_SECONDS  # type: ignore[no-any-return]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def billing_chunk_claim(*, run_id: int, index: int) -> bool:
    """Take the chunk for this process (commits at once); False when it is done, failed or being billed."""
    now = timezone.now()
    with transaction.atomic():
        chunk = (
            # of self and no ordering: the model's ordering joins the run, and locking (skipping!) the run
            # row, which every chunk's billing transaction updates, would drop this chunk unbilled
            BillingRunChunk.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(run_id=run_id, index=index, status__in=OPEN)
            .order_by("pk")
            .first()
        )
        if chunk is None:
            return False  # finished, or another worker holds it inside its billing transaction
        if chunk.attempts >= max_attempts():
            _fail(chunk, f"gave up after {chunk.attempts} attempts; last error: {chunk.last_error or 'none'}")
            return False
        chunk.status = BillingRunChunk.Status.RUNNING
        chunk.attempts += 1
        chunk.lease_expires_at = now + lease()
        chunk.worker = worker_name()
        chunk.started_at = chunk.started_at or now
        chunk.save(update_fields=["status", "attempts", "lease_expires_at", "worker", "started_at"])
    return True


def billing_chunk_bill(*, run_id: int, index: int) -> dict[str, Any] | None:
    """Bill a taken chunk and mark it done, in one transaction; None when it was done already.

    The returned ``follow_up`` is the index of a chunk created for subscriptions a concurrent change
    held locked (queue it after ``deferred_retry_delay()``), or None.
    """
    with transaction.atomic():
        chunk = (
            BillingRunChunk.objects.select_for_update(of=("self",))
            .select_related("run")
            .get(run_id=run_id, index=index)
        )
        if chunk.status not in OPEN:
            return None
        run = chunk.run
        ids = [int(i) for i in chunk.subscription_ids]
        # changes scheduled up to as_of first: each bills up to its time, applies, bills on (own savepoints)
        early = subscriptions_apply_scheduled(subscription_ids=ids, as_of=run.as_of, run=run)
        subs = list(
            Subscription.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related(*SUB_RELATED)
            .filter(pk__in=ids, status__in=LIVE, current_period_end__lte=run.as_of)
            .order_by("id")
        )
        result = merge_results(early, bill_locked(subs=subs, run=run))
        # still due, yet not taken: another transaction holds them (a plain read does not wait for it)
        taken = {s.pk for s in subs}
        skipped = sorted(
            Subscription.objects.filter(
                pk__in=[i for i in ids if i not in taken], status__in=LIVE, current_period_end__lte=run.as_of
            ).values_list("id", flat=True)
        )
        BillingRunFailure.objects.bulk_create(
            BillingRunFailure(run=run, subscription_id=s, customer_id=c, error=e[:2000])
            for s, c, e in result.failures
        )
        retry = bool(skipped) and chunk.retry_round < deferred_retries()
        deferred = 0 if retry else len(skipped)
        # this UPDATE locks the run row: chunks of one run finish one after another from here on
        BillingRun.objects.filter(pk=run_id).update(
            subscriptions_billed=F("subscriptions_billed") + result.billed_subscriptions,
            invoices_created=F("invoices_created") + len(result.created_invoice_ids),
            failures_count=F("failures_count") + len(result.failures),
            chunks_done=F("chunks_done") + 1,
            chunks_total=F("chunks_total") + int(retry),
            deferred=F("deferred") + deferred,
        )
        follow_up = None
        if retry:
            follow_up = (
                BillingRunChunk.objects.filter(run_id=run_id).aggregate(m=Max("index"))["m"] or 0
            ) + 1
            BillingRunChunk.objects.create(
                run=run,
                index=follow_up,
                subscription_ids=skipped,
                retry_round=chunk.retry_round + 1,
                lease_expires_at=timezone.now() + timedelta(seconds=deferred_retry_delay()) + lease(),
            )
        chunk.status = BillingRunChunk.Status.DONE
        chunk.billed, chunk.deferred = result.billed_subscriptions, deferred
        chunk.finished_at, chunk.lease_expires_at = timezone.now(), None
        chunk.save(update_fields=["status", "billed", "deferred", "finished_at", "lease_expires_at"])
        for outcome, n in (
            ("billed", result.billed_subscriptions),
            ("deferred", deferred),
            ("failed", len(result.failures)),
        ):
            if n:
                count_after_commit(SUBSCRIPTIONS_BILLED, n, outcome=outcome)
    for sub_id, customer_id, error in result.failures:
        log.error(
            "billing_run.subscription_failed",
            run_id=run_id,
            subscription_id=sub_id,
            customer_id=customer_id,
            error=error,
        )
    if skipped:
        log.warning(
            "billing_run.subscriptions_locked", run_id=run_id, chunk=index, ids=skipped, retried=retry
        )
    return {
        "billed": result.billed_subscriptions,
        "invoices": len(result.created_invoice_ids),
        "failures": len(result.failures),
        "skipped": len(skipped),
        "follow_up": follow_up,
    }


def bill_locked(*, subs: list[Subscription], run: BillingRun | None) -> BillResult:
    """Bill locked subscriptions set-based; if the bulk write fails, one savepoint per subscription.

    The bulk path keeps a constant number of queries per chunk. When it fails (a ``BilledPeriod`` written
    by a concurrent writer, one subscription's bad data) its savepoint is rolled back and each
    subscription is billed alone: a unique conflict there means "already billed" (billing it again
    reads the period as billed), any other error is that subscription's failure. Transient errors are
    raised: the whole chunk is retried.
    """
    assert run is not None
    try:
        with transaction.atomic():
            return bill_subscriptions(subs=subs, as_of=run.as_of, run=run)
    except Exception as exc:
        if is_transient(exc):
            raise
        log.warning("billing_run.bulk_write_failed", run_id=run.pk, error=f"{exc.__class__.__name__}: {exc}")
    result = BillResult()
    for sub_id in [s.pk for s in subs]:
        for attempt in (1, 2):
            # reloaded: the failed bulk attempt moved the objects in memory; the row locks are still ours
            sub = Subscription.objects.select_related(*SUB_RELATED).get(pk=sub_id)
            try:
                with transaction.atomic():
                    one = bill_subscriptions(subs=[sub], as_of=run.as_of, run=run)
            except IntegrityError as exc:
                if attempt == 1:
                    continue  # a concurrent writer billed the period first: billed again, it is skipped
                result.failures.append((sub_id, sub.customer_id, f"{exc.__class__.__name__}: {exc}"))
            except Exception as exc:
                if is_transient(exc):
                    raise
                result.failures.append((sub_id, sub.customer_id, f"{exc.__class__.__name__}: {exc}"))
            else:
                result.billed_subscriptions += one.billed_subscriptions
                result.invoice_ids |= one.invoice_ids
                result.created_invoice_ids |= one.created_invoice_ids
                result.failures += one.failures
            break
    return result


def billing_chunk_note_error(*, run_id: int, index: int, error: str) -> None:
    """Remember why an attempt failed (shown with the chunk); best effort, the database may be away."""
    try:
        BillingRunChunk.objects.filter(run_id=run_id, index=index, status__in=OPEN).update(
            last_error=error[:2000]
        )
    except Exception as exc:  # the error being noted is often the database itself going away
        log.warning("billing_run.chunk_error_not_saved", run_id=run_id, chunk=index, error=str(exc))


def billing_chunk_fail(*, run_id: int, index: int, error: str) -> bool:
    """Give a chunk up (its retries are spent, or it hit a non-transient error); False if already closed."""
    with transaction.atomic():
        chunk = (
            BillingRunChunk.objects.select_for_update(of=("self",))
            .filter(run_id=run_id, index=index, status__in=OPEN)
            .order_by("pk")
            .first()
        )
        if chunk is None:
            return False
        _fail(chunk, error)
    return True


def _fail(chunk: BillingRunChunk, error: str) -> None:
    chunk.status = BillingRunChunk.Status.FAILED
    chunk.last_error = error[:2000]
    chunk.finished_at, chunk.lease_expires_at = timezone.now(), None
    chunk.save(update_fields=["status", "last_error", "finished_at", "lease_expires_at"])
    BillingRun.objects.filter(pk=chunk.run_id).update(chunks_done=F("chunks_done") + 1)
    log.error("billing_run.chunk_failed", run_id=chunk.run_id, chunk=chunk.index, error=error)


def billing_chunks_renew(*, run_id: int) -> None:
    """Extend the lease of the run's open chunks: this process is still working through them."""
    BillingRunChunk.objects.filter(run_id=run_id, status__in=OPEN).update(
        lease_expires_at=timezone.now() + lease()
    )
