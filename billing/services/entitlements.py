"""What a customer may use right now, and how much of each limit it has used (API.md's entitlements).

Features are the entitlements of the plan versions of the customer's live subscriptions (trialing,
active, past_due), merged: a flag is on if any plan turns it on; a numeric limit is the largest, and
``null`` (unlimited) beats any number. Contract overrides are applied last (``contract_overrides``).
Usage sits beside each limit a metric measures, over the current period of the subscription that
grants it, from the live counters (``usage_live``).

The merged plan "profile" is cached per process for ``PROFILE_TTL_SECONDS`` so a check costs one Redis
round trip; subscription writers may call ``entitlements_invalidate`` to drop it at once.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from billing.models import BillableMetric, Entitlement, FeatureKind, Subscription
from billing.services.usage_live import LIVE_STATUSES, usage_live_values

PROFILE_TTL_SECONDS = 30.0
PROFILE_CACHE_MAX = 50_000


@dataclass(frozen=True)
class LimitSource:
    """Where a limit's usage is measured: its metric, over this subscription period."""

    metric: BillableMetric
    period_start: datetime
    period_end: datetime


@dataclass(frozen=True)
class Profile:
    features: dict[str, Any]
    limits: dict[str, LimitSource] = field(default_factory=dict)


@dataclass(frozen=True)
class EntitlementsView:
    features: dict[str, Any]
    usage: dict[str, dict[str, Any]]  # feature key -> {"used": "87", "limit": 100}


def contract_overrides(*, customer_id: int) -> dict[str, Any]:
    """Hook for contract-level entitlement overrides (feature key -> value); contracts have none yet."""
    return {}


def _merge(current: Any, new: Any, kind: str) -> Any:
    if kind == FeatureKind.BOOLEAN or isinstance(new, bool):
        return bool(current) or bool(new)
    if current is None or new is None:
        return None  # unlimited wins
    if isinstance(current, int | float | Decimal) and isinstance(new, int | float | Decimal):
        return max(current, new)
    return current


def _build_profile(customer_id: int) -> Profile:
    subscriptions = list(
        Subscription.objects.filter(customer_id=customer_id, status__in=LIVE_STATUSES)
        .order_by("started_at", "id")
        .values_list("plan_version_id", "current_period_start", "current_period_end")
    )
    period_of: dict[int, tuple[datetime, datetime]] = {}
    for version_id, start, end in subscriptions:
        period_of.setdefault(version_id, (start, end))
    features: dict[str, Any] = {}
    limits: dict[str, LimitSource] = {}
    rows = Entitlement.objects.filter(plan_version_id__in=period_of).select_related("feature__metric")
    for row in sorted(rows, key=lambda r: (period_of[r.plan_version_id], r.pk)):
        key, kind = row.feature.key, row.feature.kind
        features[key] = _merge(features[key], row.value, kind) if key in features else row.value
        if kind != FeatureKind.BOOLEAN and row.feature.metric is not None and key not in limits:
            start, end = period_of[row.plan_version_id]
            limits[key] = LimitSource(row.feature.metric, start, end)
    features.update(contract_overrides(customer_id=customer_id))
    return Profile(features=features, limits=limits)


class _ProfileCache:
    def __init__(self) -> None:
        self.entries: dict[int, tuple[float, Profile]] = {}

    def get(self, customer_id: int) -> Profile:
        now = time.monotonic()
        entry = self.entries.get(customer_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        if len(self.entries) > PROFILE_CACHE_MAX:
            self.entries.clear()
        profile = _build_profile(customer_id)
        # jittered so profiles cached together (a warm-up, a deploy) do not all expire together
        self.entries[customer_id] = (now + PROFILE_TTL_SECONDS * random.uniform(0.5, 1.0), profile)
        return profile


profiles = _ProfileCache()


def entitlements_invalidate(*, customer_id: int | None = None) -> None:
    """Forget the cached profile of one customer (or all) in this process."""
    if customer_id is None:
        profiles.entries.clear()
    else:
        profiles.entries.pop(customer_id, None)


def customer_entitlements(*, customer_id: int) -> EntitlementsView:
    """Features and usage against each measured limit, e.g. ``{"max_devices": {"used": "87", "limit": 100}}``."""
    profile = profiles.get(customer_id)
    keys = list(profile.limits)
    values = usage_live_values(
        items=[
            (
                customer_id,
                profile.limits[key].metric,
                profile.limits[key].period_start,
                profile.limits[key].period_end,
            )
            for key in keys
        ]
    )
    usage = {
        key: {"used": format(value, "f"), "limit": profile.features.get(key)}
        for key, value in zip(keys, values, strict=True)
    }
    return EntitlementsView(features=dict(profile.features), usage=usage)
