"""POST/GET /api/v1/plans: versioning, decimal strings, and 400s that name the field."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from billing.models import Plan, PlanVersion, Price, PriceTier

pytestmark = pytest.mark.django_db

GRADUATED_PLAN: dict[str, Any] = {
    "code": "relay",
    "name": "Relay traffic",
    "currency": "USD",
    "interval": "month",
    "prices": [
        {
            "code": "relay-gb",
            "model": "graduated",
            "billing": "in_arrears",
            "metric": "relay_gb",
            "tiers": [
                {"up_to": 100, "unit_amount": "0.10"},
                {"up_to": 1000, "unit_amount": "0.08"},
                {"up_to": None, "unit_amount": "0.05", "flat_amount": "2.50"},
            ],
            "minimum_amount": "1.00",
        },
        {"code": "platform", "model": "flat", "amount": "49.00"},
        {"code": "seats", "model": "per_unit", "unit_amount": "18.00"},
        {
            "code": "api-calls",
            "model": "per_unit",
            "unit_amount": "0.0004",
            "billing": "in_arrears",
            "metric": "api_calls",
        },
    ],
    "features": {"max_users": 3, "sso": False},
}


@pytest.fixture
def metrics(api: APIClient) -> None:
    for code, aggregation, field in [("relay_gb", "sum", "gb"), ("api_calls", "count", None)]:
        body = {"code": code, "name": code, "aggregation": aggregation}
        if field:
            body["field"] = field
        assert api.post("/api/v1/metrics", body, format="json").status_code == 201


def errors_of(response: Any) -> dict[str | None, str]:
    return {e["field"]: e["message"] for e in response.json()["errors"]}


def test_graduated_plan_round_trips_every_amount_as_decimal_string(api: APIClient, metrics: None) -> None:
    created = api.post("/api/v1/plans", GRADUATED_PLAN, format="json")
    assert created.status_code == 201, created.content
    got = api.get("/api/v1/plans/relay").json()
    assert got["version"] == 1
    assert got["currency"] == "USD"
    relay, platform, seats, calls = got["prices"]
    assert relay["tiers"] == [
        {"up_to": 100, "unit_amount": "0.10", "flat_amount": "0.00"},
        {"up_to": 1000, "unit_amount": "0.08", "flat_amount": "0.00"},
        {"up_to": None, "unit_amount": "0.05", "flat_amount": "2.50"},
    ]
    assert relay["minimum_amount"] == "1.00"
    assert relay["metric"] == "relay_gb"
    assert relay["billing"] == "in_arrears"
    assert platform["amount"] == "49.00"
    assert seats["unit_amount"] == "18.00"
    assert calls["unit_amount"] == "0.0004"
    assert got["features"] == {"max_users": 3, "sso": False}
    assert created.json() == {k: v for k, v in got.items() if k != "versions"}


def test_reposting_a_code_makes_version_2_and_leaves_version_1_intact(api: APIClient, metrics: None) -> None:
    assert api.post("/api/v1/plans", GRADUATED_PLAN, format="json").status_code == 201
    v1_before = api.get("/api/v1/plans/relay?version=1").json()
    changed = {
        **GRADUATED_PLAN,
        "name": "Relay traffic 2027",
        "prices": [{"code": "platform", "model": "flat", "amount": "59.00"}],
    }
    response = api.post("/api/v1/plans", changed, format="json")
    assert response.status_code == 201
    assert response.json()["version"] == 2
    assert response.json()["prices"] == [
        {
            "code": "platform",
            "description": "",
            "model": "flat",
            "billing": "in_advance",
            "metric": None,
            "amount": "59.00",
        }
    ]
    newest = api.get("/api/v1/plans/relay").json()
    assert newest["version"] == 2
    assert newest["versions"] == [1, 2]
    v1_after = api.get("/api/v1/plans/relay?version=1").json()
    assert {k: v for k, v in v1_after.items() if k != "versions"} == {
        k: v for k, v in v1_before.items() if k != "versions"
    }
    assert Plan.objects.count() == 1
    assert PlanVersion.objects.filter(plan__code="relay").count() == 2


def test_unknown_plan_is_404(api: APIClient) -> None:
    response = api.get("/api/v1/plans/nope")
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "code"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "usd"}, "currency"),
        ({"interval": "fortnight"}, "interval"),
        ({"prices": [{"code": "p", "model": "flat", "amount": "-1.00"}]}, "prices[0].amount"),
        ({"prices": [{"code": "p", "model": "per_unit", "unit_amount": "-0.01"}]}, "prices[0].unit_amount"),
        ({"prices": [{"code": "p", "model": "per_unit"}]}, "prices[0].unit_amount"),
        ({"prices": [{"code": "p", "model": "banana", "amount": "1"}]}, "prices[0].model"),
        ({"prices": [{"code": "p", "model": "flat", "amount": "abc"}]}, "prices[0].amount"),
        (
            {
                "prices": [
                    {
                        "code": "p",
                        "model": "graduated",
                        "tiers": [
                            {"up_to": 1000, "unit_amount": "0.1"},
                            {"up_to": 100, "unit_amount": "0.08"},
                            {"up_to": None, "unit_amount": "0.05"},
                        ],
                    }
                ]
            },
            "prices[0].tiers[1].up_to",
        ),
        (
            {
                "prices": [
                    {
                        "code": "p",
                        "model": "volume",
                        "tiers": [
                            {"up_to": 100, "unit_amount": "0.1"},
                            {"up_to": 100, "unit_amount": "0.08"},
                            {"up_to": None, "unit_amount": "0.05"},
                        ],
                    }
                ]
            },
            "prices[0].tiers[1].up_to",
        ),
        (
            {
                "prices": [
                    {
                        "code": "p",
                        "model": "graduated",
                        "tiers": [
                            {"up_to": 100, "unit_amount": "0.1"},
                            {"up_to": None, "unit_amount": "0.08"},
                            {"up_to": None, "unit_amount": "0.05"},
                        ],
                    }
                ]
            },
            "prices[0].tiers[1].up_to",
        ),
        (
            {
                "prices": [
                    {"code": "p", "model": "graduated", "tiers": [{"up_to": 100, "unit_amount": "0.1"}]}
                ]
            },
            "prices[0].tiers[0].up_to",
        ),
        (
            {
                "prices": [
                    {
                        "code": "p",
                        "model": "graduated",
                        "tiers": [{"up_to": 10, "unit_amount": "-0.1"}, {"up_to": None, "unit_amount": "1"}],
                    }
                ]
            },
            "prices[0].tiers[0].unit_amount",
        ),
        (
            {"prices": [{"code": "p", "model": "package", "package_size": 0, "package_amount": "5"}]},
            "prices[0].package_size",
        ),
        (
            {
                "prices": [
                    {
                        "code": "p",
                        "model": "per_unit",
                        "unit_amount": "1",
                        "billing": "in_arrears",
                        "metric": "nope",
                    }
                ]
            },
            "prices[0].metric",
        ),
        (
            {
                "prices": [
                    {"code": "p", "model": "flat", "amount": "1"},
                    {"code": "p", "model": "flat", "amount": "2"},
                ]
            },
            "prices[1].code",
        ),
        (
            {
                "prices": [
                    {
                        "code": "p",
                        "model": "flat",
                        "amount": "1",
                        "minimum_amount": "5",
                        "maximum_amount": "2",
                    }
                ]
            },
            "prices[0].minimum_amount",
        ),
        ({"features": {"sso": "yes"}}, "features.sso"),
        ({"trial_days": -1}, "trial_days"),
        ({"code": ""}, "code"),
    ],
)
def test_bad_plan_input_is_400_naming_the_field_and_writes_nothing(
    api: APIClient, change: dict[str, Any], field: str
) -> None:
    body = {"code": "bad", "name": "Bad", "currency": "USD", **change}
    response = api.post("/api/v1/plans", body, format="json")
    assert response.status_code == 400, response.content
    assert field in errors_of(response), response.json()
    assert Plan.objects.count() == 0
    assert PlanVersion.objects.count() == 0
    assert Price.objects.count() == 0
    assert PriceTier.objects.count() == 0


def test_malformed_json_is_400_with_the_error_shape(api: APIClient) -> None:
    response = api.post("/api/v1/plans", data='{"code": "x", ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] is None
    assert "Malformed" in response.json()["errors"][0]["message"]
    assert Plan.objects.count() == 0


def test_a_json_array_body_is_400_not_500(api: APIClient) -> None:
    response = api.post("/api/v1/plans", data="[1, 2]", content_type="application/json")
    assert response.status_code == 400


def test_plan_list_is_paginated_with_constant_queries(api: APIClient, metrics: None) -> None:
    def create(n: int, start: int) -> None:
        for i in range(start, start + n):
            plan = {**GRADUATED_PLAN, "code": f"plan-{i}"}
            assert api.post("/api/v1/plans", plan, format="json").status_code == 201

    create(2, 0)
    with CaptureQueriesContext(connection) as few:
        first = api.get("/api/v1/plans")
    create(10, 2)
    with CaptureQueriesContext(connection) as many:
        second = api.get("/api/v1/plans")
    assert len(first.json()["results"]) == 2
    assert len(second.json()["results"]) == 12
    assert second.json()["next"] is None
    assert len(few) == len(many), [q["sql"] for q in many.captured_queries]


def test_plan_list_next_link(api: APIClient) -> None:
    for i in range(3):
        body = {
            "code": f"p{i}",
            "name": "P",
            "currency": "EUR",
            "prices": [{"code": "f", "model": "flat", "amount": "1"}],
        }
        assert api.post("/api/v1/plans", body, format="json").status_code == 201
    page = api.get("/api/v1/plans?limit=2").json()
    assert [p["code"] for p in page["results"]] == ["p0", "p1"]
    assert page["next"] is not None
    rest = api.get(page["next"]).json()
    assert [p["code"] for p in rest["results"]] == ["p2"]
    assert rest["next"] is None


def test_trailing_slash_works_too(api: APIClient) -> None:
    assert api.get("/api/v1/plans/").status_code == 200


def test_eur_amounts_and_jpy_amounts_render_in_their_currency(api: APIClient) -> None:
    body = {
        "code": "jp",
        "name": "JP",
        "currency": "JPY",
        "prices": [{"code": "f", "model": "flat", "amount": "1200"}],
    }
    assert api.post("/api/v1/plans", body, format="json").json()["prices"][0]["amount"] == "1200"
