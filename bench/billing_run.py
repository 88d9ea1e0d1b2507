"""Billing-run benchmark: N subscriptions with seats and usage, billed by a real Celery worker.

Run from the repo root: ``.venv/bin/python bench/billing_run.py [--subscriptions 10000]``. It
1. recreates the ``ratecard_bench_billing`` database on 127.0.0.1 and migrates it;
2. creates N customers, each with a Premium subscription (per-seat 18.00 in advance, 1-50 seats, plus
   relay traffic in arrears on graduated tiers) whose January period ends at 2026-02-01, and sends
   ``--events`` usage events per customer through the real ingestion service;
3. bills two probe chunks (100 and 500 more subscriptions) in this process and counts their queries:
   the count must not grow with the chunk (set-based reads and bulk writes);
4. starts a Celery worker with 2 processes on Redis, runs one billing run as of 2026-02-01, and prints
   the run's duration, invoices/s and queries per invoice;
5. finalizes every draft the way a billing run does after the review window (``finalize_due_drafts``:
   batches of numbers, snapshots and credits; no PDF) in this process and prints that rate, with the
   queries per invoice of a probe batch;
6. meanwhile the worker renders the PDFs the finalizations queued after each commit; prints how many
   it stored in ``--pdf-seconds`` and that rate (all of them with ``--pdf-seconds 0``).
Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and Redis on 127.0.0.1:6379.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "ratecard_bench_billing"
DATABASE_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
REDIS_URL = "redis://127.0.0.1:6379/0"
QUEUE = f"ratecard-bench-{uuid.uuid4().hex[:6]}"
START = datetime(2026, 1, 1, tzinfo=UTC)
AS_OF = datetime(2026, 2, 1, tzinfo=UTC)
FINALIZE_AT = AS_OF + timedelta(days=3)  # the drafts' review window (72 hours) has passed


def prepare_database() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True, env=os.environ)


def create_data(n: int, events_per_customer: int) -> None:
    from accounts.models import Customer
    from billing.models import Subscription, SubscriptionItem
    from billing.services.catalog import PlanDraft, PriceDraft, TierDraft, metric_create, plan_create
    from billing.services.usage_ingest import usage_events_ingest
    from billing.services.usage_schema import EventIn

    metric_create(code="relay_gb", name="Relay traffic (GB)", aggregation="sum", field_name="gb")
    version = plan_create(
        draft=PlanDraft(
            code="premium",
            name="Premium",
            currency="USD",
            prices=(
                PriceDraft(
                    code="seat", model="per_unit", unit_amount=Decimal("18.00"), description="Premium seat"
                ),
                PriceDraft(
                    code="relay",
                    model="graduated",
                    billing="in_arrears",
                    metric="relay_gb",
                    description="Relay traffic",
                    tiers=(
                        TierDraft(up_to=Decimal(100), unit_amount=Decimal("0")),
                        TierDraft(up_to=Decimal(1000), unit_amount=Decimal("0.05")),
                        TierDraft(up_to=None, unit_amount=Decimal("0.04")),
                    ),
                ),
            ),
        )
    )
    rng = random.Random(7)
    Customer.objects.bulk_create(
        (
            Customer(external_id=f"bench-{i:06d}", name=f"Bench Customer {i}", currency="USD")
            for i in range(n)
        ),
        batch_size=2000,
    )
    customers = list(Customer.objects.order_by("id").values_list("id", "external_id"))
    subs = [
        Subscription(
            customer_id=cid,
            plan_version=version,
            status="active",
            quantity=Decimal(rng.randint(1, 50)),
            currency="USD",
            started_at=START,
            billing_anchor="anniversary",
            anchor_at=START,
            timezone="UTC",
            current_period_start=START,
            current_period_end=AS_OF,
        )
        for cid, _ in customers
    ]
    Subscription.objects.bulk_create(subs, batch_size=2000)
    prices = list(version.prices.all())
    SubscriptionItem.objects.bulk_create(
        (SubscriptionItem(subscription=s, price=p, quantity=s.quantity) for s in subs for p in prices),
        batch_size=5000,
    )
    batch: list[EventIn] = []
    sent = 0
    for _, external_id in customers:
        for e in range(events_per_customer):
            when = START + timedelta(minutes=rng.randint(0, 31 * 24 * 60 - 1))
            batch.append(
                EventIn(
                    event_id=f"{external_id}-{e}",
                    customer=external_id,
                    metric="relay_gb",
                    timestamp=when,
                    properties={"gb": Decimal(rng.randint(1, 400))},
                )
            )
            if len(batch) == 1000:
                sent += usage_events_ingest(events=batch, now=AS_OF).accepted
                batch = []
    if batch:
        sent += usage_events_ingest(events=batch, now=AS_OF).accepted
    print(f"setup: {n:,} customers and subscriptions, {sent:,} usage events")


def probe_queries(first: int, sizes: tuple[int, ...]) -> list[tuple[int, int]]:
    """Bill chunks of different sizes in this process; return (chunk size, queries)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from billing.models import Subscription
    from invoicing.models import BillingRun, BillingRunChunk
    from invoicing.services.billing_runs import billing_run_chunk, billing_run_create

    run = billing_run_create(as_of=AS_OF)
    BillingRun.objects.filter(pk=run.pk).update(status=BillingRun.Status.RUNNING)
    ids = list(Subscription.objects.order_by("id").values_list("id", flat=True)[first : first + sum(sizes)])
    out = []
    start = 0
    for index, size in enumerate(sizes):
        BillingRunChunk.objects.create(run=run, index=index, subscription_ids=ids[start : start + size])
        with CaptureQueriesContext(connection) as ctx:
            billing_run_chunk(run_id=run.pk, index=index)
        out.append((size, len(ctx.captured_queries)))
        start += size
    return out


