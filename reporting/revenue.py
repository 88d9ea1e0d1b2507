"""Revenue recognition per calendar month (API.md, Reports), as Stripe Revenue Recognition does.

Each line of a finalized (not void) invoice, net of its discounts and without tax, is recognized
ratably over its service period by exact time (a day is recognized as a day's share); a line without a
service period is recognized on its invoice's issue day. Recognition is cumulative and rounded once per
month boundary with the one rounding rule, so a line's monthly amounts add up to its amount exactly and
the rounding remainder lands in its last month. ``deferred`` at a month's end is what has been invoiced
by then and not yet recognized.

Discount lines are lines too: a coupon on a period is recognized over the same period as the fees it
reduces, which is what "net of discounts" means month by month.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

from django.db.models import BooleanField, Case, F, Q, QuerySet, Sum, Value, When
from django.db.models.functions import ExtractMonth, ExtractYear, TruncMonth

from billing.pricing import prorate, round_amount
from invoicing.models import Invoice, InvoiceLine, InvoiceStatus
from reporting.months import Month

RECOGNIZED_STATUSES = (InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.UNCOLLECTIBLE)


@dataclass
class RevenueMonth:
    month: Month
    invoiced: Decimal
    recognized: Decimal
    deferred: Decimal
    invoice_ids: set[int] = field(default_factory=set)  # invoices issued in the month (the drill-down)


def recognized_through(
    amount: Decimal, start: datetime, end: datetime, moment: datetime, currency: str
) -> Decimal:
    """How much of a line serving ``[start, end)`` is recognized before ``moment``: cumulative, rounded once.

    A line without a service period (``start == end``: its issue instant) is all recognized at once.
    """
    if moment <= start:
        return round_amount(Decimal(0), currency)
    if moment >= end:
        return amount
    share = Fraction(int((moment - start).total_seconds()), int((end - start).total_seconds()))
    return round_amount(prorate(amount, share), currency)


def _lines() -> QuerySet[InvoiceLine]:
    """Finalized lines with their recognition span ``[s, e)``: the service period, or the issue instant
    when a line has none; and the months (as year * 12 + month - 1, in UTC) where each starts and ends."""
    no_period = (
        Q(period_start__isnull=True) | Q(period_end__isnull=True) | Q(period_end__lte=F("period_start"))
    )
    issued = F("invoice__issued_at")
    return InvoiceLine.objects.annotate(
        s=Case(When(no_period, then=issued), default=F("period_start")),
        e=Case(When(no_period, then=issued), default=F("period_end")),
    ).annotate(
        s_month=ExtractYear("s", tzinfo=UTC) * 12 + ExtractMonth("s", tzinfo=UTC) - 1,
        e_month=ExtractYear("e", tzinfo=UTC) * 12 + ExtractMonth("e", tzinfo=UTC) - 1,
        issued_month=ExtractYear(issued, tzinfo=UTC) * 12 + ExtractMonth(issued, tzinfo=UTC) - 1,
        e_at_month_start=Case(
            When(e=TruncMonth("e", tzinfo=UTC), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        ),
    )


def _month(index: int) -> Month:
    return Month(index // 12, index % 12 + 1)


def revenue_report(*, currency: str, months: list[Month]) -> list[RevenueMonth]:
    """Invoiced, recognized and deferred for each month, from finalized invoice lines.

    A line whose span lies within one calendar month (most lines: monthly fees, usage, one-offs) is
    recognized whole in that month with nothing to round, so those are summed by the database, grouped
    by issue month and recognition month. Only the lines that cross a month's end are read one by one
    and recognized by exact time, each rounded with the one rule.
    """
    zero = round_amount(Decimal(0), currency)
    finalized = _lines().filter(
        invoice__currency=currency,
        invoice__status__in=RECOGNIZED_STATUSES,
        invoice__issued_at__lt=months[-1].end,
    )
    within_one_month = Q(s_month=F("e_month")) | Q(e_month=F("s_month") + 1, e_at_month_start=True)
    index = {m: i for i, m in enumerate(months)}
    invoiced: dict[Month, Decimal] = defaultdict(Decimal)
    recognized = [zero] * len(months)
    deferred_diff = [zero] * (len(months) + 1)  # amounts deferred over a run of months, as differences
    deferred = [zero] * len(months)
    bounds = [m.end for m in months]
    first, last = months[0], months[-1]
    grouped = (
        finalized.filter(within_one_month)
        .values("issued_month", "s_month")  # type: ignore[misc]  # annotations of _lines()
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for row in grouped:
        issued, served, amount = _month(row["issued_month"]), _month(row["s_month"]), row["total"]
        invoiced[issued] += amount
        if first <= served <= last:
            recognized[index[served]] += amount
        # deferred at the end of each month from its issue to before its service month
        lo = max(bisect_right(bounds, issued.start), 0)
        hi = bisect_right(bounds, served.start)
        if lo < hi:
            deferred_diff[lo] += amount
            deferred_diff[hi] -= amount
    crossing = (
        finalized.exclude(within_one_month).values_list("amount", "s", "e", "invoice__issued_at").order_by()  # type: ignore[misc]
    )
    before_first = first.start
    for amount, start, end, issued_at in crossing.iterator(chunk_size=5000):
        invoiced[Month.of(issued_at)] += amount
        # Month ends at or before the start recognize nothing yet, those at or after the end all of it;
        # only the ends inside the period need the (cumulative, rounded) share.
        nothing_until = bisect_right(bounds, start)
        all_from = max(bisect_left(bounds, end), nothing_until)
        deferred_from = bisect_right(bounds, issued_at)  # deferred counts from the month it was issued
        done = recognized_through(amount, start, end, before_first, currency)
        for i in range(nothing_until, min(all_from, len(months))):
            through = recognized_through(amount, start, end, bounds[i], currency)
            recognized[i] += through - done
            done = through
            if i >= deferred_from:
                deferred[i] += amount - through
        if all_from < len(months):
            recognized[all_from] += amount - done
        if deferred_from < nothing_until:  # issued before its period: all of it deferred till it starts
            deferred_diff[deferred_from] += amount
            deferred_diff[min(nothing_until, len(months))] -= amount
    running = zero
    for i in range(len(months)):
        running += deferred_diff[i]
        deferred[i] += running
    invoices: dict[Month, set[int]] = defaultdict(set)
    for invoice_id, year, month in (
        Invoice.objects.filter(
            currency=currency,
            status__in=RECOGNIZED_STATUSES,
            issued_at__gte=first.start,
            issued_at__lt=last.end,
        )
        .values_list("id", ExtractYear("issued_at", tzinfo=UTC), ExtractMonth("issued_at", tzinfo=UTC))
        .order_by()
    ):
        invoices[Month(year, month)].add(invoice_id)
    return [
        RevenueMonth(
            month=m,
            invoiced=invoiced.get(m, zero) + zero,
            recognized=recognized[i] + zero,
            deferred=deferred[i] + zero,
            invoice_ids=invoices.get(m, set()),
        )
        for i, m in enumerate(months)
    ]
