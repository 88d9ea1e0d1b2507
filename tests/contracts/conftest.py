"""Contract scenarios: the issue's plan ``premium`` and helpers to drive contracts through the API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from billing.display import format_money
from invoicing.models import Invoice


def D(value: str) -> Decimal:
    return Decimal(value)


def money(value: str, currency: str = "USD") -> str:
    """An amount as the admin shows it (the one formatter: ``$1,000.00``)."""
    return format_money(Decimal(value), currency)


PREMIUM = {
    "code": "premium",
    "name": "Premium",
    "currency": "USD",
    "features": {"max_users": 50, "sso": False},
    "prices": [
        {
            "code": "seats",
            "model": "per_unit",
            "unit_amount": "18.00",
            "billing": "in_advance",
            "description": "Seats",
        },
        {
            "code": "relay",
            "model": "per_unit",
            "unit_amount": "0.05",
            "billing": "in_arrears",
            "metric": "relay_gb",
            "description": "Relay traffic (GB)",
        },
    ],
}


def post(api: APIClient, path: str, body: dict[str, Any] | None = None, expect: int = 200) -> dict[str, Any]:
    response = api.post(path, body or {}, format="json")
    assert response.status_code == expect, response.content
    return response.json()


def make_premium(api: APIClient) -> None:
    """The issue's plan ``premium`` (seats 18.00 in advance, relay GB 0.05 in arrears) and customer ``acme``."""
    post(
        api,
        "/api/v1/metrics",
        {"code": "relay_gb", "name": "Relay GB", "aggregation": "sum", "field": "gb"},
        201,
    )
    post(api, "/api/v1/plans", PREMIUM, 201)
    post(
        api,
        "/api/v1/customers",
        {"external_id": "acme", "name": "Acme", "email": "ap@acme.test", "currency": "USD"},
        201,
    )


@pytest.fixture
def premium(api: APIClient) -> None:
    make_premium(api)


WORKED = {
    "customer": "acme",
    "plan": "premium",
    "start": "2026-01-01T00:00:00Z",
    "quantity": "10",
    "phases": [
        {
            "start": "2026-01-01T00:00:00Z",
            "overrides": [{"price": "seats", "unit_amount": "14.00"}],
            "fees": [{"code": "platform", "description": "Platform fee", "amount": "500.00"}],
        },
        {
            "start": "2026-03-01T00:00:00Z",
            "overrides": [{"price": "seats", "unit_amount": "15.00"}],
            "fees": [{"code": "platform", "description": "Platform fee", "amount": "600.00"}],
        },
    ],
    "commitment": {"amount": "1000.00"},
    "credits": [{"amount": "1000.00"}],
    "one_off_fees": [{"description": "Onboarding", "amount": "250.00"}],
    "entitlements": {"max_users": 500, "sso": True},
    "notes": "Ramp agreed with procurement.",
}


def usage(api: APIClient, event_id: str, when: str, gb: str) -> None:
    body = {
        "events": [
            {
                "event_id": event_id,
                "customer": "acme",
                "metric": "relay_gb",
                "timestamp": when,
                "properties": {"gb": gb},
            }
        ]
    }
    post(api, "/api/v1/events?backfill=true", body, 202)


def bill_and_finalize(api: APIClient, as_of: str) -> Invoice:
    post(api, "/api/v1/billing-runs", {"as_of": as_of}, 202)
    invoice = Invoice.objects.get(
        customer__external_id="acme", billing_date=as_of.replace("Z", "+00:00"), status="draft"
    )
    post(api, f"/api/v1/invoices/{invoice.pk}/finalize", {"at": as_of})
    invoice.refresh_from_db()
    return invoice


def lines(invoice: Invoice) -> list[tuple[str, str, Decimal]]:
    return [
        (line.kind, line.description, line.amount)
        for line in invoice.lines.order_by("position")
        if line.amount
    ]
