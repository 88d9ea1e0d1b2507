"""Usage alerts fire once per period, after ingestion, as a firing row and a log line."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from structlog.testing import capture_logs

from accounts.models import Customer
from billing.models import BillableMetric, Feature, Price, UsageAlert, UsageAlertFiring, UsageAlertKind
from billing.services import usage_live
from billing.services.entitlements import entitlements_invalidate
from config.celery import app as celery_app
from tests.usage.conftest import NOW, event, ingest, subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _eager_tasks() -> Iterator[None]:
    """Run the alert task in the test (with REDIS_URL set, Celery would queue it to a worker)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def alert(customer: Customer, metric: BillableMetric, kind: str, threshold: str) -> UsageAlert:
    created = UsageAlert.objects.create(
        customer=customer, metric=metric, kind=kind, threshold=Decimal(threshold)
    )
    usage_live.metric_ids_cache.clear()
    return created


def send(*events: dict[str, Any], callbacks: Any) -> None:
    with callbacks(execute=True):
        ingest(*events)


def test_a_quantity_alert_fires_once_per_period(
    customer: Customer, metrics: dict[str, BillableMetric], django_capture_on_commit_callbacks: Any
) -> None:
    subscribe(customer, {})
    watched = alert(customer, metrics["api_calls"], UsageAlertKind.QUANTITY, "3")
    send(event("e1"), event("e2"), callbacks=django_capture_on_commit_callbacks)
    assert not UsageAlertFiring.objects.exists()
    with capture_logs() as logs:
        send(event("e3"), callbacks=django_capture_on_commit_callbacks)
    firing = UsageAlertFiring.objects.get()
    assert firing.alert == watched and firing.value == 3
    assert [log["event"] for log in logs if log["log_level"] == "warning"] == ["usage.alert_fired"]
    send(event("e4"), event("e5"), callbacks=django_capture_on_commit_callbacks)
    assert UsageAlertFiring.objects.count() == 1


def test_a_percent_of_limit_alert(
    customer: Customer, metrics: dict[str, BillableMetric], django_capture_on_commit_callbacks: Any
) -> None:
    subscribe(customer, {"max_devices": 100})
    Feature.objects.filter(key="max_devices").update(metric=metrics["devices"])
    entitlements_invalidate()
    alert(customer, metrics["devices"], UsageAlertKind.PERCENT_OF_LIMIT, "80")
    send(event("d1", "devices", devices=79), callbacks=django_capture_on_commit_callbacks)
    assert not UsageAlertFiring.objects.exists()
    send(event("d2", "devices", devices=80), callbacks=django_capture_on_commit_callbacks)
    assert UsageAlertFiring.objects.get().value == 80


def test_a_spend_alert_rates_usage_with_the_plan_price(
    customer: Customer, metrics: dict[str, BillableMetric], django_capture_on_commit_callbacks: Any
) -> None:
    subscription = subscribe(customer, {})
    Price.objects.create(
        plan_version=subscription.plan_version,
        code="gb",
        model="per_unit",
        billing="in_arrears",
        metric=metrics["relay_gb"],
        unit_amount=Decimal("0.50"),
    )
    alert(customer, metrics["relay_gb"], UsageAlertKind.SPEND, "10.00")
    send(event("g1", "relay_gb", gb=19), callbacks=django_capture_on_commit_callbacks)
    assert not UsageAlertFiring.objects.exists()
    send(event("g2", "relay_gb", gb=1), callbacks=django_capture_on_commit_callbacks)
    assert UsageAlertFiring.objects.get().value == Decimal("10.00")


def test_duplicates_never_fire_an_alert(
    customer: Customer, metrics: dict[str, BillableMetric], django_capture_on_commit_callbacks: Any
) -> None:
    subscribe(customer, {})
    alert(customer, metrics["api_calls"], UsageAlertKind.QUANTITY, "2")
    send(event("e1", at=NOW), callbacks=django_capture_on_commit_callbacks)
    send(event("e1", at=NOW), callbacks=django_capture_on_commit_callbacks)
    assert not UsageAlertFiring.objects.exists()
