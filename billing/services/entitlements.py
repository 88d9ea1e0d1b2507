"""What a customer may use right now, and how much of each limit it has used (API.md's entitlements).

Features are the entitlements of the plan versions of the customer's live subscriptions (trialing,
active, past_due), merged: a flag is on if any plan turns it on; a numeric limit is the largest, and
``null`` (unlimited) beats any number. Contract overrides are applied last (``contract_overrides``).
Usage sits beside each limit a metric measures, over the current period of the subscription that
grants it, from the live counters (``usage_live``).

The merged plan "profile" is cached per process under version stamps (``entitlement_stamps``): a check
reads the stamps and the live usage counters in one Redis round trip and touches the database only when a
subscription, plan, feature, entitlement, customer or contract change moved a stamp.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import redis
import structlog

from accounts.models import Customer
from billing.models import BillableMetric, Entitlement, FeatureKind, Subscription
from billing.services.entitlement_reads import PreparedRead, prepared_read, read_run
from billing.services.entitlement_stamps import entitlement_local_listener, entitlements_changed, stamp_keys
from billing.services.usage_live import (
    LIVE_STATUSES,
    LivePlan,
    redis_client,
    usage_live_finish,
    usage_live_plan,
)
from config.errors import NotFound

# a backstop only: every change that matters moves a stamp (entitlement_stamps)
PROFILE_TTL_SECONDS = 600.0
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
    """The seam for contracts: feature key -> value from the customer's active contract, applied over
    the plans' merged features. Contracts have none yet; when they do, their models also register with
    ``entitlement_source_register`` so a change reaches every process's cache at once."""
    return {}


def _merge(current: Any, new: Any, kind: str) -> Any:
    if kind == FeatureKind.BOOLEAN or isinstance(new, bool):
        return bool(current) or bool(new)
    if current is None or new is None:
        return None  # unlimited wins
    if isinstance(current, int | float | Decimal) and isinstance(new, int | float | Decimal):
        return max(current, new)
    return current


class CustomerGone(Exception):
    """The customer id a cache held no longer exists (deleted since)."""


def _build_profile(customer_id: int) -> Profile:
    if not Customer.objects.filter(pk=customer_id).exists():
        raise CustomerGone(customer_id)
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


@dataclass
class _Entry:
    profile: Profile
    stamps: tuple[int, int]  # (every customer's, this customer's) stamp when it was built
    expires: float  # monotonic: the backstop for a change no stamp moved (Redis restarted)
    plan: LivePlan  # the usage counters of the profile's limits
    reads: dict[tuple[str, ...], PreparedRead] = field(default_factory=dict)  # per caller's own keys

    def read(self, customer_id: int, also: tuple[str, ...]) -> PreparedRead:
        """The packed round trip of a check: the stamps, ``also`` and the counters (built once)."""
        prepared = self.reads.get(also)
        if prepared is None:
            prepared = self.reads[also] = prepared_read(self.plan, [*stamp_keys(customer_id), *also])
        return prepared


class _ProfileCache:
    """Per process: customer id -> profile, and external id -> customer id (never changes)."""

    def __init__(self) -> None:
        self.entries: dict[int, _Entry] = {}
        self.customer_ids: dict[str, int] = {}

    def forget(self, customer_ids: Iterable[int] | None) -> None:
        if customer_ids is None:
            self.entries.clear()
            self.customer_ids.clear()
            return
        for customer_id in customer_ids:
            self.entries.pop(customer_id, None)

    def fresh(self, customer_id: int) -> _Entry | None:
        entry = self.entries.get(customer_id)
        return entry if entry is not None and entry.expires > time.monotonic() else None

    def store(self, customer_id: int, stamps: tuple[int, int], in_redis: bool = True) -> _Entry:
        if len(self.entries) > PROFILE_CACHE_MAX:
            self.entries.clear()
        # jittered so profiles cached together (a warm-up, a deploy) do not all expire together
        expires = time.monotonic() + PROFILE_TTL_SECONDS * random.uniform(0.5, 1.0)
        profile = _build_profile(customer_id)
        plan = usage_live_plan(_items(customer_id, profile), in_redis=in_redis)
        entry = _Entry(profile, stamps, expires, plan)
        self.entries[customer_id] = entry
        return entry

    def customer_id(self, external_id: str) -> int:
        found = self.customer_ids.get(external_id)
        if found is None:
            found = Customer.objects.filter(external_id=external_id).values_list("id", flat=True).first()
            if found is None:
                raise NotFound(f"No customer {external_id!r}.", field="external_id")
            if len(self.customer_ids) > PROFILE_CACHE_MAX:
                self.customer_ids.clear()
            self.customer_ids[external_id] = found
        return found


