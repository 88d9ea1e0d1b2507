"""POST /api/v1/events: validation of every event, all-or-nothing batches, exact-once ingestion."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import Customer
from billing.models import BillableMetric, UsageEvent, UsageEventKey, UsageRollup
from billing.services.usage import usage_quantity
from config.errors import ErrorCode
from tests.usage.conftest import NOW, event, post_events

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _setup(customer: Customer, metrics: dict[str, BillableMetric]) -> None:
    """Every test here has customer "acme" and the metrics."""


def fields(response: Any) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


def test_a_batch_is_accepted_with_202_and_counted(api: APIClient) -> None:
    response = post_events(api, [event("e1"), event("e2"), event("e3", "relay_gb", gb=1.5)])
    assert response.status_code == 202
    assert response.json() == {"accepted": 3, "duplicates": 0}
    assert UsageEvent.objects.count() == 3


def test_sending_the_same_batch_twice_counts_once(api: APIClient, metrics: dict[str, BillableMetric]) -> None:
    batch = [event("e1"), event("e2")]
    assert post_events(api, batch).json() == {"accepted": 2, "duplicates": 0}
    assert post_events(api, batch).json() == {"accepted": 0, "duplicates": 2}
    assert UsageEvent.objects.count() == 2
    assert UsageRollup.objects.get().count == 2  # rollups fed only from inserted rows


def test_a_retry_with_a_regenerated_timestamp_is_still_a_duplicate(api: APIClient) -> None:
    """The key does not depend on the timestamp, so another month's partition does not let it through."""
    assert post_events(api, [event("e1", at=NOW)]).json()["accepted"] == 1
    older = NOW - timedelta(days=31)  # another month: another partition on PostgreSQL
    assert post_events(api, [event("e1", at=older)]).json() == {"accepted": 0, "duplicates": 1}
    assert UsageEvent.objects.count() == 1


def test_a_repeat_inside_one_batch_is_a_duplicate(api: APIClient) -> None:
    assert post_events(api, [event("e1"), event("e1"), event("e2")]).json() == {
        "accepted": 2,
        "duplicates": 1,
    }


def test_the_same_event_id_for_two_customers_is_two_events(api: APIClient, other_customer: Customer) -> None:
    response = post_events(api, [event("e1"), event("e1", customer="globex")])
    assert response.json() == {"accepted": 2, "duplicates": 0}


def test_a_batch_with_one_bad_event_writes_nothing_and_names_the_field(api: APIClient) -> None:
    response = post_events(api, [event("e1"), event("e2", "relay_gb", gb="lots")])
    assert response.status_code == 400
    assert fields(response) == ["events[1].properties.gb"]
    assert UsageEvent.objects.count() == 0
    assert UsageEventKey.objects.count() == 0


def test_every_bad_event_is_listed(api: APIClient) -> None:
    bad = [event("e1", customer="nobody"), event("e2", "nope"), event("e3", "devices")]
    response = post_events(api, bad)
    assert response.status_code == 400
    assert fields(response) == ["events[0].customer", "events[1].metric", "events[2].properties.devices"]
    codes = [error["code"] for error in response.json()["errors"]]
    assert codes[:2] == [ErrorCode.NOT_FOUND, ErrorCode.NOT_FOUND]


def test_unknown_customer_or_metric_is_400_not_500(api: APIClient) -> None:
    assert post_events(api, [event("e1", customer="ghost")]).status_code == 400
    assert post_events(api, [event("e1", "ghost_metric")]).status_code == 400


def test_a_naive_timestamp_is_rejected(api: APIClient) -> None:
    bad = event("e1")
    bad["timestamp"] = "2026-01-01T00:00:00"
    response = post_events(api, [event("e0"), bad])
    assert response.status_code == 400
    assert fields(response) == ["events[1].timestamp"]


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        ({"event_id": ""}, "events[0].event_id"),
        ({"event_id": "x" * 256}, "events[0].event_id"),
        ({"event_id": 5}, "events[0].event_id"),
        ({"properties": []}, "events[0].properties"),
        ({"extra": 1}, "events[0].extra"),
    ],
)
def test_malformed_fields_are_named(api: APIClient, broken: dict[str, Any], field: str) -> None:
    response = post_events(api, [{**event("e1"), **broken}])
    assert response.status_code == 400
    assert fields(response) == [field]


def test_a_missing_field_is_named(api: APIClient) -> None:
    incomplete = event("e1")
    del incomplete["metric"]
    response = post_events(api, [incomplete])
    assert fields(response) == ["events[0].metric"]
    assert response.json()["errors"][0]["code"] == ErrorCode.REQUIRED


