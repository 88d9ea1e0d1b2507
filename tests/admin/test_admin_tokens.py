"""API tokens in the admin: listed and revoked (through the service), never created nor edited here."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts.models import ApiToken
from accounts.services.tokens import api_token_create
from tests.admin import add_url, change_url, changelist_url, logged_in

pytestmark = pytest.mark.django_db


def test_a_superuser_lists_and_revokes_tokens(client: Client, admin_user: User, finance_user: User) -> None:
    keep, _ = api_token_create(user=finance_user, name="ci")
    revoke, _ = api_token_create(user=finance_user, name="laptop")
    c = logged_in(client, admin_user)
    content = c.get(changelist_url(ApiToken)).content.decode()
    assert keep.prefix in content and revoke.prefix in content and "fiona" in content
    assert revoke.key_hash not in content

    response = c.post(
        changelist_url(ApiToken), {"action": "revoke", "_selected_action": [revoke.pk]}, follow=True
    )
    assert "Revoked 1 token(s)." in response.content.decode()
    revoke.refresh_from_db()
    keep.refresh_from_db()
    assert revoke.revoked_at is not None
    assert keep.revoked_at is None


def test_revoking_twice_keeps_the_first_date(client: Client, admin_user: User) -> None:
    token, _ = api_token_create(user=admin_user)
    c = logged_in(client, admin_user)
    c.post(changelist_url(ApiToken), {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    first = token.revoked_at
    response = c.post(
        changelist_url(ApiToken), {"action": "revoke", "_selected_action": [token.pk]}, follow=True
    )
    assert "1 already revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at == first


def test_tokens_are_not_created_nor_edited_in_the_admin(client: Client, admin_user: User) -> None:
    token, _ = api_token_create(user=admin_user, name="ci")
    c = logged_in(client, admin_user)
    assert c.get(add_url(ApiToken)).status_code == 403
    c.post(change_url(token), {"name": "renamed", "prefix": "x", "revoked_at": ""})
    token.refresh_from_db()
    assert (token.name, token.revoked_at) == ("ci", None)
