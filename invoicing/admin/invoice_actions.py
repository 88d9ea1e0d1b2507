"""What moves an invoice from the admin: its own pages (PDF, finalize, void, credit note, resend) and the
changelist's bulk actions, each asking for confirmation first and reporting each row's outcome.

- finance (``invoicing.finalize_invoice``): finalize drafts, void, mark uncollectible, create a credit
  note (a small form; the service's error is shown on the form);
- support (``invoicing.resend_invoice``): resend the PDF to the customer; everyone with the view
  permission downloads the PDF.

``InvoiceActionsMixin`` is mixed into ``InvoiceAdmin`` (``invoicing.admin.invoices``); the views are thin,
the services do the work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from billing.display import format_money
from config.admin_kit import admin_page, admin_url, confirmation_page, run_per_row
from config.errors import RatecardError
from invoicing.models import FinalizedInvoiceError, Invoice, InvoiceStatus
from invoicing.services.credit_notes import credit_note_create, invoice_creditable
from invoicing.services.finalization import invoice_finalize, invoice_mark_uncollectible, invoice_void
from invoicing.services.invoice_documents import invoice_pdf_bytes
from invoicing.services.invoice_sending import invoice_send

FINALIZE_PERM = "invoicing.finalize_invoice"
RESEND_PERM = "invoicing.resend_invoice"
# besides RatecardError, what a service refuses with when a row cannot be acted on
REFUSALS = (FinalizedInvoiceError,)


def invoice_row(invoice: Invoice) -> tuple[str, str]:
    """An invoice as a confirmation page lists it (select its ``customer``)."""
    return (
        str(invoice),
        f"{invoice.customer.name} · {invoice.get_status_display()} · total "
        f"{format_money(invoice.total, invoice.currency)} · due {format_money(invoice.amount_due, invoice.currency)}",
    )


@dataclass(frozen=True)
class InvoiceAction:
    """One thing done to invoices, worded for one invoice (its page) and for several (the changelist)."""

    permission: str  # "finalize" or "resend": the admin's has_<permission>_permission
    title: str
    titles: str
    question: str
    questions: str
    confirm_label: str  # "Yes, void": " it" or " them" is added
    call: Callable[..., Any]  # a service taking invoice_id= and user=
    done: str


ACTIONS = {
    "finalize": InvoiceAction(
        permission="finalize",
        title="Finalize invoice",
        titles="Finalize invoices",
        question="Finalize this draft? It gets its number, its PDF and can no longer change.",
        questions="Finalize these drafts? Each gets its number and PDF and can no longer change. "
        "Invoices that are already finalized are left as they are.",
        confirm_label="Yes, finalize",
        call=invoice_finalize,
        done="Finalized {count} invoice(s).",
    ),
    "void": InvoiceAction(
        permission="finalize",
        title="Void invoice",
        titles="Void invoices",
        question="Void this invoice? It keeps its number; the customer no longer owes it.",
        questions="Void these invoices? They keep their numbers; the customer no longer owes them.",
        confirm_label="Yes, void",
        call=invoice_void,
        done="Voided {count} invoice(s).",
    ),
    "mark_uncollectible": InvoiceAction(
        permission="finalize",
        title="Mark invoice uncollectible",
        titles="Mark invoices uncollectible",
        question="Mark this open invoice uncollectible? It can still be paid or voided later.",
        questions="Mark these open invoices uncollectible? They can still be paid or voided later.",
        confirm_label="Yes, mark",
        call=invoice_mark_uncollectible,
        done="Marked {count} invoice(s) uncollectible.",
    ),
    "resend": InvoiceAction(
        permission="resend",
        title="Resend invoice",
        titles="Resend invoices",
        question="E-mail this invoice's PDF to the customer and its invoice contacts again?",
        questions="E-mail these invoices' PDFs to their customers and invoice contacts again?",
        confirm_label="Yes, send",
        call=invoice_send,
        done="Queued {count} e-mail(s): they leave after this page is saved (see E-mails).",
    ),
}


class CreditNoteForm(forms.Form):
    amount = forms.DecimalField(max_digits=20, decimal_places=12, help_text="In the invoice's currency.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=5000)


class InvoiceActionsMixin(admin.ModelAdmin):
    """The invoice admin's own pages and bulk actions (see the module's docstring)."""

    actions = (
        "finalize_selected",
        "void_selected",
        "mark_uncollectible_selected",
        "create_credit_note",
        "resend_selected",
    )

    def has_finalize_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        return bool(request.user.has_perm(FINALIZE_PERM))

    def has_credit_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        return bool(request.user.has_perms([FINALIZE_PERM, "invoicing.add_creditnote"]))

    def has_resend_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        return bool(request.user.has_perm(RESEND_PERM))

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        own = [
            path("<path:object_id>/pdf/", wrap(self.pdf_view), name="invoicing_invoice_pdf"),
            path(
                "<path:object_id>/finalize/",
                wrap(self.single_action_view),
                {"name": "finalize"},
                name="invoicing_invoice_finalize",
            ),
            path(
                "<path:object_id>/void/",
                wrap(self.single_action_view),
                {"name": "void"},
                name="invoicing_invoice_void",
            ),
            path(
                "<path:object_id>/credit-note/", wrap(self.credit_note_view), name="invoicing_invoice_credit"
            ),
            path(
                "<path:object_id>/resend/",
                wrap(self.single_action_view),
                {"name": "resend"},
                name="invoicing_invoice_resend",
            ),
        ]
        return own + super().get_urls()

    def _invoice(self, request: HttpRequest, object_id: str) -> Invoice:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(self.get_queryset(request).select_related("customer"), pk=object_id)

    def _run(self, request: HttpRequest, action: InvoiceAction, invoices: list[Invoice]) -> int:
        return run_per_row(
            request,
            self,
            invoices,
            lambda inv: action.call(invoice_id=inv.pk, user=request.user),
            done=action.done,
            expected=REFUSALS,
        )

    # --- the object's own pages ----------------------------------------------------------------------

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The invoice's page, with the buttons of what this user may do to it now."""
        invoice = Invoice.objects.filter(pk=object_id).only("id", "status").first()
        tools: list[dict[str, str]] = []
        if invoice is not None:
            status = invoice.status
            label = "Download PDF" if status != InvoiceStatus.DRAFT else "Preview PDF"
            tools.append({"url": admin_url(invoice, "pdf"), "label": label})
            finance = self.has_finalize_permission(request)
            if status == InvoiceStatus.DRAFT and finance:
                tools.append({"url": admin_url(invoice, "finalize"), "label": "Finalize"})
            if status in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE) and finance:
                tools.append({"url": admin_url(invoice, "void"), "label": "Void"})
            if status in (InvoiceStatus.OPEN, InvoiceStatus.PAID) and self.has_credit_permission(request):
                tools.append({"url": admin_url(invoice, "credit"), "label": "Create credit note"})
            if status != InvoiceStatus.DRAFT and self.has_resend_permission(request):
                tools.append({"url": admin_url(invoice, "resend"), "label": "Resend to customer"})
        context = {**(extra_context or {}), "invoice_tools": tools}
        response: HttpResponse = super().change_view(request, object_id, form_url, context)
        return response

    def pdf_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        invoice = self._invoice(request, object_id)
        response = HttpResponse(invoice_pdf_bytes(invoice=invoice), content_type="application/pdf")
        name = invoice.number or f"draft-{invoice.pk}"
        response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
        return response

    def single_action_view(self, request: HttpRequest, object_id: str, name: str) -> HttpResponseBase:
        """Finalize, void or resend one invoice from its page: confirm, then run and go back to it."""
        action = ACTIONS[name]
        invoice = self._invoice(request, object_id)
        if not getattr(self, f"has_{action.permission}_permission")(request):
            raise PermissionDenied
        if request.method == "POST" and request.POST.get("post") == "yes":
            self._run(request, action, [invoice])
            return HttpResponseRedirect(admin_url(invoice))
        return confirmation_page(
            request,
            self,
            title=action.title,
            question=action.question,
            rows=[invoice_row(invoice)],
            confirm_label=f"{action.confirm_label} it",
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
        return admin_page(
            request,
            self,
            "admin/invoicing/invoice/credit_note_form.html",
            title=f"Credit note for {invoice}",
            invoice=invoice,
            original=invoice,
            form=form,
            creditable=format_money(invoice_creditable(invoice=invoice), invoice.currency),
            total=format_money(invoice.total, invoice.currency),
            amount_due=format_money(invoice.amount_due, invoice.currency),
        )

    # --- changelist actions --------------------------------------------------------------------------

    def _confirmed_action(
        self, request: HttpRequest, queryset: QuerySet[Invoice], name: str
    ) -> TemplateResponse | None:
        action = ACTIONS[name]
        invoices = list(queryset.select_related("customer").order_by("pk"))
        if request.POST.get("post") == "yes":
            self._run(request, action, invoices)
            return None
        return confirmation_page(
            request,
            self,
            title=action.titles,
            question=action.questions,
            rows=[invoice_row(inv) for inv in invoices],
            confirm_label=f"{action.confirm_label} them",
            action=f"{name}_selected",
            selected=[inv.pk for inv in invoices],
        )

    @admin.action(description="Finalize selected drafts", permissions=["finalize"])
    def finalize_selected(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> TemplateResponse | None:
        return self._confirmed_action(request, queryset, "finalize")

    @admin.action(description="Void selected invoices", permissions=["finalize"])
    def void_selected(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> TemplateResponse | None:
        return self._confirmed_action(request, queryset, "void")

    @admin.action(description="Mark selected invoices uncollectible", permissions=["finalize"])
    def mark_uncollectible_selected(
        self, request: HttpRequest, queryset: QuerySet[Invoice]
    ) -> TemplateResponse | None:
        return self._confirmed_action(request, queryset, "mark_uncollectible")

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
        return self._confirmed_action(request, queryset, "resend")
