"""Advance subscriptions over the period boundaries they crossed: billing's half of a billing run.

``subscription_advance`` reads what billing owns and writes nothing: for every subscription, the
boundaries it crossed by ``as_of`` (the state machine in ``subscription_boundaries``), its state after
them, and the pending lines (prorations, one-off charges) waiting for its next invoice. Invoicing rates
that plan into invoice lines; once the lines are written, ``subscription_advance_apply`` moves the
subscriptions to their new state, marks the scheduled changes applied and the pending lines invoiced.
Set-based: a constant number of queries per call, whatever the number of subscriptions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from accounts.audit import record_bulk_history, system_actor
from billing.models import PendingLine, PlanVersion, Price, Subscription, SubscriptionChange
from billing.services.pending_lines import pending_lines_mark_invoiced
from billing.services.scheduled_changes import billing_horizons
from billing.services.subscription_boundaries import Boundary, SubState, plan_boundaries
from config.bulk import bulk_update_rows

# the fields of a subscription that move at a boundary (SubState's), written in one bulk update
ADVANCED_FIELDS = [
    "status",
    "plan_version",
    "quantity",
    "billing_anchor",
    "anchor_at",
    "timezone",
    "period_index",
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "canceled_at",
    "ended_at",
    "updated_at",
]


@dataclass(frozen=True)
class SubscriptionAdvance:
    """One subscription's boundaries up to ``as_of``, its state after them and its waiting pending lines."""

    subscription: Subscription
    boundaries: tuple[Boundary, ...]
    state: SubState
    pending: tuple[PendingLine, ...]


@dataclass(frozen=True)
class AdvancePlan:
    """What the subscriptions owe up to ``as_of``, as billing sees it (nothing is written yet).

    ``one_offs``: per customer, the one-off charges not tied to a subscription (they go on the first
    invoice of that customer). ``failures``: (subscription, customer, error) of those whose boundaries
    could not be computed; they are left as they were.
    """

    advances: tuple[SubscriptionAdvance, ...] = ()
    one_offs: Mapping[int, tuple[PendingLine, ...]] = field(default_factory=dict)
    prices: Mapping[int, list[Price]] = field(default_factory=dict)
    failures: tuple[tuple[int, int, str], ...] = ()


def prices_by_version(version_ids: set[int]) -> dict[int, list[Price]]:
    """The prices of these plan versions (metric and tiers loaded), in their order on the plan."""
    prices: dict[int, list[Price]] = defaultdict(list)
    for price in (
        Price.objects.filter(plan_version_id__in=version_ids)
        .select_related("metric")
        .prefetch_related("tiers")
        .order_by("plan_version_id", "position", "id")
    ):
        prices[price.plan_version_id].append(price)
    return prices


def subscription_advance(
    *, subscriptions: Sequence[Subscription], as_of: datetime, lock_pending: bool
) -> AdvancePlan:
    """The boundaries each subscription crossed by ``as_of`` (never past a waiting scheduled change).

    Subscriptions must be loaded with ``customer``, ``plan_version`` and ``coupon``. ``lock_pending``
    takes the pending lines FOR UPDATE SKIP LOCKED (billing) or reads them plainly (a preview).
    """
    if not subscriptions:
        return AdvancePlan()
    sub_ids = [s.pk for s in subscriptions]
    scheduled: dict[int, list[SubscriptionChange]] = defaultdict(list)
    for change in SubscriptionChange.objects.filter(
        subscription_id__in=sub_ids, applied=False, effective_at__lte=as_of
    ):
        scheduled[change.subscription_id].append(change)
    version_ids = {s.plan_version_id for s in subscriptions} | {
        c.new_plan_version_id for cs in scheduled.values() for c in cs if c.new_plan_version_id
    }
    versions = PlanVersion.objects.in_bulk(list(version_ids))
    failures: list[tuple[int, int, str]] = []
    planned: list[tuple[Subscription, list[Boundary], SubState]] = []
    horizons = billing_horizons(sub_ids)  # never bill past a scheduled change before it is applied
    for sub in subscriptions:
        try:
            boundaries, state = plan_boundaries(
                sub=sub,
                customer=sub.customer,
                as_of=min(as_of, horizons.get(sub.pk, as_of)),
                scheduled=scheduled[sub.pk],
                versions=versions,
            )
        except Exception as exc:  # one subscription's bad data must not stop the others
            failures.append((sub.pk, sub.customer_id, f"{exc.__class__.__name__}: {exc}"))
            continue
        if boundaries:
            planned.append((sub, boundaries, state))
    if not planned:
        return AdvancePlan(failures=tuple(failures))

    pending_by_sub: dict[int, list[PendingLine]] = defaultdict(list)
    one_offs: dict[int, list[PendingLine]] = defaultdict(list)
    pending_qs = (
        PendingLine.objects.select_for_update(skip_locked=True) if lock_pending else PendingLine.objects.all()
    )
    for line in (
        pending_qs.filter(
            Q(subscription_id__in=[sub.pk for sub, _, _ in planned])
            | Q(customer_id__in={sub.customer_id for sub, _, _ in planned}, subscription__isnull=True)
        )
        .filter(invoiced_at__isnull=True, invoice_now=False)
        .order_by("id")
    ):
        if line.subscription_id:
            pending_by_sub[line.subscription_id].append(line)
        else:
            one_offs[line.customer_id].append(line)
    return AdvancePlan(
        advances=tuple(
            SubscriptionAdvance(
                subscription=sub,
                boundaries=tuple(boundaries),
                state=state,
                pending=tuple(pending_by_sub.get(sub.pk, [])),
            )
            for sub, boundaries, state in planned
        ),
        one_offs={customer_id: tuple(lines) for customer_id, lines in one_offs.items()},
        prices=prices_by_version(version_ids),
        failures=tuple(failures),
    )


def subscription_advance_apply(
    *,
    advances: Sequence[SubscriptionAdvance],
    invoiced_pending_ids: Sequence[int],
    as_of: datetime,
    system_reason: str = "",
) -> list[Subscription]:
    """Move the (locked) subscriptions to their state after the boundaries invoicing billed; mark their
    scheduled changes applied and the pending lines invoicing put on invoices ``invoiced_at=as_of``.

    Call inside the transaction that wrote the invoice lines. ``system_reason`` (a billing run): the
    history rows name the system actor and this reason; otherwise the request's user.
    """
    pending_lines_mark_invoiced(pending_line_ids=invoiced_pending_ids, at=as_of)
    applied = [change for advance in advances for b in advance.boundaries for change in b.applied_changes]
    if applied:
        SubscriptionChange.objects.filter(pk__in=applied).update(applied=True)
    now = timezone.now()
    subs = []
    for advance in advances:
        advance.state.write_to(advance.subscription)
        advance.subscription.updated_at = now
        subs.append(advance.subscription)
    bulk_update_rows(subs, ADVANCED_FIELDS)
    # bulk writes bypass simple-history's signals: record them; a run's by the system actor
    if system_reason:
        record_bulk_history(subs, update=True, actor=system_actor(), reason=system_reason)
    else:
        record_bulk_history(subs, update=True)
    return subs
