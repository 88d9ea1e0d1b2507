"""Who may do what, at once: revocation, deactivation and role changes count from the very next request,
and a warm request authenticates with one query."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services.tokens import api_token_revoke
from billing.models import Coupon
from tests.conftest import client_for, make_staff

pytestmark = pytest.mark.django_db


def coupon(code: str) -> dict[str, Any]:
    return {"code": code, "percent_off": "10", "duration": "once"}


def test_a_revoked_token_is_refused_on_the_very_next_request(finance_user: User) -> None:
    api = client_for(finance_user)
    assert api.get("/api/v1/coupons").status_code == 200  # the token is known to this process now
    api_token_revoke(token=ApiToken.objects.get(user=finance_user))
    response = api.get("/api/v1/coupons")
    assert response.status_code == 401
    assert api.post("/api/v1/coupons", coupon("late"), format="json").status_code == 401
    assert not Coupon.objects.exists()


def test_a_token_revoked_by_another_process_is_refused_at_once(finance_user: User) -> None:
    # another web worker (or the admin of another process) revoked it: nothing here was told
    api = client_for(finance_user)
    assert api.get("/api/v1/coupons").status_code == 200
    ApiToken.objects.filter(user=finance_user).update(revoked_at=timezone.now())
    assert api.get("/api/v1/coupons").status_code == 401


def test_a_deactivated_user_is_refused_on_the_very_next_request(finance_user: User) -> None:
    api = client_for(finance_user)
    assert api.get("/api/v1/coupons").status_code == 200
    finance_user.is_active = False
    finance_user.save()
    assert api.get("/api/v1/coupons").status_code == 401


def test_a_deactivation_by_a_queryset_update_is_seen_too(finance_user: User) -> None:
    api = client_for(finance_user)
    assert api.get("/api/v1/coupons").status_code == 200
    User.objects.filter(pk=finance_user.pk).update(is_active=False)  # no signal: the join sees it
    assert api.get("/api/v1/coupons").status_code == 401


def test_a_removed_role_stops_writes_on_the_very_next_request(finance_user: User) -> None:
    api = client_for(finance_user)
    assert api.post("/api/v1/coupons", coupon("first"), format="json").status_code == 201
    finance_user.groups.remove(Group.objects.get(name="finance"))
    assert api.post("/api/v1/coupons", coupon("second"), format="json").status_code == 403
    assert api.get("/api/v1/coupons").status_code == 403
    assert list(Coupon.objects.values_list("code", flat=True)) == ["first"]


def test_removing_a_member_from_the_group_side_is_seen_too(finance_user: User) -> None:
    api = client_for(finance_user)
    assert api.post("/api/v1/coupons", coupon("first"), format="json").status_code == 201
    Group.objects.get(name="finance").user_set.remove(finance_user)
    assert api.post("/api/v1/coupons", coupon("second"), format="json").status_code == 403


def test_a_permission_taken_from_a_role_counts_on_the_next_request(finance_user: User) -> None:
    api = client_for(finance_user)
    assert api.post("/api/v1/coupons", coupon("first"), format="json").status_code == 201
    Group.objects.get(name="finance").permissions.remove(Permission.objects.get(codename="add_coupon"))
    assert api.post("/api/v1/coupons", coupon("second"), format="json").status_code == 403
    assert api.get("/api/v1/coupons").status_code == 200  # reading is still in the role


def test_a_role_given_counts_on_the_next_request(db: Any) -> None:
    user = make_staff("nina", None)
    api = client_for(user)
    assert api.post("/api/v1/coupons", coupon("early"), format="json").status_code == 403
    user.groups.add(Group.objects.get(name="finance"))
    assert api.post("/api/v1/coupons", coupon("now"), format="json").status_code == 201


def test_a_deleted_group_takes_its_permissions_with_it_at_once(finance_user: User) -> None:
    api = client_for(finance_user)
    assert api.get("/api/v1/coupons").status_code == 200
    Group.objects.get(name="finance").delete()
    assert api.get("/api/v1/coupons").status_code == 403


def test_a_warm_request_authenticates_in_one_query(finance_user: User) -> None:
    api = client_for(finance_user)
    ApiToken.objects.filter(user=finance_user).update(last_used_at=timezone.now())
    assert api.get("/api/v1/coupons").status_code == 200  # computes the permissions once
    with CaptureQueriesContext(connection) as warm:
        assert api.get("/api/v1/coupons").status_code == 200
    sql = [q["sql"] for q in warm.captured_queries]
    auth = [s for s in sql if "accounts_apitoken" in s or "auth_" in s]
    assert len(auth) == 1, auth
    assert "auth_user" in auth[0] and "accounts_accessstamp" in auth[0]
    # after a role change the permissions are read again, once
    finance_user.groups.add(Group.objects.create(name="extra"))
    with CaptureQueriesContext(connection) as changed:
        assert api.get("/api/v1/coupons").status_code == 200
    assert any("auth_permission" in q["sql"] for q in changed.captured_queries)


def test_last_used_at_is_written_at_most_once_a_minute(finance_user: User) -> None:
    api = client_for(finance_user)
    assert api.get("/api/v1/coupons").status_code == 200
    first = ApiToken.objects.get(user=finance_user).last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as again:
        assert api.get("/api/v1/coupons").status_code == 200
    assert not [q for q in again.captured_queries if q["sql"].startswith("UPDATE")]
    assert ApiToken.objects.get(user=finance_user).last_used_at == first


def test_a_rolled_back_role_change_changes_nothing(finance_user: User) -> None:
    from django.db import transaction

    api = client_for(finance_user)
    assert api.post("/api/v1/coupons", coupon("first"), format="json").status_code == 201
    with pytest.raises(RuntimeError), transaction.atomic():
        finance_user.groups.clear()
        raise RuntimeError("rolled back")
    assert api.post("/api/v1/coupons", coupon("second"), format="json").status_code == 201


def test_a_client_without_a_token_is_401(db: Any) -> None:
    assert APIClient().get("/api/v1/coupons").status_code == 401
