"""Ingestion of usage events: validate a whole batch, write it once, feed live counters after commit.

Rules (API.md, DESIGN.md's late-usage rule):
- every event names a known customer (external id) and metric (code); unknown ones are a 400 on
  ``events[i].customer`` / ``events[i].metric``, never a 500;
- the timestamp is at most ``FUTURE_SKEW`` ahead of the reference time and at most
  ``RATECARD_LATE_EVENT_LIMIT_DAYS`` behind it. The reference is the wall clock (as Stripe's meters do:
  the event's own timestamp is the business time; ``now`` only bounds it), overridable by ``now``;
  late events inside the limit are accepted and billing turns them into draft updates or adjustments;
- the metric's field must be present: a finite, non-negative number (JSON number, or a decimal
  string) for sum, max, latest and weighted_sum, at most 12 decimal places; a string or number for
  unique_count;
- one bad event rejects the whole batch, with every error listed;
- a repeated (customer, event_id), in the batch or across batches, is a duplicate and counts once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Customer
from billing.models import Aggregation, BillableMetric
from billing.monitoring import UNKNOWN_METRIC, USAGE_BATCHES_REFUSED, USAGE_EVENTS, ingestion_window_add
from billing.services import usage_live
from billing.services.usage_corrections import usage_corrections_record
from billing.services.usage_hooks import usage_changed
from billing.services.usage_schema import PROPERTIES_ENCODER, BatchInvalid, EventIn, decode_batch
from billing.services.usage_writes import EventRow, StaleReference, write_events
from config.errors import Conflict, ErrorCode, FieldError, ValidationFailed

FUTURE_SKEW = timedelta(minutes=5)
MAX_INTEGER_DIGITS = 26  # numeric(38, 12)
MAX_PLACES = 12
NUMERIC_AGGREGATIONS = {Aggregation.SUM, Aggregation.MAX, Aggregation.LATEST, Aggregation.WEIGHTED_SUM}
CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int


@dataclass(frozen=True)
class MetricInfo:
    id: int
    aggregation: str
    field_name: str


class _LookupCache:
    """External id / code -> row, per process, positive hits only, for ``CACHE_SECONDS``.

    External ids never change, a metric never changes what it measures, and customers and metrics
    with events cannot be deleted; one without events can, and a hit may then name a dead id: the
    insert's foreign keys catch it and ``usage_events_ingest`` drops the cache and validates again.
    Misses always ask the database (a customer created a second ago works).
    """

    def __init__(self) -> None:
        self.customers: dict[str, int] = {}
        self.metrics: dict[str, MetricInfo] = {}
        self.expires = 0.0

    def clear(self) -> None:
        self.customers.clear()
        self.metrics.clear()

    def _fresh(self) -> None:
        now = time.monotonic()
        if now > self.expires:
            self.clear()
            self.expires = now + CACHE_SECONDS

    def customer_ids(self, external_ids: set[str]) -> dict[str, int]:
        self._fresh()
        missing = external_ids - self.customers.keys()
        if missing:
            self.customers.update(
                Customer.objects.filter(external_id__in=missing).values_list("external_id", "id")
            )
        return self.customers

    def metric_infos(self, codes: set[str]) -> dict[str, MetricInfo]:
        self._fresh()
        missing = codes - self.metrics.keys()
        if missing:
            for metric_id, code, aggregation, field_name in BillableMetric.objects.filter(
                code__in=missing
            ).values_list("id", "code", "aggregation", "field_name"):
                self.metrics[code] = MetricInfo(metric_id, aggregation, field_name)
        return self.metrics


lookups = _LookupCache()


def _numeric(raw: Any) -> Decimal | None:
    """A JSON number or decimal string as an exact Decimal; None when it is not one."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, int):
        value = Decimal(raw)
    elif isinstance(raw, str):
        try:
            value = Decimal(raw.strip())
        except InvalidOperation:
            return None
    else:
        return None
    return value if value.is_finite() else None


def _field_value(
    index: int, event: EventIn, metric: MetricInfo, errors: list[FieldError]
) -> tuple[Decimal | None, str | None]:
    """The metric's field of one event: (value, distinct_value); appends an error when it is bad."""
    if metric.aggregation == Aggregation.COUNT:
        return None, None
    name = metric.field_name
    path = f"events[{index}].properties.{name}"
    if name not in event.properties:
        errors.append(
            FieldError(path, f"The {metric.aggregation} metric needs property {name!r}.", ErrorCode.REQUIRED)
        )
        return None, None
    raw = event.properties[name]
    if metric.aggregation == Aggregation.UNIQUE_COUNT:
        if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal) or len(str(raw)) > 255:
            errors.append(FieldError(path, "Must be a string or a number (at most 255 characters)."))
            return None, None
        return None, str(raw)
    value = _numeric(raw)
    if value is None or value < 0:
        # usage is never negative: a correction is a void (POST /api/v1/events/void), not a minus
        errors.append(FieldError(path, "Must be a finite, non-negative number (or a decimal string)."))
        return None, None
    exponent = value.as_tuple().exponent
    if (isinstance(exponent, int) and exponent < -MAX_PLACES) or value.adjusted() >= MAX_INTEGER_DIGITS:
        errors.append(
            FieldError(path, f"At most {MAX_INTEGER_DIGITS} digits and {MAX_PLACES} decimal places.")
        )
        return None, None
    return value, None


