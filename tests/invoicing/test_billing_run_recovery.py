"""Billing runs keep their state in chunk rows, recover what was lost, and say what they left undone."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import OperationalError, connection, transaction
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Customer
from billing.models import BillingTiming, Subscription
from billing.services.catalog import PlanDraft, PriceDraft, plan_create
from config.celery import app
from invoicing.models import (
    BillingRun,
    BillingRunChunk,
    BillingRunFailure,
    Invoice,
    InvoiceStatus,
    NumberSequence,
)
from invoicing.services import billing_chunks
from invoicing.services.billing_runs import (
    billing_run_close,
    billing_run_create,
    billing_run_execute,
    billing_run_start,
)
from invoicing.services.billing_sweep import billing_runs_sweep
from invoicing.services.subscription_invoicing import subscription_create
from invoicing.tasks import bill_chunk
from invoicing.tasks import billing_runs_sweep as sweep_task
from tests.integration.workers import AS_OF, ROOT, assert_billed_exactly_once, free_port, make_subscriptions
from tests.ops.test_metrics import scrape, value

Status = BillingRun.Status
Chunk = BillingRunChunk.Status
needs_postgres = pytest.mark.skipif(not django_settings.IS_POSTGRES, reason="needs PostgreSQL")


@pytest.fixture
def small_chunks(settings: Any) -> Any:
    settings.RATECARD_BILLING_CHUNK_SIZE = 2
    settings.RATECARD_BILLING_DEFERRED_RETRY_SECONDS = 0
    settings.RATECARD_AUTO_FINALIZE = False
    return settings


def chunk(run: BillingRun, index: int) -> BillingRunChunk:
    return BillingRunChunk.objects.get(run=run, index=index)


@pytest.mark.django_db
def test_chunk_rows_carry_the_run_and_each_chunk_counts_once(small_chunks: Any) -> None:
    make_subscriptions(5)
    run = billing_run_create(as_of=AS_OF)
    assert billing_run_start(run_id=run.pk) == [0, 1, 2]
    assert billing_run_start(run_id=run.pk) is None  # a redelivered start writes nothing twice
    rows = list(BillingRunChunk.objects.filter(run=run))
    assert [(c.index, len(c.subscription_ids), c.status, c.attempts) for c in rows] == [
        (0, 2, "pending", 0),
        (1, 2, "pending", 0),
        (2, 1, "pending", 0),
    ]
    assert all(c.lease_expires_at is not None for c in rows)  # unqueued chunks are swept after it

    assert billing_chunks.billing_chunk_claim(run_id=run.pk, index=0)
    taken = chunk(run, 0)
    assert (taken.status, taken.attempts, taken.worker) == ("running", 1, billing_chunks.worker_name())
    assert billing_chunks.billing_chunk_bill(run_id=run.pk, index=0) == {
        "billed": 2,
        "invoices": 2,
        "failures": 0,
        "skipped": 0,
        "follow_up": None,
    }
    # the same chunk again (a redelivered or re-queued task): nothing billed, nothing counted
    assert not billing_chunks.billing_chunk_claim(run_id=run.pk, index=0)
    assert billing_chunks.billing_chunk_bill(run_id=run.pk, index=0) is None
    assert billing_run_close(run_id=run.pk) is None  # two chunks still open
    run.refresh_from_db()
    assert (run.subscriptions_billed, run.invoices_created, run.chunks_done, run.chunks_total) == (2, 2, 1, 3)

    for index in (1, 2):
        bill_chunk.apply((run.pk, index))  # the task closes the run after its last chunk
    run.refresh_from_db()
    assert (run.status, run.reason, run.subscriptions_billed, run.chunks_done) == ("completed", "", 5, 3)
    assert [c.status for c in BillingRunChunk.objects.filter(run=run)] == ["done", "done", "done"]
    assert billing_run_close(run_id=run.pk) is None  # closed once
    assert_billed_exactly_once(5)


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_chunk_cut_from_the_database_is_retried_and_billed_once(small_chunks: Any) -> None:
    make_subscriptions(2)
    run = billing_run_create(as_of=AS_OF)
    billing_run_start(run_id=run.pk)
    with pytest.raises(OperationalError), connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")  # as an operator would
    # the task's first attempt finds its connection gone: a transient error, retried with a new one
    bill_chunk.apply((run.pk, 0), throw=False)  # as a worker runs it: a Retry is not an error here
    done = chunk(run, 0)
    assert (done.status, done.attempts, done.billed) == ("done", 1, 2)
    assert "OperationalError" in done.last_error or "InterfaceError" in done.last_error
    assert BillingRun.objects.get(pk=run.pk).status == Status.COMPLETED
    assert_billed_exactly_once(2)


def test_transient_errors_are_those_of_the_database_and_the_broker() -> None:
    import kombu.exceptions
    import psycopg
    import redis.exceptions
    from django.db import InterfaceError

    from config.transient import TRANSIENT_ERRORS, is_transient

    assert set(bill_chunk.autoretry_for) == set(TRANSIENT_ERRORS)
    for exc in (
        OperationalError("server closed the connection"),
        InterfaceError("connection already closed"),
        psycopg.OperationalError("terminating connection due to administrator command"),
        redis.exceptions.ConnectionError("Error 111 connecting"),
        kombu.exceptions.OperationalError("Connection refused"),
    ):
        assert is_transient(exc)
    assert not is_transient(ValueError("bad data"))
    assert (bill_chunk.acks_late, bill_chunk.reject_on_worker_lost) == (True, True)


@pytest.mark.django_db
def test_the_sweep_requeues_an_expired_lease_and_the_run_completes(small_chunks: Any) -> None:
    make_subscriptions(3)
    run = billing_run_create(as_of=AS_OF)
    billing_run_start(run_id=run.pk)
    billing_run_execute_chunk_0_then_lose_chunk_1(run)
    assert billing_runs_sweep().chunks_to_queue == []  # leases not expired: nothing to do yet
    BillingRunChunk.objects.filter(run=run, index=1).update(lease_expires_at=timezone.now() - timedelta(1))
    found = billing_runs_sweep()
    assert found.chunks_to_queue == [(run.pk, 1)]
    requeued = chunk(run, 1)
    assert (requeued.status, requeued.attempts) == ("pending", 1)
    assert requeued.lease_expires_at is not None and requeued.lease_expires_at > timezone.now()

    # a pending chunk past its lease while the run moves is a backlog, not a lost message
    BillingRunChunk.objects.filter(run=run, index=1).update(lease_expires_at=timezone.now() - timedelta(1))
    assert billing_runs_sweep().chunks_to_queue == []
    # nothing finished for a lease: its message was lost
    BillingRunChunk.objects.filter(run=run, index=0).update(finished_at=timezone.now() - timedelta(1))
    sweep_task.apply()  # eager here: queues the chunk, which bills and closes the run
    run.refresh_from_db()
    assert (run.status, run.subscriptions_billed) == ("completed", 3)
    assert chunk(run, 1).attempts == 2
    assert_billed_exactly_once(3)


def billing_run_execute_chunk_0_then_lose_chunk_1(run: BillingRun) -> None:
    """Chunk 0 billed; chunk 1 taken by a worker that then died (its transaction rolled back)."""
    bill_chunk.apply((run.pk, 0))
    assert billing_chunks.billing_chunk_claim(run_id=run.pk, index=1)


@pytest.mark.django_db
def test_a_chunk_out_of_attempts_fails_the_run_with_the_reason(
    small_chunks: Any, client: Client, admin_user: User, finance_api: APIClient
) -> None:
    small_chunks.RATECARD_BILLING_CHUNK_MAX_ATTEMPTS = 2
    make_subscriptions(3)
    run = billing_run_create(as_of=AS_OF)
    billing_run_start(run_id=run.pk)
    bill_chunk.apply((run.pk, 0))
    BillingRunChunk.objects.filter(run=run, index=1).update(
        status=Chunk.RUNNING, attempts=2, last_error="OperationalError: server closed the connection"
    )
    BillingRunChunk.objects.filter(run=run, index=1).update(lease_expires_at=timezone.now() - timedelta(1))
    sweep_task.apply()
    run.refresh_from_db()
    assert run.status == Status.FAILED
    reason = (
        "1 of 2 chunks failed, 1 subscriptions not billed (chunk 1: lease expired after 2 attempts; "
        "last error: OperationalError: server closed the connection)"
    )
    assert run.reason == reason
    body = finance_api.get(f"/api/v1/billing-runs/{run.pk}").json()
    assert (body["status"], body["reason"], body["deferred"], body["subscriptions_billed"]) == (
        "failed",
        reason,
        0,
        2,
    )
    assert body["chunks"] == {"total": 2, "pending": 0, "running": 0, "done": 1, "failed": 1}
    client.force_login(admin_user)
    page = client.get(f"/admin/invoicing/billingrun/{run.pk}/change/").content.decode()
    assert "lease expired after 2 attempts" in page
    assert "failed" in page


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_subscription_locked_by_a_concurrent_change_is_retried_then_deferred(small_chunks: Any) -> None:
    small_chunks.RATECARD_BILLING_DEFERRED_RETRIES = 2
    make_subscriptions(3)
    held = Subscription.objects.order_by("id").first()
    assert held is not None
    before = scrape()
    with locked_elsewhere(held.pk):
        run = billing_run_execute(run_id=billing_run_create(as_of=AS_OF).pk)
    after = scrape()  # /metrics: the deferred subscription, counted once (not per retry round)
    assert (
        value(after, "ratecard_billing_subscriptions_total", outcome="deferred")
        - value(before, "ratecard_billing_subscriptions_total", outcome="deferred")
        == 1
    )
    assert value(after, "ratecard_billing_run_last", figure="subscriptions_deferred") == 1
    assert (run.status, run.subscriptions_billed, run.deferred, run.failures_count) == (
        "completed_with_failures",
        2,
        1,
        0,
    )
    assert run.reason == (
        "1 subscriptions deferred: a concurrent change kept them locked; the next run bills them"
    )
    # two follow-up rounds tried it again before it was counted
    follow_ups = BillingRunChunk.objects.filter(run=run, retry_round__gt=0).order_by("index")
    assert [(c.retry_round, c.subscription_ids, c.deferred) for c in follow_ups] == [
        (1, [held.pk], 0),
        (2, [held.pk], 1),
    ]
    # the next run bills it, and only it
    again = billing_run_execute(run_id=billing_run_create(as_of=AS_OF).pk)
    assert (again.status, again.subscriptions_billed, again.deferred) == ("completed", 1, 0)
    assert_billed_exactly_once(3)


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_subscription_released_before_the_follow_up_is_billed_within_the_run(small_chunks: Any) -> None:
    make_subscriptions(2)
    held = Subscription.objects.order_by("id").first()
    assert held is not None
    run = billing_run_create(as_of=AS_OF)
    billing_run_start(run_id=run.pk)
    with locked_elsewhere(held.pk):
        outcome = bill_chunk_service(run, 0)
    assert (outcome["billed"], outcome["skipped"], outcome["follow_up"]) == (1, 1, 1)
    assert BillingRun.objects.get(pk=run.pk).status == Status.RUNNING  # the follow-up is owed
    bill_chunk.apply((run.pk, 1))
    run.refresh_from_db()
    assert (run.status, run.subscriptions_billed, run.deferred, run.chunks_total) == ("completed", 2, 0, 2)
    assert_billed_exactly_once(2)


def bill_chunk_service(run: BillingRun, index: int) -> dict[str, Any]:
    assert billing_chunks.billing_chunk_claim(run_id=run.pk, index=index)
    outcome = billing_chunks.billing_chunk_bill(run_id=run.pk, index=index)
    assert outcome is not None
    return outcome


class locked_elsewhere:
    """Hold a row lock in another connection: a subscription's, as a concurrent change would (or any
    model's row, e.g. the run's, as another chunk's billing transaction does)."""

    def __init__(self, sub_id: int, model: Any = Subscription) -> None:
        self.sub_id = sub_id
        self.model = model
        self.locked, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold)

    def _hold(self) -> None:
        from django.db import connection as own

        try:
            with transaction.atomic():
                self.model.objects.select_for_update().get(pk=self.sub_id)
                self.locked.set()
                self.release.wait(60)
        finally:
            own.close()

    def __enter__(self) -> None:
        self.thread.start()
        assert self.locked.wait(30)

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(30)


