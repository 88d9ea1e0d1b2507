"""Shared fixtures: staff users per role and API clients authenticated with real Bearer tokens."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from accounts.services.tokens import api_token_create


def make_staff(username: str, role: str | None, *, superuser: bool = False) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username, is_staff=True)
    if superuser:
        user.is_superuser = True
        user.save()
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def client_for(user: User) -> APIClient:
    _, raw = api_token_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def finance_user(db: Any) -> User:
    return make_staff("fiona", "finance")


@pytest.fixture
def sales_user(db: Any) -> User:
    return make_staff("sam", "sales")


@pytest.fixture
def support_user(db: Any) -> User:
    return make_staff("sue", "support")


@pytest.fixture
def admin_user(db: Any) -> User:
    return make_staff("root", None, superuser=True)


@pytest.fixture
def finance_api(finance_user: User) -> APIClient:
    return client_for(finance_user)


@pytest.fixture
def sales_api(sales_user: User) -> APIClient:
    return client_for(sales_user)


@pytest.fixture
def support_api(support_user: User) -> APIClient:
    return client_for(support_user)


@pytest.fixture
def api(finance_api: APIClient) -> APIClient:
    """The default API client: a finance user (may do everything in the catalog)."""
    return finance_api


@pytest.fixture(autouse=True)
def eager_celery(request: pytest.FixtureRequest, settings: Any) -> Any:
    """Run Celery tasks in the test process, as the demo does, except in integration tests.

    ``make test`` sets REDIS_URL, so without this a billing run started through the API would wait for
    a worker; integration tests start real workers on Redis and must not be eager.
    """
    from config.celery import app

    # read the app's own value first: its conf loads lazily from Django settings, which we change next
    old = app.conf.task_always_eager
    if request.node.get_closest_marker("integration"):
        app.conf.task_always_eager = False
        yield
        app.conf.task_always_eager = old
        return
    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = old


@pytest.fixture(autouse=True)
def fresh_caches() -> Any:
    """Per-process caches and Redis counters must not leak ids between tests (ids are reused)."""
    from accounts.audit import forget_system_actor
    from accounts.authentication import forget_tokens
    from billing.services import entitlements, usage_ingest, usage_live

    forget_tokens()
    forget_system_actor()
    usage_ingest.lookups.clear()
    usage_live.metric_ids_cache.clear()
    entitlements.profiles.forget(None)
    client = usage_live.redis_client()
    if client is not None:
        keys = list(client.scan_iter("rc:usage:*", count=1000))
        keys += list(client.scan_iter("rc:ingest:*", count=1000))  # operations' ingestion window
        # the stamps' Redis mirrors: each test's database starts its stamps again from scratch
        keys += list(client.scan_iter("rc:access:*", count=1000))
        keys += list(client.scan_iter("rc:ent:*", count=1000))
        keys += list(client.scan_iter("rc:rl:*", count=1000))  # rate-limit buckets, per token id
        keys += list(client.scan_iter("rc:stripe:*", count=1000))  # webhook signature-failure window
        if keys:
            client.delete(*keys)
    yield
    usage_ingest.lookups.clear()
    usage_live.metric_ids_cache.clear()
    entitlements.profiles.forget(None)


@pytest.fixture(autouse=True)
def future_billing_allowed(settings: Any) -> None:
    """Tests bill at fixed business times that may lie ahead of the wall clock (API.md allows it for tests).

    A fixture rather than the Makefile's environment: it holds however pytest is started, and the tests
    of the bound switch it off with ``settings.RATECARD_ALLOW_FUTURE_BILLING = False``.
    """
    settings.RATECARD_ALLOW_FUTURE_BILLING = True
