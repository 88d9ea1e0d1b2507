"""MRR and its movements, built through the API as finance and the product would, month by month."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def post(api: APIClient, path: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = api.post(f"/api/v1/{path}", body, format="json")
    assert response.status_code == status, response.content
    return response.json()


def customer(api: APIClient, external_id: str, currency: str = "USD") -> None:
    post(
        api,
        "customers",
        {
            "external_id": external_id,
            "name": external_id.title(),
            "email": f"{external_id}@x.example",
            "currency": currency,
        },
    )


def flat_plan(api: APIClient, code: str, amount: str, **extra: Any) -> None:
    price = {"code": "fee", "model": "flat", "amount": amount}
    post(api, "plans", {"code": code, "name": code.title(), "currency": "USD", "prices": [price], **extra})


def subscribe(api: APIClient, who: str, plan: str, start: str, **extra: Any) -> int:
    return int(post(api, "subscriptions", {"customer": who, "plan": plan, "start": start, **extra})["id"])


def run(api: APIClient, as_of: str) -> None:
    post(api, "billing-runs", {"as_of": as_of}, status=202)


@pytest.fixture
def book(api: APIClient, settings: Any) -> None:
    """Five customers over five months: new, expansion, a yearly plan, churn, a trial, a coupon, a return."""
    settings.RATECARD_LATE_EVENT_LIMIT_DAYS = 36500  # history in 2026 whatever today is
    post(api, "metrics", {"code": "relay_gb", "name": "Relay GB", "aggregation": "sum", "field": "gb"})
    seat = {"code": "seat", "model": "per_unit", "unit_amount": "18.00"}
    relay = {
        "code": "relay",
        "model": "per_unit",
        "unit_amount": "0.50",
        "billing": "in_arrears",
        "metric": "relay_gb",
    }
    post(api, "plans", {"code": "premium", "name": "Premium", "currency": "USD", "prices": [seat, relay]})
    flat_plan(api, "basic", "50.00")
    flat_plan(api, "team", "60.00")
    flat_plan(api, "trialled", "60.00", trial_days=14)
    flat_plan(api, "yearly", "1200.00", interval="year")
    post(api, "coupons", {"code": "twenty", "percent_off": "20", "duration": "forever"})
    for who in ("a", "b", "c", "d", "e"):
        customer(api, who)
    subscribe(api, "a", "premium", "2026-01-01T00:00:00Z", quantity="10")
    c_sub = subscribe(api, "c", "basic", "2026-01-05T00:00:00Z")
    subscribe(api, "e", "team", "2026-01-20T00:00:00Z", coupon="twenty")
    # metered usage is real revenue but not recurring: it must not move MRR
    post(
        api,
        "events",
        {
            "events": [
                {
                    "event_id": "u1",
                    "customer": "a",
                    "metric": "relay_gb",
                    "timestamp": "2026-01-10T00:00:00Z",
                    "properties": {"gb": 1000},
                }
            ]
        },
        status=202,
    )
    run(api, "2026-02-01T00:00:00Z")
    a_sub = api.get("/api/v1/subscriptions?customer=a").json()["results"][0]["id"]
    post(
        api,
        f"subscriptions/{a_sub}/change",
        {"quantity": "15", "at": "2026-02-15T00:00:00Z", "proration": "create_prorations"},
        status=200,
    )
    subscribe(api, "b", "yearly", "2026-02-10T00:00:00Z")
    run(api, "2026-03-06T00:00:00Z")
    post(api, f"subscriptions/{c_sub}/cancel", {"at": "2026-03-10T00:00:00Z"}, status=200)
    subscribe(api, "d", "trialled", "2026-03-25T00:00:00Z")
    run(api, "2026-05-02T00:00:00Z")
    subscribe(api, "c", "basic", "2026-05-03T00:00:00Z")


def test_mrr_movements_month_by_month(api: APIClient, book: None) -> None:
    response = api.get("/api/v1/reports/mrr?from=2026-01&to=2026-05&currency=USD")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["currency"] == "USD"
    months = {m["month"]: m for m in body["months"]}
    zero = "0.00"
    assert months["2026-01"].pop("usage_revenue") == {"relay_gb": "500.00"}  # 1,000 GB at 0.50
    assert months["2026-02"].pop("usage_revenue") == {"relay_gb": "0.00"}  # billed, nothing used
    assert months["2026-01"] == {
        "month": "2026-01",
        "mrr": "278.00",
        "new": "278.00",
        "expansion": zero,
        "contraction": zero,
        "churn": zero,
        "reactivation": zero,
    }
    # 5 more seats at 18.00 (expansion 90.00); a yearly 1,200.00 counts 100.00 a month
    assert months["2026-02"] == {
        "month": "2026-02",
        "mrr": "468.00",
        "new": "100.00",
        "expansion": "90.00",
        "contraction": zero,
        "churn": zero,
        "reactivation": zero,
    }
    # c cancels; d is still in its trial at the end of March
    months["2026-03"].pop("usage_revenue")
    assert months["2026-03"] == {
        "month": "2026-03",
        "mrr": "418.00",
        "new": zero,
        "expansion": zero,
        "contraction": zero,
        "churn": "50.00",
        "reactivation": zero,
    }
    assert months["2026-04"]["mrr"] == "478.00" and months["2026-04"]["new"] == "60.00"
    # c comes back: a reactivation, not a new customer
    assert months["2026-05"]["mrr"] == "528.00" and months["2026-05"]["reactivation"] == "50.00"
    assert months["2026-05"]["new"] == zero


def test_each_month_reconciles_from_the_one_before(api: APIClient, book: None) -> None:
    from decimal import Decimal

    months = api.get("/api/v1/reports/mrr?from=2025-12&to=2026-06").json()["months"]
    for before, month in itertools.pairwise(months):
        d = {k: Decimal(v) for k, v in month.items() if k not in ("month", "usage_revenue")}
        assert (
            d["mrr"]
            == Decimal(before["mrr"])
            + d["new"]
            + d["expansion"]
            + d["reactivation"]
            - d["contraction"]
            - d["churn"]
        )


def test_mrr_as_csv_for_a_spreadsheet(api: APIClient, book: None) -> None:
    response = api.get("/api/v1/reports/mrr?from=2026-01&to=2026-02&format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.content.decode().splitlines() == [
        "month,currency,mrr,new,expansion,contraction,churn,reactivation",
        "2026-01,USD,278.00,278.00,0.00,0.00,0.00,0.00",
        "2026-02,USD,468.00,100.00,90.00,0.00,0.00,0.00",
    ]


def test_reports_are_for_finance_only(sales_api: APIClient, support_api: APIClient, api: APIClient) -> None:
    for client in (sales_api, support_api):
        for path in ("reports/mrr", "reports/revenue", "reports/ar-aging"):
            assert client.get(f"/api/v1/{path}").status_code == 403
    assert APIClient().get("/api/v1/reports/mrr").status_code in (401, 403)
    assert api.get("/api/v1/reports/mrr?from=2026-01&to=2026-02").status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-13&to=2027-01", "from"),
        ("from=2026-05&to=2026-01", "to"),
        ("from=2000-01&to=2026-01", "to"),
        ("to=26-1", "to"),
        ("currency=ZZZ", "currency"),
        ("format=xlsx", "format"),
    ],
)
def test_bad_report_parameters_name_the_field(api: APIClient, query: str, field: str) -> None:
    response = api.get(f"/api/v1/reports/mrr?{query}")
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == field
