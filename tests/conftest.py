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
