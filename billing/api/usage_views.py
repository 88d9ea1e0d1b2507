"""Per-customer usage reads (API.md): entitlements with usage against limits, and usage per metric."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import access_key
from accounts.authentication import fast_auth, fast_auth_forget
from accounts.selectors import customer_id_by_external_id
from billing.api.subscription_views import WhenField
from billing.services.entitlements import (
    CustomerGone,
    customer_entitlements_by_external_id,
    customer_entitlements_with,
    profiles,
)
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


ENTITLEMENT_PERMISSION = "billing.view_entitlement"
# the same bytes DRF's JSONRenderer writes (compact, UTF-8) at a fifth of JsonResponse's cost
_json = msgspec.json.Encoder()


def entitlements_fast(request: HttpRequest, external_id: str) -> HttpResponse | None:
    """The entitlement check without DRF, when all of it is known in this process (else None).

    The product calls this on every request it gates, so its usual path costs one Redis round trip and
    no query: a Bearer token this process checked in the database within ``FAST_AUTH_SECONDS`` (its
    permissions kept), the customer's id and profile cached, and one Redis command, packed once per
    profile (``entitlement_reads``), reading the access stamp's mirror, the entitlement stamps and the
    usage counters. Anything unknown or moved (a revoked token, a role change, a subscription change)
    falls back to the DRF view, which checks everything again.
    """
    if request.method != "GET":
        return None
    # META rather than request.headers, which copies every header of the request into a new dict
    scheme, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return None
    found = fast_auth(raw.strip())
    if found is None or not found[1].may(ENTITLEMENT_PERMISSION):
        return None
    try:
        customer_id = profiles.customer_id(external_id)
        view, (access_version,) = customer_entitlements_with(customer_id=customer_id, also=[access_key()])
    except (CustomerGone, NotFound):
        return None  # the DRF view answers the 404 in the API's error shape
    if access_version is None:
        fast_auth_forget(found[0])  # no mirror (Redis restarted): the database path writes it again
        return None
    if int(access_version) != found[1].version:
        return None  # who may do what changed since this process checked the token: ask the database
    body = _json.encode({"features": view.features, "usage": view.usage})
    return HttpResponse(body, content_type="application/json")


class CustomerEntitlements(APIView):
    required_permissions = {"GET": [ENTITLEMENT_PERMISSION]}

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        """The DRF view, behind ``entitlements_fast`` (schema generators still see this class)."""
        slow = super().as_view(**initkwargs)

        def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            fast = entitlements_fast(request, kwargs.get("external_id", ""))
            return fast if fast is not None else slow(request, *args, **kwargs)

        view.cls = slow.cls  # type: ignore[attr-defined]
        view.initkwargs = slow.initkwargs  # type: ignore[attr-defined]
        view.csrf_exempt = True  # type: ignore[attr-defined]  # as DRF's: Bearer requests carry no cookie
        return view

    @extend_schema(
        responses=inline_serializer(
            "CustomerEntitlements", {"features": serializers.DictField(), "usage": serializers.DictField()}
        )
    )
    def get(self, request: Request, external_id: str) -> Response:
        view = customer_entitlements_by_external_id(external_id=external_id)
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
