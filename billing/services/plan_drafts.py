"""Plan drafts and their validation: what ``plan_create`` is given, checked before anything is written.

A draft (plan, prices, tiers, features) is plain data from the API or the admin's plan form; the checks
here name the field of every problem, so a bad plan is a 400 with all its errors and nothing written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from accounts.currencies import is_known_currency
from billing.models import (
    BillableMetric,
    BillingTiming,
    Feature,
    FeatureKind,
    Interval,
    PlanVersion,
    Price,
    PriceModel,
    Product,
)
from billing.pricing import charge_models
from billing.pricing.errors import PricingError
from config.errors import ErrorCode, FieldError


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


def pricing_error_field(err: PricingError, prefix: str) -> FieldError:
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


def feature_kind(value: Any) -> str | None:
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
    if not (set(raw) <= MEASURED_KEYS and "limit" in raw) or feature_kind(value) != FeatureKind.LIMIT:
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


def plan_draft_validate(draft: PlanDraft) -> tuple[list[FieldError], dict[str, BillableMetric]]:
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
            errors.append(pricing_error_field(err, prefix))

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
        kind = feature_kind(value)
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


def plan_version_draft(version: PlanVersion) -> PlanDraft:
    """A draft that reproduces ``version`` exactly: its terms, prices with their tiers, entitlements."""
    prices = version.prices.select_related("metric").prefetch_related("tiers").order_by("position", "pk")
    entitlements = version.entitlements.select_related("feature")
    plan = version.plan
    return PlanDraft(
        code=plan.code,
        name=version.name,
        currency=version.currency,
        interval=version.interval,
        interval_count=version.interval_count,
        trial_days=version.trial_days,
        product=plan.product.code if plan.product is not None else None,
        prices=tuple(
            PriceDraft(
                code=p.code,
                model=p.model,
                billing=p.billing,
                description=p.description,
                metric=p.metric.code if p.metric is not None else None,
                amount=p.amount,
                unit_amount=p.unit_amount,
                tiers=tuple(TierDraft(t.up_to, t.unit_amount, t.flat_amount) for t in p.tiers.all()),
                package_size=p.package_size,
                package_amount=p.package_amount,
                percent=p.percent,
                minimum_amount=p.minimum_amount,
                maximum_amount=p.maximum_amount,
            )
            for p in prices
        ),
        features={e.feature.key: e.value for e in entitlements},
    )
