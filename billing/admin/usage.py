"""Usage in the admin: a customer's daily usage chart and CSV export, usage alerts and their firings.

- **Usage of a customer** (``/admin/billing/usagealert/customer/<id>/usage/``, linked from the
  customer's page): a period (the last 30 days by default, ``?start=&end=`` otherwise), one bar chart
  per metric (inline SVG drawn here, no JavaScript, nothing loaded from elsewhere), the daily values as a
  table and a CSV download (``?format=csv``). Days are the customer's time zone's; values come from
  ``billing.services.usage_reports.daily_usage``. Anyone with ``billing.view_usageevent`` sees it.
- **Usage alerts**: finance creates and edits them (customer, metric, kind, threshold, active); the
  customer and metric of an existing alert stay as they are (its firings refer to them).
- **Usage alert firings**: what ``billing.services.usage_alerts`` recorded when an alert fired, once
  per billing period; read-only for everyone, superusers included.

The usage page hangs off the alert admin's URLs because it has no model of its own.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from accounts.models import Customer
from billing.admin.base import ImmutableMixin, admin_change_url, linked
from billing.display import format_money, format_quantity, period_text, zone
from billing.models import Aggregation, BillableMetric, UsageAlert, UsageAlertFiring, UsageAlertKind
from billing.services import usage_live
from billing.services.usage_reports import (
    CSV_HEADER,
    MAX_DAYS,
    daily_usage,
    day_boundaries,
    report_days,
    report_metrics,
    series_rows,
)

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


# --- the chart --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: str
    y: str
    width: str
    height: str
    label: str


@dataclass(frozen=True)
class Tick:
    x: str
    y: str
    label: str


@dataclass(frozen=True)
class Chart:
    """An SVG bar chart's geometry; coordinates are preformatted strings (no locale in the template)."""

    width: int
    height: int
    plot_left: str
    plot_right: str
    bars: list[Bar]
    grid: list[Tick]  # y: the line's height; label: the value it marks
    days: list[Tick]  # x: the label's centre


CHART_WIDTH = 760
CHART_HEIGHT = 180
LEFT, RIGHT, TOP, BOTTOM = 64, 8, 10, 26


def nice_ceiling(value: Decimal) -> Decimal:
    """The smallest 1, 2 or 5 x 10^k at least ``value`` (> 0): the top of a chart's axis."""
    if value <= 0:
        return Decimal(1)
    base = Decimal(1).scaleb(value.adjusted())
    for step in (1, 2, 5, 10):
        if base * step >= value:
            return base * step
    return base * 10  # unreachable: 10 x base > value by definition of adjusted()


def _px(value: Decimal | int) -> str:
    # pixel coordinates in Decimal too: the project keeps float out of anything near amounts
    return f"{Decimal(value):.1f}"


