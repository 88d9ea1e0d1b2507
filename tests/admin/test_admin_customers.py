"""Customers in the admin: search, saving through the services, history of every change."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from accounts.models import Contact, Customer
from billing.models import PlanVersion
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


def history_url(obj: object) -> str:
    meta = obj._meta  # type: ignore[attr-defined]
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_history", args=(obj.pk,))  # type: ignore[attr-defined]


@pytest.fixture
def customers() -> dict[str, Customer]:
    acme = make_customer("cus_acme", name="Acme GmbH", email="billing@acme.test", domain="acme.test")
    Contact.objects.create(customer=acme, name="Ada", email="ada@finance-team.test")
    globex = make_customer(
        "ext-globex-42", name="Globex", email="ap@globex.test", domain="globex.com", currency="USD"
    )
    return {"acme": acme, "globex": globex}


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("acme gmbh", {"Acme GmbH"}),
        ("ap@globex", {"Globex"}),
        ("globex.com", {"Globex"}),
        ("ext-globex-42", {"Globex"}),
        ("finance-team", {"Acme GmbH"}),  # a contact's e-mail
        ("nobody", set()),
    ],
)
def test_support_finds_a_customer_in_one_box(
    client: Client, support_user: User, customers: dict[str, Customer], query: str, found: set[str]
) -> None:
    response = logged_in(client, support_user).get(changelist_url(Customer), {"q": query})
    assert response.status_code == 200
    assert {c.name for c in response.context["cl"].result_list} == found


def test_customers_filter_by_currency_and_anchor(
    client: Client, support_user: User, customers: dict[str, Customer]
) -> None:
    c = logged_in(client, support_user)
    by_currency = c.get(changelist_url(Customer), {"currency": "USD"})
    assert [x.name for x in by_currency.context["cl"].result_list] == ["Globex"]
    by_anchor = c.get(changelist_url(Customer), {"billing_anchor__exact": "calendar"})
    assert list(by_anchor.context["cl"].result_list) == []


def test_the_history_page_says_who_changed_what(client: Client, sales_user: User, support_user: User) -> None:
    customer = make_customer()
    logged_in(client, sales_user).post(
        change_url(customer), customer_form_data(customer, name="Acme AG", tax_rate_percent="19")
    )
    record = customer.history.latest()
    assert record.history_user == sales_user
    assert record.history_type == "~"

    content = " ".join(logged_in(client, support_user).get(history_url(customer)).content.decode().split())
    assert ">sam</a>" in content  # changed by
    assert "<strong>Name:</strong> Acme GmbH &nbsp;&rarr;&nbsp;&nbsp;Acme AG" in content
    assert "<strong>Tax rate percent:</strong> 0.0000 &nbsp;&rarr;&nbsp;&nbsp;19.0000" in content


def test_history_cannot_be_reverted_from_the_admin(
    client: Client, admin_user: User, sales_user: User
) -> None:
    customer = make_customer()
    first = customer.history.earliest()
    logged_in(client, sales_user).post(change_url(customer), customer_form_data(customer, name="Acme AG"))
    url = reverse("admin:accounts_customer_simple_history", args=(customer.pk, first.history_id))
    for user in (sales_user, admin_user):
        c = logged_in(client, user)
        assert c.get(url).status_code == 200
        assert c.post(url, customer_form_data(customer)).status_code == 403
    customer.refresh_from_db()
    assert customer.name == "Acme AG"


def test_a_plan_version_has_a_history_page(client: Client, support_user: User) -> None:
    version: PlanVersion = make_plan()
    response = logged_in(client, support_user).get(history_url(version))
    assert response.status_code == 200
    assert "pro v1" in response.content.decode()


def test_sales_adds_a_customer_through_the_service(client: Client, sales_user: User) -> None:
    customer = Customer(external_id="cus_new", name="Initech", currency="USD")
    data = customer_form_data(customer, external_id="cus_new", currency="USD", email="ap@initech.test")
    response = logged_in(client, sales_user).post(add_url(Customer), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    saved = Customer.objects.get(external_id="cus_new")
    assert (saved.name, saved.currency, saved.email) == ("Initech", "USD", "ap@initech.test")
    assert saved.history.get().history_user == sales_user


def test_a_customers_currency_and_external_id_never_change(client: Client, sales_user: User) -> None:
    customer = make_customer()
    response = logged_in(client, sales_user).post(
        change_url(customer), customer_form_data(customer, currency="USD", external_id="other", city="Berlin")
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.currency, customer.external_id, customer.city) == ("EUR", "cus_1", "Berlin")


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("net_terms_days", "400", "Must be between 0 and 365."),
        ("tax_rate_percent", "101", "Must be between 0 and 100."),
        ("timezone", "Mars/Olympus", "is not an IANA time zone"),
    ],
)
def test_invalid_customer_details_are_refused_with_the_field(
    client: Client, sales_user: User, field: str, value: str, error: str
) -> None:
    customer = make_customer()
    response = logged_in(client, sales_user).post(
        change_url(customer), customer_form_data(customer, **{field: value})
    )
    assert response.status_code == 200
    assert error in response.content.decode()
    customer.refresh_from_db()
    assert (customer.net_terms_days, customer.tax_rate_percent, customer.timezone) == (0, Decimal(0), "UTC")


def test_searching_a_contacts_email_lists_the_customer_once_with_its_contact_count(
    client: Client, support_user: User, customers: dict[str, Customer]
) -> None:
    acme = customers["acme"]
    Contact.objects.create(customer=acme, name="Bob", email="bob@finance-team.test")
    Contact.objects.create(customer=acme, name="Eve", email="eve@elsewhere.test")
    response = logged_in(client, support_user).get(changelist_url(Customer), {"q": "finance-team"})
    results = list(response.context["cl"].result_list)
    assert [(c.name, c.contact_count) for c in results] == [("Acme GmbH", 3)]
