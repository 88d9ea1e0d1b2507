"""Catalog endpoints (API.md): plans, metrics, coupons. Thin: validate the shape, call a service."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from billing.api.serializers import CouponSerializer, MetricSerializer, PlanInSerializer, PlanOutSerializer
from billing.models import BillableMetric, Coupon, PlanVersion
from billing.selectors import (
    coupon_get,
    coupons_list,
    metric_get,
    metrics_list,
    plan_version_numbers,
    plan_version_with_details,
    plan_versions_of,
    plans_newest_versions,
)
from billing.services import catalog
from config.api.idempotency import idempotent_write
from config.api.views import validated
from config.errors import NotFound


class PlanListCreate(generics.GenericAPIView):
    required_permissions = {"GET": ["billing.view_plan"], "POST": ["billing.add_plan", "billing.add_price"]}
    serializer_class = PlanOutSerializer

    def get_queryset(self) -> QuerySet[PlanVersion]:
        return plans_newest_versions()

    @extend_schema(responses=PlanOutSerializer(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(PlanOutSerializer(page, many=True, context={}).data)

    @extend_schema(request=PlanInSerializer, responses={201: PlanOutSerializer})
    @idempotent_write
    def post(self, request: Request) -> Response:
        draft = validated(PlanInSerializer, request).to_draft()
        version = catalog.plan_create(draft=draft, user=request.user)
        version = plan_version_with_details(version_id=version.pk)
        return Response(PlanOutSerializer(version, context={}).data, status=status.HTTP_201_CREATED)


class PlanDetail(generics.GenericAPIView):
    required_permissions = {"GET": ["billing.view_plan"]}
    serializer_class = PlanOutSerializer

    @extend_schema(
        parameters=[OpenApiParameter("version", int, description="A version (default: the newest).")],
        responses=PlanOutSerializer,
    )
    def get(self, request: Request, code: str) -> Response:
        versions = plan_versions_of(code=code)
        wanted = request.query_params.get("version")
        if wanted is not None:
            if not wanted.isdigit():
                raise NotFound(f"Plan {code!r} has no version {wanted!r}.", field="version")
            version = versions.filter(version=int(wanted)).first()
            if version is None and versions.exists():
                raise NotFound(f"Plan {code!r} has no version {wanted!r}.", field="version")
        else:
            version = versions.order_by("-version").first()
        if version is None:
            raise NotFound(f"No plan with code {code!r}.", field="code")
        data: dict[str, Any] = PlanOutSerializer(version, context={}).data
        data["versions"] = plan_version_numbers(plan_id=version.plan_id)
        return Response(data)


class MetricListCreate(generics.GenericAPIView):
    required_permissions = {"GET": ["billing.view_billablemetric"], "POST": ["billing.add_billablemetric"]}
    serializer_class = MetricSerializer

    def get_queryset(self) -> QuerySet[BillableMetric]:
        return metrics_list()

    @extend_schema(responses=MetricSerializer(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(MetricSerializer(page, many=True).data)

    @extend_schema(request=MetricSerializer, responses={201: MetricSerializer})
    @idempotent_write
    def post(self, request: Request) -> Response:
        data = validated(MetricSerializer, request).validated_data
        metric = catalog.metric_create(
            code=data["code"],
            name=data["name"],
            aggregation=data["aggregation"],
            field_name=data.get("field_name", ""),
            filters=data.get("filters") or {},
        )
        return Response(MetricSerializer(metric).data, status=status.HTTP_201_CREATED)


class MetricDetail(generics.GenericAPIView):
    required_permissions = {"GET": ["billing.view_billablemetric"]}
    serializer_class = MetricSerializer

    def get(self, request: Request, code: str) -> Response:
        metric = metric_get(code=code)
        if metric is None:
            raise NotFound(f"No metric with code {code!r}.", field="code")
        return Response(MetricSerializer(metric).data)


class CouponListCreate(generics.GenericAPIView):
    required_permissions = {"GET": ["billing.view_coupon"], "POST": ["billing.add_coupon"]}
    serializer_class = CouponSerializer

    def get_queryset(self) -> QuerySet[Coupon]:
        return coupons_list()

    @extend_schema(responses=CouponSerializer(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(CouponSerializer(page, many=True, context={}).data)

    @extend_schema(request=CouponSerializer, responses={201: CouponSerializer})
    @idempotent_write
    def post(self, request: Request) -> Response:
        data = validated(CouponSerializer, request).validated_data
        coupon = catalog.coupon_create(
            code=data["code"],
            name=data.get("name", ""),
            percent_off=data.get("percent_off"),
            amount_off=data.get("amount_off"),
            currency=data.get("currency", ""),
            duration=data["duration"],
            duration_in_months=data.get("duration_in_months"),
        )
        return Response(CouponSerializer(coupon, context={}).data, status=status.HTTP_201_CREATED)


class CouponDetail(generics.GenericAPIView):
    required_permissions = {"GET": ["billing.view_coupon"]}
    serializer_class = CouponSerializer

    def get(self, request: Request, code: str) -> Response:
        coupon = coupon_get(code=code)
        if coupon is None:
            raise NotFound(f"No coupon with code {code!r}.", field="code")
        return Response(CouponSerializer(coupon, context={}).data)
