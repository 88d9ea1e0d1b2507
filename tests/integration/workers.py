"""Real processes for integration tests: Celery workers (optionally with beat), a private Redis.

Every process started here is in ``STARTED`` and killed by ``tests/integration/conftest.py`` when the
test ends, pass or fail. A test that restarts Redis starts its own ``redis-server`` on a free port in a
temporary directory: the shared Redis on 6379 is never touched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count

from accounts.models import Customer
from billing.models import BillingTiming, Subscription
from billing.services.catalog import PlanDraft, PriceDraft, plan_create
from invoicing.models import BilledPeriod, BillingRun, BillingRunChunk, Invoice, InvoiceLine, InvoiceStatus
from invoicing.services.subscription_invoicing import subscription_create

ROOT = Path(__file__).resolve().parents[2]
AS_OF = datetime(2026, 2, 1, tzinfo=UTC)

# the marks of a test on real services: PostgreSQL, Redis and worker processes, no eager Celery
REAL_SERVICES = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.REDIS_URL or not settings.IS_POSTGRES, reason="needs PostgreSQL and Redis"
    ),
]

STARTED: list[subprocess.Popen[bytes]] = []

# a worker that recovers quickly: short leases, a sweep every second (beat inside the worker), drafts
# finalized at the end of the run
RECOVERING_ENV = {
    "RATECARD_BILLING_LEASE_SECONDS": "4",
    "RATECARD_BILLING_SWEEP_SECONDS": "1",
    "RATECARD_BILLING_DEFERRED_RETRY_SECONDS": "1",
    "RATECARD_AUTO_FINALIZE": "true",
    "RATECARD_INVOICE_REVIEW_HOURS": "0",
}


def start_worker(
    queue: str,
    *,
    chunk_size: int = 25,
    redis_url: str | None = None,
    env: dict[str, str] | None = None,
    beat_dir: Path | None = None,
) -> subprocess.Popen[bytes]:
    """A Celery worker (2 pool processes) on ``queue``; with ``beat_dir``, Celery beat runs inside it."""
    full_env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_url or settings.REDIS_URL,
        "RATECARD_CELERY_QUEUE": queue,
        "RATECARD_CELERY_VISIBILITY_TIMEOUT": "3",
        "RATECARD_CELERY_RESTORE_INTERVAL": "1",
        "RATECARD_CELERY_RESTORE_THROTTLE": "1",
        "RATECARD_BILLING_CHUNK_SIZE": str(chunk_size),
        "RATECARD_AUTO_FINALIZE": "false",
        "RATECARD_BILLING_DEFERRED_RETRY_SECONDS": "1",
        "LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-c", "2", "-Q", queue]
    command += ["-l", "warning", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    if beat_dir is not None:
        command += ["-B", "-s", str(beat_dir / "beat-schedule")]
    log = open(beat_dir / "worker.log", "wb") if beat_dir is not None else subprocess.DEVNULL  # noqa: SIM115
    worker = subprocess.Popen(command, cwd=ROOT, env=full_env, start_new_session=True, stdout=log, stderr=log)
    STARTED.append(worker)
    return worker


def start_web(port: int, env: dict[str, str], metrics_dir: Path) -> subprocess.Popen[bytes]:
    """gunicorn as in production (``config/gunicorn.py``: 2 workers, prometheus multiprocess mode)."""
    metrics_dir.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
        cwd=ROOT,
        env={**os.environ, **env, "DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "k" * 50,
             "DJANGO_SECURE_SSL_REDIRECT": "false", "GUNICORN_BIND": f"127.0.0.1:{port}",
             "WEB_CONCURRENCY": "2", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "LOG_LEVEL": "WARNING"},
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    STARTED.append(server)
    return server


def database_url() -> str:
    """The test database, for the processes a test starts."""
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def real_clock_env() -> dict[str, str]:
    """This environment without libfaketime: a service we start (Redis) keeps the real clock, as the
    shared PostgreSQL and Redis do when the suite runs under ``faketime`` to prove it is date-proof."""
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}


def start_redis(port: int, directory: Path) -> subprocess.Popen[bytes]:
    """A private redis-server without persistence: stopping it loses every queued message."""
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)]
    server = subprocess.Popen(
        [*command, "--save", "", "--appendonly", "no"],
        env=real_clock_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    STARTED.append(server)
    wait_for(lambda: _answers(port), seconds=20, step=0.05)
    return server


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_for(
    predicate: Callable[[], bool],
    seconds: float = 90.0,
    step: float = 0.2,
    describe: Callable[[], str] | None = None,
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError(f"timed out waiting{': ' + describe() if describe else ''}")


def describe(run_id: int, workdir: Path | None = None) -> str:
    """The run and its chunks as they are, and the worker's log tail (printed when a wait times out)."""
    run = BillingRun.objects.get(pk=run_id)
    chunks = {
        c.index: (c.status, c.attempts, c.last_error[:80]) for c in BillingRunChunk.objects.filter(run=run)
    }
    log = workdir / "worker.log" if workdir else None
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    drafts = Invoice.objects.filter(billing_date=AS_OF, status=InvoiceStatus.DRAFT).count()
    return f"run {run.status} reason={run.reason!r} drafts={drafts} chunks={chunks}\n{tail}"


def make_subscriptions(n: int, *, billing: str = BillingTiming.IN_ADVANCE) -> None:
    """``n`` customers on 2 seats at 18.00 from January 1st; each owes 36.00 at ``AS_OF``.

    In arrears, subscribing bills nothing: the run's drafts are then the only drafts.
    """
    plan_create(
        draft=PlanDraft(
            code="premium",
            name="Premium",
            currency="USD",
            prices=(
                PriceDraft(code="seat", model="per_unit", unit_amount=Decimal("18.00"), billing=billing),
            ),
        )
    )
    Customer.objects.bulk_create(
        Customer(external_id=f"c{i:04d}", name=f"Customer {i}", currency="USD") for i in range(n)
    )
    for customer in Customer.objects.order_by("id"):
        subscription_create(
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
