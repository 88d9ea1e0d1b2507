"""Invoice and credit-note API shapes: money as decimal strings in the object's currency."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.api.subscription_views import WhenField
from config.api.fields import AmountField, CurrencyContextMixin
from invoicing.models import CreditNote, Invoice, InvoiceLine
from invoicing.selectors import invoice_is_past_due


def plain_decimal(value: Decimal) -> str:
    """``1500``, ``0.5``, ``2.25``: a decimal string without trailing zeros nor exponent."""
    text = f"{value.normalize():f}"
    return "0" if text in ("-0", "0") else text


@extend_schema_field(OpenApiTypes.STR)
class QuantityField(serializers.Field):
    """A quantity as a plain decimal string (``"1500"``, ``"0.5"``)."""

    def to_representation(self, value: Any) -> str:
        return plain_decimal(Decimal(value))


class InvoiceLineSerializer(serializers.ModelSerializer):
    quantity = QuantityField()
    unit_amount = AmountField(allow_null=True)
    amount = AmountField()
    tax = AmountField()

    class Meta:
        model = InvoiceLine
        fields = (
            "description",
            "kind",
            "quantity",
            "unit_amount",
            "amount",
            "tax",
            "period_start",
            "period_end",
        )


class InvoiceSerializer(CurrencyContextMixin, serializers.ModelSerializer):
    """API.md's invoice. Prefetch ``lines`` and select ``customer`` for lists (see ``invoices_for_api``)."""

    customer = serializers.CharField(source="customer.external_id")
    past_due = serializers.SerializerMethodField()
    subtotal = AmountField()
    discount = AmountField()
    tax = AmountField()
    total = AmountField()
    credits_applied = AmountField()
    amount_credited = AmountField(help_text="The credit notes issued against the invoice.")
    amount_due = AmountField()
    amount_paid = AmountField()
    lines = InvoiceLineSerializer(many=True)

    class Meta:
        model = Invoice
        fields = (
            "id",
            "number",
            "customer",
            "status",
            "past_due",
            "currency",
            "period_start",
            "period_end",
            "issued_at",
            "due_at",
            "subtotal",
            "discount",
            "tax",
            "total",
            "credits_applied",
            "amount_credited",
            "amount_due",
            "amount_paid",
            "lines",
        )

    def get_past_due(self, invoice: Invoice) -> bool:
        # as of the request's time, which the view puts in the context (``invoice_context``)
        return invoice_is_past_due(invoice=invoice, at=self.context["at"])


class CreditNoteSerializer(CurrencyContextMixin, serializers.ModelSerializer):
    invoice = serializers.IntegerField(source="invoice_id", read_only=True)
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)
    customer = serializers.CharField(source="customer.external_id", read_only=True)
    amount = AmountField()

    class Meta:
        model = CreditNote
        fields = (
            "id",
            "number",
            "invoice",
            "invoice_number",
            "customer",
            "amount",
            "currency",
            "reason",
            "issued_at",
        )


class CreditNoteInSerializer(serializers.Serializer):
    """Shapes only; ``credit_note_create`` checks the amount against the invoice and its currency."""

    invoice = serializers.IntegerField(min_value=1)
    amount = AmountField()
    reason = serializers.CharField(max_length=5000)
    at = WhenField(allow_period_end=False, required=False)


class InvoiceActionInSerializer(serializers.Serializer):
    """Optional business time of a finalize or void (default: now)."""

    at = WhenField(allow_period_end=False, required=False)
