"""How one metric is aggregated for many customers over one window: SQL on PostgreSQL, Python elsewhere.

PostgreSQL: one statement per call, over the hourly rollups when the window is hour-aligned (UTC) and
the metric is an unfiltered count/sum/max, otherwise over the raw events through the
(customer_id, metric_id, timestamp) index. SQLite (the demo) reads the raw rows and aggregates them in
Python with Decimals, so both give exactly the same numbers; the Python code is the reference.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection

from billing.models import Aggregation, BillableMetric, UsageEvent

ZERO = Decimal(0)
PLACES = Decimal("0.000000000001")  # 12 decimal places, as quantities are stored
ROLLUP_AGGREGATIONS = {Aggregation.COUNT, Aggregation.SUM, Aggregation.MAX}
SQLITE_CHUNK = 500  # customers per IN (...) on SQLite


def normalize(value: Decimal) -> Decimal:
    """Drop trailing zeros without going to exponent notation (``Decimal("120.000")`` -> ``120``)."""
    value = value.normalize()
    return value.quantize(Decimal(1)) if value.as_tuple().exponent > 0 else value  # type: ignore[operator]


def window_seconds(start: datetime, end: datetime) -> Decimal:
    """Exact length of ``[start, end)`` in seconds (timedelta.total_seconds() is a float)."""
    delta = end - start
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / 1_000_000


def is_hour_aligned(moment: datetime) -> bool:
    utc = moment.astimezone(UTC)
    return utc.minute == 0 and utc.second == 0 and utc.microsecond == 0


def uses_rollups(metric: BillableMetric, start: datetime, end: datetime) -> bool:
    return (
        metric.aggregation in ROLLUP_AGGREGATIONS
        and not metric.filters
        and is_hour_aligned(start)
        and is_hour_aligned(end)
    )


# --- property filters --------------------------------------------------------------------------------


def filter_alternatives(filters: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """``{"region": "eu", "tier": ["a", "b"]}`` -> ``[("region", ["eu"]), ("tier", ["a", "b"])]``."""
    return [(key, value if isinstance(value, list) else [value]) for key, value in sorted(filters.items())]


def _json_equal(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return actual is wanted  # JSON true is not 1
    if isinstance(actual, int | float | Decimal) and isinstance(wanted, int | float | Decimal):
        return Decimal(str(actual)) == Decimal(str(wanted))
    return bool(actual == wanted)


def matches_filters(properties: dict[str, Any], filters: dict[str, Any]) -> bool:
    """Python twin of the SQL filter: every key equals one of its allowed values."""
    for key, allowed in filter_alternatives(filters):
        if key not in properties or not any(_json_equal(properties[key], v) for v in allowed):
            return False
    return True


def filters_sql(filters: dict[str, Any], alias: str = "") -> tuple[str, list[Any]]:
    """`` AND (properties @> '{"region":"eu"}' OR ...)`` per key: jsonb containment uses no extraction."""
    column = f"{alias}.properties" if alias else "properties"
    sql = ""
    params: list[Any] = []
    for key, allowed in filter_alternatives(filters):
        ors = " OR ".join(f"{column} @> %s::jsonb" for _ in allowed)
        sql += f" AND ({ors})"
        params.extend(json.dumps({key: value}) for value in allowed)
    return sql, params


# --- entry point ---------------------------------------------------------------------------------------


def aggregate_metric(
    *, metric: BillableMetric, customer_ids: list[int], start: datetime, end: datetime
) -> dict[int, Decimal]:
    """Quantity per customer (customers without usage may be absent)."""
    if not customer_ids:
        return {}
    if connection.vendor == "postgresql":
        raw = _aggregate_postgres(metric, customer_ids, start, end)
    else:
        raw = _aggregate_python(metric, customer_ids, start, end)
    return {customer_id: normalize(value) for customer_id, value in raw.items()}


# --- PostgreSQL ----------------------------------------------------------------------------------------

_SIMPLE_SELECT = {
    Aggregation.COUNT: "count(*)",
    Aggregation.SUM: "sum(value)",
    Aggregation.MAX: "max(value)",
    Aggregation.UNIQUE_COUNT: "count(DISTINCT distinct_value)",
}
_ROLLUP_SELECT = {
    Aggregation.COUNT: "sum(count)",
    Aggregation.SUM: "sum(sum)",
    Aggregation.MAX: "max(max)",
}


def _fetch(sql: str, params: list[Any]) -> dict[int, Decimal]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0]: Decimal(row[1]) for row in cursor.fetchall() if row[1] is not None}


def _aggregate_postgres(
    metric: BillableMetric, customer_ids: list[int], start: datetime, end: datetime
) -> dict[int, Decimal]:
    aggregation = metric.aggregation
    if uses_rollups(metric, start, end):
        return _fetch(
            f"SELECT customer_id, {_ROLLUP_SELECT[aggregation]} FROM billing_usagerollup"  # type: ignore[index]
            " WHERE metric_id = %s AND customer_id = ANY(%s) AND hour >= %s AND hour < %s"
            " GROUP BY customer_id",
            [metric.pk, customer_ids, start, end],
        )
    where_filters, filter_params = filters_sql(metric.filters)
    base = [metric.pk, customer_ids, start, end]
    where = (
        'metric_id = %s AND customer_id = ANY(%s) AND "timestamp" >= %s AND "timestamp" < %s' + where_filters
    )
    if aggregation in _SIMPLE_SELECT:
        return _fetch(
            f"SELECT customer_id, {_SIMPLE_SELECT[aggregation]} FROM billing_usageevent"  # type: ignore[index]
            f" WHERE {where} GROUP BY customer_id",
            base + filter_params,
        )
    if aggregation == Aggregation.LATEST:
        return _fetch(
            f"SELECT DISTINCT ON (customer_id) customer_id, value FROM billing_usageevent WHERE {where}"
            ' ORDER BY customer_id, "timestamp" DESC, id DESC',
            base + filter_params,
        )
    if aggregation == Aggregation.WEIGHTED_SUM:
        prior_filters, prior_params = filters_sql(metric.filters, alias="e")
        totals = _fetch(
            f"""
            WITH prior AS (
                SELECT c.customer_id, p.value
                FROM unnest(%s::bigint[]) AS c(customer_id)
                CROSS JOIN LATERAL (
                    SELECT e.value FROM billing_usageevent e
                    WHERE e.customer_id = c.customer_id AND e.metric_id = %s AND e."timestamp" < %s
                    {prior_filters}
                    ORDER BY e."timestamp" DESC, e.id DESC LIMIT 1
                ) p
            ), points AS (
                SELECT customer_id, %s::timestamptz AS ts, 0::bigint AS seq, value FROM prior
                UNION ALL
                SELECT customer_id, "timestamp", id, value FROM billing_usageevent WHERE {where}
            ), spans AS (
                SELECT customer_id, value, EXTRACT(EPOCH FROM
                    coalesce(lead(ts) OVER (PARTITION BY customer_id ORDER BY ts, seq), %s::timestamptz) - ts
                ) AS seconds
                FROM points
            )
            SELECT customer_id, sum(value * seconds) FROM spans GROUP BY customer_id
            """,
            [customer_ids, metric.pk, start, *prior_params, start, *base, *filter_params, end],
        )
        length = window_seconds(start, end)
        return {cid: (total / length).quantize(PLACES, ROUND_HALF_UP) for cid, total in totals.items()}
    raise ValueError(f"Unknown aggregation {aggregation!r}")


# --- Python (SQLite and any other database) ---------------------------------------------------------------


def _rows(metric: BillableMetric, customer_ids: list[int], **bounds: datetime) -> Iterable[tuple[Any, ...]]:
    for index in range(0, len(customer_ids), SQLITE_CHUNK):
        chunk = customer_ids[index : index + SQLITE_CHUNK]
        rows = (
            UsageEvent.objects.filter(metric_id=metric.pk, customer_id__in=chunk, **bounds)
            .order_by("customer_id", "timestamp", "id")
            .values_list("customer_id", "timestamp", "value", "distinct_value", "properties")
        )
        for row in rows.iterator(chunk_size=2000):
            if not metric.filters or matches_filters(row[4] or {}, metric.filters):
                yield row


def _aggregate_python(
    metric: BillableMetric, customer_ids: list[int], start: datetime, end: datetime
) -> dict[int, Decimal]:
    aggregation = metric.aggregation
    by_customer: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in _rows(metric, customer_ids, timestamp__gte=start, timestamp__lt=end):
        by_customer[row[0]].append(row)  # ordered by timestamp, then id
    result: dict[int, Decimal] = {}
    if aggregation == Aggregation.WEIGHTED_SUM:
        length = window_seconds(start, end)
        for customer_id in customer_ids:
            level = _level_before(metric, customer_id, start)
            events = by_customer.get(customer_id, [])
            if level is None and not events:
                continue
            total, since = ZERO, start
            for _, moment, value, _, _ in events:
                total += (level or ZERO) * window_seconds(since, moment)
                level, since = value, moment
            total += (level or ZERO) * window_seconds(since, end)
            result[customer_id] = (total / length).quantize(PLACES, ROUND_HALF_UP)
        return result
    for customer_id, events in by_customer.items():
        values = [row[2] for row in events if row[2] is not None]
        if aggregation == Aggregation.COUNT:
            result[customer_id] = Decimal(len(events))
        elif aggregation == Aggregation.SUM:
            result[customer_id] = sum(values, ZERO)
        elif aggregation == Aggregation.MAX:
            result[customer_id] = max(values) if values else ZERO
        elif aggregation == Aggregation.UNIQUE_COUNT:
            result[customer_id] = Decimal(len({row[3] for row in events if row[3] is not None}))
        elif aggregation == Aggregation.LATEST:
            result[customer_id] = events[-1][2] if events[-1][2] is not None else ZERO
        else:
            raise ValueError(f"Unknown aggregation {aggregation!r}")
    return result


def _level_before(metric: BillableMetric, customer_id: int, start: datetime) -> Decimal | None:
    """The level held when the window opens: the last event before it (a query per customer: the
    Python path serves the demo database; PostgreSQL does this set-based with a LATERAL join)."""
    rows = (
        UsageEvent.objects.filter(metric_id=metric.pk, customer_id=customer_id, timestamp__lt=start)
        .order_by("-timestamp", "-id")
        .values_list("value", "properties")
    )
    if not metric.filters:
        first = rows.first()
        return first[0] if first else None
    for value, properties in rows.iterator(chunk_size=200):
        if matches_filters(properties or {}, metric.filters):
            return value  # type: ignore[no-any-return]
    return None


def hour_floor(moment: datetime) -> datetime:
    """The UTC hour a moment falls in (the rollup bucket)."""
    utc = moment.astimezone(UTC)
    return utc - timedelta(minutes=utc.minute, seconds=utc.second, microseconds=utc.microsecond)
