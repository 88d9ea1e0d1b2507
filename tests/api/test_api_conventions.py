"""The API's conventions (API.md): auth, roles, Idempotency-Key, schema and docs."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import Customer, IdempotencyRecord
from billing.models import Coupon, Plan

pytestmark = pytest.mark.django_db

PLAN = {
    "code": "starter",
    "name": "Starter",
    "currency": "USD",
    "prices": [{"code": "seat", "model": "per_unit", "unit_amount": "6.00"}],
}
CUSTOMER = {"external_id": "acme", "name": "Acme", "currency": "USD"}


def test_no_token_is_401() -> None:
    response = APIClient().get("/api/v1/plans")
    assert response.status_code == 401
    assert response.json()["errors"][0]["field"] is None


def test_bad_token_is_401() -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer rc_not-a-token")
    assert client.get("/api/v1/plans").status_code == 401


def test_create_api_token_command_prints_a_working_token(finance_user: Any) -> None:
    out = StringIO()
    call_command("create_api_token", finance_user.username, stdout=out)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")
    assert client.get("/api/v1/plans").status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/plans", PLAN),
        ("/api/v1/metrics", {"code": "m", "name": "M", "aggregation": "count"}),
        ("/api/v1/coupons", {"code": "c", "percent_off": "10", "duration": "once"}),
        ("/api/v1/customers", CUSTOMER),
    ],
)
def test_support_gets_403_on_every_write(support_api: APIClient, path: str, body: dict[str, Any]) -> None:
    response = support_api.post(path, body, format="json")
    assert response.status_code == 403
    assert response.json()["errors"][0]["message"]


def test_support_can_read(support_api: APIClient, api: APIClient) -> None:
    api.post("/api/v1/customers", CUSTOMER, format="json")
    assert support_api.get("/api/v1/customers/acme").status_code == 200
    assert support_api.get("/api/v1/plans").status_code == 200
    assert support_api.patch("/api/v1/customers/acme", {"name": "x"}, format="json").status_code == 403


def test_sales_cannot_edit_the_catalog_but_can_create_customers(sales_api: APIClient) -> None:
    assert sales_api.post("/api/v1/plans", PLAN, format="json").status_code == 403
    assert (
        sales_api.post(
            "/api/v1/coupons", {"code": "c", "percent_off": "10", "duration": "once"}, format="json"
        ).status_code
        == 403
    )
    assert sales_api.post("/api/v1/customers", CUSTOMER, format="json").status_code == 201
    assert not Plan.objects.exists()
    assert not Coupon.objects.exists()


def test_same_idempotency_key_and_body_replays_the_first_response(api: APIClient) -> None:
    first = api.post("/api/v1/customers", CUSTOMER, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = api.post("/api/v1/customers", CUSTOMER, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Customer.objects.count() == 1


def test_same_key_different_body_is_422(api: APIClient) -> None:
    api.post("/api/v1/customers", CUSTOMER, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    other = api.post(
        "/api/v1/customers", {**CUSTOMER, "name": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )
    assert other.status_code == 422
    assert Customer.objects.get().name == "Acme"


def test_key_still_in_flight_is_409(api: APIClient, finance_user: Any) -> None:
    first = api.post("/api/v1/customers", CUSTOMER, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert first.status_code == 201
    IdempotencyRecord.objects.filter(key="k-3").update(state=IdempotencyRecord.State.IN_FLIGHT)
    again = api.post("/api/v1/customers", CUSTOMER, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert again.status_code == 409


def test_idempotency_keys_are_scoped_to_the_user(api: APIClient, sales_api: APIClient) -> None:
    assert (
        api.post("/api/v1/customers", CUSTOMER, format="json", HTTP_IDEMPOTENCY_KEY="shared").status_code
        == 201
    )
    other = sales_api.post(
        "/api/v1/customers", {**CUSTOMER, "external_id": "beta"}, format="json", HTTP_IDEMPOTENCY_KEY="shared"
    )
    assert other.status_code == 201
    assert Customer.objects.count() == 2


def test_a_failed_write_with_a_key_is_replayed_as_the_same_400_and_writes_nothing(api: APIClient) -> None:
    bad = {**CUSTOMER, "currency": "XYZ"}
    first = api.post("/api/v1/customers", bad, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    second = api.post("/api/v1/customers", bad, format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    assert first.status_code == second.status_code == 400
    assert first.json() == second.json()
    assert not Customer.objects.exists()


def test_idempotent_write_is_in_one_transaction_with_its_record(api: APIClient) -> None:
    with CaptureQueriesContext(connection) as queries:
        api.post("/api/v1/plans", PLAN, format="json", HTTP_IDEMPOTENCY_KEY="k-5")
    record = IdempotencyRecord.objects.get(key="k-5")
    assert record.state == IdempotencyRecord.State.DONE
    assert record.response_status == 201
    assert record.response_body is not None
    assert record.response_body["code"] == "starter"
    assert len(queries) > 0


def test_schema_and_docs_are_served(client: Any) -> None:
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/plans" in schema.content
    assert client.get("/api/docs/").status_code == 200


def test_healthz_and_readyz(client: Any) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code in (200, 503)
    assert ready.json()["checks"]["database"] == "ok"


def test_openapi_schema_validates_without_warnings() -> None:
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    assert "/api/v1/events" in out.getvalue()


def test_a_revoked_token_is_refused_at_once(finance_user: Any) -> None:
    from accounts.models import ApiToken
    from accounts.services.tokens import api_token_create, api_token_revoke

    token, raw = api_token_create(user=finance_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/plans").status_code == 200
    api_token_revoke(token=ApiToken.objects.get(pk=token.pk))
    assert client.get("/api/v1/plans").status_code == 401


def test_metrics_are_prometheus_text(client: Any, api: APIClient) -> None:
    api.post("/api/v1/customers", CUSTOMER, format="json")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "ratecard_billing_run_failures 0" in text
    assert "# TYPE ratecard_invoices gauge" in text
