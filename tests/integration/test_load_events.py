"""Load: usage events posted at a steady rate over loopback to gunicorn (2 workers) while a billing run
executes on a Celery worker: no 5xx, every event sent is stored once, and the run bills each period once.

Bounded in time: ``RATECARD_LOAD_SECONDS`` (default 20, at most 60) at ``RATECARD_LOAD_RATE`` batches a
second (default 5) of ``RATECARD_LOAD_BATCH`` events (default 500).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.db import connection

from accounts.services.tokens import api_token_create
from billing.models import UsageEvent
from billing.services.catalog import metric_create
from invoicing.models import BillingRun
from tests.conftest import make_staff
from tests.integration.load_client import LoadResult, load
from tests.integration.workers import (
    AS_OF,
    REAL_SERVICES,
    RECOVERING_ENV,
    ROOT,
    STARTED,
    assert_billed_exactly_once,
    describe,
    free_port,
    make_subscriptions,
    start_worker,
    stop,
    wait_for,
)

pytestmark = REAL_SERVICES

SECONDS = min(float(os.environ.get("RATECARD_LOAD_SECONDS", "20")), 60.0)
RATE = float(os.environ.get("RATECARD_LOAD_RATE", "5"))
BATCH = int(os.environ.get("RATECARD_LOAD_BATCH", "500"))
SUBSCRIPTIONS = 200


def _request(
    port: int, method: str, path: str, token: str, body: dict[str, object] | None = None
) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def test_events_at_a_steady_rate_during_a_billing_run_all_stored_no_5xx(queue: str, tmp_path: Path) -> None:
    make_subscriptions(SUBSCRIPTIONS)
    metric_create(code="api_calls", name="API calls", aggregation="count")
    _, token = api_token_create(user=make_staff("loader", "finance"))
    db, port = connection.settings_dict, free_port()
    env = {
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "RATECARD_CELERY_QUEUE": queue,
        **RECOVERING_ENV,
    }
    worker = start_worker(queue, env=env, beat_dir=tmp_path)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
        cwd=ROOT,
        env={**os.environ, **env, "DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "k" * 50,
             "DJANGO_SECURE_SSL_REDIRECT": "false", "GUNICORN_BIND": f"127.0.0.1:{port}",
             "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), "LOG_LEVEL": "WARNING"},
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    STARTED.append(server)
    outcome: list[LoadResult] = []
    try:
        wait_for(lambda: _up(port), seconds=60)
        customers = [f"c{i:04d}" for i in range(SUBSCRIPTIONS)]
        loader = threading.Thread(
            target=lambda: outcome.append(
                load(
                    port=port,
                    token=token,
                    customers=customers,
                    metric="api_calls",
                    rate=RATE,
                    batch=BATCH,
                    seconds=SECONDS,
                )
            )
        )
        loader.start()
        time.sleep(min(2.0, SECONDS / 4))
        status, run = _request(port, "POST", "/api/v1/billing-runs", token, {"as_of": AS_OF.isoformat()})
        assert status in (201, 202), run
        loader.join(timeout=SECONDS + 120)
        done = {
            BillingRun.Status.COMPLETED,
            BillingRun.Status.COMPLETED_WITH_FAILURES,
            BillingRun.Status.FAILED,
        }
        wait_for(
            lambda: BillingRun.objects.filter(pk=run["id"], status__in=done).exists(),
            describe=lambda: describe(run["id"], tmp_path),
        )
    finally:
        stop(server)
        stop(worker)
    [result] = outcome
    print(result.summary())
    expected = int(RATE * SECONDS) * BATCH
    assert result.server_errors == 0, result.statuses
    assert set(result.statuses) <= {202, 429}, result.statuses  # 429s were retried until accepted
    assert result.events_sent == result.events_accepted == expected and result.duplicates == 0
    assert UsageEvent.objects.count() == expected  # count in = count stored
    assert BillingRun.objects.get(pk=run["id"]).status == BillingRun.Status.COMPLETED
    assert_billed_exactly_once(SUBSCRIPTIONS)


def _up(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
