"""Live usage counters in Redis for entitlement checks at request speed (never for invoices).

Per (customer, metric, subscription period) a hash holds ``n`` (count), ``s`` (sum), ``mx`` (max),
``lt``/``lv`` (latest timestamp in microseconds and its value), and for unique_count a HyperLogLog.
- Fed after commit from the rows the ingestion statement actually inserted (never from duplicates),
  so a check sees an accepted event within milliseconds of the 202.
- Increments only touch keys that exist (a Lua script); a missing key is rebuilt from the database on
  the next read, and every key expires an hour after it was built, so a counter that drifted (Redis
  restarted, or an increment that raced a rebuild in the few ms between its commit and its increment)
  heals within the hour. Sums use Redis floats and unique counts a HyperLogLog (~0.8% error): fine for
  "87 of 100 devices", and invoices never read these (they use ``billing.services.usage``).
- Metrics with property filters, and deployments without ``REDIS_URL``, read the database instead.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import redis
from django.conf import settings
from django.db.models import Count, Max, Sum

from billing.models import (
    Aggregation,
    BillableMetric,
    Feature,
    Subscription,
    SubscriptionStatus,
    UsageAlert,
    UsageEvent,
)
from billing.services.usage import usage_quantity
from billing.services.usage_aggregate import matches_filters, normalize
from billing.services.usage_writes import InsertedRow
from config.tasks_queue import task_enqueue

LIVE_STATUSES = (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
KEY_TTL_SECONDS = 3600
METRIC_IDS_CACHE_SECONDS = 10.0
PFADD_CHUNK = 1000
ZERO = Decimal(0)

_INCREMENT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'n', ARGV[1])
if ARGV[2] ~= '' then redis.call('HINCRBYFLOAT', KEYS[1], 's', ARGV[2]) end
if ARGV[3] ~= '' then
  local cur = redis.call('HGET', KEYS[1], 'mx')
  if (not cur) or cur == '' or tonumber(ARGV[3]) > tonumber(cur) then redis.call('HSET', KEYS[1], 'mx', ARGV[3]) end
end
if ARGV[4] ~= '' then
  local lt = redis.call('HGET', KEYS[1], 'lt')
  if (not lt) or lt == '' or tonumber(ARGV[4]) >= tonumber(lt) then
    redis.call('HSET', KEYS[1], 'lt', ARGV[4], 'lv', ARGV[5])
  end
end
if #ARGV > 5 and redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PFADD', KEYS[2], unpack(ARGV, 6)) end
return 1
"""

_client: redis.Redis | None = None
_scripts: dict[str, Any] = {}


def redis_client() -> redis.Redis | None:
    """The shared client (one connection pool per process), or None without ``REDIS_URL``."""
    global _client
    if not settings.REDIS_URL:
        return None
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
        _scripts["increment"] = _client.register_script(_INCREMENT)
    return _client


@dataclass(frozen=True)
class LiveMetric:
    id: int
    aggregation: str
    filters: dict[str, Any]


class _MetricIdsCache:
    """Which metrics feed live counters: those a Feature measures (refreshed every 10 s)."""

    def __init__(self) -> None:
        self.ids: set[int] = set()
        self.expires = 0.0

    def clear(self) -> None:
        self.expires = 0.0

    def get(self) -> set[int]:
        now = time.monotonic()
        if now > self.expires:
            self.ids = set(
                Feature.objects.filter(metric__isnull=False, metric__filters={})
                .values_list("metric_id", flat=True)
                .distinct()
            ) | set(_alert_metric_ids())
            self.expires = now + METRIC_IDS_CACHE_SECONDS
        return self.ids


def _alert_metric_ids() -> Iterable[int]:
    return UsageAlert.objects.filter(is_active=True).values_list("metric_id", flat=True).distinct()


metric_ids_cache = _MetricIdsCache()


def live_metric_ids() -> set[int]:
    """Metrics whose inserted rows the ingestion statement returns (for counters and alerts)."""
    return metric_ids_cache.get()


