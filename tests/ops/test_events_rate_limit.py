"""POST /api/v1/events is rate limited per token (a Redis token bucket): 429 with Retry-After in the
error shape, decided before anything is written, so a refused batch stores nothing and its retry
(with the same Idempotency-Key) is accepted once the bucket refills."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import UsageEvent
from billing.services.catalog import metric_create
from tests.conftest import client_for, make_staff
from tests.usage.conftest import redis_only

pytestmark = [pytest.mark.django_db, redis_only]


def batch(prefix: str) -> dict[str, Any]:
    at = (timezone.now() - timedelta(minutes=5)).isoformat()
    return {
        "events": [
            {"event_id": f"{prefix}{i}", "customer": "acme", "metric": "api_calls", "timestamp": at}
            for i in range(3)
        ]
    }


@pytest.fixture
def limited(settings: Any, api: APIClient) -> APIClient:
    settings.RATECARD_EVENTS_RATE_PER_SECOND = 1
    settings.RATECARD_EVENTS_BURST = 2
    metric_create(code="api_calls", name="API calls", aggregation="count")
    assert (
        api.post(
            "/api/v1/customers", {"external_id": "acme", "name": "Acme", "currency": "USD"}, format="json"
        ).status_code
        == 201
    )
    return api


def test_past_the_burst_a_batch_is_429_with_retry_after_and_nothing_is_written(limited: APIClient) -> None:
    assert limited.post("/api/v1/events", batch("a"), format="json").status_code == 202
    assert limited.post("/api/v1/events", batch("b"), format="json").status_code == 202
    refused = limited.post("/api/v1/events", batch("c"), format="json", HTTP_IDEMPOTENCY_KEY="k-c")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    [error] = refused.json()["errors"]
    assert error["code"] == "throttled" and error["field"] is None and error["message"]
    assert UsageEvent.objects.count() == 6  # the refused batch wrote nothing

    time.sleep(1.05)  # the bucket refills one request a second
    again = limited.post("/api/v1/events", batch("c"), format="json", HTTP_IDEMPOTENCY_KEY="k-c")
    assert again.status_code == 202 and again.json() == {"accepted": 3, "duplicates": 0}
    assert UsageEvent.objects.count() == 9


def test_each_token_has_its_own_bucket(limited: APIClient) -> None:
    for prefix in ("a", "b"):
        limited.post("/api/v1/events", batch(prefix), format="json")
    assert limited.post("/api/v1/events", batch("c"), format="json").status_code == 429
    other = client_for(make_staff("ingest", "integration"))
    assert other.post("/api/v1/events", batch("d"), format="json").status_code == 202


def test_zero_turns_the_limit_off(limited: APIClient, settings: Any) -> None:
    settings.RATECARD_EVENTS_RATE_PER_SECOND = 0
    for prefix in "abcde":
        assert limited.post("/api/v1/events", batch(prefix), format="json").status_code == 202
