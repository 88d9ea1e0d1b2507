"""Subscription endpoints (API.md): create (and invoice the first fees), change, cancel, list, get.

Thin: shapes are checked here; invoicing.services.subscription_invoicing does the work in one transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import customer_by_external_id
from billing.models import ProrationBehavior, ScheduledChange, ScheduledChangeStatus, Subscription
from billing.selectors import subscription_exists, subscriptions_for_api
from config.api.fields import format_amount
from config.api.idempotency import idempotent_write
from config.api.views import reject_unknown_fields, validated
from config.errors import NotFound, ValidationFailed
from invoicing.models import Invoice
from invoicing.services import subscription_invoicing

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, tzinfo=UTC)
# seats and quantities: far more than any customer, small enough that every amount fits its column
MAX_QUANTITY = Decimal(1_000_000_000)


@extend_schema_field(
    {"type": "string", "format": "date-time", "description": 'ISO 8601 with an offset, or "period_end"'}
)
class WhenField(serializers.Field):
    """An ISO 8601 time with an offset, or ``"period_end"``."""

    def __init__(self, *, allow_period_end: bool = True, **kwargs: Any) -> None:
        self.allow_period_end = allow_period_end
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> datetime | str:
        if self.allow_period_end and data == "period_end":
            return "period_end"
        try:
            parsed = parse_datetime(data) if isinstance(data, str) else None
        except ValueError:  # well-formed but impossible: 2026-02-30, hour 25, offset +25:00
            parsed = None
        if parsed is None:
            raise serializers.ValidationError('Must be an ISO 8601 time with an offset or "period_end".')
        if parsed.tzinfo is None:
            raise serializers.ValidationError("Must carry a UTC offset, e.g. 2026-01-31T00:00:00Z.")
        try:
            in_utc = parsed.astimezone(UTC)
        except OverflowError:
            in_utc = EARLIEST - timedelta(days=1)
        if not EARLIEST <= in_utc <= LATEST:
            # periods, trials and intervals are added to it: keep far from datetime's limits
            raise serializers.ValidationError("Must be between 1970 and 2999.")
        return parsed

    def to_representation(self, value: Any) -> Any:
        return value


class SubscriptionCreateSerializer(serializers.Serializer):
    customer = serializers.CharField(max_length=255)
    plan = serializers.SlugField(max_length=100)
    quantity = serializers.DecimalField(
        max_digits=20,
        decimal_places=6,
        min_value=Decimal(0),
        max_value=MAX_QUANTITY,
        required=False,
        default=Decimal(1),
    )
    start = WhenField(allow_period_end=False)
    coupon = serializers.SlugField(max_length=100, required=False, allow_null=True, default=None)
    trial_days = serializers.IntegerField(
        min_value=0, max_value=730, required=False, allow_null=True, default=None
    )


class SubscriptionChangeSerializer(serializers.Serializer):
    plan = serializers.SlugField(max_length=100, required=False, allow_null=True, default=None)
    quantity = serializers.DecimalField(
        max_digits=20,
        decimal_places=6,
        min_value=Decimal(0),
        max_value=MAX_QUANTITY,
        required=False,
        allow_null=True,
        default=None,
    )
    at = WhenField(required=False, default="period_end")
    proration = serializers.ChoiceField(
        choices=ProrationBehavior.choices, required=False, default=ProrationBehavior.CREATE_PRORATIONS
    )


class SubscriptionCancelSerializer(serializers.Serializer):
    at = WhenField(required=False, default="period_end")


class ScheduledChangeOutSerializer(serializers.ModelSerializer):
    plan = serializers.CharField(source="new_plan_version.plan.code", allow_null=True, default=None)
    plan_version = serializers.IntegerField(source="new_plan_version.version", allow_null=True, default=None)
    quantity = serializers.SerializerMethodField()

    class Meta:
        model = ScheduledChange
        fields = ["id", "kind", "status", "effective_at", "plan", "plan_version", "quantity", "proration"]

    def get_quantity(self, change: ScheduledChange) -> str | None:
        return None if change.new_quantity is None else f"{Decimal(change.new_quantity).normalize():f}"


class SubscriptionOutSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer.external_id")
    plan = serializers.CharField(source="plan_version.plan.code")
    plan_version = serializers.IntegerField(source="plan_version.version")
    quantity = serializers.SerializerMethodField()
    coupon = serializers.SerializerMethodField()
    start = serializers.DateTimeField(source="started_at")
    scheduled_changes = serializers.SerializerMethodField()

    class Meta:
        model = Subscription
        fields = [
            "id",
            "customer",
            "plan",
            "plan_version",
            "status",
            "quantity",
            "currency",
            "start",
            "trial_end",
            "billing_anchor",
            "current_period_start",
            "current_period_end",
            "cancel_at_period_end",
            "cancel_at",
            "canceled_at",
            "ended_at",
            "coupon",
            "scheduled_changes",
            "created_at",
        ]

    def get_quantity(self, sub: Subscription) -> str:
        return f"{Decimal(sub.quantity).normalize():f}"

    def get_coupon(self, sub: Subscription) -> str | None:
        return sub.coupon.code if sub.coupon else None

    @extend_schema_field(ScheduledChangeOutSerializer(many=True))
    def get_scheduled_changes(self, sub: Subscription) -> list[dict[str, Any]]:
        """What waits for the billing run that reaches it (a change or cancel after the current period)."""
        waiting = getattr(sub, "waiting_changes", None)
        if waiting is None:
            waiting = sub.scheduled_changes.filter(status=ScheduledChangeStatus.SCHEDULED)
        return [ScheduledChangeOutSerializer(c).data for c in waiting]


def subscription_body(sub: Subscription, invoice: Invoice | None = None) -> dict[str, Any]:
    sub = subscriptions_for_api().get(pk=sub.pk)
    data: dict[str, Any] = dict(SubscriptionOutSerializer(sub).data)
    if invoice is not None:
        invoice.refresh_from_db()
        data["latest_invoice"] = {
            "id": invoice.pk,
            "status": invoice.status,
            "total": format_amount(invoice.total, invoice.currency),
            "amount_due": format_amount(invoice.amount_due, invoice.currency),
        }
    else:
        data["latest_invoice"] = None
    return data


def subscription_or_404(sub_id: str) -> int:
    if not str(sub_id).isdigit() or not subscription_exists(subscription_id=int(sub_id)):
        raise NotFound(f"No subscription {sub_id}.", field="id")
    return int(sub_id)


class SubscriptionListCreate(generics.GenericAPIView):
    required_permissions = {"GET": ["billing.view_subscription"], "POST": ["billing.add_subscription"]}
    serializer_class = SubscriptionOutSerializer

    def get_queryset(self) -> QuerySet[Subscription]:
        qs = subscriptions_for_api().order_by("id")
        customer = self.request.query_params.get("customer")
        if customer:
            qs = qs.filter(customer__external_id=customer)
        status_filter = self.request.query_params.get("status")
        if status_filter:
            qs = qs.filter(status=status_filter)
        return qs

    @extend_schema(
        parameters=[
            OpenApiParameter("customer", str, description="The customer's external_id."),
            OpenApiParameter("status", str, description="trialing, active, past_due or canceled."),
        ],
        responses=SubscriptionOutSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(SubscriptionOutSerializer(page, many=True).data)

    @extend_schema(request=SubscriptionCreateSerializer, responses={201: SubscriptionOutSerializer})
    @idempotent_write
    def post(self, request: Request) -> Response:
        reject_unknown_fields(request, set(SubscriptionCreateSerializer().fields))
        data = validated(SubscriptionCreateSerializer, request).validated_data
        customer = customer_by_external_id(external_id=data["customer"])
        if customer is None:
            raise ValidationFailed(f"No customer with external_id {data['customer']!r}.", field="customer")
        sub, invoice = subscription_invoicing.subscription_create(
            customer=customer,
            plan_code=data["plan"],
            start=data["start"],
            quantity=data["quantity"],
            coupon_code=data["coupon"],
            trial_days=data["trial_days"],
            user=request.user,
        )
        return Response(subscription_body(sub, invoice), status=status.HTTP_201_CREATED)


class SubscriptionDetail(generics.GenericAPIView):
    required_permissions = {"GET": ["billing.view_subscription"]}
    serializer_class = SubscriptionOutSerializer

    def get(self, request: Request, sub_id: str) -> Response:
        return Response(subscription_body(subscriptions_for_api().get(pk=subscription_or_404(sub_id))))


class SubscriptionChangeView(generics.GenericAPIView):
    """Change plan or seats (named so as not to shadow the ``SubscriptionChange`` model)."""

    required_permissions = {"POST": ["billing.change_subscription"]}
    serializer_class = SubscriptionChangeSerializer

    @extend_schema(request=SubscriptionChangeSerializer, responses=SubscriptionOutSerializer)
    @idempotent_write
    def post(self, request: Request, sub_id: str) -> Response:
        pk = subscription_or_404(sub_id)
        reject_unknown_fields(request, set(SubscriptionChangeSerializer().fields))
        data = validated(SubscriptionChangeSerializer, request).validated_data
        sub, invoice = subscription_invoicing.subscription_change(
            subscription_id=pk,
            at=data["at"],
            proration=data["proration"],
            plan_code=data["plan"],
            quantity=data["quantity"],
            user=request.user,
        )
        return Response(subscription_body(sub, invoice))


class SubscriptionCancel(generics.GenericAPIView):
    required_permissions = {"POST": ["billing.change_subscription"]}
    serializer_class = SubscriptionCancelSerializer

    @extend_schema(request=SubscriptionCancelSerializer, responses=SubscriptionOutSerializer)
    @idempotent_write
    def post(self, request: Request, sub_id: str) -> Response:
        pk = subscription_or_404(sub_id)
        reject_unknown_fields(request, {"at"})
        data = validated(SubscriptionCancelSerializer, request).validated_data
        sub, invoice = subscription_invoicing.subscription_cancel(
            subscription_id=pk, at=data["at"], user=request.user
        )
        return Response(subscription_body(sub, invoice))
