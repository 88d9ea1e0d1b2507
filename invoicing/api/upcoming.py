"""``GET /api/v1/customers/{external_id}/upcoming-invoice``: the next invoice so far (status ``preview``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.views import customer_or_404
from config.api.fields import format_amount
from invoicing.api.serializers import InvoiceSerializer
from invoicing.services.preview import InvoicePreview, upcoming_invoice


class UpcomingInvoiceSerializer(InvoiceSerializer):
    """The preview's shape, for the schema: an invoice not created yet (no id, status ``preview``)."""

    id = serializers.IntegerField(allow_null=True, read_only=True)
    status = serializers.ChoiceField(choices=["preview"], read_only=True)
    billing_date = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta(InvoiceSerializer.Meta):
        fields = (*InvoiceSerializer.Meta.fields, "billing_date")  # type: ignore[assignment]


def _time(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def preview_body(preview: InvoicePreview) -> dict[str, Any]:
    cur = preview.currency
    totals = preview.totals
    return {
        "id": None,
        "number": None,
        "customer": preview.customer.external_id,
        "status": "preview",
        "past_due": False,
        "currency": cur,
        "billing_date": _time(preview.billing_date),
        "period_start": _time(preview.period_start),
        "period_end": _time(preview.period_end),
        "issued_at": None,
        "due_at": None,
        "subtotal": format_amount(totals.subtotal, cur),
        "discount": format_amount(totals.discount, cur),
        "tax": format_amount(totals.tax, cur),
        "total": format_amount(totals.total, cur),
        "credits_applied": format_amount(totals.credits_applied, cur),
        "amount_credited": format_amount(Decimal(0), cur),  # no credit note before it is issued
        "amount_due": format_amount(totals.amount_due, cur),
        "amount_paid": format_amount(totals.amount_paid, cur),
        "lines": [
            {
                "description": line.draft.description,
                "kind": line.draft.kind,
                "quantity": f"{line.draft.quantity.normalize():f}",
                "unit_amount": format_amount(line.draft.unit_amount, cur),
                "amount": format_amount(line.draft.amount, cur),
                "tax": format_amount(line.tax, cur),
                "period_start": _time(line.draft.period_start),
                "period_end": _time(line.draft.period_end),
            }
            for line in preview.lines
        ],
        "payments": [],  # an invoice not created yet has no payments (the schema's shape)
    }


class UpcomingInvoice(generics.GenericAPIView):
    required_permissions = {"GET": ["invoicing.view_invoice"]}
    serializer_class = UpcomingInvoiceSerializer  # the shape; the preview is built by preview_body

    @extend_schema(responses=UpcomingInvoiceSerializer)
    def get(self, request: Request, external_id: str) -> Response:
        return Response(preview_body(upcoming_invoice(customer=customer_or_404(external_id))))
