"""``/metrics`` shows the pipeline moving: requests per route, events per outcome, billing runs, invoices,
the PDF and e-mail queues; database gauges and process counters on one page, behind METRICS_TOKEN."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from billing.services.catalog import metric_create
from invoicing.models import EmailOutbox, InvoiceStatus
from invoicing.services import billing_chunks
from invoicing.services.billing_runs import billing_run_create, billing_run_execute, billing_run_start
from invoicing.services.email_outbox import email_deliver
from invoicing.services.finalization import invoice_finalize
from invoicing.services.invoice_documents import invoice_documents_render
from invoicing.services.invoice_sending import invoice_send
from tests.integration.workers import AS_OF, make_subscriptions
from tests.invoicing.factories import make_customer, make_draft


def scrape(
    client: Client | None = None, **headers: Any
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def post_events(api: APIClient, events: list[dict[str, Any]]) -> int:
    return api.post("/api/v1/events", {"events": events}, format="json").status_code


@pytest.mark.django_db
def test_event_outcomes_and_request_routes_move(
    api: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    metric_create(code="api_calls", name="API calls", aggregation="count")
    assert (
        api.post(
            "/api/v1/customers", {"external_id": "acme", "name": "Acme", "currency": "USD"}, format="json"
        ).status_code
        == 201
    )
    before = scrape()
    at = (timezone.now() - timedelta(hours=1)).isoformat()
    event = {"customer": "acme", "metric": "api_calls", "timestamp": at}
    with django_capture_on_commit_callbacks(execute=True):  # counted after commit
        assert post_events(api, [{**event, "event_id": "e1"}, {**event, "event_id": "e2"}]) == 202
        assert post_events(api, [{**event, "event_id": "e1"}]) == 202  # a repeat: a duplicate
    bad = [{**event, "event_id": "e3"}, {**event, "event_id": "e4", "metric": "nope"}]
    assert post_events(api, bad) == 400
    assert api.get("/api/v1/customers/acme/entitlements").status_code == 200
    after = scrape()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("ratecard_usage_events_total", metric="api_calls", outcome="accepted") == 2
    assert moved("ratecard_usage_events_total", metric="api_calls", outcome="duplicate") == 1
    assert moved("ratecard_usage_events_total", metric="api_calls", outcome="rejected") == 1
    assert (
        moved("ratecard_usage_events_total", metric="_unknown", outcome="rejected") == 1
    )  # no label per typo
    assert moved("ratecard_usage_batches_refused_total", reason="invalid") == 1
    # requests per route name (never the raw path), method and status
    assert moved("ratecard_http_requests_total", route="event-ingest", method="POST", status="202") == 2
    assert moved("ratecard_http_requests_total", route="event-ingest", method="POST", status="400") == 1
    assert (
        moved("ratecard_http_requests_total", route="customer-entitlements", method="GET", status="200") == 1
    )
    assert (
        moved("ratecard_http_request_duration_seconds_count", route="customer-entitlements", method="GET")
        == 1
    )
    assert not [key for key in after if key[0] == "ratecard_http_requests_total" and "acme" in str(key)]


@pytest.mark.django_db
def test_a_billing_run_moves_run_invoice_and_queue_figures(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.RATECARD_INVOICE_REVIEW_HOURS = 0  # the run finalizes its drafts at once
    make_subscriptions(3)
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        run = billing_run_execute(run_id=billing_run_create(as_of=AS_OF).pk)
    after = scrape()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert run.subscriptions_billed == 3
    assert moved("ratecard_billing_subscriptions_total", outcome="billed") == 3
    assert moved("ratecard_billing_runs", status="completed") == 1
    assert value(after, "ratecard_billing_run_last", figure="subscriptions_billed") == 3
    assert value(after, "ratecard_billing_run_last", figure="invoices_created") == 3
    assert value(after, "ratecard_billing_run_failures") == 0  # the names /metrics had before stay
    assert value(after, "ratecard_billing_run_last_finished_timestamp") > 0
    assert value(after, "ratecard_billing_run_last_billed_amount", currency="USD") == float(Decimal("108.00"))
    assert moved("ratecard_invoices_finalized_total", currency="USD") >= 3
    assert moved("ratecard_invoiced_amount_total", currency="USD", kind="charge") >= 108.0
    assert value(after, "ratecard_invoices", status=InvoiceStatus.OPEN) >= 3
    for name in (
        "ratecard_pdf_queue",
        "ratecard_billing_run_chunks_stuck",
        "ratecard_email_outbox_oldest_pending_seconds",
    ):
        assert any(key[0] == name for key in after), name
    assert value(after, "ratecard_billing_run_chunks", status="pending") == 0


@pytest.mark.django_db
def test_metrics_token_is_kept(settings: Any) -> None:
    settings.METRICS_TOKEN = "s3cret"
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert value(scrape(HTTP_AUTHORIZATION="Bearer s3cret"), "ratecard_billing_runs_running") == 0


@pytest.mark.django_db
def test_chunks_pending_running_and_failed_show_while_a_run_is_open(
    settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.RATECARD_BILLING_CHUNK_SIZE = 2
    settings.RATECARD_AUTO_FINALIZE = False
    make_subscriptions(5)  # three chunks: 2, 2 and 1 subscriptions
    before = scrape()
    run = billing_run_create(as_of=AS_OF)
    billing_run_start(run_id=run.pk)
    started = scrape()
    assert value(started, "ratecard_billing_runs_running") == 1
    assert value(started, "ratecard_billing_run_chunks", status="pending") == 3
    assert billing_chunks.billing_chunk_claim(run_id=run.pk, index=1)  # a worker holds it
    billing_chunks.billing_chunk_fail(run_id=run.pk, index=0, error="OperationalError: disk full")
    broken = scrape()
    assert [
        value(broken, "ratecard_billing_run_chunks", status=s) for s in ("pending", "running", "failed")
    ] == [
        1,
        1,
        1,
    ]
    with django_capture_on_commit_callbacks(execute=True):  # counted after commit
        billing_run_execute(run_id=run.pk)  # bills the two others; the run closes as failed
    after = scrape()
    assert moved(before, after, "ratecard_billing_runs", status="failed") == 1
    assert value(after, "ratecard_billing_runs_running") == 0
    assert value(after, "ratecard_billing_run_chunks", status="failed") == 0  # no unfinished run left
    assert moved(before, after, "ratecard_billing_subscriptions_total", outcome="billed") == 3
    assert value(after, "ratecard_billing_run_last", figure="subscriptions_billed") == 3
    assert value(after, "ratecard_billing_run_last_duration_seconds") > 0


@pytest.mark.django_db
def test_the_pdf_and_email_queues_fill_and_drain() -> None:
    # on_commit callbacks do not run in this test: what finalizing and sending queue waits, as for a worker
    # a card customer: a send_invoice one would get its invoice e-mailed at finalization, a second row
    card_customer = make_customer(collection_method="charge_automatically")
    invoice = invoice_finalize(invoice_id=make_draft(card_customer).pk, at=AS_OF)
    before = scrape()
    row = invoice_send(invoice_id=invoice.pk)
    EmailOutbox.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    waiting = scrape()
    assert value(waiting, "ratecard_pdf_queue") == value(before, "ratecard_pdf_queue") == 1
    assert moved(before, waiting, "ratecard_email_outbox", status="pending") == 1
    assert value(waiting, "ratecard_email_outbox_oldest_pending_seconds") >= 600

    assert invoice_documents_render(invoice_ids=[invoice.pk]) == 1  # what the worker's task does
    assert email_deliver(outbox_id=row.pk).status == "sent"  # type: ignore[union-attr]
    after = scrape()
    assert value(after, "ratecard_pdf_queue") == 0
    assert moved(before, after, "ratecard_email_outbox", status="sent") == 1
    assert value(after, "ratecard_email_outbox", status="pending") == 0
    assert value(after, "ratecard_email_outbox_oldest_pending_seconds") == 0


def moved(before: dict[Any, float], after: dict[Any, float], name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_the_web_server_keeps_the_metric_files_of_processes_still_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # importing config/gunicorn.py sets the variable when unset: set (and restore) it here
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    from config.gunicorn import metrics_files_of_dead_processes_remove

    gone = subprocess.Popen(["true"])
    gone.wait()
    alive = os.getpid()  # e.g. a Celery worker sharing the directory
    names = [f"counter_{alive}.db", f"gauge_livesum_{alive}.db", f"counter_{gone.pid}.db"]
    names += [f"histogram_{gone.pid}.db"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    removed = metrics_files_of_dead_processes_remove(str(tmp_path))
    assert removed == [f"counter_{gone.pid}.db", f"histogram_{gone.pid}.db"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[:2])
