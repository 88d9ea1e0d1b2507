"""Version stamps that tell every process when a customer's cached entitlement profile is stale.

A profile (the merged features of a customer's live plans, and which subscription period measures each
limit) is cached per process under the stamps it was built with. Two counters in Redis:
``rc:ent:v:all`` (anything that changes every customer's profile: a plan, a feature, an entitlement)
and ``rc:ent:v:<customer id>`` (that customer's subscriptions, contract, deletion). A check reads both
in the same Redis round trip as the usage counters, so a change made by any process is seen by the very
next check anywhere, at no extra round trip.

- Writes move a stamp **after commit**: a reader that rebuilt a profile from the rows before the commit
  cached it under the old stamp, which the move makes stale; moving before commit could let a reader
  cache pre-commit rows under the new stamp.
- What moves them: ``post_save``/``post_delete`` of the models registered with
  ``entitlement_source_register`` (subscriptions, plans, plan versions, features, entitlements and
  customers here; contracts register theirs), and ``entitlements_changed`` for writes that bypass
  signals (billing runs advance periods with bulk updates).
- Without Redis (the demo: one process) there is nothing to share: the profile cache relies on its TTL
  and on this process's own invalidation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db import transaction
from django.db.models import Model
from django.db.models.signals import post_delete, post_save

ALL_KEY = "rc:ent:v:all"
CUSTOMER_KEY = "rc:ent:v:{}"
STAMP_TTL_SECONDS = 7 * 24 * 3600  # a customer untouched for a week starts again from an absent stamp

# (model, customer id of an instance or None for "every customer")
_sources: list[tuple[type[Model], Callable[[Any], int | None]]] = []
_local_listeners: list[Callable[[Iterable[int] | None], None]] = []


def stamp_keys(customer_id: int) -> tuple[str, str]:
    return ALL_KEY, CUSTOMER_KEY.format(customer_id)


def entitlement_local_listener(listener: Callable[[Iterable[int] | None], None]) -> None:
    """This process's profile cache drops entries at once too (no Redis: the only way it learns)."""
    _local_listeners.append(listener)


def _bump(customer_ids: list[int] | None) -> None:
    from billing.services.usage_live import redis_client

    for listener in _local_listeners:
        listener(customer_ids)
    client = redis_client()
    if client is None:
        return
    try:
        with client.pipeline(transaction=False) as pipe:
            for key in [ALL_KEY] if customer_ids is None else [CUSTOMER_KEY.format(c) for c in customer_ids]:
                pipe.incr(key)
                pipe.expire(key, STAMP_TTL_SECONDS)
            pipe.execute()
    except Exception:  # Redis away: the cached profiles expire by their TTL instead
        import structlog

        structlog.get_logger(__name__).warning("entitlements.stamp_not_moved", customers=customer_ids)


def entitlements_changed(*, customer_ids: Iterable[int] | None = None) -> None:
    """After the current transaction commits, every process sees these customers' (None: all) profiles
    as stale."""
    ids = None if customer_ids is None else sorted(set(customer_ids))
    if ids == []:
        return
    transaction.on_commit(lambda: _bump(ids))


def entitlement_source_register(model: type[Model], customer_of: Callable[[Any], int | None]) -> None:
    """Saving or deleting a ``model`` row changes the entitlements of ``customer_of(row)`` (None: all).

    The seam for contracts: ``entitlement_source_register(Contract, lambda c: c.customer_id)``.
    """
    _sources.append((model, customer_of))
    uid = f"entitlement_stamps.{model._meta.label}"

    def changed(sender: Any, instance: Any, **kwargs: Any) -> None:
        customer_id = customer_of(instance)
        entitlements_changed(customer_ids=None if customer_id is None else [customer_id])

    post_save.connect(changed, sender=model, dispatch_uid=uid + ".save", weak=False)
    post_delete.connect(changed, sender=model, dispatch_uid=uid + ".delete", weak=False)


def connect_billing_sources() -> None:
    """The sources billing knows about (BillingConfig.ready)."""
    from accounts.models import Customer
    from billing.models import Entitlement, Feature, Plan, PlanVersion, Subscription

    entitlement_source_register(Subscription, lambda sub: sub.customer_id)
    entitlement_source_register(Customer, lambda customer: customer.pk)
    for model in (Plan, PlanVersion, Feature, Entitlement):
        entitlement_source_register(model, lambda _row: None)
