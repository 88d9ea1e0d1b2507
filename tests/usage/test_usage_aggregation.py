"""usage_quantities: each aggregation over a half-open window, filters, rollups, set-based queries."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from accounts.models import Customer
from billing.models import BillableMetric, UsageEvent, UsageRollup
from billing.pricing.charge_models import PriceModel, PriceSpec
from billing.pricing.rating import rate_price
from billing.services.usage import UsageQuery, usage_quantities, usage_quantity
from billing.services.usage_aggregate import uses_rollups
from tests.usage.conftest import NOW, event, ingest

pytestmark = pytest.mark.django_db
H = timedelta(hours=1)
START, END = NOW - 5 * H, NOW + H  # hour-aligned


def qty(customer: Customer, metric: BillableMetric, start: Any = START, end: Any = END) -> Decimal:
    return usage_quantity(customer_id=customer.pk, metric_id=metric.pk, start=start, end=end)


def test_count_sum_max_over_a_half_open_window(
    customer: Customer, metrics: dict[str, BillableMetric]
) -> None:
    ingest(
        event("c0", at=START - timedelta(seconds=1)),  # before: out
        event("c1", at=START),  # the start is inclusive
        event("c2", at=END - timedelta(microseconds=1)),
        event("c3", at=END),  # the end is exclusive
        event("s1", "relay_gb", at=START, gb="1.25"),
        event("s2", "relay_gb", at=NOW, gb=2),
        event("m1", "devices", at=START, devices=87),
        event("m2", "devices", at=NOW, devices=12),
    )
    assert qty(customer, metrics["api_calls"]) == 2
    assert qty(customer, metrics["relay_gb"]) == Decimal("3.25")
    assert qty(customer, metrics["devices"]) == 87


def test_missing_usage_is_zero(customer: Customer, metrics: dict[str, BillableMetric]) -> None:
    for metric in metrics.values():
        assert qty(customer, metric) == 0


def test_unique_count_is_exact(customer: Customer, metrics: dict[str, BillableMetric]) -> None:
    ingest(*(event(f"u{i}", "active_users", at=NOW, user_id=f"user-{i % 7}") for i in range(50)))
    assert qty(customer, metrics["active_users"]) == 7


def test_latest_takes_the_last_event_by_timestamp(
    customer: Customer, metrics: dict[str, BillableMetric]
) -> None:
    ingest(
        event("l2", "storage_gb", at=NOW, gb=30),
        event("l1", "storage_gb", at=NOW - 2 * H, gb=50),  # sent later, happened earlier
    )
    assert qty(customer, metrics["storage_gb"]) == 30


def test_property_filters_restrict_the_events(customer: Customer, metrics: dict[str, BillableMetric]) -> None:
    ingest(
        event("r1", "relay_gb_eu", at=NOW, gb=5, region="eu"),
        event("r2", "relay_gb_eu", at=NOW, gb=7, region="us"),
        event("r3", "relay_gb_eu", at=NOW, gb=1),
    )
    assert qty(customer, metrics["relay_gb_eu"]) == 5


def test_a_filter_list_means_any_of(customer: Customer, metrics: dict[str, BillableMetric]) -> None:
    from billing.services.catalog import metric_create

    metric = metric_create(
        code="relay_eu_us", name="x", aggregation="sum", field_name="gb", filters={"region": ["eu", "us"]}
    )
    ingest(
        event("r1", "relay_eu_us", at=NOW, gb=5, region="eu"),
        event("r2", "relay_eu_us", at=NOW, gb=7, region="us"),
        event("r3", "relay_eu_us", at=NOW, gb=100, region="apac"),
    )
    assert qty(customer, metric) == 12


def test_weighted_sum_is_the_level_held_over_time(
    customer: Customer, metrics: dict[str, BillableMetric]
) -> None:
    """10 seats from before the window, 20 from its middle: the period bills 15 (time-weighted)."""
    seats = metrics["seats"]
    start, end = NOW - 4 * H, NOW
    ingest(
        event("w0", "seats", at=start - 3 * H, seats=10),  # the level when the window opens
        event("w1", "seats", at=start + 2 * H, seats=20),
        event("w2", "seats", at=end + H, seats=99),  # after the window: ignored
    )
    assert qty(customer, seats, start, end) == 15
    assert qty(customer, seats, start + 2 * H, end) == 20
    # nothing before the window: zero until the first event; 20 for the last quarter
    assert qty(customer, seats, start - 4 * H, start) == Decimal("7.5")


def test_weighted_sum_counts_seconds(customer: Customer, metrics: dict[str, BillableMetric]) -> None:
    start = NOW - H
    ingest(event("w1", "seats", at=start + timedelta(seconds=1200), seats=3))
    assert qty(customer, metrics["seats"], start, NOW) == 2  # 3 seats for 2400 of 3600 s


def test_windows_in_a_customer_time_zone(customer: Customer, metrics: dict[str, BillableMetric]) -> None:
    tz = ZoneInfo("Asia/Kolkata")  # +05:30: day boundaries are not UTC-hour aligned
    local = NOW.astimezone(tz)
    day_start = local.replace(minute=30 if local.minute >= 30 else 0, second=0, microsecond=0)
    ingest(event("k1", at=day_start), event("k2", at=day_start - timedelta(minutes=1)))
    assert qty(customer, metrics["api_calls"], day_start, day_start + H) == 1


def test_rollups_and_raw_events_agree(customer: Customer, metrics: dict[str, BillableMetric]) -> None:
    ingest(*(event(f"g{i}", "relay_gb", at=START + i * timedelta(minutes=7), gb=f"{i}.5") for i in range(40)))
    metric = metrics["relay_gb"]
    assert uses_rollups(metric, START, END)
    hourly = qty(customer, metric)
    off_hour = qty(
        customer, metric, START + timedelta(seconds=1) - timedelta(seconds=1), END - timedelta(minutes=0)
    )
    assert hourly == off_hour == sum(Decimal(f"{i}.5") for i in range(40))
    assert qty(customer, metric, START + timedelta(minutes=1), END) == hourly - Decimal("0.5")
    assert sum(r.count for r in UsageRollup.objects.filter(metric_id=metric.pk)) == 40


def test_many_customers_in_a_constant_number_of_queries(
    customer: Customer,
    other_customer: Customer,
    metrics: dict[str, BillableMetric],
    django_assert_max_num_queries: Any,
) -> None:
    ingest(event("a1"), event("a2"), event("b1", customer="globex"))
    queries = [
        UsageQuery(customer_id=c.pk, metric_id=m.pk, start=START, end=END)
        for c in (customer, other_customer)
        for m in (metrics["api_calls"], metrics["active_users"])
    ]
    queries += [
        UsageQuery(customer_id=10**9 + i, metric_id=metrics["api_calls"].pk, start=START, end=END)
        for i in range(500)
    ]
    # metrics + one per (metric, window) group on PostgreSQL; SQLite reads 500 customers at a time
    expected = 3 if connection.vendor == "postgresql" else 4
    with django_assert_max_num_queries(expected):
        result = usage_quantities(queries=queries)
    assert result[queries[0]] == 2
    assert result[queries[2]] == 1
    assert result[queries[1]] == 0
    assert result[queries[-1]] == 0


def test_naive_windows_are_refused(customer: Customer, metrics: dict[str, BillableMetric]) -> None:
    with pytest.raises(ValueError):
        qty(customer, metrics["api_calls"], START.replace(tzinfo=None), END)


def test_1234567_requests_at_0_0004_rate_to_493_83(
    customer: Customer, metrics: dict[str, BillableMetric]
) -> None:
    """DESIGN.md's worked example, from aggregation to rating (a sum metric stands in for 1.2M events)."""
    from billing.services.catalog import metric_create

    requests = metric_create(code="requests", name="Requests", aggregation="sum", field_name="n")
    ingest(
        event("r1", "requests", at=NOW, n=1_000_000),
        event("r2", "requests", at=NOW, n=234_000),
        event("r3", "requests", at=NOW, n=567),
    )
    quantity = qty(customer, requests)
    assert quantity == 1_234_567
    line = rate_price(
        spec=PriceSpec(model=PriceModel.PER_UNIT, unit_amount=Decimal("0.0004")),
        quantity=quantity,
        currency="USD",
        description="Requests",
        kind="usage",
    )
    assert line.amount == Decimal("493.83")


def test_a_count_metric_counts_every_accepted_event_of_a_large_batch(
    customer: Customer, metrics: dict[str, BillableMetric]
) -> None:
    for batch in range(5):
        ingest(*(event(f"b{batch}-{i}", at=NOW - timedelta(seconds=i)) for i in range(1000)))
    ingest(*(event(f"b0-{i}", at=NOW) for i in range(1000)))  # a full replay counts nothing
    assert UsageEvent.objects.count() == 5000
    assert qty(customer, metrics["api_calls"]) == 5000
    line = rate_price(
        spec=PriceSpec(model=PriceModel.PER_UNIT, unit_amount=Decimal("0.0004")),
        quantity=qty(customer, metrics["api_calls"]),
        currency="USD",
        description="API calls",
        kind="usage",
    )
    assert line.amount == Decimal("2.00")
