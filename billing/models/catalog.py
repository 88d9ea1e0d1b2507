"""The catalog: products, plans with immutable versions, prices with their models, features, coupons.

Amounts are plain Decimals beside one ``currency`` per object that holds them (the plan version, the
coupon): API.md's "the object that holds amounts states its currency once". Unit prices keep 12 places.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from accounts.models import validate_currency

UNIT_MAX_DIGITS = 28
UNIT_PLACES = 12


def unit_amount_field(**kwargs: object) -> models.DecimalField:
    """A price amount with room for sub-cent unit prices (12 decimal places)."""
    return models.DecimalField(max_digits=UNIT_MAX_DIGITS, decimal_places=UNIT_PLACES, **kwargs)  # type: ignore[arg-type]


class Interval(models.TextChoices):
    MONTH = "month"
    YEAR = "year"


class PriceModel(models.TextChoices):
    FLAT = "flat"
    PER_UNIT = "per_unit"
    GRADUATED = "graduated"
    VOLUME = "volume"
    PACKAGE = "package"
    PERCENTAGE = "percentage"


class BillingTiming(models.TextChoices):
    IN_ADVANCE = "in_advance"
    IN_ARREARS = "in_arrears"


class Aggregation(models.TextChoices):
    COUNT = "count"
    SUM = "sum"
    MAX = "max"
    UNIQUE_COUNT = "unique_count"
    LATEST = "latest"
    WEIGHTED_SUM = "weighted_sum"


class FeatureKind(models.TextChoices):
    BOOLEAN = "boolean", "Flag (on/off)"
    LIMIT = "limit", "Numeric limit"


class CouponDuration(models.TextChoices):
    ONCE = "once"
    REPEATING = "repeating"
    FOREVER = "forever"


class Product(models.Model):
    """Something sold, e.g. "Meshwork VPN"; plans belong to a product."""

    code = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering: ClassVar = ["name"]

    def __str__(self) -> str:
        return self.name


class BillableMetric(models.Model):
    """How usage events of one kind are aggregated over a period (count, sum, max, ...)."""

    code = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    aggregation = models.CharField(max_length=20, choices=Aggregation.choices)
    field_name = models.CharField(
        max_length=100, blank=True, help_text="The event property aggregated (not used by count)."
    )
    filters = models.JSONField(
        default=dict, blank=True, help_text='Only events whose properties match, e.g. {"region": "eu"}.'
    )
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering: ClassVar = ["code"]

    def __str__(self) -> str:
        return self.code


class Feature(models.Model):
    """A capability a plan grants: a flag (``sso``) or a numeric limit (``max_users``)."""

    key = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=FeatureKind.choices)
    metric = models.ForeignKey(
        BillableMetric,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        help_text="The metric that measures usage against this limit, if any.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering: ClassVar = ["key"]

    def __str__(self) -> str:
        return self.key


class Plan(models.Model):
    """A plan's identity (its code). What it costs lives in its versions; the newest is the one sold."""

    code = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=255, help_text="The newest version's name.")
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.PROTECT, related_name="plans"
    )
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True, help_text="Inactive plans cannot be subscribed to.")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering: ClassVar = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class PlanVersion(models.Model):
    """One immutable version of a plan: currency, interval, trial, prices and entitlements.

    Creating a plan with an existing code makes a new version; subscribers stay on theirs until migrated.
    """

    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=255)
    currency = models.CharField(max_length=3, validators=[validate_currency])
    interval = models.CharField(max_length=10, choices=Interval.choices, default=Interval.MONTH)
    interval_count = models.PositiveSmallIntegerField(default=1)
    trial_days = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        ordering: ClassVar = ["plan__code", "-version"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["plan", "version"], name="planversion_unique_plan_version"),
            models.CheckConstraint(
                condition=models.Q(interval_count__gte=1), name="planversion_interval_count_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan.code} v{self.version}"


class Price(models.Model):
    """One charge of a plan version: a pricing model, when it is billed, and (for usage) its metric."""

    plan_version = models.ForeignKey(PlanVersion, on_delete=models.CASCADE, related_name="prices")
    code = models.SlugField(max_length=100)
    description = models.CharField(max_length=255, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    model = models.CharField(max_length=12, choices=PriceModel.choices)
    billing = models.CharField(max_length=12, choices=BillingTiming.choices, default=BillingTiming.IN_ADVANCE)
    metric = models.ForeignKey(
        BillableMetric, null=True, blank=True, on_delete=models.PROTECT, related_name="prices"
    )
    amount = unit_amount_field(null=True, blank=True, help_text="flat: the amount per period.")
    unit_amount = unit_amount_field(null=True, blank=True, help_text="per_unit: the price of one unit.")
    package_size = models.PositiveIntegerField(null=True, blank=True)
    package_amount = unit_amount_field(null=True, blank=True)
    percent = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    minimum_amount = unit_amount_field(null=True, blank=True)
    maximum_amount = unit_amount_field(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering: ClassVar = ["plan_version", "position", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["plan_version", "code"], name="price_unique_code_per_version"),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.model})"

    @property
    def currency(self) -> str:
        return self.plan_version.currency


class PriceTier(models.Model):
    """One tier of a graduated or volume price. ``up_to`` is inclusive; the last tier's is null."""

    price = models.ForeignKey(Price, on_delete=models.CASCADE, related_name="tiers")
    position = models.PositiveSmallIntegerField()
    up_to = models.DecimalField(max_digits=UNIT_MAX_DIGITS, decimal_places=UNIT_PLACES, null=True, blank=True)
    unit_amount = unit_amount_field(default=0)
    flat_amount = unit_amount_field(default=0)

    history = HistoricalRecords()

    class Meta:
        ordering: ClassVar = ["price", "position"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["price", "position"], name="pricetier_unique_position"),
        ]

    def __str__(self) -> str:
        return f"up to {self.up_to if self.up_to is not None else '∞'} @ {self.unit_amount}"


class Entitlement(models.Model):
    """What a plan version grants for one feature: ``true``/``false`` or a limit (null = unlimited)."""

    plan_version = models.ForeignKey(PlanVersion, on_delete=models.CASCADE, related_name="entitlements")
    feature = models.ForeignKey(Feature, on_delete=models.PROTECT, related_name="entitlements")
    value = models.JSONField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering: ClassVar = ["plan_version", "feature__key"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["plan_version", "feature"], name="entitlement_unique_feature"),
        ]

    def __str__(self) -> str:
        return f"{self.feature.key}={self.value!r}"


class Coupon(models.Model):
    """A discount: percent or amount off, once, for N months, or forever."""

    code = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=255, blank=True)
    percent_off = models.DecimalField(max_digits=7, decimal_places=4, null=True, blank=True)
    amount_off = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True)
    currency = models.CharField(
        max_length=3, blank=True, validators=[validate_currency], help_text="For amount_off."
    )
    duration = models.CharField(max_length=10, choices=CouponDuration.choices)
    duration_in_months = models.PositiveSmallIntegerField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering: ClassVar = ["code"]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=(models.Q(percent_off__isnull=False, amount_off__isnull=True))
                | (models.Q(percent_off__isnull=True, amount_off__isnull=False)),
                name="coupon_percent_xor_amount",
            ),
        ]

    def __str__(self) -> str:
        return self.code
