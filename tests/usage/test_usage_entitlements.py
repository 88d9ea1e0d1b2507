"""GET /customers/{id}/entitlements: merged plan features, and usage against each measured limit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import Customer
from billing.models import BillableMetric, Feature, SubscriptionStatus
from billing.services import usage_live
from billing.services.entitlements import customer_entitlements, entitlements_invalidate
from tests.usage.conftest import NOW, event, ingest, post_events, redis_only, subscribe

pytestmark = pytest.mark.django_db


def measure(feature_key: str, metric: BillableMetric) -> None:
    Feature.objects.filter(key=feature_key).update(metric=metric)
    usage_live.metric_ids_cache.clear()
    entitlements_invalidate()


def test_features_merge_across_live_subscriptions(customer: Customer) -> None:
    subscribe(customer, {"max_users": 3, "max_devices": 100, "sso": False, "audit": True}, code="basic")
    subscribe(customer, {"max_users": 10, "max_devices": None, "sso": True}, code="addon")
    canceled = subscribe(customer, {"max_users": 1000}, code="old")
    canceled.status = SubscriptionStatus.CANCELED
    canceled.save()
    view = customer_entitlements(customer_id=customer.pk)
    assert view.features == {"max_users": 10, "max_devices": None, "sso": True, "audit": True}
    assert view.usage == {}


def test_usage_is_reported_beside_each_measured_limit(
    api: APIClient,
    customer: Customer,
    metrics: dict[str, BillableMetric],
    django_capture_on_commit_callbacks: Any,
) -> None:
    subscribe(customer, {"max_devices": 100, "max_users": 3, "sso": False})
    measure("max_devices", metrics["devices"])
    measure("max_users", metrics["active_users"])
    with django_capture_on_commit_callbacks(execute=True):
        ingest(
            event("d1", "devices", at=NOW - timedelta(hours=2), devices=40),
            event("d2", "devices", at=NOW, devices=87),
            event("u1", "active_users", at=NOW, user_id="ann"),
            event("u2", "active_users", at=NOW, user_id="bob"),
            event("u3", "active_users", at=NOW, user_id="ann"),
            event("old", "devices", at=NOW - timedelta(days=20), devices=999),  # before the period
        )
    response = api.get("/api/v1/customers/acme/entitlements")
    assert response.status_code == 200
    assert response.json() == {
        "features": {"max_devices": 100, "max_users": 3, "sso": False},
        "usage": {"max_devices": {"used": "87", "limit": 100}, "max_users": {"used": "2", "limit": 3}},
    }


def test_usage_follows_ingestion_at_once(
    api: APIClient,
    customer: Customer,
    metrics: dict[str, BillableMetric],
    django_capture_on_commit_callbacks: Any,
) -> None:
    subscribe(customer, {"api_quota": 1000})
    measure("api_quota", metrics["api_calls"])
    assert customer_entitlements(customer_id=customer.pk).usage["api_quota"]["used"] == "0"
    for round_ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            post_events(api, [event(f"r{round_}-{i}", at=NOW) for i in range(5)])
            post_events(api, [event(f"r{round_}-0", at=NOW)])  # a duplicate changes nothing
        used = customer_entitlements(customer_id=customer.pk).usage["api_quota"]["used"]
        assert used == str(5 * (round_ + 1))


@redis_only
def test_a_lost_redis_counter_is_rebuilt_from_the_database(
    customer: Customer, metrics: dict[str, BillableMetric], django_capture_on_commit_callbacks: Any
) -> None:
    subscribe(customer, {"transfer": 50})
    measure("transfer", metrics["relay_gb"])
    with django_capture_on_commit_callbacks(execute=True):
        ingest(event("g1", "relay_gb", at=NOW, gb="1.5"), event("g2", "relay_gb", at=NOW, gb=2))
    assert customer_entitlements(customer_id=customer.pk).usage["transfer"]["used"] == "3.5"
    client = usage_live.redis_client()
    assert client is not None
    client.delete(*client.scan_iter("rc:usage:*"))  # Redis restarted
    assert customer_entitlements(customer_id=customer.pk).usage["transfer"]["used"] == "3.5"
    with django_capture_on_commit_callbacks(execute=True):
        ingest(event("g3", "relay_gb", at=NOW, gb=1))
    assert customer_entitlements(customer_id=customer.pk).usage["transfer"]["used"] == "4.5"


def test_a_customer_without_subscription_has_no_features(api: APIClient, customer: Customer) -> None:
    assert api.get("/api/v1/customers/acme/entitlements").json() == {"features": {}, "usage": {}}


def test_an_unknown_customer_is_404(api: APIClient) -> None:
    assert api.get("/api/v1/customers/nobody/entitlements").status_code == 404


def test_support_may_read_entitlements(support_api: APIClient, customer: Customer) -> None:
    assert support_api.get("/api/v1/customers/acme/entitlements").status_code == 200
