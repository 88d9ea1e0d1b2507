"""Catalog writes: plans (versioned), prices, features and entitlements, billable metrics, coupons.

The only code that writes these models. Plan versions are append-only: ``plan_create`` with an existing
code makes version N+1 and never edits version N, so subscribers keep exactly what they signed up for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, transaction
from django.db.models import Max

from accounts.currencies import is_known_currency
from billing.models import (
    Aggregation,
    BillableMetric,
    BillingTiming,
    Coupon,
    CouponDuration,
    Entitlement,
    Feature,
    FeatureKind,
    Interval,
    Plan,
    PlanVersion,
    Price,
    PriceModel,
    PriceTier,
    Product,
)
from billing.pricing import charge_models, discounts
from billing.pricing.errors import PricingError
from config.errors import ErrorCode, FieldError, ValidationFailed


@dataclass(frozen=True)
class TierDraft:
    up_to: Decimal | None
    unit_amount: Decimal
    flat_amount: Decimal = Decimal(0)


@dataclass(frozen=True)
class PriceDraft:
    """A price as the API or the seed describes it, before it is validated and saved."""

    code: str
    model: str
    billing: str = BillingTiming.IN_ADVANCE
    description: str = ""
    metric: str | None = None
    amount: Decimal | None = None
    unit_amount: Decimal | None = None
    tiers: tuple[TierDraft, ...] = ()
    package_size: int | None = None
    package_amount: Decimal | None = None
    percent: Decimal | None = None
    minimum_amount: Decimal | None = None
    maximum_amount: Decimal | None = None


@dataclass(frozen=True)
class PlanDraft:
    code: str
    name: str
    currency: str
    interval: str = Interval.MONTH
    interval_count: int = 1
    trial_days: int = 0
    description: str = ""
    product: str | None = None
    prices: tuple[PriceDraft, ...] = ()
    features: dict[str, Any] = field(default_factory=dict)


# Feature.key is a slug column of 100 characters
FEATURE_KEY = re.compile(r"[-a-zA-Z0-9_]{1,100}")


def _pricing_error(err: PricingError, prefix: str) -> FieldError:
    try:
        code: ErrorCode = ErrorCode(err.code)
    except ValueError:
        code = ErrorCode.INVALID
    return FieldError(field=f"{prefix}.{err.field}" if prefix else err.field, message=err.message, code=code)


def price_spec_from_draft(draft: PriceDraft) -> charge_models.PriceSpec:
    """The engine's view of a price draft."""
    return charge_models.PriceSpec(
        model=charge_models.PriceModel(draft.model),
        amount=draft.amount,
        unit_amount=draft.unit_amount,
        tiers=tuple(charge_models.Tier(t.up_to, t.unit_amount, t.flat_amount) for t in draft.tiers),
        package_size=draft.package_size,
        package_amount=draft.package_amount,
        percent=draft.percent,
        minimum_amount=draft.minimum_amount,
        maximum_amount=draft.maximum_amount,
    )


def price_spec(price: Price) -> charge_models.PriceSpec:
    """The engine's view of a saved price (its tiers should be prefetched)."""
    return charge_models.PriceSpec(
        model=charge_models.PriceModel(price.model),
        amount=price.amount,
        unit_amount=price.unit_amount,
        tiers=tuple(charge_models.Tier(t.up_to, t.unit_amount, t.flat_amount) for t in price.tiers.all()),
        package_size=price.package_size,
        package_amount=price.package_amount,
        percent=price.percent,
        minimum_amount=price.minimum_amount,
        maximum_amount=price.maximum_amount,
    )


def _feature_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return FeatureKind.BOOLEAN
    if value is None or (isinstance(value, int) and value >= 0):
        return FeatureKind.LIMIT
    return None


MEASURED_KEYS = {"limit", "metric"}


