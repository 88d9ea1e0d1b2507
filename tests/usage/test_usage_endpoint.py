"""GET /customers/{id}/usage?from&to: one value per metric with events in the half-open window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from accounts.models import Customer
from billing.models import BillableMetric
from tests.usage.conftest import NOW, event, ingest

pytestmark = pytest.mark.django_db
H = timedelta(hours=1)


def test_usage_per_metric_in_the_window(
    api: APIClient, customer: Customer, metrics: dict[str, BillableMetric]
) -> None:
    ingest(
        event("a1", at=NOW - H),
        event("a2", at=NOW),
        event("g1", "relay_gb", at=NOW, gb="2.5"),
        event("u1", "active_users", at=NOW, user_id="x"),
        event("late", "devices", at=NOW + H, devices=5),  # at the exclusive end: out
    )
    response = api.get(
        "/api/v1/customers/acme/usage", {"from": (NOW - H).isoformat(), "to": (NOW + H).isoformat()}
    )
    assert response.status_code == 200
    assert response.json() == {
        "metrics": [
            {"metric": "active_users", "value": "1"},
            {"metric": "api_calls", "value": "2"},
            {"metric": "relay_gb", "value": "2.5"},
        ]
    }


def test_an_unencoded_plus_offset_is_understood(
    api: APIClient, customer: Customer, metrics: dict[str, BillableMetric]
) -> None:
    ingest(event("a1", at=NOW))
    start = (NOW - H).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    end = (NOW + H).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    response = api.get(f"/api/v1/customers/acme/usage?from={start}&to={end}")
    assert response.json() == {"metrics": [{"metric": "api_calls", "value": "1"}]}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"to": "2026-01-02T00:00:00Z"}, "from"),
        ({"from": "2026-01-01T00:00:00Z"}, "to"),
        ({"from": "yesterday", "to": "2026-01-02T00:00:00Z"}, "from"),
        ({"from": "2026-01-01T00:00:00", "to": "2026-01-02T00:00:00Z"}, "from"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
    ],
)
def test_bad_windows_are_400_naming_the_parameter(
    api: APIClient, customer: Customer, params: dict[str, str], field: str
) -> None:
    response = api.get("/api/v1/customers/acme/usage", params)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


def test_an_unknown_customer_is_404(api: APIClient) -> None:
    response = api.get(
        "/api/v1/customers/nobody/usage", {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}
    )
    assert response.status_code == 404


def test_support_reads_usage_sales_too(
    support_api: APIClient, sales_api: APIClient, customer: Customer
) -> None:
    params = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}
    assert support_api.get("/api/v1/customers/acme/usage", params).status_code == 200
    assert sales_api.get("/api/v1/customers/acme/usage", params).status_code == 200
