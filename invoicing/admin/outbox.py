"""The e-mail outbox in the admin: what was queued, sent, pending a retry or failed, and why.

Rows come from the services (invoice sends, dunning reminders); nobody edits one here. Finance or
support may give failed rows another round of attempts once the mail server is back.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from config.admin_kit import ReadOnlyAdminMixin
from invoicing.admin.invoice_actions import RESEND_PERM
from invoicing.models import EmailOutbox
from invoicing.services.email_outbox import email_retry


@admin.register(EmailOutbox)
class EmailOutboxAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "invoice", "kind", "step", "to", "status", "attempts", "sent_at", "error")
    list_select_related = ("invoice",)
    list_filter = ("status", "kind")
    search_fields = ("invoice__number", "subject", "invoice__customer__external_id")
    fields = (
        "invoice",
        "kind",
        "step",
        "status",
        "recipients",
        "from_email",
        "subject",
        "body",
        "attach_variant",
        "attempts",
        "last_error",
        "next_attempt_at",
        "sent_at",
        "created_at",
        "created_by",
    )
    readonly_fields = fields
    actions = ("retry_failed",)

    @admin.display(description="to")
    def to(self, obj: EmailOutbox) -> str:
        """Who it went (or goes) to: support's first question when a customer says nothing arrived."""
        return ", ".join(obj.recipients or [])

    @admin.display(description="last error")
    def error(self, obj: EmailOutbox) -> str:
        return obj.last_error[:80]

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RESEND_PERM)

    @admin.action(description="Retry the selected failed e-mails", permissions=["resend"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[EmailOutbox]) -> None:
        count = email_retry(outbox_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Queued {count} failed e-mail(s) again.", messages.SUCCESS)
