"""Celery tasks of the billing app: thin wrappers around services (ids in, a task may run twice)."""

from __future__ import annotations

from celery import shared_task

from billing.services.usage_alerts import usage_alerts_check
from billing.services.usage_partitions import usage_partitions_ensure


@shared_task(acks_late=True)
def usage_partitions_ensure_task(months_ahead: int = 3) -> list[str]:
    """Daily: keep the next months' usage event partitions ready."""
    return usage_partitions_ensure(months_ahead=months_ahead)


@shared_task(acks_late=True)
def usage_alerts_check_task(pairs: list[list[int]]) -> int:
    """After an ingestion: evaluate the alerts of these (customer_id, metric_id) pairs."""
    return len(usage_alerts_check(pairs=[(customer_id, metric_id) for customer_id, metric_id in pairs]))
