"""Finance's pages in the admin: the dashboard (finance's admin index) and the reports with drill-down.

Every page reads the report services (``reporting.mrr``, ``revenue``, ``aging``): the figures are the
API's figures. Finance (the ``reporting.see_finance_reports`` permission; superusers have it) sees them;
other staff get Django's usual index at ``/admin/`` and a 403 on the report pages. A figure links to what
it is made of: an aging cell to its invoices, a month's invoiced amount to the invoices issued that month,
a movement to the customers who moved and their subscriptions.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from billing.display import format_money
from billing.pricing.money import minor_unit_exponent
from config.errors import ValidationFailed
from reporting.aging import BUCKETS, ar_aging_report
from reporting.currencies import report_currencies, report_currency
from reporting.dashboard import BUCKET_LABELS, MOVEMENT_LABELS, finance_dashboard
from reporting.months import Month, month_range, months_ending, parse_month
from reporting.mrr import mrr_report
from reporting.revenue import RECOGNIZED_STATUSES, revenue_report

PERMISSION = "reporting.see_finance_reports"
MAX_LINKED_IDS = 500  # a longer id list makes an unwieldy URL: the figure is shown without its link


def is_finance(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_staff and request.user.has_perm(PERMISSION))


def finance_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged-in staff (else the admin login page), with the finance reports permission (else 403)."""

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_finance(request):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return admin.site.admin_view(wrapped)


def changelist(app_model: str, **params: Any) -> str:
    return f"{reverse(f'admin:{app_model}_changelist')}?{urlencode(params)}"


def invoices_url(ids: list[int]) -> str | None:
    if not ids or len(ids) > MAX_LINKED_IDS:
        return None
    return changelist("invoicing_invoice", id__in=",".join(str(i) for i in sorted(ids)))


def api_csv_url(report: str, **params: Any) -> str:
    return f"/api/v1/reports/{report}?{urlencode({**params, 'format': 'csv'})}"


def chosen_currency(request: HttpRequest, errors: list[str]) -> str:
    try:
        return report_currency(request.GET.get("currency"))
    except ValidationFailed as exc:
        errors.append(exc.message)
        return report_currency(None)


def chosen_months(request: HttpRequest, errors: list[str]) -> list[Month]:
    """``from`` and ``to`` as YYYY-MM (a month input); the last 12 months up to this one by default."""
    try:
        last = (
            parse_month(request.GET["to"], field="to") if request.GET.get("to") else Month.of(timezone.now())
        )
        if request.GET.get("from"):
            return month_range(parse_month(request.GET["from"], field="from"), last)
        return months_ending(last)
    except ValidationFailed as exc:
        errors.append(exc.message)
        return months_ending(Month.of(timezone.now()))


def page(request: HttpRequest, template: str, title: str, **context: Any) -> TemplateResponse:
    currencies = report_currencies()
    return TemplateResponse(
        request,
        template,
        {
            **admin.site.each_context(request),
            "title": title,
            "currencies": currencies or [context.get("currency", "USD")],
            **context,
        },
    )


# --- the dashboard: finance's admin index --------------------------------------------------------


def admin_home(request: HttpRequest) -> HttpResponse:
    """``/admin/``: the finance dashboard above the app list for finance, Django's index for others."""
    if not is_finance(request):
        return admin.site.index(request)
    errors: list[str] = []
    currency = chosen_currency(request, errors)
    board = finance_dashboard(currency=currency, now=timezone.now())
    aging_total = board.aging.total
    overdue = aging_total - board.aging.buckets["current"]
    this_month = board.revenue[-1]
    money = lambda value: format_money(value, currency)  # noqa: E731
    context = {
        "finance_dashboard": True,
        "errors": errors,
        "currency": currency,
        "currencies": report_currencies() or [currency],
        "board": board,
        "kpis": [
            ("MRR", money(board.mrr_now), f"at the end of {board.months[-1].label}"),
            ("ARR", money(board.arr_now), "MRR × 12"),
            ("Recognized this month", money(this_month.recognized), f"{money(this_month.invoiced)} invoiced"),
            ("Receivables", money(aging_total), f"{money(overdue)} overdue"),
        ],
        "charts": {**board.charts(), "decimals": minor_unit_exponent(currency)},
        "top_customers": [
            (row.customer, money(row.mrr), reverse("admin:accounts_customer_change", args=(row.customer.pk,)))
            for row in board.top_customers
        ],
        "runs": [
            (
                row.run,
                row.invoices,
                money(row.amount),
                reverse("admin:invoicing_billingrun_change", args=(row.run.pk,)),
                changelist("invoicing_invoice", billing_run__id__exact=row.run.pk, currency=currency),
            )
            for row in board.runs
        ],
        "reports": report_links(currency),
    }
    response = admin.site.index(request, extra_context=context)
    assert isinstance(response, TemplateResponse)
    response.template_name = "admin/reporting/dashboard.html"
    return response


