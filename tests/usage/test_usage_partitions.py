"""Monthly partitions on PostgreSQL: events land in their month, months are created ahead."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.db import connection

from billing.services.usage_partitions import existing_partitions, partition_name, usage_partitions_ensure
from tests.usage.conftest import NOW, event, ingest, pg_only

pytestmark = [pytest.mark.django_db, pg_only]


def test_events_land_in_the_partition_of_their_month(customer: Any, metrics: Any) -> None:
    ingest(event("e1", at=NOW))
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM billing_usageevent")
        assert cursor.fetchone()[0] == partition_name(NOW.date().replace(day=1))


def test_ensure_creates_months_ahead_once() -> None:
    later = datetime(2031, 5, 17, tzinfo=UTC)
    created = usage_partitions_ensure(months_ahead=2, now=later)
    assert created == [partition_name(date(2031, m, 1)) for m in (5, 6, 7)]
    assert usage_partitions_ensure(months_ahead=2, now=later) == []
    assert {partition_name(date(2031, 7, 1)), "billing_usageevent_default"} <= existing_partitions()
