"""Payments in the admin (issue #10): the Stripe outbox (pending, failed, dead; retry one or many), the
webhook event ledger, refunds, disputes, the reconciliation's mismatches, and a customer's default card.

Nobody edits these rows here: services write them. Hooks into screens other modules own (kept here so
they move in one piece): the invoice page gains the refunds and disputes inlines, the customer page the
default card (Stripe id, brand, last 4).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts.admin import CustomerAdmin, HistoryAdmin
from billing.display import format_money
from config.admin_kit import ReadOnlyAdminMixin, admin_url
from invoicing.admin.documents import PaymentAdmin as BasePaymentAdmin
from invoicing.admin.invoice_payments import PAYMENT_PERM
from invoicing.admin.invoices import InvoiceAdmin
from invoicing.models import (
    CustomerPaymentMethod,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentDispute,
    ReconciliationMismatch,
    Refund,
    StripeEvent,
    StripeOutbox,
)
from invoicing.services.stripe_outbox import stripe_outbox_retry
from invoicing.services.stripe_reconciliation import reconciliation_mismatches_resolve
from invoicing.services.stripe_sync import invoice_collect_retry

FINALIZE_PERM = "invoicing.finalize_invoice"


class FinanceActions:
    """Actions with ``permissions=["finalize"]``: for those who may finalize invoices (finance)."""

    def has_finalize_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(FINALIZE_PERM)


class AmountDisplay:
    """``amount_display``: a refund's or dispute's amount as people read it (never ``180.0000``)."""

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: Refund | PaymentDispute) -> str:
        return format_money(obj.amount, obj.currency)


@admin.register(StripeOutbox)
class StripeOutboxAdmin(FinanceActions, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "key",
        "kind",
        "invoice",
        "status",
        "attempts",
        "next_attempt_at",
        "stripe_id",
        "error",
    )
    list_select_related = ("invoice",)
    list_filter = ("status", "kind")
    search_fields = ("key", "stripe_id", "invoice__number", "customer__external_id")
    fields = (
        "key",
        "kind",
        "customer",
        "invoice",
        "refund",
        "status",
        "attempts",
        "last_error",
        "next_attempt_at",
        "stripe_id",
        "outcome",
        "done_at",
        "created_at",
    )
    readonly_fields = fields
    actions = ("retry_dead", "charge_again")

    @admin.display(description="last error")
    def error(self, obj: StripeOutbox) -> str:
        return obj.last_error[:80]

    @admin.action(description="Retry the selected dead Stripe calls", permissions=["finalize"])
    def retry_dead(self, request: HttpRequest, queryset: QuerySet[StripeOutbox]) -> None:
        count = stripe_outbox_retry(outbox_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Queued {count} dead Stripe call(s) again.", messages.SUCCESS)

    @admin.action(description="Charge the selected rows' open invoices again", permissions=["finalize"])
    def charge_again(self, request: HttpRequest, queryset: QuerySet[StripeOutbox]) -> None:
        """A new attempt (the next key) for each open invoice, e.g. after the customer fixed the card."""
        invoice_ids = sorted(set(queryset.exclude(invoice=None).values_list("invoice_id", flat=True)))
        queued = [i for i in invoice_ids if invoice_collect_retry(invoice_id=i) is not None]
        self.message_user(
            request,
            f"Queued a new charge for {len(queued)} of {len(invoice_ids)} invoice(s) (the others are paid, "
            "not charged automatically, or have an attempt under way or dead: retry a dead one first).",
            messages.SUCCESS,
        )


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("received_at", "stripe_id", "type", "object_id", "status", "attempts", "applied_at")
    list_filter = ("status", "type")
    search_fields = ("stripe_id", "object_id")
    fields = (
        "stripe_id",
        "type",
        "object_id",
        "status",
        "attempts",
        "last_error",
        "stripe_created",
        "received_at",
        "applied_at",
        "payload",
    )
    readonly_fields = fields


@admin.register(Refund)
class RefundAdmin(AmountDisplay, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "refunded_at",
        "invoice",
        "payment",
        "amount_display",
        "status",
        "stripe_refund_id",
        "credit_note",
    )
    list_select_related = ("invoice", "credit_note")
    list_filter = ("status",)
    search_fields = ("invoice__number", "stripe_refund_id", "credit_note__number")
    fields = (
        "payment",
        "invoice",
        "credit_note",
        "currency",
        "amount_display",
        "reason",
        "status",
        "stripe_refund_id",
        "refunded_at",
        "created_by",
        "created_at",
    )
    readonly_fields = fields


@admin.register(PaymentDispute)
class PaymentDisputeAdmin(AmountDisplay, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("opened_at", "invoice", "stripe_dispute_id", "amount_display", "reason", "status")
    list_select_related = ("invoice",)
    list_filter = ("status",)
    search_fields = ("invoice__number", "stripe_dispute_id")
    fields = (
        "invoice",
        "payment",
        "stripe_dispute_id",
        "currency",
        "amount_display",
        "reason",
        "status",
        "opened_at",
        "last_event_at",
    )
    readonly_fields = fields


@admin.register(ReconciliationMismatch)
class ReconciliationMismatchAdmin(FinanceActions, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("found_at", "kind", "invoice", "stripe_object_id", "resolved", "detail")
    list_select_related = ("invoice",)
    list_filter = ("kind", "resolved")
    search_fields = ("stripe_object_id", "invoice__number", "detail")
    fields = ("kind", "invoice", "stripe_object_id", "detail", "resolved", "found_at")
    readonly_fields = fields
    actions = ("mark_resolved",)

    @admin.action(description="Mark the selected mismatches resolved (cause fixed)", permissions=["finalize"])
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet[ReconciliationMismatch]) -> None:
        count = reconciliation_mismatches_resolve(mismatch_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Marked {count} mismatch(es) resolved.", messages.SUCCESS)


class RefundInline(AmountDisplay, ReadOnlyAdminMixin, admin.TabularInline):
    model = Refund
    fk_name = "invoice"
    extra = 0
    can_delete = False
    fields = ("refunded_at", "amount_display", "status", "stripe_refund_id", "credit_note", "reason")
    readonly_fields = fields


class DisputeInline(AmountDisplay, ReadOnlyAdminMixin, admin.TabularInline):
    model = PaymentDispute
    extra = 0
    can_delete = False
    verbose_name_plural = "disputes (flagged for finance)"
    fields = ("opened_at", "stripe_dispute_id", "amount_display", "reason", "status")
    readonly_fields = fields


class DefaultCardInline(ReadOnlyAdminMixin, admin.StackedInline):
    model = CustomerPaymentMethod
    extra = 0
    can_delete = False
    verbose_name_plural = "default card (Stripe)"
    fields = ("card", "stripe_payment_method_id", "expires", "updated_at")
    readonly_fields = fields

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # shown on a customer's page, never part of its form: a save of the customer (the add page, or
        # a POST by a test or a script) needs no formset data for it
        return request.method == "GET" and super().has_view_permission(request, obj)

    @admin.display(description="card")
    def card(self, obj: CustomerPaymentMethod) -> str:
        return f"{obj.brand} •••• {obj.last4}"

    @admin.display(description="expires")
    def expires(self, obj: CustomerPaymentMethod) -> str:
        return f"{obj.exp_month:02d}/{obj.exp_year}" if obj.exp_month and obj.exp_year else "—"


# Hooks into the invoice and customer pages (their modules are being reworked; re-apply there after the
# merge as `inlines = (..., RefundInline, DisputeInline)` and `(..., DefaultCardInline)`).
InvoiceAdmin.inlines = (*InvoiceAdmin.inlines, RefundInline, DisputeInline)  # type: ignore[assignment]
CustomerAdmin.inlines = (*CustomerAdmin.inlines, DefaultCardInline)  # type: ignore[assignment]


# Recording a payment by hand (issue #10) has one admin page: the invoice's "Record payment" (invoicing.
# admin.invoice_payments: form, review, then ``payment_record_manual``). The payments list's "add" leads
# there: to the invoice named by ``?invoice=<id>``, else to the open invoices to pick one from.
admin.site.unregister(Payment)


@admin.register(Payment)
class PaymentAdmin(HistoryAdmin, BasePaymentAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm(PAYMENT_PERM))

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        invoice = Invoice.objects.filter(pk=request.GET.get("invoice") or 0).first()
        if invoice is not None:
            return HttpResponseRedirect(admin_url(invoice, "payment"))
        self.message_user(request, "Pick the invoice, then use its “Record payment” button.", messages.INFO)
        open_invoices = reverse("admin:invoicing_invoice_changelist")
        return HttpResponseRedirect(f"{open_invoices}?status__exact={InvoiceStatus.OPEN}")
