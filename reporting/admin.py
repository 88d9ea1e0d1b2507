"""Alert incidents in the admin: what broke, for which customers, where to look, and the runbook's step.

Incidents are written by the alert evaluation only (``reporting.alerts``); nobody edits one here. Open
ones are listed first; each page shows the section of ``docs/runbook.md`` for its rule.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from config.admin_kit import ReadOnlyAdminMixin
from reporting.alerts import incident_customers, runbook_section
from reporting.models import AlertIncident


@admin.register(AlertIncident)
class AlertIncidentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "title",
        "subject",
        "status",
        "severity",
        "opened_at",
        "cleared_at",
        "notified",
        "summary",
    )
    list_filter = ("status", "rule", "severity")
    search_fields = ("subject", "message", "rule")
    fields = (
        "title",
        "rule",
        "subject",
        "status",
        "severity",
        "message",
        "customers",
        "where_to_look",
        "runbook_step",
        "opened_at",
        "last_seen_at",
        "cleared_at",
        "notified_at",
        "notify_attempts",
        "notify_error",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[AlertIncident]:
        # open incidents first, newest first within each
        return super().get_queryset(request).order_by("-status", "-opened_at", "-id")

    @admin.display(description="mailed", boolean=True)
    def notified(self, obj: AlertIncident) -> bool:
        return obj.notified_at is not None

    @admin.display(description="what broke")
    def summary(self, obj: AlertIncident) -> str:
        return obj.message[:120]

    @admin.display(description="customers")
    def customers(self, obj: AlertIncident) -> str:
        found = incident_customers(obj)
        if not found:
            return "—"
        return format_html_join(
            ", ",
            '<a href="{}">{} ({})</a>',
            ((reverse("admin:accounts_customer_change", args=(c.pk,)), c.name, c.external_id) for c in found),
        )

    @admin.display(description="where to look")
    def where_to_look(self, obj: AlertIncident) -> str:
        return format_html('<a href="{}">{}</a>', obj.url, obj.url) if obj.url else "—"

    @admin.display(description="runbook (docs/runbook.md)")
    def runbook_step(self, obj: AlertIncident) -> str:
        text = runbook_section(obj.runbook) or f"docs/runbook.md, section {obj.runbook}"
        return format_html('<pre style="white-space: pre-wrap; max-width: 60em">{}</pre>', text)
