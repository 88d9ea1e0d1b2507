"""Building blocks of the Stripe tests: a catalog, customers with cards, a billing run that finalizes."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from invoicing.models import Invoice
from tests.stripe.conftest import LocalStripe, signed

START = "2026-04-01T00:00:00Z"
# a run this long after the start finalizes the first invoices (past the review window)
RUN_AS_OF = "2026-04-05T00:00:00Z"


def plan(api: APIClient, code: str, currency: str, unit_amount: str) -> None:
    body = {
        "code": code,
        "name": code.title(),
        "currency": currency,
        "interval": "month",
        "prices": [
            {"code": "seat", "model": "per_unit", "billing": "in_advance", "unit_amount": unit_amount}
        ],
    }
    response = api.post("/api/v1/plans", body, format="json")
    assert response.status_code == 201, response.content


def customer(api: APIClient, external_id: str, currency: str = "USD", **fields: Any) -> dict[str, Any]:
    body = {"external_id": external_id, "name": external_id.title(), "currency": currency, **fields}
    response = api.post("/api/v1/customers", body, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def card(api: APIClient, external_id: str, payment_method: str) -> dict[str, Any]:
    response = api.post(
        f"/api/v1/customers/{external_id}/payment-method", {"payment_method": payment_method}, format="json"
    )
    assert response.status_code == 200, response.content
    return dict(response.json())


def subscribe(api: APIClient, external_id: str, plan_code: str, quantity: str = "10") -> None:
    body = {"customer": external_id, "plan": plan_code, "quantity": quantity, "start": START}
    response = api.post("/api/v1/subscriptions", body, format="json")
    assert response.status_code == 201, response.content


def billing_run() -> None:
    call_command("run_billing", "--as-of", RUN_AS_OF)


def invoice_of(external_id: str) -> Invoice:
    return Invoice.objects.get(customer__external_id=external_id, billing_date=START)


def post_recorded_events(localstripe: LocalStripe, client: Client, event_type: str) -> int:
    """Post to our webhook, signed as localstripe signs them, the events of ``event_type`` localstripe
    recorded. In ``stripe_quiet`` tests its own webhooks go nowhere, so the test decides when Stripe's
    report arrives; an event posted before is a duplicate the ledger ignores. Returns how many."""
    events = localstripe.get(f"/v1/events?type={event_type}&limit=100")["data"]
    for event in events:
        payload, signature = signed(event)
        response = client.post(
            "/stripe/webhook/", data=payload, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )
        assert response.status_code == 200, response.content
    return len(events)
