"""Usage alerts: a threshold per customer and metric that fires once per billing period.

Checked after an ingestion commits, only for the (customer, metric) pairs that received new events and
have an active alert (a Celery task; eager in the demo). A firing is a ``UsageAlertFiring`` row, unique
on (alert, period_start), so a second worker or a repeated check fires nothing twice; the firing is
logged as ``usage.alert_fired`` and listed in the admin.

Thresholds: ``quantity`` (usage >= threshold), ``percent_of_limit`` (usage >= threshold % of the
customer's limit on the feature this metric measures; unlimited never fires) and ``spend`` (usage
rated with the subscription's price for this metric >= threshold, in the subscription's currency).
"""

from __future__ import annotations

from decimal import Decimal

import structlog
from django.db import IntegrityError, transaction

from billing.models import Feature, Price, Subscription, UsageAlert, UsageAlertFiring, UsageAlertKind
from billing.pricing.rating import rate_price
from billing.services.catalog import price_spec
from billing.services.entitlements import customer_entitlements
from billing.services.usage_live import LIVE_STATUSES, usage_live_values

log = structlog.get_logger(__name__)


def _limit_for(customer_id: int, metric_id: int) -> Decimal | None:
    view = customer_entitlements(customer_id=customer_id)
    keys = Feature.objects.filter(metric_id=metric_id).values_list("key", flat=True)
    limits = [view.features[key] for key in keys if key in view.features]
    numeric = [
        Decimal(str(v)) for v in limits if isinstance(v, int | float | Decimal) and not isinstance(v, bool)
    ]
    return max(numeric) if numeric and None not in limits else None


def _spend(subscription: Subscription, alert: UsageAlert, quantity: Decimal) -> Decimal | None:
    price = (
        Price.objects.filter(plan_version_id=subscription.plan_version_id, metric_id=alert.metric_id)
        .prefetch_related("tiers")
        .first()
    )
    if price is None:
        return None
    line = rate_price(
        spec=price_spec(price),
        quantity=quantity,
        currency=subscription.currency,
        description="",
        kind="usage",
    )
    return line.amount


def usage_alerts_check(*, pairs: list[tuple[int, int]]) -> list[UsageAlertFiring]:
    """Evaluate the active alerts of these (customer_id, metric_id) pairs; return the new firings."""
    wanted = {tuple(pair) for pair in pairs}
    alerts = [
        alert
        for alert in UsageAlert.objects.filter(
            is_active=True, customer_id__in={c for c, _ in wanted}
        ).select_related("metric", "customer")
        if (alert.customer_id, alert.metric_id) in wanted
    ]
    fired: list[UsageAlertFiring] = []
    for alert in alerts:
        subscription = (
            Subscription.objects.filter(customer_id=alert.customer_id, status__in=LIVE_STATUSES)
            .order_by("started_at", "id")
            .first()
        )
        if subscription is None:
            continue  # alerts are per billing period: no live subscription, no period
        start, end = subscription.current_period_start, subscription.current_period_end
        (quantity,) = usage_live_values(items=[(alert.customer_id, alert.metric, start, end)])
        if alert.kind == UsageAlertKind.QUANTITY:
            value, reached = quantity, quantity >= alert.threshold
        elif alert.kind == UsageAlertKind.PERCENT_OF_LIMIT:
            limit = _limit_for(alert.customer_id, alert.metric_id)
            value = quantity
            reached = limit is not None and limit > 0 and quantity * 100 >= limit * alert.threshold
        else:
            spend = _spend(subscription, alert, quantity)
            value, reached = spend or Decimal(0), spend is not None and spend >= alert.threshold
        if not reached:
            continue
        try:
            with transaction.atomic():
                firing = UsageAlertFiring.objects.create(
                    alert=alert, period_start=start, period_end=end, value=value
                )
        except IntegrityError:
            continue  # fired already in this period
        log.warning(
            "usage.alert_fired",
            customer_id=alert.customer_id,
            customer=alert.customer.external_id,
            metric=alert.metric.code,
            kind=alert.kind,
            threshold=str(alert.threshold),
            value=str(value),
            period_start=start.isoformat(),
        )
        fired.append(firing)
    return fired
