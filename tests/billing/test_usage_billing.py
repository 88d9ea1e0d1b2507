"""Usage on invoices: rated in arrears, late events inside the grace window update the draft, later ones
become adjustment lines on the next invoice; one-off charges; the upcoming-invoice preview; dunning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from rest_framework.test import APIClient

from billing.models import Subscription
from billing.services.usage_ingest import usage_events_ingest
from billing.services.usage_schema import EventIn
from invoicing.models import Invoice, InvoiceLine
from invoicing.services.billing_runs import billing_run_create, billing_run_execute
from invoicing.services.dunning import dunning_run, invoice_payment_failed
from invoicing.services.finalization import invoice_finalize
from invoicing.services.payments import invoice_record_payment

pytestmark = pytest.mark.django_db

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)
MAR = datetime(2026, 3, 1, tzinfo=UTC)


def D(value: str) -> Decimal:
    return Decimal(value)


@pytest.fixture
def metered(api: APIClient) -> dict[str, Any]:
    customer = {"external_id": "acme", "name": "Acme", "currency": "USD", "email": "ap@acme.example"}
    assert api.post("/api/v1/customers", customer, format="json").status_code == 201
    assert (
        api.post(
            "/api/v1/metrics",
            {"code": "requests", "name": "API requests", "aggregation": "sum", "field": "n"},
            format="json",
        ).status_code
        == 201
    )
    plan = {
        "code": "api",
        "name": "API",
        "currency": "USD",
        "prices": [
            {"code": "base", "model": "flat", "amount": "10.00"},
            {
                "code": "calls",
                "model": "per_unit",
                "unit_amount": "0.0004",
                "billing": "in_arrears",
                "metric": "requests",
            },
        ],
    }
    assert api.post("/api/v1/plans", plan, format="json").status_code == 201
    response = api.post(
        "/api/v1/subscriptions", {"customer": "acme", "plan": "api", "start": JAN.isoformat()}, format="json"
    )
    assert response.status_code == 201
    return response.json()


def send(n: int, at: datetime, event_id: str, now: datetime) -> None:
    usage_events_ingest(
        events=[
            EventIn(
                event_id=event_id,
                customer="acme",
                metric="requests",
                timestamp=at,
                properties={"n": Decimal(n)},
            )
        ],
        now=now,
    )


def run(as_of: datetime) -> None:
    billing_run_execute(run_id=billing_run_create(as_of=as_of).pk)


def usage_lines(invoice: Invoice) -> list[tuple[str, Decimal, Decimal]]:
    return [
        (line.kind, line.quantity, line.amount)
        for line in invoice.lines.filter(kind__in=["usage", "adjustment"]).order_by("id")
    ]


def test_1234567_requests_at_0_0004_bill_493_83(metered: dict[str, Any]) -> None:
    send(1_000_000, JAN + timedelta(days=3), "a", FEB)
    send(234_567, JAN + timedelta(days=20), "b", FEB)
    run(FEB)
    invoice = Invoice.objects.get(billing_date=FEB)
    assert usage_lines(invoice) == [("usage", D("1234567"), D("493.83"))]
    assert invoice.total == D("503.83")  # usage for January + February's 10.00 in advance


def test_late_events_in_the_grace_window_update_the_draft(metered: dict[str, Any]) -> None:
    send(1000, JAN + timedelta(days=3), "a", FEB)
    run(FEB)
    send(1500, JAN + timedelta(days=30), "late", FEB + timedelta(days=2))  # arrives two days late
    run(FEB + timedelta(days=3))  # the review window has passed: the draft is refreshed, then finalized
    invoice = Invoice.objects.get(billing_date=FEB)
    assert invoice.status in ("open", "paid")
    assert usage_lines(invoice) == [("usage", D("2500"), D("1.00"))]
    assert invoice.total == D("11.00")


def test_late_events_after_finalization_become_an_adjustment_on_the_next_invoice(
    metered: dict[str, Any],
) -> None:
    send(1000, JAN + timedelta(days=3), "a", FEB)
    run(FEB + timedelta(days=3))
    january = Invoice.objects.get(billing_date=FEB)
    assert january.status == "open"
    send(10_000, JAN + timedelta(days=25), "very-late", FEB + timedelta(days=10))
    run(MAR)
    march = Invoice.objects.get(billing_date=MAR)
    adjustment = march.lines.get(kind="adjustment")
    assert (adjustment.quantity, adjustment.amount) == (D("10000"), D("4.00"))
    assert (adjustment.period_start, adjustment.period_end) == (JAN, FEB)
    assert Invoice.objects.get(pk=january.pk).total == january.total  # the finalized invoice never changed
    run(MAR)
    assert InvoiceLine.objects.filter(kind="adjustment").count() == 1  # a rerun adds nothing


def test_one_off_charge_on_the_next_invoice_and_at_once(api: APIClient, metered: dict[str, Any]) -> None:
    response = api.post(
        "/api/v1/customers/acme/charges",
        {"description": "Onboarding", "unit_amount": "250.00"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["invoice"] is None
    run(FEB)
    feb = Invoice.objects.get(billing_date=FEB)
    assert ("one_off", D("250.00")) in [(line.kind, line.amount) for line in feb.lines.all()]
    now = api.post(
        "/api/v1/customers/acme/charges",
        {
            "description": "Training day",
            "unit_amount": "800.00",
            "invoice_now": True,
            "at": "2026-02-10T00:00:00Z",
        },
        format="json",
    )
    assert now.status_code == 201
    assert Invoice.objects.get(pk=now.json()["invoice"]).total == D("800.00")
    run(MAR)
    assert InvoiceLine.objects.filter(kind="one_off").count() == 2  # each charged once


def test_upcoming_invoice_previews_usage_so_far_and_the_next_fees(
    api: APIClient, metered: dict[str, Any]
) -> None:
    send(5000, JAN + timedelta(days=3), "a", FEB)
    body = api.get("/api/v1/customers/acme/upcoming-invoice").json()
    assert body["status"] == "preview"
    assert body["number"] is None
    kinds = sorted((line["kind"], line["amount"]) for line in body["lines"])
    assert kinds == [("subscription", "10.00"), ("usage", "2.00")]
    assert body["total"] == "12.00"
    assert Invoice.objects.filter(billing_date=FEB).count() == 0  # nothing written


def test_dunning_reminds_then_marks_past_due_and_payment_restores(
    metered: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    invoice = Invoice.objects.get(billing_date=JAN)
    invoice_finalize(invoice_id=invoice.pk, at=JAN)
    invoice_payment_failed(invoice_id=invoice.pk, at=JAN + timedelta(days=1), reason="card_declined")
    with django_capture_on_commit_callbacks(execute=True):  # reminders leave after their step commits
        assert dunning_run(as_of=JAN + timedelta(days=3)) == 0
        assert dunning_run(as_of=JAN + timedelta(days=4)) == 1
        assert dunning_run(as_of=JAN + timedelta(days=4)) == 0  # a step is taken once
        assert dunning_run(as_of=JAN + timedelta(days=30)) == 2
    assert len(mail.outbox) == 3
    sub = Subscription.objects.get(pk=metered["id"])
    assert sub.status == "past_due"
    invoice_record_payment(invoice_id=invoice.pk, amount=D("10.00"), at=JAN + timedelta(days=31))
    sub.refresh_from_db()
    assert sub.status == "active"
    # both moves are in the subscription's history (support reads why it was past due)
    moves = [(h.status, h.history_change_reason) for h in sub.history.order_by("history_id")][-2:]
    assert moves == [("past_due", "dunning"), ("active", "dunning")]
