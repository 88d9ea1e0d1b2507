"""Rating: a subscription's period becomes invoice lines (through the pure engine in billing.pricing).

Fixed fees in advance for the coming period, usage in arrears for the ended one (one line per usage
price with the period's quantity), pending prorations and one-off charges, late-usage adjustments, and a
coupon's discount line over the lines it covers, rounded once and split over them for their tax.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from billing.models import BillingTiming, Coupon, PendingLine, Price, Subscription
from billing.pricing import (
    CouponDuration,
    CouponSpec,
    Period,
    TierSlice,
    coupon_applies,
    discount_amount,
    discount_shares,
    plain_amount,
    rate_price,
)
from billing.services.catalog import price_spec
from billing.services.subscription_charges import fee_lines
from billing.services.usage import UsageQuery
from invoicing.models import LineKind
from invoicing.services.drafts import LineDraft


def slices_detail(slices: Sequence[TierSlice]) -> list[dict[str, str]]:
    return [
        {
            "tier": str(s.tier_index + 1),
            "first_unit": f"{s.first_unit.normalize():f}",
            "last_unit": f"{s.last_unit.normalize():f}",
            "quantity": f"{s.quantity.normalize():f}",
            "unit_amount": f"{s.unit_amount.normalize():f}",
            "flat_amount": f"{s.flat_amount.normalize():f}",
            "amount": f"{s.amount.normalize():f}",
        }
        for s in slices
    ]


def usage_prices(prices: Iterable[Price]) -> list[Price]:
    return [p for p in prices if p.metric_id is not None]


def usage_queries(*, customer_id: int, prices: Iterable[Price], period: Period) -> list[UsageQuery]:
    return [
        UsageQuery(customer_id=customer_id, metric_id=p.metric_id, start=period.start, end=period.end)  # type: ignore[arg-type]
        for p in usage_prices(prices)
    ]


def usage_line(
    *, price: Price, quantity: Decimal, currency: str, period: Period, sub_id: int, plan_name: str
) -> LineDraft:
    """One usage price rated on the period's quantity: one line, tiers as detail, rounded once."""
    assert price.metric is not None
    label = price.description or f"{plan_name} — {price.metric.name}"
    rated = rate_price(
        spec=price_spec(price),
        quantity=quantity,
        currency=currency,
        description=label,
        kind=LineKind.USAGE,
        period=period,
    )
    return LineDraft(
        kind=LineKind.USAGE,
        description=rated.description,
        amount=rated.amount,
        quantity=rated.quantity,
        unit_amount=rated.unit_amount,
        period_start=period.start,
        period_end=period.end,
        subscription_id=sub_id,
        price_id=price.pk,
        detail={
            "quantity": f"{rated.quantity.normalize():f}",
            "metric": price.metric.code,
            "slices": slices_detail(rated.slices),
        },
    )


def arrears_lines(
    *,
    prices: list[Price],
    plan_name: str,
    seats: Decimal,
    currency: str,
    period: Period,
    sub_id: int,
    customer_id: int,
    usage: dict[UsageQuery, Decimal],
) -> list[LineDraft]:
    """What the ended ``period`` owes in arrears: usage prices and fixed in-arrears fees."""
    lines = [
        usage_line(
            price=p,
            quantity=usage.get(
                UsageQuery(
                    customer_id=customer_id, metric_id=p.metric_id or 0, start=period.start, end=period.end
                ),
                Decimal(0),
            ),
            currency=currency,
            period=period,
            sub_id=sub_id,
            plan_name=plan_name,
        )
        for p in usage_prices(prices)
    ]
    for price, rated in fee_lines(
        prices=prices,
        plan_name=plan_name,
        seats=seats,
        currency=currency,
        period=period,
        timing=BillingTiming.IN_ARREARS,
    ):
        lines.append(fee_draft(price, rated, period, sub_id))
    return lines


def fee_draft(price: Price, rated: Any, period: Period, sub_id: int) -> LineDraft:
    return LineDraft(
        kind=LineKind.SUBSCRIPTION,
        description=rated.description,
        amount=rated.amount,
        quantity=rated.quantity,
        unit_amount=rated.unit_amount,
        period_start=period.start,
        period_end=period.end,
        subscription_id=sub_id,
        price_id=price.pk,
        detail={"slices": slices_detail(rated.slices)} if rated.slices else {},
    )


def advance_lines(
    *,
    prices: list[Price],
    plan_name: str,
    seats: Decimal,
    currency: str,
    period: Period,
    fraction: Fraction,
    sub_id: int,
) -> list[LineDraft]:
    """In-advance fixed fees for ``period`` (a partial calendar period is prorated by ``fraction``)."""
    return [
        fee_draft(price, rated, period, sub_id)
        for price, rated in fee_lines(
            prices=prices,
            plan_name=plan_name,
            seats=seats,
            currency=currency,
            period=period,
            fraction=fraction,
        )
    ]


def pending_drafts(pending: Iterable[PendingLine]) -> list[LineDraft]:
    return [
        LineDraft(
            kind=LineKind.PRORATION if p.kind == "proration" else LineKind.ONE_OFF,
            description=p.description,
            amount=p.amount,
            quantity=p.quantity,
            unit_amount=p.unit_amount,
            period_start=p.period_start,
            period_end=p.period_end,
            subscription_id=p.subscription_id,
            pending_line_id=p.pk,
        )
        for p in pending
    ]


def coupon_spec(coupon: Coupon) -> CouponSpec:
    return CouponSpec(
        percent_off=coupon.percent_off,
        amount_off=coupon.amount_off,
        duration=CouponDuration(coupon.duration),
        duration_in_months=coupon.duration_in_months,
    )


