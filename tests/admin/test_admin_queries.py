"""Admin lists and the plan version page run a constant number of queries, whatever the number of rows."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import ApiToken, Contact, Customer
from accounts.services.tokens import api_token_create
from billing.admin import plan_version_draft
from billing.models import Coupon, Entitlement, Feature, Plan, PlanVersion, Price, Product
from billing.services.catalog import PlanDraft, PriceDraft, TierDraft, coupon_create, plan_create
from tests.admin import change_url, changelist_url, logged_in, make_customer, make_plan

pytestmark = pytest.mark.django_db


def queries_for(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


def add_customers(start: int, stop: int) -> None:
    for i in range(start, stop):
        customer = make_customer(f"cus_{i}", name=f"Customer {i}")
        Contact.objects.create(customer=customer, name=f"Contact {i}", email=f"c{i}@example.test")


def add_plans(start: int, stop: int) -> None:
    """Plans with a product each; every other one has a second version."""
    for i in range(start, stop):
        product = Product.objects.create(code=f"product-{i}", name=f"Product {i}")
        version = make_plan(f"plan-{i}", name=f"Plan {i}", product=product.code)
        if i % 2:
            plan_create(draft=plan_version_draft(version))


def add_coupons(start: int, stop: int) -> None:
    for i in range(start, stop):
        coupon_create(code=f"c{i}", percent_off=Decimal(10 + i), duration="forever")


def add_tokens(start: int, stop: int) -> None:
    for i in range(start, stop):
        user = User.objects.create_user(username=f"robot{i}")
        api_token_create(user=user, name=f"token {i}")


@pytest.mark.parametrize(
    ("model", "add"),
    [
        (Customer, add_customers),
        (Plan, add_plans),
        (PlanVersion, add_plans),
        (Price, add_plans),
        (Entitlement, add_plans),
        (Feature, add_plans),
        (Product, add_plans),
        (Coupon, add_coupons),
    ],
)
def test_a_list_runs_the_same_queries_for_3_rows_as_for_30(
    client: Client, finance_user: User, model: type, add: Callable[[int, int], None]
) -> None:
    c = logged_in(client, finance_user)
    url = changelist_url(model)
    add(0, 3)
    with_3 = queries_for(c, url)
    add(3, 30)
    assert queries_for(c, url) == with_3


def test_the_token_list_runs_the_same_queries_for_3_rows_as_for_30(client: Client, admin_user: User) -> None:
    c = logged_in(client, admin_user)
    add_tokens(0, 3)
    with_3 = queries_for(c, changelist_url(ApiToken))
    add_tokens(3, 30)
    assert queries_for(c, changelist_url(ApiToken)) == with_3


def test_the_plan_version_page_queries_do_not_grow_with_prices(client: Client, finance_user: User) -> None:
    c = logged_in(client, finance_user)
    small = change_url(make_plan("small"))
    queries_for(c, small)  # the session's first page fills this process's caches (one query fewer after)
    with_3_prices = queries_for(c, small)
    big = plan_create(
        draft=PlanDraft(
            code="big",
            name="Big",
            currency="USD",
            prices=tuple(
                PriceDraft(
                    code=f"p{i}",
                    model="graduated",
                    tiers=(TierDraft(Decimal(10), Decimal(1)), TierDraft(None, Decimal("0.5"))),
                )
                for i in range(12)
            ),
            features={f"f{i}": True for i in range(2)},
        )
    )
    assert queries_for(c, change_url(big)) == with_3_prices
