"""Monthly partitions of ``billing_usageevent`` on PostgreSQL, created ahead of time.

Migration 0002 creates the partitioned table, a DEFAULT partition and the months around the migrate
date; ``usage_partitions_ensure`` (a daily Celery task) keeps ``months_ahead`` future months ready, so
events never pile up in the DEFAULT partition (a month cannot be attached while DEFAULT holds rows of
it). Old months can be detached (``usage_partition_detach``) and archived without touching the rest.
Nothing to do on other databases: there the event table is a plain table.
"""

from __future__ import annotations

from datetime import date, datetime

import structlog
from django.db import connection
from django.utils import timezone

log = structlog.get_logger(__name__)

TABLE = "billing_usageevent"


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{TABLE}_p{month:%Y_%m}"


def existing_partitions() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [TABLE],
        )
        return {row[0] for row in cursor.fetchall()}


def usage_partitions_ensure(*, months_ahead: int = 3, now: datetime | None = None) -> list[str]:
    """Create the current month's and the next ``months_ahead`` months' partitions; return new names."""
    if connection.vendor != "postgresql":
        return []
    first = (now or timezone.now()).date().replace(day=1)
    have = existing_partitions()
    created: list[str] = []
    for offset in range(months_ahead + 1):
        start, end = _add_months(first, offset), _add_months(first, offset + 1)
        name = partition_name(start)
        if name in have:
            continue
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {TABLE}"
                f" FOR VALUES FROM ('{start.isoformat()} 00:00:00+00') TO ('{end.isoformat()} 00:00:00+00')"
            )
        created.append(name)
        log.info("usage.partition_created", partition=name)
    return created


def usage_partition_detach(*, month: date) -> str:
    """Detach one month (it stays as a plain table to archive or drop); returns its name."""
    name = partition_name(month.replace(day=1))
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} DETACH PARTITION {name}")
    log.info("usage.partition_detached", partition=name)
    return name
