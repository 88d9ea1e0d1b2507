"""Contract endpoints (API.md, Contracts) and the customer's credits. Thin: services do the work.

Approval is a face across both apps, like the subscription endpoint: billing activates the contract and
subscribes, invoicing bills the first period, in one transaction (invoicing.services.contract_activation).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Customer
from billing.api.contract_serializers import (
    AmendIn,
    ContractIn,
    ContractOut,
    contract_body,
    draft_from,
    when,
)
from billing.contract_selectors import contract_versions, contracts_queryset
from billing.models import Contract
from billing.services import contracts as contract_service
from config.api.fields import format_amount
from config.api.idempotency import idempotent_write
from config.api.views import reject_unknown_fields, validated
from config.errors import NotFound
from invoicing.selectors import customer_credits
from invoicing.services.contract_activation import contract_activate


class StepIn(serializers.Serializer):
    at = when(required=False, default=None)
    comment = serializers.CharField(required=False, default="", allow_blank=True, max_length=5000)


class RejectIn(StepIn):
    comment = serializers.CharField(max_length=5000)


def contract_or_404(contract_id: str) -> Contract:
    contract = (
        contracts_queryset().filter(pk=int(contract_id)).first() if str(contract_id).isdigit() else None
    )
    if contract is None:
        raise NotFound(f"No contract {contract_id}.", field="id")
    return contract


def detail(contract_id: int) -> dict[str, Any]:
    contract = contract_or_404(str(contract_id))
    return contract_body(contract, versions=contract_versions(contract))


class ContractListCreate(generics.GenericAPIView):
    required_permissions = {"GET": ["billing.view_contract"], "POST": ["billing.add_contract"]}
    serializer_class = ContractIn

    @extend_schema(
        operation_id="v1_contracts_list",
        responses=ContractOut(many=True),
        parameters=[OpenApiParameter("customer", str, description="The customer's external_id.")],
    )
    def get(self, request: Request) -> Response:
        qs = contracts_queryset().order_by("id")
        customer = request.query_params.get("customer")
        if customer:
            qs = qs.filter(customer__external_id=customer)
        page = self.paginate_queryset(qs) or []
        return self.get_paginated_response([contract_body(c) for c in page])

    @extend_schema(request=ContractIn, responses={201: ContractOut})
    @idempotent_write
    def post(self, request: Request) -> Response:
        reject_unknown_fields(request, set(ContractIn().fields))
        data = validated(ContractIn, request).validated_data
        contract = contract_service.contract_create(draft=draft_from(data), user=request.user)
        return Response(detail(contract.pk), status=status.HTTP_201_CREATED)


class ContractDetail(generics.GenericAPIView):
    required_permissions = {"GET": ["billing.view_contract"]}
    serializer_class = ContractIn

    @extend_schema(operation_id="v1_contracts_retrieve", responses=ContractOut)
    def get(self, request: Request, contract_id: str) -> Response:
        return Response(detail(contract_or_404(contract_id).pk))


def _step_input(request: Request, serializer: type[StepIn]) -> tuple[Any, str]:
    reject_unknown_fields(request, {"at", "comment"})
    data = validated(serializer, request).validated_data
    return data["at"] or timezone.now(), data["comment"]


class ContractStep(generics.GenericAPIView):
    """A workflow step on one contract: ``step`` does it (the service checks who may)."""

    body: type[StepIn] = StepIn

    def step(self, *, pk: int, user: Any, at: Any, comment: str) -> dict[str, Any]:
        raise NotImplementedError

    @extend_schema(responses=ContractOut)
    @idempotent_write
    def post(self, request: Request, contract_id: str) -> Response:
        pk = contract_or_404(contract_id).pk
        at, comment = _step_input(request, self.body)
        extra = self.step(pk=pk, user=request.user, at=at, comment=comment)
        return Response({**detail(pk), **extra})


class ContractSubmit(ContractStep):
    required_permissions = {"POST": ["billing.change_contract"]}
    serializer_class = StepIn

    def step(self, *, pk: int, user: Any, at: Any, comment: str) -> dict[str, Any]:
        contract_service.contract_submit(contract_id=pk, user=user, at=at, comment=comment)
        return {}


class ContractApprove(ContractStep):
    required_permissions = {"POST": ["billing.approve_contract"]}
    serializer_class = StepIn

    def step(self, *, pk: int, user: Any, at: Any, comment: str) -> dict[str, Any]:
        _, invoice = contract_activate(contract_id=pk, user=user, at=at, comment=comment)
        if invoice is None:
            return {"latest_invoice": None}
        return {
            "latest_invoice": {
                "id": invoice.pk,
                "status": invoice.status,
                "total": format_amount(invoice.total, invoice.currency),
                "amount_due": format_amount(invoice.amount_due, invoice.currency),
            }
        }


class ContractReject(ContractStep):
    required_permissions = {"POST": ["billing.approve_contract"]}
    serializer_class = RejectIn
    body = RejectIn

    def step(self, *, pk: int, user: Any, at: Any, comment: str) -> dict[str, Any]:
        contract_service.contract_reject(contract_id=pk, user=user, at=at, comment=comment)
        return {}


class ContractAmend(generics.GenericAPIView):
    required_permissions = {"POST": ["billing.add_contract"]}
    serializer_class = AmendIn

    @extend_schema(request=AmendIn, responses={201: ContractOut})
    @idempotent_write
    def post(self, request: Request, contract_id: str) -> Response:
        base = contract_or_404(contract_id)
        reject_unknown_fields(request, set(AmendIn().fields))
        data = validated(AmendIn, request).validated_data
        given = set(request.data) if isinstance(request.data, dict) else set()
        draft = draft_from(
            {
                **data,
                "customer": base.customer.external_id,
                "plan": base.plan.code,
                "start": data["start"] or base.start,
            },
            base=contract_service.contract_as_draft(base),
            given=given,
        )
        contract = contract_service.contract_amend(
            contract_id=base.pk, draft=draft, user=request.user, at=timezone.now()
        )
        return Response(detail(contract.pk), status=status.HTTP_201_CREATED)


class GrantOut(serializers.Serializer):
    id = serializers.IntegerField()
    amount = serializers.CharField()
    remaining = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    priority = serializers.IntegerField()
    expired = serializers.BooleanField()


class CreditsOut(serializers.Serializer):
    currency = serializers.CharField()
    balance = serializers.CharField()
    grants = GrantOut(many=True)


class CustomerCredits(generics.GenericAPIView):
    required_permissions = {"GET": ["billing.view_creditgrant"]}
    serializer_class = CreditsOut

    @extend_schema(
        parameters=[OpenApiParameter("at", str, description="Business time (default: now).")],
        responses=CreditsOut,
    )
    def get(self, request: Request, external_id: str) -> Response:
        customer = Customer.objects.filter(external_id=external_id).first()
        if customer is None:
            raise NotFound(f"No customer {external_id!r}.", field="external_id")
        raw = request.query_params.get("at")
        at = when().run_validation(raw) if raw else timezone.now()
        balance, grants = customer_credits(customer_id=customer.pk, currency=customer.currency, at=at)
        cur = customer.currency
        return Response(
            {
                "currency": cur,
                "balance": format_amount(balance, cur),
                "grants": [
                    {
                        "id": g.grant.pk,
                        "amount": format_amount(g.grant.amount, cur),
                        "remaining": format_amount(g.remaining, cur),
                        "expires_at": g.grant.expires_at,
                        "priority": g.grant.priority,
                        "expired": g.expired,
                    }
                    for g in grants
                ],
            }
        )
