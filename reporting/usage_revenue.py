"""Usage revenue per metric per month: real revenue beside MRR, only not recurring.

A usage line counts in the month its service period starts (usage is billed in arrears for the period
it measured), from finalized invoices that are not void, net of nothing: discounts are shown on MRR's
side as they recur, usage is shown as billed.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import Sum
from django.db.models.functions import TruncMonth

from billing.pricing import round_amount
from invoicing.models import InvoiceLine, LineKind
from reporting.months import Month
from reporting.revenue import RECOGNIZED_STATUSES


def usage_revenue_by_month(*, currency: str, months: list[Month]) -> dict[Month, dict[str, Decimal]]:
    """{month: {metric code: amount}} in one grouped query."""
    rows = (
        InvoiceLine.objects.filter(
            kind=LineKind.USAGE,
            invoice__currency=currency,
            invoice__status__in=RECOGNIZED_STATUSES,
            period_start__gte=months[0].start,
            period_start__lt=months[-1].end,
        )
        .annotate(month=TruncMonth("period_start"))
        .values("month", "price__metric__code")
        .annotate(total=Sum("amount"))
        .order_by("month", "price__metric__code")
    )
    out: dict[Month, dict[str, Decimal]] = defaultdict(dict)
    for row in rows:
        code = row["price__metric__code"] or "usage"
        out[Month.of(row["month"])][code] = round_amount(row["total"], currency)
    return out
