"""Payment endpoints (API.md "Payments"): a default card, manual payments, refunds. Thin: shape checks,
then a service call."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.views import customer_or_404
from billing.api.subscription_views import WhenField
from config.api.fields import AmountField, CurrencyContextMixin
from config.api.idempotency import idempotent_write
from config.api.views import reject_unknown_fields, validated
from invoicing.api.payment_serializers import PaymentSerializer
from invoicing.api.serializers import CreditNoteSerializer
from invoicing.api.views import InvoicingView, invoice_or_404
from invoicing.models import CustomerPaymentMethod, Refund
from invoicing.services.payment_outcomes import MANUAL_METHODS, payment_record_manual
from invoicing.services.payment_refunds import payment_refund
from invoicing.services.stripe_sync import customer_payment_method_set


class RefundSerializer(CurrencyContextMixin, serializers.ModelSerializer):
    amount = AmountField()
    payment = serializers.IntegerField(source="payment_id")
    invoice = serializers.IntegerField(source="invoice_id")

    class Meta:
        model = Refund
        fields = (
            "id",
            "payment",
            "invoice",
            "amount",
            "currency",
            "reason",
            "status",
            "stripe_refund_id",
            "refunded_at",
        )


class PaymentMethodInSerializer(serializers.Serializer):
    payment_method = serializers.CharField(max_length=255)


class PaymentMethodOutSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer.external_id")
    payment_method = serializers.CharField(source="stripe_payment_method_id")
    stripe_customer_id = serializers.CharField(source="customer.stripe_customer_id")

    class Meta:
        model = CustomerPaymentMethod
        fields = (
            "customer",
            "stripe_customer_id",
            "payment_method",
            "brand",
            "last4",
            "exp_month",
            "exp_year",
        )


class ManualPaymentInSerializer(serializers.Serializer):
    amount = AmountField()
    method = serializers.ChoiceField(choices=[(m.value, m.label) for m in MANUAL_METHODS])
    reference = serializers.CharField(max_length=255, allow_blank=True)
    paid_at = WhenField(allow_period_end=False, required=False)


class RefundInSerializer(serializers.Serializer):
    amount = AmountField()
    reason = serializers.CharField(max_length=5000)
    at = WhenField(allow_period_end=False, required=False)


class CustomerPaymentMethodSet(InvoicingView):
    """Attach a Stripe payment method to the customer and make it the default card."""

    required_permissions = {"POST": ["accounts.change_customer", "invoicing.add_customerpaymentmethod"]}
    serializer_class = PaymentMethodOutSerializer

    @extend_schema(
        request=PaymentMethodInSerializer,
        responses={
            200: PaymentMethodOutSerializer,
            503: OpenApiResponse(description="Stripe could not be reached; nothing changed."),
        },
    )
    @idempotent_write
    def post(self, request: Request, external_id: str) -> Response:
        reject_unknown_fields(request, {"payment_method"})
        data = validated(PaymentMethodInSerializer, request).validated_data
        customer = customer_or_404(external_id)
        saved = customer_payment_method_set(customer_id=customer.pk, payment_method_id=data["payment_method"])
        saved.customer.refresh_from_db()
        return Response(PaymentMethodOutSerializer(saved).data)


class InvoicePaymentCreate(InvoicingView):
    """A payment received outside Stripe (bank transfer, check, other); never above what is due."""

    required_permissions = {"POST": ["invoicing.view_invoice", "invoicing.add_payment"]}
    serializer_class = PaymentSerializer

    @extend_schema(request=ManualPaymentInSerializer, responses={201: PaymentSerializer})
    @idempotent_write
    def post(self, request: Request, invoice_id: int) -> Response:
        reject_unknown_fields(request, {"amount", "method", "reference", "paid_at"})
        data = validated(ManualPaymentInSerializer, request).validated_data
        invoice_or_404(invoice_id)
        payment = payment_record_manual(
            invoice_id=invoice_id,
            amount=data["amount"],
            method=data["method"],
            reference=data["reference"],
            at=data.get("paid_at"),
        )
        return Response(PaymentSerializer(payment, context={}).data, status=status.HTTP_201_CREATED)


class PaymentRefund(InvoicingView):
    """Refund part or all of a payment: a credit note, and a Stripe refund for a card payment."""

    required_permissions = {"POST": ["invoicing.add_refund", "invoicing.add_creditnote"]}
    serializer_class = RefundSerializer

    @extend_schema(
        request=RefundInSerializer,
        responses={
            201: inline_serializer(
                "RefundCreated", {"credit_note": CreditNoteSerializer(), "refund": RefundSerializer()}
            )
        },
    )
    @idempotent_write
    def post(self, request: Request, payment_id: int) -> Response:
        reject_unknown_fields(request, {"amount", "reason", "at"})
        data: dict[str, Any] = validated(RefundInSerializer, request).validated_data
        note, refund = payment_refund(
            payment_id=payment_id,
            amount=data["amount"],
            reason=data["reason"],
            at=data.get("at"),
            user=request.user,
        )
        body = {
            "credit_note": CreditNoteSerializer(note, context={}).data,
            "refund": RefundSerializer(refund, context={}).data,
        }
        return Response(body, status=status.HTTP_201_CREATED)
