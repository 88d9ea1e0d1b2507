"""Subscription invoicing: each subscription operation with what it bills, in one transaction.

Create and bill the first fees, change or cancel in the current period (or schedule it for later), put a
one-off charge on the next invoice or on its own invoice now, and invoice prorations at once when asked.
The API, the admin and the demo call these; billing's services of the same names
(``billing.services.subscriptions``, ``charges``) do the subscription side, and the invoices are written
by the one draft writer (``drafts.write_invoice_plans``).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from django.db import transaction

from accounts.models import Customer
from billing.models import BillingTiming, PendingLine, PlanVersion, Subscription, SubscriptionStatus
from billing.pricing import Period, proration_fraction
from billing.services import charges as billing_charges
from billing.services import subscriptions as billing_subscriptions
from billing.services.entitlements import entitlements_invalidate
from billing.services.pending_lines import (
    pending_lines_invoice_now_exist,
    pending_lines_lock_for_invoice_now,
    pending_lines_mark_invoiced,
)
from billing.services.scheduled_changes import (
    is_after_current_period,
    scheduled_cancel_create,
    scheduled_change_create,
    scheduled_changes_drop_for_cancel,
)
from billing.services.subscription_charges import prices_of
from billing.services.subscription_periods import full_period_fraction, schedule_of
from billing.services.subscription_status import subscription_cancel_at_period_end
from billing.services.subscriptions import PERIOD_END, lock_subscription
from billing.services.usage import usage_quantities
from invoicing.models import BilledPeriod, Invoice
from invoicing.selectors import subscriptions_discounted
from invoicing.services import line_drafts
from invoicing.services.drafts import InvoicePlan, LineDraft, write_invoice_plans
from invoicing.services.subscription_billing import group_key_for


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
    lines, _ = line_drafts.with_discount(
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
    invoice = write_invoice_plans(plans=[plan], run=None).of(plan)
    invoice.refresh_from_db()  # its totals were recomputed in bulk
    return invoice


def subscription_initial_bill(*, sub: Subscription) -> Invoice | None:
    """The first in-advance fees of a new subscription (prorated to the calendar boundary); none in a trial."""
    if sub.status == SubscriptionStatus.TRIALING:
        return None
    period = Period(sub.current_period_start, sub.current_period_end)
    lines = line_drafts.advance_lines(
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


def subscription_create(
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
        sub = billing_subscriptions.subscription_create(
            customer=customer,
            plan_code=plan_code,
            start=start,
            quantity=quantity,
            coupon_code=coupon_code,
            trial_days=trial_days,
            user=user,
        )
        sub = _lock(sub.pk)
        invoice = subscription_initial_bill(sub=sub)
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
    pending = pending_lines_lock_for_invoice_now(subscription=sub, final=final)
    lines = line_drafts.pending_drafts(pending) + extra
    invoice = _bill_once(
        sub=sub,
        at=at,
        reason=reason,
        lines=lines,
        group_key=f"{reason}:{sub.pk}",
        credits_for_period=credits_for_period,
    )
    if invoice is not None:
        pending_lines_mark_invoiced(pending_line_ids=[p.pk for p in pending], at=at)
    return invoice


def subscription_change(
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
        return subscription_change_now(at=at, **asked)


def subscription_change_now(
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
    sub, change_row = billing_subscriptions.subscription_change(
        subscription_id=subscription_id,
        at=at,
        proration=proration,
        plan_code=plan_code,
        quantity=quantity,
        plan_version=plan_version,
        user=user,
    )
    invoice = None
    if pending_lines_invoice_now_exist(change=change_row):
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


def subscription_cancel(
    *, subscription_id: int, at: datetime | Literal["period_end"], user: Any = None
) -> tuple[Subscription, Invoice | None]:
    """Cancel at period end, or at ``at`` with a final invoice: usage up to ``at`` and the unused fees credited.

    ``at`` after the current period is scheduled and applied by the billing run that reaches it. Any
    cancel drops the change scheduled for the subscription.
    """
    with transaction.atomic():
        if at == PERIOD_END:
            return subscription_cancel_at_period_end(subscription_id=subscription_id, user=user), None
        assert isinstance(at, datetime)
        if is_after_current_period(_lock(subscription_id), at):
            scheduled_cancel_create(subscription_id=subscription_id, at=at, user=user)
            return _lock(subscription_id), None
        return subscription_cancel_now(subscription_id=subscription_id, at=at, user=user)


def subscription_cancel_now(
    *, subscription_id: int, at: datetime, user: Any = None
) -> tuple[Subscription, Invoice | None]:
    """Cancel at ``at`` in the current period with a final invoice; call inside ``transaction.atomic``."""
    before = _lock(subscription_id)
    period = Period(before.current_period_start, before.current_period_end)
    was_trial = before.status == SubscriptionStatus.TRIALING
    sub, _ = billing_subscriptions.subscription_cancel(subscription_id=subscription_id, at=at, user=user)
    scheduled_changes_drop_for_cancel(subscription_id=subscription_id)
    sub = _lock(sub.pk)
    extra: list[LineDraft] = []
    if not was_trial and at > period.start:
        used = Period(period.start, at)
        prices = prices_of(sub.plan_version)
        usage = usage_quantities(
            queries=line_drafts.usage_queries(customer_id=sub.customer_id, prices=prices, period=used)
        )
        extra = line_drafts.arrears_lines(
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
            for price, rated in line_drafts.fee_lines(
                prices=arrears_fees,
                plan_name=sub.plan_version.name,
                seats=sub.quantity,
                currency=sub.currency,
                period=used,
                fraction=fraction,
                timing=BillingTiming.IN_ARREARS,
            ):
                extra.append(line_drafts.fee_draft(price, rated, used, sub.pk))
    invoice = _invoice_pending_now(
        sub=sub, at=at, reason="cancel", extra=extra, final=True, credits_for_period=period.start
    )
    _forget_entitlements(sub.customer_id)
    return sub, invoice


def one_off_charge_create(
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
        line = billing_charges.one_off_charge_create(
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
            lines=line_drafts.pending_drafts([line]),
        )
        invoice = write_invoice_plans(plans=[plan], run=None).of(plan)
        pending_lines_mark_invoiced(pending_line_ids=[line.pk], at=at)
    invoice.refresh_from_db()
    return line, invoice
