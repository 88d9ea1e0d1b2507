"""The catalog screens: plan versions with their prices and tiers, new versions, coupons, metrics."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from billing.admin import format_money, plan_version_draft, tier_units
from billing.models import BillableMetric, Coupon, Plan, PlanVersion, Price, PriceTier
from billing.services.catalog import PlanDraft, PriceDraft, plan_create
from tests.admin import add_url, change_url, changelist_url, logged_in, make_plan

pytestmark = pytest.mark.django_db


def price_rows(version: PlanVersion) -> list[Any]:
    """Everything that defines a version's prices, tiers and entitlements (ids left out)."""
    prices = [
        (
            p.code,
            p.position,
            p.model,
            p.billing,
            p.metric_id,
            p.amount,
            p.unit_amount,
            p.package_size,
            p.package_amount,
            p.percent,
            p.minimum_amount,
            p.maximum_amount,
            [(t.position, t.up_to, t.unit_amount, t.flat_amount) for t in p.tiers.order_by("position")],
        )
        for p in version.prices.order_by("position")
    ]
    entitlements = sorted((e.feature.key, e.value) for e in version.entitlements.all())
    terms = (version.name, version.currency, version.interval, version.interval_count, version.trial_days)
    return [terms, prices, entitlements]


def test_the_plan_version_page_shows_prices_tiers_and_entitlements(
    client: Client, finance_user: User
) -> None:
    version = make_plan()
    content = logged_in(client, finance_user).get(change_url(version)).content.decode()
    assert '<table class="ratecard-tiers">' in content
    for cell in (
        "<td>1\u2013100</td><td>$0.10</td><td>$0.00</td>",
        "<td>101\u20131,000</td><td>$0.08</td><td>$0.00</td>",
        "<td>1,001+</td><td>$0.05</td><td>$2.00</td>",
    ):
        assert cell in content
    assert "$49.00 per month" in content
    assert "$18.00 per unit" in content
    assert "Graduated: each unit is priced by the tier it falls in." in content
    assert "sso" in content and "max_users" in content and "25" in content


def test_the_price_page_shows_its_tiers_table(client: Client, support_user: User) -> None:
    price = make_plan().prices.get(code="calls")
    content = logged_in(client, support_user).get(change_url(price)).content.decode()
    assert "<td>101\u20131,000</td><td>$0.08</td>" in content


def test_the_new_version_action_copies_the_newest_version(client: Client, finance_user: User) -> None:
    v1 = make_plan()
    plan = v1.plan
    before = price_rows(v1)
    v1_tiers = list(
        PriceTier.objects.filter(price__plan_version=v1).values_list("pk", "up_to", "unit_amount")
    )

    response = logged_in(client, finance_user).post(
        changelist_url(Plan), {"action": "create_new_version", "_selected_action": [plan.pk]}
    )

    v2 = PlanVersion.objects.get(plan=plan, version=2)
    assert response.status_code == 302
    assert response["Location"] == change_url(v2)
    assert price_rows(v2) == before
    assert v2.created_by == finance_user
    v1.refresh_from_db()
    assert price_rows(v1) == before
    assert (
        list(PriceTier.objects.filter(price__plan_version=v1).values_list("pk", "up_to", "unit_amount"))
        == v1_tiers
    )
    assert set(Price.objects.filter(plan_version=v2).values_list("pk", flat=True)).isdisjoint(
        Price.objects.filter(plan_version=v1).values_list("pk", flat=True)
    )


def test_the_new_version_action_copies_the_newest_of_several(client: Client, finance_user: User) -> None:
    make_plan()
    newest = plan_create(
        draft=PlanDraft(
            code="pro",
            name="Pro 2026",
            currency="USD",
            interval="year",
            trial_days=14,
            prices=(PriceDraft(code="base", model="flat", amount=Decimal("490.00")),),
        )
    )
    logged_in(client, finance_user).post(
        changelist_url(Plan), {"action": "create_new_version", "_selected_action": [newest.plan_id]}
    )
    v3 = PlanVersion.objects.get(plan=newest.plan, version=3)
    assert price_rows(v3) == price_rows(newest)


def test_the_new_version_action_on_several_plans_stays_on_the_list(
    client: Client, finance_user: User
) -> None:
    make_plan("pro")
    make_plan("team", name="Team", currency="EUR")
    plans = list(Plan.objects.values_list("pk", flat=True))
    response = logged_in(client, finance_user).post(
        changelist_url(Plan), {"action": "create_new_version", "_selected_action": plans}, follow=True
    )
    assert response.status_code == 200
    assert set(PlanVersion.objects.filter(version=2).values_list("plan__code", flat=True)) == {"pro", "team"}
    content = response.content.decode()
    assert "pro v2" in content and "team v2" in content


@pytest.mark.parametrize("role", ["sales_user", "support_user"])
def test_only_finance_may_make_a_new_version(client: Client, request: Any, role: str) -> None:
    plan = make_plan().plan
    c = logged_in(client, request.getfixturevalue(role))
    assert "create_new_version" not in c.get(changelist_url(Plan)).content.decode()
    c.post(changelist_url(Plan), {"action": "create_new_version", "_selected_action": [plan.pk]})
    assert PlanVersion.objects.filter(plan=plan).count() == 1


