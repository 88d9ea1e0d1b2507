"""Fixtures for usage metering: metrics of every aggregation, customers, a fixed reference time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import Customer
from accounts.services.customers import customer_create
from billing.models import BillableMetric, PlanVersion, Subscription, SubscriptionStatus
from billing.services.catalog import PlanDraft, PriceDraft, metric_create, plan_create
from billing.services.usage_ingest import IngestResult, usage_events_ingest, usage_events_ingest_json
from billing.services.usage_schema import EventIn

pg_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL mechanics")
redis_only = pytest.mark.skipif(not settings.REDIS_URL, reason="needs REDIS_URL")

# A reference "now" inside the partitions migrate creates (current month), fixed per test run.
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


@pytest.fixture
def customer(db: Any) -> Customer:
    return customer_create(external_id="acme", name="Acme", currency="USD")


@pytest.fixture
def other_customer(db: Any) -> Customer:
    return customer_create(external_id="globex", name="Globex", currency="USD")


@pytest.fixture
def metrics(db: Any) -> dict[str, BillableMetric]:
    specs = {
        "api_calls": ("count", "", None),
        "relay_gb": ("sum", "gb", None),
        "relay_gb_eu": ("sum", "gb", {"region": "eu"}),
        "devices": ("max", "devices", None),
        "active_users": ("unique_count", "user_id", None),
        "storage_gb": ("latest", "gb", None),
        "seats": ("weighted_sum", "seats", None),
    }
    return {
        code: metric_create(code=code, name=code, aggregation=agg, field_name=field, filters=filters)
        for code, (agg, field, filters) in specs.items()
    }


def event(
    event_id: str,
    metric: str = "api_calls",
    *,
    customer: str = "acme",
    at: datetime | None = None,
    **properties: Any,
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "customer": customer,
        "metric": metric,
        "timestamp": (at or NOW).isoformat(),
        "properties": properties,
    }


def ingest(*events: dict[str, Any], now: datetime = NOW + timedelta(hours=1)) -> IngestResult:
    """Ingest through the same path as the API (raw JSON bytes)."""
    import json

    body = json.dumps({"events": list(events)}, default=str).encode()
    return usage_events_ingest_json(body=body, now=now)


def post_events(api: APIClient, events: list[dict[str, Any]], **extra: Any) -> Any:
    return api.post("/api/v1/events", {"events": events}, format="json", **extra)


def subscribe(
    customer: Customer, features: dict[str, Any], *, code: str = "pro", start: datetime | None = None
) -> Subscription:
    """A live subscription on a new plan with these features, current period of 30 days from ``start``."""
    version: PlanVersion = plan_create(
        draft=PlanDraft(code=code, name=code, currency="USD", features=features)
    )
    start = start or NOW - timedelta(days=10)
    return Subscription.objects.create(
        customer=customer,
        plan_version=version,
        status=SubscriptionStatus.ACTIVE,
        currency="USD",
        started_at=start,
        billing_anchor="anniversary",
        anchor_at=start,
        timezone="UTC",
        current_period_start=start,
        current_period_end=start + timedelta(days=30),
    )


D = Decimal


# --- a metered subscription billed from January 2026 (late usage, voids, backfill) ---------------

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture
def metered_catalog(db: Any) -> None:
    """API requests (sum of ``n``) and the "api" plan: 10.00 flat in advance, 0.0004 a request in arrears."""
    metric_create(code="requests", name="API requests", aggregation="sum", field_name="n", filters=None)
    base = PriceDraft(code="base", model="flat", amount=Decimal("10.00"))
    calls = PriceDraft(
        code="calls", model="per_unit", billing="in_arrears", metric="requests", unit_amount=Decimal("0.0004")
    )
    plan_create(draft=PlanDraft(code="api", name="API", currency="USD", prices=(base, calls)))


@pytest.fixture
def metered(api: APIClient, metered_catalog: None) -> dict[str, Any]:
    """acme (10% tax) subscribed to the "api" plan from January 2026."""
    customer = {"external_id": "acme", "name": "Acme", "currency": "USD", "tax_rate_percent": "10"}
    assert api.post("/api/v1/customers", customer, format="json").status_code == 201
    body = {"customer": "acme", "plan": "api", "start": JAN.isoformat()}
    response = api.post("/api/v1/subscriptions", body, format="json")
    assert response.status_code == 201
    return dict(response.json())


@pytest.fixture
def send(django_capture_on_commit_callbacks: Any) -> Callable[..., None]:
    """Ingest one requests event; after-commit callbacks run as a real commit would run them."""

    def send(n: int, at: datetime, event_id: str, now: datetime, backfill: bool = False) -> None:
        event = EventIn(
            event_id=event_id, customer="acme", metric="requests", timestamp=at, properties={"n": D(n)}
        )
        with django_capture_on_commit_callbacks(execute=True):
            usage_events_ingest(events=[event], now=now, backfill=backfill)

    return send
