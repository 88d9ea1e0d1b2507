"""Finance's review of a draft: add a one-off line, or remove one added in review, before finalization.

The page lists the draft's lines added in review (each with "Remove", which asks first) above a small
form for a new one; the services (``invoicing.services.draft_review``) write through the production
draft writer, so the totals on the invoice page are recomputed the way a billing run computes them.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect

from billing.display import format_money, format_quantity
from config.admin_kit import admin_page, admin_url, confirmation_page
from config.errors import RatecardError
from invoicing.models import Invoice, InvoiceLine, InvoiceStatus
from invoicing.services.draft_review import ADDED_IN_REVIEW, draft_line_add, draft_line_remove

TEMPLATE = "admin/invoicing/invoice/draft_lines.html"


class DraftLineForm(forms.Form):
    description = forms.CharField(max_length=500)
    unit_amount = forms.DecimalField(label="unit price", max_digits=20, decimal_places=12)
    quantity = forms.DecimalField(
        max_digits=28, decimal_places=12, initial=1, min_value=Decimal("0.000000000001")
    )


class DraftLinesMixin(admin.ModelAdmin):
    """Mixed into ``InvoiceAdmin`` (``InvoiceActionsMixin`` routes ``lines/``)."""

    def _draft(self, request: HttpRequest, object_id: str) -> Invoice:
        if not request.user.has_perm("invoicing.finalize_invoice"):
            raise PermissionDenied
        invoice = Invoice.objects.select_related("customer").defer("pdf").filter(pk=object_id).first()
        if invoice is None:
            raise PermissionDenied
        return invoice

    def draft_lines_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        invoice = self._draft(request, object_id)
        if invoice.status != InvoiceStatus.DRAFT:
            self.message_user(
                request, f"{invoice} is finalized: correct it with a credit note.", messages.WARNING
            )
            return HttpResponseRedirect(admin_url(invoice))
        added = [
            line
            for line in InvoiceLine.objects.filter(invoice=invoice).order_by("position", "pk")
            if (line.detail or {}).get(ADDED_IN_REVIEW)
        ]
        remove = request.POST.get("remove")
        if remove:
            line = next((line for line in added if str(line.pk) == remove), None)
            if line is None:
                raise PermissionDenied
            if request.POST.get("post") == "yes":
                draft_line_remove(line_id=line.pk, user=request.user)
                self.message_user(request, f"Removed “{line.description}” from {invoice}.", messages.SUCCESS)
                return HttpResponseRedirect(admin_url(invoice))
            return confirmation_page(
                request,
                self,
                title=f"Remove a line from {invoice}",
                question="Remove this line from the draft? Its totals are recomputed.",
                rows=[(line.description, format_money(line.amount, invoice.currency))],
                confirm_label="Yes, remove it",
                hidden={"remove": str(line.pk)},
            )
        form = DraftLineForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            try:
                line = draft_line_add(
                    invoice_id=invoice.pk,
                    description=d["description"],
                    unit_amount=d["unit_amount"],
                    quantity=d["quantity"],
                    user=request.user,
                )
            except RatecardError as exc:
                for error in exc.errors:
                    form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                self.message_user(
                    request,
                    f"Added “{line.description}” ({format_money(line.amount, invoice.currency)}) to {invoice}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(admin_url(invoice))
        return admin_page(
            request,
            self,
            TEMPLATE,
            title=f"Review lines of {invoice}",
            invoice=invoice,
            original=invoice,
            form=form,
            added=[
                (
                    line.pk,
                    line.description,
                    format_quantity(line.quantity),
                    format_money(line.amount, invoice.currency),
                )
                for line in added
            ],
            total=format_money(invoice.total, invoice.currency),
        )
