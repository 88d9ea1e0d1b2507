"""Customers through the API: create, get, patch, list; validation and history."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import Customer

pytestmark = pytest.mark.django_db

ACME = {"external_id": "acme", "name": "Acme Networks", "email": "billing@acme.example", "currency": "USD"}


def fields_of(response: Any) -> set[str | None]:
    return {e["field"] for e in response.json()["errors"]}


def test_create_and_get_a_customer_with_defaults(api: APIClient) -> None:
    response = api.post("/api/v1/customers", ACME, format="json")
    assert response.status_code == 201, response.content
    got = api.get("/api/v1/customers/acme").json()
    assert got["external_id"] == "acme"
    assert got["currency"] == "USD"
    assert got["timezone"] == "UTC"
    assert got["billing_anchor"] == "anniversary"
    assert got["net_terms_days"] == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": "ABC"}, "currency"),
        ({"currency": "eur"}, "currency"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"billing_anchor": "sometimes"}, "billing_anchor"),
        ({"net_terms_days": -5}, "net_terms_days"),
        ({"email": "not-an-email"}, "email"),
        ({"name": ""}, "name"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_customer_input_is_400_naming_the_field(
    api: APIClient, change: dict[str, Any], field: str
) -> None:
    response = api.post("/api/v1/customers", {**ACME, **change}, format="json")
    assert response.status_code == 400, response.content
    assert field in fields_of(response)
    assert not Customer.objects.exists()


def test_duplicate_external_id_is_400_on_external_id(api: APIClient) -> None:
    assert api.post("/api/v1/customers", ACME, format="json").status_code == 201
    response = api.post("/api/v1/customers", ACME, format="json")
    assert response.status_code == 400
    assert fields_of(response) == {"external_id"}
    assert Customer.objects.count() == 1


def test_patch_changes_fields_and_keeps_history(api: APIClient, finance_user: Any) -> None:
    api.post("/api/v1/customers", ACME, format="json")
    response = api.patch(
        "/api/v1/customers/acme", {"timezone": "Europe/Berlin", "billing_anchor": "calendar"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["timezone"] == "Europe/Berlin"
    customer = Customer.objects.get(external_id="acme")
    assert customer.billing_anchor == "calendar"
    latest = customer.history.latest()
    assert latest.history_user == finance_user
    assert latest.timezone == "Europe/Berlin"
    assert customer.history.count() == 2


def test_patch_cannot_change_currency(api: APIClient) -> None:
    api.post("/api/v1/customers", ACME, format="json")
    response = api.patch("/api/v1/customers/acme", {"currency": "EUR"}, format="json")
    assert response.status_code == 400
    assert fields_of(response) == {"currency"}
    assert Customer.objects.get().currency == "USD"


def test_patch_bad_timezone_writes_nothing(api: APIClient) -> None:
    api.post("/api/v1/customers", {**ACME, "name": "Before"}, format="json")
    response = api.patch(
        "/api/v1/customers/acme", {"name": "After", "timezone": "Nowhere/Land"}, format="json"
    )
    assert response.status_code == 400
    assert fields_of(response) == {"timezone"}
    assert Customer.objects.get().name == "Before"


def test_unknown_customer_is_404(api: APIClient) -> None:
    assert api.get("/api/v1/customers/ghost").status_code == 404
    assert api.patch("/api/v1/customers/ghost", {"name": "x"}, format="json").status_code == 404


def test_customer_list_uses_constant_queries(api: APIClient) -> None:
    def make(n: int, start: int) -> None:
        Customer.objects.bulk_create(
            Customer(external_id=f"c{i}", name=f"C{i}", currency="USD") for i in range(start, start + n)
        )

    make(3, 0)
    api.get("/api/v1/customers")  # the token's last_used_at is written once a minute, not per request
    with CaptureQueriesContext(connection) as few:
        assert len(api.get("/api/v1/customers").json()["results"]) == 3
    make(30, 3)
    with CaptureQueriesContext(connection) as many:
        assert len(api.get("/api/v1/customers").json()["results"]) == 33
    assert len(few) == len(many)


def test_customer_search_by_domain_and_email(api: APIClient) -> None:
    api.post("/api/v1/customers", {**ACME, "domain": "acme.example"}, format="json")
    api.post("/api/v1/customers", {"external_id": "b", "name": "Beta", "currency": "EUR"}, format="json")
    assert [c["external_id"] for c in api.get("/api/v1/customers?q=acme.example").json()["results"]] == [
        "acme"
    ]
    assert [c["external_id"] for c in api.get("/api/v1/customers?q=billing@acme").json()["results"]] == [
        "acme"
    ]
