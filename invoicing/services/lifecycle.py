"""Subscription lifecycle across both apps, each in one transaction: subscribe and bill the first fees,
change or cancel in the current period (or schedule it for later), and invoice prorations at once when asked.
The API and the admin call these; billing.services.subscriptions does the subscription side.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from django.db import transaction
from django.db.models import Q

from accounts.models import Customer
from billing.models import BillingTiming, PendingLine, PlanVersion, Subscription, SubscriptionStatus
from billing.pricing import Period, proration_fraction
from billing.services import subscriptions as subs_service
from billing.services.charges import one_off_charge_create
from billing.services.entitlements import entitlements_invalidate
from billing.services.scheduled_changes import (
    is_after_current_period,
    scheduled_cancel_create,
    scheduled_change_create,
    scheduled_changes_drop_for_cancel,
)
from billing.services.subscription_periods import full_period_fraction
from billing.services.subscriptions import (
    LIVE_STATUSES,
    PERIOD_END,
    lock_subscription,
    prices_of,
    schedule_of,
)
from billing.services.usage import usage_quantities
from invoicing.models import BilledPeriod, Invoice
from invoicing.services import rating
from invoicing.services.drafts import LineDraft
from invoicing.services.subscription_billing import (
    BillResult,
    InvoicePlan,
    group_key_for,
    subscriptions_discounted,
    write_invoice_plans,
)


def _forget_entitlements(customer_id: int) -> None:
    """The customer's plans changed: drop this process's cached entitlement profile after commit."""
    transaction.on_commit(lambda: entitlements_invalidate(customer_id=customer_id))


def _lock(sub_id: int) -> Subscription:
    return lock_subscription(sub_id)


def _bill_once(
    *,
    sub: Subscription,
    at: datetime,
    reason: str,
    lines: list[LineDraft],
    group_key: str,
    credits_for_period: datetime | None = None,
) -> Invoice | None:
    """Put ``lines`` on the customer's draft for ``at`` with a BilledPeriod for ``reason`` (once)."""
    if BilledPeriod.objects.filter(
        subscription=sub, period_start=sub.current_period_start, reason=reason
    ).exists():
        return None
    if not lines:
        return None
    lines, _ = rating.with_discount(
        sub=sub,
        coupon=sub.coupon,
        lines=lines,
        currency=sub.currency,
        once_used=bool(sub.coupon_id and subscriptions_discounted([sub.pk])),
        credits_for_period=credits_for_period,
    )
    plan = InvoicePlan(
        customer_id=sub.customer_id,
        billing_date=at,
        group_key=group_key,
        subscription_id=sub.pk if group_key else None,
        tax_rate=Decimal(sub.customer.tax_rate_percent),
        currency=sub.currency,
        net_terms_days=sub.customer.net_terms_days,
        lines=lines,
        records=[(sub.pk, sub.current_period_start, sub.current_period_end, reason)],
    )
    drafts = write_invoice_plans(plans=[plan], run=None, result=BillResult())
    invoice = drafts[(sub.customer_id, at, group_key)]
    invoice.refresh_from_db()  # its totals were recomputed in bulk
    return invoice


def bill_initial(*, sub: Subscription) -> Invoice | None:
    """The first in-advance fees of a new subscription (prorated to the calendar boundary); none in a trial."""
    if sub.status == SubscriptionStatus.TRIALING:
        return None
    period = Period(sub.current_period_start, sub.current_period_end)
    lines = rating.advance_lines(
        prices=prices_of(sub.plan_version),
        plan_name=sub.plan_version.name,
        seats=sub.quantity,
        currency=sub.currency,
        period=period,
        fraction=full_period_fraction(schedule_of(sub), period),
        sub_id=sub.pk,
    )
    return _bill_once(
        sub=sub, at=sub.current_period_start, reason="initial", lines=lines, group_key=group_key_for(sub)
    )


