"""Billing runs recover from faults by themselves, with real processes (PostgreSQL, Redis, Celery).

Each test starts a worker with Celery beat inside it (the sweep every second, leases of 4 seconds),
starts a run of many small chunks, waits until the run is demonstrably mid-way (chunks done, one
running), injects a fault, and then waits, with a deadline, for the run to end. Each time: every
subscription billed exactly once, every draft of the run finalized, and the run ``completed``.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from django.db import connection

from billing.models import BillingTiming
from config.celery import app
from invoicing.models import BillingRun, BillingRunChunk, Invoice, InvoiceStatus
from invoicing.services.billing_runs import billing_run_create
from invoicing.tasks import run_billing
from tests.integration.workers import (
    AS_OF,
    REAL_SERVICES,
    RECOVERING_ENV,
    assert_billed_exactly_once,
    describe,
    free_port,
    make_subscriptions,
    start_redis,
    start_worker,
    stop,
    wait_for,
)

pytestmark = REAL_SERVICES

N = 20
CHUNK = 1
ENDED = (BillingRun.Status.COMPLETED, BillingRun.Status.COMPLETED_WITH_FAILURES, BillingRun.Status.FAILED)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def mid_run(run_id: int) -> BillingRunChunk | None:
    """A chunk being billed while others are done already: the moment to strike."""
    if BillingRunChunk.objects.filter(run_id=run_id, status=BillingRunChunk.Status.DONE).count() < 3:
        return None
    return (
        BillingRunChunk.objects.filter(run_id=run_id, status=BillingRunChunk.Status.RUNNING)
        .exclude(worker="")
        .first()
    )


def wait_until_mid_run(run_id: int, workdir: Path) -> BillingRunChunk:
    found: list[BillingRunChunk] = []

    def strike() -> bool:
        chunk = mid_run(run_id)
        if chunk is not None:
            found.append(chunk)
        return chunk is not None

    wait_for(strike, seconds=45, step=0.01, describe=lambda: describe(run_id, workdir))
    run = BillingRun.objects.get(pk=run_id)
    assert run.status == BillingRun.Status.RUNNING
    assert BillingRunChunk.objects.filter(run=run).exclude(status=BillingRunChunk.Status.DONE).exists()
    return found[0]


def assert_recovered(run_id: int, workdir: Path) -> None:
    wait_for(
        lambda: BillingRun.objects.get(pk=run_id).status in ENDED,
        seconds=50,
        step=0.2,
        describe=lambda: describe(run_id, workdir),
    )
    run = BillingRun.objects.get(pk=run_id)
    assert run.status == BillingRun.Status.COMPLETED, describe(run_id, workdir)
    assert (run.subscriptions_due, run.subscriptions_billed, run.invoices_created) == (N, N, N)
    assert (run.failures_count, run.deferred, run.reason) == (0, 0, "")
    assert set(BillingRunChunk.objects.filter(run=run).values_list("status", flat=True)) == {"done"}
    assert_billed_exactly_once(N)
    # every draft of the run finalized, each exactly once (a number each, none left draft)
    assert not Invoice.objects.filter(status=InvoiceStatus.DRAFT).exists()
    invoices = Invoice.objects.filter(billing_date=AS_OF)
    assert invoices.filter(status=InvoiceStatus.OPEN, number__isnull=False).count() == N
    assert len(set(invoices.values_list("number", flat=True))) == N


def test_a_pool_process_killed_mid_chunk_is_recovered(queue: str, workdir: Path) -> None:
    make_subscriptions(N, billing=BillingTiming.IN_ARREARS)
    start_worker(queue, chunk_size=CHUNK, env=RECOVERING_ENV, beat_dir=workdir)
    run = billing_run_create(as_of=AS_OF)
    run_billing.apply_async((run.pk,), queue=queue)
    chunk = wait_until_mid_run(run.pk, workdir)
    # what an out-of-memory kill does: the pool process that took the chunk dies at once
    os.kill(int(chunk.worker.rsplit(":", 1)[1]), signal.SIGKILL)
    assert_recovered(run.pk, workdir)


def test_database_connections_cut_mid_run_are_recovered(queue: str, workdir: Path) -> None:
    make_subscriptions(N, billing=BillingTiming.IN_ARREARS)
    start_worker(queue, chunk_size=CHUNK, env=RECOVERING_ENV, beat_dir=workdir)
    run = billing_run_create(as_of=AS_OF)
    run_billing.apply_async((run.pk,), queue=queue)
    wait_until_mid_run(run.pk, workdir)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        (cut,) = cursor.fetchone()
    assert cut >= 1  # the worker's connections, one at least in a chunk's transaction
    assert_recovered(run.pk, workdir)


def test_a_redis_restart_mid_run_is_recovered(queue: str, workdir: Path) -> None:
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    redis = start_redis(port, workdir)
    make_subscriptions(N, billing=BillingTiming.IN_ARREARS)
    start_worker(queue, chunk_size=CHUNK, redis_url=redis_url, env=RECOVERING_ENV, beat_dir=workdir)
    run = billing_run_create(as_of=AS_OF)
    with app.connection_for_write(redis_url) as broker:
        run_billing.apply_async((run.pk,), queue=queue, connection=broker)
    wait_until_mid_run(run.pk, workdir)
    # no persistence: every queued and unacknowledged message is lost with the server
    stop(redis, signal.SIGKILL)
    start_redis(port, workdir)
    assert_recovered(run.pk, workdir)