def test_more_than_1000_events_is_400_on_events(api: APIClient) -> None:
    response = post_events(api, [event(f"e{i}") for i in range(1001)])
    assert response.status_code == 400
    assert fields(response) == ["events"]


def test_an_empty_batch_is_400_on_events(api: APIClient) -> None:
    assert fields(post_events(api, [])) == ["events"]


def test_malformed_json_is_400(api: APIClient) -> None:
    response = api.post("/api/v1/events", data=b'{"events": [', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == ErrorCode.MALFORMED_JSON


def test_a_timestamp_in_the_future_beyond_the_skew_is_rejected(api: APIClient) -> None:
    from django.utils import timezone

    future = timezone.now() + timedelta(minutes=10)
    soon = timezone.now() + timedelta(minutes=2)
    response = post_events(api, [event("e1", at=future)])
    assert fields(response) == ["events[0].timestamp"]
    assert post_events(api, [event("e2", at=soon)]).status_code == 202


def test_events_older_than_the_late_event_limit_are_rejected_but_late_ones_within_it_accepted(
    api: APIClient, settings: Any
) -> None:
    from django.utils import timezone

    settings.RATECARD_LATE_EVENT_LIMIT_DAYS = 35
    too_old = timezone.now() - timedelta(days=36)
    late = timezone.now() - timedelta(days=20)
    response = post_events(api, [event("e1", at=too_old)])
    assert fields(response) == ["events[0].timestamp"]
    assert "35 days" in response.json()["errors"][0]["message"]
    assert post_events(api, [event("e2", at=late)]).json()["accepted"] == 1


@pytest.mark.parametrize("value", [3, 2.5, "4.25", "1e3"])
def test_numeric_properties_accept_numbers_and_decimal_strings(api: APIClient, value: Any) -> None:
    assert post_events(api, [event("e1", "relay_gb", gb=value)]).status_code == 202


@pytest.mark.parametrize("value", [True, None, {"a": 1}, "NaN", "Infinity", "0.0000000000001"])
def test_non_numeric_or_too_precise_values_are_rejected(api: APIClient, value: Any) -> None:
    response = post_events(api, [event("e1", "relay_gb", gb=value)])
    assert fields(response) == ["events[0].properties.gb"]


def test_values_are_stored_exactly(
    api: APIClient, customer: Customer, metrics: dict[str, BillableMetric]
) -> None:
    post_events(api, [event("e1", "relay_gb", gb=0.1), event("e2", "relay_gb", gb=0.2)])
    total = usage_quantity(
        customer_id=customer.pk, metric_id=metrics["relay_gb"].pk, start=NOW, end=NOW + timedelta(hours=1)
    )
    assert str(total) == "0.3"


def test_unique_count_needs_its_property_as_string_or_number(api: APIClient) -> None:
    assert post_events(api, [event("e1", "active_users", user_id="u1")]).status_code == 202
    assert post_events(api, [event("e2", "active_users", user_id=7)]).status_code == 202
    assert fields(post_events(api, [event("e3", "active_users")])) == ["events[0].properties.user_id"]
    assert fields(post_events(api, [event("e4", "active_users", user_id=[1])])) == [
        "events[0].properties.user_id"
    ]


def test_events_are_visible_to_the_next_call(api: APIClient) -> None:
    post_events(api, [event("e1", at=NOW)])
    start = (NOW - timedelta(hours=1)).isoformat()
    end = (NOW + timedelta(hours=1)).isoformat()
    response = api.get("/api/v1/customers/acme/usage", {"from": start, "to": end})
    assert response.json() == {"metrics": [{"metric": "api_calls", "value": "1"}]}


def test_sales_and_support_may_not_send_events(sales_api: APIClient, support_api: APIClient) -> None:
    assert post_events(sales_api, [event("e1")]).status_code == 403
    assert post_events(support_api, [event("e1")]).status_code == 403
    assert UsageEvent.objects.count() == 0


def test_events_need_authentication() -> None:
    response = post_events(APIClient(), [event("e1")])
    assert response.status_code == 401
    assert "errors" in response.json()


def test_an_idempotency_key_replays_the_first_answer(api: APIClient) -> None:
    first = post_events(api, [event("e1")], HTTP_IDEMPOTENCY_KEY="k1")
    again = post_events(api, [event("e1")], HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == again.status_code == 202
    assert again.json() == {"accepted": 1, "duplicates": 0}