def subscribe(
    *,
    customer: Customer,
    plan_code: str,
    start: datetime,
    quantity: Decimal = Decimal(1),
    coupon_code: str | None = None,
    trial_days: int | None = None,
    user: Any = None,
) -> tuple[Subscription, Invoice | None]:
    """Create a subscription and invoice its first in-advance fees at once (as Stripe does)."""
    with transaction.atomic():
        sub = subs_service.subscription_create(
            customer=customer,
            plan_code=plan_code,
            start=start,
            quantity=quantity,
            coupon_code=coupon_code,
            trial_days=trial_days,
            user=user,
        )
        sub = _lock(sub.pk)
        invoice = bill_initial(sub=sub)
        _forget_entitlements(sub.customer_id)
    return sub, invoice


def _invoice_pending_now(
    *,
    sub: Subscription,
    at: datetime,
    reason: str,
    extra: list[LineDraft],
    final: bool = False,
    credits_for_period: datetime | None = None,
) -> Invoice | None:
    """Invoice the subscription's pending lines marked ``invoice_now`` at ``at``.

    ``final`` (a cancellation): every pending line of the subscription goes on it, and so do the
    customer's one-off charges when no other subscription is left to carry them.
    """
    wanted = Q(subscription=sub) if final else Q(subscription=sub, invoice_now=True)
    others = Subscription.objects.filter(customer_id=sub.customer_id, status__in=LIVE_STATUSES).exclude(
        pk=sub.pk
    )
    if final and not others.exists():
        wanted |= Q(customer_id=sub.customer_id, subscription__isnull=True)
    pending = list(
        PendingLine.objects.select_for_update().filter(wanted, invoiced_at__isnull=True).order_by("id")
    )
    lines = rating.pending_drafts(pending) + extra
    invoice = _bill_once(
        sub=sub,
        at=at,
        reason=reason,
        lines=lines,
        group_key=f"{reason}:{sub.pk}",
        credits_for_period=credits_for_period,
    )
    if pending and invoice is not None:
        PendingLine.objects.filter(pk__in=[p.pk for p in pending]).update(invoiced_at=at)
    return invoice


def change(
    *,
    subscription_id: int,
    at: datetime | Literal["period_end"],
    proration: str,
    plan_code: str | None = None,
    quantity: Decimal | None = None,
    user: Any = None,
) -> tuple[Subscription, Invoice | None]:
    """Change plan or seats; ``always_invoice`` puts the prorations on an invoice now.

    ``at`` after the current period is scheduled: nothing is billed now; the billing run that reaches it
    applies it (invoicing.services.scheduled_changes), so no period is billed before a run bills it.
    """
    asked: dict[str, Any] = {
        "subscription_id": subscription_id,
        "proration": proration,
        "plan_code": plan_code,
        "quantity": quantity,
        "user": user,
    }
    with transaction.atomic():
        if at != PERIOD_END and is_after_current_period(_lock(subscription_id), at):
            assert isinstance(at, datetime)
            scheduled_change_create(at=at, **asked)
            return _lock(subscription_id), None
        return change_now(at=at, **asked)


def change_now(
    *,
    subscription_id: int,
    at: datetime | Literal["period_end"],
    proration: str,
    plan_code: str | None = None,
    quantity: Decimal | None = None,
    plan_version: PlanVersion | None = None,
    user: Any = None,
) -> tuple[Subscription, Invoice | None]:
    """Change at ``at`` in the current period (or at its end); call inside ``transaction.atomic``."""
    period_start = _lock(subscription_id).current_period_start  # the period its credits are for
    sub, change_row = subs_service.subscription_change(
        subscription_id=subscription_id,
        at=at,
        proration=proration,
        plan_code=plan_code,
        quantity=quantity,
        plan_version=plan_version,
        user=user,
    )
    invoice = None
    if PendingLine.objects.filter(change=change_row, invoice_now=True, invoiced_at__isnull=True).exists():
        sub = _lock(sub.pk)
        invoice = _invoice_pending_now(
            sub=sub,
            at=change_row.effective_at,
            reason=f"change-{change_row.pk}",
            extra=[],
            credits_for_period=period_start if at != PERIOD_END else None,
        )
    _forget_entitlements(sub.customer_id)
    return sub, invoice