def feature_value(raw: Any) -> tuple[Any, str | None]:
    """A plan's feature value and the metric that measures it: ``{"limit": 100, "metric": "devices"}``
    (API.md) is the limit 100 measured by ``devices``; a plain value is measured by nobody new."""
    if isinstance(raw, dict) and set(raw) <= MEASURED_KEYS and "limit" in raw:
        metric = raw.get("metric")
        return raw["limit"], metric if isinstance(metric, str) else None
    return raw, None


def _measured_errors(
    key: str, raw: Any, feature: Feature | None, metrics: dict[str, int]
) -> list[FieldError]:
    """What is wrong with a measured limit: the dict's shape, its metric, a feature measured otherwise."""
    if not isinstance(raw, dict):
        return []
    value, code = feature_value(raw)
    if not (set(raw) <= MEASURED_KEYS and "limit" in raw) or _feature_kind(value) != FeatureKind.LIMIT:
        return [
            FieldError(
                f"features.{key}", 'A measured limit is {"limit": whole number or null, "metric": code}.'
            )
        ]
    if "metric" in raw and code is None:
        return [FieldError(f"features.{key}.metric", "The metric's code, a string.")]
    if code is None:
        return []
    if code not in metrics:
        return [FieldError(f"features.{key}.metric", f"No metric with code {code!r}.", ErrorCode.NOT_FOUND)]
    if feature is not None and feature.metric_id not in (None, metrics[code]):
        # a feature is measured by one metric in every plan (Feature.metric): refuse a second one
        return [FieldError(f"features.{key}.metric", f"Feature {key!r} is measured by another metric.")]
    return []


def _validate_plan(draft: PlanDraft) -> tuple[list[FieldError], dict[str, BillableMetric]]:
    errors: list[FieldError] = []
    if not is_known_currency(draft.currency):
        errors.append(
            FieldError(
                "currency",
                f"{draft.currency!r} is not an ISO 4217 currency code.",
                ErrorCode.UNKNOWN_CURRENCY,
            )
        )
    if draft.interval not in Interval.values:
        errors.append(FieldError("interval", f"Must be one of {', '.join(Interval.values)}."))
    if draft.interval_count < 1:
        errors.append(FieldError("interval_count", "Must be at least 1."))
    if draft.trial_days < 0:
        errors.append(FieldError("trial_days", "Must not be negative."))
    if draft.product and not Product.objects.filter(code=draft.product).exists():
        errors.append(FieldError("product", f"No product with code {draft.product!r}.", ErrorCode.NOT_FOUND))

    metric_codes = {p.metric for p in draft.prices if p.metric}
    metrics = {m.code: m for m in BillableMetric.objects.filter(code__in=metric_codes)}
    seen: set[str] = set()
    for index, price in enumerate(draft.prices):
        prefix = f"prices[{index}]"
        if price.code in seen:
            errors.append(
                FieldError(f"{prefix}.code", f"Price code {price.code!r} appears twice in this plan.")
            )
        seen.add(price.code)
        if price.model not in PriceModel.values:
            errors.append(FieldError(f"{prefix}.model", f"Must be one of {', '.join(PriceModel.values)}."))
            continue
        if price.billing not in BillingTiming.values:
            errors.append(FieldError(f"{prefix}.billing", "Must be in_advance or in_arrears."))
        if price.metric:
            if price.metric not in metrics:
                errors.append(
                    FieldError(
                        f"{prefix}.metric",
                        f"No billable metric with code {price.metric!r}.",
                        ErrorCode.NOT_FOUND,
                    )
                )
            if price.billing != BillingTiming.IN_ARREARS:
                errors.append(
                    FieldError(f"{prefix}.billing", "A usage price (with a metric) is billed in_arrears.")
                )
        elif price.model == PriceModel.PERCENTAGE:
            errors.append(
                FieldError(f"{prefix}.metric", "A percentage price needs the metric it takes a share of.")
            )
        try:
            charge_models.validate_price(price_spec_from_draft(price))
        except PricingError as err:
            errors.append(_pricing_error(err, prefix))

    features = Feature.objects.in_bulk(list(draft.features), field_name="key")
    measured_codes = {feature_value(raw)[1] for raw in draft.features.values()} - {None}
    metric_ids = dict(BillableMetric.objects.filter(code__in=measured_codes).values_list("code", "id"))
    for key, raw in draft.features.items():
        value = feature_value(raw)[0]
        if not FEATURE_KEY.fullmatch(key):
            errors.append(
                FieldError("features", f"Feature key {key[:100]!r}: letters, digits, - and _, at most 100.")
            )
            continue
        measured = _measured_errors(key, raw, features.get(key), metric_ids)
        errors.extend(measured)
        kind = _feature_kind(value)
        if measured:
            continue
        if kind is None:
            errors.append(
                FieldError(
                    f"features.{key}",
                    "A feature value is true/false or a whole number limit (null: unlimited).",
                )
            )
        elif key in features and features[key].kind != kind:
            errors.append(
                FieldError(f"features.{key}", f"Feature {key!r} is a {features[key].kind}, not a {kind}.")
            )
    return errors, metrics


