"""Billing runs from the admin: finance starts one (now or at a past instant), watches it, sees what it
billed per currency and its failures, and retries; sales and support cannot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from invoicing.models import BillingRun, BillingRunChunk, BillingRunFailure, Invoice
from tests.invoicing.test_billing_run_recovery import unreachable_broker  # noqa: F401
from tests.reporting.books import book_from_today

pytestmark = pytest.mark.django_db

START = "/admin/invoicing/billingrun/start/"


@pytest.fixture
def book(finance_api: APIClient) -> dict[str, Any]:
    # a yearly USD plan and a monthly EUR plan started 75 days ago: the EUR one has periods to bill
    return book_from_today(finance_api)


@pytest.fixture
def finance(client: Client, finance_user: User) -> Client:
    client.force_login(finance_user)
    return client


def run_page(client: Client, run: BillingRun) -> str:
    response = client.get(f"/admin/invoicing/billingrun/{run.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_finance_starts_a_run_as_of_now_and_sees_what_it_billed(
    finance: Client, book: dict[str, Any]
) -> None:
    listing = finance.get("/admin/invoicing/billingrun/").content.decode()
    assert f'href="{START}"' in listing and "Start a billing run" in listing
    assert finance.get(START).status_code == 200

    before = datetime.now(UTC)
    response = finance.post(START, {"when": "now"})

    run = BillingRun.objects.get()
    assert (
        response.status_code == 302
        and response["Location"] == f"/admin/invoicing/billingrun/{run.pk}/change/"
    )
    # eager (no worker): the run finished before the redirect, as the API's run does
    assert run.status == "completed" and before <= run.as_of <= datetime.now(UTC)
    created = list(Invoice.objects.filter(billing_run=run))
    assert {inv.currency for inv in created} == {"EUR"}
    # 75 days of a monthly plan billed in advance: the 2nd and 3rd months, 50.00 each
    assert len(created) == run.invoices_created == 2
    assert sum((inv.total for inv in created), Decimal(0)) == Decimal("100.00")
    html = run_page(finance, run)
    assert "2 invoice(s)</a>: €100.00" in html
    assert f"?billing_run__id__exact={run.pk}&amp;currency__exact=EUR" in html
    assert "1 of 1 chunk(s) done · Completed" in html
    assert "has finished: completed, 2 invoice(s) created." in html  # the message after the redirect
    assert 'http-equiv="refresh"' not in html  # a closed run does not reload itself
    assert "Retry failed" not in html  # nothing failed
    # the link lists exactly the run's invoices in that currency
    listed = finance.get(f"/admin/invoicing/invoice/?billing_run__id__exact={run.pk}&currency__exact=EUR")
    assert listed.status_code == 200 and listed.context["cl"].result_count == 2


def test_a_past_instant_bills_what_had_ended_then(finance: Client, book: dict[str, Any]) -> None:
    as_of = (book["start"] + timedelta(days=40)).replace(second=0)
    response = finance.post(START, {"when": "at", "as_of": as_of.strftime("%Y-%m-%dT%H:%M")})
    run = BillingRun.objects.get()
    assert response.status_code == 302
    assert run.as_of == as_of and run.status == "completed"
    # 40 days in, only the EUR plan's first month had ended: its second month is billed
    assert [(i.currency, i.total) for i in Invoice.objects.filter(billing_run=run)] == [
        ("EUR", Decimal("50.00"))
    ]


def test_a_run_too_far_ahead_shows_the_service_message_and_writes_nothing(
    finance: Client, settings: Any
) -> None:
    settings.RATECARD_ALLOW_FUTURE_BILLING = False
    ahead = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    response = finance.post(START, {"when": "at", "as_of": ahead})
    assert response.status_code == 200
    html = response.content.decode()
    assert "is more than 24 hours ahead of the clock; billing runs bill what has ended" in html
    assert 'class="errornote"' in html
    missing = finance.post(START, {"when": "at", "as_of": ""})
    assert (
        missing.status_code == 200
        and "Give the date and time the run bills as of." in missing.content.decode()
    )
    assert not BillingRun.objects.exists()


@pytest.mark.usefixtures("unreachable_broker")
def test_with_a_worker_the_run_is_queued_after_commit_and_its_page_refreshes(
    finance: Client, book: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as queued:
        response = finance.post(START, {"when": "now"})
    assert response.status_code == 302 and len(queued) == 1  # queued once the run row committed
    run = BillingRun.objects.get()
    assert run.status == "pending"  # the worker has not taken it (the broker is down: the sweep will)
    html = run_page(finance, run)
    assert '<meta http-equiv="refresh" content="3">' in html
    assert "this page refreshes every 3 seconds" in html
    assert "Queued: waiting for a worker to start it · Pending" in html
    assert "Nothing: no invoice was created by this run." in html


def test_a_running_run_shows_its_progress(finance: Client) -> None:
    run = BillingRun.objects.create(as_of=datetime(2026, 3, 1, tzinfo=UTC), status="running", chunks_total=3)
    for index, status in enumerate(("done", "failed", "running")):
        BillingRunChunk.objects.create(
            run=run, index=index, status=status, last_error="boom" * (status == "failed")
        )
    html = run_page(finance, run)
    assert "1 of 3 chunk(s) done, 1 failed · Running" in html
    assert 'http-equiv="refresh"' in html


def test_retry_failed_starts_a_new_run_as_of_the_same_instant(finance: Client, book: dict[str, Any]) -> None:
    as_of = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    failed = BillingRun.objects.create(
        as_of=as_of,
        status="completed_with_failures",
        failures_count=1,
        reason="1 failures (see failure_details)",
    )
    BillingRunFailure.objects.create(run=failed, error="ConnectionError: the tax service did not answer")
    html = run_page(finance, failed)
    assert "Retry failed" in html and "ConnectionError: the tax service did not answer" in html
    assert "1 failures (see failure_details)" in html
    retry = f"/admin/invoicing/billingrun/{failed.pk}/retry/"
    confirm = finance.get(retry).content.decode()
    assert "bills only what is still owed at that instant" in confirm

    response = finance.post(retry, {"post": "yes"})

    new = BillingRun.objects.exclude(pk=failed.pk).get()
    assert (
        response.status_code == 302
        and response["Location"] == f"/admin/invoicing/billingrun/{new.pk}/change/"
    )
    assert new.as_of == as_of and new.status == "completed"
    assert Invoice.objects.filter(billing_run=new).count() == 2
    # retrying again bills nothing: the periods are billed
    finance.post(retry, {"post": "yes"})
    assert BillingRun.objects.count() == 3 and Invoice.objects.filter(billing_run__isnull=False).count() == 2


@pytest.mark.parametrize("role", ["sales_user", "support_user"])
def test_sales_and_support_cannot_start_or_retry_runs(
    client: Client, role: str, request: pytest.FixtureRequest
) -> None:
    client.force_login(request.getfixturevalue(role))
    run = BillingRun.objects.create(as_of=datetime(2026, 3, 1, tzinfo=UTC), status="failed")
    listing = client.get("/admin/invoicing/billingrun/")
    assert listing.status_code == 200 and "Start a billing run" not in listing.content.decode()
    assert "Retry failed" not in run_page(client, run)
    assert client.get(START).status_code == 403
    assert client.post(START, {"when": "now"}).status_code == 403
    assert client.post(f"/admin/invoicing/billingrun/{run.pk}/retry/", {"post": "yes"}).status_code == 403
    assert BillingRun.objects.count() == 1