def _key(customer_id: int, metric_id: int, start: datetime, end: datetime) -> str:
    return f"rc:usage:{customer_id}:{metric_id}:{int(start.timestamp())}:{int(end.timestamp())}"


def _micros(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def live_periods(customer_ids: Iterable[int]) -> dict[int, list[tuple[datetime, datetime]]]:
    """The current periods of each customer's live subscriptions."""
    periods: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for customer_id, start, end in Subscription.objects.filter(
        customer_id__in=set(customer_ids), status__in=LIVE_STATUSES
    ).values_list("customer_id", "current_period_start", "current_period_end"):
        if (start, end) not in periods[customer_id]:
            periods[customer_id].append((start, end))
    return periods


def usage_alerts_queue(*, pairs: set[tuple[int, int]]) -> None:
    """Queue a check for the pairs that have an active alert (one cheap query when none do)."""
    if not pairs:
        return
    customers = {customer_id for customer_id, _ in pairs}
    alerted = set(
        UsageAlert.objects.filter(is_active=True, customer_id__in=customers).values_list(
            "customer_id", "metric_id"
        )
    )
    wanted = sorted(pairs & alerted)
    if wanted:
        task_enqueue("billing.tasks.usage_alerts_check_task", pairs=[list(pair) for pair in wanted])


def usage_live_record(*, rows: list[InsertedRow]) -> None:
    """After commit: add inserted rows to the live counters, then queue the usage alerts they touch."""
    client = redis_client()
    if client is not None:
        _record(client, rows)
    usage_alerts_queue(pairs={(row.customer_id, row.metric_id) for row in rows})


def _record(client: redis.Redis, rows: list[InsertedRow]) -> None:
    periods = live_periods(row.customer_id for row in rows)
    deltas: dict[tuple[int, int, datetime, datetime], list[Any]] = {}
    for row in rows:
        for start, end in periods.get(row.customer_id, ()):
            if not start <= row.timestamp < end:
                continue
            delta = deltas.setdefault(
                (row.customer_id, row.metric_id, start, end), [0, ZERO, None, 0, None, set()]
            )
            delta[0] += 1
            if row.value is not None:
                delta[1] += row.value
                delta[2] = row.value if delta[2] is None else max(delta[2], row.value)
                micros = _micros(row.timestamp)
                if micros >= delta[3]:
                    delta[3], delta[4] = micros, row.value
            if row.distinct_value is not None:
                delta[5].add(row.distinct_value)
    if not deltas:
        return
    script = _scripts["increment"]
    with client.pipeline(transaction=False) as pipe:
        for (customer_id, metric_id, start, end), (n, total, peak, lt, lv, distinct) in deltas.items():
            key = _key(customer_id, metric_id, start, end)
            args = [n, str(total) if peak is not None else "", "" if peak is None else str(peak)]
            args += [str(lt), str(lv)] if lv is not None else ["", ""]
            script(keys=[key, key + ":u"], args=args + sorted(distinct), client=pipe)
        pipe.execute()


def _rebuild(
    client: redis.Redis, metric: LiveMetric, customer_id: int, start: datetime, end: datetime
) -> dict[str, str]:
    """Recompute a counter from the database and store it (only if still missing)."""
    events = UsageEvent.objects.filter(
        customer_id=customer_id, metric_id=metric.id, timestamp__gte=start, timestamp__lt=end
    )
    totals = events.aggregate(n=Count("id"), s=Sum("value"), mx=Max("value"))
    fields = {"n": str(totals["n"]), "s": str(totals["s"] or 0), "mx": str(totals["mx"] or "")}
    last = events.order_by("-timestamp", "-id").values_list("timestamp", "value").first()
    if last is not None and last[1] is not None:
        fields |= {"lt": str(_micros(last[0])), "lv": str(last[1])}
    key = _key(customer_id, metric.id, start, end)
    if metric.aggregation == Aggregation.UNIQUE_COUNT:
        distinct: list[str] = [
            value
            for value in events.exclude(distinct_value=None)
            .values_list("distinct_value", flat=True)
            .distinct()
            if value is not None
        ]
        with client.pipeline(transaction=False) as pipe:
            pipe.delete(key + ":u")
            pipe.pfadd(key + ":u")
            for index in range(0, len(distinct), PFADD_CHUNK):
                pipe.pfadd(key + ":u", *distinct[index : index + PFADD_CHUNK])
            pipe.expire(key + ":u", KEY_TTL_SECONDS)
            pipe.execute()
    if client.hsetnx(key, "n", fields["n"]):
        client.hset(key, mapping=fields)  # type: ignore[arg-type]
        client.expire(key, KEY_TTL_SECONDS)
    return fields


def _value(metric: LiveMetric, fields: dict[str, str], distinct: int | None) -> Decimal:
    aggregation = metric.aggregation
    if aggregation == Aggregation.UNIQUE_COUNT:
        return Decimal(distinct or 0)
    raw = {
        Aggregation.COUNT: fields.get("n"),
        Aggregation.SUM: fields.get("s"),
        Aggregation.MAX: fields.get("mx"),
    }.get(aggregation, fields.get("lv"))  # type: ignore[call-overload]
    return normalize(Decimal(raw)) if raw else ZERO


def usage_live_values(*, items: list[tuple[int, BillableMetric, datetime, datetime]]) -> list[Decimal]:
    """Current usage for each (customer_id, metric, period start, period end), from Redis when possible.

    weighted_sum reports the level held now (the latest value), which is what a limit compares to.
    """
    client = redis_client()
    results: list[Decimal | None] = [None] * len(items)
    pending: list[tuple[int, LiveMetric, int, datetime, datetime]] = []
    for index, (customer_id, metric, start, end) in enumerate(items):
        live = LiveMetric(metric.pk, metric.aggregation, metric.filters)
        if client is None or live.filters:
            results[index] = _from_database(customer_id, metric, start, end)
        else:
            pending.append((index, live, customer_id, start, end))
    if pending and client is not None:
        with client.pipeline(transaction=False) as pipe:
            for _, live, customer_id, start, end in pending:
                key = _key(customer_id, live.id, start, end)
                pipe.hgetall(key)
                pipe.pfcount(key + ":u")
            replies = pipe.execute()
        for position, (index, live, customer_id, start, end) in enumerate(pending):
            fields, distinct = replies[2 * position], replies[2 * position + 1]
            if not fields:
                fields = _rebuild(client, live, customer_id, start, end)
                distinct = client.pfcount(_key(customer_id, live.id, start, end) + ":u")
            results[index] = _value(live, fields, distinct)
    return [value if value is not None else ZERO for value in results]


def _from_database(customer_id: int, metric: BillableMetric, start: datetime, end: datetime) -> Decimal:
    if metric.aggregation == Aggregation.WEIGHTED_SUM:
        latest = (
            UsageEvent.objects.filter(customer_id=customer_id, metric_id=metric.pk, timestamp__lt=end)
            .order_by("-timestamp", "-id")
            .values_list("value", "properties")
        )
        for value, properties in latest.iterator(chunk_size=100):
            if not metric.filters or matches_filters(properties or {}, metric.filters):
                return normalize(value) if value is not None else ZERO
        return ZERO
    return usage_quantity(customer_id=customer_id, metric_id=metric.pk, start=start, end=end)


def usage_live_forget(*, pairs: set[tuple[int, int]]) -> None:
    """Drop the live counters of these (customer, metric) pairs: the next read rebuilds them from the
    database (after a void, which no increment can express)."""
    client = redis_client()
    if client is None or not pairs:
        return
    periods = live_periods(customer_id for customer_id, _ in pairs)
    keys = [
        name
        for customer_id, metric_id in sorted(pairs)
        for start, end in periods.get(customer_id, ())
        for name in (
            _key(customer_id, metric_id, start, end),
            _key(customer_id, metric_id, start, end) + ":u",
        )
    ]
    if keys:
        client.delete(*keys)