def plan_create(*, draft: PlanDraft, user: AbstractBaseUser | AnonymousUser | None = None) -> PlanVersion:
    """Create a plan, or the next version of the plan with that code. Nothing is written on error."""
    errors, metrics = _validate_plan(draft)
    if errors:
        raise ValidationFailed(errors[0].message, field=errors[0].field, errors=errors)
    with transaction.atomic():
        plan, created = Plan.objects.select_for_update().get_or_create(
            code=draft.code, defaults={"name": draft.name, "description": draft.description}
        )
        if not created:
            plan.name = draft.name
            if draft.description:
                plan.description = draft.description
        if draft.product:
            plan.product = Product.objects.get(code=draft.product)
        plan.save()
        latest = plan.versions.aggregate(n=Max("version"))["n"] or 0
        version = PlanVersion.objects.create(
            plan=plan,
            version=latest + 1,
            name=draft.name,
            currency=draft.currency,
            interval=draft.interval,
            interval_count=draft.interval_count,
            trial_days=draft.trial_days,
            created_by=user if user is not None and user.is_authenticated else None,  # type: ignore[misc]
        )
        for position, p in enumerate(draft.prices):
            price = Price.objects.create(
                plan_version=version,
                code=p.code,
                description=p.description,
                position=position,
                model=p.model,
                billing=p.billing,
                metric=metrics.get(p.metric) if p.metric else None,
                amount=p.amount,
                unit_amount=p.unit_amount,
                package_size=p.package_size,
                package_amount=p.package_amount,
                percent=p.percent,
                minimum_amount=p.minimum_amount,
                maximum_amount=p.maximum_amount,
            )
            PriceTier.objects.bulk_create(
                PriceTier(
                    price=price,
                    position=i,
                    up_to=t.up_to,
                    unit_amount=t.unit_amount,
                    flat_amount=t.flat_amount,
                )
                for i, t in enumerate(p.tiers)
            )
        for key, raw in draft.features.items():
            value, metric_code = feature_value(raw)
            feature, _ = Feature.objects.get_or_create(
                key=key,
                defaults={"name": key.replace("_", " ").capitalize(), "kind": _feature_kind(value) or ""},
            )
            if metric_code is not None and feature.metric_id is None:
                feature.metric = BillableMetric.objects.get(code=metric_code)
                feature.save(update_fields=["metric"])
            Entitlement.objects.create(plan_version=version, feature=feature, value=value)
    return version