def cancel(
    *, subscription_id: int, at: datetime | Literal["period_end"], user: Any = None
) -> tuple[Subscription, Invoice | None]:
    """Cancel at period end, or at ``at`` with a final invoice: usage up to ``at`` and the unused fees credited.

    ``at`` after the current period is scheduled and applied by the billing run that reaches it. Any
    cancel drops the change scheduled for the subscription.
    """
    with transaction.atomic():
        if at == PERIOD_END:
            _lock(subscription_id)
            scheduled_changes_drop_for_cancel(subscription_id=subscription_id)
            sub, _ = subs_service.subscription_cancel(subscription_id=subscription_id, at=at, user=user)
            return sub, None
        assert isinstance(at, datetime)
        if is_after_current_period(_lock(subscription_id), at):
            scheduled_cancel_create(subscription_id=subscription_id, at=at, user=user)
            return _lock(subscription_id), None
        return cancel_now(subscription_id=subscription_id, at=at, user=user)


def cancel_now(
    *, subscription_id: int, at: datetime, user: Any = None
) -> tuple[Subscription, Invoice | None]:
    """Cancel at ``at`` in the current period with a final invoice; call inside ``transaction.atomic``."""
    before = _lock(subscription_id)
    period = Period(before.current_period_start, before.current_period_end)
    was_trial = before.status == SubscriptionStatus.TRIALING
    sub, _ = subs_service.subscription_cancel(subscription_id=subscription_id, at=at, user=user)
    scheduled_changes_drop_for_cancel(subscription_id=subscription_id)
    sub = _lock(sub.pk)
    extra: list[LineDraft] = []
    if not was_trial and at > period.start:
        used = Period(period.start, at)
        prices = prices_of(sub.plan_version)
        usage = usage_quantities(
            queries=rating.usage_queries(customer_id=sub.customer_id, prices=prices, period=used)
        )
        extra = rating.arrears_lines(
            prices=[p for p in prices if p.metric_id is not None],
            plan_name=sub.plan_version.name,
            seats=sub.quantity,
            currency=sub.currency,
            period=used,
            sub_id=sub.pk,
            customer_id=sub.customer_id,
            usage=usage,
        )
        arrears_fees = [p for p in prices if p.metric_id is None and p.billing == BillingTiming.IN_ARREARS]
        if arrears_fees:
            fraction = proration_fraction(period.start, period.end, period.start, at)
            for price, rated in rating.fee_lines(
                prices=arrears_fees,
                plan_name=sub.plan_version.name,
                seats=sub.quantity,
                currency=sub.currency,
                period=used,
                fraction=fraction,
                timing=BillingTiming.IN_ARREARS,
            ):
                extra.append(rating.fee_draft(price, rated, used, sub.pk))
    invoice = _invoice_pending_now(
        sub=sub, at=at, reason="cancel", extra=extra, final=True, credits_for_period=period.start
    )
    _forget_entitlements(sub.customer_id)
    return sub, invoice


def charge(
    *,
    customer: Customer,
    description: str,
    unit_amount: Decimal,
    quantity: Decimal = Decimal(1),
    invoice_now: bool = False,
    at: datetime | None = None,
    user: Any = None,
) -> tuple[PendingLine, Invoice | None]:
    """A one-off charge: on the customer's next invoice, or on its own invoice at ``at`` now."""
    with transaction.atomic():
        line = one_off_charge_create(
            customer=customer,
            description=description,
            unit_amount=unit_amount,
            quantity=quantity,
            invoice_now=invoice_now,
            at=at,
            user=user,
        )
        if not invoice_now:
            return line, None
        assert at is not None
        plan = InvoicePlan(
            customer_id=customer.pk,
            billing_date=at,
            group_key=f"one-off:{line.pk}",
            subscription_id=None,
            tax_rate=Decimal(customer.tax_rate_percent),
            currency=customer.currency,
            net_terms_days=customer.net_terms_days,
            lines=rating.pending_drafts([line]),
        )
        drafts = write_invoice_plans(plans=[plan], run=None, result=BillResult())
        PendingLine.objects.filter(pk=line.pk).update(invoiced_at=at)
    invoice = drafts[(customer.pk, at, plan.group_key)]
    invoice.refresh_from_db()
    return line, invoice