@contextlib.contextmanager
def celery_worker(workers: int) -> Iterator[None]:
    """A Celery worker on this benchmark's own queue, stopped (and its queue dropped) on exit."""
    env = {**os.environ, "RATECARD_AUTO_FINALIZE": "false", "LOG_LEVEL": "WARNING"}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-c",
            str(workers),
            "-Q",
            QUEUE,
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
    try:
        time.sleep(3)  # let the worker connect before the clock starts
        yield
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        import redis

        redis.Redis.from_url(REDIS_URL).delete(QUEUE)  # PDF tasks left when we stopped waiting


def billing_run() -> tuple[float, int, int, int, int]:
    """One billing run on the worker, drafts only (the worker's RATECARD_AUTO_FINALIZE is off)."""
    from invoicing.models import BillingRun
    from invoicing.services.billing_runs import billing_run_create
    from invoicing.tasks import run_billing

    run = billing_run_create(as_of=AS_OF)
    began = time.monotonic()
    run_billing.apply_async((run.pk,), queue=QUEUE)
    while True:
        run.refresh_from_db()
        if run.status in (
            BillingRun.Status.COMPLETED,
            BillingRun.Status.COMPLETED_WITH_FAILURES,
            BillingRun.Status.FAILED,
        ):
            break
        if time.monotonic() - began > 600:
            raise SystemExit("billing run did not finish in 10 minutes")
        time.sleep(0.05)
    elapsed = time.monotonic() - began
    return elapsed, run.invoices_created, run.subscriptions_billed, run.failures_count, run.pk


