"""Billing runs on a real Celery worker over Redis (not eager), against PostgreSQL.

Two runs for the same ``as_of`` started at once bill each period exactly once; a worker killed in the
middle of a run leaves nothing half-written, and the run completes when a worker comes back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count

from accounts.models import Customer
from billing.models import Subscription
from billing.services.catalog import PlanDraft, PriceDraft, plan_create
from invoicing.models import BilledPeriod, BillingRun, Invoice, InvoiceLine
from invoicing.services.billing_runs import billing_run_create
from invoicing.services.lifecycle import subscribe
from invoicing.tasks import run_billing

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.REDIS_URL or not settings.IS_POSTGRES, reason="needs PostgreSQL and Redis"
    ),
]

ROOT = Path(__file__).resolve().parents[2]
AS_OF = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture
def queue() -> Iterator[str]:
    """A queue of this test's own, so no other worker on the machine takes its tasks."""
    yield f"ratecard-test-{uuid.uuid4().hex[:8]}"


STARTED: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def no_leftover_workers() -> Iterator[None]:
    """Every worker a test starts is gone when it ends, pass or fail (a leftover would take tasks later)."""
    yield
    while STARTED:
        stop(STARTED.pop(), signal.SIGKILL)


def start_worker(queue: str, *, chunk_size: int = 25) -> subprocess.Popen[bytes]:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "RATECARD_CELERY_QUEUE": queue,
        "RATECARD_CELERY_VISIBILITY_TIMEOUT": "3",
        "RATECARD_CELERY_RESTORE_INTERVAL": "1",
        "RATECARD_CELERY_RESTORE_THROTTLE": "1",
        "RATECARD_BILLING_CHUNK_SIZE": str(chunk_size),
        "RATECARD_AUTO_FINALIZE": "false",
        "LOG_LEVEL": "WARNING",
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-c",
            "2",
            "-Q",
            queue,
            "-l",
            "warning",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    STARTED.append(worker)
    return worker


def stop(worker: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(worker.pid, sig)
    except ProcessLookupError:
        return
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)


def wait_for(predicate, seconds: float = 90.0, step: float = 0.2) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError("timed out waiting")


def make_subscriptions(n: int) -> None:
    plan_create(
        draft=PlanDraft(
            code="premium",
            name="Premium",
            currency="USD",
            prices=(PriceDraft(code="seat", model="per_unit", unit_amount=Decimal("18.00")),),
        )
    )
    Customer.objects.bulk_create(
        Customer(external_id=f"c{i:04d}", name=f"Customer {i}", currency="USD") for i in range(n)
    )
    for customer in Customer.objects.order_by("id"):
        subscribe(
            customer=customer,
            plan_code="premium",
            start=datetime(2026, 1, 1, tzinfo=UTC),
            quantity=Decimal(2),
        )


def assert_billed_exactly_once(n: int) -> None:
    assert BilledPeriod.objects.filter(reason="period").count() == n
    assert (
        not BilledPeriod.objects.values("subscription_id", "period_start", "reason")
        .annotate(c=Count("id"))
        .filter(c__gt=1)
        .exists()
    )
    boundary = Invoice.objects.filter(billing_date=AS_OF)
    assert boundary.count() == n
    assert not boundary.values("customer_id").annotate(c=Count("id")).filter(c__gt=1).exists()
    assert InvoiceLine.objects.filter(invoice__billing_date=AS_OF).count() == n
    assert set(boundary.values_list("total", flat=True)) == {Decimal("36.00")}
    assert Subscription.objects.filter(current_period_start=AS_OF).count() == n


def test_two_runs_at_once_bill_each_period_exactly_once(queue: str) -> None:
    n = 150
    make_subscriptions(n)
    worker = start_worker(queue)
    try:
        first, second = billing_run_create(as_of=AS_OF), billing_run_create(as_of=AS_OF)
        run_billing.apply_async((first.pk,), queue=queue)
        run_billing.apply_async((second.pk,), queue=queue)
        done = {BillingRun.Status.COMPLETED, BillingRun.Status.COMPLETED_WITH_FAILURES}
        wait_for(
            lambda: BillingRun.objects.filter(pk__in=[first.pk, second.pk], status__in=done).count() == 2
        )
    finally:
        stop(worker)
    assert_billed_exactly_once(n)
    runs = BillingRun.objects.filter(pk__in=[first.pk, second.pk])
    assert sum(r.invoices_created for r in runs) == n
    assert all(r.failures_count == 0 for r in runs)


def test_a_worker_killed_mid_run_leaves_nothing_half_written_and_the_run_completes(queue: str) -> None:
    n = 400
    make_subscriptions(n)
    run = billing_run_create(as_of=AS_OF)
    worker = start_worker(queue, chunk_size=5)
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
    worker = start_worker(queue, chunk_size=5)
    try:
        wait_for(lambda: BillingRun.objects.get(pk=run.pk).status == BillingRun.Status.COMPLETED, seconds=120)
    finally:
        stop(worker)
    assert_billed_exactly_once(n)
    assert BillingRun.objects.get(pk=run.pk).invoices_created == n
