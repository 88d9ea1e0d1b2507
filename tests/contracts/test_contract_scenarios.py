"""Hand-computed contract scenarios: credit grants by priority and expiry, a percent-off override on a
tiered usage price, an amendment effective mid-period."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from invoicing.models import BalanceTransaction, Invoice
from tests.contracts.conftest import D, bill_and_finalize, lines, post

pytestmark = pytest.mark.django_db

START = "2026-01-01T00:00:00Z"


def approve(api: APIClient, body: dict[str, Any], at: str = START) -> dict[str, Any]:
    contract = post(
        api, "/api/v1/contracts", {"customer": "acme", "plan": "premium", "start": START, **body}, 201
    )
    post(api, f"/api/v1/contracts/{contract['id']}/submit")
    return post(api, f"/api/v1/contracts/{contract['id']}/approve", {"at": at})


def finalize_first(api: APIClient) -> Invoice:
    invoice = Invoice.objects.get(customer__external_id="acme", status="draft")
    post(api, f"/api/v1/invoices/{invoice.pk}/finalize", {"at": invoice.billing_date.isoformat()})
    invoice.refresh_from_db()
    return invoice


def test_grants_are_drawn_by_priority_then_soonest_expiry_and_an_expired_grant_never(
    api: APIClient, premium: Any, settings: Any
) -> None:
    settings.RATECARD_ALLOW_FUTURE_BILLING = True
    grants = [
        {"amount": "100.00", "priority": 1, "expires_at": "2026-02-15T00:00:00Z"},  # A
        {"amount": "150.00", "priority": 1, "expires_at": "2026-04-01T00:00:00Z"},  # B
        {"amount": "200.00", "priority": 2, "expires_at": "2026-02-15T00:00:00Z"},  # C
        {"amount": "500.00", "priority": 3},  # D, never expires
    ]
    contract = approve(api, {"quantity": "10", "credits": grants, "net_terms_days": 30})  # 10 x 18.00 a month
    a, b, c, d = (g["id"] for g in contract["credits"])

    def drawn(invoice: Invoice) -> list[tuple[int | None, Any]]:
        return list(
            BalanceTransaction.objects.filter(invoice=invoice)
            .order_by("id")
            .values_list("grant_id", "amount")
        )

    jan = finalize_first(api)
    assert (jan.total, jan.credits_applied, jan.amount_due) == (D("180.00"), D("180.00"), D("0.00"))
    assert (jan.net_terms_days, jan.customer.net_terms_days) == (30, 30)  # the contract's payment terms
    assert drawn(jan) == [(a, D("100.00")), (b, D("80.00"))]  # priority 1: A expires first
    feb = bill_and_finalize(api, "2026-02-01T00:00:00Z")
    assert drawn(feb) == [(b, D("70.00")), (c, D("110.00"))]  # B is spent, then priority 2
    mar = bill_and_finalize(api, "2026-03-01T00:00:00Z")
    assert drawn(mar) == [(d, D("180.00"))]  # C expired on Feb 15 with 90.00 left: never drawn
    assert mar.amount_due == D("0.00")

    credits = api.get("/api/v1/customers/acme/credits?at=2026-03-01T00:00:00Z").json()
    assert credits["balance"] == "320.00"
    assert [(g["id"], g["remaining"], g["expired"]) for g in credits["grants"]] == [
        (a, "0.00", True),
        (b, "0.00", False),
        (c, "90.00", True),
        (d, "320.00", False),
    ]


def test_a_percent_off_override_on_a_graduated_usage_price(
    api: APIClient, premium: Any, settings: Any
) -> None:
    settings.RATECARD_ALLOW_FUTURE_BILLING = True
    post(api, "/api/v1/metrics", {"code": "calls", "name": "API calls", "aggregation": "count"}, 201)
    tiers = [
        {"up_to": 100, "unit_amount": "0.10"},
        {"up_to": 1000, "unit_amount": "0.08"},
        {"up_to": None, "unit_amount": "0.05"},
    ]
    post(
        api,
        "/api/v1/plans",
        {
            "code": "metered",
            "name": "Metered",
            "currency": "USD",
            "prices": [
                {
                    "code": "calls",
                    "model": "graduated",
                    "billing": "in_arrears",
                    "metric": "calls",
                    "tiers": tiers,
                    "description": "API calls",
                },
            ],
        },
        201,
    )
    contract = post(
        api,
        "/api/v1/contracts",
        {
            "customer": "acme",
            "plan": "metered",
            "start": START,
            "phases": [{"start": START, "overrides": [{"price": "calls", "percent_off": "20"}]}],
        },
        201,
    )
    post(api, f"/api/v1/contracts/{contract['id']}/submit")
    post(api, f"/api/v1/contracts/{contract['id']}/approve", {"at": START})
    assert not Invoice.objects.exists()  # nothing in advance to bill
    events = [
        {
            "event_id": f"c{i}",
            "customer": "acme",
            "metric": "calls",
            "timestamp": "2026-01-10T00:00:00Z",
            "properties": {},
        }
        for i in range(1500)
    ]
    post(api, "/api/v1/events?backfill=true", {"events": events[:1000]}, 202)
    post(api, "/api/v1/events?backfill=true", {"events": events[1000:]}, 202)
    feb = bill_and_finalize(api, "2026-02-01T00:00:00Z")
    # list: 10.00 + 72.00 + 25.00 = 107.00; 20% off every tier: 8.00 + 57.60 + 20.00 = 85.60, rounded once
    assert [(k, a) for k, _, a in lines(feb)] == [("usage", D("85.60"))]
    slices = feb.lines.get().detail["slices"]
    assert [(s["unit_amount"], s["amount"]) for s in slices] == [
        ("0.08", "8"),
        ("0.064", "57.6"),
        ("0.04", "20"),
    ]


def test_an_amendment_mid_period_is_prorated_and_earlier_invoices_never_change(
    api: APIClient, premium: Any, settings: Any
) -> None:
    settings.RATECARD_ALLOW_FUTURE_BILLING = True
    contract = approve(
        api,
        {
            "quantity": "10",
            "phases": [{"start": START, "overrides": [{"price": "seats", "unit_amount": "14.00"}]}],
        },
    )
    jan = finalize_first(api)
    feb = bill_and_finalize(api, "2026-02-01T00:00:00Z")
    before = {i.pk: (i.total, lines(i)) for i in (jan, feb)}
    assert (jan.total, feb.total) == (D("140.00"), D("140.00"))

    amended = post(
        api,
        f"/api/v1/contracts/{contract['id']}/amend",
        {
            "effective_at": "2026-02-15T00:00:00Z",
            "quantity": "20",
            "phases": [{"start": START, "overrides": [{"price": "seats", "unit_amount": "12.00"}]}],
        },
        201,
    )
    assert (amended["version"], amended["status"], amended["family"]) == (2, "draft", contract["id"])
    post(api, f"/api/v1/contracts/{amended['id']}/submit")
    post(api, f"/api/v1/contracts/{amended['id']}/approve", {"at": "2026-02-15T00:00:00Z"})
    assert api.get(f"/api/v1/contracts/{contract['id']}").json()["status"] == "amended"

    mar = bill_and_finalize(api, "2026-03-01T00:00:00Z")
    # Feb 15 is half of the 28-day February: credit 10 x 14.00 x 1/2, charge 20 x 12.00 x 1/2
    assert sorted((k, a) for k, _, a in lines(mar)) == [
        ("proration", D("-70.00")),
        ("proration", D("120.00")),
        ("subscription", D("240.00")),
    ]
    assert mar.total == D("290.00")
    for invoice in (jan, feb):
        invoice.refresh_from_db()
        assert (invoice.total, lines(invoice)) == before[invoice.pk]
    history = api.get(f"/api/v1/contracts/{amended['id']}").json()["versions"]
    assert [(v["version"], v["status"]) for v in history] == [(1, "amended"), (2, "active")]


def test_voiding_an_invoice_returns_its_draw_to_the_grant_it_came_from(api: APIClient, premium: Any) -> None:
    contract = approve(
        api, {"quantity": "10", "credits": [{"amount": "100.00", "expires_at": "2026-06-01T00:00:00Z"}]}
    )
    (grant,) = (g["id"] for g in contract["credits"])
    jan = finalize_first(api)
    assert (jan.total, jan.credits_applied, jan.amount_due, jan.status) == (
        D("180.00"),
        D("100.00"),
        D("80.00"),
        "open",
    )
    post(api, f"/api/v1/invoices/{jan.pk}/void", {"at": "2026-01-02T00:00:00Z"})
    rows = list(BalanceTransaction.objects.order_by("id").values_list("grant_id", "amount"))
    assert rows == [(grant, D("-100.00")), (grant, D("100.00")), (grant, D("-100.00"))]  # in, drawn, returned
    credits = api.get("/api/v1/customers/acme/credits?at=2026-01-02T00:00:00Z").json()
    assert (credits["balance"], credits["grants"][0]["remaining"]) == ("100.00", "100.00")
