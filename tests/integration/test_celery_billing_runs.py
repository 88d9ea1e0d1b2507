"""Billing runs on a real Celery worker over Redis (not eager), against PostgreSQL.

Two runs for the same ``as_of`` started at once bill each period exactly once; a worker killed in the
middle of a run leaves nothing half-written, and the run completes when a worker comes back.
"""

from __future__ import annotations

import signal
from pathlib import Path

from billing.models import Subscription
from invoicing.models import BilledPeriod, BillingRun, Invoice, InvoiceLine
from invoicing.services.billing_runs import billing_run_create
from invoicing.tasks import run_billing
from tests.integration.workers import (
    AS_OF,
    REAL_SERVICES,
    RECOVERING_ENV,
    assert_billed_exactly_once,
    describe,
    make_subscriptions,
    start_worker,
    stop,
    wait_for,
)

pytestmark = REAL_SERVICES


def test_two_runs_at_once_bill_each_period_exactly_once(queue: str, tmp_path: Path) -> None:
    n = 150
    make_subscriptions(n)
    # with the sweep, as in production: a chunk message the broker loses is queued again
    worker = start_worker(queue, env={**RECOVERING_ENV, "RATECARD_AUTO_FINALIZE": "false"}, beat_dir=tmp_path)
    try:
        first, second = billing_run_create(as_of=AS_OF), billing_run_create(as_of=AS_OF)
        run_billing.apply_async((first.pk,), queue=queue)
        run_billing.apply_async((second.pk,), queue=queue)
        done = {BillingRun.Status.COMPLETED, BillingRun.Status.COMPLETED_WITH_FAILURES}
        wait_for(
            lambda: BillingRun.objects.filter(pk__in=[first.pk, second.pk], status__in=done).count() == 2,
            describe=lambda: describe(first.pk) + "\n" + describe(second.pk, tmp_path),
        )
    finally:
        stop(worker)
    assert_billed_exactly_once(n)
    runs = BillingRun.objects.filter(pk__in=[first.pk, second.pk])
    assert sum(r.invoices_created for r in runs) == n
    assert all(r.failures_count == 0 for r in runs)


def test_a_worker_killed_mid_run_leaves_nothing_half_written_and_the_run_completes(
    queue: str, tmp_path: Path
) -> None:
    n = 400
    make_subscriptions(n)
    run = billing_run_create(as_of=AS_OF)
    # short leases; finalizing 800 drafts is not what this test is about
    env = {**RECOVERING_ENV, "RATECARD_AUTO_FINALIZE": "false"}
    worker = start_worker(queue, chunk_size=5, env=env)
    run_billing.apply_async((run.pk,), queue=queue)
    wait_for(lambda: BillingRun.objects.get(pk=run.pk).chunks_done >= 2, seconds=60, step=0.02)
    stop(worker, signal.SIGKILL)  # no warm shutdown: chunks in flight die with their transactions open
    killed = BillingRun.objects.get(pk=run.pk)
    assert killed.status == BillingRun.Status.RUNNING
    assert killed.chunks_done < killed.chunks_total
    # nothing half-written: every billed period has its invoice and line, every invoice its line
    billed = BilledPeriod.objects.filter(reason="period").count()
    assert Invoice.objects.filter(billing_date=AS_OF).count() == billed
    assert InvoiceLine.objects.filter(invoice__billing_date=AS_OF).count() == billed
    assert Subscription.objects.filter(current_period_start=AS_OF).count() == billed
    # the messages the dead worker had taken are lost or redelivered: the sweep (beat) queues what is left
    worker = start_worker(queue, chunk_size=5, env=env, beat_dir=tmp_path)
    try:
        wait_for(
            lambda: BillingRun.objects.get(pk=run.pk).status == BillingRun.Status.COMPLETED,
            seconds=120,
            describe=lambda: describe(run.pk, tmp_path),
        )
    finally:
        stop(worker)
    assert_billed_exactly_once(n)
    assert BillingRun.objects.get(pk=run.pk).invoices_created == n
