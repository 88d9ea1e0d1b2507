"""Invoice and credit-note endpoints (API.md "Invoices"). Thin: shape checks, then a service call.

There is no endpoint that edits an invoice: PATCH/PUT/DELETE on an invoice are 405 (a draft is built
by billing, a finalized invoice never changes; corrections are credit notes).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from config.api.idempotency import idempotent_write
from config.api.views import reject_unknown_fields, validated
from config.errors import NotFound, ValidationFailed
from invoicing.api.serializers import (
    CreditNoteInSerializer,
    CreditNoteSerializer,
    InvoiceActionInSerializer,
    InvoiceSerializer,
)
from invoicing.models import CreditNote, Invoice, InvoiceStatus
from invoicing.selectors import (
    credit_note_for_api,
    credit_notes_for_api,
    invoice_for_api,
    invoice_for_pdf,
    invoices_for_api,
)
from invoicing.services.credit_notes import credit_note_create
from invoicing.services.finalization import invoice_finalize, invoice_void
from invoicing.services.invoice_documents import invoice_pdf_bytes
from invoicing.services.invoice_sending import invoice_send

VIEW = ["invoicing.view_invoice"]
FINALIZE = ["invoicing.view_invoice", "invoicing.finalize_invoice"]


def invoice_or_404(invoice_id: int) -> Invoice:
    invoice = invoice_for_api(invoice_id=invoice_id)
    if invoice is None:
        raise NotFound(f"No invoice with id {invoice_id}.", field="id")
    return invoice


def invoice_response(invoice_id: int, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(
        InvoiceSerializer(invoice_or_404(invoice_id), context=invoice_context()).data, status=status_code
    )


def invoice_context() -> dict[str, Any]:
    """The invoice shape's ``past_due`` is as of the request: the time it is answered."""
    return {"at": timezone.now()}


class InvoicingView(generics.GenericAPIView):
    """A method the view does not have is 405 for a signed-in user, before the role check (403)."""

    def check_permissions(self, request: Request) -> None:
        user = request.user
        if (
            user is not None
            and user.is_authenticated
            and (request.method or "GET").upper() not in self.allowed_methods
        ):
            raise exceptions.MethodNotAllowed(request.method or "")
        super().check_permissions(request)


class InvoiceList(InvoicingView):
    required_permissions = {"GET": VIEW}
    serializer_class = InvoiceSerializer

    def get_queryset(self) -> QuerySet[Invoice]:
        qs = invoices_for_api().order_by("-billing_date", "-id")
        params = self.request.query_params
        customer = params.get("customer")
        if customer:
            qs = qs.filter(customer__external_id=customer)
        wanted = params.get("status")
        if wanted:
            statuses = [s.strip() for s in wanted.split(",") if s.strip()]
            unknown = [s for s in statuses if s not in InvoiceStatus.values]
            if unknown:
                raise ValidationFailed(
                    f"Unknown status {unknown[0]!r}: one of {', '.join(InvoiceStatus.values)}.",
                    field="status",
                )
            qs = qs.filter(status__in=statuses)
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("customer", str, description="The customer's external_id."),
            OpenApiParameter(
                "status", str, description="draft, open, paid, void or uncollectible (comma list)."
            ),
        ],
        responses=InvoiceSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(InvoiceSerializer(page, many=True, context=invoice_context()).data)


class InvoiceDetail(InvoicingView):
    required_permissions = {"GET": VIEW}
    serializer_class = InvoiceSerializer

    def get(self, request: Request, invoice_id: int) -> Response:
        return invoice_response(invoice_id)


class InvoiceAction(InvoicingView):
    """A state change of one invoice (``transition``), optionally ``{"at": T}``; answers with the invoice."""

    required_permissions = {"POST": FINALIZE}
    serializer_class = InvoiceSerializer
    transition: Any = None

    @extend_schema(request=InvoiceActionInSerializer, responses=InvoiceSerializer)
    @idempotent_write
    def post(self, request: Request, invoice_id: int) -> Response:
        reject_unknown_fields(request, {"at"})
        data = validated(InvoiceActionInSerializer, request).validated_data if request.data else {}
        invoice_or_404(invoice_id)
        type(self).transition(invoice_id=invoice_id, at=data.get("at"), user=request.user)
        return invoice_response(invoice_id)


