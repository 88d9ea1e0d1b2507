"""Billing-run endpoints (API.md): start a run, read its outcome."""

from __future__ import annotations

from typing import Any

from django.db.models import Count
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from billing.api.subscription_views import WhenField
from config.api.idempotency import idempotent_write
from config.api.views import reject_unknown_fields, validated
from config.errors import NotFound
from invoicing.models import BillingRun, BillingRunChunk
from invoicing.selectors import billing_run_get
from invoicing.tasks import billing_run_launch


class BillingRunInSerializer(serializers.Serializer):
    as_of = WhenField(allow_period_end=False)


BILLING_RUN_DOC = inline_serializer(
    "BillingRun",
    {
        "id": serializers.IntegerField(),
        "as_of": serializers.DateTimeField(),
        "status": serializers.CharField(),
        "subscriptions_due": serializers.IntegerField(),
        "subscriptions_billed": serializers.IntegerField(),
        "invoices_created": serializers.IntegerField(),
        "failures": serializers.IntegerField(),
        "failure_details": serializers.ListField(child=serializers.DictField()),
        "started_at": serializers.DateTimeField(allow_null=True),
        "finished_at": serializers.DateTimeField(allow_null=True),
        "duration_seconds": serializers.CharField(allow_null=True),
    },
)


def run_body(run: BillingRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "as_of": run.as_of.isoformat(),
        "status": run.status,
        "subscriptions_due": run.subscriptions_due,
        "subscriptions_billed": run.subscriptions_billed,
        "invoices_created": run.invoices_created,
        "deferred": run.deferred,
        "failures": run.failures_count,
        "failure_details": [
            {
                "subscription": f.subscription_id,
                "customer": f.customer_id,
                "invoice": f.invoice_id,
                "error": f.error,
            }
            for f in run.failures.all()
        ],
        "reason": run.reason or None,
        "chunks": chunk_counts(run),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "duration_seconds": str(run.duration_seconds) if run.duration_seconds is not None else None,
    }


def chunk_counts(run: BillingRun) -> dict[str, int]:
    """How many of the run's chunks are in each state (and in all)."""
    counts = dict(run.chunks.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    out = {state: int(counts.get(state, 0)) for state in BillingRunChunk.Status.values}
    return {"total": sum(out.values()), **out}


class BillingRunCreate(generics.GenericAPIView):
    required_permissions = {"POST": ["invoicing.add_billingrun"]}
    serializer_class = BillingRunInSerializer

    @extend_schema(request=BillingRunInSerializer, responses={202: BILLING_RUN_DOC})
    @idempotent_write
    def post(self, request: Request) -> Response:
        reject_unknown_fields(request, {"as_of"})
        data = validated(BillingRunInSerializer, request).validated_data
        # eager (no broker, the demo): finished when the 202 returns, as API.md says; else queued
        run = billing_run_launch(as_of=data["as_of"], user=request.user)
        return Response(run_body(run), status=status.HTTP_202_ACCEPTED)


class BillingRunDetail(generics.GenericAPIView):
    required_permissions = {"GET": ["invoicing.view_billingrun"]}
    serializer_class = BillingRunInSerializer

    @extend_schema(responses=BILLING_RUN_DOC)
    def get(self, request: Request, run_id: str) -> Response:
        run = billing_run_get(run_id=int(run_id)) if run_id.isdigit() else None
        if run is None:
            raise NotFound(f"No billing run {run_id}.", field="id")
        return Response(run_body(run))
