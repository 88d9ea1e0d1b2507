"""Usage metering: raw events, their dedup keys, hourly rollups, and usage alerts.

On PostgreSQL ``billing_usageevent`` is a table partitioned by month on ``timestamp`` (migration 0002
creates it by hand; ``billing.services.usage_partitions`` adds months ahead). A partitioned table's unique
index must contain the partition key, so exact-once lives in ``UsageEventKey`` instead: one row per
(customer, event_id) whatever the timestamp, written in the same statement as the event.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models.functions import Now

from accounts.models import Customer
from billing.models.catalog import BillableMetric

VALUE_MAX_DIGITS = 38
VALUE_PLACES = 12


class UsageEvent(models.Model):
    """One accepted usage event. Append-only: never updated, never deleted (only whole months archived).

    ``value`` holds the metric's field as an exact Decimal (sum, max, latest, weighted_sum);
    ``distinct_value`` holds it as text for unique_count. ``properties`` is kept for metric filters.
    Database foreign keys on PostgreSQL (migration 0004): an event can only land on a customer and a
    metric that exist, whatever a lookup cache believed, and a customer with events cannot be deleted
    (it is archived). The one exception to append-only: finance voids an event sent in error, which
    moves it to ``VoidedUsageEvent`` (``billing.services.usage_void``).
    """

    id = models.BigAutoField(primary_key=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="usage_events")
    metric = models.ForeignKey(BillableMetric, on_delete=models.PROTECT, related_name="usage_events")
    event_id = models.CharField(max_length=255)
    timestamp = models.DateTimeField()
    value = models.DecimalField(max_digits=VALUE_MAX_DIGITS, decimal_places=VALUE_PLACES, null=True)
    distinct_value = models.CharField(max_length=255, null=True)
    properties = models.JSONField(default=dict)
    ingested_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering: ClassVar = ["timestamp", "id"]
        indexes: ClassVar = [
            models.Index(fields=["customer", "metric", "timestamp"], name="usageevent_cust_metric_ts"),
        ]
        permissions: ClassVar = [
            ("void_usageevent", "Can void usage events sent in error"),
            ("backfill_usageevent", "Can import usage older than the late-event limit"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"


class UsageEventKey(models.Model):
    """The exact-once key: (customer, event_id) is accepted once, whatever timestamp a retry carries.

    ``metric_id`` and ``timestamp`` say where the event row is (its partition and index range), so a
    void finds it without scanning the customer's events (null for keys written before 0004). A voided
    event keeps its key: its event_id is spent; send a corrected event under a new id.
    """

    pk = models.CompositePrimaryKey("customer_id", "event_id")
    customer_id = models.BigIntegerField()
    event_id = models.CharField(max_length=255)
    metric_id = models.BigIntegerField(null=True)
    timestamp = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"{self.customer_id}/{self.event_id}"


class UsageRollup(models.Model):
    """Count, sum and max of one customer's events of one metric in one UTC hour.

    Fed in the ingestion statement from the rows actually inserted (never from duplicates), so billing
    and dashboards read ~720 rows a month per customer and metric instead of the raw events.
    """

    pk = models.CompositePrimaryKey("customer_id", "metric_id", "hour")
    customer_id = models.BigIntegerField()
    metric_id = models.BigIntegerField()
    hour = models.DateTimeField()
    count = models.BigIntegerField(default=0)
    sum = models.DecimalField(max_digits=VALUE_MAX_DIGITS, decimal_places=VALUE_PLACES, default=0)
    max = models.DecimalField(max_digits=VALUE_MAX_DIGITS, decimal_places=VALUE_PLACES, null=True)

    def __str__(self) -> str:
        return f"{self.customer_id}/{self.metric_id} {self.hour:%Y-%m-%d %H}h: {self.count}"


class VoidedUsageEvent(models.Model):
    """An event finance voided (usage sent in error), moved out of ``UsageEvent`` with who and when.

    It no longer counts anywhere (aggregation, rollups, live counters). A draft that counted it is
    re-rated at once; a finalized invoice that counted it gets an ``adjustment`` line on the next one.
    """

    class Reason(models.TextChoices):
        VOIDED = "voided", "Voided by finance"
        ORPHANED = "orphaned", "Its customer or metric no longer existed (moved by migration 0004)"

    customer_id = models.BigIntegerField()
    metric_id = models.BigIntegerField()
    event_id = models.CharField(max_length=255)
    timestamp = models.DateTimeField()
    value = models.DecimalField(max_digits=VALUE_MAX_DIGITS, decimal_places=VALUE_PLACES, null=True)
    distinct_value = models.CharField(max_length=255, null=True)
    properties = models.JSONField(default=dict)
    ingested_at = models.DateTimeField()
    voided_at = models.DateTimeField()
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=10, choices=Reason.choices, default=Reason.VOIDED)

    class Meta:
        ordering: ClassVar = ["-voided_at", "id"]
        indexes: ClassVar = [models.Index(fields=["customer_id", "timestamp"], name="voidedusage_cust_ts")]

    def __str__(self) -> str:
        return f"{self.event_id} (voided {self.voided_at:%Y-%m-%d})"


class UsageCorrection(models.Model):
    """Usage changed for time already billed, through a void or a backfill: the earliest time touched.

    Billing runs look this far back for late-usage adjustments (past the late-event limit they use
    otherwise), so a correction of an old, finalized period becomes an ``adjustment`` on the next
    invoice instead of being lost. Append-only, one row per customer per correction.
    """

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="usage_corrections")
    earliest = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes: ClassVar = [models.Index(fields=["customer", "earliest"], name="usagecorrection_cust_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id} since {self.earliest:%Y-%m-%d}"


class UsageAlertKind(models.TextChoices):
    PERCENT_OF_LIMIT = "percent_of_limit", "Percent of the plan's limit"
    QUANTITY = "quantity", "Quantity"
    SPEND = "spend", "Spend (rated amount)"


class UsageAlert(models.Model):
    """A threshold on one customer's usage of one metric; fires at most once per billing period."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="usage_alerts")
    metric = models.ForeignKey(BillableMetric, on_delete=models.PROTECT, related_name="usage_alerts")
    kind = models.CharField(max_length=20, choices=UsageAlertKind.choices)
    threshold = models.DecimalField(
        max_digits=VALUE_MAX_DIGITS,
        decimal_places=VALUE_PLACES,
        help_text="percent_of_limit: e.g. 80; quantity: units; spend: an amount in the customer's currency.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["customer", "metric", "id"]

    def __str__(self) -> str:
        return f"{self.metric.code} {self.kind} >= {self.threshold}"


class UsageAlertFiring(models.Model):
    """An alert that fired in one period; unique on (alert, period_start) so it fires once a period."""

    alert = models.ForeignKey(UsageAlert, on_delete=models.CASCADE, related_name="firings")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    value = models.DecimalField(max_digits=VALUE_MAX_DIGITS, decimal_places=VALUE_PLACES)
    fired_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar = ["-fired_at", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["alert", "period_start"], name="usagealertfiring_once_per_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.alert} fired at {self.value}"