@pytest.mark.django_db
def test_a_draft_that_fails_to_finalize_is_a_failure_of_the_run(settings: Any) -> None:
    settings.RATECARD_INVOICE_REVIEW_HOURS = 0
    make_subscriptions(1, billing=BillingTiming.IN_ARREARS)
    # a number already taken (say, imported from the previous system): the first finalization clashes
    first = Subscription.objects.order_by("id").select_related("customer").first()
    assert first is not None
    Invoice.objects.create(
        customer=first.customer,
        currency="USD",
        billing_date=AS_OF - timedelta(days=40),
        status=InvoiceStatus.VOID,
        number="INV-2026-000001",
    )
    NumberSequence.objects.create(kind="INV", year=2026, last_value=0)
    run = billing_run_execute(run_id=billing_run_create(as_of=AS_OF).pk)
    failure = BillingRunFailure.objects.get(run=run)
    assert failure.invoice is not None and failure.invoice.status == InvoiceStatus.DRAFT
    assert failure.error.startswith(f"finalizing invoice {failure.invoice_id}: IntegrityError")
    assert (run.status, run.failures_count, run.reason) == (
        "completed_with_failures",
        1,
        "1 failures (see failure_details)",
    )


@pytest.fixture
def unreachable_broker(settings: Any) -> Iterator[str]:
    """Celery not eager, its broker a closed port (Redis down): publishing fails."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    saved = (app.conf.broker_url, app.conf.task_always_eager, app._pool, app.amqp._producer_pool)
    app.conf.broker_url, app.conf.task_always_eager = url, False
    app._pool = app.amqp._producer_pool = None
    settings.CELERY_TASK_ALWAYS_EAGER = False
    yield url
    app.conf.broker_url, app.conf.task_always_eager, app._pool, app.amqp._producer_pool = saved


@pytest.mark.django_db
def test_a_run_requested_while_the_broker_is_down_is_kept_and_started_by_the_sweep(
    small_chunks: Any,
    finance_api: APIClient,
    unreachable_broker: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_subscriptions(2)
    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = finance_api.post("/api/v1/billing-runs", {"as_of": AS_OF.isoformat()}, format="json")
    assert len(queued) == 1  # it tried to queue the run, after commit, and failed
    assert response.status_code == 202  # accepted honestly: the committed run row is the outbox
    body = response.json()
    assert (body["status"], body["chunks"]["total"]) == ("pending", 0)
    run = BillingRun.objects.get(pk=body["id"])
    assert billing_runs_sweep().runs_to_start == []  # a fresh run may still be on its way
    BillingRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert billing_runs_sweep().runs_to_start == [run.pk]
    # the broker is back (eager here): the sweep starts the run
    app.conf.task_always_eager = True
    sweep_task.apply()
    run.refresh_from_db()
    assert (run.status, run.subscriptions_billed) == ("completed", 2)


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_run_billing_needs_no_redis() -> None:
    make_subscriptions(3)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        "RATECARD_AUTO_FINALIZE": "true",
        "RATECARD_INVOICE_REVIEW_HOURS": "0",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "run_billing", "--as-of", AS_OF.isoformat()],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    run = BillingRun.objects.get()
    assert f"Billing run #{run.pk} as of 2026-02-01T00:00:00+00:00: completed" in done.stdout
    assert (run.status, run.subscriptions_billed) == ("completed", 3)
    assert_billed_exactly_once(3)
    assert not Invoice.objects.filter(status=InvoiceStatus.DRAFT).exists()
    assert Invoice.objects.filter(billing_date=AS_OF).first().total == Decimal("36.00")  # type: ignore[union-attr]


@pytest.mark.django_db
def test_a_subscription_that_cannot_be_billed_is_a_failure_and_the_rest_of_the_chunk_is_billed(
    small_chunks: Any, django_capture_on_commit_callbacks: Any
) -> None:
    small_chunks.RATECARD_BILLING_CHUNK_SIZE = 500
    make_subscriptions(2)
    # 10^11 seats at 1,000,000.00: an amount beyond what an invoice line holds (refused before any write)
    plan_create(
        draft=PlanDraft(
            code="giant",
            name="Giant",
            currency="USD",
            prices=(PriceDraft(code="seat", model="per_unit", unit_amount=Decimal("1000000.00")),),
        )
    )
    customer = Customer.objects.create(external_id="giant", name="Giant", currency="USD")
    huge, _ = subscription_create(
        customer=customer, plan_code="giant", start=AS_OF - timedelta(days=31), quantity=Decimal(1)
    )
    Subscription.objects.filter(pk=huge.pk).update(quantity=Decimal(10**11))
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):  # counted after commit
        run = billing_run_execute(run_id=billing_run_create(as_of=AS_OF).pk)
    after = scrape()  # /metrics: the failed subscription in the counter and the last run's failures
    assert (
        value(after, "ratecard_billing_subscriptions_total", outcome="failed")
        - value(before, "ratecard_billing_subscriptions_total", outcome="failed")
        == 1
    )
    assert value(after, "ratecard_billing_run_failures") == 1
    assert (run.status, run.subscriptions_billed, run.invoices_created, run.failures_count) == (
        "completed_with_failures",
        2,
        2,
        1,
    )
    failure = BillingRunFailure.objects.get(run=run)
    assert failure.subscription_id == huge.pk
    assert failure.error.startswith("ValidationFailed") and "larger than an invoice can hold" in failure.error
    # the others are billed in full; the failed one is untouched and due again
    assert Invoice.objects.filter(billing_date=AS_OF).count() == 2
    assert set(Invoice.objects.filter(billing_date=AS_OF).values_list("total", flat=True)) == {
        Decimal("36.00")
    }
    assert Subscription.objects.get(pk=huge.pk).current_period_end == AS_OF


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_chunk_is_taken_while_another_chunk_of_its_run_holds_the_run_row(small_chunks: Any) -> None:
    """Each chunk's billing transaction updates (locks) the run row; taking the next chunk meanwhile must
    not skip it: a skipped claim once acknowledged the message and left the chunk unbilled."""
    make_subscriptions(4)
    run = billing_run_create(as_of=AS_OF)
    billing_run_start(run_id=run.pk)
    with locked_elsewhere(run.pk, model=BillingRun):
        assert billing_chunks.billing_chunk_claim(run_id=run.pk, index=1)
    assert chunk(run, 1).status == "running"
    for index in (0, 1):
        bill_chunk.apply((run.pk, index))
    assert BillingRun.objects.get(pk=run.pk).status == Status.COMPLETED
    assert_billed_exactly_once(4)
