"""Per-customer usage reads (API.md): entitlements with usage against limits, and usage per metric."""

from __future__ import annotations

from datetime import datetime

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import customer_id_by_external_id
from billing.api.subscription_views import WhenField
from billing.services.entitlements import customer_entitlements
from billing.services.usage import customer_usage_by_metric
from config.errors import ErrorCode, FieldError, NotFound, ValidationFailed

BUSINESS_TIME = WhenField(allow_period_end=False)


def customer_id_for(external_id: str) -> int:
    customer_id = customer_id_by_external_id(external_id=external_id)
    if customer_id is None:
        raise NotFound(f"No customer {external_id!r}.", field="external_id")
    return customer_id


def aware_param(request: Request, name: str, errors: list[FieldError]) -> datetime | None:
    """An ISO 8601 query parameter with an offset ('+' arrives as a space when not URL-encoded)."""
    raw = request.query_params.get(name)
    if not raw:
        errors.append(
            FieldError(name, f"{name!r} is required (ISO 8601 with an offset).", ErrorCode.REQUIRED)
        )
        return None
    try:
        # the body's business-time rules: an offset, a real date, between 1970 and 2999
        value = BUSINESS_TIME.to_internal_value(raw.strip().replace(" ", "+"))
    except serializers.ValidationError as exc:
        errors.append(FieldError(name, f"{name!r}: {exc.detail[0]}"))  # type: ignore[index]
        return None
    assert isinstance(value, datetime)
    return value


class CustomerEntitlements(APIView):
    required_permissions = {"GET": ["billing.view_entitlement"]}

    @extend_schema(
        responses=inline_serializer(
            "CustomerEntitlements", {"features": serializers.DictField(), "usage": serializers.DictField()}
        )
    )
    def get(self, request: Request, external_id: str) -> Response:
        view = customer_entitlements(customer_id=customer_id_for(external_id))
        return Response({"features": view.features, "usage": view.usage})


class CustomerUsage(APIView):
    required_permissions = {"GET": ["billing.view_usageevent"]}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "from", str, required=True, description="Inclusive start, ISO 8601 with offset."
            ),
            OpenApiParameter("to", str, required=True, description="Exclusive end, ISO 8601 with offset."),
        ],
        responses=inline_serializer(
            "CustomerUsage",
            {
                "metrics": serializers.ListField(
                    child=inline_serializer(
                        "MetricUsage", {"metric": serializers.CharField(), "value": serializers.CharField()}
                    )
                )
            },
        ),
    )
    def get(self, request: Request, external_id: str) -> Response:
        customer_id = customer_id_for(external_id)
        errors: list[FieldError] = []
        start, end = aware_param(request, "from", errors), aware_param(request, "to", errors)
        if start and end and end <= start:
            errors.append(FieldError("to", "'to' must be after 'from'."))
        if errors or start is None or end is None:
            raise ValidationFailed(errors[0].message, field=errors[0].field, errors=errors)
        usage = customer_usage_by_metric(customer_id=customer_id, start=start, end=end)
        return Response({"metrics": [{"metric": code, "value": format(value, "f")} for code, value in usage]})
