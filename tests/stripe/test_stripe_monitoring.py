"""The Stripe figures on ``/metrics`` move, and each Stripe alert fires when its thing breaks and clears
when it is fixed: the outbox late (Stripe away) and dead, webhook signatures refused, webhook lag, and
reconciliation mismatches left open. Rows come from the services; Stripe is localstripe where a call
must succeed, and a refused port where Stripe must be away."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from accounts.models import Customer
from invoicing.models import ReconciliationMismatch, StripeEvent, StripeOutbox
from invoicing.services.payment_outcomes import mismatch_note
from invoicing.services.stripe_outbox import stripe_outbox_deliver, stripe_outbox_retry
from invoicing.services.stripe_sync import customer_stripe_sync_queue
from invoicing.services.stripe_webhooks import stripe_event_apply, stripe_event_store
from reporting.alerts import alerts_evaluate
from reporting.models import AlertIncident
from tests.invoicing.factories import make_customer, make_draft
from tests.ops.test_metrics import scrape, value
from tests.stripe.conftest import LocalStripe, signed

pytestmark = pytest.mark.django_db
STRIPE_AWAY = "http://127.0.0.1:9"  # the discard port: connection refused at once


@pytest.fixture
def alerts(settings: Any, django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """Evaluate one rule (at ``now``), running what its commit queued; returns the rule's incidents."""
    settings.RATECARD_ALERT_EMAILS = ["finance-ops@example.com"]
    settings.METRICS_TOKEN = "s3cret"  # scraped as production scrapes

    def evaluate(rule: str, **kwargs: Any) -> list[AlertIncident]:
        with django_capture_on_commit_callbacks(execute=True):
            alerts_evaluate(rules=[rule], **kwargs)
        return list(AlertIncident.objects.filter(rule=rule).order_by("pk"))

    return evaluate


def scraped() -> dict[Any, float]:
    return scrape(HTTP_AUTHORIZATION="Bearer s3cret")


def moved(before: dict[Any, float], after: dict[Any, float], name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def synced(name: str) -> tuple[Customer, StripeOutbox]:
    customer = make_customer(name)
    row = customer_stripe_sync_queue(customer_id=customer.pk)
    assert row is not None
    return customer, row


def test_a_late_outbox_row_alerts_while_stripe_is_away_and_clears_once_delivered(
    stripe_quiet: LocalStripe, settings: Any, alerts: Callable[..., Any]
) -> None:
    settings.STRIPE_API_BASE = STRIPE_AWAY
    before = scraped()
    acme, row = synced("acme")
    synced("bolt")  # a fresh row: pending, not late
    assert stripe_outbox_deliver(outbox_id=row.pk).status == "pending"  # type: ignore[union-attr]
    StripeOutbox.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(minutes=20))
    after = scraped()
    assert moved(before, after, "ratecard_stripe_outbox", status="pending") == 2
    assert 1200 <= value(after, "ratecard_stripe_outbox_oldest_pending_seconds") < 1300

    [incident] = alerts("stripe_outbox_late")
    assert (incident.status, incident.subject, incident.customer_ids) == ("open", "outbox", [acme.pk])
    assert "1 Stripe call(s) pending for more than 15 minutes" in incident.message
    assert row.key in incident.message and "StripeUnavailable" in incident.message
    assert incident.url == "/admin/invoicing/stripeoutbox/?status__exact=pending"
    settings.RATECARD_ALERT_STRIPE_OUTBOX_MINUTES = 30
    assert alerts("stripe_outbox_late")[0].status == "cleared"  # under the threshold: not late

    settings.RATECARD_ALERT_STRIPE_OUTBOX_MINUTES = 15
    [incident] = [i for i in alerts("stripe_outbox_late") if i.status == "open"]
    settings.STRIPE_API_BASE = stripe_quiet.url  # Stripe is back: the backoff's next attempt delivers
    later = timezone.now() + timedelta(hours=1)
    assert stripe_outbox_deliver(outbox_id=row.pk, now=later).status == "done"  # type: ignore[union-attr]
    assert all(i.status == "cleared" for i in alerts("stripe_outbox_late"))
    assert moved(before, scraped(), "ratecard_stripe_outbox", status="done") == 1