profiles = _ProfileCache()
entitlement_local_listener(profiles.forget)


def entitlements_invalidate(*, customer_id: int | None = None) -> None:
    """The customer's (None: everyone's) profile changed: stale in every process once the caller commits."""
    entitlements_changed(customer_ids=None if customer_id is None else [customer_id])
    profiles.forget(None if customer_id is None else [customer_id])


def _items(customer_id: int, profile: Profile) -> list[tuple[int, BillableMetric, datetime, datetime]]:
    return [
        (customer_id, source.metric, source.period_start, source.period_end)
        for source in profile.limits.values()
    ]


def _view(profile: Profile, values: list[Decimal]) -> EntitlementsView:
    usage = {
        key: {"used": format(value, "f"), "limit": profile.features.get(key)}
        for key, value in zip(profile.limits, values, strict=True)
    }
    return EntitlementsView(features=dict(profile.features), usage=usage)


def customer_entitlements(*, customer_id: int) -> EntitlementsView:
    """Features and usage against each measured limit, e.g. ``{"max_devices": {"used": "87", "limit": 100}}``.

    With Redis: one round trip reads the two stamps and the usage counters of the cached profile; only
    when a stamp moved is the profile rebuilt (two queries) and the counters read again.
    """
    return customer_entitlements_with(customer_id=customer_id, also=())[0]


def _stamps(values: Sequence[Any]) -> tuple[int, int]:
    return int(values[0] or 0), int(values[1] or 0)


def customer_entitlements_with(
    *, customer_id: int, also: Sequence[str]
) -> tuple[EntitlementsView, list[str | None]]:
    """``customer_entitlements``, reading the Redis keys ``also`` in the same round trip (a caller's own
    check, e.g. the access stamp of the token fast path); their values are None without Redis."""
    client = redis_client()
    if client is None:
        local = profiles.fresh(customer_id) or profiles.store(customer_id, (0, 0), in_redis=False)
        return _from_database(customer_id, local.profile), [None] * len(also)
    try:
        return _with_redis(client, customer_id, tuple(also))
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        # Redis away: the database answers, slower, from rows read now (no stamp says a cached profile
        # is fresh, so none is trusted); the callers' own keys read as missing
        _log_redis_away(exc)
        return _from_database(customer_id, _build_profile(customer_id)), [None] * len(also)


def _with_redis(
    client: redis.Redis, customer_id: int, also: tuple[str, ...]
) -> tuple[EntitlementsView, list[str | None]]:
    entry = profiles.fresh(customer_id)
    if entry is None:
        # the stamps are read before the rows: a change committed meanwhile leaves this profile stale
        entry = profiles.store(customer_id, _stamps(client.mget(stamp_keys(customer_id))))
    read = entry.read(customer_id, also)
    plain, figures = read_run(client, read)
    if _stamps(plain) != entry.stamps:  # changed since it was cached: rebuild under the new stamps
        entry = profiles.store(customer_id, _stamps(plain))
        read = entry.read(customer_id, also)
        plain, figures = read_run(client, read)
    return _view(entry.profile, usage_live_finish(read.plan, figures)), plain[2:]


def _from_database(customer_id: int, profile: Profile) -> EntitlementsView:
    plan = usage_live_plan(_items(customer_id, profile), in_redis=False)
    return _view(profile, usage_live_finish(plan, []))


_redis_away_logged = [0.0]  # monotonic time of the last warning: one a minute, not one a check


def _log_redis_away(exc: Exception) -> None:
    now = time.monotonic()
    if now - _redis_away_logged[0] > 60:
        _redis_away_logged[0] = now
        structlog.get_logger(__name__).warning("entitlements.redis_unavailable", error=repr(exc))


def customer_entitlements_by_external_id(*, external_id: str) -> EntitlementsView:
    """``customer_entitlements`` for the API's address of a customer; ``NotFound`` when there is none."""
    customer_id = profiles.customer_id(external_id)
    try:
        return customer_entitlements(customer_id=customer_id)
    except CustomerGone:
        profiles.customer_ids.pop(external_id, None)  # deleted since it was cached: ask the database
        return customer_entitlements(customer_id=profiles.customer_id(external_id))
