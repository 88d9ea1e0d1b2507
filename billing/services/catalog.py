"""Catalog writes: plans (versioned), prices, features and entitlements, billable metrics, coupons.

The only code that writes these models. Plan versions are append-only: ``plan_create`` with an existing
code makes version N+1 and never edits version N, so subscribers keep exactly what they signed up for.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, transaction
from django.db.models import Max

from accounts.currencies import is_known_currency
from billing.models import (
    Aggregation,
    BillableMetric,
    Coupon,
    CouponDuration,
    Entitlement,
    Feature,
    FeatureKind,
    Plan,
    PlanVersion,
    Price,
    PriceTier,
    Product,
)
from billing.pricing import discounts
from billing.pricing.errors import PricingError
from billing.services.plan_drafts import (  # the drafts are part of the catalog's interface
    FEATURE_KEY,
    MEASURED_KEYS,
    PlanDraft,
    PriceDraft,
    TierDraft,
    feature_kind,
    feature_value,
    plan_draft_validate,
    plan_version_draft,
    price_spec,
    price_spec_from_draft,
    pricing_error_field,
)
from config.errors import ErrorCode, FieldError, ValidationFailed

__all__ = [
    "FEATURE_KEY",
    "MEASURED_KEYS",
    "PlanDraft",
    "PriceDraft",
    "TierDraft",
    "coupon_create",
    "feature_measure",
    "feature_value",
    "metric_create",
    "plan_create",
    "plan_version_copy_newest",
    "plan_version_draft",
    "price_spec",
    "price_spec_from_draft",
]


def plan_create(*, draft: PlanDraft, user: AbstractBaseUser | AnonymousUser | None = None) -> PlanVersion:
    """Create a plan, or the next version of the plan with that code. Nothing is written on error."""
    errors, metrics = plan_draft_validate(draft)
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
                defaults={"name": key.replace("_", " ").capitalize(), "kind": feature_kind(value) or ""},
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
            errors.append(pricing_error_field(err, ""))
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


def plan_version_copy_newest(*, plan: Plan, user: AbstractBaseUser | AnonymousUser | None) -> PlanVersion:
    """Make version N+1 of ``plan``, identical to version N, through ``plan_create`` (which locks the
    plan, so two copies at once make N+1 and N+2). Raises ``ValidationFailed``; writes nothing then."""
    newest = plan.versions.select_related("plan__product").order_by("-version").first()
    if newest is None:
        raise ValidationFailed(f"Plan {plan.code!r} has no version to copy.", field="plan")
    return plan_create(draft=plan_version_draft(newest), user=user)
