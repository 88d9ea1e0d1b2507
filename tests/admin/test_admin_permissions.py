"""Who may do what in the admin: the role groups' model permissions, never more."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts.models import ApiToken, Contact, Customer
from billing.models import (
    BillableMetric,
    Coupon,
    Entitlement,
    Feature,
    Plan,
    PlanVersion,
    Price,
    PriceTier,
    Product,
)
from billing.services.catalog import coupon_create
from tests.admin import (
    add_url,
    change_url,
    changelist_url,
    customer_form_data,
    logged_in,
    make_customer,
    make_plan,
)

pytestmark = pytest.mark.django_db

CATALOG = (Product, BillableMetric, Feature, Plan, PlanVersion, Price, Entitlement, Coupon)


@pytest.fixture
def catalog() -> dict[str, object]:
    Product.objects.create(code="vpn", name="Meshwork VPN")
    version = make_plan(product="vpn")
    coupon = coupon_create(
        code="launch20", percent_off=Decimal(20), duration="repeating", duration_in_months=3
    )
    return {
        "version": version,
        "plan": version.plan,
        "price": version.prices.get(code="seats"),
        "coupon": coupon,
    }


@pytest.mark.parametrize("model", (*CATALOG, Customer))
def test_support_can_view_every_list(client: Client, support_user: User, catalog: dict, model: type) -> None:
    make_customer()
    response = logged_in(client, support_user).get(changelist_url(model))
    assert response.status_code == 200


@pytest.mark.parametrize("model", (Customer, Coupon, Product, BillableMetric, Feature))
def test_support_sees_no_add_button(client: Client, support_user: User, model: type) -> None:
    response = logged_in(client, support_user).get(changelist_url(model))
    assert response.status_code == 200
    assert add_url(model) not in response.content.decode()
    assert logged_in(client, support_user).get(add_url(model)).status_code == 403


@pytest.mark.parametrize("key", ["plan", "price", "coupon", "version"])
def test_support_cannot_change_the_catalog(
    client: Client, support_user: User, catalog: dict, key: str
) -> None:
    obj = catalog[key]
    c = logged_in(client, support_user)
    assert c.get(change_url(obj)).status_code == 200  # read-only page
    response = c.post(change_url(obj), {"name": "Hacked", "is_active": "", "code": "hacked"})
    assert response.status_code == 403
    obj.refresh_from_db()  # type: ignore[attr-defined]
    assert getattr(obj, "name", "") != "Hacked"


def test_support_cannot_change_a_customer(client: Client, support_user: User) -> None:
    customer = make_customer()
    response = logged_in(client, support_user).post(
        change_url(customer), customer_form_data(customer, name="X")
    )
    assert response.status_code == 403
    customer.refresh_from_db()
    assert customer.name == "Acme GmbH"


def test_sales_changes_a_customer_and_adds_a_contact(client: Client, sales_user: User) -> None:
    customer = make_customer()
    data = customer_form_data(
        customer,
        name="Acme AG",
        net_terms_days="30",
        **{
            "contacts-TOTAL_FORMS": "1",
            "contacts-0-name": "Ada",
            "contacts-0-email": "ada@acme.test",
            "contacts-0-role": "billing",
            "contacts-0-receives_invoices": "on",
        },
    )
    response = logged_in(client, sales_user).post(change_url(customer), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    customer.refresh_from_db()
    assert (customer.name, customer.net_terms_days, customer.currency) == ("Acme AG", 30, "EUR")
    assert Contact.objects.get(customer=customer).email == "ada@acme.test"


def test_sales_sees_the_customer_add_button(client: Client, sales_user: User) -> None:
    response = logged_in(client, sales_user).get(changelist_url(Customer))
    assert add_url(Customer) in response.content.decode()


@pytest.mark.parametrize("key", ["plan", "price", "coupon"])
def test_sales_cannot_change_the_catalog(client: Client, sales_user: User, catalog: dict, key: str) -> None:
    obj = catalog[key]
    response = logged_in(client, sales_user).post(change_url(obj), {"name": "Hacked", "is_active": ""})
    assert response.status_code == 403
    obj.refresh_from_db()  # type: ignore[attr-defined]
    assert getattr(obj, "name", "") != "Hacked"
    assert getattr(obj, "is_active", True) is True


def test_finance_changes_a_plan_but_not_its_code(client: Client, finance_user: User, catalog: dict) -> None:
    plan = catalog["plan"]
    response = logged_in(client, finance_user).post(
        change_url(plan), {"code": "other", "product": "", "description": "Our best plan", "is_active": ""}
    )
    assert response.status_code == 302
    plan.refresh_from_db()
    assert (plan.code, plan.description, plan.is_active) == ("pro", "Our best plan", False)


@pytest.mark.parametrize("key", ["price", "version"])
def test_plan_versions_are_read_only_even_for_finance_and_superusers(
    client: Client, finance_user: User, admin_user: User, catalog: dict, key: str
) -> None:
    obj = catalog[key]
    for user in (finance_user, admin_user):
        c = logged_in(client, user)
        page = c.get(change_url(obj))
        assert page.status_code == 200
        assert 'name="_save"' not in page.content.decode()
        assert c.post(change_url(obj), {"code": "x", "name": "x"}).status_code == 403
    assert PlanVersion.objects.count() == 1


def test_nobody_adds_plan_versions_or_prices_in_the_admin(client: Client, admin_user: User) -> None:
    c = logged_in(client, admin_user)
    for model in (Plan, PlanVersion, Price, PriceTier, Entitlement):
        assert c.get(add_url(model)).status_code == 403


@pytest.mark.parametrize("model", (*CATALOG, Customer, PriceTier))
def test_finance_can_view_everything(client: Client, finance_user: User, catalog: dict, model: Any) -> None:
    make_customer()
    c = logged_in(client, finance_user)
    assert c.get(changelist_url(model)).status_code == 200
    obj = model.objects.first()
    assert c.get(change_url(obj)).status_code == 200


def test_finance_index_lists_the_catalog(client: Client, finance_user: User) -> None:
    content = logged_in(client, finance_user).get("/admin/").content.decode()
    assert "Ratecard billing" in content
    for model in CATALOG:
        assert changelist_url(model) in content
    assert changelist_url(PriceTier) not in content  # reached through its price
    assert changelist_url(ApiToken) not in content  # tokens are not for roles


def test_roles_do_not_see_api_tokens(client: Client, finance_user: User, support_user: User) -> None:
    for user in (finance_user, support_user):
        assert logged_in(client, user).get(changelist_url(ApiToken)).status_code == 403
