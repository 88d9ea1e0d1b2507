"""Voided usage events: what finance took back (``POST /api/v1/events/void``), by whom and when.

Read-only: a void is made through the API (the service re-rates drafts and records the correction);
this list is where finance and support check it afterwards.
"""

from __future__ import annotations

from django.contrib import admin

from billing.models import VoidedUsageEvent
from billing.services.usage_void import KEPT_FIELDS
from config.admin_kit import ReadOnlyAdminMixin


@admin.register(VoidedUsageEvent)
class VoidedUsageEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "voided_at",
        "customer_id",
        "metric_id",
        "event_id",
        "timestamp",
        "value",
        "reason",
        "voided_by",
    )
    list_filter = ("reason", "voided_at")
    search_fields = ("event_id",)
    search_help_text = "Event id."
    readonly_fields = (*KEPT_FIELDS, "voided_at", "voided_by", "reason")
    list_per_page = 50
