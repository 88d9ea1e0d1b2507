"""Usage in the admin: daily series per metric in the customer's time zone, the chart page, the CSV
export, usage alerts (finance edits them) and their firings (read-only for everyone)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Customer
from accounts.services.customers import customer_create
from billing.admin.usage_chart import bar_chart, nice_ceiling
from billing.admin.usage_report import customer_usage_url
from billing.models import BillableMetric, UsageAlert, UsageAlertFiring, UsageAlertKind
from billing.services import usage_ingest, usage_live
from billing.services.catalog import metric_create
from billing.services.usage import usage_quantity
from billing.services.usage_ingest import usage_events_ingest
from billing.services.usage_reports import daily_usage, day_boundaries, report_days, usage_csv_rows
from billing.services.usage_schema import EventIn
from tests.admin import change_url, changelist_url, logged_in

pytestmark = pytest.mark.django_db

BERLIN = "Europe/Berlin"
# Berlin leaves summer time on 2026-10-25 at 03:00: Oct 24 starts 22:00 UTC, Oct 25 (25 hours) too,
# Oct 26 starts 23:00 UTC, Oct 27 23:00 UTC.
DAYS = (date(2026, 10, 24), date(2026, 10, 25), date(2026, 10, 26))
NOW = datetime(2026, 10, 27, 12, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    """Ingestion caches external id -> id per process; ids are reused between tests."""
    usage_ingest.lookups.clear()
    usage_live.metric_ids_cache.clear()
    yield
    usage_ingest.lookups.clear()
    usage_live.metric_ids_cache.clear()


@pytest.fixture
def customer() -> Customer:
    return customer_create(external_id="acme", name="Acme GmbH", currency="EUR", timezone=BERLIN)


@pytest.fixture
def metrics() -> dict[str, BillableMetric]:
    specs = {
        "api_calls": ("count", ""),
        "relay_gb": ("sum", "gb"),
        "devices": ("max", "devices"),
        "active_users": ("unique_count", "user_id"),
    }
    return {
        code: metric_create(code=code, name=code.replace("_", " ").title(), aggregation=agg, field_name=field)
        for code, (agg, field) in specs.items()
    }


def ingest(*events: tuple[str, str, str, dict[str, Any]], customer: str = "acme") -> None:
    """``(event_id, metric, UTC timestamp, properties)`` each."""
    usage_events_ingest(
        events=[
            EventIn(event_id=event_id, customer=customer, metric=metric, timestamp=at(ts), properties=props)
            for event_id, metric, ts, props in events
        ],
        now=NOW,
    )


@pytest.fixture
def usage(customer: Customer, metrics: dict[str, BillableMetric]) -> None:
    """relay_gb (sum) and active_users (unique_count) over three Berlin days, with edge-of-day events."""
    ingest(
        ("gb-before", "relay_gb", "2026-10-23T21:59:59", {"gb": 100}),  # Oct 23 23:59:59 local: outside
        ("gb-1", "relay_gb", "2026-10-23T22:00:00", {"gb": "1.5"}),  # Oct 24 00:00 local
        ("gb-2", "relay_gb", "2026-10-24T12:00:00", {"gb": 2}),
        ("gb-3", "relay_gb", "2026-10-24T22:30:00", {"gb": 4}),  # Oct 25 00:30 CEST
        ("gb-4", "relay_gb", "2026-10-25T22:59:00", {"gb": "0.25"}),  # Oct 25 23:59 CET
        ("gb-5", "relay_gb", "2026-10-25T23:30:00", {"gb": 10}),  # 23:30 UTC is Oct 26 00:30 CET
        ("gb-after", "relay_gb", "2026-10-26T23:00:00", {"gb": 1000}),  # Oct 27 00:00 local: outside
        ("u-1", "active_users", "2026-10-24T08:00:00", {"user_id": "u1"}),
        ("u-2", "active_users", "2026-10-24T09:00:00", {"user_id": "u2"}),
        ("u-3", "active_users", "2026-10-24T22:30:00", {"user_id": "u1"}),  # Oct 25 local
        ("u-4", "active_users", "2026-10-25T10:00:00", {"user_id": "u1"}),  # same user, same day
        ("u-5", "active_users", "2026-10-25T23:30:00", {"user_id": "u3"}),  # Oct 26 local
        ("u-6", "active_users", "2026-10-26T08:00:00", {"user_id": "u2"}),
    )


# --- the selector -----------------------------------------------------------------------------------


def test_days_are_the_customers_local_days(customer: Customer, usage: None) -> None:
    series = daily_usage(customer_id=customer.pk, start=DAYS[0], end=DAYS[-1], tz=BERLIN)

    assert list(series) == ["active_users", "relay_gb"]  # metrics with usage in the period, by code
    assert series["relay_gb"] == [
        (DAYS[0], Decimal("3.5")),
        (DAYS[1], Decimal("4.25")),
        (DAYS[2], Decimal(10)),
    ]
    assert series["active_users"] == [(DAYS[0], Decimal(2)), (DAYS[1], Decimal(1)), (DAYS[2], Decimal(2))]


def test_utc_days_group_the_same_events_differently(customer: Customer, usage: None) -> None:
    series = daily_usage(customer_id=customer.pk, start=DAYS[0], end=DAYS[-1], tz="UTC")

    assert [value for _, value in series["relay_gb"]] == [Decimal(6), Decimal("10.25"), Decimal(1000)]
    assert [value for _, value in series["active_users"]] == [Decimal(2), Decimal(2), Decimal(1)]


def test_the_boundaries_follow_daylight_saving(customer: Customer) -> None:
    edges = day_boundaries(report_days(DAYS[0], DAYS[-1]), BERLIN)

    assert edges == [
        at("2026-10-23T22:00:00"),
        at("2026-10-24T22:00:00"),
        at("2026-10-25T23:00:00"),
        at("2026-10-26T23:00:00"),
    ]


@pytest.mark.parametrize("tz", [BERLIN, "Asia/Kolkata", "America/New_York"])
def test_each_day_is_what_billing_counts_for_that_day(
    customer: Customer, metrics: dict[str, BillableMetric], tz: str
) -> None:
    """Rollups (whole-hour zones) and per-day windows (half-hour zones) both match usage_quantity."""
    moments = [at("2026-10-23T18:15:00") + timedelta(minutes=71 * i) for i in range(65)]
    stamps = [(i, f"{m:%Y-%m-%dT%H:%M:%S}") for i, m in enumerate(moments)]
    ingest(
        *((f"c-{i}", "api_calls", ts, {}) for i, ts in stamps),
        *((f"d-{i}", "devices", ts, {"devices": i % 7}) for i, ts in stamps),
        *((f"g-{i}", "relay_gb", ts, {"gb": f"{i}.5"}) for i, ts in stamps),
    )
    series = daily_usage(customer_id=customer.pk, start=DAYS[0], end=DAYS[-1], tz=tz)
    edges = day_boundaries(list(DAYS), tz)

    for code in ("api_calls", "devices", "relay_gb"):
        expected = [
            usage_quantity(
                customer_id=customer.pk, metric_id=metrics[code].pk, start=edges[i], end=edges[i + 1]
            )
            for i in range(len(DAYS))
        ]
        assert [value for _, value in series[code]] == expected, code
        assert any(value for value in expected)


def test_rollup_metrics_cost_the_same_queries_for_3_days_as_for_30(
    customer: Customer, metrics: dict[str, BillableMetric]
) -> None:
    ingest(
        ("c-1", "api_calls", "2026-10-24T10:00:00", {}),
        ("g-1", "relay_gb", "2026-10-24T10:00:00", {"gb": 1}),
        ("d-1", "devices", "2026-10-24T10:00:00", {"devices": 3}),
    )

    def queries(days: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            daily_usage(customer_id=customer.pk, start=DAYS[0], end=DAYS[0] + timedelta(days - 1), tz=BERLIN)
        return len(captured)

    assert queries(3) == queries(30) == 2  # the metrics shown, then every rollup row at once


def test_the_period_is_checked(customer: Customer) -> None:
    with pytest.raises(ValueError, match="ends before"):
        daily_usage(customer_id=customer.pk, start=DAYS[1], end=DAYS[0], tz=BERLIN)
    with pytest.raises(ValueError, match="at most"):
        daily_usage(customer_id=customer.pk, start=DAYS[0], end=DAYS[0] + timedelta(days=92), tz=BERLIN)


def test_csv_rows_go_day_by_day(customer: Customer, usage: None) -> None:
    rows = list(usage_csv_rows(customer_id=customer.pk, start=DAYS[0], end=DAYS[-1], tz=BERLIN))

    assert rows == [
        (DAYS[0], "active_users", Decimal(2)),
        (DAYS[0], "relay_gb", Decimal("3.5")),
        (DAYS[1], "active_users", Decimal(1)),
        (DAYS[1], "relay_gb", Decimal("4.25")),
        (DAYS[2], "active_users", Decimal(2)),
        (DAYS[2], "relay_gb", Decimal(10)),
    ]


# --- the chart --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "top"),
    [("0", "1"), ("0.3", "0.5"), ("1", "1"), ("7", "10"), ("10.5", "20"), ("150", "200"), ("4.25", "5")],
)
def test_the_axis_top_is_round(value: str, top: str) -> None:
    assert nice_ceiling(Decimal(value)) == Decimal(top)


def test_bars_are_proportional_and_negative_bars_hang_below_zero() -> None:
    chart = bar_chart([(DAYS[0], Decimal(5)), (DAYS[1], Decimal(10)), (DAYS[2], Decimal(-10))])
    heights = [float(bar.height) for bar in chart.bars]

    assert heights[1] == pytest.approx(2 * heights[0])
    assert heights[2] == pytest.approx(heights[1])
    assert float(chart.bars[2].y) > float(chart.bars[1].y)  # starts at the zero line, goes down
    assert chart.bars[1].label.endswith("2026-10-25: 10")


# --- the usage page ---------------------------------------------------------------------------------


def period(**extra: str) -> dict[str, str]:
    return {"start": DAYS[0].isoformat(), "end": DAYS[-1].isoformat(), **extra}


def test_support_sees_a_chart_per_metric_and_the_daily_values(
    client: Client, support_user: User, customer: Customer, usage: None
) -> None:
    response = logged_in(client, support_user).get(customer_usage_url(customer.pk), period())

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<svg class="usage-chart"') == 2
    assert html.count('<rect class="bar"') == 6
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing external
    assert "<script" not in html.split('<div id="content-main">')[1]
    assert response.context["table"] == [
        (DAYS[0], ["2", "3.5"]),
        (DAYS[1], ["1", "4.25"]),
        (DAYS[2], ["2", "10"]),
    ]
    assert "Europe/Berlin" in html
    assert "format=csv" in html


def test_the_default_period_is_the_last_30_days(client: Client, sales_user: User, customer: Customer) -> None:
    response = logged_in(client, sales_user).get(customer_usage_url(customer.pk))

    assert response.status_code == 200
    assert (response.context["end"] - response.context["start"]).days == 29
    assert "No usage in this period." in response.content.decode()


def test_a_bad_period_shows_an_error_and_the_default(
    client: Client, support_user: User, customer: Customer
) -> None:
    c = logged_in(client, support_user)
    response = c.get(customer_usage_url(customer.pk), {"start": "2026-10-26", "end": "2026-10-24"})

    assert response.status_code == 200
    assert "ends before it starts" in response.content.decode()
    assert (response.context["end"] - response.context["start"]).days == 29
    csv_response = c.get(
        customer_usage_url(customer.pk), {"start": "2026-01-01", "end": "2026-12-31", "format": "csv"}
    )
    assert csv_response.status_code == 400


def test_the_csv_export(client: Client, finance_user: User, customer: Customer, usage: None) -> None:
    response = logged_in(client, finance_user).get(customer_usage_url(customer.pk), period(format="csv"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="usage-acme-20261024-20261026.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        ["date", "metric", "value"],
        ["2026-10-24", "active_users", "2"],
        ["2026-10-24", "relay_gb", "3.5"],
        ["2026-10-25", "active_users", "1"],
        ["2026-10-25", "relay_gb", "4.25"],
        ["2026-10-26", "active_users", "2"],
        ["2026-10-26", "relay_gb", "10"],
    ]


def test_usage_needs_the_view_usage_permission(client: Client, customer: Customer) -> None:
    user = User.objects.create_user(username="outsider", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_customer"))
    c = logged_in(client, user)

    assert c.get(customer_usage_url(customer.pk)).status_code == 403
    customer_page = c.get(change_url(customer))
    assert customer_page.status_code == 200
    assert customer_usage_url(customer.pk) not in customer_page.content.decode()
    client.logout()
    assert client.get(customer_usage_url(customer.pk)).status_code == 302  # to the login page


def test_an_unknown_customer_is_a_404(client: Client, support_user: User) -> None:
    assert logged_in(client, support_user).get(customer_usage_url(999_999)).status_code == 404


@pytest.mark.parametrize("role", ["support_user", "sales_user", "finance_user"])
def test_the_customer_page_links_to_its_usage(
    client: Client, request: pytest.FixtureRequest, role: str, customer: Customer
) -> None:
    response = logged_in(client, request.getfixturevalue(role)).get(change_url(customer))

    assert response.status_code == 200
    assert f'href="{customer_usage_url(customer.pk)}"' in response.content.decode()


# --- usage alerts and their firings -----------------------------------------------------------------


def make_alerts(start: int, stop: int, metric: BillableMetric) -> None:
    for i in range(start, stop):
        customer = customer_create(external_id=f"cus_{i}", name=f"Customer {i}", currency="USD")
        kind = (UsageAlertKind.QUANTITY, UsageAlertKind.SPEND, UsageAlertKind.PERCENT_OF_LIMIT)[i % 3]
        alert = UsageAlert.objects.create(customer=customer, metric=metric, kind=kind, threshold=Decimal(80))
        if i % 2:
            UsageAlertFiring.objects.create(
                alert=alert,
                period_start=at("2026-10-01T00:00:00"),
                period_end=at("2026-11-01T00:00:00"),
                value=Decimal("81.5"),
            )


def list_queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("model", [UsageAlert, UsageAlertFiring])
def test_alert_lists_run_the_same_queries_for_3_rows_as_for_30(
    client: Client, finance_user: User, metrics: dict[str, BillableMetric], model: type
) -> None:
    c = logged_in(client, finance_user)
    make_alerts(0, 3, metrics["api_calls"])
    with_3 = list_queries(c, changelist_url(model))
    make_alerts(3, 30, metrics["api_calls"])

    assert list_queries(c, changelist_url(model)) == with_3


def test_finance_creates_and_edits_an_alert(
    client: Client, finance_user: User, customer: Customer, metrics: dict[str, BillableMetric]
) -> None:
    c = logged_in(client, finance_user)
    data = {
        "customer": customer.pk,
        "metric": metrics["api_calls"].pk,
        "kind": UsageAlertKind.QUANTITY,
        "threshold": "1000",
        "is_active": "on",
    }
    response = c.post(reverse("admin:billing_usagealert_add"), data)

    assert response.status_code == 302, response.content.decode()[:2000]
    alert = UsageAlert.objects.get()
    assert (alert.customer, alert.metric, alert.kind, alert.threshold) == (
        customer,
        metrics["api_calls"],
        UsageAlertKind.QUANTITY,
        Decimal(1000),
    )
    edited = c.post(change_url(alert), {"kind": UsageAlertKind.QUANTITY, "threshold": "2000"})
    assert edited.status_code == 302
    alert.refresh_from_db()
    assert (alert.threshold, alert.is_active) == (Decimal(2000), False)
    assert c.post(reverse("admin:billing_usagealert_add"), {**data, "threshold": "0"}).status_code == 200
    assert UsageAlert.objects.count() == 1


@pytest.mark.parametrize("role", ["support_user", "sales_user"])
def test_support_and_sales_only_look_at_alerts(
    client: Client,
    request: pytest.FixtureRequest,
    role: str,
    customer: Customer,
    metrics: dict[str, BillableMetric],
) -> None:
    alert = UsageAlert.objects.create(
        customer=customer, metric=metrics["api_calls"], kind=UsageAlertKind.QUANTITY, threshold=Decimal(5)
    )
    c = logged_in(client, request.getfixturevalue(role))

    assert c.get(changelist_url(UsageAlert)).status_code == 200
    assert c.get(reverse("admin:billing_usagealert_add")).status_code == 403
    assert c.post(change_url(alert), {"kind": "quantity", "threshold": "1"}).status_code == 403


@pytest.fixture
def firing(customer: Customer, metrics: dict[str, BillableMetric]) -> UsageAlertFiring:
    alert = UsageAlert.objects.create(
        customer=customer, metric=metrics["relay_gb"], kind=UsageAlertKind.QUANTITY, threshold=Decimal(10)
    )
    return UsageAlertFiring.objects.create(
        alert=alert,
        period_start=at("2026-09-30T22:00:00"),
        period_end=at("2026-10-31T23:00:00"),
        value=Decimal("10.25"),
    )


@pytest.mark.parametrize("role", ["support_user", "finance_user", "admin_user"])
def test_firings_are_read_only_for_everyone(
    client: Client, request: pytest.FixtureRequest, role: str, firing: UsageAlertFiring
) -> None:
    c = logged_in(client, request.getfixturevalue(role))

    listing = c.get(changelist_url(UsageAlertFiring))
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "Acme GmbH" in html and "relay_gb" in html and "10.25" in html
    assert "2026-10-01 – 2026-11-01" in html  # the period in the customer's time zone
    assert c.post(changelist_url(UsageAlertFiring), {"action": "delete_selected"}).status_code == 403
    assert c.get(change_url(firing)).status_code == 200
    assert c.post(change_url(firing), {"value": "1"}).status_code == 403
    assert c.get(reverse("admin:billing_usagealertfiring_add")).status_code == 403
    assert c.post(reverse("admin:billing_usagealertfiring_delete", args=(firing.pk,))).status_code == 403
    firing.refresh_from_db()
    assert firing.value == Decimal("10.25")


def test_the_usage_page_links_to_the_customers_firings(
    client: Client, support_user: User, firing: UsageAlertFiring, customer: Customer
) -> None:
    c = logged_in(client, support_user)
    page = c.get(customer_usage_url(customer.pk))
    url = page.context["firings_url"]
    other = customer_create(external_id="globex", name="Globex", currency="USD")
    UsageAlertFiring.objects.create(
        alert=UsageAlert.objects.create(
            customer=other, metric=firing.alert.metric, kind="quantity", threshold=Decimal(1)
        ),
        period_start=firing.period_start,
        period_end=firing.period_end,
        value=Decimal(2),
    )

    response = c.get(url)
    assert response.status_code == 200
    assert [f.pk for f in response.context["cl"].result_list] == [firing.pk]
