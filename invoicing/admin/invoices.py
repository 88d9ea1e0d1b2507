"""The invoice admin: the list (totals, amount due, a red "Past due" badge, filters) and the read-only
invoice page (figures, parties as issued, lines, credit notes, payments).

Invoices are documents: nobody edits one here (drafts are built by billing, a finalized invoice never
changes), so the invoice page is read-only for everyone, superusers included. What moves an invoice
(finalize, void, credit, resend, the PDF) is in ``invoice_actions``; every amount reads through
``billing.display.format_money``; "past due" is ``invoicing.selectors``' rule at the request's instant.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts.admin import HistoryAdmin
from billing.display import EMPTY, format_money, format_quantity
from config.admin_kit import PROBLEM_COLOR, ReadOnlyAdminMixin, admin_url, badge
from invoicing.admin.invoice_actions import InvoiceActionsMixin
from invoicing.models import CreditNote, Invoice, InvoiceLine, InvoiceStatus, Payment
from invoicing.selectors import invoices_past_due


def request_instant(request: HttpRequest) -> datetime:
    """The business instant of an admin request: taken once, so a page's column and filter agree."""
    at: datetime | None = getattr(request, "ratecard_at", None)
    if at is None:
        at = timezone.now()
        request.ratecard_at = at  # type: ignore[attr-defined]
    return at


# --- invoices ---------------------------------------------------------------------------------------


class InvoiceLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = InvoiceLine
    extra = 0
    can_delete = False
    fields = (
        "position",
        "kind",
        "description",
        "service_period",
        "qty",
        "unit_price",
        "line_amount",
        "line_discount_share",
        "line_tax",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[InvoiceLine]:
        return super().get_queryset(request).select_related("invoice").order_by("position", "id")

    @admin.display(description="service period")
    def service_period(self, obj: InvoiceLine) -> str:
        if obj.period_start and obj.period_end:
            return f"{obj.period_start:%Y-%m-%d} – {obj.period_end:%Y-%m-%d}"
        return EMPTY

    @admin.display(description="quantity")
    def qty(self, obj: InvoiceLine) -> str:
        return format_quantity(obj.quantity)

    @admin.display(description="unit price")
    def unit_price(self, obj: InvoiceLine) -> str:
        return format_money(obj.unit_amount, obj.invoice.currency) if obj.unit_amount is not None else EMPTY

    @admin.display(description="amount")
    def line_amount(self, obj: InvoiceLine) -> str:
        return format_money(obj.amount, obj.invoice.currency)

    @admin.display(description="share of discounts")
    def line_discount_share(self, obj: InvoiceLine) -> str:
        # the tax beside it is computed on the amount after this share (DESIGN.md)
        return format_money(obj.discount_share, obj.invoice.currency) if obj.discount_share else EMPTY

    @admin.display(description="tax")
    def line_tax(self, obj: InvoiceLine) -> str:
        return format_money(obj.tax, obj.invoice.currency)


class CreditNoteInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CreditNote
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("number", "amount_display", "reason", "issued_at", "created_by")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[CreditNote]:
        return super().get_queryset(request).select_related("created_by")

    @admin.display(description="amount")
    def amount_display(self, obj: CreditNote) -> str:
        return format_money(obj.amount, obj.currency)


class PaymentInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Payment
    extra = 0
    can_delete = False
    fields = ("occurred_at", "amount_display", "status", "method", "reference", "failure_reason")
    readonly_fields = fields

    @admin.display(description="amount")
    def amount_display(self, obj: Payment) -> str:
        return format_money(obj.amount, obj.currency)


class PastDueFilter(admin.SimpleListFilter):
    title = "past due"
    parameter_name = "past_due"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Past due"), ("no", "Not past due")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> QuerySet[Invoice]:
        past_due = invoices_past_due(at=request_instant(request), invoices=queryset)
        if self.value() == "yes":
            return past_due
        if self.value() == "no":
            return queryset.exclude(pk__in=past_due.values("pk"))
        return queryset


@admin.register(Invoice)
class InvoiceAdmin(InvoiceActionsMixin, HistoryAdmin):
    """Invoices: read-only documents; finance acts on them with confirmed actions, support resends."""

    list_display = (
        "invoice_number",
        "customer",
        "status",
        "billing_date",
        "total_display",
        "amount_due_display",
        "past_due",
    )
    list_select_related = ("customer",)
    list_filter = ("status", "currency", PastDueFilter, "billing_date")
    search_fields = ("number", "customer__name", "customer__external_id")
    search_help_text = "Invoice number, customer name or external id."
    date_hierarchy = "billing_date"
    list_per_page = 50
    inlines = (InvoiceLineInline, CreditNoteInline, PaymentInline)
    fieldsets = (
        (None, {"fields": ("number", "status", "customer", "subscription", "billing_run", "pdf_link")}),
        (
            "Dates",
            {
                "fields": (
                    "billing_date",
                    "period_start",
                    "period_end",
                    "issued_at",
                    "due_at",
                    "terms",
                    "paid_at",
                    "voided_at",
                    "marked_uncollectible_at",
                )
            },
        ),
        ("Amounts", {"fields": ("figures",)}),
        ("As issued", {"fields": ("customer_details", "seller_details", "memo")}),
    )
    # every field shown is read-only: an invoice is a document (module docstring)
    readonly_fields = tuple(
        name for _, options in fieldsets for name in options["fields"] if isinstance(name, str)
    )

    # --- permissions: a document, never edited here (actions: has_<action>_permission) ---------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[Invoice]:
        # past due as the selector says at this request's instant (the filter asks the same)
        past_due = invoices_past_due(at=request_instant(request)).filter(pk=OuterRef("pk"))
        return super().get_queryset(request).defer("pdf").annotate(is_past_due=Exists(past_due))  # type: ignore[no-any-return]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        if obj is not None and obj.status != InvoiceStatus.DRAFT:
            return False
        return bool(super().has_delete_permission(request, obj))

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # finalized invoices are never deleted
        return actions  # type: ignore[no-any-return]

    # --- list columns --------------------------------------------------------------------------------

    @admin.display(description="number", ordering="number")
    def invoice_number(self, obj: Invoice) -> str:
        return str(obj)

    @admin.display(description="total", ordering="total")
    def total_display(self, obj: Invoice) -> str:
        return format_money(obj.total, obj.currency)

    @admin.display(description="amount due", ordering="amount_due")
    def amount_due_display(self, obj: Invoice) -> str:
        return format_money(obj.amount_due, obj.currency)

    @admin.display(description="past due", ordering="is_past_due")
    def past_due(self, obj: Invoice) -> str:
        """A past-due invoice is a problem: a red "Past due" badge; nothing otherwise."""
        return badge("Past due", PROBLEM_COLOR) if getattr(obj, "is_past_due", False) else ""

    # --- detail fields -------------------------------------------------------------------------------

    @admin.display(description="PDF")
    def pdf_link(self, obj: Invoice) -> str:
        label = "Download PDF" if obj.status != InvoiceStatus.DRAFT else "Preview PDF (draft)"
        return format_html('<a href="{}">{}</a>', admin_url(obj, "pdf"), label)

    @admin.display(description="payment terms")
    def terms(self, obj: Invoice) -> str:
        return f"Net {obj.net_terms_days}" if obj.net_terms_days else "Due on receipt"

    @admin.display(description="figures")
    def figures(self, obj: Invoice) -> str:
        """The invoice's arithmetic. What reduces the amount due reads as the positive amount its label
        names ("Amount paid $1,534.50": a negative amount paid would read as money paid back)."""
        credits = Decimal(obj.credits_applied)
        rows = [
            ("Subtotal", obj.subtotal),
            ("of which discounts", -Decimal(obj.discount)),  # discount lines are negative, in the subtotal
            ("Tax", obj.tax),
            ("Total", obj.total),
            ("Credits applied" if credits >= 0 else "Credited to the customer's balance", abs(credits)),
            ("Credit notes", obj.amount_credited),
            ("Amount paid", obj.amount_paid),
            ("Amount due", obj.amount_due),
        ]
        body = format_html_join(
            "",
            '<tr><td>{}</td><td style="text-align:right">{}</td></tr>',
            ((label, format_money(value, obj.currency)) for label, value in rows),
        )
        return format_html("<table>{}</table>", body)

    def _party(self, details: dict[str, Any]) -> str:
        if not details:
            return EMPTY
        return format_html_join(
            "", "<div><strong>{}</strong>: {}</div>", ((k, v) for k, v in details.items() if v)
        )

    @admin.display(description="customer (as issued)")
    def customer_details(self, obj: Invoice) -> str:
        return self._party(obj.customer_snapshot) if obj.customer_snapshot else "Copied at finalization."

    @admin.display(description="seller (as issued)")
    def seller_details(self, obj: Invoice) -> str:
        return self._party(obj.seller_snapshot) if obj.seller_snapshot else "Copied at finalization."
