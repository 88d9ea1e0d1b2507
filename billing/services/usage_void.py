"""Finance voids usage sent in error (``POST /api/v1/events/void``): it stops counting everywhere.

Each voided event moves from ``UsageEvent`` to ``VoidedUsageEvent`` (with who and when), its hourly
rollup is decreased (and its max recomputed from the events left), and its live counters are dropped
to be rebuilt. Its dedup key stays: the event_id is spent, a corrected event needs a new one. After
commit the drafts that counted it are re-rated (``usage_hooks``); a finalized invoice that counted it
gets an ``adjustment`` line on the next invoice (``UsageCorrection`` tells billing how far back to
look). Voiding an event twice, or one that was never accepted, changes nothing and counts 0.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from accounts.models import Customer
from billing.models import UsageEvent, UsageEventKey, UsageRollup, VoidedUsageEvent
from billing.services import usage_live
from billing.services.usage_aggregate import hour_floor
from billing.services.usage_corrections import usage_corrections_record
from billing.services.usage_hooks import usage_changed
from config.errors import ErrorCode, FieldError, ValidationFailed

MAX_VOIDS = 1000
QUERY_CHUNK = 200
# what a voided event keeps of the event (its id is the partitioned table's, not kept)
KEPT_FIELDS = (
    "customer_id",
    "metric_id",
    "event_id",
    "timestamp",
    "value",
    "distinct_value",
    "properties",
    "ingested_at",
)


def _resolve(items: Sequence[tuple[str, str]]) -> list[tuple[int, str]]:
    """(external id, event_id) -> sorted unique (customer id, event_id); 400 naming each bad entry."""
    if not items or len(items) > MAX_VOIDS:
        raise ValidationFailed(f"Send between 1 and {MAX_VOIDS} events.", field="events")
    customers = dict(
        Customer.objects.filter(external_id__in={c for c, _ in items}).values_list("external_id", "id")
    )
    errors = [
        FieldError(f"events[{index}].customer", f"No customer {external_id!r}.", ErrorCode.NOT_FOUND)
        for index, (external_id, _) in enumerate(items)
        if external_id not in customers
    ]
    if errors:
        raise ValidationFailed(errors[0].message, field=errors[0].field, errors=errors)
    return sorted({(customers[external_id], event_id) for external_id, event_id in items})


def _event_filter(keys: list[UsageEventKey]) -> Q:
    """Where each key's event is: by (customer, metric, timestamp) through the event index when the key
    knows them (keys from migration 0004 on), else by (customer, event_id)."""
    condition = Q(pk__in=[])
    for key in keys:
        if key.metric_id is not None and key.timestamp is not None:
            condition |= Q(
                customer_id=key.customer_id,
                metric_id=key.metric_id,
                timestamp=key.timestamp,
                event_id=key.event_id,
            )
        else:
            condition |= Q(customer_id=key.customer_id, event_id=key.event_id)
    return condition


def usage_events_void(*, items: Sequence[tuple[str, str]], user: Any = None) -> int:
    """Void the events named by (customer external id, event_id); return how many were voided now."""
    wanted = _resolve(items)
    with transaction.atomic():
        # the keys' row locks serialize two voids of the same event (the second finds nothing left)
        keys = list(UsageEventKey.objects.select_for_update().filter(pk__in=wanted).order_by("pk"))
        rows: list[UsageEvent] = []
        for index in range(0, len(keys), QUERY_CHUNK):
            rows += UsageEvent.objects.filter(_event_filter(keys[index : index + QUERY_CHUNK])).order_by()
        if not rows:
            return 0
        now = timezone.now()
        VoidedUsageEvent.objects.bulk_create(
            [
                VoidedUsageEvent(
                    **{name: getattr(row, name) for name in KEPT_FIELDS},
                    voided_at=now,
                    voided_by=user if getattr(user, "pk", None) else None,
                )
                for row in rows
            ]
        )
        for index in range(0, len(rows), QUERY_CHUNK):
            chunk_rows = rows[index : index + QUERY_CHUNK]
            condition = Q(pk__in=[])
            for row in chunk_rows:  # the event index and the partition key find each row
                condition |= Q(
                    customer_id=row.customer_id, metric_id=row.metric_id, timestamp=row.timestamp, id=row.pk
                )
            UsageEvent.objects.filter(condition).delete()
        _unroll(rows)
        usage_corrections_record(touches=rows)
        usage_changed(touches=rows)
        pairs = {(row.customer_id, row.metric_id) for row in rows}
        transaction.on_commit(lambda: usage_live.usage_live_forget(pairs=pairs))
    return len(rows)


def _unroll(rows: list[UsageEvent]) -> None:
    """Take the voided events out of their hourly rollups (rows locked first, so a concurrent batch's
    upsert of the same hour waits and then applies its own max on top of the recomputed one)."""
    deltas: dict[tuple[int, int, datetime], list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    for row in rows:
        delta = deltas[(row.customer_id, row.metric_id, hour_floor(row.timestamp))]
        delta[0] += 1
        delta[1] += row.value or 0
    for (customer_id, metric_id, hour), (count, total) in sorted(deltas.items()):
        rollup = UsageRollup.objects.select_for_update().filter(
            customer_id=customer_id, metric_id=metric_id, hour=hour
        )
        if not rollup.exists():
            continue
        peak = UsageEvent.objects.filter(
            customer_id=customer_id,
            metric_id=metric_id,
            timestamp__gte=hour,
            timestamp__lt=hour + timedelta(hours=1),
        ).aggregate(peak=Max("value"))["peak"]
        rollup.update(count=F("count") - count, sum=F("sum") - total, max=peak)
