"""Billing runs on a real Celery worker over Redis (not eager), against PostgreSQL.

Two runs for the same ``as_of`` started at once bill each period exactly once. (A whole worker SIGKILLed
in the middle of a run, under load: ``test_load_events.py``.)
"""

from __future__ import annotations

from pathlib import Path

from invoicing.models import BillingRun
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