def test_a_dead_outbox_row_alerts_with_its_customer_and_clears_once_retried(
    stripe_quiet: LocalStripe,
    settings: Any,
    alerts: Callable[..., Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.STRIPE_API_BASE = STRIPE_AWAY
    settings.RATECARD_STRIPE_OUTBOX_MAX_ATTEMPTS = 1
    before = scraped()
    bolt, row = synced("bolt")
    assert stripe_outbox_deliver(outbox_id=row.pk).status == "dead"  # type: ignore[union-attr]
    assert moved(before, scraped(), "ratecard_stripe_outbox", status="dead") == 1

    [incident] = alerts("stripe_outbox_dead")
    assert (incident.subject, incident.customer_ids) == ("kind:customer_sync", [bolt.pk])
    assert "1 Stripe call(s) to sync the customer gave up" in incident.message and row.key in incident.message
    assert incident.url == "/admin/invoicing/stripeoutbox/?kind__exact=customer_sync&status__exact=dead"

    settings.STRIPE_API_BASE = stripe_quiet.url
    with django_capture_on_commit_callbacks(execute=True):  # delivered after commit (eager here)
        assert stripe_outbox_retry(outbox_ids=[row.pk]) == 1
    assert StripeOutbox.objects.get(pk=row.pk).status == "done"
    [incident] = alerts("stripe_outbox_dead")
    assert incident.status == "cleared"
    assert moved(before, scraped(), "ratecard_stripe_outbox", status="dead") == 0


def post_signed(client: Client, secret: str) -> int:
    body = {"id": f"evt_{time.monotonic_ns()}", "object": "event", "type": "customer.updated", "data": {}}
    payload, signature = signed(body, secret=secret)
    response = client.post(
        "/stripe/webhook/", data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )
    return response.status_code


def test_bad_webhook_signatures_are_counted_and_a_spike_alerts_until_the_window_passes(
    settings: Any, alerts: Callable[..., Any], client: Client
) -> None:
    settings.STRIPE_WEBHOOK_SECRET = "whsec_ratecard_tests"
    settings.RATECARD_ALERT_STRIPE_SIGNATURE_FAILURES = 3
    before = scraped()
    assert [post_signed(client, "whsec_someone_else") for _ in range(2)] == [400, 400]
    assert alerts("stripe_webhook_signatures") == []  # two: under the threshold
    assert post_signed(client, "whsec_someone_else") == 400
    assert moved(before, scraped(), "ratecard_stripe_webhook_signature_failures_total") == 3

    [incident] = alerts("stripe_webhook_signatures")
    assert incident.subject == "webhook" and incident.customer_ids == []
    assert "3 webhook(s) refused" in incident.message and "check STRIPE_WEBHOOK_SECRET" in incident.message
    assert incident.url == "/admin/invoicing/stripeevent/"
    assert post_signed(client, "whsec_ratecard_tests") == 200  # good events still arrive: forged traffic?
    assert "1 good event(s) were stored" in alerts("stripe_webhook_signatures")[0].message

    later = timezone.now() + timedelta(minutes=settings.RATECARD_ALERT_STRIPE_SIGNATURE_WINDOW_MINUTES + 1)
    [incident] = alerts("stripe_webhook_signatures", now=later)  # the secret fixed, nothing refused since
    assert incident.status == "cleared"


def test_webhook_lag_shows_while_an_event_waits_and_is_observed_when_applied(
    django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.METRICS_TOKEN = "s3cret"
    created = int(time.time()) - 120  # Stripe created it two minutes ago
    event = {"id": "evt_lag", "object": "event", "type": "customer.updated", "created": created, "data": {}}
    before = scraped()
    row, stored = stripe_event_store(event=event)  # its apply task is queued after commit: not run here
    waiting = scraped()
    assert stored and moved(before, waiting, "ratecard_stripe_webhook_events_waiting") == 1
    assert value(waiting, "ratecard_stripe_webhook_oldest_waiting_seconds") >= 120

    with django_capture_on_commit_callbacks(execute=True):
        assert stripe_event_apply(event_id=row.pk).status == StripeEvent.Status.IGNORED  # type: ignore[union-attr]
    after = scraped()
    assert value(after, "ratecard_stripe_webhook_events_waiting") == 0
    assert value(after, "ratecard_stripe_webhook_oldest_waiting_seconds") == 0
    assert moved(before, after, "ratecard_stripe_webhook_lag_seconds_count", family="customer") == 1
    assert moved(before, after, "ratecard_stripe_webhook_lag_seconds_sum", family="customer") >= 120
    assert (
        moved(before, after, "ratecard_stripe_webhook_lag_seconds_bucket", family="customer", le="60.0") == 0
    )


def test_an_open_mismatch_alerts_with_the_invoice_customer_until_finance_marks_it_resolved(
    alerts: Callable[..., Any], finance_user: User, support_user: User
) -> None:
    invoice = make_draft(make_customer("acme"))
    before = scraped()
    mismatch_note(
        kind=ReconciliationMismatch.Kind.AMOUNT_DIFFERS,
        stripe_object_id="pi_123",
        detail="Stripe collected 180.00 USD; recorded 170.00.",
        invoice_id=invoice.pk,
        resolved=False,
    )
    mismatch_note(
        kind=ReconciliationMismatch.Kind.PAID_THERE_OPEN_HERE,
        stripe_object_id="pi_456",
        detail="applied now: paid",
        invoice_id=None,
        resolved=True,  # fixed by the run that found it: nothing to alert on
    )
    after = scraped()
    assert moved(before, after, "ratecard_stripe_reconciliation_mismatches_open", kind="amount_differs") == 1
    assert value(after, "ratecard_stripe_reconciliation_mismatches_open", kind="paid_there_open_here") == 0

    [incident] = alerts("stripe_reconciliation_mismatches")
    assert (incident.subject, incident.customer_ids) == ("kind:amount_differs", [invoice.customer_id])
    assert "pi_123" in incident.message and "recorded 170.00" in incident.message
    assert incident.url == (
        "/admin/invoicing/reconciliationmismatch/?kind__exact=amount_differs&resolved__exact=0"
    )

    mismatch = ReconciliationMismatch.objects.get(stripe_object_id="pi_123")
    action = {"action": "mark_resolved", "_selected_action": [mismatch.pk]}
    support = Client()
    support.force_login(support_user)
    support.post("/admin/invoicing/reconciliationmismatch/", action)  # support may look, not resolve
    assert not ReconciliationMismatch.objects.get(pk=mismatch.pk).resolved
    assert alerts("stripe_reconciliation_mismatches")[0].status == "open"

    client = Client()
    client.force_login(finance_user)
    assert client.post("/admin/invoicing/reconciliationmismatch/", action).status_code == 302
    assert ReconciliationMismatch.objects.get(pk=mismatch.pk).resolved
    assert alerts("stripe_reconciliation_mismatches")[0].status == "cleared"
    assert value(scraped(), "ratecard_stripe_reconciliation_mismatches_open", kind="amount_differs") == 0
