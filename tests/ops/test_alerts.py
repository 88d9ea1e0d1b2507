"""Each alert rule fires when the thing it watches breaks, mails finance once, shows in the admin and on
finance's home with the customers and the runbook step, and clears when the thing is fixed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.utils import timezone
from django.utils.html import escape
from rest_framework.test import APIClient

from accounts.models import Customer
from billing.services.catalog import metric_create
from config.monitoring import alert_rules
from invoicing.models import BillingRun, BillingRunChunk, Invoice, StripeOutbox
from invoicing.services import billing_chunks
from invoicing.services.billing_runs import (
    billing_run_close,
    billing_run_create,
    billing_run_execute,
    billing_run_start,
)
from invoicing.services.payment_outcomes import mismatch_note
from invoicing.stripe_monitoring import signature_failure_count
from reporting.alerts import alerts_evaluate, runbook_section
from reporting.dashboard import dashboard_alerts
from reporting.models import AlertIncident
from tests.integration.workers import AS_OF, make_subscriptions
from tests.ops.test_metrics import scrape, value

Open = AlertIncident.Status.OPEN


@pytest.fixture
def evaluate(settings: Any, django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """Evaluate one rule now, running what its commit queued (the e-mail task runs eagerly)."""
    settings.RATECARD_ALERT_EMAILS = ["finance-ops@example.com"]

    def run(rule: str | None, **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return alerts_evaluate(rules=None if rule is None else [rule], **kwargs)

    return run


def incidents(rule: str) -> list[AlertIncident]:
    return list(AlertIncident.objects.filter(rule=rule).order_by("pk"))


def test_every_rule_has_a_runbook_section() -> None:
    for rule in alert_rules():
        section = runbook_section(rule.runbook)
        for part in ("What it means", "How to look", "How to fix", "How to confirm"):
            assert part in section, (rule.code, part)


@pytest.mark.django_db
def test_billing_run_failed_fires_once_and_clears_after_a_clean_retry(
    evaluate: Callable[..., Any], small_chunks: Any
) -> None:
    make_subscriptions(3)
    run = billing_run_create(as_of=AS_OF)
    billing_run_start(run_id=run.pk)
    billing_chunks.billing_chunk_fail(run_id=run.pk, index=0, error="OperationalError: disk full")
    billing_run_execute(run_id=run.pk)  # bills the other chunk; the run closes as failed
    assert BillingRun.objects.get(pk=run.pk).status == BillingRun.Status.FAILED

    evaluate("billing_run_failed")
    [incident] = incidents("billing_run_failed")
    assert (incident.status, incident.subject) == (Open, f"run:{run.pk}")
    assert "disk full" in incident.message
    assert Customer.objects.filter(pk__in=incident.customer_ids).count() == 2  # the failed chunk's two
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["finance-ops@example.com"]
    assert "How to fix" in mail.outbox[0].body and "disk full" in mail.outbox[0].body
    evaluate("billing_run_failed")
    evaluate("billing_run_failed")
    assert len(mail.outbox) == 1 and len(incidents("billing_run_failed")) == 1  # once per incident
    assert any("A billing run failed" in alert.message for alert in dashboard_alerts())

    retry = billing_run_execute(run_id=billing_run_create(as_of=AS_OF).pk)  # the admin's "Retry failed"
    assert retry.status == BillingRun.Status.COMPLETED
    found = evaluate("billing_run_failed")
    assert found.cleared == [incident.pk]
    incident.refresh_from_db()
    assert incident.status == AlertIncident.Status.CLEARED and incident.cleared_at is not None


@pytest.mark.django_db
def test_billing_run_late_fires_for_a_run_left_running_and_clears_when_it_finishes(
    evaluate: Callable[..., Any], small_chunks: Any
) -> None:
    make_subscriptions(2)
    run = billing_run_create(as_of=AS_OF)
    billing_run_start(run_id=run.pk)  # started, and no worker ever takes its chunks
    BillingRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=90))
    evaluate("billing_run_late")
    [incident] = incidents("billing_run_late")
    assert incident.subject == f"run:{run.pk}" and "0 of 1 chunks done" in incident.message
    billing_run_execute(run_id=run.pk)  # a worker picks it up
    assert evaluate("billing_run_late").cleared == [incident.pk]


@pytest.mark.django_db
def test_billing_run_late_fires_when_no_run_started_for_hours(evaluate: Callable[..., Any]) -> None:
    assert evaluate("billing_run_late").opened == []  # a fresh install, before its first run, is not late
    run = billing_run_execute(run_id=billing_run_create(as_of=AS_OF).pk)
    BillingRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=5))
    evaluate("billing_run_late")
    [incident] = incidents("billing_run_late")
    assert incident.subject == "schedule" and "celery beat" in incident.message
    billing_run_execute(run_id=billing_run_create(as_of=AS_OF).pk)  # beat is back: the hourly run starts
    assert evaluate("billing_run_late").cleared == [incident.pk]


@pytest.mark.django_db
def test_chunks_stuck_fires_with_the_customers_and_clears_once_billed(
    evaluate: Callable[..., Any], small_chunks: Any
) -> None:
    make_subscriptions(3)
    run = billing_run_create(as_of=AS_OF)
    billing_run_start(run_id=run.pk)
    assert billing_chunks.billing_chunk_claim(run_id=run.pk, index=0)  # a worker took it, then vanished
    BillingRunChunk.objects.filter(run=run, index=0).update(
        lease_expires_at=timezone.now() - timedelta(minutes=30), last_error="WorkerLostError"
    )
    evaluate("billing_chunks_stuck")
    [incident] = incidents("billing_chunks_stuck")
    assert "1 chunk(s) stuck" in incident.message and "WorkerLostError" in incident.message
    first_two = Customer.objects.order_by("pk").values_list("pk", flat=True)[:2]
    assert incident.customer_ids == list(first_two)
    assert value(scrape(), "ratecard_billing_run_chunks_stuck") == 1
    billing_run_execute(run_id=run.pk)  # the sweep queues it again; it is billed
    billing_run_close(run_id=run.pk)
    assert evaluate("billing_chunks_stuck").cleared == [incident.pk]
    assert value(scrape(), "ratecard_billing_run_chunks_stuck") == 0


@pytest.mark.django_db
def test_ingestion_rejections_spiking_fires_and_clears_when_clean_traffic_returns(
    evaluate: Callable[..., Any], api: APIClient, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.RATECARD_ALERT_INGEST_REJECTED_MIN = 3
    metric_create(code="api_calls", name="API calls", aggregation="count")
    Customer.objects.create(external_id="acme", name="Acme", currency="USD")
    at = (timezone.now() - timedelta(minutes=5)).isoformat()
    bad = [{"event_id": f"b{i}", "customer": "acme", "metric": "api_cals", "timestamp": at} for i in range(4)]
    assert api.post("/api/v1/events", {"events": bad}, format="json").status_code == 400
    evaluate("ingestion_rejections_spiking")
    [incident] = incidents("ingestion_rejections_spiking")
    assert "4 of 4 usage events refused" in incident.message and "acme" in incident.message
    assert incident.customer_ids == [Customer.objects.get(external_id="acme").pk]

    good = [
        {"event_id": f"g{i}", "customer": "acme", "metric": "api_calls", "timestamp": at} for i in range(100)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post("/api/v1/events", {"events": good}, format="json").status_code == 202
    assert evaluate("ingestion_rejections_spiking").cleared == [incident.pk]  # 4 of 104: under 5%


@pytest.mark.django_db
def test_finance_users_are_mailed_by_default_and_a_failed_send_is_retried(
    settings: Any, finance_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    settings.RATECARD_ALERT_EMAILS = []
    finance_user.email = "fiona@example.com"
    finance_user.save()
    run = billing_run_create(as_of=AS_OF)
    BillingRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=5))
    settings.EMAIL_BACKEND = "tests.ops.test_alerts.BrokenBackend"
    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate(rules=["billing_run_late"])
    incident = AlertIncident.objects.get(rule="billing_run_late", subject=f"run:{run.pk}")
    assert incident.notified_at is None and "SMTP down" in incident.notify_error
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate(rules=["billing_run_late"], now=timezone.now() + timedelta(minutes=5))
    incident.refresh_from_db()
    assert incident.notified_at is not None and incident.notify_attempts == 2
    # two incidents (the run left pending, and no run started since): one e-mail each, to finance
    assert [m.to for m in mail.outbox] == [["fiona@example.com"], ["fiona@example.com"]]


@pytest.mark.django_db
def test_the_admin_shows_what_broke_the_customers_and_the_runbook_step(
    evaluate: Callable[..., Any], finance_user: User, small_chunks: Any
) -> None:
    make_subscriptions(2)
    run = billing_run_create(as_of=AS_OF)
    billing_run_start(run_id=run.pk)
    billing_chunks.billing_chunk_fail(run_id=run.pk, index=0, error="boom")
    billing_run_close(run_id=run.pk)
    evaluate("billing_run_failed")
    incident = AlertIncident.objects.get(rule="billing_run_failed")
    client = Client()
    client.force_login(finance_user)
    listing = client.get("/admin/reporting/alertincident/")
    assert listing.status_code == 200 and b"A billing run failed" in listing.content
    page = client.get(f"/admin/reporting/alertincident/{incident.pk}/change/").content.decode()
    assert "boom" in page and "Customer 0 (c0000)" in page and "How to fix" in page
    assert f"/admin/invoicing/billingrun/{run.pk}/change/" in page


class BrokenBackend:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send_messages(self, messages: Any) -> int:
        raise ConnectionRefusedError("SMTP down")


@pytest.fixture
def small_chunks(settings: Any) -> Any:
    settings.RATECARD_BILLING_CHUNK_SIZE = 2
    settings.RATECARD_BILLING_DEFERRED_RETRY_SECONDS = 0
    settings.RATECARD_AUTO_FINALIZE = False
    return settings


@pytest.mark.django_db
def test_every_rule_mails_once_after_commit_and_shows_what_who_and_its_runbook_step_in_the_admin(
    evaluate: Callable[..., Any], small_chunks: Any, api: APIClient, finance_user: User, settings: Any
) -> None:
    """Every registered rule broken at once (each rule's own test breaks it for real and clears it):
    one incident per rule, one e-mail each however often beat evaluates, and its admin page."""
    settings.RATECARD_ALERT_INGEST_REJECTED_MIN = 3
    settings.RATECARD_ALERT_STRIPE_SIGNATURE_FAILURES = 2
    make_subscriptions(2)
    failed = billing_run_create(as_of=AS_OF)  # billing_run_failed: a chunk gave up
    billing_run_start(run_id=failed.pk)
    billing_chunks.billing_chunk_fail(run_id=failed.pk, index=0, error="OperationalError: disk full")
    billing_run_close(run_id=failed.pk)
    stuck = billing_run_create(as_of=AS_OF)  # billing_run_late and billing_chunks_stuck: a worker vanished
    billing_run_start(run_id=stuck.pk)
    assert billing_chunks.billing_chunk_claim(run_id=stuck.pk, index=0)
    BillingRun.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(minutes=90))
    BillingRunChunk.objects.filter(run=stuck).update(lease_expires_at=timezone.now() - timedelta(minutes=30))
    acme = Customer.objects.get(external_id="c0000")
    metric_create(code="api_calls", name="API calls", aggregation="count")
    at = (timezone.now() - timedelta(minutes=5)).isoformat()
    typo = [
        {"event_id": f"b{i}", "customer": "c0000", "metric": "api_cals", "timestamp": at} for i in range(4)
    ]
    assert api.post("/api/v1/events", {"events": typo}, format="json").status_code == 400
    late = StripeOutbox.objects.create(kind="customer_sync", key="customer-late", customer=acme)
    StripeOutbox.objects.filter(pk=late.pk).update(created_at=timezone.now() - timedelta(minutes=20))
    StripeOutbox.objects.create(kind="customer_sync", key="customer-dead", customer=acme, status="dead")
    for _ in range(2):
        signature_failure_count(now=timezone.now())
    mismatch_note(
        kind="amount_differs",
        stripe_object_id="pi_differs",
        detail="Stripe collected 180.00 USD; recorded 170.00.",
        invoice_id=Invoice.objects.filter(customer=acme).values_list("pk", flat=True).first(),
        resolved=False,
    )

    evaluate(None)
    evaluate(None)  # beat again, a minute later: nothing new
    opened = AlertIncident.objects.filter(status=Open).order_by("rule", "subject")
    assert {i.rule for i in opened} == {rule.code for rule in alert_rules()}
    assert len(mail.outbox) == opened.count() and all(i.notified_at for i in opened)
    client = Client()
    client.force_login(finance_user)
    for incident in opened:
        [sent] = [m for m in mail.outbox if incident.subject in m.subject and incident.title in m.subject]
        section = runbook_section(incident.runbook)
        assert section.startswith(f"## {incident.rule}") and section in sent.body
        page = client.get(f"/admin/reporting/alertincident/{incident.pk}/change/").content.decode()
        assert escape(incident.message) in page and escape(section.splitlines()[0]) in page, incident.rule
        if incident.customer_ids:
            assert escape(str(Customer.objects.get(pk=incident.customer_ids[0]).name)) in page
