"""Finance's money pages on one invoice: record a payment received by bank transfer or check, and void
with a reason that is kept on the invoice (and shown on its page).

Both are a form, then a confirmation of exactly what will be written, then the service:
``payment_record_manual`` (the API's ``POST /invoices/{id}/payments``: a transfer, check or other
payment, never more than the amount due) and ``invoice_void``. This page is the admin's one way to
record a payment by hand (the payments list sends its "add" here); card payments come from Stripe.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect
from django.utils import timezone

from billing.display import format_money, local_datetime, zone
from billing.pricing.money import round_amount
from config.admin_kit import admin_page, admin_url, form_digest
from config.errors import RatecardError
from invoicing.admin.draft_lines import DraftLinesMixin
from invoicing.models import FinalizedInvoiceError, Invoice, InvoiceStatus
from invoicing.services.finalization import invoice_void
from invoicing.services.payment_outcomes import MANUAL_METHODS, payment_record_manual

PAYMENT_TEMPLATE = "admin/invoicing/invoice/money_form.html"
PAYABLE = (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE)
METHODS = tuple((m.value, m.label.capitalize()) for m in MANUAL_METHODS)
PAYMENT_PERM = "invoicing.add_payment"


class PaymentForm(forms.Form):
    amount = forms.DecimalField(
        max_digits=20, decimal_places=12, help_text="In the invoice's currency; at most the amount due."
    )
    method = forms.ChoiceField(choices=METHODS, widget=forms.RadioSelect, initial=MANUAL_METHODS[0].value)
    reference = forms.CharField(
        max_length=255,
        help_text="The bank's transaction id or the check number: recording the same one twice is refused.",
    )
    received_at = forms.DateTimeField(label="received at", help_text="UTC, e.g. 2026-11-30 09:00.")


class VoidForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=2000,
        help_text="Kept on the invoice and shown on its page.",
    )


class InvoicePaymentsMixin(DraftLinesMixin):
    """Mixed into ``InvoiceAdmin`` before ``InvoiceActionsMixin`` (which routes ``payment/`` and ``void/``)."""

    def has_finalize_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        return bool(request.user.has_perm("invoicing.finalize_invoice"))

    def has_record_payment_permission(self, request: HttpRequest, obj: Invoice | None = None) -> bool:
        return bool(request.user.has_perm(PAYMENT_PERM))

    def _money_invoice(self, request: HttpRequest, object_id: str, *, perm: str = "finalize") -> Invoice:
        allowed = self.has_record_payment_permission if perm == "payment" else self.has_finalize_permission
        if not allowed(request):
            raise PermissionDenied
        invoice = Invoice.objects.select_related("customer").defer("pdf").filter(pk=object_id).first()
        if invoice is None:
            raise PermissionDenied
        return invoice

    def _confirmable(
        self,
        request: HttpRequest,
        invoice: Invoice,
        form: forms.Form,
        *,
        title: str,
        summary: Any,
        confirm_label: str,
        write: Any,
    ) -> HttpResponseBase:
        """Form -> "Review" shows ``summary(cleaned_data)`` -> "Confirm" calls ``write(cleaned_data)``."""
        summary_rows: list[tuple[str, str]] = []
        digest = ""
        if request.method == "POST" and form.is_valid():
            digest = form_digest(form.cleaned_data)
            if "confirm" in request.POST and request.POST.get("previewed") == digest:
                try:
                    text = write(form.cleaned_data)
                except (RatecardError, FinalizedInvoiceError) as exc:
                    for error in getattr(exc, "errors", [None]):
                        name = getattr(error, "field", None)
                        form.add_error(
                            name if name in form.fields else None, getattr(error, "message", str(exc))
                        )
                    digest = ""
                else:
                    self.message_user(request, text, messages.SUCCESS)
                    return HttpResponseRedirect(admin_url(invoice))
            if digest:
                summary_rows = summary(form.cleaned_data)
        return admin_page(
            request,
            self,
            PAYMENT_TEMPLATE,
            title=title,
            invoice=invoice,
            original=invoice,
            form=form,
            summary=summary_rows,
            digest=digest if summary_rows else "",
            confirm_label=confirm_label,
            total=format_money(invoice.total, invoice.currency),
            amount_due=format_money(invoice.amount_due, invoice.currency),
        )

    def payment_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        invoice = self._money_invoice(request, object_id, perm="payment")
        if invoice.status not in PAYABLE:
            self.message_user(
                request,
                f"{invoice} is {invoice.get_status_display().lower()}: nothing to pay.",
                messages.WARNING,
            )
            return HttpResponseRedirect(admin_url(invoice))
        now = timezone.now().replace(second=0, microsecond=0)
        form = PaymentForm(
            request.POST or None,
            initial={
                "amount": round_amount(Decimal(invoice.amount_due), invoice.currency),
                "received_at": now,
            },
        )
        tz = zone("UTC")

        def summary(d: dict[str, Any]) -> list[tuple[str, str]]:
            left = Decimal(invoice.amount_due) - d["amount"]
            return [
                ("Invoice", f"{invoice} · {invoice.customer.name}"),
                (
                    "Payment",
                    f"{format_money(d['amount'], invoice.currency)} by {dict(METHODS)[d['method']].lower()}, "
                    f"reference {d['reference']}",
                ),
                ("Received", f"{local_datetime(d['received_at'], tz)} UTC"),
                (
                    "Amount due after",
                    format_money(left, invoice.currency)
                    + (" — the invoice becomes paid" if left == 0 else ""),
                ),
            ]

        def write(d: dict[str, Any]) -> str:
            payment = payment_record_manual(
                invoice_id=invoice.pk,
                amount=d["amount"],
                at=d["received_at"],
                method=d["method"],
                reference=d["reference"].strip(),
            )
            method = payment.get_method_display()
            return f"Recorded {format_money(payment.amount, payment.currency)} ({method} {payment.reference}) on {invoice}."

        return self._confirmable(
            request,
            invoice,
            form,
            title=f"Record a payment on {invoice}",
            summary=summary,
            confirm_label="Yes, record the payment",
            write=write,
        )

    def void_view(self, request: HttpRequest, object_id: str) -> HttpResponseBase:
        invoice = self._money_invoice(request, object_id)
        form = VoidForm(request.POST or None)

        def summary(d: dict[str, Any]) -> list[tuple[str, str]]:
            return [
                ("Invoice", f"{invoice} · {invoice.customer.name} · {invoice.get_status_display()}"),
                (
                    "After",
                    f"void; it keeps its number; {format_money(invoice.amount_due, invoice.currency)} is no longer owed",
                ),
                ("Reason kept", d["reason"]),
            ]

        def write(d: dict[str, Any]) -> str:
            invoice_void(invoice_id=invoice.pk, user=request.user, reason=d["reason"])
            return f"Voided {invoice}."

        return self._confirmable(
            request,
            invoice,
            form,
            title=f"Void {invoice}",
            summary=summary,
            confirm_label="Yes, void it",
            write=write,
        )
