"""Read-only usage reports for staff screens: one customer's usage per local day and metric, and as CSV.

A day is a calendar day in the customer's time zone, ``[local midnight, next local midnight)`` (23 or
25 hours on a daylight-saving day). A day's value is the metric's own aggregation over that day, exactly
what ``billing.services.usage.usage_quantities`` would bill for a one-day period: count, sum or max of
the day's events, the number of distinct values seen that day, the day's last value, or for
weighted_sum the time-weighted average level held during the day. A day without usage is ``0``.

Queries (reads only, nothing is written or cached):

- one query picks the metrics to show (those with events of the customer in the period, and
  weighted_sum metrics whose level was set before it);
- unfiltered count/sum/max metrics read the hourly rollups (``UsageRollup``, one row per UTC hour) in
  **one** query for all of them and all days, grouped into local days in Python. That is exact when
  every local midnight of the period falls on a whole UTC hour, as in every zone with a whole-hour
  offset (DST included);
- everything else (unique_count, latest, weighted_sum, metrics with property filters, and count/sum/max
  in zones such as Asia/Kolkata whose midnights fall on a half hour) goes through one
  ``usage_quantities`` call holding every (metric, day) window. It is set-based per window only, so this
  costs about one statement per metric and day (31 days x 3 such metrics = ~93 statements; on SQLite a
  weighted_sum window adds one for the level held before it). ``MAX_DAYS`` bounds that cost.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Exists, OuterRef, Q

from billing.models import Aggregation, BillableMetric, UsageEvent, UsageRollup
from billing.services.usage import UsageQuery, usage_quantities
from billing.services.usage_aggregate import ROLLUP_AGGREGATIONS, is_hour_aligned, normalize

ZERO = Decimal(0)
MAX_DAYS = 92  # a quarter; longer periods would cost ~one statement per day for non-rollup metrics
CSV_HEADER = ("date", "metric", "value")

DailySeries = dict[str, list[tuple[date, Decimal]]]


def _zone(tz: tzinfo | str) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def report_days(start: date, end: date) -> list[date]:
    """The days ``start`` to ``end``, both included; ``ValueError`` if backwards or over ``MAX_DAYS``."""
    if end < start:
        raise ValueError("The period ends before it starts.")
    count = (end - start).days + 1
    if count > MAX_DAYS:
        raise ValueError(f"A usage report covers at most {MAX_DAYS} days.")
    return [start + timedelta(days=offset) for offset in range(count)]


def day_boundaries(days: Sequence[date], tz: tzinfo | str) -> list[datetime]:
    """Local midnights of ``days`` and of the day after the last one, as aware UTC instants.

    A midnight that does not exist (a zone that springs forward at 00:00) is the first instant of that
    day, as zoneinfo's ``fold=0`` maps it; boundaries are strictly increasing.
    """
    zone = _zone(tz)
    edges = [*days, days[-1] + timedelta(days=1)] if days else []
    return [datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC) for day in edges]


def report_metrics(*, customer_id: int, start_at: datetime, end_at: datetime) -> list[BillableMetric]:
    """The metrics a report shows, by code: those with events of the customer in ``[start_at, end_at)``,
    and weighted_sum metrics whose level was set before ``start_at`` (it is still held). One query."""
    events = UsageEvent.objects.filter(customer_id=customer_id, metric_id=OuterRef("pk"))
    in_period = Exists(events.filter(timestamp__gte=start_at, timestamp__lt=end_at))
    held_before = Exists(events.filter(timestamp__lt=start_at))
    return list(
        BillableMetric.objects.filter(
            Q(in_period) | (Q(aggregation=Aggregation.WEIGHTED_SUM) & Q(held_before))
        ).order_by("code")
    )


def _from_rollups(
    customer_id: int, metrics: Sequence[BillableMetric], edges: list[datetime]
) -> dict[int, list[Decimal]]:
    """Per metric id, one value per day from the hourly rollups (one query for all metrics)."""
    days = len(edges) - 1
    counts: dict[int, list[Decimal]] = {m.pk: [ZERO] * days for m in metrics}
    peaks: dict[int, list[Decimal | None]] = {m.pk: [None] * days for m in metrics}
    aggregation = {m.pk: m.aggregation for m in metrics}
    rows = UsageRollup.objects.filter(
        customer_id=customer_id,
        metric_id__in=list(counts),
        hour__gte=edges[0],
        hour__lt=edges[-1],
    ).values_list("metric_id", "hour", "count", "sum", "max")
    for metric_id, hour, count, total, peak in rows.iterator(chunk_size=2000):
        day = bisect_right(edges, hour) - 1
        kind = aggregation[metric_id]
        if kind == Aggregation.COUNT:
            counts[metric_id][day] += Decimal(count)
        elif kind == Aggregation.SUM:
            counts[metric_id][day] += total
        elif peak is not None:
            current = peaks[metric_id][day]
            peaks[metric_id][day] = peak if current is None else max(current, peak)
    result: dict[int, list[Decimal]] = {}
    for metric_id, values in counts.items():
        if aggregation[metric_id] == Aggregation.MAX:
            values = [peak if peak is not None else ZERO for peak in peaks[metric_id]]
        result[metric_id] = [normalize(value) for value in values]
    return result


def daily_usage(
    *,
    customer_id: int,
    start: date,
    end: date,
    tz: tzinfo | str,
    metrics: Sequence[BillableMetric] | None = None,
) -> DailySeries:
    """``{metric code: [(day, value), ...]}`` for the days ``start`` to ``end`` (both included) in ``tz``.

    One entry per day for every metric, zeros included, metrics by code. ``metrics`` defaults to
    ``report_metrics`` over the period. Raises ``ValueError`` for a backwards or too long period.
    """
    days = report_days(start, end)
    edges = day_boundaries(days, tz)
    if metrics is None:
        metrics = report_metrics(customer_id=customer_id, start_at=edges[0], end_at=edges[-1])
    whole_hours = all(is_hour_aligned(edge) for edge in edges)
    rolled = [m for m in metrics if whole_hours and m.aggregation in ROLLUP_AGGREGATIONS and not m.filters]
    values = _from_rollups(customer_id, rolled, edges) if rolled else {}

    rolled_ids = {m.pk for m in rolled}
    queries = {
        (metric.pk, index): UsageQuery(
            customer_id=customer_id, metric_id=metric.pk, start=edges[index], end=edges[index + 1]
        )
        for metric in metrics
        if metric.pk not in rolled_ids
        for index in range(len(days))
    }
    if queries:
        quantities = usage_quantities(queries=list(queries.values()))
        for (metric_id, _), query in queries.items():
            values.setdefault(metric_id, []).append(quantities[query])  # days in order

    return {
        metric.code: list(zip(days, values[metric.pk], strict=True))
        for metric in sorted(metrics, key=lambda m: m.code)
    }


def series_rows(series: DailySeries) -> Iterator[tuple[date, str, Decimal]]:
    """``(day, metric code, value)`` for every day and metric of ``series``, by day then metric code."""
    by_day: dict[date, list[tuple[str, Decimal]]] = {}
    for code in sorted(series):
        for day, value in series[code]:
            by_day.setdefault(day, []).append((code, value))
    for day in sorted(by_day):
        for code, value in by_day[day]:
            yield day, code, value


def usage_csv_rows(
    *, customer_id: int, start: date, end: date, tz: tzinfo | str
) -> Iterator[tuple[date, str, Decimal]]:
    """The rows of a usage CSV export (``CSV_HEADER`` names the columns): ``daily_usage`` flattened."""
    yield from series_rows(daily_usage(customer_id=customer_id, start=start, end=end, tz=tz))
