"""Subscription writes: create, change (plan, seats), cancel; their proration lines are computed in
``subscription_prorations``.

Business time comes from the caller (``start``, ``at``); nothing here reads the clock. Prorations become
``PendingLine`` rows (rounded once) that invoicing puts on the next invoice, or on an invoice at once for
``always_invoice``. ``at`` falls in the current period here: a later one is scheduled
(billing.services.scheduled_changes) and applied here when a billing run reaches it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from django.db import transaction

from accounts.audit import record_bulk_history
from accounts.models import Customer
from billing.models import (
    ChangeKind,
    Coupon,
    PendingLine,
    PlanVersion,
    Price,
    ProrationBehavior,
    Subscription,
    SubscriptionChange,
    SubscriptionItem,
    SubscriptionStatus,
)
from billing.pricing import Period
from billing.services.subscription_charges import prices_of
from billing.services.subscription_periods import Schedule, period_at_index
from billing.services.subscription_prorations import new_interval_pending_lines, proration_pending_lines
from config.errors import Conflict, ErrorCode, FieldError, NotFound, ValidationFailed

LIVE_STATUSES = (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
PERIOD_END: Literal["period_end"] = "period_end"


def newest_version(plan_code: str, *, field: str = "plan") -> PlanVersion:
    version = (
        PlanVersion.objects.select_related("plan").filter(plan__code=plan_code).order_by("-version").first()
    )
    if version is None:
        raise ValidationFailed(f"No plan with code {plan_code!r}.", field=field, code=ErrorCode.NOT_FOUND)
    if not version.plan.is_active:
        raise ValidationFailed(f"Plan {plan_code!r} is no longer sold.", field=field)
    return version


def check_quantity(quantity: Decimal) -> None:
    if quantity < 0:
        raise ValidationFailed(
            "Quantity must not be negative.", field="quantity", code=ErrorCode.NEGATIVE_AMOUNT
        )
    if quantity != quantity.quantize(Decimal("0.000001")):
        raise ValidationFailed("Quantity has more than 6 decimal places.", field="quantity")


def subscription_items_sync(sub: Subscription, prices: list[Price]) -> None:
    """Make ``sub``'s items exactly one per price of ``prices`` (a new plan version, a contract phase):
    items of other prices go, missing ones come, and seat-priced items take the subscription's quantity
    (metered items keep 0: usage prices them)."""
    SubscriptionItem.objects.filter(subscription=sub).exclude(price__in=prices).delete()
    existing = set(SubscriptionItem.objects.filter(subscription=sub).values_list("price_id", flat=True))
    SubscriptionItem.objects.bulk_create(
        SubscriptionItem(subscription=sub, price=p, quantity=sub.quantity if p.metric_id is None else 0)
        for p in prices
        if p.pk not in existing
    )
    SubscriptionItem.objects.filter(subscription=sub, price__metric__isnull=True).update(
        quantity=sub.quantity
    )


def subscription_create(
    *,
    customer: Customer,
    plan_code: str,
    start: datetime,
    quantity: Decimal = Decimal(1),
    coupon_code: str | None = None,
    trial_days: int | None = None,
    user: Any = None,
) -> Subscription:
    """Subscribe ``customer`` to the newest version of a plan from ``start`` (past or future).

    The first period starts at ``start`` (or at the trial's end); calendar billing makes it end on the
    next calendar boundary. Invoicing bills the first in-advance fees (invoicing.services.subscription_invoicing).
    """
    if start.tzinfo is None:
        raise ValidationFailed("start must carry a UTC offset.", field="start")
    version = newest_version(plan_code)
    errors: list[FieldError] = []
    if version.currency != customer.currency:
        errors.append(
            FieldError(
                "plan",
                f"Plan {plan_code!r} is priced in {version.currency}; the customer pays in {customer.currency}.",
                ErrorCode.CURRENCY_MISMATCH,
            )
        )
    coupon = None
    if coupon_code:
        coupon = Coupon.objects.filter(code=coupon_code, is_active=True).first()
        if coupon is None:
            errors.append(
                FieldError("coupon", f"No active coupon with code {coupon_code!r}.", ErrorCode.NOT_FOUND)
            )
        elif coupon.amount_off is not None and coupon.currency != customer.currency:
            errors.append(
                FieldError(
                    "coupon", f"Coupon {coupon_code!r} is in {coupon.currency}.", ErrorCode.CURRENCY_MISMATCH
                )
            )
    if trial_days is not None and trial_days < 0:
        errors.append(FieldError("trial_days", "Must not be negative."))
    if errors:
        raise ValidationFailed(errors[0].message, field=errors[0].field, errors=errors)
    check_quantity(quantity)

    days = version.trial_days if trial_days is None else trial_days
    trial_end = start + timedelta(days=days) if days else None
    schedule = Schedule(
        anchor_kind=customer.billing_anchor,
        anchor_at=trial_end or start,
        timezone=customer.timezone,
        interval=version.interval,
        interval_count=version.interval_count,
    )
    period = Period(start, trial_end) if trial_end else period_at_index(schedule, 0)
    with transaction.atomic():
        sub = Subscription.objects.create(
            customer=customer,
            plan_version=version,
            status=SubscriptionStatus.TRIALING if trial_end else SubscriptionStatus.ACTIVE,
            quantity=quantity,
            currency=customer.currency,
            started_at=start,
            trial_end=trial_end,
            billing_anchor=customer.billing_anchor,
            anchor_at=schedule.anchor_at,
            timezone=customer.timezone,
            period_index=0,
            current_period_start=period.start,
            current_period_end=period.end,
            coupon=coupon,
            coupon_redeemed_at=start if coupon else None,
        )
        subscription_items_sync(sub, prices_of(version))
        SubscriptionChange.objects.create(
            subscription=sub,
            kind=ChangeKind.CREATE,
            effective_at=start,
            new_plan_version=version,
            new_quantity=quantity,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
    return sub


def lock_subscription(subscription_id: int) -> Subscription:
    sub = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("customer", "plan_version", "plan_version__plan", "coupon")
        .filter(pk=subscription_id)
        .first()
    )
    if sub is None:
        raise NotFound(f"No subscription {subscription_id}.", field="id")
    return sub


def subscription_change(
    *,
    subscription_id: int,
    at: datetime | Literal["period_end"],
    proration: str = ProrationBehavior.CREATE_PRORATIONS,
    plan_code: str | None = None,
    quantity: Decimal | None = None,
    user: Any = None,
    plan_version: PlanVersion | None = None,
) -> tuple[Subscription, SubscriptionChange]:
    """Change plan and/or seats at ``at`` (in the current period) or at the period's end.

    ``create_prorations`` and ``always_invoice`` make proration lines (the caller invoices them at once
    for ``always_invoice``); ``none`` makes none. A trial has nothing billed, so nothing is prorated.
    ``plan_version`` (instead of ``plan_code``): a version chosen earlier, for a scheduled change.
    """
    if proration not in ProrationBehavior.values:
        raise ValidationFailed("Must be create_prorations, always_invoice or none.", field="proration")
    if plan_code is None and quantity is None and plan_version is None:
        raise ValidationFailed("Give a new plan, a new quantity, or both.", field="plan")
    if quantity is not None:
        check_quantity(quantity)
    with transaction.atomic():
        sub = lock_subscription(subscription_id)
        if sub.status not in LIVE_STATUSES:
            raise Conflict(
                f"Subscription {sub.pk} is {sub.status}; it cannot change.", code=ErrorCode.INVALID_STATE
            )
        new_version = plan_version or (newest_version(plan_code) if plan_code else sub.plan_version)
        if new_version.currency != sub.currency:
            raise ValidationFailed(
                f"Plan {new_version.plan.code!r} is priced in {new_version.currency}; the subscription is in {sub.currency}.",
                field="plan",
                code=ErrorCode.CURRENCY_MISMATCH,
            )
        new_quantity = quantity if quantity is not None else sub.quantity
        if new_version.pk == sub.plan_version_id and new_quantity == sub.quantity:
            raise ValidationFailed("Nothing to change: same plan version and quantity.", field="plan")
        kind = (
            ChangeKind.PLAN_AND_QUANTITY
            if new_version.pk != sub.plan_version_id and new_quantity != sub.quantity
            else ChangeKind.PLAN
            if new_version.pk != sub.plan_version_id
            else ChangeKind.QUANTITY
        )
        by = user if getattr(user, "is_authenticated", False) else None
        if at == PERIOD_END:
            change = SubscriptionChange.objects.create(
                subscription=sub,
                kind=kind,
                effective_at=sub.current_period_end,
                proration=ProrationBehavior.NONE,
                old_plan_version=sub.plan_version,
                new_plan_version=new_version,
                old_quantity=sub.quantity,
                new_quantity=new_quantity,
                applied=False,
                created_by=by,
            )
            return sub, change
        assert isinstance(at, datetime)
        _check_in_period(sub, at)
        change = SubscriptionChange.objects.create(
            subscription=sub,
            kind=kind,
            effective_at=at,
            proration=proration if sub.status != SubscriptionStatus.TRIALING else ProrationBehavior.NONE,
            old_plan_version=sub.plan_version,
            new_plan_version=new_version,
            old_quantity=sub.quantity,
            new_quantity=new_quantity,
            created_by=by,
        )
        new_interval = (new_version.interval, new_version.interval_count) != (
            sub.plan_version.interval,
            sub.plan_version.interval_count,
        )
        lines: list[PendingLine] = []
        if change.proration != ProrationBehavior.NONE:
            lines = proration_pending_lines(
                sub=sub,
                at=at,
                old_version=sub.plan_version,
                old_quantity=sub.quantity,
                new_version=new_version,
                new_quantity=new_quantity,
                change=change,
                credit_only=new_interval,
            )
            for line in lines:
                # a new interval restarts the period now, so its credit cannot wait for the next boundary
                line.invoice_now = new_interval or change.proration == ProrationBehavior.ALWAYS_INVOICE
        if new_interval and sub.status != SubscriptionStatus.TRIALING:
            lines += new_interval_pending_lines(
                sub=sub, at=at, version=new_version, quantity=new_quantity, change=change
            )
        for line in lines:
            line.created_by = by
        record_bulk_history(PendingLine.objects.bulk_create(lines), update=False)
        sub.plan_version = new_version
        sub.quantity = new_quantity
        sub.save()
        subscription_items_sync(sub, prices_of(new_version))
    return sub, change


def _check_in_period(sub: Subscription, at: datetime) -> None:
    if at.tzinfo is None:
        raise ValidationFailed("at must carry a UTC offset.", field="at")
    if not sub.current_period_start <= at < sub.current_period_end:
        raise ValidationFailed(
            f"at must fall in the current period [{sub.current_period_start.isoformat()}, "
            f'{sub.current_period_end.isoformat()}); use "period_end" for the end of it.',
            field="at",
        )


def subscription_cancel(
    *, subscription_id: int, at: datetime | Literal["period_end"], user: Any = None
) -> tuple[Subscription, list[PendingLine]]:
    """Cancel at the period's end, or at ``at`` with the unused in-advance fees credited.

    Invoicing then puts the usage up to ``at`` and the credit on a final invoice.
    """
    with transaction.atomic():
        sub = lock_subscription(subscription_id)
        if sub.status == SubscriptionStatus.CANCELED:
            raise Conflict(f"Subscription {sub.pk} is canceled already.", code=ErrorCode.INVALID_STATE)
        by = user if getattr(user, "is_authenticated", False) else None
        if at == PERIOD_END:
            if sub.cancel_at_period_end:
                return sub, []
            sub.cancel_at_period_end = True
            sub.cancel_at = sub.current_period_end
            sub.save()
            SubscriptionChange.objects.create(
                subscription=sub,
                kind=ChangeKind.CANCEL,
                effective_at=sub.current_period_end,
                applied=False,
                created_by=by,
            )
            return sub, []
        assert isinstance(at, datetime)
        _check_in_period(sub, at)
        change = SubscriptionChange.objects.create(
            subscription=sub, kind=ChangeKind.CANCEL, effective_at=at, created_by=by
        )
        lines: list[PendingLine] = []
        if sub.status != SubscriptionStatus.TRIALING:
            # the period's in-advance fees were billed: credit the unused part
            lines = proration_pending_lines(
                sub=sub,
                at=at,
                old_version=sub.plan_version,
                old_quantity=sub.quantity,
                new_version=sub.plan_version,
                new_quantity=sub.quantity,
                change=change,
                credit_only=True,
            )
        for line in lines:
            line.invoice_now = True
            line.created_by = by
        record_bulk_history(PendingLine.objects.bulk_create(lines), update=False)
        sub.status = SubscriptionStatus.CANCELED
        sub.canceled_at = at
        sub.ended_at = at
        sub.cancel_at = at
        sub.save()
    return sub, lines
