"""A request's id travels in a Celery message header to a real worker (Redis, PostgreSQL), into the
tasks it runs and the tasks those queue, and the worker logs it as JSON fields (LOG_FORMAT=json)."""

from __future__ import annotations

import json
from pathlib import Path

import structlog

from invoicing.models import BillingRun
from invoicing.services.billing_runs import billing_run_create
from invoicing.tasks import run_billing
from tests.integration.workers import AS_OF, REAL_SERVICES, make_subscriptions, start_worker, stop, wait_for

pytestmark = REAL_SERVICES


def test_the_request_id_travels_to_a_real_worker_and_the_tasks_it_queues(queue: str, tmp_path: Path) -> None:
    make_subscriptions(3)
    run = billing_run_create(as_of=AS_OF)
    log = tmp_path / "worker.log"
    worker = start_worker(
        queue, chunk_size=1, env={"LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}, beat_dir=tmp_path
    )
    try:
        structlog.contextvars.bind_contextvars(request_id="req-to-worker")  # as the middleware does
        try:
            run_billing.apply_async((run.pk,), queue=queue)
        finally:
            structlog.contextvars.clear_contextvars()
        wait_for(
            lambda: BillingRun.objects.get(pk=run.pk).finished_at is not None,
            describe=lambda: log.read_text(errors="replace")[-2000:],
        )
    finally:
        stop(worker)
    entries = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    ours = [entry for entry in entries if entry.get("request_id") == "req-to-worker"]
    tasks = {entry.get("task") for entry in ours}
    # the run's task, and the chunk tasks it queued on the worker, log under the web request's id
    assert {"invoicing.tasks.run_billing", "invoicing.tasks.bill_chunk"} <= tasks, tasks
    assert any(
        entry.get("event") == "billing_run.finished" and entry.get("run_id") == run.pk for entry in ours
    )
