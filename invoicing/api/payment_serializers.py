"""A payment as API.md shows it (``invoice.payments``, ``POST /invoices/{id}/payments``)."""

from __future__ import annotations

from rest_framework import serializers

from config.api.fields import AmountField, CurrencyContextMixin
from invoicing.models import Payment


class PaymentSerializer(CurrencyContextMixin, serializers.ModelSerializer):
    """A payment as API.md shows it in ``invoice.payments``."""

    amount = AmountField()
    amount_refunded = AmountField()
    failure_message = serializers.CharField(source="failure_reason")

    class Meta:
        model = Payment
        fields = (
            "id",
            "amount",
            "currency",
            "method",
            "status",
            "reference",
            "stripe_payment_intent",
            "created_at",
            "failure_message",
            "amount_refunded",
        )
