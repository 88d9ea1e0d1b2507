"""Admin screens for invoices, credit notes, payments and billing runs.

Invoices are documents: nobody edits one here (drafts are built by billing, a finalized invoice never
changes), so the invoice page is read-only for everyone, superusers included; what moves an invoice
are the services, called by actions that ask for confirmation first and report each row's outcome:

- finance (``invoicing.finalize_invoice``): finalize drafts, void, mark uncollectible, create a credit
  note (a small form; the service's error is shown on the form);
- support (``invoicing.resend_invoice``): resend the PDF to the customer; everyone with the view
  permission downloads the PDF.

Credit notes and payments are read-only here (their rows come from the services); billing runs
(start, watch, retry, finalize their drafts) are in admin_runs.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import structlog
from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from accounts.admin import HistoryAdmin
from billing.display import EMPTY, format_money, format_quantity
from config.errors import RatecardError
from invoicing.api.serializers import is_past_due
from invoicing.models import (
    CreditNote,
    FinalizedInvoiceError,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
)
from invoicing.services.credit_notes import credit_note_create, invoice_creditable
from invoicing.services.documents import invoice_send
from invoicing.services.finalization import invoice_finalize, invoice_mark_uncollectible, invoice_void
from invoicing.services.invoice_documents import invoice_pdf_bytes

log = structlog.get_logger(__name__)

FINALIZE_PERM = "invoicing.finalize_invoice"
RESEND_PERM = "invoicing.resend_invoice"
CONFIRM_TEMPLATE = "admin/invoicing/confirm_action.html"


def admin_url(obj: Any, view: str = "change") -> str:
    meta = obj._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=(obj.pk,))


class ReadOnlyAdminMixin:
    """Nobody adds, changes or deletes these rows in the admin; viewing follows the model permissions."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def run_per_row(
    request: HttpRequest,
    modeladmin: admin.ModelAdmin,
    rows: Iterable[Any],
    call: Callable[[Any], Any],
    *,
    done: str,
) -> int:
    """Call ``call(row)`` for each row in its own transaction; one message for the successes
    (``done`` formatted with the count) and one error message per failed row. Returns the count."""
    ok = 0
    for row in rows:
        try:
            with transaction.atomic():
                call(row)
            ok += 1
        except (RatecardError, FinalizedInvoiceError) as exc:
            modeladmin.message_user(request, f"{row}: {getattr(exc, 'message', exc)}", messages.ERROR)
        except Exception as exc:  # a bulk money action reports every row, it does not stop halfway
            log.exception("admin.action_failed", row=str(row), model=row.__class__.__name__)
            modeladmin.message_user(
                request, f"{row}: failed ({exc.__class__.__name__}: {exc})", messages.ERROR
            )
    if ok:
        modeladmin.message_user(request, done.format(count=ok), messages.SUCCESS)
    return ok


def confirmation_page(
    request: HttpRequest,
    modeladmin: admin.ModelAdmin,
    *,
    title: str,
    question: str,
    rows: list[tuple[str, str]],
    confirm_label: str,
    action: str | None = None,
    selected: Iterable[int] = (),
    warning: str = "",
) -> TemplateResponse:
    """An intermediate page like Django's delete confirmation: what will happen to which rows.

    For a changelist action, ``action`` and ``selected`` are posted back with ``post=yes``; for an
    object's own page the form posts to the same URL.
    """
    opts = modeladmin.model._meta
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "subtitle": None,
        "question": question,
        "rows": rows,
        "confirm_label": confirm_label,
        "action": action,
        "selected": list(selected),
        "warning": warning,
        "opts": opts,
        "app_label": opts.app_label,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "back_url": request.META.get("HTTP_REFERER")
        or reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, CONFIRM_TEMPLATE, context)


def invoice_row(invoice: Invoice) -> tuple[str, str]:
    return (
        str(invoice),
        f"{invoice.customer.name} · {invoice.get_status_display()} · total {format_money(invoice.total, invoice.currency)}"
        f" · due {format_money(invoice.amount_due, invoice.currency)}",
    )


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
    fields = ("number", "amount", "reason", "issued_at", "created_by")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[CreditNote]:
        return super().get_queryset(request).select_related("created_by")


class PaymentInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Payment
    extra = 0
    can_delete = False
    fields = (
        "occurred_at",
        "amount",
        "status",
        "method",
        "stripe_payment_intent",
        "failure_reason",
        "amount_refunded",
        "reference",
    )
    readonly_fields = fields


class PastDueFilter(admin.SimpleListFilter):
    title = "past due"
    parameter_name = "past_due"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Past due"), ("no", "Not past due")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> QuerySet[Invoice]:
        past_due = Q(status=InvoiceStatus.OPEN, due_at__lt=timezone.now())
        if self.value() == "yes":
            return queryset.filter(past_due)
        if self.value() == "no":
            return queryset.exclude(past_due)
        return queryset


class CreditNoteForm(forms.Form):
    amount = forms.DecimalField(max_digits=20, decimal_places=12, help_text="In the invoice's currency.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=5000)


@admin.register(Invoice)
class InvoiceAdmin(HistoryAdmin):
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
    actions = (
        "finalize_selected",
        "void_selected",
        "mark_uncollectible_selected",
        "create_credit_note",
        "resend_selected",
    )
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
    readonly_fields = (
        "number",
        "status",
        "customer",
        "subscription",
        "billing_run",
        "pdf_link",
        "billing_date",
        "period_start",
        "period_end",
        "issued_at",
        "due_at",
        "terms",
        "paid_at",
        "voided_at",
        "marked_uncollectible_at",
        "figures",
        "customer_details",
        "seller_details",
        "memo",
    )

    # --- permissions: a document, never edited here -------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet[Invoice]:
        return super().get_queryset(request).defer("pdf")  # type: ignore[no-any-return]

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

    def has_finalize_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        return bool(request.user.has_perm(FINALIZE_PERM))

    def has_credit_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        return bool(request.user.has_perms([FINALIZE_PERM, "invoicing.add_creditnote"]))

    def has_resend_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        return bool(request.user.has_perm(RESEND_PERM))

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

    @admin.display(description="past due", boolean=True)
    def past_due(self, obj: Invoice) -> bool:
        return is_past_due(obj)

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
        credits = Decimal(obj.credits_applied)
        rows = [
            ("Subtotal", obj.subtotal),
            ("of which discounts", -Decimal(obj.discount)),
            ("Tax", obj.tax),
            ("Total", obj.total),
            ("Credits applied" if credits >= 0 else "Credited to the customer's balance", -credits),
            ("Credit notes", -Decimal(obj.amount_credited)),
            ("Amount paid", -Decimal(obj.amount_paid)),
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

    # --- the object's own pages ----------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        own = [
            path("<path:object_id>/pdf/", wrap(self.pdf_view), name="invoicing_invoice_pdf"),
            path("<path:object_id>/finalize/", wrap(self.finalize_view), name="invoicing_invoice_finalize"),
            path("<path:object_id>/void/", wrap(self.void_view), name="invoicing_invoice_void"),
            path(
                "<path:object_id>/credit-note/", wrap(self.credit_note_view), name="invoicing_invoice_credit"
            ),
            path("<path:object_id>/resend/", wrap(self.resend_view), name="invoicing_invoice_resend"),
        ]
        return own + super().get_urls()

    def _invoice(self, request: HttpRequest, object_id: str) -> Invoice:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(self.get_queryset(request).select_related("customer"), pk=object_id)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        invoice = Invoice.objects.filter(pk=object_id).only("id", "status").first()
        tools: list[dict[str, str]] = []
        if invoice is not None:
            label = "Download PDF" if invoice.status != InvoiceStatus.DRAFT else "Preview PDF"
            tools.append({"url": admin_url(invoice, "pdf"), "label": label})
            if invoice.status == InvoiceStatus.DRAFT and self.has_finalize_permission(request):
                tools.append({"url": admin_url(invoice, "finalize"), "label": "Finalize"})
            if invoice.status in (
                InvoiceStatus.OPEN,
                InvoiceStatus.UNCOLLECTIBLE,
            ) and self.has_finalize_permission(request):
                tools.append({"url": admin_url(invoice, "void"), "label": "Void"})
            if invoice.status in (InvoiceStatus.OPEN, InvoiceStatus.PAID) and self.has_credit_permission(
                request
            ):
                tools.append({"url": admin_url(invoice, "credit"), "label": "Create credit note"})
            if invoice.status != InvoiceStatus.DRAFT and self.has_resend_permission(request):
                tools.append({"url": admin_url(invoice, "resend"), "label": "Resend to customer"})
        context = {**(extra_context or {}), "invoice_tools": tools}
        return super().change_view(request, object_id, form_url, context)

    def pdf_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        invoice = self._invoice(request, object_id)
        response = HttpResponse(invoice_pdf_bytes(invoice=invoice), content_type="application/pdf")
        name = invoice.number or f"draft-{invoice.pk}"
        response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
        return response

    def _single_action(
        self,
        request: HttpRequest,
        object_id: str,
        *,
        allowed: bool,
        title: str,
        question: str,
        confirm_label: str,
        call: Callable[[Invoice], Any],
        done: str,
        warning: str = "",
    ) -> HttpResponseBase:
        invoice = self._invoice(request, object_id)
        if not allowed:
            raise PermissionDenied
        if request.method == "POST" and request.POST.get("post") == "yes":
            run_per_row(request, self, [invoice], call, done=done)
            return HttpResponseRedirect(admin_url(invoice))
        return confirmation_page(
            request,
            self,
            title=title,
            question=question,
            rows=[invoice_row(invoice)],
            confirm_label=confirm_label,
            warning=warning,
        )

    def finalize_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        return self._single_action(
            request,
            object_id,
            allowed=self.has_finalize_permission(request),
            title="Finalize invoice",
            question="Finalize this draft? It gets its number, its PDF and can no longer change.",
            confirm_label="Yes, finalize",
            call=lambda inv: invoice_finalize(invoice_id=inv.pk, user=request.user),
            done="Finalized {count} invoice(s).",
        )

    def void_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        return self._single_action(
            request,
            object_id,
            allowed=self.has_finalize_permission(request),
            title="Void invoice",
            question="Void this invoice? It keeps its number; the customer no longer owes it.",
            confirm_label="Yes, void it",
            call=lambda inv: invoice_void(invoice_id=inv.pk, user=request.user),
            done="Voided {count} invoice(s).",
        )

    def resend_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        return self._single_action(
            request,
            object_id,
            allowed=self.has_resend_permission(request),
            title="Resend invoice",
            question="E-mail this invoice's PDF to the customer and its invoice contacts again?",
            confirm_label="Yes, send it",
            call=lambda inv: invoice_send(invoice_id=inv.pk, user=request.user),
            done="Queued {count} e-mail(s): they leave after this page is saved (see E-mails).",
        )

    def credit_note_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        invoice = self._invoice(request, object_id)
        if not self.has_credit_permission(request, invoice):
            raise PermissionDenied
        form = CreditNoteForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                note = credit_note_create(
                    invoice_id=invoice.pk,
                    amount=form.cleaned_data["amount"],
                    reason=form.cleaned_data["reason"],
                    user=request.user,
                )
            except RatecardError as exc:
                for error in exc.errors:
                    field = error.field if error.field in form.fields else None
                    form.add_error(field, error.message)
            else:
                self.message_user(
                    request,
                    f"Credit note {note.number} of {format_money(note.amount, note.currency)} created for {invoice}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(admin_url(invoice))
        opts = self.model._meta
        context = {
            **self.admin_site.each_context(request),
            "title": f"Credit note for {invoice}",
            "subtitle": None,
            "invoice": invoice,
            "form": form,
            "creditable": format_money(invoice_creditable(invoice=invoice), invoice.currency),
            "total": format_money(invoice.total, invoice.currency),
            "amount_due": format_money(invoice.amount_due, invoice.currency),
            "opts": opts,
            "app_label": opts.app_label,
            "original": invoice,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/invoicing/invoice/credit_note_form.html", context)

    # --- changelist actions --------------------------------------------------------------------------

    def _confirmed_action(
        self,
        request: HttpRequest,
        queryset: QuerySet[Invoice],
        *,
        action: str,
        title: str,
        question: str,
        confirm_label: str,
        call: Callable[[Invoice], Any],
        done: str,
    ) -> TemplateResponse | None:
        invoices = list(queryset.select_related("customer").order_by("pk"))
        if request.POST.get("post") == "yes":
            run_per_row(request, self, invoices, call, done=done)
            return None
        return confirmation_page(
            request,
            self,
            title=title,
            question=question,
            rows=[invoice_row(inv) for inv in invoices],
            confirm_label=confirm_label,
            action=action,
            selected=[inv.pk for inv in invoices],
        )

    @admin.action(description="Finalize selected drafts", permissions=["finalize"])
    def finalize_selected(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> TemplateResponse | None:
        return self._confirmed_action(
            request,
            queryset,
            action="finalize_selected",
            title="Finalize invoices",
            question="Finalize these drafts? Each gets its number and PDF and can no longer change. "
            "Invoices that are already finalized are left as they are.",
            confirm_label="Yes, finalize them",
            call=lambda inv: invoice_finalize(invoice_id=inv.pk, user=request.user),
            done="Finalized {count} invoice(s).",
        )

    @admin.action(description="Void selected invoices", permissions=["finalize"])
    def void_selected(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> TemplateResponse | None:
        return self._confirmed_action(
            request,
            queryset,
            action="void_selected",
            title="Void invoices",
            question="Void these invoices? They keep their numbers; the customer no longer owes them.",
            confirm_label="Yes, void them",
            call=lambda inv: invoice_void(invoice_id=inv.pk, user=request.user),
            done="Voided {count} invoice(s).",
        )

    @admin.action(description="Mark selected invoices uncollectible", permissions=["finalize"])
    def mark_uncollectible_selected(
        self, request: HttpRequest, queryset: QuerySet[Invoice]
    ) -> TemplateResponse | None:
        return self._confirmed_action(
            request,
            queryset,
            action="mark_uncollectible_selected",
            title="Mark invoices uncollectible",
            question="Mark these open invoices uncollectible? They can still be paid or voided later.",
            confirm_label="Yes, mark them",
            call=lambda inv: invoice_mark_uncollectible(invoice_id=inv.pk, user=request.user),
            done="Marked {count} invoice(s) uncollectible.",
        )

    @admin.action(description="Create a credit note (one invoice)", permissions=["credit"])
    def create_credit_note(
        self, request: HttpRequest, queryset: QuerySet[Invoice]
    ) -> HttpResponseBase | None:
        ids = list(queryset.values_list("pk", flat=True)[:2])
        if len(ids) != 1:
            self.message_user(request, "Select exactly one invoice to credit.", messages.WARNING)
            return None
        return HttpResponseRedirect(reverse("admin:invoicing_invoice_credit", args=(ids[0],)))

    @admin.action(description="Resend selected invoices to the customer", permissions=["resend"])
    def resend_selected(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> TemplateResponse | None:
        return self._confirmed_action(
            request,
            queryset,
            action="resend_selected",
            title="Resend invoices",
            question="E-mail these invoices' PDFs to their customers and invoice contacts again?",
            confirm_label="Yes, send them",
            call=lambda inv: invoice_send(invoice_id=inv.pk, user=request.user),
            done="Queued {count} e-mail(s): they leave after this page is saved (see E-mails).",
        )


# --- credit notes and payments ----------------------------------------------------------------------


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
        "currency",
        "amount",
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
        "currency",
        "amount",
        "status",
        "method",
        "reference",
        "stripe_payment_intent",
        "failure_reason",
        "amount_refunded",
        "occurred_at",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: Payment) -> str:
        return format_money(obj.amount, obj.currency)


# billing runs (start one, watch it, see what it billed, finalize its drafts) and the e-mail outbox have
# their own modules (they use the helpers above)
from invoicing import admin_outbox, admin_payments, admin_runs  # noqa: E402, F401
