"""Revenue recognized ratably by day, and receivables aged at a date, to the cent."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from invoicing.models import Invoice
from invoicing.services.payments import invoice_record_payment

pytestmark = pytest.mark.django_db


def post(api: APIClient, path: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = api.post(f"/api/v1/{path}", body, format="json")
    assert response.status_code == status, response.content
    return response.json()


def setup_yearly(api: APIClient, **customer: Any) -> int:
    body = {"external_id": "acme", "name": "Acme", "email": "ap@acme.example", "currency": "USD", **customer}
    post(api, "customers", body)
    price = {"code": "fee", "model": "flat", "amount": "1000.00"}
    post(
        api,
        "plans",
        {"code": "yearly", "name": "Yearly", "currency": "USD", "interval": "year", "prices": [price]},
    )
    sub = post(api, "subscriptions", {"customer": "acme", "plan": "yearly", "start": "2026-01-01T00:00:00Z"})
    invoice_id = int(sub["latest_invoice"]["id"])
    post(api, f"invoices/{invoice_id}/finalize", {"at": "2026-01-01T00:00:00Z"}, status=200)
    return invoice_id


def test_a_yearly_fee_is_recognized_by_day_and_adds_up_exactly(api: APIClient) -> None:
    setup_yearly(api)
    months = api.get("/api/v1/reports/revenue?from=2026-01&to=2027-01").json()["months"]
    by_month = {m["month"]: m for m in months}
    # 31 of 365 days: 84.93; then cumulative rounding: through February 59/365 -> 161.64
    assert by_month["2026-01"] == {
        "month": "2026-01",
        "invoiced": "1000.00",
        "recognized": "84.93",
        "deferred": "915.07",
    }
    assert by_month["2026-02"]["recognized"] == "76.71"
    assert by_month["2026-02"]["invoiced"] == "0.00"
    # the rounding remainder lands in the last month: the year adds up to the line exactly
    assert by_month["2026-12"]["recognized"] == "84.93"
    assert by_month["2026-12"]["deferred"] == "0.00"
    assert sum(Decimal(m["recognized"]) for m in months) == Decimal("1000.00")
    assert by_month["2027-01"]["recognized"] == "0.00"


def test_drafts_and_void_invoices_are_not_revenue(api: APIClient) -> None:
    invoice_id = setup_yearly(api)
    post(
        api,
        f"invoices/{invoice_id}/void",
        {"at": "2026-01-02T00:00:00Z"},
        status=200,
    )
    months = api.get("/api/v1/reports/revenue?from=2026-01&to=2026-01").json()["months"]
    assert months == [{"month": "2026-01", "invoiced": "0.00", "recognized": "0.00", "deferred": "0.00"}]


def test_ar_aging_buckets_by_days_past_due_as_it_stood_then(api: APIClient) -> None:
    invoice_id = setup_yearly(api, net_terms_days=30)
    invoice = Invoice.objects.get(pk=invoice_id)
    assert invoice.due_at == datetime(2026, 1, 31, tzinfo=UTC)
    invoice_record_payment(
        invoice_id=invoice_id, amount=Decimal("400.00"), at=datetime(2026, 3, 15, tzinfo=UTC)
    )

    def aging(as_of: str) -> dict[str, Any]:
        response = api.get(f"/api/v1/reports/ar-aging?as_of={as_of}")
        assert response.status_code == 200, response.content
        return response.json()

    assert aging("2026-01-15T00:00:00Z")["buckets"] == {
        "current": "1000.00",
        "1_30": "0.00",
        "31_60": "0.00",
        "61_90": "0.00",
        "over_90": "0.00",
    }
    assert aging("2026-03-01T00:00:00Z")["buckets"]["1_30"] == "1000.00"  # 29 days past due
    # the partial payment of March 15 counts from then on, not before
    assert aging("2026-03-10T00:00:00Z")["buckets"]["31_60"] == "1000.00"
    later = aging("2026-05-15T00:00:00Z")
    assert later["buckets"]["over_90"] == "600.00"
    assert later["customers"] == [
        {
            "customer": "acme",
            "name": "Acme",
            "current": "0.00",
            "1_30": "0.00",
            "31_60": "0.00",
            "61_90": "0.00",
            "over_90": "600.00",
            "total": "600.00",
        }
    ]
    assert aging("2025-12-31T00:00:00Z")["customers"] == []  # not issued yet


def test_ar_aging_csv_has_a_total_row(api: APIClient) -> None:
    setup_yearly(api, net_terms_days=30)
    response = api.get("/api/v1/reports/ar-aging?as_of=2026-02-10T00:00:00Z&format=csv")
    assert response.status_code == 200
    assert response.content.decode().splitlines() == [
        "customer,name,current,1_30,31_60,61_90,over_90,total",
        "acme,Acme,0.00,1000.00,0.00,0.00,0.00,1000.00",
        "TOTAL,,0.00,1000.00,0.00,0.00,0.00,1000.00",
    ]
