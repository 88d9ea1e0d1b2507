"""One-off charges for a customer: ``POST /api/v1/customers/{external_id}/charges``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.views import customer_or_404
from billing.api.subscription_views import MAX_QUANTITY, WhenField
from config.api.fields import AmountField, format_amount
from config.api.idempotency import idempotent_write
from config.api.views import reject_unknown_fields, validated
from invoicing.services import subscription_invoicing

MAX_CHARGE_AMOUNT = Decimal(1_000_000_000_000)


class ChargeInSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=500)
    unit_amount = AmountField(min_value=Decimal(0), max_value=Decimal("1000000000"))
    quantity = serializers.DecimalField(
        max_digits=20,
        decimal_places=6,
        min_value=Decimal("0.000001"),
        max_value=MAX_QUANTITY,
        required=False,
        default=Decimal(1),
    )
    invoice_now = serializers.BooleanField(required=False, default=False)
    at = WhenField(allow_period_end=False, required=False, default=None)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # the line's amount is numeric(20, 4): keep the product far inside it
        if attrs["unit_amount"] * attrs["quantity"] > MAX_CHARGE_AMOUNT:
            raise serializers.ValidationError(
                {"quantity": f"unit_amount × quantity must not exceed {MAX_CHARGE_AMOUNT:,}."}
            )
        return attrs


CHARGE_DOC = inline_serializer(
    "Charge",
    {
        "id": serializers.IntegerField(),
        "customer": serializers.CharField(),
        "description": serializers.CharField(),
        "currency": serializers.CharField(),
        "quantity": serializers.CharField(),
        "unit_amount": serializers.CharField(),
        "amount": serializers.CharField(),
        "invoice": serializers.IntegerField(allow_null=True, help_text="Set when invoiced at once."),
    },
)


class CustomerCharges(generics.GenericAPIView):
    required_permissions = {"POST": ["billing.add_pendingline"]}
    serializer_class = ChargeInSerializer

    @extend_schema(request=ChargeInSerializer, responses={201: CHARGE_DOC})
    @idempotent_write
    def post(self, request: Request, external_id: str) -> Response:
        customer = customer_or_404(external_id)
        reject_unknown_fields(request, set(ChargeInSerializer().fields))
        data = validated(ChargeInSerializer, request).validated_data
        line, invoice = subscription_invoicing.one_off_charge_create(
            customer=customer,
            description=data["description"],
            unit_amount=data["unit_amount"],
            quantity=data["quantity"],
            invoice_now=data["invoice_now"],
            at=data["at"],
            user=request.user,
        )
        body = {
            "id": line.pk,
            "customer": customer.external_id,
            "description": line.description,
            "currency": line.currency,
            "quantity": f"{line.quantity.normalize():f}",
            "unit_amount": format_amount(line.unit_amount, line.currency),
            "amount": format_amount(line.amount, line.currency),
            "invoice": invoice.pk if invoice else None,
        }
        return Response(body, status=status.HTTP_201_CREATED)
