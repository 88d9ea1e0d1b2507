"""Usage alerts and their firings in the admin.

- **Usage alerts**: finance creates and edits them (customer, metric, kind, threshold, active); the
  customer and metric of an existing alert stay as they are (its firings refer to them).
- **Usage alert firings**: what ``billing.services.usage_alerts`` recorded when an alert fired, once
  per billing period; read-only for everyone, superusers included.

A customer's daily usage page (``usage_report``) is served under the alert admin's URLs.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Max, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from billing.admin.usage_report import USAGE_URL_NAME, customer_usage_url, customer_usage_view
from billing.display import format_money, format_quantity, period_text, zone
from billing.models import BillableMetric, UsageAlert, UsageAlertFiring, UsageAlertKind
from billing.services import usage_live
from config.admin_kit import ReadOnlyAdminMixin, admin_change_url, linked


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
class UsageAlertFiringAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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