def report_links(currency: str) -> list[tuple[str, str]]:
    query = f"?currency={currency}"
    return [
        ("MRR and movements", reverse("reports:mrr") + query),
        ("Revenue recognition", reverse("reports:revenue") + query),
        ("Receivables aging", reverse("reports:aging") + query),
    ]


# --- the reports -----------------------------------------------------------------------------------


@finance_only
def mrr_page(request: HttpRequest) -> HttpResponse:
    errors: list[str] = []
    currency = chosen_currency(request, errors)
    months = chosen_months(request, errors)
    rows = mrr_report(currency=currency, months=months)
    kinds = list(MOVEMENT_LABELS)
    zero = Decimal(0)
    table = []
    for row in rows:
        cells = []
        for kind in kinds:
            value = getattr(row, kind)
            url = (
                f"{reverse('reports:movers')}?{urlencode({'month': str(row.month), 'kind': kind, 'currency': currency})}"
                if value
                else None
            )
            cells.append((format_money(value, currency), url))
        net = row.new + row.expansion + row.reactivation - row.contraction - row.churn
        table.append(
            {
                "month": row.month.label,
                "mrr": format_money(row.mrr, currency),
                "arr": format_money(row.mrr * 12, currency),
                "cells": cells,
                "net": format_money(net, currency),
            }
        )
    totals = [format_money(sum((getattr(r, k) for r in rows), zero), currency) for k in kinds]
    first, last = months[0], months[-1]
    mrr_before = mrr_report(currency=currency, months=[first.previous()])[0].mrr
    return page(
        request,
        "admin/reporting/mrr.html",
        "MRR and movements",
        errors=errors,
        currency=currency,
        date_from=f"{first}",
        date_to=f"{last}",
        headers=[MOVEMENT_LABELS[k] for k in kinds],
        table=table,
        totals=totals,
        mrr_start=format_money(mrr_before, currency),
        net_total=format_money(rows[-1].mrr - mrr_before, currency),  # the movements add up to it exactly
        mrr_end=format_money(rows[-1].mrr, currency),
        period=f"{first.label} – {last.label}",
        csv_url=api_csv_url("mrr", **{"from": str(first), "to": str(last), "currency": currency}),
    )


@finance_only
def movers_page(request: HttpRequest) -> HttpResponse:
    """The customers whose MRR moved in a month (one movement, or all): before, after, subscriptions."""
    errors: list[str] = []
    currency = chosen_currency(request, errors)
    try:
        month = parse_month(request.GET.get("month", ""), field="month")
    except ValidationFailed as exc:
        errors.append(exc.message)
        month = Month.of(timezone.now())
    kind = request.GET.get("kind") if request.GET.get("kind") in MOVEMENT_LABELS else None
    before, current = mrr_report(currency=currency, months=[month.previous(), month])
    from accounts.models import Customer

    moved = {cid: mv for cid, mv in current.movers.items() if kind is None or mv[0] == kind}
    customers = Customer.objects.in_bulk(list(moved))
    rows = [
        {
            "customer": customers[cid],
            "customer_url": reverse("admin:accounts_customer_change", args=(cid,)),
            "movement": MOVEMENT_LABELS[mv],
            "before": format_money(before.by_customer.get(cid, Decimal(0)), currency),
            "after": format_money(current.by_customer.get(cid, Decimal(0)), currency),
            "amount": format_money(amount, currency),
            "subscriptions_url": changelist("billing_subscription", customer__id__exact=cid),
        }
        for cid, (mv, amount) in sorted(moved.items(), key=lambda item: (-item[1][1], item[0]))
        if cid in customers
    ]
    total = sum((amount for _, amount in moved.values()), Decimal(0))
    label = MOVEMENT_LABELS[kind] if kind else "All movements"
    return page(
        request,
        "admin/reporting/movers.html",
        f"{label} in {month.label}",
        errors=errors,
        currency=currency,
        rows=rows,
        total=format_money(total, currency),
        back_url=f"{reverse('reports:mrr')}?{urlencode({'currency': currency})}",
        subscriptions_url=changelist(
            "billing_subscription", customer__id__in=",".join(str(c) for c in sorted(moved))
        )
        if moved and len(moved) <= MAX_LINKED_IDS
        else None,
    )


