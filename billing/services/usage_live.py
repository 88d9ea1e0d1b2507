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
- A read is one round trip whatever it holds (``READ_SCRIPT``): a caller's own keys (the entitlement
  check's stamps) and each counter reduced to the one figure its aggregation needs.
- Metrics with property filters, and deployments without ``REDIS_URL``, read the database instead.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import redis
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
from config.shared_redis import shared_redis
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
    client = shared_redis()
    if client is not None and client is not _client:
        _client = client
        _scripts["increment"] = client.register_script(_INCREMENT)
    return client


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


# the hash field each aggregation reads (unique_count reads the HyperLogLog beside the hash)
FIELD_OF = {Aggregation.COUNT: "n", Aggregation.SUM: "s", Aggregation.MAX: "mx"}  # else the latest value


def _field(aggregation: str) -> str:
    return "" if aggregation == Aggregation.UNIQUE_COUNT else FIELD_OF.get(aggregation, "lv")  # type: ignore[call-overload]


def _value(aggregation: str, raw: str | int | None) -> Decimal:
    if aggregation == Aggregation.UNIQUE_COUNT:
        return Decimal(raw or 0)
    return normalize(Decimal(raw)) if raw else ZERO


Item = tuple[int, BillableMetric, datetime, datetime]

# One round trip reads a caller's plain keys and any number of counters, each reduced to the one
# figure its aggregation needs (a few bytes to parse rather than whole hashes).
# KEYS: ARGV[1] plain keys (MGET), then per counter its hash and, for a unique count, its HyperLogLog.
# ARGV[2..]: per counter the hash field to return, or '' for a unique count (PFCOUNT).
# Reply: the plain values, then per counter its figure, or false (nil) when the hash is missing (the
# caller rebuilds it from the database).
READ_SCRIPT = """
local plain = tonumber(ARGV[1])
local out = {}
if plain > 0 then out = redis.call('MGET', unpack(KEYS, 1, plain)) end
local k = plain
for i = 2, #ARGV do
  k = k + 1
  local exists = redis.call('EXISTS', KEYS[k]) == 1
  if ARGV[i] == '' then
    k = k + 1
    out[#out + 1] = exists and redis.call('PFCOUNT', KEYS[k])
  else
    out[#out + 1] = exists and (redis.call('HGET', KEYS[k], ARGV[i]) or '')
  end
end
return out
"""
READ_SHA = hashlib.sha1(READ_SCRIPT.encode()).hexdigest()


@dataclass(frozen=True)
class LivePlan:
    """How to read a fixed list of counters with ``READ_SCRIPT`` (built once, e.g. per cached profile).

    ``reads`` are the items Redis holds, in the script's order; the others (metrics with filters) are
    read from the database by ``usage_live_finish``.
    """

    items: tuple[Item, ...]
    reads: tuple[tuple[int, LiveMetric, str], ...]  # (index in items, metric, counter key)
    keys: tuple[str, ...]  # the script's KEYS after the caller's plain keys
    fields: tuple[str, ...]  # the script's ARGV after the count of plain keys

    def script_args(self, plain_keys: Sequence[str]) -> list[str | int]:
        """``EVALSHA``'s arguments after the sha: the caller's ``plain_keys`` read in the same trip."""
        return [len(plain_keys) + len(self.keys), *plain_keys, *self.keys, len(plain_keys), *self.fields]


def usage_live_plan(items: Iterable[Item], *, in_redis: bool = True) -> LivePlan:
    items = tuple(items)
    reads, keys, fields = [], [], []
    for index, (customer_id, metric, start, end) in enumerate(items):
        live = LiveMetric(metric.pk, metric.aggregation, metric.filters)
        if not in_redis or live.filters:
            continue
        key = _key(customer_id, live.id, start, end)
        reads.append((index, live, key))
        field = _field(live.aggregation)
        keys += [key, key + ":u"] if field == "" else [key]
        fields.append(field)
    return LivePlan(items, tuple(reads), tuple(keys), tuple(fields))


def usage_live_finish(plan: LivePlan, figures: Sequence[Any]) -> list[Decimal]:
    """The usage of each of ``plan.items`` from ``READ_SCRIPT``'s per-counter ``figures``: a missing
    counter is rebuilt from the database, a metric Redis does not hold is read from the database."""
    results: list[Decimal | None] = [None] * len(plan.items)
    client = redis_client() if plan.reads else None
    for (index, live, key), figure in zip(plan.reads, figures, strict=True):
        if figure is None and client is not None:
            customer_id, _, start, end = plan.items[index]
            fields = _rebuild(client, live, customer_id, start, end)
            unique = live.aggregation == Aggregation.UNIQUE_COUNT
            figure = client.pfcount(key + ":u") if unique else fields.get(_field(live.aggregation))
        results[index] = _value(live.aggregation, figure)
    for index, (customer_id, metric, start, end) in enumerate(plan.items):
        if results[index] is None:
            results[index] = _from_database(customer_id, metric, start, end)
    return [value if value is not None else ZERO for value in results]


def usage_live_read(client: redis.Redis, plan: LivePlan, plain_keys: Sequence[str]) -> list[Any]:
    """One round trip through the shared client: the plain keys' values, then the plan's figures."""
    if not plain_keys and not plan.keys:
        return []
    try:
        return list(client.evalsha(READ_SHA, *plan.script_args(plain_keys)))  # type: ignore[arg-type]
    except redis.exceptions.NoScriptError:  # a restarted or flushed Redis: load it once, again
        client.script_load(READ_SCRIPT)
        return list(client.evalsha(READ_SHA, *plan.script_args(plain_keys)))  # type: ignore[arg-type]


def usage_live_values(*, items: list[Item]) -> list[Decimal]:
    """Current usage for each (customer_id, metric, period start, period end), from Redis when possible.

    weighted_sum reports the level held now (the latest value), which is what a limit compares to.
    """
    client = redis_client()
    plan = usage_live_plan(items, in_redis=client is not None)
    figures = usage_live_read(client, plan, ()) if client is not None else []
    return usage_live_finish(plan, figures)


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
