"""Credit notes and payments in the admin: read-only documents (their rows come from the services).

A credit note is created from its invoice's page ("Create credit note", ``invoice_actions``); payments
come from Stripe and the payment services.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path
from django.utils.html import format_html

from accounts.admin import HistoryAdmin
from billing.display import format_money
from config.admin_kit import ReadOnlyAdminMixin, admin_url
from invoicing.models import CreditNote, Payment
from invoicing.services.credit_note_pdf import credit_note_pdf


def credit_note_pdf_link(note: CreditNote) -> str:
    return format_html('<a href="{}">Download PDF</a>', admin_url(note, "pdf"))


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
        "pdf_link",
    )
    readonly_fields = fields

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.pdf_view)
        return [path("<path:object_id>/pdf/", view, name="invoicing_creditnote_pdf"), *super().get_urls()]

    def pdf_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        note = get_object_or_404(CreditNote.objects.select_related("invoice"), pk=object_id)
        response = HttpResponse(credit_note_pdf(note=note), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{note.number}.pdf"'
        return response

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: CreditNote) -> str:
        return format_money(obj.amount, obj.currency)

    @admin.display(description="PDF")
    def pdf_link(self, obj: CreditNote) -> str:
        return credit_note_pdf_link(obj)


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "occurred_at",
        "invoice",
        "amount_display",
        "status",
        "method",
        "stripe_payment_intent",
        "failure_reason",
    )
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
        "stripe_payment_intent",
        "failure_reason",
        "occurred_at",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: Payment) -> str:
        return format_money(obj.amount, obj.currency)
