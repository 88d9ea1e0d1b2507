"""MRR and its movements per calendar month (API.md, Reports).

MRR is the monthly value of the recurring fees that are active at the end of a month: every licensed
(non-metered) price of the subscription's plan version at its seat count, yearly fees / 12 and quarterly
/ 3, after a recurring coupon (repeating while it lasts, or forever), without tax, trials, one-off
charges or metered usage — as Stripe's analytics count it. A subscription's state at a month's end is
rebuilt from its append-only changes, so past months stay what they were whatever happened since.

Movements follow ChartMogul's definitions per customer, month over month: new (first paying month),
expansion and contraction (a paying customer's MRR up or down), churn (down to zero), reactivation (a
churned customer pays again). For every month ``mrr = previous + new + expansion + reactivation -
contraction - churn`` holds exactly, because each customer's change lands in exactly one movement.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from functools import cache

from django.db.models import Prefetch

from billing.models import Price, Subscription, SubscriptionChange, SubscriptionStatus
from billing.pricing import (
    CouponDuration,
    Interval,
    add_interval,
    discount_amount,
    prorate,
    rate_price,
    round_amount,
)
from billing.services.catalog import price_spec
from billing.services.subscription_charges import is_licensed, licensed_quantity
from invoicing.services.line_drafts import coupon_spec
from reporting.months import Month

MOVEMENTS = ("new", "expansion", "contraction", "churn", "reactivation")


@dataclass
class MrrMonth:
    month: Month
    mrr: Decimal
    new: Decimal
    expansion: Decimal
    contraction: Decimal
    churn: Decimal
    reactivation: Decimal
    # customer id -> (movement, amount): what the movement figures are made of (the drill-down)
    movers: dict[int, tuple[str, Decimal]] = field(default_factory=dict)
    by_customer: dict[int, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class _State:
    plan_version_id: int
    quantity: Decimal


@cache
def _zero(currency: str) -> Decimal:
    return round_amount(Decimal(0), currency)


def _months_per_period(interval: str, count: int) -> int:
    return {Interval.MONTH: 1, Interval.YEAR: 12}.get(Interval(interval), 0) * count


def _state_at(changes: list[SubscriptionChange], moment: datetime) -> _State | None:
    """Plan version and seats in force just before ``moment`` (applied changes only, in time order)."""
    version: int | None = None
    quantity: Decimal | None = None
    for change in changes:
        if change.effective_at >= moment:
            break
        if change.new_plan_version_id is not None:
            version = change.new_plan_version_id
        if change.new_quantity is not None:
            quantity = change.new_quantity
    if version is None or quantity is None:
        return None
    return _State(version, quantity)


def _period_value(state: _State, version_prices: list[Price], currency: str) -> Decimal:
    """The licensed fees of one period of a plan version at a seat count, before any coupon."""
    return sum(
        (
            rate_price(
                spec=price_spec(price),
                quantity=licensed_quantity(price, state.quantity),
                currency=currency,
                description="",
                kind="subscription",
            ).amount
            for price in version_prices
            if is_licensed(price)
        ),
        round_amount(Decimal(0), currency),
    )


def subscription_mrr(
    sub: Subscription,
    changes: list[SubscriptionChange],
    prices: dict[int, list[Price]],
    moment: datetime,
    rated: dict[tuple[_State, str, int | None], Decimal] | None = None,
) -> Decimal:
    """The subscription's MRR in the last instant before ``moment`` (0 when not paying then).

    ``rated`` remembers the monthly value of each (plan version, seats, coupon in force) across calls: a
    report values the same few states for thousands of subscriptions and months.
    """
    zero = _zero(sub.currency)
    ended_at = sub.ended_at or (sub.canceled_at if sub.status == SubscriptionStatus.CANCELED else None)
    if sub.started_at >= moment or (ended_at is not None and ended_at < moment):
        return zero
    if sub.trial_end is not None and sub.trial_end >= moment:
        return zero
    state = _state_at(changes, moment)
    if state is None:
        return zero
    version_prices = prices.get(state.plan_version_id, [])
    if not version_prices:
        return zero
    version = version_prices[0].plan_version
    months = _months_per_period(version.interval, version.interval_count)
    if not months:
        return zero  # daily and weekly plans do not occur in the catalog; they would need their own rule
    coupon = sub.coupon
    applies = (
        coupon is not None
        and coupon.duration != CouponDuration.ONCE
        and (
            coupon.duration == CouponDuration.FOREVER
            or moment
            <= add_interval(
                sub.coupon_redeemed_at or sub.started_at, Interval.MONTH, coupon.duration_in_months or 0
            )
        )
    )
    rated = {} if rated is None else rated
    key = (state, sub.currency, coupon.pk if coupon is not None and applies else None)
    monthly = rated.get(key)
    if monthly is None:
        period_value = _period_value(state, version_prices, sub.currency)
        if coupon is not None and applies and period_value > 0:
            period_value += discount_amount(
                coupon=coupon_spec(coupon), eligible=period_value, currency=sub.currency
            )
        # yearly / 12, quarterly / 3: the monthly value rounded once (the money rule)
        monthly = rated[key] = round_amount(prorate(period_value, Fraction(1, months)), sub.currency)
    return monthly


SUBSCRIPTION_FIELDS = (
    "id",
    "customer_id",
    "currency",
    "status",
    "started_at",
    "trial_end",
    "canceled_at",
    "ended_at",
    "coupon_redeemed_at",
    "coupon",
)


def _load(
    currency: str, until: datetime
) -> tuple[list[Subscription], dict[int, list[SubscriptionChange]], dict[int, list[Price]]]:
    subs = list(
        Subscription.objects.filter(currency=currency, started_at__lt=until)
        .select_related("coupon")
        .only(*SUBSCRIPTION_FIELDS)  # a report reads thousands: only what the MRR rule looks at
        .order_by("id")
    )
    changes: dict[int, list[SubscriptionChange]] = defaultdict(list)
    for change in (
        SubscriptionChange.objects.filter(
            subscription__in=[s.pk for s in subs], applied=True, effective_at__lt=until
        )
        .only("subscription_id", "effective_at", "new_plan_version_id", "new_quantity")
        .order_by("effective_at", "id")
    ):
        changes[change.subscription_id].append(change)
    versions = {c.new_plan_version_id for rows in changes.values() for c in rows if c.new_plan_version_id}
    prices: dict[int, list[Price]] = defaultdict(list)
    for price in (
        Price.objects.filter(plan_version_id__in=versions)
        .select_related("plan_version")
        .prefetch_related(Prefetch("tiers"))
        .order_by("plan_version_id", "position", "id")
    ):
        prices[price.plan_version_id].append(price)
    return subs, changes, prices


def customer_mrr_at(
    subs: list[Subscription],
    changes: dict[int, list[SubscriptionChange]],
    prices: dict[int, list[Price]],
    moment: datetime,
    rated: dict[tuple[_State, str, int | None], Decimal] | None = None,
) -> dict[int, Decimal]:
    out: dict[int, Decimal] = defaultdict(Decimal)
    rated = {} if rated is None else rated
    for sub in subs:
        value = subscription_mrr(sub, changes.get(sub.pk, []), prices, moment, rated)
        if value:
            out[sub.customer_id] += value
    return dict(out)


def mrr_report(*, currency: str, months: list[Month]) -> list[MrrMonth]:
    """MRR at the end of each month with the movements from the month before."""
    first = months[0]
    subs, changes, prices = _load(currency, months[-1].end)
    rated: dict[tuple[_State, str, int | None], Decimal] = {}
    # every customer that ever paid before the first month: a return is a reactivation, not new
    paid_before: set[int] = set()
    history = first.previous()
    probe = Month.of(min((s.started_at for s in subs), default=first.start))
    while probe <= history:
        paid_before |= set(customer_mrr_at(subs, changes, prices, probe.end, rated))
        probe = probe.next()
    previous = customer_mrr_at(subs, changes, prices, first.start, rated)
    out: list[MrrMonth] = []
    zero = round_amount(Decimal(0), currency)
    for month in months:
        current = customer_mrr_at(subs, changes, prices, month.end, rated)
        sums = dict.fromkeys(MOVEMENTS, zero)
        movers: dict[int, tuple[str, Decimal]] = {}
        for customer in sorted(set(previous) | set(current)):
            before, after = previous.get(customer, zero), current.get(customer, zero)
            if before == after:
                continue
            if not before:
                kind = "reactivation" if customer in paid_before else "new"
            elif not after:
                kind = "churn"
            else:
                kind = "expansion" if after > before else "contraction"
            amount = abs(after - before)
            sums[kind] += amount
            movers[customer] = (kind, amount)
        paid_before |= set(current)
        out.append(
            MrrMonth(month=month, mrr=sum(current.values(), zero), movers=movers, by_customer=current, **sums)
        )
        previous = current
    return out
