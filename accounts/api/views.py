"""Customer endpoints (API.md): create, list, get, patch."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.serializers import WRITABLE, CustomerInSerializer, CustomerOutSerializer
from accounts.models import Customer
from accounts.selectors import customer_by_external_id, customers_search
from config.api.idempotency import idempotent_write
from config.api.views import reject_unknown_fields, validated
from config.errors import NotFound, ValidationFailed
from invoicing.services.customer_writes import customer_create_synced, customer_update_synced


def customer_or_404(external_id: str) -> Customer:
    customer = customer_by_external_id(external_id=external_id)
    if customer is None:
        raise NotFound(f"No customer with external_id {external_id!r}.", field="external_id")
    return customer


class CustomerListCreate(generics.GenericAPIView):
    required_permissions = {"GET": ["accounts.view_customer"], "POST": ["accounts.add_customer"]}
    serializer_class = CustomerOutSerializer

    def get_queryset(self) -> QuerySet[Customer]:
        return customers_search(q=self.request.query_params.get("q") or "")

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="Name or e-mail contains, or exact id or domain.")
        ],
        responses=CustomerOutSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(CustomerOutSerializer(page, many=True).data)

    @extend_schema(request=CustomerInSerializer, responses={201: CustomerOutSerializer})
    @idempotent_write
    def post(self, request: Request) -> Response:
        reject_unknown_fields(request, set(WRITABLE))
        data = dict(validated(CustomerInSerializer, request).validated_data)
        # created in Stripe after commit (issue #10)
        customer = customer_create_synced(
            external_id=data.pop("external_id"), name=data.pop("name"), currency=data.pop("currency"), **data
        )
        return Response(CustomerOutSerializer(customer).data, status=status.HTTP_201_CREATED)


class CustomerDetail(generics.GenericAPIView):
    required_permissions = {"GET": ["accounts.view_customer"], "PATCH": ["accounts.change_customer"]}
    serializer_class = CustomerOutSerializer

    def get(self, request: Request, external_id: str) -> Response:
        return Response(CustomerOutSerializer(customer_or_404(external_id)).data)

    @extend_schema(request=CustomerInSerializer, responses=CustomerOutSerializer)
    @idempotent_write
    def patch(self, request: Request, external_id: str) -> Response:
        customer = customer_or_404(external_id)
        reject_unknown_fields(request, set(WRITABLE))
        data = dict(validated(CustomerInSerializer, request, partial=True).validated_data)
        if "external_id" in data and data.pop("external_id") != customer.external_id:
            raise ValidationFailed("external_id cannot change.", field="external_id")
        customer = customer_update_synced(customer=customer, **data)  # Stripe updated after commit
        return Response(CustomerOutSerializer(customer).data)
