"""The subscription state machine: which period boundaries a subscription crosses by ``as_of``, and its
state after each.

Pure computation over a subscription's stored state and its scheduled changes: no writes, no clock.
At a boundary: the ended period is billed in arrears on the plan in effect during it; then scheduled
changes apply (plan or seats ``at="period_end"``, cancel at period end); then the next period's fees are
billed in advance. A trial's end starts the first paid period; a new customer time zone or anchor takes
effect here, re-anchoring the schedule at the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from accounts.models import Customer
from billing.models import ChangeKind, PlanVersion, Subscription, SubscriptionChange, SubscriptionStatus
from billing.pricing import Period
from billing.services.subscription_periods import Schedule, period_at_index


@dataclass
class SubState:
    """The fields of a subscription that move at a boundary (written back in one bulk update)."""

    status: str
    plan_version: PlanVersion
    quantity: Decimal
    billing_anchor: str
    anchor_at: datetime
    timezone: str
    period_index: int
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    canceled_at: datetime | None
    ended_at: datetime | None

    @classmethod
    def of(cls, sub: Subscription) -> SubState:
        return cls(
            status=sub.status,
            plan_version=sub.plan_version,
            quantity=sub.quantity,
            billing_anchor=sub.billing_anchor,
            anchor_at=sub.anchor_at,
            timezone=sub.timezone,
            period_index=sub.period_index,
            current_period_start=sub.current_period_start,
            current_period_end=sub.current_period_end,
            cancel_at_period_end=sub.cancel_at_period_end,
            canceled_at=sub.canceled_at,
            ended_at=sub.ended_at,
        )

    def write_to(self, sub: Subscription) -> None:
        for name, value in self.__dict__.items():
            setattr(sub, name, value)

    def schedule(self) -> Schedule:
        return Schedule(
            anchor_kind=self.billing_anchor,
            anchor_at=self.anchor_at,
            timezone=self.timezone,
            interval=self.plan_version.interval,
            interval_count=self.plan_version.interval_count,
        )


@dataclass(frozen=True)
class Boundary:
    """One boundary to bill: the ended period (arrears) and the next one (advance), if any."""

    ended: Period
    was_trial: bool
    arrears_version: PlanVersion
    arrears_quantity: Decimal
    next_period: Period | None
    next_schedule: Schedule | None
    next_version: PlanVersion
    next_quantity: Decimal
    applied_changes: tuple[int, ...] = field(default=())


def plan_boundaries(
    *,
    sub: Subscription,
    customer: Customer,
    as_of: datetime,
    scheduled: list[SubscriptionChange],
    versions: dict[int, PlanVersion],
) -> tuple[list[Boundary], SubState]:
    """Every boundary of ``sub`` at or before ``as_of``, in order, and the state after the last one."""
    state = SubState.of(sub)
    pending = sorted(scheduled, key=lambda c: (c.effective_at, c.pk))
    boundaries: list[Boundary] = []
    live = (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
    while state.status in live and state.current_period_end <= as_of:
        boundary = state.current_period_end
        ended = Period(state.current_period_start, boundary)
        was_trial = state.status == SubscriptionStatus.TRIALING
        arrears_version, arrears_quantity = state.plan_version, state.quantity
        applied: list[int] = []
        while pending and pending[0].effective_at <= boundary:
            change = pending.pop(0)
            applied.append(change.pk)
            if change.kind == ChangeKind.CANCEL:
                state.cancel_at_period_end = True
                continue
            if change.new_plan_version_id is not None:
                new_version = versions[change.new_plan_version_id]
                if (new_version.interval, new_version.interval_count) != (
                    state.plan_version.interval,
                    state.plan_version.interval_count,
                ):
                    state.anchor_at, state.period_index = boundary, -1
                state.plan_version = new_version
            if change.new_quantity is not None:
                state.quantity = change.new_quantity
        if state.cancel_at_period_end:
            state.status = SubscriptionStatus.CANCELED
            state.canceled_at = state.canceled_at or boundary
            state.ended_at = boundary
            boundaries.append(
                Boundary(
                    ended,
                    was_trial,
                    arrears_version,
                    arrears_quantity,
                    None,
                    None,
                    state.plan_version,
                    state.quantity,
                    tuple(applied),
                )
            )
            break
        if was_trial:
            state.status = SubscriptionStatus.ACTIVE
            state.anchor_at, state.period_index = boundary, -1
        if customer.billing_anchor != state.billing_anchor or customer.timezone != state.timezone:
            # a customer's new anchor or time zone applies from the next period
            state.billing_anchor, state.timezone = customer.billing_anchor, customer.timezone
            state.anchor_at, state.period_index = boundary, -1
        state.period_index += 1
        schedule = state.schedule()
        next_period = period_at_index(schedule, state.period_index)
        state.current_period_start, state.current_period_end = next_period.start, next_period.end
        boundaries.append(
            Boundary(
                ended,
                was_trial,
                arrears_version,
                arrears_quantity,
                next_period,
                schedule,
                state.plan_version,
                state.quantity,
                tuple(applied),
            )
        )
    return boundaries, state