class InvoiceFinalize(InvoiceAction):
    """Draft -> open (or paid when nothing is due); finalizing a finalized invoice returns it as is."""

    transition = staticmethod(invoice_finalize)


class InvoiceVoid(InvoiceAction):
    """Open/uncollectible -> void; the number stays. Drafts and paid invoices: 409."""

    transition = staticmethod(invoice_void)


class InvoicePdf(InvoicingView):
    """The PDF: a finalized invoice's stored document (stamped once paid or void; rendered and stored
    now if the task has not done it yet); a draft is rendered now, marked DRAFT."""

    required_permissions = {"GET": VIEW}

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    def get(self, request: Request, invoice_id: int) -> HttpResponse:
        invoice = invoice_for_pdf(invoice_id=invoice_id)
        if invoice is None:
            raise NotFound(f"No invoice with id {invoice_id}.", field="id")
        name = invoice.number or f"draft-{invoice.pk}"
        response = HttpResponse(invoice_pdf_bytes(invoice=invoice), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{name}.pdf"'
        return response


class InvoiceResend(InvoicingView):
    """E-mail the PDF to the customer and its invoice contacts again (support may do it).

    202: the e-mail is queued (an outbox row) and leaves after commit; a mail server that is down
    leaves the row pending and retried, never an error here. Each call is one more e-mail.
    """

    required_permissions = {"POST": ["invoicing.view_invoice", "invoicing.resend_invoice"]}

    @extend_schema(
        request=None,
        responses={
            202: OpenApiResponse(
                inline_serializer(
                    "InvoiceResent",
                    {
                        "sent_to": serializers.ListField(child=serializers.EmailField()),
                        "email": inline_serializer(
                            "InvoiceEmail",
                            {
                                "id": serializers.IntegerField(),
                                "status": serializers.ChoiceField(choices=["pending", "sent", "failed"]),
                            },
                        ),
                    },
                )
            )
        },
    )
    @idempotent_write
    def post(self, request: Request, invoice_id: int) -> Response:
        invoice_or_404(invoice_id)
        row = invoice_send(invoice_id=invoice_id, user=request.user)
        return Response(
            {"sent_to": list(row.recipients), "email": {"id": row.pk, "status": row.status}},
            status=status.HTTP_202_ACCEPTED,
        )


class CreditNoteListCreate(InvoicingView):
    required_permissions = {
        "GET": ["invoicing.view_creditnote"],
        "POST": ["invoicing.add_creditnote", "invoicing.finalize_invoice"],
    }
    serializer_class = CreditNoteSerializer

    def get_queryset(self) -> QuerySet[CreditNote]:
        qs = credit_notes_for_api().order_by("-issued_at", "-id")
        invoice = self.request.query_params.get("invoice")
        if invoice:
            if not invoice.isdigit():
                raise ValidationFailed("Must be an invoice id.", field="invoice")
            qs = qs.filter(invoice_id=int(invoice))
        customer = self.request.query_params.get("customer")
        if customer:
            qs = qs.filter(customer__external_id=customer)
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("invoice", int, description="Only this invoice's credit notes."),
            OpenApiParameter("customer", str, description="The customer's external_id."),
        ],
        responses=CreditNoteSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(CreditNoteSerializer(page, many=True, context={}).data)

    @extend_schema(request=CreditNoteInSerializer, responses={201: CreditNoteSerializer})
    @idempotent_write
    def post(self, request: Request) -> Response:
        reject_unknown_fields(request, {"invoice", "amount", "reason", "at"})
        data: dict[str, Any] = validated(CreditNoteInSerializer, request).validated_data
        note = credit_note_create(
            invoice_id=data["invoice"],
            amount=data["amount"],
            reason=data["reason"],
            at=data.get("at"),
            user=request.user,
        )
        created = credit_note_for_api(credit_note_id=note.pk)
        return Response(CreditNoteSerializer(created, context={}).data, status=status.HTTP_201_CREATED)


class CreditNoteDetail(InvoicingView):
    required_permissions = {"GET": ["invoicing.view_creditnote"]}
    serializer_class = CreditNoteSerializer

    def get(self, request: Request, credit_note_id: int) -> Response:
        note = credit_note_for_api(credit_note_id=credit_note_id)
        if note is None:
            raise NotFound(f"No credit note with id {credit_note_id}.", field="id")
        return Response(CreditNoteSerializer(note, context={}).data)