def validate_events(
    events: Sequence[EventIn], *, now: datetime, backfill: bool = False
) -> tuple[list[EventRow], int]:
    """Check every event; return the rows to write and the number of in-batch repeats.

    Raises ``ValidationFailed`` listing every error when any event is bad. ``backfill`` lifts the
    late-event limit (never the bound on the future).
    """
    customers = lookups.customer_ids({event.customer for event in events})
    metrics = lookups.metric_infos({event.metric for event in events})
    earliest = now - timedelta(days=settings.RATECARD_LATE_EVENT_LIMIT_DAYS)
    latest = now + FUTURE_SKEW
    errors: list[FieldError] = []
    rows: list[EventRow] = []
    seen: set[tuple[int, str]] = set()
    repeats = 0
    for index, event in enumerate(events):
        customer_id = customers.get(event.customer)
        metric = metrics.get(event.metric)
        if customer_id is None:
            errors.append(
                FieldError(
                    f"events[{index}].customer", f"No customer {event.customer!r}.", ErrorCode.NOT_FOUND
                )
            )
        if metric is None:
            errors.append(
                FieldError(f"events[{index}].metric", f"No metric {event.metric!r}.", ErrorCode.NOT_FOUND)
            )
        if event.timestamp > latest:
            errors.append(
                FieldError(f"events[{index}].timestamp", "The timestamp is in the future (beyond 5 minutes).")
            )
        elif event.timestamp < earliest and not backfill:
            errors.append(
                FieldError(
                    f"events[{index}].timestamp",
                    f"The timestamp is older than the late-event limit of "
                    f"{settings.RATECARD_LATE_EVENT_LIMIT_DAYS} days.",
                )
            )
        if metric is None or customer_id is None:
            continue
        value, distinct_value = _field_value(index, event, metric, errors)
        if errors:
            continue  # the batch is rejected anyway: only keep collecting errors
        key = (customer_id, event.event_id)
        if key in seen:
            repeats += 1
            continue
        seen.add(key)
        rows.append(
            EventRow(
                customer_id,
                metric.id,
                event.event_id,
                event.timestamp,
                value,
                distinct_value,
                PROPERTIES_ENCODER.encode(event.properties).decode(),
            )
        )
    if errors:
        raise ValidationFailed(errors[0].message, field=errors[0].field, errors=errors)
    return rows, repeats


def usage_events_ingest(
    *, events: Sequence[EventIn], now: datetime | None = None, backfill: bool = False
) -> IngestResult:
    """Validate and write a batch (all or nothing); visible to the next read when this returns.

    ``backfill`` (finance importing history) lifts the late-event limit; what it adds to periods
    already invoiced is recorded as a ``UsageCorrection`` so the next invoice carries the adjustment.
    The ids the lookup cache gives are checked by the insert itself (``StaleReference``): when a
    customer or metric was deleted meanwhile, the cache is dropped and the batch validated again, so
    the event lands on the customer that has the external id now, or is refused.
    """
    moment = now or timezone.now()
    try:
        try:
            return _ingest_once(events, now=moment, backfill=backfill)
        except StaleReference:
            lookups.clear()
        try:
            return _ingest_once(events, now=moment, backfill=backfill)
        except StaleReference as exc:  # deleted again between this lookup and the insert: tell the caller
            raise Conflict(
                "A customer or metric of the batch was deleted while it was written; retry."
            ) from exc
    except ValidationFailed:
        _count_refused(events)
        raise


def _ingest_once(events: Sequence[EventIn], *, now: datetime, backfill: bool) -> IngestResult:
    rows, repeats = validate_events(events, now=now, backfill=backfill)
    live_ids = usage_live.live_metric_ids()
    with transaction.atomic():
        by_metric, inserted = write_events(rows, live_metric_ids=live_ids)
        accepted = sum(by_metric.values())
        if inserted:
            transaction.on_commit(lambda: usage_live.usage_live_record(rows=inserted))
        if accepted:
            if backfill:
                usage_corrections_record(touches=rows)
            usage_changed(touches=rows)  # late usage: the drafts it belongs to are re-rated after commit
        transaction.on_commit(lambda: _count_written(events, by_metric))
    return IngestResult(accepted=accepted, duplicates=len(rows) - accepted + repeats)


def _count_written(events: Sequence[EventIn], accepted: dict[int, int]) -> None:
    """After commit: events accepted and duplicated per metric (operations' counters)."""
    sent = Counter(event.metric for event in events)
    infos = lookups.metric_infos(set(sent))
    for code, n in sent.items():
        taken = accepted.get(infos[code].id, 0) if code in infos else 0
        if taken:
            USAGE_EVENTS.labels(metric=code, outcome="accepted").inc(taken)
        if n - taken:
            USAGE_EVENTS.labels(metric=code, outcome="duplicate").inc(n - taken)
    ingestion_window_add(now=timezone.now(), accepted=sum(accepted.values()))


def _count_refused(events: Sequence[EventIn]) -> None:
    """A batch refused whole: every event counts as rejected, under its metric when that metric exists."""
    sent = Counter(event.metric for event in events)
    known = lookups.metric_infos(set(sent))
    for code, n in sent.items():
        USAGE_EVENTS.labels(metric=code if code in known else UNKNOWN_METRIC, outcome="rejected").inc(n)
    USAGE_BATCHES_REFUSED.labels(reason="invalid").inc()
    ingestion_window_add(
        now=timezone.now(), rejected=len(events), customers=[event.customer for event in events]
    )


def usage_events_ingest_json(
    *, body: bytes, now: datetime | None = None, backfill: bool = False
) -> IngestResult:
    """``usage_events_ingest`` for a raw ``{"events": [...]}`` request body."""
    try:
        events = decode_batch(body)
    except BatchInvalid as exc:
        USAGE_BATCHES_REFUSED.labels(reason="malformed").inc()
        ingestion_window_add(now=timezone.now(), rejected=1)
        raise ValidationFailed(exc.errors[0].message, field=exc.errors[0].field, errors=exc.errors) from exc
    return usage_events_ingest(events=events, now=now, backfill=backfill)
