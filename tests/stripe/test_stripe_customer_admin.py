"""Customers added or edited in the admin reach Stripe as the API's do: an outbox row written with the
change, delivered to localstripe after commit."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts.models import Customer
from invoicing.models import StripeOutbox
from tests.admin import add_url, change_url, customer_form_data, logged_in
from tests.stripe.conftest import LocalStripe

pytestmark = pytest.mark.django_db


def stripe_customer(localstripe: LocalStripe, customer: Customer) -> tuple[str, str | None, str]:
    body = localstripe.get(f"/v1/customers/{customer.stripe_customer_id}")
    return body["name"], body["email"], body["metadata"]["external_id"]


def test_a_customer_added_then_edited_in_the_admin_is_created_then_updated_in_stripe(
    stripe_quiet: LocalStripe, client: Client, sales_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    admin = logged_in(client, sales_user)
    new = Customer(external_id="initech", name="Initech", currency="USD")
    with django_capture_on_commit_callbacks(execute=True):  # the admin's transaction commits
        response = admin.post(
            add_url(Customer), customer_form_data(new, external_id="initech", currency="USD")
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    customer = Customer.objects.get(external_id="initech")
    assert customer.stripe_customer_id.startswith("cus_")
    assert stripe_customer(stripe_quiet, customer) == ("Initech", None, "initech")

    edit = customer_form_data(customer, name="Initech Europe GmbH", email="ap@initech.test")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(change_url(customer), edit)
    assert response.status_code == 302, response.content.decode()[:2000]
    customer.refresh_from_db()
    assert stripe_customer(stripe_quiet, customer) == ("Initech Europe GmbH", "ap@initech.test", "initech")
    rows = StripeOutbox.objects.filter(customer=customer).order_by("id")
    assert [(row.kind, row.status, row.outcome) for row in rows] == [
        ("customer_sync", "done", "created"),
        ("customer_sync", "done", "updated"),
    ]
    # the same Stripe customer, updated with the row's key; who changed what stays in the history
    assert stripe_quiet.idempotency_keys(f"/v1/customers/{customer.stripe_customer_id}") == [rows[1].key]
    assert customer.history.latest().history_user == sales_user

    # saving the form unchanged writes nothing and queues nothing (a browser posts the hidden initial
    # value Django renders for a field with a callable default)
    unchanged = customer_form_data(customer, **{"initial-collection_method": customer.collection_method})
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(change_url(customer), unchanged)
    assert StripeOutbox.objects.filter(customer=customer).count() == 2
