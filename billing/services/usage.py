"""Usage aggregation for billing: the exact quantity of one metric for one customer over a period.

This is the interface invoicing calls (``usage_quantities``, set-based). Semantics per aggregation, over
the half-open window ``[start, end)`` (the caller computes it in the customer's time zone):

- ``count``: number of events; ``sum``: sum of the field; ``max``: largest value of the field;
- ``unique_count``: exact number of distinct values of the field (never a sketch: invoices are exact);
- ``latest``: the value of the last event in the window (by timestamp, then arrival order);
- ``weighted_sum``: the value *held* over time, as seats or storage are: each event sets the level until
  the next event (or the window's end), starting from the level of the last event before the window.
  The result is the time-weighted average level, ``sum(value x seconds held) / window seconds``, i.e.
  Lago's weighted_sum normalised to the period: 10 seats for the whole month bill 10; 10 seats for the
  first half and 20 for the second bill 15. Rounded to 12 decimal places, half up.

A metric's property ``filters`` ({"region": "eu"}, or a list for "any of") restrict which events count.
Missing usage is ``Decimal(0)`` (for max/latest too).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Exists, OuterRef

from billing.models import BillableMetric, UsageEvent
from billing.services.usage_aggregate import aggregate_metric

ZERO = Decimal(0)


@dataclass(frozen=True)
class UsageQuery:
    customer_id: int
    metric_id: int
    start: datetime  # aware, inclusive
    end: datetime  # aware, exclusive


def usage_quantities(*, queries: Sequence[UsageQuery]) -> dict[UsageQuery, Decimal]:
    """Exact aggregated quantity for each query; missing usage is ``Decimal(0)``.

    Set-based: one SQL statement per distinct (metric, start, end) group, whatever the number of
    customers in it. Hour-aligned windows of unfiltered count/sum/max metrics read the hourly rollups.
    """
    groups: dict[tuple[int, datetime, datetime], list[UsageQuery]] = defaultdict(list)
    for query in queries:
        if query.start.tzinfo is None or query.end.tzinfo is None:
            raise ValueError("UsageQuery.start and .end must be timezone-aware.")
        groups[(query.metric_id, query.start, query.end)].append(query)
    metrics = BillableMetric.objects.in_bulk({metric_id for metric_id, _, _ in groups})
    result: dict[UsageQuery, Decimal] = {}
    for (metric_id, start, end), group in groups.items():
        metric = metrics.get(metric_id)
        values: dict[int, Decimal] = {}
        if metric is not None and end > start:
            values = aggregate_metric(
                metric=metric, customer_ids=sorted({q.customer_id for q in group}), start=start, end=end
            )
        for query in group:
            result[query] = values.get(query.customer_id, ZERO)
    return result


def usage_quantity(*, customer_id: int, metric_id: int, start: datetime, end: datetime) -> Decimal:
    """The exact quantity of one metric for one customer over ``[start, end)``."""
    query = UsageQuery(customer_id=customer_id, metric_id=metric_id, start=start, end=end)
    return usage_quantities(queries=[query])[query]


def customer_usage_by_metric(
    *, customer_id: int, start: datetime, end: datetime
) -> list[tuple[str, Decimal]]:
    """(metric code, quantity) for every metric with events of this customer in ``[start, end)``."""
    events = UsageEvent.objects.filter(
        customer_id=customer_id, metric_id=OuterRef("pk"), timestamp__gte=start, timestamp__lt=end
    )
    metrics = list(BillableMetric.objects.filter(Exists(events)).order_by("code"))
    queries = [UsageQuery(customer_id=customer_id, metric_id=m.pk, start=start, end=end) for m in metrics]
    values = usage_quantities(queries=queries)
    return [(metric.code, values[query]) for metric, query in zip(metrics, queries, strict=True)]