def bar_chart(points: list[tuple[date, Decimal]]) -> Chart:
    """One bar per day, scaled from 0 to a round top (below 0 too when a day is negative)."""
    values = [value for _, value in points]
    top = nice_ceiling(max([*values, Decimal(0)]))
    low = min([*values, Decimal(0)])
    bottom = -nice_ceiling(-low) if low < 0 else Decimal(0)
    span = top - bottom
    plot_height = CHART_HEIGHT - TOP - BOTTOM
    plot_width = CHART_WIDTH - LEFT - RIGHT

    def y_of(value: Decimal) -> Decimal:
        return TOP + plot_height * (top - value) / span

    slot = Decimal(plot_width) / max(len(points), 1)
    gap = min(Decimal(2), slot * Decimal("0.2"))
    zero_y = y_of(Decimal(0))
    bars = []
    for index, (day, value) in enumerate(points):
        value_y = y_of(value)
        bars.append(
            Bar(
                x=_px(LEFT + index * slot + gap / 2),
                y=_px(min(value_y, zero_y)),
                width=_px(slot - gap),
                height=_px(abs(zero_y - value_y)),
                label=f"{day:%a %Y-%m-%d}: {format_quantity(value)}",
            )
        )
    marks = [top, Decimal(0), bottom] if bottom < 0 else [top, top / 2, Decimal(0)]
    grid = [Tick(x=_px(LEFT - 6), y=_px(y_of(mark)), label=format_quantity(mark)) for mark in marks]
    every = max(1, -(-len(points) // 8))  # at most ~8 day labels
    days = [
        Tick(
            x=_px(LEFT + (index + Decimal("0.5")) * slot),
            y=_px(CHART_HEIGHT - 6),
            label=f"{day:%b} {day.day}",
        )
        for index, (day, _) in enumerate(points)
        if index % every == 0
    ]
    return Chart(
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        plot_left=_px(LEFT),
        plot_right=_px(CHART_WIDTH - RIGHT),
        bars=bars,
        grid=grid,
        days=days,
    )


# --- the usage page ---------------------------------------------------------------------------------


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


# --- usage alerts -----------------------------------------------------------------------------------


def threshold_text(kind: str, threshold: Decimal, currency: str) -> str:
    if kind == UsageAlertKind.SPEND:
        return format_money(threshold, currency)
    if kind == UsageAlertKind.PERCENT_OF_LIMIT:
        return f"{format_quantity(threshold)} % of the limit"
    return format_quantity(threshold)


class UsageAlertForm(forms.ModelForm):
    class Meta:
        model = UsageAlert
        fields = ("customer", "metric", "kind", "threshold", "is_active")

    def clean_threshold(self) -> Decimal:
        value: Decimal = self.cleaned_data["threshold"]
        if value <= 0:
            raise forms.ValidationError("Must be greater than 0.")
        return value


@admin.register(UsageAlert)
class UsageAlertAdmin(admin.ModelAdmin):
    """Finance sets thresholds; ``billing.services.usage_alerts`` checks them after each ingestion."""

    form = UsageAlertForm
    list_display = (
        "customer_link",
        "metric",
        "kind",
        "threshold_display",
        "is_active",
        "last_fired_at",
        "usage_link",
        "created_at",
    )
    list_filter = ("kind", "is_active", "metric")
    list_select_related = ("customer", "metric")
    search_fields = ("customer__name", "customer__external_id", "metric__code")
    search_help_text = "Customer name or external id, or metric code."
    autocomplete_fields = ("customer",)
    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> QuerySet[UsageAlert]:
        return super().get_queryset(request).annotate(last_fired=Max("firings__fired_at"))  # type: ignore[no-any-return]

    def get_fields(self, request: HttpRequest, obj: UsageAlert | None = None) -> tuple[str, ...]:
        fields = ("customer", "metric", "kind", "threshold", "is_active")
        return (*fields, "created_at", "firings_link") if obj is not None else fields

    def get_readonly_fields(self, request: HttpRequest, obj: UsageAlert | None = None) -> tuple[str, ...]:
        # an alert's firings name its customer and metric: those stay; a new target is a new alert
        if obj is None:
            return ()
        return ("customer", "metric", "created_at", "firings_link")

    def save_model(self, request: HttpRequest, obj: UsageAlert, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # ingestion returns the rows of alerted metrics; let this process see the new one at once
        transaction.on_commit(usage_live.metric_ids_cache.clear)

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "customer/<int:customer_id>/usage/",
                self.admin_site.admin_view(self.customer_usage_view),
                name=USAGE_URL_NAME,
            ),
        ]
        return own + super().get_urls()

    def customer_usage_view(self, request: HttpRequest, customer_id: int) -> HttpResponse:
        return customer_usage_view(request, customer_id, self.admin_site)

    @admin.display(description="customer", ordering="customer__name")
    def customer_link(self, obj: UsageAlert) -> str:
        return linked(str(obj.customer), admin_change_url("accounts", "customer", obj.customer_id))

    @admin.display(description="threshold", ordering="threshold")
    def threshold_display(self, obj: UsageAlert) -> str:
        return threshold_text(obj.kind, obj.threshold, obj.customer.currency)

    @admin.display(description="last fired", ordering="last_fired")
    def last_fired_at(self, obj: UsageAlert) -> datetime | None:
        return getattr(obj, "last_fired", None)

    @admin.display(description="usage")
    def usage_link(self, obj: UsageAlert) -> str:
        return format_html('<a href="{}">Daily usage</a>', customer_usage_url(obj.customer_id))

    @admin.display(description="firings")
    def firings_link(self, obj: UsageAlert) -> str:
        url = (
            reverse("admin:billing_usagealertfiring_changelist")
            + f"?{urlencode({'alert__id__exact': obj.pk})}"
        )
        return format_html('<a href="{}">When this alert fired</a>', url)


@admin.register(UsageAlertFiring)
class UsageAlertFiringAdmin(ImmutableMixin, admin.ModelAdmin):
    """An alert that fired, once per billing period: the event staff look at. Nobody edits it."""

    list_display = ("fired_at", "customer_link", "metric_code", "alert_text", "period", "value_display")
    list_filter = ("alert__kind", "alert__metric", "fired_at")
    list_select_related = ("alert__customer", "alert__metric")
    search_fields = ("alert__customer__name", "alert__customer__external_id", "alert__metric__code")
    search_help_text = "Customer name or external id, or metric code."
    fields = ("alert_link", "customer_link", "metric_code", "period", "value_display", "fired_at")
    readonly_fields = fields
    list_per_page = 50

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest) -> bool:
        # the customer's usage page links here filtered by customer (a customer filter in the sidebar
        # would list every customer)
        if lookup == "alert__customer__id__exact":
            return True
        allowed: bool = super().lookup_allowed(lookup, value, request)
        return allowed

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if request.method == "POST":
            raise PermissionDenied("Alert firings are read-only.")
        response: HttpResponse = super().changelist_view(request, extra_context)
        return response

    @admin.display(description="customer", ordering="alert__customer__name")
    def customer_link(self, obj: UsageAlertFiring) -> str:
        customer = obj.alert.customer
        return linked(str(customer), admin_change_url("accounts", "customer", customer.pk))

    @admin.display(description="metric", ordering="alert__metric__code")
    def metric_code(self, obj: UsageAlertFiring) -> str:
        metric: BillableMetric = obj.alert.metric
        return metric.code

    @admin.display(description="alert")
    def alert_text(self, obj: UsageAlertFiring) -> str:
        alert = obj.alert
        kind = UsageAlertKind(alert.kind)
        return f"{kind.label} ≥ {threshold_text(alert.kind, alert.threshold, alert.customer.currency)}"

    @admin.display(description="alert")
    def alert_link(self, obj: UsageAlertFiring) -> str:
        return linked(self.alert_text(obj), admin_change_url("billing", "usagealert", obj.alert_id))

    @admin.display(description="period (customer's time zone)", ordering="period_start")
    def period(self, obj: UsageAlertFiring) -> str:
        return period_text(obj.period_start, obj.period_end, zone(obj.alert.customer.timezone))

    @admin.display(description="value", ordering="value")
    def value_display(self, obj: UsageAlertFiring) -> str:
        alert = obj.alert
        if alert.kind == UsageAlertKind.SPEND:
            return format_money(obj.value, alert.customer.currency)
        return format_quantity(obj.value)
