"""``POST /api/v1/events``: the usage ingestion endpoint (API.md), built for throughput; and the two
finance-only corrections: ``?backfill=true`` (history past the late-event limit) and
``POST /api/v1/events/void`` (usage sent in error).

The body reaches the service as raw bytes (``RawJSONParser``): msgspec decodes and type-checks the
whole batch in C, so no DRF serializer runs per event. Auth, permissions and the error shape are the
API's usual ones (Bearer token, ``billing.add_usageevent``: finance, not sales or support; backfill
also needs ``billing.backfill_usageevent`` and a void ``billing.void_usageevent``, finance's alone).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.throttles import EventsRateThrottle
from billing.services.usage_ingest import usage_events_ingest_json
from billing.services.usage_void import usage_events_void
from config.api.idempotency import idempotent_write
from config.errors import ValidationFailed

BACKFILL_PERMISSION = "billing.backfill_usageevent"


class RawJSONParser(BaseParser):
    """Hands the JSON body over undecoded; the service decodes it with msgspec."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return stream.read() if stream is not None else b""


EVENT_DOC = inline_serializer(
    "UsageEventIn",
    {
        "event_id": serializers.CharField(max_length=255),
        "customer": serializers.CharField(help_text="The customer's external_id."),
        "metric": serializers.CharField(help_text="The billable metric's code."),
        "timestamp": serializers.DateTimeField(help_text="ISO 8601 with an offset."),
        "properties": serializers.DictField(required=False),
    },
)


class EventIngest(APIView):
    required_permissions = {"POST": ["billing.add_usageevent"]}
    parser_classes = [RawJSONParser]
    # per token, checked before anything is written (billing/api/throttles.py)
    throttle_classes = [EventsRateThrottle]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "backfill",
                bool,
                description="Finance only: import history without the late-event limit; a finalized "
                "invoice never changes (the next invoice gets adjustment lines).",
            )
        ],
        request=inline_serializer("UsageEventBatch", {"events": serializers.ListField(child=EVENT_DOC)}),
        responses={
            202: inline_serializer(
                "UsageEventBatchResult",
                {"accepted": serializers.IntegerField(), "duplicates": serializers.IntegerField()},
            )
        },
        examples=[
            OpenApiExample(
                "One event",
                request_only=True,
                value={
                    "events": [
                        {
                            "event_id": "evt_1",
                            "customer": "acme",
                            "metric": "relay_gb",
                            "timestamp": "2026-11-25T10:00:00Z",
                            "properties": {"gb": 1.5, "region": "eu"},
                        }
                    ]
                },
            )
        ],
    )
    @idempotent_write
    def post(self, request: Request) -> Response:
        backfill = _flag(request, "backfill")
        if backfill and not request.user.has_perm(BACKFILL_PERMISSION):
            raise PermissionDenied("Only finance may backfill usage past the late-event limit.")
        body = request.data if isinstance(request.data, bytes) else b""
        result = usage_events_ingest_json(body=body, backfill=backfill)
        return Response(
            {"accepted": result.accepted, "duplicates": result.duplicates}, status=status.HTTP_202_ACCEPTED
        )


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return False
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0", ""):
        return False
    raise ValidationFailed(f"{name} must be true or false.", field=name)


class VoidItemSerializer(serializers.Serializer):
    customer = serializers.CharField(max_length=255, help_text="The customer's external_id.")
    event_id = serializers.CharField(max_length=255)


class VoidBatchSerializer(serializers.Serializer):
    events = serializers.ListField(child=VoidItemSerializer(), min_length=1, max_length=1000)


class EventVoid(APIView):
    """Usage sent in error stops counting; drafts that counted it are re-rated at once."""

    required_permissions = {"POST": ["billing.void_usageevent"]}

    @extend_schema(
        request=VoidBatchSerializer,
        responses={200: inline_serializer("UsageEventVoidResult", {"voided": serializers.IntegerField()})},
    )
    @idempotent_write
    def post(self, request: Request) -> Response:
        serializer = VoidBatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        items = [(item["customer"], item["event_id"]) for item in serializer.validated_data["events"]]
        voided = usage_events_void(items=items, user=request.user)
        return Response({"voided": voided}, status=status.HTTP_200_OK)
