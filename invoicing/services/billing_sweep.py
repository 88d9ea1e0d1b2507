"""The sweep: what a lost task, a killed worker or a lost broker left behind, found in the database.

Celery beat runs it every ``RATECARD_BILLING_SWEEP_SECONDS``; the task queues what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import structlog
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from invoicing.models import BillingRun, BillingRunChunk
from invoicing.services.billing_chunks import OPEN, billing_chunk_fail, lease, max_attempts

log = structlog.get_logger(__name__)


@dataclass
class Sweep:
    """What the sweep found: runs to start, chunks to queue again, runs ready to close."""

    runs_to_start: list[int] = field(default_factory=list)
    chunks_to_queue: list[tuple[int, int]] = field(default_factory=list)
    runs_to_close: list[int] = field(default_factory=list)


def billing_runs_sweep(*, now: datetime | None = None) -> Sweep:
    """Find the work a lost task, a killed worker or a lost broker left behind.

    - runs still ``pending`` a lease after they were created (the run row is the outbox: queueing
      its task failed, or the message was lost) are started again;
    - running chunks whose lease expired (their worker died) are queued again, or failed when their
      attempts are spent; pending chunks whose lease expired too, but only when their run made no
      progress for a lease (their messages were lost): a run with a backlog in the queue is moving,
      and its pending chunks are on their way;
    - running runs without open chunks whose close is not in progress are closed.
    """
    now = now or timezone.now()
    out = Sweep()
    out.runs_to_start = list(
        BillingRun.objects.filter(status=BillingRun.Status.PENDING, created_at__lte=now - lease())
        .order_by("id")
        .values_list("id", flat=True)
    )
    moving = set(
        BillingRunChunk.objects.filter(run__status=BillingRun.Status.RUNNING)
        .filter(
            Q(finished_at__gte=now - lease())
            | Q(status=BillingRunChunk.Status.RUNNING, lease_expires_at__gte=now)
        )
        .values_list("run_id", flat=True)
        .distinct()
    )
    with transaction.atomic():
        expired = (
            BillingRunChunk.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status__in=OPEN, run__status=BillingRun.Status.RUNNING)
            .filter(Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True))
            .order_by("run_id", "index")[:1000]
        )
        for chunk in expired:
            if chunk.status == BillingRunChunk.Status.PENDING and chunk.run_id in moving:
                continue
            if chunk.attempts >= max_attempts():
                billing_chunk_fail(
                    run_id=chunk.run_id,
                    index=chunk.index,
                    error=f"lease expired after {chunk.attempts} attempts; last error: "
                    f"{chunk.last_error or 'none (worker lost)'}",
                )
                continue
            chunk.status = BillingRunChunk.Status.PENDING
            chunk.lease_expires_at = now + lease()
            chunk.save(update_fields=["status", "lease_expires_at"])
            out.chunks_to_queue.append((chunk.run_id, chunk.index))
    out.runs_to_close = list(
        BillingRun.objects.filter(status=BillingRun.Status.RUNNING)
        .filter(Q(closing_until__isnull=True) | Q(closing_until__lt=now))
        .exclude(chunks__status__in=OPEN)
        .order_by("id")
        .values_list("id", flat=True)
    )
    if out.runs_to_start or out.chunks_to_queue:
        log.warning(
            "billing_run.sweep",
            runs_to_start=out.runs_to_start,
            chunks_to_queue=out.chunks_to_queue,
            runs_to_close=out.runs_to_close,
        )
    return out
