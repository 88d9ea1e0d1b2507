"""Catalog API shapes: input serializers check types and shapes; services check the business rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from billing.models import (
    Aggregation,
    BillableMetric,
    BillingTiming,
    Coupon,
    CouponDuration,
    Interval,
    PlanVersion,
    Price,
    PriceModel,
    PriceTier,
)
from billing.services.catalog import PlanDraft, PriceDraft, TierDraft
from config.api.fields import AmountField, CurrencyContextMixin
from config.api.serializers import RejectUnknownFieldsMixin

NON_NEGATIVE = {"min_value": Decimal(0), "required": False, "allow_null": True}
# the columns' limits: a tier bound is numeric(28, 12), a package size a PostgreSQL integer
MAX_TIER_BOUND = 10**15
MAX_PACKAGE_SIZE = 2**31 - 1


class TierInSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    up_to = serializers.IntegerField(min_value=1, max_value=MAX_TIER_BOUND, allow_null=True)
    unit_amount = AmountField(min_value=Decimal(0))
    flat_amount = AmountField(min_value=Decimal(0), required=False, default=Decimal(0))


class PriceInSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    code = serializers.SlugField(max_length=100)
    description = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    model = serializers.ChoiceField(choices=PriceModel.choices)
    billing = serializers.ChoiceField(
        choices=BillingTiming.choices, required=False, default=BillingTiming.IN_ADVANCE
    )
    metric = serializers.SlugField(required=False, allow_null=True, default=None)
    amount = AmountField(**NON_NEGATIVE)
    unit_amount = AmountField(**NON_NEGATIVE)
    tiers = TierInSerializer(many=True, required=False, default=list)
    package_size = serializers.IntegerField(
        min_value=1, max_value=MAX_PACKAGE_SIZE, required=False, allow_null=True
    )
    package_amount = AmountField(**NON_NEGATIVE)
    percent = serializers.DecimalField(
        max_digits=9,
        decimal_places=6,
        min_value=Decimal(0),
        max_value=Decimal(100),
        required=False,
        allow_null=True,
    )
    minimum_amount = AmountField(**NON_NEGATIVE)
    maximum_amount = AmountField(**NON_NEGATIVE)

    def to_draft(self, data: dict[str, Any]) -> PriceDraft:
        return PriceDraft(
            code=data["code"],
            model=data["model"],
            billing=data["billing"],
            description=data.get("description", ""),
            metric=data.get("metric"),
            amount=data.get("amount"),
            unit_amount=data.get("unit_amount"),
            tiers=tuple(
                TierDraft(
                    up_to=Decimal(t["up_to"]) if t["up_to"] is not None else None,
                    unit_amount=t["unit_amount"],
                    flat_amount=t.get("flat_amount") or Decimal(0),
                )
                for t in data.get("tiers", [])
            ),
            package_size=data.get("package_size"),
            package_amount=data.get("package_amount"),
            percent=data.get("percent"),
            minimum_amount=data.get("minimum_amount"),
            maximum_amount=data.get("maximum_amount"),
        )


class PlanInSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    code = serializers.SlugField(max_length=100)
    name = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    product = serializers.SlugField(required=False, allow_null=True, default=None)
    currency = serializers.CharField(max_length=3, min_length=3)
    interval = serializers.ChoiceField(choices=Interval.choices, required=False, default=Interval.MONTH)
    interval_count = serializers.IntegerField(min_value=1, max_value=36, required=False, default=1)
    trial_days = serializers.IntegerField(min_value=0, max_value=730, required=False, default=0)
    prices = PriceInSerializer(many=True, required=False, default=list)
    features = serializers.DictField(child=serializers.JSONField(), required=False, default=dict)

    def to_draft(self) -> PlanDraft:
        data = self.validated_data
        price_in = PriceInSerializer()
        return PlanDraft(
            code=data["code"],
            name=data["name"],
            description=data.get("description", ""),
            product=data.get("product"),
            currency=data["currency"],
            interval=data["interval"],
            interval_count=data["interval_count"],
            trial_days=data["trial_days"],
            prices=tuple(price_in.to_draft(p) for p in data["prices"]),
            features=dict(data["features"]),
        )


class TierOutSerializer(serializers.ModelSerializer):
    up_to = serializers.SerializerMethodField()
    unit_amount = AmountField()
    flat_amount = AmountField()

    class Meta:
        model = PriceTier
        fields = ["up_to", "unit_amount", "flat_amount"]

    def get_up_to(self, tier: PriceTier) -> int | str | None:
        if tier.up_to is None:
            return None
        return (
            int(tier.up_to) if tier.up_to == tier.up_to.to_integral_value() else f"{tier.up_to.normalize():f}"
        )


class PriceOutSerializer(serializers.ModelSerializer):
    # required=False: the schema says what to_representation does, these are left out when unused
    metric: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="code", read_only=True, allow_null=True
    )
    amount = AmountField(required=False)
    unit_amount = AmountField(required=False)
    package_amount = AmountField(required=False)
    minimum_amount = AmountField(required=False)
    maximum_amount = AmountField(required=False)
    tiers = TierOutSerializer(many=True, required=False)

    class Meta:
        model = Price
        fields = [
            "code",
            "description",
            "model",
            "billing",
            "metric",
            "amount",
            "unit_amount",
            "tiers",
            "package_size",
            "package_amount",
            "percent",
            "minimum_amount",
            "maximum_amount",
        ]

    def to_representation(self, instance: Price) -> dict[str, Any]:
        data = super().to_representation(instance)
        # only the fields the price's model uses: a flat price has no tiers to show
        return {k: v for k, v in data.items() if v not in (None, []) or k in ("metric",)}


class PlanOutSerializer(CurrencyContextMixin, serializers.ModelSerializer):
    """A plan as its newest (or a given) version describes it."""

    code = serializers.CharField(source="plan.code")
    product = serializers.SerializerMethodField()
    description = serializers.CharField(source="plan.description")
    prices = PriceOutSerializer(many=True, read_only=True)
    features = serializers.SerializerMethodField()

    class Meta:
        model = PlanVersion
        fields = [
            "code",
            "name",
            "description",
            "product",
            "version",
            "currency",
            "interval",
            "interval_count",
            "trial_days",
            "prices",
            "features",
            "created_at",
        ]

    def get_product(self, version: PlanVersion) -> str | None:
        return version.plan.product.code if version.plan.product else None

    def get_features(self, version: PlanVersion) -> dict[str, Any]:
        return {e.feature.key: e.value for e in version.entitlements.all()}


class MetricSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    code = serializers.SlugField(max_length=100)
    aggregation = serializers.ChoiceField(choices=Aggregation.choices)
    field = serializers.CharField(
        source="field_name", required=False, allow_blank=True, default="", max_length=100
    )
    filters = serializers.DictField(required=False, default=dict)

    class Meta:
        model = BillableMetric
        fields = ["code", "name", "description", "aggregation", "field", "filters", "created_at"]
        read_only_fields = ["created_at"]
        extra_kwargs = {"description": {"required": False}}


class CouponSerializer(RejectUnknownFieldsMixin, serializers.ModelSerializer):
    code = serializers.SlugField(max_length=100)
    percent_off = serializers.DecimalField(
        max_digits=7,
        decimal_places=4,
        min_value=Decimal("0.0001"),
        max_value=Decimal(100),
        required=False,
        allow_null=True,
    )
    amount_off = AmountField(min_value=Decimal("0.01"), required=False, allow_null=True)
    duration = serializers.ChoiceField(choices=CouponDuration.choices)
    duration_in_months = serializers.IntegerField(min_value=1, max_value=120, required=False, allow_null=True)

    class Meta:
        model = Coupon
        fields = [
            "code",
            "name",
            "percent_off",
            "amount_off",
            "currency",
            "duration",
            "duration_in_months",
            "is_active",
            "created_at",
        ]
        read_only_fields = ["is_active", "created_at"]
        extra_kwargs = {"currency": {"required": False}, "name": {"required": False}}

    def to_representation(self, instance: Coupon) -> dict[str, Any]:
        self.context["currency"] = instance.currency or None  # type: ignore[index]
        data = super().to_representation(instance)
        if data.get("percent_off") is not None:
            data["percent_off"] = (
                f"{instance.percent_off.normalize():f}" if instance.percent_off is not None else None
            )
        return data