def metric_create(
    *, code: str, name: str, aggregation: str, field_name: str = "", filters: dict[str, Any] | None = None
) -> BillableMetric:
    """Create a billable metric. ``field_name`` is required by every aggregation but count."""
    errors: list[FieldError] = []
    if aggregation not in Aggregation.values:
        errors.append(FieldError("aggregation", f"Must be one of {', '.join(Aggregation.values)}."))
    elif aggregation != Aggregation.COUNT and not field_name:
        errors.append(
            FieldError(
                "field", f"A {aggregation} metric needs the event property it aggregates.", ErrorCode.REQUIRED
            )
        )
    filters = filters or {}
    for key, value in filters.items():
        if not isinstance(value, str | int | bool) and not (
            isinstance(value, list) and all(isinstance(v, str | int | bool) for v in value)
        ):
            errors.append(
                FieldError(f"filters.{key}", "A filter value is a string, number, boolean or a list of them.")
            )
    if BillableMetric.objects.filter(code=code).exists():
        errors.append(FieldError("code", f"A metric with code {code!r} exists already.", ErrorCode.CONFLICT))
    if errors:
        raise ValidationFailed(errors[0].message, field=errors[0].field, errors=errors)
    try:
        with transaction.atomic():
            return BillableMetric.objects.create(
                code=code, name=name, aggregation=aggregation, field_name=field_name, filters=filters
            )
    except IntegrityError as exc:
        raise ValidationFailed(f"A metric with code {code!r} exists already.", field="code") from exc


def coupon_create(
    *,
    code: str,
    name: str = "",
    percent_off: Decimal | None = None,
    amount_off: Decimal | None = None,
    currency: str = "",
    duration: str,
    duration_in_months: int | None = None,
) -> Coupon:
    """Create a coupon: percent or amount off, once / for N months / forever."""
    errors: list[FieldError] = []
    if duration not in CouponDuration.values:
        errors.append(FieldError("duration", f"Must be one of {', '.join(CouponDuration.values)}."))
    else:
        try:
            discounts.validate_coupon(
                discounts.CouponSpec(
                    percent_off=percent_off,
                    amount_off=amount_off,
                    duration=discounts.CouponDuration(duration),
                    duration_in_months=duration_in_months,
                )
            )
        except PricingError as err:
            errors.append(_pricing_error(err, ""))
    if amount_off is not None:
        if not currency:
            errors.append(
                FieldError("currency", "An amount_off coupon needs a currency.", ErrorCode.REQUIRED)
            )
        elif not is_known_currency(currency):
            errors.append(
                FieldError(
                    "currency", f"{currency!r} is not an ISO 4217 currency code.", ErrorCode.UNKNOWN_CURRENCY
                )
            )
    if Coupon.objects.filter(code=code).exists():
        errors.append(FieldError("code", f"A coupon with code {code!r} exists already.", ErrorCode.CONFLICT))
    if errors:
        raise ValidationFailed(errors[0].message, field=errors[0].field, errors=errors)
    return Coupon.objects.create(
        code=code,
        name=name,
        percent_off=percent_off,
        amount_off=amount_off,
        currency=currency if amount_off is not None else "",
        duration=duration,
        duration_in_months=duration_in_months,
    )


def feature_measure(*, key: str, metric_code: str | None) -> Feature:
    """Say which metric measures usage against a limit feature (``None``: not measured).

    The entitlements endpoint then reports current usage beside the limit (e.g. devices 87 of 100).
    """
    with transaction.atomic():
        feature = Feature.objects.select_for_update().filter(key=key).first()
        if feature is None:
            raise ValidationFailed(f"No feature with key {key!r}.", field="feature", code=ErrorCode.NOT_FOUND)
        metric = None
        if metric_code is not None:
            metric = BillableMetric.objects.filter(code=metric_code).first()
            if metric is None:
                raise ValidationFailed(
                    f"No metric with code {metric_code!r}.", field="metric", code=ErrorCode.NOT_FOUND
                )
            if feature.kind != FeatureKind.LIMIT:
                raise ValidationFailed(
                    f"Feature {key!r} is a flag; only a limit is measured.", field="feature"
                )
        if feature.metric_id != (metric.pk if metric else None):
            feature.metric = metric
            feature.save(update_fields=["metric"])
    return feature
