"""Credit notes and payments in the admin: read-only documents (their rows come from the services).

A credit note is created from its invoice's page ("Create credit note", ``invoice_actions``); payments
come from Stripe and the payment services.
"""

from __future__ import annotations

from django.contrib import admin

from accounts.admin import HistoryAdmin
from billing.display import format_money
from config.admin_kit import ReadOnlyAdminMixin
from invoicing.models import CreditNote, Payment


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdminMixin, HistoryAdmin):
    """Credit notes are created from their invoice's page ("Create credit note"); read-only here."""

    list_display = ("number", "invoice", "customer", "amount_display", "issued_at", "created_by")
    list_select_related = ("invoice", "customer", "created_by")
    list_filter = ("currency", "issued_at")
    search_fields = ("number", "invoice__number", "customer__name", "customer__external_id")
    fields = (
        "number",
        "invoice",
        "customer",
        "amount_display",
        "reason",
        "issued_at",
        "created_by",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: CreditNote) -> str:
        return format_money(obj.amount, obj.currency)


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("occurred_at", "invoice", "amount_display", "status", "method", "reference")
    list_select_related = ("invoice",)
    list_filter = ("status", "method", "currency")
    search_fields = (
        "invoice__number",
        "reference",
        "invoice__customer__name",
        "invoice__customer__external_id",
    )
    fields = (
        "invoice",
        "amount_display",
        "status",
        "method",
        "reference",
        "failure_reason",
        "occurred_at",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: Payment) -> str:
        return format_money(obj.amount, obj.currency)