DISCOUNTABLE = (LineKind.SUBSCRIPTION, LineKind.USAGE, LineKind.PRORATION)


def with_discount(
    *,
    sub: Subscription,
    coupon: Coupon | None,
    lines: list[LineDraft],
    currency: str,
    once_used: bool = False,
    credits_for_period: datetime | None = None,
) -> tuple[list[LineDraft], LineDraft | None]:
    """``lines`` with the coupon applied, and its one discount line (None when it covers nothing).

    The discount line is rounded once and appended; the lines it covers are replaced by copies carrying
    their share of it (``LineDraft.discount_share``, split by ``billing.pricing.discount_shares``) so
    each line's tax is computed on its amount after the discount, and the discount line carries no tax
    of its own (DESIGN.md's invoice arithmetic).

    Charges: a ``once`` coupon covers every line of the first invoice that bills the subscription (after
    any trial) and no other (``once_used``: a discount line exists already); ``repeating`` / ``forever``
    cover lines whose service period starts inside the coupon's months, counted from the redemption.
    Credits for unused time (a percent coupon only): covered when the period they credit was, so a
    refund never exceeds what was paid; ``credits_for_period`` is that period's start.
    """
    if coupon is None:
        return lines, None
    spec = coupon_spec(coupon)
    redeemed = sub.coupon_redeemed_at or sub.started_at
    first_paid = sub.trial_end or sub.started_at
    once = spec.duration is CouponDuration.ONCE

    def period_covered(start: datetime) -> bool:
        if once:
            return start == first_paid
        return coupon_applies(
            coupon=spec, redeemed_at=redeemed, period_start=start, first_period_start=first_paid
        )

    mine = [
        index
        for index, line in enumerate(lines)
        if line.subscription_id == sub.pk
        and line.kind in DISCOUNTABLE
        and line.period_start is not None
        and not line.tax_in_covered_lines
    ]
    covered = [
        i
        for i in mine
        if lines[i].amount > 0 and ((not once_used) if once else period_covered(lines[i].period_start))  # type: ignore[arg-type]
    ]
    if spec.percent_off is not None:
        covered += [
            i
            for i in mine
            if lines[i].amount < 0 and period_covered(credits_for_period or lines[i].period_start)  # type: ignore[arg-type]
        ]
    if not covered:
        return lines, None
    covered.sort()
    charges = sum((lines[i].amount for i in covered if lines[i].amount > 0), Decimal(0))
    credits = sum((-lines[i].amount for i in covered if lines[i].amount < 0), Decimal(0))
    on_charges = discount_amount(coupon=spec, eligible=charges, currency=currency)
    on_credits = Decimal(0)
    if credits and spec.percent_off is not None:
        on_credits = discount_amount(coupon=spec, eligible=credits, currency=currency)
    amount = on_charges - on_credits
    if not amount:
        return lines, None
    shares = discount_shares(
        on_charges=on_charges,
        on_credits=on_credits,
        amounts=[lines[i].amount for i in covered],
        currency=currency,
    )
    out = list(lines)
    for index, share in zip(covered, shares, strict=True):
        out[index] = replace(lines[index], discount_share=lines[index].discount_share + share)
    off = (
        f"{spec.percent_off.normalize():f}% off"
        if spec.percent_off is not None
        else f"{plain_amount(coupon.amount_off or Decimal(0), currency)} {currency} off"
    )
    # more credit than charge covered (a cancellation): the coupon takes back its share of the credit,
    # a positive line that belongs with the proration it corrects, not a (never positive) discount
    credit_share = amount > 0
    covered_lines = [lines[i] for i in covered]
    discount = LineDraft(
        kind=LineKind.PRORATION if credit_share else LineKind.DISCOUNT,
        description=f"Coupon {coupon.code} ({off}) on the credit for unused time"
        if credit_share
        else f"Coupon {coupon.code} ({off})",
        amount=amount,
        quantity=Decimal(1),
        unit_amount=None,
        period_start=min(line.period_start for line in covered_lines if line.period_start),
        period_end=max(line.period_end for line in covered_lines if line.period_end),
        subscription_id=sub.pk,
        detail={"coupon": coupon.code, "eligible": str(charges - credits)},
        tax_in_covered_lines=True,
    )
    out.append(discount)
    return out, discount


def adjustment_line(
    *,
    price: Price,
    billed_quantity: Decimal,
    billed_amount: Decimal,
    quantity_now: Decimal,
    currency: str,
    period_start: datetime,
    period_end: datetime,
    sub_id: int,
    plan_name: str,
) -> LineDraft | None:
    """Late usage for a period already invoiced: the difference between its rating now and what was billed."""
    if quantity_now == billed_quantity:
        return None
    period = Period(period_start, period_end)
    now = usage_line(
        price=price,
        quantity=quantity_now,
        currency=currency,
        period=period,
        sub_id=sub_id,
        plan_name=plan_name,
    )
    delta = now.amount - billed_amount
    return LineDraft(
        kind=LineKind.ADJUSTMENT,
        description=f"Late usage: {now.description}",
        amount=delta,
        quantity=quantity_now - billed_quantity,
        unit_amount=None,
        period_start=period_start,
        period_end=period_end,
        subscription_id=sub_id,
        price_id=price.pk,
        detail={
            "quantity_delta": f"{(quantity_now - billed_quantity).normalize():f}",
            "billed_quantity": f"{billed_quantity.normalize():f}",
            "quantity": f"{quantity_now.normalize():f}",
            "metric": price.metric.code if price.metric else "",
        },
    )
