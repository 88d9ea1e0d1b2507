"""Load with faults, all real processes on loopback: usage events posted at a steady rate to gunicorn
(2 workers) while a billing run executes on a Celery worker (beat inside) and Stripe is slow.

In that one run (one start-up of each process, so the proofs share the suite's time):
- the load: no 5xx, every event sent is stored once (count in = count stored);
- the worker SIGKILLed mid-run (every pool process and beat with it): nothing half-written, and a new
  worker completes the run — each period billed once, every invoice 36.00, every draft finalized;
- Stripe slow (a proxy adds ``RATECARD_LOAD_STRIPE_DELAY_MS`` to every call) and then SIGKILLed while
  the outbox collects the run's invoices, and started again: every finalized invoice of a card customer
  collected by exactly one PaymentIntent (counted in localstripe), a retried call sending the same
  Idempotency-Key; the webhooks of the payments made after the restart are lost (localstripe forgets
  its endpoints) and the reconciliation (beat) applies them: every one of those invoices paid once;
- a charge nobody invoiced, taken in Stripe: the reconciliation keeps it, beat opens the alert and the
  worker mails it once; it clears when finance resolves it;
- the request id of ``POST /api/v1/billing-runs`` in the JSON log lines of the tasks it queued;
- ``/metrics``, scraped from gunicorn as Prometheus does, shows the figures moving: requests and events
  summed over both web workers, the worker's counters (shared directory), the run's gauges mid-run and
  after, queues that filled and drained (sampled every half second).

Bounded: ``RATECARD_LOAD_SECONDS`` (default 60, at most 120) at ``RATECARD_LOAD_RATE`` batches a second
(default 5) of ``RATECARD_LOAD_BATCH`` events (default 500); every wait has a deadline.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db.models import Count

from accounts.models import CollectionMethod, Customer
from accounts.services.tokens import api_token_create
from billing.models import BillingTiming, UsageEvent
from billing.services.catalog import metric_create
from invoicing.models import (
    BillingRun,
    BillingRunChunk,
    Invoice,
    InvoiceStatus,
    StripeEvent,
    StripeOutbox,
)
from invoicing.services.stripe_sync import customer_payment_method_set
from reporting.models import AlertIncident
from tests.conftest import make_staff
from tests.integration.load_checks import (
    assert_collected_once,
    assert_logged_under_the_request_id,
    assert_metrics_moved,
    assert_nothing_half_written,
    assert_the_run_is_right,
    assert_the_stray_alert_mailed_once_and_clears_when_resolved,
)
from tests.integration.load_client import LoadResult, load
from tests.integration.scrape import Sampler, scrape, value
from tests.integration.slow_proxy import SlowProxy
from tests.integration.stripe_processes import OwnStripe
from tests.integration.workers import (
    AS_OF,
    REAL_SERVICES,
    RECOVERING_ENV,
    database_url,
    describe,
    free_port,
    make_subscriptions,
    start_web,
    start_worker,
    stop,
    wait_for,
)
from tests.stripe.conftest import API_KEY, WEBHOOK_SECRET

pytestmark = REAL_SERVICES

SECONDS = min(float(os.environ.get("RATECARD_LOAD_SECONDS", "60")), 120.0)
RATE = float(os.environ.get("RATECARD_LOAD_RATE", "5"))
BATCH = int(os.environ.get("RATECARD_LOAD_BATCH", "500"))
STRIPE_DELAY = float(os.environ.get("RATECARD_LOAD_STRIPE_DELAY_MS", "300")) / 1000
SUBSCRIPTIONS = 100
CARDS = 30  # customers charged automatically: one PaymentIntent each; the others pay by transfer
CHUNK = 5
REQUEST_ID = "load-test-billing-run"
METRICS_TOKEN = "load-metrics"
Collect = StripeOutbox.Kind.INVOICE_COLLECT


@dataclass
class World:
    token: str
    stripe: OwnStripe
    card_invoices: list[int] = field(default_factory=list)
    stray: str = ""  # a PaymentIntent taken in Stripe that no invoice explains


def test_events_billing_and_slow_stripe_under_load_with_worker_and_stripe_killed(
    queue: str, tmp_path: Path, settings: Any
) -> None:
    stripe = OwnStripe(tmp_path)
    proxy = SlowProxy(stripe.port, delay=STRIPE_DELAY)
    port, metrics_dir, mail_dir = free_port(), tmp_path / "metrics", tmp_path / "mail"
    for directory in (mail_dir, tmp_path / "a", tmp_path / "b"):
        directory.mkdir()
    env = {
        "DATABASE_URL": database_url(),
        "RATECARD_CELERY_QUEUE": queue,
        "STRIPE_API_KEY": API_KEY,
        "STRIPE_API_BASE": proxy.url,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "METRICS_TOKEN": METRICS_TOKEN,
        **RECOVERING_ENV,
    }
    worker_env = {
        **env,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),  # the web's: /metrics sums the worker's counters
        "RATECARD_STRIPE_OUTBOX_BACKOFF_SECONDS": "1",
        "RATECARD_STRIPE_SWEEP_SECONDS": "1",
        "RATECARD_STRIPE_RECONCILE_SECONDS": "5",  # longer than one takes: they seldom overlap
        "RATECARD_ALERT_EVALUATE_SECONDS": "1",
        "RATECARD_ALERT_EMAILS": "finance-ops@example.com",
        "EMAIL_URL": f"filemail://{mail_dir}",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }
    outcome: list[LoadResult] = []
    started, timeline = time.monotonic(), list[str]()

    def mark(moment: str) -> None:  # printed at the end: where the test's seconds go
        timeline.append(f"{moment} {time.monotonic() - started:.1f}s")

    try:
        # the processes boot while the world is written
        web = start_web(port, env, metrics_dir)
        first = start_worker(queue, chunk_size=CHUNK, env=worker_env, beat_dir=tmp_path / "a")
        world = _world(settings, stripe)
        stripe.register_webhook(f"http://127.0.0.1:{port}/stripe/webhook/")
        wait_for(lambda: _up(port), seconds=60)
        before = scrape(port, METRICS_TOKEN)
        mark("up")
        loader = threading.Thread(target=lambda: outcome.append(_load(port, world.token)))
        with Sampler(port, METRICS_TOKEN) as sampler:
            loader.start()
            time.sleep(min(2.0, SECONDS / 4))
            status, run = _post(port, "/api/v1/billing-runs", world.token, {"as_of": AS_OF.isoformat()})
            assert status in (201, 202), run
            run_id = int(run["id"])

            # fault 1: the whole worker (pool processes and beat) SIGKILLed in the middle of the run
            wait_for(lambda: _mid_run(run_id), seconds=60, step=0.02, describe=lambda: describe(run_id))
            mid_run = scrape(port, METRICS_TOKEN)
            mark("worker killed")
            stop(first, signal.SIGKILL)
            assert_nothing_half_written(run_id)
            assert_logged_under_the_request_id(tmp_path / "a" / "worker.log", REQUEST_ID)
            second = start_worker(queue, chunk_size=CHUNK, env=worker_env, beat_dir=tmp_path / "b")
            wait_for(
                lambda: BillingRun.objects.get(pk=run_id).status == BillingRun.Status.COMPLETED,
                seconds=120,
                describe=lambda: describe(run_id, tmp_path / "b"),
            )
            mark("run completed")

            # fault 2: Stripe SIGKILLed while the outbox collects, once a webhook came back
            wait_for(_collecting, seconds=90, step=0.02, describe=_outbox)
            proxy.hold()  # nothing enters localstripe from now on (slow_proxy.py says why)
            proxy.idle()
            stripe.kill()
            mark("stripe killed")
            proxy.release()  # the calls meet a dead Stripe: 502, their rows back off
            wait_for(_a_call_cut, seconds=30, describe=_outbox)
            proxy.hold()  # while it starts again the calls wait, as on a slow Stripe
            done_before = set(
                StripeOutbox.objects.filter(kind=Collect, status="done").values_list("key", flat=True)
            )
            stripe.start()  # from its state file; its webhook endpoint is gone: those webhooks are lost
            proxy.release()
            mark("stripe back")
            wait_for(lambda: _all_paid(world), seconds=90, describe=_outbox)
            mark("all paid")
            wait_for(_stray_alert_mailed, seconds=60, describe=_incidents)
            loader.join(timeout=SECONDS + 120)
            mark("load done")
            wait_for(
                lambda: value(scrape(port, METRICS_TOKEN), "ratecard_pdf_queue") == 0,
                seconds=120,
                describe=lambda: "PDFs still waiting",
            )
            after = scrape(port, METRICS_TOKEN)
            mark("PDFs done")
        stop(second)  # nothing moves behind the checks below (the reconciliation would reopen)
        stop(web)
        # what localstripe holds; its request log starts at its restart
        intents, keys = stripe.payment_intents(), stripe.idempotency_keys("/v1/payment_intents")
    finally:
        proxy.close()
        stripe.stop()

    [result] = outcome
    print(result.summary(), f"; {proxy.forwarded} Stripe calls delayed {STRIPE_DELAY * 1000:.0f} ms")
    print("timeline:", ", ".join(timeline))
    expected = int(RATE * SECONDS) * BATCH
    assert result.server_errors == 0, result.statuses
    assert set(result.statuses) <= {202, 429}, result.statuses  # 429s were retried until accepted
    assert result.events_sent == result.events_accepted == expected and result.duplicates == 0
    assert UsageEvent.objects.count() == expected  # count in = count stored

    assert_the_run_is_right(run_id, SUBSCRIPTIONS, world.card_invoices)
    assert_collected_once(intents, keys, world.card_invoices, world.stray, done_before)
    assert_the_stray_alert_mailed_once_and_clears_when_resolved(world.stray, mail_dir)
    assert_metrics_moved(before, mid_run, after, sampler, result, cards=CARDS, chunk=CHUNK)


# --- the world and the processes -------------------------------------------------------------------


def _world(settings: Any, stripe: OwnStripe) -> World:
    """SUBSCRIPTIONS subscriptions owing 36.00 at AS_OF; the first CARDS customers have a card in the
    test's own localstripe and are charged automatically, the others pay by transfer."""
    make_subscriptions(SUBSCRIPTIONS, billing=BillingTiming.IN_ARREARS)
    metric_create(code="api_calls", name="API calls", aggregation="count")
    _, token = api_token_create(user=make_staff("loader", "finance"))
    world = World(token=token, stripe=stripe)
    stripe.start()
    settings.STRIPE_API_KEY, settings.STRIPE_API_BASE = API_KEY, stripe.url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    cards = list(Customer.objects.order_by("id").values_list("id", flat=True)[:CARDS])
    for customer_id in cards:
        customer_payment_method_set(customer_id=customer_id, payment_method_id="pm_card_visa")
    Customer.objects.filter(pk__in=cards).update(collection_method=CollectionMethod.CHARGE_AUTOMATICALLY)
    Customer.objects.exclude(pk__in=cards).update(collection_method=CollectionMethod.SEND_INVOICE)
    world.stray = world.stripe.request(
        "POST",
        "/v1/payment_intents",
        {"amount": "999", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"},
    )["id"]
    return world


def _load(port: int, token: str) -> LoadResult:
    customers = [f"c{i:04d}" for i in range(SUBSCRIPTIONS)]
    return load(
        port=port, token=token, customers=customers, metric="api_calls", rate=RATE, batch=BATCH, seconds=SECONDS
    )  # fmt: skip


def _post(port: int, path: str, token: str, body: dict[str, object]) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        conn.request(
            "POST", path, body=json.dumps(body).encode(), headers={**headers, "X-Request-ID": REQUEST_ID}
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


def _up(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False


# --- the moments to strike --------------------------------------------------------------------------


def _mid_run(run_id: int) -> bool:
    """Chunks done, others not, one being billed: the run is demonstrably in the middle."""
    run = BillingRun.objects.get(pk=run_id)
    return (
        run.status == BillingRun.Status.RUNNING
        and 2 <= run.chunks_done < run.chunks_total - 4
        and BillingRunChunk.objects.filter(run_id=run_id, status=BillingRunChunk.Status.RUNNING).exists()
    )


def _collecting() -> bool:
    """Invoices collected and a webhook of theirs back in Ratecard, while many wait: their calls are
    queued ahead of the webhooks' (FIFO), which are applied once Stripe is back."""
    rows = StripeOutbox.objects.filter(kind=Collect)
    return (
        rows.filter(status="done").exists()
        and rows.filter(status="pending").count() >= CARDS // 3
        and StripeEvent.objects.exists()
    )


def _a_call_cut() -> bool:
    """A collect attempt met the dead Stripe: its row waits, with the error, for its next attempt."""
    rows = StripeOutbox.objects.filter(kind=Collect, status="pending")
    return rows.filter(last_error__startswith="StripeUnavailable").exists()


def _all_paid(world: World) -> bool:
    if not world.card_invoices:
        world.card_invoices = list(
            Invoice.objects.filter(billing_date=AS_OF, customer__collection_method="charge_automatically")
            .order_by("id")
            .values_list("id", flat=True)
        )
    paid = Invoice.objects.filter(pk__in=world.card_invoices, status=InvoiceStatus.PAID).count()
    return len(world.card_invoices) == CARDS and paid == CARDS


def _stray_alert_mailed() -> bool:
    return AlertIncident.objects.filter(
        rule="stripe_reconciliation_mismatches",
        subject="kind:charge_without_invoice",
        notified_at__isnull=False,
    ).exists()


def _outbox() -> str:
    rows = StripeOutbox.objects.filter(kind=Collect).values("status", "attempts").annotate(n=Count("id"))
    paid = Invoice.objects.filter(billing_date=AS_OF, status=InvoiceStatus.PAID).count()
    return f"outbox {list(rows)}; {paid} paid; events {StripeEvent.objects.count()}; {_incidents()}"


def _incidents() -> str:
    return str(list(AlertIncident.objects.values_list("rule", "subject", "status", "notified_at")))
