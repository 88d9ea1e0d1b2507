"""What ``test_load_events.py`` asserts once its processes have done their work (its docstring says why).

Each function checks one claim against the database, localstripe, the worker's log or ``/metrics``.
"""

from __future__ import annotations

import email
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from billing.models import Subscription
from invoicing.models import (
    BilledPeriod,
    BillingRun,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    ReconciliationMismatch,
    StripeOutbox,
)
from invoicing.services.stripe_reconciliation import reconciliation_mismatches_resolve
from reporting.alerts import alerts_evaluate
from reporting.models import AlertIncident
from tests.integration.load_client import LoadResult
from tests.integration.scrape import Sampler, Samples, value
from tests.integration.workers import AS_OF, assert_billed_exactly_once

MISMATCH_RULE = "stripe_reconciliation_mismatches"
Collect = StripeOutbox.Kind.INVOICE_COLLECT


def assert_nothing_half_written(run_id: int) -> None:
    """Right after the SIGKILL: every billed period has its invoice and line, every invoice its line."""
    killed = BillingRun.objects.get(pk=run_id)
    assert killed.status == BillingRun.Status.RUNNING and killed.chunks_done < killed.chunks_total
    billed = BilledPeriod.objects.filter(reason="period").count()
    assert 0 < billed < Subscription.objects.count()
    assert Invoice.objects.filter(billing_date=AS_OF).count() == billed
    assert InvoiceLine.objects.filter(invoice__billing_date=AS_OF).count() == billed
    assert Subscription.objects.filter(current_period_start=AS_OF).count() == billed


def assert_logged_under_the_request_id(log: Path, request_id: str) -> None:
    """The run's task, and the chunk tasks it queued, logged (JSON) under the web request's id."""
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    tasks = {entry.get("task") for entry in entries if entry.get("request_id") == request_id}
    assert {"invoicing.tasks.run_billing", "invoicing.tasks.bill_chunk"} <= tasks, tasks


def assert_the_run_is_right(run_id: int, subscriptions: int, cards: list[int]) -> None:
    run = BillingRun.objects.get(pk=run_id)
    assert run.status == BillingRun.Status.COMPLETED
    assert (run.subscriptions_due, run.subscriptions_billed, run.invoices_created) == (subscriptions,) * 3
    assert (run.failures_count, run.deferred, run.reason) == (0, 0, "")
    assert_billed_exactly_once(subscriptions)  # each period once, every invoice 36.00
    invoices = Invoice.objects.filter(billing_date=AS_OF)
    assert not invoices.filter(status=InvoiceStatus.DRAFT).exists()
    assert invoices.filter(number__isnull=False).values("number").distinct().count() == subscriptions
    assert sorted(invoices.filter(status=InvoiceStatus.PAID).values_list("id", flat=True)) == cards
    paid_by_transfer = invoices.exclude(pk__in=cards)
    assert set(paid_by_transfer.values_list("status", "amount_due")) == {
        (InvoiceStatus.OPEN, Decimal("36.00"))
    }


def assert_collected_once(
    intents: list[dict[str, Any]], keys: list[str], cards: list[int], stray: str, done_before: set[str]
) -> None:
    """One PaymentIntent per invoice in localstripe, one payment per invoice here; the calls cut by the
    outage sent the same key again (``keys``: the Idempotency-Keys localstripe saw since its restart);
    the payments whose webhook was lost were applied by the reconciliation."""
    assert len(intents) < 100  # one page: all of them
    ours = [pi for pi in intents if (pi.get("metadata") or {}).get("ratecard_invoice_id")]
    assert sorted(int(pi["metadata"]["ratecard_invoice_id"]) for pi in ours) == cards
    assert {(pi["amount"], pi["currency"], pi["status"]) for pi in ours} == {(3600, "usd", "succeeded")}
    assert [pi["id"] for pi in intents if pi not in ours] == [stray]

    payments = Payment.objects.filter(invoice_id__in=cards)
    assert payments.count() == len(cards)
    assert set(payments.values_list("status", "amount", "method")) == {
        ("succeeded", Decimal("36.00"), "stripe")
    }
    by_invoice = dict(Invoice.objects.filter(pk__in=cards).values_list("id", "stripe_payment_intent_id"))
    assert {p.invoice_id: p.reference for p in payments} == by_invoice

    rows = StripeOutbox.objects.filter(kind=Collect)
    assert rows.count() == len(cards) and set(rows.values_list("status", flat=True)) == {"done"}
    cut = rows.filter(attempts__gte=2)
    assert cut.exists(), "no call met the dead Stripe"
    assert all(row.last_error.startswith("StripeUnavailable") for row in cut)
    after_restart = sorted(keys)
    assert after_restart == sorted(set(rows.values_list("key", flat=True)) - done_before)
    assert set(cut.values_list("key", flat=True)) <= set(after_restart)  # the same key, sent again

    # no webhook endpoint after the restart: only the reconciliation can have paid those invoices
    lost = set(rows.exclude(key__in=done_before).values_list("invoice_id", flat=True))
    applied = ReconciliationMismatch.objects.filter(kind="paid_there_open_here")
    assert lost and lost <= set(applied.values_list("invoice_id", flat=True))
    assert not applied.filter(
        resolved=False
    ).exists()  # a payment a webhook recorded meanwhile is no mismatch


