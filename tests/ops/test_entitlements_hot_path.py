"""The entitlement check's hot path: a measured limit declared on POST /plans, a per-customer profile
cache that every process sees go stale at once (version stamps in Redis), and a token fast path that
still refuses a revoked token or a lost role on the very next request."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services.tokens import api_token_revoke
from billing.models import Feature, Subscription
from billing.services.entitlement_stamps import CUSTOMER_KEY
from billing.services.usage_live import redis_client
from tests.conftest import client_for, make_staff
from tests.usage.conftest import redis_only

pytestmark = [pytest.mark.django_db, redis_only]
START = datetime(2026, 1, 1, tzinfo=UTC)


def post(api: APIClient, path: str, body: dict[str, Any]) -> Any:
    return api.post(f"/api/v1/{path}", body, format="json")


@pytest.fixture
def product(api: APIClient, django_capture_on_commit_callbacks: Any) -> APIClient:
    """A plan whose ``max_devices`` limit is measured by the ``devices`` metric, declared through the API."""
    assert (
        post(
            api, "metrics", {"code": "devices", "name": "Devices", "aggregation": "max", "field": "devices"}
        ).status_code
        == 201
    )
    plan = {
        "code": "team",
        "name": "Team",
        "currency": "USD",
        "interval": "month",
        "prices": [{"code": "base", "model": "flat", "billing": "in_advance", "amount": "10.00"}],
        "features": {"max_devices": {"limit": 100, "metric": "devices"}, "sso": True},
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert post(api, "plans", plan).status_code == 201, plan
        assert (
            post(api, "customers", {"external_id": "acme", "name": "Acme", "currency": "USD"}).status_code
            == 201
        )
        created = post(api, "subscriptions", {"customer": "acme", "plan": "team", "start": START.isoformat()})
        assert created.status_code == 201, created.content
    return api


def test_a_measured_limit_is_declared_on_the_plan(product: APIClient) -> None:
    assert Feature.objects.get(key="max_devices").metric.code == "devices"  # type: ignore[union-attr]
    assert product.get("/api/v1/plans/team").json()["features"] == {"max_devices": 100, "sso": True}
    got = product.get("/api/v1/customers/acme/entitlements").json()
    assert got == {
        "features": {"max_devices": 100, "sso": True},
        "usage": {"max_devices": {"used": "0", "limit": 100}},
    }


@pytest.mark.parametrize(
    ("features", "field"),
    [
        ({"max_devices": {"limit": 5, "metric": "nope"}}, "features.max_devices.metric"),
        ({"max_devices": {"limit": "many", "metric": "devices"}}, "features.max_devices"),
        ({"max_devices": {"limit": 5, "metric": 7}}, "features.max_devices.metric"),
        ({"max_devices": {"cap": 5}}, "features.max_devices"),
    ],
)
def test_a_bad_measured_limit_is_400_naming_the_field(
    api: APIClient, features: dict[str, Any], field: str
) -> None:
    post(api, "metrics", {"code": "devices", "name": "Devices", "aggregation": "max", "field": "devices"})
    plan = {
        "code": "bad",
        "name": "Bad",
        "currency": "USD",
        "interval": "month",
        "prices": [],
        "features": features,
    }
    response = post(api, "plans", plan)
    assert response.status_code == 400
    assert field in [e["field"] for e in response.json()["errors"]]
    assert not Feature.objects.filter(key="max_devices").exists()


def test_a_second_metric_for_a_measured_feature_is_refused(product: APIClient) -> None:
    post(product, "metrics", {"code": "phones", "name": "Phones", "aggregation": "max", "field": "phones"})
    plan = {"code": "other", "name": "Other", "currency": "USD", "interval": "month", "prices": [],
            "features": {"max_devices": {"limit": 5, "metric": "phones"}}}  # fmt: skip
    assert post(product, "plans", plan).json()["errors"][0]["field"] == "features.max_devices.metric"


def test_the_usual_check_costs_no_query_and_one_redis_round_trip(product: APIClient) -> None:
    product.get("/api/v1/customers/acme/entitlements")  # the token and the profile, checked once
    with CaptureQueriesContext(connection) as queries:
        response = product.get("/api/v1/customers/acme/entitlements")
    assert response.status_code == 200 and len(queries) == 0, [q["sql"] for q in queries]


def test_a_change_made_in_another_process_is_seen_by_the_next_check(
    product: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    assert product.get("/api/v1/customers/acme/entitlements").json()["features"]["sso"] is True
    sub = Subscription.objects.get()
    # another process cancels: this process's cache is not told, only the Redis stamp moves
    Subscription.objects.filter(pk=sub.pk).update(status="canceled")
    redis_client().incr(CUSTOMER_KEY.format(sub.customer_id))  # type: ignore[union-attr]
    assert product.get("/api/v1/customers/acme/entitlements").json() == {"features": {}, "usage": {}}
    # a change through the models moves the stamp itself, after commit
    with django_capture_on_commit_callbacks(execute=True):
        sub.status = "active"
        sub.save()
    assert product.get("/api/v1/customers/acme/entitlements").json()["features"]["max_devices"] == 100


def test_the_fast_path_refuses_a_revoked_token_and_a_lost_role_at_once(
    product: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    user = make_staff("svc", "integration")
    api = client_for(user)
    assert api.get("/api/v1/customers/acme/entitlements").status_code == 200
    assert api.get("/api/v1/customers/acme/entitlements").status_code == 200  # the fast path now
    with django_capture_on_commit_callbacks(execute=True):
        user.groups.remove(Group.objects.get(name="integration"))
    assert api.get("/api/v1/customers/acme/entitlements").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        user.groups.add(Group.objects.get(name="integration"))
    assert api.get("/api/v1/customers/acme/entitlements").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        api_token_revoke(token=ApiToken.objects.get(user=user))
    assert api.get("/api/v1/customers/acme/entitlements").status_code == 401


def test_an_unknown_customer_is_404_in_the_error_shape(product: APIClient) -> None:
    product.get("/api/v1/customers/acme/entitlements")
    response = product.get("/api/v1/customers/nobody/entitlements")
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "external_id"
