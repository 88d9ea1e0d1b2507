"""A customer's usage in the admin: ``/admin/billing/usagealert/customer/<id>/usage/``, linked from the
customer's page.

A period (the last 30 days by default, ``?start=&end=`` otherwise), one bar chart per metric
(``usage_chart``), the daily values as a table and a CSV download (``?format=csv``). Days are the
customer's time zone's; values come from ``billing.services.usage_reports.daily_usage``. Anyone with
``billing.view_usageevent`` sees it. The page hangs off the usage alert admin's URLs (``usage_alerts``)
because it has no model of its own.
"""

from __future__ import annotations

import csv
import re
from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from accounts.models import Customer
from billing.admin.usage_chart import bar_chart
from billing.display import format_quantity, zone
from billing.models import Aggregation
from billing.services.usage_reports import (
    CSV_HEADER,
    MAX_DAYS,
    daily_usage,
    day_boundaries,
    report_days,
    report_metrics,
    series_rows,
)
from config.admin_kit import admin_change_url

VIEW_PERM = "billing.view_usageevent"
USAGE_TEMPLATE = "admin/billing/usage/customer_usage.html"
USAGE_URL_NAME = "billing_usagealert_customer_usage"
DEFAULT_DAYS = 30

AGGREGATION_TEXT = {
    Aggregation.COUNT: "events per day",
    Aggregation.SUM: "sum per day",
    Aggregation.MAX: "largest value per day",
    Aggregation.UNIQUE_COUNT: "distinct values per day",
    Aggregation.LATEST: "last value of the day",
    Aggregation.WEIGHTED_SUM: "average level held during the day (time-weighted)",
}


def customer_usage_url(customer_id: int) -> str:
    return reverse(f"admin:{USAGE_URL_NAME}", args=(customer_id,))


class UsagePeriodForm(forms.Form):
    start = forms.DateField(widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}))
    end = forms.DateField(widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end:
            try:
                report_days(start, end)
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return data


def default_period(today: date) -> tuple[date, date]:
    """The last ``DEFAULT_DAYS`` days, today included."""
    return today - timedelta(days=DEFAULT_DAYS - 1), today


def _csv_filename(customer: Customer, start: date, end: date) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", customer.external_id).strip("-") or str(customer.pk)
    return f"usage-{safe}-{start:%Y%m%d}-{end:%Y%m%d}.csv"


def csv_response(customer: Customer, start: date, end: date, rows: Any) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_csv_filename(customer, start, end)}"'
    writer = csv.writer(response)
    writer.writerow(CSV_HEADER)
    for day, code, value in rows:
        writer.writerow([day.isoformat(), code, f"{value:f}"])
    return response


def customer_usage_view(request: HttpRequest, customer_id: int, site: admin.AdminSite) -> HttpResponse:
    """A customer's usage per day and metric over a period: charts, a table, and the CSV export."""
    if not request.user.has_perm(VIEW_PERM):
        raise PermissionDenied
    customer = get_object_or_404(Customer, pk=customer_id)
    tz = zone(customer.timezone)
    default_start, default_end = default_period(timezone.now().astimezone(tz).date())
    form = UsagePeriodForm(
        {
            "start": request.GET.get("start") or default_start.isoformat(),
            "end": request.GET.get("end") or default_end.isoformat(),
        }
    )
    wants_csv = request.GET.get("format") == "csv"
    if form.is_valid():
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    elif wants_csv:
        errors = "; ".join(str(message) for messages in form.errors.values() for message in messages)
        return HttpResponseBadRequest(f"Invalid period: {errors}", content_type="text/plain")
    else:
        start, end = default_start, default_end

    days = report_days(start, end)
    edges = day_boundaries(days, tz)
    metrics = report_metrics(customer_id=customer.pk, start_at=edges[0], end_at=edges[-1])
    series = daily_usage(customer_id=customer.pk, start=start, end=end, tz=tz, metrics=metrics)
    if wants_csv:
        return csv_response(customer, start, end, series_rows(series))

    period = urlencode({"start": start.isoformat(), "end": end.isoformat()})
    charts = [
        {
            "metric": metric,
            "explains": AGGREGATION_TEXT.get(Aggregation(metric.aggregation), metric.aggregation),
            "chart": bar_chart(series[metric.code]),
        }
        for metric in metrics
    ]
    table = [
        (day, [format_quantity(series[metric.code][index][1]) for metric in metrics])
        for index, day in enumerate(days)
    ]
    context = {
        **site.each_context(request),
        "title": f"Usage of {customer}",
        "opts": Customer._meta,
        "customer": customer,
        "customer_url": admin_change_url("accounts", "customer", customer.pk),
        "timezone_name": customer.timezone,
        "form": form,
        "start": start,
        "end": end,
        "max_days": MAX_DAYS,
        "default_days": DEFAULT_DAYS,
        "metrics": metrics,
        "charts": charts,
        "table": table,
        "csv_url": f"{request.path}?{period}&format=csv",
        "alerts_url": reverse("admin:billing_usagealert_changelist")
        + f"?{urlencode({'customer__id__exact': customer.pk})}",
        "firings_url": reverse("admin:billing_usagealertfiring_changelist")
        + f"?{urlencode({'alert__customer__id__exact': customer.pk})}",
    }
    return TemplateResponse(request, USAGE_TEMPLATE, context)