def assert_the_stray_alert_mailed_once_and_clears_when_resolved(stray: str, mail_dir: Path) -> None:
    """Beat opened the incident, the worker mailed it once; every other incident the faults may have
    opened has cleared by itself; finance resolving the mismatch clears the last one."""
    incident = AlertIncident.objects.get(rule=MISMATCH_RULE, subject="kind:charge_without_invoice")
    assert incident.status == AlertIncident.Status.OPEN and stray in incident.message
    mails = [_mail_text(path) for path in mail_dir.iterdir()]
    notified = AlertIncident.objects.filter(notified_at__isnull=False)
    assert len(mails) == notified.count()  # one e-mail per incident, however often beat evaluated
    [mail] = [text for text in mails if stray in text]
    assert "finance-ops@example.com" in mail and "How to fix" in mail
    others = AlertIncident.objects.exclude(pk=incident.pk).filter(status=AlertIncident.Status.OPEN)
    assert not others.exists(), list(others.values())

    mismatch = ReconciliationMismatch.objects.get(kind="charge_without_invoice", stripe_object_id=stray)
    assert reconciliation_mismatches_resolve(mismatch_ids=[mismatch.pk]) == 1
    assert incident.pk in alerts_evaluate(rules=[MISMATCH_RULE]).cleared


def _mail_text(path: Path) -> str:
    """A message the worker's file backend wrote (``EMAIL_URL=filemail://``): its headers and body."""
    message = email.message_from_bytes(path.read_bytes())
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    return f"To: {message['To']}\nSubject: {message['Subject']}\n\n{body.decode()}"


def assert_metrics_moved(
    before: Samples,
    mid_run: Samples,
    after: Samples,
    sampler: Sampler,
    load: LoadResult,
    *,
    cards: int,
    chunk: int,
) -> None:
    """``/metrics`` of gunicorn: both web workers' counters summed, the Celery worker's too (shared
    directory), the database gauges mid-run and after, and queues that filled and drained."""

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    events = load.events_accepted
    subscriptions = int(value(after, "ratecard_billing_run_last", figure="subscriptions_billed"))
    ingest = {"route": "event-ingest", "method": "POST"}
    assert moved("ratecard_http_requests_total", **ingest, status="202") == load.statuses[202]
    assert moved("ratecard_http_request_duration_seconds_count", **ingest) == sum(load.statuses.values())
    assert moved("ratecard_usage_events_total", metric="api_calls", outcome="accepted") == events

    assert value(mid_run, "ratecard_billing_runs_running") == 1
    assert value(mid_run, "ratecard_billing_run_chunks", status="done") >= 2
    assert value(mid_run, "ratecard_billing_run_chunks", status="pending") >= 1
    running = max(
        value(mid_run, "ratecard_billing_run_chunks", status="running"),
        sampler.most("ratecard_billing_run_chunks", status="running"),
    )
    assert running >= 1
    assert moved("ratecard_billing_runs", status="completed") == 1
    assert value(after, "ratecard_billing_runs_running") == 0
    assert value(after, "ratecard_billing_run_last", figure="invoices_created") == subscriptions
    assert value(after, "ratecard_billing_run_last_billed_amount", currency="USD") == 36 * subscriptions
    assert value(after, "ratecard_billing_run_last_duration_seconds") > 0
    # the Celery worker's counters, counted after commit: the chunks the SIGKILL cut counted nothing
    # (at most the one chunk of each of the 2 pool processes committed and killed before counting)
    billed = moved("ratecard_billing_subscriptions_total", outcome="billed")
    assert subscriptions - 2 * chunk <= billed <= subscriptions
    assert moved("ratecard_invoices_finalized_total", currency="USD") == subscriptions
    assert moved("ratecard_invoiced_amount_total", currency="USD", kind="charge") == 36 * subscriptions
    assert moved("ratecard_invoices", status="paid") == cards

    assert sampler.most("ratecard_pdf_queue") >= 1 and value(after, "ratecard_pdf_queue") == 0
    assert sampler.most("ratecard_stripe_outbox", status="pending") >= 1
    assert sampler.most("ratecard_stripe_outbox_oldest_pending_seconds") > 0
    assert moved("ratecard_stripe_outbox", status="done") == cards
    assert value(after, "ratecard_stripe_outbox", status="pending") == 0
    assert value(after, "ratecard_stripe_outbox_oldest_pending_seconds") == 0
    assert value(after, "ratecard_stripe_outbox", status="dead") == 0
    assert moved("ratecard_stripe_webhook_lag_seconds_count", family="payment_intent") >= 1
    assert value(after, "ratecard_stripe_reconciliation_mismatches_open", kind="charge_without_invoice") == 1
    assert value(after, "ratecard_alert_incidents_open", rule=MISMATCH_RULE) == 1