@finance_only
def revenue_page(request: HttpRequest) -> HttpResponse:
    errors: list[str] = []
    currency = chosen_currency(request, errors)
    months = chosen_months(request, errors)
    rows = revenue_report(currency=currency, months=months)
    statuses = ",".join(str(s) for s in RECOGNIZED_STATUSES)
    table = [
        {
            "month": r.month.label,
            "invoiced": format_money(r.invoiced, currency),
            "invoiced_url": changelist(
                "invoicing_invoice",
                currency=currency,
                status__in=statuses,
                issued_at__gte=r.month.start.isoformat(),
                issued_at__lt=r.month.end.isoformat(),
            )
            if r.invoice_ids
            else None,
            "invoices": len(r.invoice_ids),
            "recognized": format_money(r.recognized, currency),
            "deferred": format_money(r.deferred, currency),
        }
        for r in rows
    ]
    zero = Decimal(0)
    first, last = months[0], months[-1]
    return page(
        request,
        "admin/reporting/revenue.html",
        "Revenue recognition",
        errors=errors,
        currency=currency,
        date_from=str(first),
        date_to=str(last),
        period=f"{first.label} – {last.label}",
        table=table,
        total_invoiced=format_money(sum((r.invoiced for r in rows), zero), currency),
        total_recognized=format_money(sum((r.recognized for r in rows), zero), currency),
        deferred_end=format_money(rows[-1].deferred, currency),
        csv_url=api_csv_url("revenue", **{"from": str(first), "to": str(last), "currency": currency}),
    )


def chosen_as_of(request: HttpRequest, errors: list[str]) -> tuple[date, datetime]:
    """``as_of`` as a date (a date input): the report stands at the end of that day, UTC."""
    today = timezone.now().astimezone(UTC).date()
    text = request.GET.get("as_of") or ""
    day = today
    if text:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            errors.append("as_of must be a date written YYYY-MM-DD.")
    moment = datetime.combine(day, time(0), tzinfo=UTC) + timedelta(days=1) - timedelta(microseconds=1)
    return day, min(moment, timezone.now()) if day == today else moment


@finance_only
def aging_page(request: HttpRequest) -> HttpResponse:
    errors: list[str] = []
    currency = chosen_currency(request, errors)
    day, as_of = chosen_as_of(request, errors)
    report = ar_aging_report(currency=currency, as_of=as_of)
    rows = [
        {
            "customer": row.name or row.external_id,
            "external_id": row.external_id,
            "customer_url": reverse("admin:accounts_customer_change", args=(row.customer_id,)),
            "cells": [
                (format_money(row.buckets[b], currency), invoices_url(row.bucket_invoice_ids[b]))
                for b in BUCKETS
            ],
            "total": (format_money(row.total, currency), invoices_url(row.invoice_ids)),
        }
        for row in report.customers
    ]
    every = {b: [i for row in report.customers for i in row.bucket_invoice_ids[b]] for b in BUCKETS}
    totals = [(format_money(report.buckets[b], currency), invoices_url(every[b])) for b in BUCKETS]
    return page(
        request,
        "admin/reporting/aging.html",
        "Receivables aging",
        errors=errors,
        currency=currency,
        as_of=day.isoformat(),
        headers=[BUCKET_LABELS[b] for b in BUCKETS],
        rows=rows,
        totals=totals,
        total=(
            format_money(report.total, currency),
            invoices_url([i for row in report.customers for i in row.invoice_ids]),
        ),
        csv_url=api_csv_url("ar-aging", as_of=as_of.isoformat(), currency=currency),
    )
