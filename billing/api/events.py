"""``POST /api/v1/events``: the usage ingestion endpoint (API.md), built for throughput.

The body reaches the service as raw bytes (``RawJSONParser``): msgspec decodes and type-checks the
whole batch in C, so no DRF serializer runs per event. Auth, permissions and the error shape are the
API's usual ones (Bearer token, ``billing.add_usageevent``: finance, not sales or support).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.services.usage_ingest import usage_events_ingest_json
from config.api.idempotency import idempotent_write


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

    @extend_schema(
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
        body = request.data if isinstance(request.data, bytes) else b""
        result = usage_events_ingest_json(body=body)
        return Response(
            {"accepted": result.accepted, "duplicates": result.duplicates}, status=status.HTTP_202_ACCEPTED
        )
