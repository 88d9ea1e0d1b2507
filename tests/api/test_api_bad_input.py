"""Bad input is never a 500 (issue 7, section 4): each input of the audit gets a 4xx in the error shape
naming the field, and nothing is written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db.models import Model
from rest_framework.test import APIClient

from accounts.models import Customer
from billing.models import BillableMetric, Coupon, Plan, PlanVersion, Price, Subscription, UsageEvent
from invoicing.models import BillingRun, CreditNote, Invoice, InvoiceStatus
from tests.api.test_api_plans import GRADUATED_PLAN
from tests.invoicing.factories import make_draft

pytestmark = pytest.mark.django_db

IMPOSSIBLE_TIMES = ["2026-02-30T00:00:00Z", "2026-03-01T25:00:00Z", "2026-03-01T00:00:00+25:00"]
WRITTEN: list[type[Model]] = [
    Plan,
    PlanVersion,
    Price,
    BillableMetric,
    Coupon,
    Customer,
    Subscription,
    UsageEvent,
    Invoice,
    CreditNote,
    BillingRun,
]


def snapshot() -> dict[str, Any]:
    counts: dict[str, Any] = {model.__name__: model._default_manager.count() for model in WRITTEN}
    counts["invoice_states"] = sorted(Invoice.objects.values_list("id", "status", "number"))
    counts["subscriptions"] = sorted(
        Subscription.objects.values_list("id", "status", "quantity", "cancel_at_period_end")
    )
    return counts


@contextmanager
def nothing_written() -> Iterator[None]:
    before = snapshot()
    yield
    assert snapshot() == before


def fields_of(response: Any) -> list[str | None]:
    """The fields a 4xx names; also checks the one error shape."""
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    body = response.json()
    assert set(body) == {"errors"} and body["errors"]
    for error in body["errors"]:
        assert {"field", "message"} <= set(error) and error["message"]
    return [e["field"] for e in body["errors"]]


def raw_post(api: APIClient, path: str, body: str | bytes) -> Any:
    """Send the JSON text as is (json.dumps escapes a lone surrogate as \\ud800, as a client would)."""
    return api.post(path, data=body, content_type="application/json")


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def world(api: APIClient, now: datetime) -> dict[str, Any]:
    """A customer on a plan with a draft and an open invoice, built through the API."""
    for body in (
        {"code": "api_calls", "name": "API calls", "aggregation": "count"},
        {"code": "relay_gb", "name": "Relay", "aggregation": "sum", "field": "gb"},
    ):
        assert api.post("/api/v1/metrics", body).status_code == 201
    assert api.post("/api/v1/plans", GRADUATED_PLAN).status_code == 201
    assert (
        api.post("/api/v1/customers", {"external_id": "acme", "name": "Acme", "currency": "USD"}).status_code
        == 201
    )
    sub = api.post(
        "/api/v1/subscriptions", {"customer": "acme", "plan": "relay", "start": "2026-01-01T00:00:00Z"}
    )
    assert sub.status_code == 201, sub.content
    invoice = Invoice.objects.get(pk=sub.json()["latest_invoice"]["id"])
    if invoice.status == InvoiceStatus.DRAFT:
        assert (
            api.post(f"/api/v1/invoices/{invoice.pk}/finalize", {"at": "2026-01-01T00:00:00Z"}).status_code
            == 200
        )
    draft = make_draft(invoice.customer, billing_date=datetime(2026, 2, 1, tzinfo=UTC))
    return {"subscription": sub.json()["id"], "open": invoice.pk, "draft": draft.pk, "now": now}


def event(now: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": "e1",
        "customer": "acme",
        "metric": "api_calls",
        "timestamp": (now - timedelta(hours=1)).isoformat(),
        **fields,
    }


# --- impossible dates in every business-time field --------------------------------------------------


def business_time_requests(world: dict[str, Any], when: str) -> list[tuple[str, str, dict[str, Any], str]]:
    """(method, path, body, field) for every field that takes a business time."""
    sub, open_, draft = world["subscription"], world["open"], world["draft"]
    return [
        ("post", "/api/v1/subscriptions", {"customer": "acme", "plan": "relay", "start": when}, "start"),
        ("post", f"/api/v1/subscriptions/{sub}/change", {"quantity": 3, "at": when}, "at"),
        ("post", f"/api/v1/subscriptions/{sub}/cancel", {"at": when}, "at"),
        ("post", "/api/v1/billing-runs", {"as_of": when}, "as_of"),
        ("post", f"/api/v1/invoices/{draft}/finalize", {"at": when}, "at"),
        ("post", f"/api/v1/invoices/{open_}/void", {"at": when}, "at"),
        (
            "post",
            "/api/v1/credit-notes",
            {"invoice": open_, "amount": "1.00", "reason": "x", "at": when},
            "at",
        ),
        (
            "post",
            "/api/v1/customers/acme/charges",
            {"description": "Setup", "unit_amount": "5", "at": when},
            "at",
        ),
        ("post", "/api/v1/events", {"events": [event(world["now"], timestamp=when)]}, "events[0].timestamp"),
    ]


@pytest.mark.parametrize("when", IMPOSSIBLE_TIMES)
def test_an_impossible_time_is_400_on_its_field_in_every_business_time_field(
    api: APIClient, world: dict[str, Any], when: str
) -> None:
    for method, path, body, field in business_time_requests(world, when):
        with nothing_written():
            response = getattr(api, method)(path, body)
        assert fields_of(response) == [field], (path, response.json())


@pytest.mark.parametrize("when", IMPOSSIBLE_TIMES)
def test_an_impossible_time_in_a_query_is_400_naming_the_parameter(
    api: APIClient, world: dict[str, Any], when: str
) -> None:
    response = api.get("/api/v1/customers/acme/usage", {"from": when, "to": "2026-03-02T00:00:00Z"})
    assert fields_of(response) == ["from"]
    response = api.get(
        "/api/v1/customers/acme/usage",
        {"from": "0001-01-01T00:00:00+23:00", "to": "9999-12-31T23:59:59-23:00"},
    )
    assert set(fields_of(response)) == {"from", "to"}


@pytest.mark.parametrize(
    ("path", "field"),
    [("finalize", "at"), ("void", "at")],
)
def test_a_time_without_an_offset_is_refused_on_finalize_and_void(
    api: APIClient, world: dict[str, Any], path: str, field: str
) -> None:
    invoice = world["draft"] if path == "finalize" else world["open"]
    with nothing_written():
        response = api.post(f"/api/v1/invoices/{invoice}/{path}", {"at": "2026-03-01T00:00:00"})
    assert fields_of(response) == [field]
    assert "offset" in response.json()["errors"][0]["message"]


def test_a_time_without_an_offset_is_refused_on_credit_notes(api: APIClient, world: dict[str, Any]) -> None:
    body = {"invoice": world["open"], "amount": "1.00", "reason": "Goodwill", "at": "2026-03-01T00:00:00"}
    with nothing_written():
        response = api.post("/api/v1/credit-notes", body)
    assert fields_of(response) == ["at"]


# --- bodies that break parsers: nesting, surrogates, NUL --------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/plans", "/api/v1/customers", "/api/v1/events", "/api/v1/metrics"])
def test_json_nested_5000_deep_is_400(api: APIClient, world: dict[str, Any], path: str) -> None:
    deep = '{"events": ' + "[" * 5000 + "]" * 5000 + "}"
    with nothing_written():
        response = raw_post(api, path, deep)
    assert response.status_code == 400
    assert fields_of(response) == [None]


def test_json_nested_deep_inside_a_value_is_400_naming_it(api: APIClient, world: dict[str, Any]) -> None:
    deep: Any = 1
    for _ in range(100):
        deep = [deep]
    with nothing_written():
        response = api.post(
            "/api/v1/metrics", {"code": "m", "name": "M", "aggregation": "count", "filters": {"a": deep}}
        )
    assert (fields_of(response)[0] or "").startswith("filters.a")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/plans", {"code": "p", "name": "P", "currency": "USD", "interval": "\ud800"}, "interval"),
        ("/api/v1/coupons", {"code": "c", "percent_off": "5", "duration": "\udfff"}, "duration"),
        ("/api/v1/metrics", {"code": "m", "name": "M", "aggregation": "\ud800x"}, "aggregation"),
        ("/api/v1/customers", {"external_id": "x", "name": "A\ud800", "currency": "USD"}, "name"),
        (
            "/api/v1/customers",
            {"external_id": "x", "name": "A", "currency": "USD", "billing_anchor": "\ud801"},
            "billing_anchor",
        ),
        (
            "/api/v1/metrics",
            {"code": "m", "name": "M", "aggregation": "count", "filters": {"\ud800": 1}},
            "filters",
        ),
    ],
)
def test_a_lone_surrogate_is_400_naming_the_field(
    api: APIClient, world: dict[str, Any], path: str, body: dict[str, Any], field: str
) -> None:
    with nothing_written():
        response = raw_post(api, path, json.dumps(body))
    assert fields_of(response) == [field]


def test_a_lone_surrogate_in_an_event_is_400(api: APIClient, world: dict[str, Any]) -> None:
    body = json.dumps({"events": [event(world["now"], event_id="e\ud800")]})
    with nothing_written():
        response = raw_post(api, "/api/v1/events", body)
    assert response.status_code == 400
    fields_of(response)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"event_id": "a\x00b"}, "events[0].event_id"),
        ({"customer": "acme\x00"}, "events[0].customer"),
        ({"metric": "\x00"}, "events[0].metric"),
        ({"properties": {"region": "eu\x00"}}, "events[0].properties.region"),
        ({"properties": {"re\x00gion": "eu"}}, "events[0].properties"),
    ],
)
def test_a_nul_in_an_event_field_is_400_naming_it(
    api: APIClient, world: dict[str, Any], fields: dict[str, Any], field: str
) -> None:
    with nothing_written():
        response = api.post(
            "/api/v1/events",
            {"events": [event(world["now"]), event(world["now"], **{"event_id": "e2", **fields})]},
        )
    assert fields_of(response) == [field.replace("[0]", "[1]")]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/customers", {"external_id": "x\x00", "name": "A", "currency": "USD"}, "external_id"),
        ("/api/v1/customers", {"external_id": "x", "name": "A", "currency": "USD", "city": "\x00"}, "city"),
        ("/api/v1/plans", {"code": "p", "name": "P\x00", "currency": "USD"}, "name"),
        (
            "/api/v1/plans",
            {"code": "p", "name": "P", "currency": "USD", "features": {"sso\x00": True}},
            "features",
        ),
        (
            "/api/v1/metrics",
            {"code": "m", "name": "M", "aggregation": "count", "filters": {"region": "e\x00"}},
            "filters.region",
        ),
        ("/api/v1/coupons", {"code": "c", "name": "\x00", "percent_off": "5", "duration": "once"}, "name"),
    ],
)
def test_a_nul_in_a_string_field_is_400_naming_it(
    api: APIClient, world: dict[str, Any], path: str, body: dict[str, Any], field: str
) -> None:
    with nothing_written():
        response = api.post(path, body)
    assert fields_of(response) == [field]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/invoices?customer=acme%00", "customer"),
        ("/api/v1/subscriptions?customer=%00", "customer"),
        ("/api/v1/subscriptions?status=active%00", "status"),
        ("/api/v1/customers?q=a%00", "q"),
        ("/api/v1/credit-notes?invoice=1%00", "invoice"),
        ("/api/v1/customers/acme/usage?from=2026-03-01T00:00:00Z%00&to=2026-03-02T00:00:00Z", "from"),
        ("/api/v1/customers/ac%00me", "path"),
        ("/api/v1/plans/starter?version=1%00", "version"),
    ],
)
def test_a_nul_in_the_query_or_path_is_400_naming_it(
    api: APIClient, world: dict[str, Any], path: str, field: str
) -> None:
    assert fields_of(api.get(path)) == [field]


def test_a_malformed_batch_with_an_earlier_type_error_is_400(api: APIClient, world: dict[str, Any]) -> None:
    body = '{"events": [{"event_id": 5, "customer": "acme"}, {"event_id": "x", garbage'
    with nothing_written():
        response = raw_post(api, "/api/v1/events", body)
    assert fields_of(response) == [None]
    assert response.json()["errors"][0]["code"] == "malformed_json"


def test_an_event_body_over_5_mb_is_413_in_the_error_shape(api: APIClient, world: dict[str, Any]) -> None:
    one = event(world["now"], properties={"pad": "x" * 10_000})
    body = json.dumps({"events": [{**one, "event_id": f"e{i}"} for i in range(1000)]})
    assert len(body) > 10_000_000
    with nothing_written():
        response = raw_post(api, "/api/v1/events", body)
    assert response.status_code == 413
    assert response.json()["errors"][0]["field"] is None
    assert "5 MB" in response.json()["errors"][0]["message"]


def test_a_body_that_is_not_json_is_415(api: APIClient, world: dict[str, Any]) -> None:
    with nothing_written():
        response = api.post(
            "/api/v1/customers",
            "external_id=x&name=A&currency=USD",
            content_type="application/x-www-form-urlencoded",
        )
    assert response.status_code == 415
    fields_of(response)


# --- misspelt fields are refused, not dropped --------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/plans", {"code": "p", "name": "P", "currency": "USD", "trial_dayz": 14}, "trial_dayz"),
        (
            "/api/v1/plans",
            {
                "code": "p",
                "name": "P",
                "currency": "USD",
                "prices": [{"code": "f", "model": "flat", "amount": "5", "minimum_amout": "9"}],
            },
            "prices[0].minimum_amout",
        ),
        (
            "/api/v1/plans",
            {
                "code": "p",
                "name": "P",
                "currency": "USD",
                "prices": [
                    {"code": "f", "model": "flat", "amount": "5"},
                    {
                        "code": "g",
                        "model": "graduated",
                        "tiers": [{"up_to": None, "unit_amount": "1", "flat_amout": "3"}],
                    },
                ],
            },
            "prices[1].tiers[0].flat_amout",
        ),
        (
            "/api/v1/metrics",
            {"code": "m", "name": "M", "aggregation": "count", "filter": {"region": "eu"}},
            "filter",
        ),
        (
            "/api/v1/coupons",
            {"code": "c", "percent_off": "5", "duration": "repeating", "duration_in_month": 3},
            "duration_in_month",
        ),
    ],
)
def test_an_unknown_field_is_400_naming_it_and_nothing_is_created(
    api: APIClient, world: dict[str, Any], path: str, body: dict[str, Any], field: str
) -> None:
    with nothing_written():
        response = api.post(path, body)
    assert field in fields_of(response)


def test_unknown_fields_are_reported_beside_the_other_errors(api: APIClient, world: dict[str, Any]) -> None:
    response = api.post(
        "/api/v1/plans", {"code": "p", "name": "P", "currency": "USD", "interval": "week", "trial_dayz": 3}
    )
    assert set(fields_of(response)) == {"interval", "trial_dayz"}


# --- Django's own answers under /api/ are in the error shape ---------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/invoices/1/resend",
        "/api/v1/events",
        "/api/v1/plans",
        "/api/v1/customers/acme/usage",
        "/api/v1/invoices/1/finalize",
        "/api/v1/billing-runs",
    ],
)
def test_options_answers_without_a_500(api: APIClient, world: dict[str, Any], path: str) -> None:
    response = api.options(path)
    assert response.status_code == 200
    assert "POST" in response["Allow"] or "GET" in response["Allow"]


def test_an_unknown_api_path_is_a_json_404(api: APIClient) -> None:
    response = api.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert fields_of(response) == [None]


def test_a_bad_host_is_a_json_400(api: APIClient) -> None:
    response = api.get("/api/v1/plans", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert fields_of(response) == [None]


def test_outside_the_api_django_pages_stay_html(client: Any) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


# --- values beyond what the columns hold ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"features": {"k" * 101: True}}, "features"),
        ({"features": {"no spaces": True}}, "features"),
        (
            {"prices": [{"code": "p", "model": "package", "package_size": 10**11, "package_amount": "1"}]},
            "prices[0].package_size",
        ),
        (
            {
                "prices": [
                    {
                        "code": "p",
                        "model": "graduated",
                        "tiers": [{"up_to": 10**20, "unit_amount": "1"}, {"up_to": None, "unit_amount": "1"}],
                    }
                ]
            },
            "prices[0].tiers[0].up_to",
        ),
        ({"features": {"sso": 1e999}}, "features.sso"),
    ],
)
def test_plan_values_beyond_their_columns_are_400(
    api: APIClient, world: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    plan = {"code": "big", "name": "Big", "currency": "USD", **body}
    with nothing_written():
        response = raw_post(api, "/api/v1/plans", json.dumps(plan).replace("Infinity", "1e999"))
    assert fields_of(response) == [field]


def test_a_charge_beyond_what_an_invoice_holds_is_400(api: APIClient, world: dict[str, Any]) -> None:
    body = {"description": "x", "unit_amount": "999999999", "quantity": "1000000000"}
    with nothing_written():
        response = api.post("/api/v1/customers/acme/charges", body)
    assert fields_of(response) == ["quantity"]


def test_a_subscription_whose_first_invoice_cannot_be_held_is_400(
    api: APIClient, world: dict[str, Any]
) -> None:
    plan = {"code": "huge", "name": "Huge", "currency": "USD"}
    plan["prices"] = [{"code": "p", "model": "per_unit", "unit_amount": "9999999999999999"}]  # type: ignore[assignment]
    assert api.post("/api/v1/plans", plan).status_code == 201
    body = {"customer": "acme", "plan": "huge", "start": "2026-01-01T00:00:00Z", "quantity": "999999999"}
    with nothing_written():
        response = api.post("/api/v1/subscriptions", body)
    assert fields_of(response) == ["quantity"]


def test_an_unknown_plan_version_is_404_on_version(api: APIClient, world: dict[str, Any]) -> None:
    response = api.get("/api/v1/plans/relay?version=99")
    assert response.status_code == 404
    assert fields_of(response) == ["version"]


@pytest.mark.parametrize("number", ["1e999999", "1e-999999"])
def test_an_event_property_beyond_what_jsonb_holds_is_400(
    api: APIClient, world: dict[str, Any], number: str
) -> None:
    text = json.dumps({"events": [event(world["now"], properties={"zz": "N"})]}).replace('"N"', number)
    with nothing_written():
        response = raw_post(api, "/api/v1/events", text)
    assert fields_of(response) == [None]
    assert "out of range" in response.json()["errors"][0]["message"]
