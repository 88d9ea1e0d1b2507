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
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from billing.pricing import prorate, round_amount
from invoicing.models import InvoiceLine, InvoiceStatus
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


def revenue_report(*, currency: str, months: list[Month]) -> list[RevenueMonth]:
    """Invoiced, recognized and deferred for each month, from finalized invoice lines."""
    zero = round_amount(Decimal(0), currency)
    rows = (
        InvoiceLine.objects.filter(
            invoice__currency=currency,
            invoice__status__in=RECOGNIZED_STATUSES,
            invoice__issued_at__lt=months[-1].end,
        )
        .values_list("invoice_id", "amount", "period_start", "period_end", "invoice__issued_at")
        .order_by()
    )
    invoiced: dict[Month, Decimal] = defaultdict(Decimal)
    invoices: dict[Month, set[int]] = defaultdict(set)
    recognized = [zero] * len(months)
    deferred_diff = [zero] * (len(months) + 1)  # amounts deferred over a run of months, as differences
    deferred = [zero] * len(months)
    bounds = [m.end for m in months]
    before_first = months[0].start
    for invoice_id, amount, start, end, issued_at in rows.iterator(chunk_size=5000):
        assert issued_at is not None  # finalized invoices are issued
        issued = Month.of(issued_at)
        invoiced[issued] += amount
        invoices[issued].add(invoice_id)
        if start is None or end is None or end <= start:
            start = end = issued_at  # no service period: all of it on the issue day
        # Month ends at or before the start recognize nothing yet, those at or after the end all of it;
        # only the ends inside the period need the (cumulative, rounded) share. Most lines have none.
        nothing_until = bisect_right(bounds, start)
        all_from = max(bisect_left(bounds, end), nothing_until)  # an instant at a month end: the next month
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
