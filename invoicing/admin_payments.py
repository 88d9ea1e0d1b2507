"""Payments in the admin (issue #10): the Stripe outbox (pending, failed, dead; retry one or many), the
webhook event ledger, refunds, disputes, the reconciliation's mismatches, and a customer's default card.

Nobody edits these rows here: services write them. Hooks into screens other modules own (kept here so
they move in one piece): the invoice page gains the refunds and disputes inlines, the customer page the
default card (Stripe id, brand, last 4).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin import CustomerAdmin
from billing.display import format_money
from invoicing.admin import InvoiceAdmin, ReadOnlyAdminMixin
from invoicing.models import (
    CustomerPaymentMethod,
    PaymentDispute,
    ReconciliationMismatch,
    Refund,
    StripeEvent,
    StripeOutbox,
)
from invoicing.services.stripe_outbox import stripe_outbox_retry

FINALIZE_PERM = "invoicing.finalize_invoice"


@admin.register(StripeOutbox)
class StripeOutboxAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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
    actions = ("retry_dead",)

    @admin.display(description="last error")
    def error(self, obj: StripeOutbox) -> str:
        return obj.last_error[:80]

    def has_finalize_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(FINALIZE_PERM)

    @admin.action(description="Retry the selected dead Stripe calls", permissions=["finalize"])
    def retry_dead(self, request: HttpRequest, queryset: QuerySet[StripeOutbox]) -> None:
        count = stripe_outbox_retry(outbox_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Queued {count} dead Stripe call(s) again.", messages.SUCCESS)


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
class RefundAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
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
        "amount",
        "reason",
        "status",
        "stripe_refund_id",
        "refunded_at",
        "created_by",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: Refund) -> str:
        return format_money(obj.amount, obj.currency)


@admin.register(PaymentDispute)
class PaymentDisputeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("opened_at", "invoice", "stripe_dispute_id", "amount_display", "reason", "status")
    list_select_related = ("invoice",)
    list_filter = ("status",)
    search_fields = ("invoice__number", "stripe_dispute_id")
    fields = (
        "invoice",
        "payment",
        "stripe_dispute_id",
        "currency",
        "amount",
        "reason",
        "status",
        "opened_at",
        "last_event_at",
    )
    readonly_fields = fields

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: PaymentDispute) -> str:
        return format_money(obj.amount, obj.currency)


@admin.register(ReconciliationMismatch)
class ReconciliationMismatchAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("found_at", "kind", "invoice", "stripe_object_id", "resolved", "detail")
    list_select_related = ("invoice",)
    list_filter = ("kind", "resolved")
    search_fields = ("stripe_object_id", "invoice__number", "detail")
    fields = ("kind", "invoice", "stripe_object_id", "detail", "resolved", "found_at")
    readonly_fields = fields


class RefundInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Refund
    fk_name = "invoice"
    extra = 0
    can_delete = False
    fields = ("refunded_at", "amount", "status", "stripe_refund_id", "credit_note", "reason")
    readonly_fields = fields


class DisputeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PaymentDispute
    extra = 0
    can_delete = False
    verbose_name_plural = "disputes (flagged for finance)"
    fields = ("opened_at", "stripe_dispute_id", "amount", "reason", "status")
    readonly_fields = fields


class DefaultCardInline(ReadOnlyAdminMixin, admin.StackedInline):
    model = CustomerPaymentMethod
    extra = 0
    can_delete = False
    verbose_name_plural = "default card (Stripe)"
    fields = ("card", "stripe_payment_method_id", "expires", "updated_at")
    readonly_fields = fields

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
