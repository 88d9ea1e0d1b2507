"""Edge cases found in review: each once billed wrong (or not at all, or twice) and is pinned here."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from accounts.models import Customer
from accounts.services.customers import customer_create
from billing.models import PendingLine
from billing.services.catalog import PlanDraft, PriceDraft, coupon_create, metric_create, plan_create
from billing.services.usage_ingest import usage_events_ingest
from billing.services.usage_schema import EventIn
from invoicing.models import Invoice
from invoicing.services import subscription_invoicing
from invoicing.services.billing_runs import billing_run_create, billing_run_execute
from invoicing.services.finalization import invoice_finalize
from invoicing.services.preview import upcoming_invoice

pytestmark = pytest.mark.django_db


def t(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


def D(value: str) -> Decimal:
    return Decimal(value)


def customer(**extra: Any) -> Customer:
    return customer_create(external_id="c1", name="C1", currency="USD", email="c1@x.example", **extra)


def flat_plan(code: str, amount: str, interval: str = "month") -> None:
    plan_create(
        draft=PlanDraft(
            code=code,
            name=code,
            currency="USD",
            interval=interval,
            prices=(PriceDraft(code="fee", model="flat", amount=D(amount)),),
        )
    )


def usage_plan() -> None:
    metric_create(code="req", name="Requests", aggregation="count")
    plan_create(
        draft=PlanDraft(
            code="api",
            name="api",
            currency="USD",
            prices=(
                PriceDraft(code="fee", model="flat", amount=D("60.00")),
                PriceDraft(
                    code="req", model="per_unit", billing="in_arrears", metric="req", unit_amount=D("1.00")
                ),
            ),
        )
    )


def events(n: int, at: datetime, prefix: str, now: datetime | None = None) -> None:
    usage_events_ingest(
        events=[
            EventIn(event_id=f"{prefix}{i}", customer="c1", metric="req", timestamp=at) for i in range(n)
        ],
        now=now or at,
    )


def run(as_of: datetime) -> None:
    billing_run_execute(run_id=billing_run_create(as_of=as_of).pk)


def all_lines(c: Customer) -> list[tuple[str, Decimal, str]]:
    return [
        (line.kind, line.amount, line.description)
        for invoice in Invoice.objects.filter(customer=c).order_by("billing_date", "id")
        for line in invoice.lines.order_by("position")
    ]


def test_changing_monthly_to_yearly_mid_period_starts_a_year_now_and_credits_the_month() -> None:
    c = customer()
    flat_plan("monthly", "10.00")
    flat_plan("yearly", "120.00", interval="year")
    sub, _ = subscription_invoicing.subscription_create(customer=c, plan_code="monthly", start=t(2026, 1, 1))
    sub, invoice = subscription_invoicing.subscription_change(
        subscription_id=sub.pk, at=t(2026, 1, 16), proration="create_prorations", plan_code="yearly"
    )
    assert (sub.current_period_start, sub.current_period_end) == (t(2026, 1, 16), t(2027, 1, 16))
    assert invoice is not None
    assert sorted(line.amount for line in invoice.lines.all()) == [D("-5.16"), D("120.00")]  # 10 x 16/31 back
    run(t(2027, 1, 16))
    assert [a for k, a, _ in all_lines(c) if k == "subscription"] == [D("10.00"), D("120.00")]


def test_cancel_after_a_create_prorations_upgrade_bills_the_upgrade() -> None:
    c = customer()
    plan_create(
        draft=PlanDraft(
            code="seats",
            name="Seats",
            currency="USD",
            prices=(PriceDraft(code="seat", model="per_unit", unit_amount=D("18.00")),),
        )
    )
    sub, _ = subscription_invoicing.subscription_create(
        customer=c, plan_code="seats", start=t(2026, 4, 1), quantity=Decimal(10)
    )
    subscription_invoicing.subscription_change(
        subscription_id=sub.pk, at=t(2026, 4, 16), proration="create_prorations", quantity=Decimal(15)
    )
    subscription_invoicing.subscription_cancel(subscription_id=sub.pk, at=t(2026, 4, 21))
    run(t(2026, 6, 1))
    assert not PendingLine.objects.filter(invoiced_at__isnull=True).exists()
    prorations = sorted(a for k, a, _ in all_lines(c) if k == "proration")
    assert prorations == [
        D("-90.00"),
        D("-90.00"),
        D("135.00"),
    ]  # upgrade at half, then 10 of 30 days x 15 back


def test_a_one_off_charge_is_billed_when_the_only_subscription_is_canceled() -> None:
    c = customer()
    flat_plan("a", "30.00")
    sub, _ = subscription_invoicing.subscription_create(customer=c, plan_code="a", start=t(2026, 4, 1))
    subscription_invoicing.one_off_charge_create(
        customer=c, description="Onboarding", unit_amount=D("100.00")
    )
    subscription_invoicing.subscription_cancel(subscription_id=sub.pk, at=t(2026, 4, 16))
    run(t(2026, 6, 1))
    assert [a for k, a, d in all_lines(c) if d == "Onboarding"] == [D("100.00")]


def test_a_once_coupon_discounts_the_first_invoice_only() -> None:
    c = customer()
    usage_plan()
    coupon_create(code="ten", amount_off=D("10.00"), currency="USD", duration="once")
    subscription_invoicing.subscription_create(
        customer=c, plan_code="api", start=t(2026, 1, 1), coupon_code="ten"
    )
    events(50, t(2026, 1, 10), "e")
    run(t(2026, 2, 1))
    assert [(a, d) for k, a, d in all_lines(c) if k == "discount"] == [
        (D("-10.00"), "Coupon ten (10.00 USD off)")
    ]


def test_a_once_coupon_after_a_trial_discounts_the_first_paid_invoice() -> None:
    c = customer()
    flat_plan("basic", "60.00")
    coupon_create(code="p20", percent_off=D("20"), duration="once")
    subscription_invoicing.subscription_create(
        customer=c, plan_code="basic", start=t(2026, 1, 1), coupon_code="p20", trial_days=14
    )
    run(t(2026, 1, 16))
    assert [invoice.total for invoice in Invoice.objects.filter(customer=c)] == [D("48.00")]


def test_canceling_with_a_percent_coupon_credits_no_more_than_was_paid() -> None:
    c = customer()
    flat_plan("basic", "60.00")
    coupon_create(code="p20", percent_off=D("20"), duration="once")
    sub, first = subscription_invoicing.subscription_create(
        customer=c, plan_code="basic", start=t(2026, 4, 1), coupon_code="p20"
    )
    assert first is not None and first.total == D("48.00")
    _, final = subscription_invoicing.subscription_cancel(subscription_id=sub.pk, at=t(2026, 4, 16))
    assert final is not None and final.total == D("-24.00")


def test_late_usage_in_the_grace_window_refreshes_the_discount_too() -> None:
    c = customer()
    usage_plan()
    coupon_create(code="half", percent_off=D("50"), duration="forever")
    subscription_invoicing.subscription_create(
        customer=c, plan_code="api", start=t(2026, 1, 1), coupon_code="half"
    )
    events(100, t(2026, 1, 10), "e")
    run(t(2026, 2, 1))
    invoice = Invoice.objects.get(customer=c, billing_date=t(2026, 2, 1))
    events(100, t(2026, 1, 20), "late", now=t(2026, 2, 2))
    invoice = invoice_finalize(invoice_id=invoice.pk, at=t(2026, 2, 2))
    assert invoice.total == D("130.00")  # (60 + 200) x 50%


@pytest.mark.parametrize("auto_finalize", [True, False])
def test_late_usage_after_finalization_is_adjusted_once(settings: Any, auto_finalize: bool) -> None:
    settings.RATECARD_AUTO_FINALIZE = auto_finalize
    c = customer()
    usage_plan()
    subscription_invoicing.subscription_create(customer=c, plan_code="api", start=t(2026, 1, 1))
    events(100, t(2026, 1, 10), "e")
    run(t(2026, 2, 1))
    invoice_finalize(
        invoice_id=Invoice.objects.get(customer=c, billing_date=t(2026, 2, 1)).pk, at=t(2026, 2, 4)
    )
    events(50, t(2026, 1, 20), "late", now=t(2026, 2, 10))
    run(t(2026, 3, 1))
    run(t(2026, 4, 1))
    assert [a for k, a, _ in all_lines(c) if k == "adjustment"] == [D("50.00")]


def test_the_preview_counts_a_one_off_once_with_two_subscriptions() -> None:
    c = customer()
    flat_plan("a", "10.00")
    flat_plan("b", "20.00")
    subscription_invoicing.subscription_create(customer=c, plan_code="a", start=t(2026, 1, 1))
    subscription_invoicing.subscription_create(customer=c, plan_code="b", start=t(2026, 1, 1))
    subscription_invoicing.one_off_charge_create(
        customer=c, description="Onboarding", unit_amount=D("100.00")
    )
    preview = upcoming_invoice(customer=c)
    run(t(2026, 2, 1))
    assert (
        preview.totals.total
        == Invoice.objects.get(customer=c, billing_date=t(2026, 2, 1)).total
        == D("130.00")
    )


@pytest.mark.parametrize(
    "body",
    [
        {"start": "9999-12-31T00:00:00Z"},
        {"start": "0001-01-01T00:00:00+05:00"},
        {"start": "2026-01-01T00:00:00Z", "quantity": "99999999999999.999999"},
    ],
)
def test_extreme_times_and_quantities_are_400_not_500(body: dict[str, Any]) -> None:
    customer()
    flat_plan("basic", "10.00")
    client = APIClient()
    client.force_authenticate(User.objects.create_superuser(username="root", password="x"))
    response = client.post(
        "/api/v1/subscriptions",
        data=json.dumps({"customer": "c1", "plan": "basic", **body}),
        content_type="application/json",
    )
    assert response.status_code == 400
