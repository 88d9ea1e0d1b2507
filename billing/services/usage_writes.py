"""The bulk write of a validated batch: dedup key, event, hourly rollup, in one statement.

PostgreSQL: the batch is COPied (binary) into a session-temporary staging table, then one
data-modifying CTE chain inserts the (customer, event_id) keys with ``ON CONFLICT DO NOTHING``, inserts
only the events whose key was new (so a retry with a regenerated timestamp, which would land in another
partition, is still a duplicate), and upserts the hourly rollups from exactly those inserted rows. Rows
are taken in key order so concurrent batches lock keys and rollup rows in the same order (no deadlocks).

SQLite (the demo): the same three steps as separate statements in the caller's transaction; the keys
are still written with ``ON CONFLICT DO NOTHING ... RETURNING`` (no read-then-write).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

import psycopg
from django.db import connection

from accounts.models import Customer
from billing.models import BillableMetric
from billing.services.usage_aggregate import hour_floor


class EventRow(NamedTuple):
    """A validated event, ready to write (properties already JSON text)."""

    customer_id: int
    metric_id: int
    event_id: str
    timestamp: datetime
    value: Decimal | None
    distinct_value: str | None
    properties: str


class InsertedRow(NamedTuple):
    """An event that was actually inserted (not a duplicate), as the live counters need it."""

    customer_id: int
    metric_id: int
    timestamp: datetime
    value: Decimal | None
    distinct_value: str | None


STAGING_TABLE_SQL = """
CREATE TEMP TABLE IF NOT EXISTS usage_event_staging (
    customer_id bigint, metric_id bigint, event_id text, ts timestamptz, value numeric,
    distinct_value text, properties text
) ON COMMIT DELETE ROWS
"""
STAGING_COPY = "COPY usage_event_staging FROM STDIN (FORMAT BINARY)"
STAGING_TYPES = ["int8", "int8", "text", "timestamptz", "numeric", "text", "text"]

POSTGRES_INSERT = """
WITH new_keys AS (
    INSERT INTO billing_usageeventkey (customer_id, event_id, metric_id, "timestamp")
    SELECT customer_id, event_id, metric_id, ts FROM usage_event_staging
    ORDER BY customer_id, event_id COLLATE "C"
    ON CONFLICT DO NOTHING
    RETURNING customer_id, event_id
), inserted AS (
    INSERT INTO billing_usageevent
        (customer_id, metric_id, event_id, "timestamp", value, distinct_value, properties)
    SELECT s.customer_id, s.metric_id, s.event_id, s.ts, s.value, s.distinct_value, s.properties::jsonb
    FROM usage_event_staging s
    JOIN new_keys k ON k.customer_id = s.customer_id AND k.event_id = s.event_id COLLATE "C"
    RETURNING customer_id, metric_id, "timestamp", value, distinct_value
), rolled AS (
    INSERT INTO billing_usagerollup AS r (customer_id, metric_id, hour, count, sum, max)
    SELECT customer_id, metric_id, date_trunc('hour', "timestamp", 'UTC'), count(*),
           coalesce(sum(value), 0), max(value)
    FROM inserted GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (customer_id, metric_id, hour) DO UPDATE
    SET count = r.count + excluded.count, sum = r.sum + excluded.sum, max = greatest(r.max, excluded.max)
)
SELECT customer_id, metric_id, "timestamp", value, distinct_value
FROM inserted WHERE metric_id = ANY(%s::bigint[])
UNION ALL
SELECT NULL, count(*), NULL, NULL, NULL FROM inserted
"""


class StaleReference(Exception):
    """A row names a customer or metric id that no longer exists (a lookup cache outlived a delete).

    Raised from inside the caller's transaction, which must roll back; nothing was written.
    """


def write_events(rows: list[EventRow], *, live_metric_ids: set[int]) -> tuple[int, list[InsertedRow]]:
    """Insert the batch exactly once; return (accepted, the inserted rows of ``live_metric_ids``).

    ``rows`` must not repeat a (customer_id, event_id) (the caller drops in-batch repeats). The insert
    itself checks that every customer and metric still exists (foreign keys on PostgreSQL, a query
    elsewhere) and raises ``StaleReference`` otherwise.
    """
    if not rows:
        return 0, []
    if connection.vendor == "postgresql":
        try:
            return _write_postgres(rows, live_metric_ids)
        except psycopg.errors.ForeignKeyViolation as exc:
            raise StaleReference(str(exc)) from exc
    _check_references(rows)
    return _write_generic(rows, live_metric_ids)


def _check_references(rows: list[EventRow]) -> None:
    """The demo database has no foreign keys on the event table: check the ids the batch names."""
    customer_ids = {row.customer_id for row in rows}
    metric_ids = {row.metric_id for row in rows}
    if Customer.objects.filter(pk__in=customer_ids).count() != len(customer_ids) or (
        BillableMetric.objects.filter(pk__in=metric_ids).count() != len(metric_ids)
    ):
        raise StaleReference("a customer or metric of the batch no longer exists")


def _write_postgres(rows: list[EventRow], live_metric_ids: set[int]) -> tuple[int, list[InsertedRow]]:
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        # Every time (a no-op once it exists): a rolled-back transaction may have taken it away.
        # Emptied first, in the same round trip: ON COMMIT only empties it between transactions, and
        # several batches in one transaction must not re-process each other's rows.
        cursor.execute(STAGING_TABLE_SQL + "; TRUNCATE usage_event_staging")
        # Binary COPY formats the rows in C: ~5x cheaper than adapting 7,000 array parameters.
        with cursor.copy(STAGING_COPY) as copy:
            copy.set_types(STAGING_TYPES)
            for row in rows:
                copy.write_row(row)
        cursor.execute(POSTGRES_INSERT, [sorted(live_metric_ids)], binary=True)
        result = cursor.fetchall()
    accepted = 0
    inserted: list[InsertedRow] = []
    for row in result:
        if row[0] is None:
            accepted = int(row[1])
        else:
            inserted.append(InsertedRow(*row))
    return accepted, inserted


SQLITE_KEY_CHUNK = 200  # 4 parameters a row, under SQLite's 999


def _write_generic(rows: list[EventRow], live_metric_ids: set[int]) -> tuple[int, list[InsertedRow]]:
    ops = connection.ops
    new_keys: set[tuple[int, str]] = set()
    with connection.cursor() as cursor:
        for index in range(0, len(rows), SQLITE_KEY_CHUNK):
            chunk = rows[index : index + SQLITE_KEY_CHUNK]
            values = ", ".join(["(%s, %s, %s, %s)"] * len(chunk))
            params: list[Any] = [
                item
                for row in chunk
                for item in (
                    row.customer_id,
                    row.event_id,
                    row.metric_id,
                    ops.adapt_datetimefield_value(row.timestamp),
                )
            ]
            cursor.execute(
                "INSERT INTO billing_usageeventkey (customer_id, event_id, metric_id, timestamp)"
                f" VALUES {values} ON CONFLICT DO NOTHING RETURNING customer_id, event_id",
                params,
            )
            new_keys.update((int(c), str(e)) for c, e in cursor.fetchall())
        fresh = [row for row in rows if (row.customer_id, row.event_id) in new_keys]
        cursor.executemany(
            "INSERT INTO billing_usageevent"
            " (customer_id, metric_id, event_id, timestamp, value, distinct_value, properties)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    row.customer_id,
                    row.metric_id,
                    row.event_id,
                    ops.adapt_datetimefield_value(row.timestamp),
                    ops.adapt_decimalfield_value(row.value, 38, 12),
                    row.distinct_value,
                    row.properties,
                )
                for row in fresh
            ],
        )
        deltas: dict[tuple[int, int, datetime], list[Any]] = defaultdict(lambda: [0, Decimal(0), None])
        for row in fresh:
            delta = deltas[(row.customer_id, row.metric_id, hour_floor(row.timestamp))]
            delta[0] += 1
            if row.value is not None:
                delta[1] += row.value
                delta[2] = row.value if delta[2] is None else max(delta[2], row.value)
        cursor.executemany(
            "INSERT INTO billing_usagerollup (customer_id, metric_id, hour, count, sum, max)"
            " VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (customer_id, metric_id, hour) DO UPDATE SET"
            " count = billing_usagerollup.count + excluded.count,"
            " sum = billing_usagerollup.sum + excluded.sum,"
            " max = CASE WHEN billing_usagerollup.max IS NULL OR excluded.max > billing_usagerollup.max"
            " THEN excluded.max ELSE billing_usagerollup.max END",
            [
                (
                    customer_id,
                    metric_id,
                    ops.adapt_datetimefield_value(hour),
                    count,
                    ops.adapt_decimalfield_value(total, 38, 12),
                    ops.adapt_decimalfield_value(peak, 38, 12),
                )
                for (customer_id, metric_id, hour), (count, total, peak) in sorted(deltas.items())
            ],
        )
    inserted = [
        InsertedRow(row.customer_id, row.metric_id, row.timestamp, row.value, row.distinct_value)
        for row in fresh
        if row.metric_id in live_metric_ids
    ]
    return len(fresh), inserted