def finalize_probe(run_id: int, count: int) -> int:
    """Finalize ``count`` drafts of the probe run in one batch; return the queries it took."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from invoicing.models import Invoice, InvoiceStatus
    from invoicing.services.finalization import invoices_finalize

    ids = list(
        Invoice.objects.filter(status=InvoiceStatus.DRAFT, billing_run_id=run_id)
        .order_by("id")
        .values_list("id", flat=True)[:count]
    )
    with CaptureQueriesContext(connection) as ctx:
        invoices_finalize(invoice_ids=ids, at=FINALIZE_AT)
    return len(ctx.captured_queries)


def finalize_all() -> tuple[int, float]:
    """What a billing run does after the review window: every due draft, in batches (no PDF)."""
    from invoicing.services.billing_runs import finalize_due_drafts

    began = time.monotonic()
    done = finalize_due_drafts(as_of=FINALIZE_AT)
    return done, time.monotonic() - began


def pdf_cpu_seconds(sample: int) -> float:
    """CPU seconds one PDF render takes in this process (the worker's cost without the machine's load)."""
    from invoicing.models import Invoice, InvoiceStatus
    from invoicing.services.pdf import invoice_pdf

    invoices = list(
        Invoice.objects.exclude(status=InvoiceStatus.DRAFT)
        .select_related("customer")
        .order_by("-id")[: sample + 1]
    )
    invoice_pdf(invoice=invoices.pop())  # the first render loads fonts and WeasyPrint
    began = time.process_time()
    for invoice in invoices:
        invoice_pdf(invoice=invoice)
    return (time.process_time() - began) / max(len(invoices), 1)


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


def wait_for_pdfs(target: int, since: float, seconds: float) -> tuple[int, float]:
    """Documents the worker stored since ``since`` (monotonic), waiting up to ``seconds`` (0: all)."""
    from invoicing.models import InvoiceDocument

    while True:
        stored = InvoiceDocument.objects.count()
        elapsed = time.monotonic() - since
        if stored >= target or (seconds and elapsed >= seconds) or elapsed > 3600:
            return stored, elapsed
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=5, help="usage events per customer")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--finalize-probe", type=int, default=100, help="drafts in the query-count probe")
    parser.add_argument(
        "--pdf-seconds", type=float, default=120, help="how long to watch the PDF rendering (0: until all)"
    )
    args = parser.parse_args()

    os.environ.update(
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="config.settings",
        RATECARD_CELERY_QUEUE=QUEUE,  # the PDF tasks finalization queues go to this benchmark's worker
    )
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    prepare_database()
    import django

    django.setup()
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    probes = (100, 500)
    began = time.monotonic()
    create_data(args.subscriptions + sum(probes), args.events)
    print(f"setup took {time.monotonic() - began:.1f} s")
    with CaptureQueriesContext(connection):
        reset_queries()
    sizes = probe_queries(args.subscriptions, probes)
    for size, queries in sizes:
        print(
            f"probe chunk of {size:>4} subscriptions: {queries} queries ({queries / size:.2f} per subscription)"
        )
    chunk = int(os.environ.get("RATECARD_BILLING_CHUNK_SIZE", "500"))
    per_chunk = max(q for _, q in sizes)
    print(f"queries per invoice at chunks of {chunk}: about {per_chunk / chunk:.3f} ({per_chunk} per chunk)")
    with celery_worker(args.workers):
        elapsed, invoices, billed, failures, _ = billing_run()
        print(
            f"billing run: {billed:,} subscriptions, {invoices:,} invoices in {elapsed:.2f} s "
            f"with {args.workers} worker processes = {invoices / elapsed:,.0f} invoices/s ({failures} failures)"
        )
        from invoicing.models import BillingRun, Invoice, InvoiceStatus

        probe_run = BillingRun.objects.order_by("id").values_list("id", flat=True).first()
        if args.finalize_probe and probe_run is not None:
            queries = finalize_probe(probe_run, args.finalize_probe)
            print(
                f"finalization probe: {args.finalize_probe} drafts in one batch took {queries} queries "
                f"({queries / args.finalize_probe:.2f} per invoice)"
            )
        began = time.monotonic()
        finalized, took = finalize_all()
        print(
            f"finalization (number, snapshot, credits; no PDF): {finalized:,} invoices in {took:.2f} s "
            f"= {finalized / took:,.0f} invoices/s on one process (goal: 500/s; {load()})"
        )
        target = Invoice.objects.exclude(status=InvoiceStatus.DRAFT).count()
        stored, watched = wait_for_pdfs(target, began, args.pdf_seconds)
        rate = stored / watched
        print(
            f"PDF rendering after commit: {stored:,} of {target:,} stored in {watched:.1f} s by {args.workers} "
            f"worker processes = {rate:.1f} PDFs/s"
            + (
                f" (all of them would take about {target / rate / 60:.0f} min)"
                if stored < target and rate
                else ""
            )
            + f"; {load()}"
        )
    cpu = pdf_cpu_seconds(5)
    print(
        f"one PDF takes {cpu:.3f} s of CPU: {args.workers} worker processes on otherwise idle cores would "
        f"render about {args.workers / cpu:.0f} PDFs/s"
    )


if __name__ == "__main__":
    main()