def test_plan_version_draft_reproduces_the_version() -> None:
    version = make_plan()
    draft = plan_version_draft(version)
    assert [p.code for p in draft.prices] == ["base", "seats", "calls"]
    assert draft.prices[2].metric == "api_calls"
    assert [t.unit_amount for t in draft.prices[2].tiers] == [
        Decimal("0.10"),
        Decimal("0.08"),
        Decimal("0.05"),
    ]
    assert draft.features == {"sso": True, "max_users": 25}


def test_the_plan_page_lists_its_versions(client: Client, support_user: User) -> None:
    v1 = make_plan()
    v2 = plan_create(draft=plan_version_draft(v1))
    content = logged_in(client, support_user).get(change_url(v1.plan)).content.decode()
    assert change_url(v1) in content and change_url(v2) in content


def test_finance_adds_a_coupon_through_the_service(client: Client, finance_user: User) -> None:
    response = logged_in(client, finance_user).post(
        add_url(Coupon),
        {
            "code": "welcome10",
            "name": "Welcome",
            "amount_off": "10.00",
            "currency": "USD",
            "duration": "once",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    coupon = Coupon.objects.get(code="welcome10")
    assert (coupon.amount_off, coupon.percent_off, coupon.currency) == (Decimal("10.00"), None, "USD")
    assert coupon.history.get().history_user == finance_user
    page = logged_in(client, finance_user).get(changelist_url(Coupon)).content.decode()
    assert "$10.00 off" in page


def test_an_invalid_coupon_shows_the_error_and_writes_nothing(client: Client, finance_user: User) -> None:
    response = logged_in(client, finance_user).post(
        add_url(Coupon),
        {"code": "both", "percent_off": "10", "amount_off": "5", "currency": "USD", "duration": "forever"},
    )
    assert response.status_code == 200
    assert "give exactly one of percent_off and amount_off" in response.content.decode()
    assert not Coupon.objects.exists()


def test_a_coupons_terms_never_change(client: Client, finance_user: User) -> None:
    logged_in(client, finance_user).post(
        add_url(Coupon),
        {"code": "launch", "percent_off": "20", "duration": "repeating", "duration_in_months": "3"},
    )
    coupon = Coupon.objects.get(code="launch")
    response = client.post(
        change_url(coupon),
        {"code": "x", "percent_off": "90", "duration": "forever", "name": "Launch", "is_active": ""},
    )
    assert response.status_code == 302
    coupon.refresh_from_db()
    assert (coupon.code, coupon.percent_off, coupon.duration, coupon.duration_in_months) == (
        "launch",
        Decimal(20),
        "repeating",
        3,
    )
    assert (coupon.name, coupon.is_active) == ("Launch", False)


def test_finance_adds_a_metric_and_cannot_change_what_it_measures(client: Client, finance_user: User) -> None:
    c = logged_in(client, finance_user)
    missing = c.post(
        add_url(BillableMetric), {"code": "gb", "name": "GB", "aggregation": "sum", "filters": "{}"}
    )
    assert missing.status_code == 200
    assert "needs the event property" in missing.content.decode()
    response = c.post(
        add_url(BillableMetric),
        {
            "code": "gb",
            "name": "GB",
            "aggregation": "sum",
            "field_name": "bytes",
            "filters": "{}",
            "description": "d",
        },
    )
    assert response.status_code == 302
    metric = BillableMetric.objects.get(code="gb")
    assert (metric.aggregation, metric.field_name, metric.description) == ("sum", "bytes", "d")
    c.post(
        change_url(metric), {"aggregation": "max", "field_name": "x", "name": "Gigabytes", "description": ""}
    )
    metric.refresh_from_db()
    assert (metric.aggregation, metric.field_name, metric.name) == ("sum", "bytes", "Gigabytes")


def test_a_service_error_on_save_is_shown_and_nothing_is_written(client: Client, finance_user: User) -> None:
    """Rules only the service knows (here: filter values) come back as a message, not a 500."""
    response = logged_in(client, finance_user).post(
        add_url(BillableMetric),
        {"code": "odd", "name": "Odd", "aggregation": "count", "filters": '{"region": {"nested": 1}}'},
        follow=True,
    )
    assert response.status_code == 200
    assert "Nothing was saved" in response.content.decode()
    assert not BillableMetric.objects.filter(code="odd").exists()


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (Decimal("18"), "USD", "$18.00"),
        (Decimal("18.000000000000"), "USD", "$18.00"),
        (Decimal("0.000400000000"), "USD", "$0.0004"),
        (Decimal("1234567.5"), "EUR", "€1,234,567.50"),
        (Decimal("1200"), "JPY", "¥1,200"),
        (Decimal("-90"), "USD", "-$90.00"),
    ],
)
def test_money_is_shown_with_its_currency(amount: Decimal, currency: str, shown: str) -> None:
    assert format_money(amount, currency) == shown


@pytest.mark.parametrize(
    ("previous", "up_to", "shown"),
    [
        (None, Decimal(100), "1\u2013100"),
        (Decimal(100), Decimal(1000), "101\u20131,000"),
        (Decimal(1000), None, "1,001+"),
        (None, None, "all units"),
        (None, Decimal("0.5"), "up to 0.5"),
        (Decimal("0.5"), Decimal(10), "over 0.5 up to 10"),
        (Decimal("10.5"), None, "over 10.5"),
    ],
)
def test_tier_units(previous: Decimal | None, up_to: Decimal | None, shown: str) -> None:
    assert tier_units(previous, up_to) == shown
