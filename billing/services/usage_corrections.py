"""Usage changed for time that may already be invoiced (a void, a backfill): remember how far back.

Billing runs look for late-usage adjustments within the late-event limit before the periods they bill
(nothing older can arrive through the normal path). A void or a backfill can reach further back, so it
records the earliest time it touched per customer, and billing looks back that far for that customer's
subscriptions: a finalized invoice is never changed, the next one gets the ``adjustment`` line.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db.models import Min

from billing.models import UsageCorrection
from billing.services.usage_hooks import UsageTouch


def usage_corrections_record(*, touches: Sequence[UsageTouch]) -> None:
    """One row per customer: the earliest event time this correction touched (call in its transaction)."""
    earliest: dict[int, datetime] = {}
    for touch in touches:
        seen = earliest.get(touch.customer_id)
        if seen is None or touch.timestamp < seen:
            earliest[touch.customer_id] = touch.timestamp
    UsageCorrection.objects.bulk_create(
        [
            UsageCorrection(customer_id=customer_id, earliest=when)
            for customer_id, when in sorted(earliest.items())
        ]
    )


def usage_corrections_since(*, customer_ids: Sequence[int], before: datetime) -> datetime | None:
    """The earliest corrected time before ``before`` among these customers, if any."""
    found: datetime | None = UsageCorrection.objects.filter(
        customer_id__in=customer_ids, earliest__lt=before
    ).aggregate(earliest=Min("earliest"))["earliest"]
    return found
