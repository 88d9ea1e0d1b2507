"""Finance's catalog screens besides plans: products, billable metrics, features and coupons.

Writes that carry business rules go through ``billing.services.catalog`` (``metric_create``,
``coupon_create``); what a metric measures and a coupon's terms never change once they exist. Sales and
support see these screens read-only (the role groups' model permissions, ``accounts/roles.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from accounts.admin import HistoryAdmin, adopt_saved
from billing.display import EMPTY, format_money, format_quantity
from billing.models import Aggregation, BillableMetric, Coupon, CouponDuration, Feature, Product
from billing.pricing import discounts
from billing.pricing.errors import PricingError
from billing.services.catalog import coupon_create, metric_create

# --- products, metrics, features --------------------------------------------------------------------


@admin.register(Product)
class ProductAdmin(HistoryAdmin):
    list_display = ("code", "name", "plan_count", "created_at")
    search_fields = ("code", "name")
    fields = ("code", "name", "description", "created_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        return super().get_queryset(request).annotate(plan_count=Count("plans", distinct=True))  # type: ignore[no-any-return]

    def get_readonly_fields(self, request: HttpRequest, obj: Product | None = None) -> Sequence[str]:
        # plans and the API refer to a product by its code
        return ("code", "created_at") if obj is not None else ("created_at",)

    @admin.display(description="plans", ordering="plan_count")
    def plan_count(self, obj: Product) -> int:
        return getattr(obj, "plan_count", 0)


class MetricForm(forms.ModelForm):
    class Meta:
        model = BillableMetric
        fields = ("code", "name", "description", "aggregation", "field_name", "filters")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        aggregation = data.get("aggregation")
        if aggregation and aggregation != Aggregation.COUNT and not data.get("field_name"):
            self.add_error("field_name", f"A {aggregation} metric needs the event property it aggregates.")
        return data


@admin.register(BillableMetric)
class BillableMetricAdmin(HistoryAdmin):
    """Created through ``metric_create``. What a metric measures never changes once it exists (usage
    already rated with it would mean something else); its name and description may."""

    form = MetricForm
    list_display = ("code", "name", "aggregation", "field_name", "created_at")
    list_filter = ("aggregation",)
    search_fields = ("code", "name")
    fields = ("code", "name", "description", "aggregation", "field_name", "filters", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj: BillableMetric | None = None) -> Sequence[str]:
        if obj is None:
            return ("created_at",)
        return ("code", "aggregation", "field_name", "filters", "created_at")

    def save_model(self, request: HttpRequest, obj: BillableMetric, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)  # name and description only
            return
        data = form.cleaned_data
        saved = metric_create(
            code=data["code"],
            name=data["name"],
            aggregation=data["aggregation"],
            field_name=data.get("field_name") or "",
            filters=data.get("filters") or {},
        )
        if data.get("description"):
            saved.description = data["description"]
            saved.save(update_fields=["description"])
        adopt_saved(obj, saved)


@admin.register(Feature)
class FeatureAdmin(HistoryAdmin):
    list_display = ("key", "name", "kind", "metric")
    list_filter = ("kind",)
    list_select_related = ("metric",)
    search_fields = ("key", "name")
    fields = ("key", "name", "description", "kind", "metric")

    def get_readonly_fields(self, request: HttpRequest, obj: Feature | None = None) -> Sequence[str]:
        # plan versions' entitlements refer to the key and hold values of this kind
        return ("key", "kind") if obj is not None else ()


# --- coupons ----------------------------------------------------------------------------------------

COUPON_TERMS = ("code", "percent_off", "amount_off", "currency", "duration", "duration_in_months")


class CouponForm(forms.ModelForm):
    """The engine's coupon rules (``discounts.validate_coupon``) shown next to the field."""

    class Meta:
        model = Coupon
        fields = (*COUPON_TERMS, "name", "is_active")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.instance.pk is not None or not data.get("duration"):
            return data
        spec = discounts.CouponSpec(
            percent_off=data.get("percent_off"),
            amount_off=data.get("amount_off"),
            duration=discounts.CouponDuration(data["duration"]),
            duration_in_months=data.get("duration_in_months"),
        )
        try:
            discounts.validate_coupon(spec)
        except PricingError as err:
            field = err.field if err.field in self.fields else None
            self.add_error(field, err.message)
        if data.get("amount_off") is not None and not data.get("currency"):
            self.add_error("currency", "An amount_off coupon needs a currency.")
        return data


@admin.register(Coupon)
class CouponAdmin(HistoryAdmin):
    """Created through ``coupon_create``. Its terms never change once it exists (subscriptions that
    redeemed it keep them); to offer other terms, make another coupon and deactivate this one."""

    form = CouponForm
    list_display = ("code", "name", "discount", "lasts", "is_active", "created_at")
    list_filter = ("is_active", "duration", "currency")
    search_fields = ("code", "name")
    fields = (*COUPON_TERMS, "name", "is_active", "discount", "lasts", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Coupon | None = None) -> Sequence[str]:
        shown = ("discount", "lasts", "created_at")
        return (*COUPON_TERMS, *shown) if obj is not None else shown

    @admin.display(description="discount")
    def discount(self, obj: Coupon) -> str:
        if obj.percent_off is not None:
            return f"{format_quantity(obj.percent_off)} % off"
        if obj.amount_off is not None and obj.currency:
            return f"{format_money(obj.amount_off, obj.currency)} off"
        return EMPTY

    @admin.display(description="lasts")
    def lasts(self, obj: Coupon) -> str:
        if obj.duration == CouponDuration.REPEATING and obj.duration_in_months:
            return f"{obj.duration_in_months} month{'s' if obj.duration_in_months != 1 else ''}"
        return obj.get_duration_display() if obj.duration else EMPTY

    def save_model(self, request: HttpRequest, obj: Coupon, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)  # name and is_active only
            return
        data = form.cleaned_data
        saved = coupon_create(
            code=data["code"],
            name=data.get("name") or "",
            percent_off=data.get("percent_off"),
            amount_off=data.get("amount_off"),
            currency=data.get("currency") or "",
            duration=data["duration"],
            duration_in_months=data.get("duration_in_months"),
        )
        if saved.is_active != data.get("is_active", True):
            saved.is_active = data["is_active"]
            saved.save(update_fields=["is_active"])
        adopt_saved(obj, saved)
